package fanlog_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

func TestStartPositions(t *testing.T) {
	l := newLog(t, small(fanlog.DropOldest, 2))
	for i := 0; i < 100; i++ {
		l.Append(u64(uint64(i)))
	}
	if _, err := l.Subscribe(fanlog.FromSeq(0)); !errors.Is(err, fanlog.ErrEvicted) {
		t.Fatalf("FromSeq(evicted) = %v", err)
	}
	if _, err := l.Subscribe(fanlog.FromSeq(1000)); !errors.Is(err, fanlog.ErrFuture) {
		t.Fatalf("FromSeq(future) = %v", err)
	}
	c := subscribe(t, l, fanlog.FromSeq(99))
	if r, err := c.Next(bg); err != nil || r.Seq != 99 || getU64(r.Data) != 99 {
		t.Fatalf("FromSeq(99): %+v, %v", r, err)
	}
	latest := subscribe(t, l, fanlog.FromLatest)
	next := subscribe(t, l, fanlog.FromSeq(100)) // the next one: allowed
	earliest := subscribe(t, l, fanlog.FromEarliest)
	zero := subscribe(t, l, fanlog.Start{}) // the zero Start is FromEarliest
	if _, err := latest.TryNext(); err != fanlog.ErrEmpty {
		t.Fatalf("FromLatest: %v", err)
	}
	l.Append(u64(100))
	for _, c := range []*fanlog.Cursor{latest, next} {
		if r, err := c.Next(bg); err != nil || r.Seq != 100 {
			t.Fatalf("%+v, %v", r, err)
		}
	}
	s, _ := l.Stats()
	for _, c := range []*fanlog.Cursor{earliest, zero} {
		if r, err := c.Next(bg); err != nil || r.Seq != s.OldestSeq {
			t.Fatalf("FromEarliest: %+v, %v; oldest %d", r, err, s.OldestSeq)
		}
	}
}

// A slow cursor under DropOldest gets exactly one *LaggedError and
// continues with the oldest retained record; the counts add up.
func TestLagged(t *testing.T) {
	l := newLog(t, small(fanlog.DropOldest, 2))
	c := subscribe(t, l, fanlog.FromEarliest)
	const total = 200
	for i := 0; i < total; i++ {
		l.Append(u64(uint64(i)))
	}
	l.Close(nil)
	var read, missed, lags, expect uint64
	for {
		r, err := c.Next(bg)
		var lag *fanlog.LaggedError
		switch {
		case err == nil:
			if r.Seq != expect || getU64(r.Data) != r.Seq {
				t.Fatalf("record %+v; expected seq %d", r, expect)
			}
			read++
			expect++
			continue
		case errors.As(err, &lag):
			if !errors.Is(err, fanlog.ErrLagged) || lag.Missed == 0 ||
				err.Error() != fmt.Sprintf("fanlog: lagged: missed %d records", lag.Missed) {
				t.Fatalf("lag error %v", err)
			}
			missed += lag.Missed
			expect += lag.Missed
			lags++
			continue
		case err == fanlog.ErrClosed:
		default:
			t.Fatal(err)
		}
		break
	}
	if lags != 1 || read+missed != total {
		t.Fatalf("read %d + missed %d != %d (lags %d)", read, missed, total, lags)
	}
	cs, err := c.Stats()
	if err != nil || cs.RecordsMissed != missed || cs.RecordsRead != read || cs.Position != total || cs.Lag != 0 {
		t.Fatalf("cursor stats %+v, %v", cs, err)
	}
}

func TestLaggedLogStats(t *testing.T) {
	l := newLog(t, small(fanlog.DropOldest, 2))
	c := subscribe(t, l, fanlog.FromEarliest)
	for i := 0; i < 100; i++ {
		l.Append(u64(uint64(i)))
	}
	// The cursor may first finish the segment it holds, then learns.
	var lag *fanlog.LaggedError
	for i := 0; ; i++ {
		_, err := c.Next(bg)
		if errors.As(err, &lag) {
			break
		}
		if err != nil || i > 20 {
			t.Fatalf("Next = %v; want a *LaggedError", err)
		}
	}
	s, _ := l.Stats()
	if s.RecordsMissed != lag.Missed || s.SegmentsEvicted == 0 || s.BytesRetained > 3*256 {
		t.Fatalf("log stats %+v after missing %d", s, lag.Missed)
	}
}

func TestNextBatch(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	c := subscribe(t, l, fanlog.FromEarliest)
	if n, err := c.NextBatch(bg, nil); n != 0 || err != nil {
		t.Fatalf("NextBatch(nil) = %d, %v", n, err)
	}
	for i := 0; i < 100; i++ {
		l.AppendKind(uint32(i), u64(uint64(i)))
	}
	dst := make([]fanlog.Record, 30)
	var next uint64
	for next < 100 {
		n, err := c.NextBatch(bg, dst)
		if err != nil || n == 0 {
			t.Fatalf("NextBatch = %d, %v", n, err)
		}
		for _, r := range dst[:n] {
			if r.Seq != next || r.Kind != uint32(next) || getU64(r.Data) != next {
				t.Fatalf("record %+v; want seq %d", r, next)
			}
			next++
		}
	}
	// Views.
	l.AppendBatch([][]byte{[]byte("v1"), []byte("v2")})
	n, err := c.NextBatchView(bg, dst)
	if err != nil || n != 2 || string(dst[0].Data) != "v1" || string(dst[1].Data) != "v2" {
		t.Fatalf("NextBatchView = %d, %v, %+v", n, err, dst[:n])
	}
	// Blocks for the first record.
	go func() { time.Sleep(10 * time.Millisecond); l.Append([]byte("late")) }()
	if n, err := c.NextBatch(bg, dst); n != 1 || err != nil || string(dst[0].Data) != "late" {
		t.Fatalf("NextBatch waiting = %d, %v", n, err)
	}
	// Errors come after the records before them.
	l.Append([]byte("end"))
	l.Close(errors.New("done"))
	if n, err := c.NextBatch(bg, dst); n != 1 || err != nil {
		t.Fatalf("last batch = %d, %v", n, err)
	}
	var ce *fanlog.CloseError
	if n, err := c.NextBatch(bg, dst); n != 0 || !errors.As(err, &ce) {
		t.Fatalf("after close = %d, %v", n, err)
	}
}

// NextBatch reuses dst[i].Data: no allocation per call in steady state;
// neither does Append.
func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l := newLog(t, fanlog.Options{Policy: fanlog.DropOldest})
	c := subscribe(t, l, fanlog.FromEarliest)
	payload := make([]byte, 64)
	if a := testing.AllocsPerRun(1000, func() { l.Append(payload) }); a != 0 {
		t.Errorf("Append allocates %v times per call", a)
	}
	batch := [][]byte{payload, payload, payload}
	l.AppendBatch(batch) // warm the scratch pool
	if a := testing.AllocsPerRun(1000, func() { l.AppendBatch(batch) }); a > 0.1 {
		t.Errorf("AppendBatch allocates %v times per call", a)
	}
	dst := make([]fanlog.Record, 16)
	for i := range dst {
		dst[i].Data = make([]byte, 0, 64)
	}
	if a := testing.AllocsPerRun(100, func() {
		if _, err := c.NextBatch(bg, dst); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("NextBatch allocates %v times per call", a)
	}
	if a := testing.AllocsPerRun(100, func() { c.NextView(bg) }); a != 0 {
		t.Errorf("NextView allocates %v times per call", a)
	}
}

// Stats counts what the caller received, not what the binding read ahead.
func TestCursorStats(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	c := subscribe(t, l, fanlog.FromEarliest)
	for i := 0; i < 10; i++ {
		l.Append(u64(uint64(i)))
	}
	for i := 0; i < 3; i++ {
		c.Next(bg)
	}
	v, _ := c.NextView(bg) // seq 3, valid until the next call
	if getU64(v.Data) != 3 {
		t.Fatalf("view %+v", v)
	}
	s, err := c.Stats()
	if err != nil || s.RecordsRead != 4 || s.BytesRead != 32 || s.Position != 4 || s.Lag != 6 ||
		s.RecordsMissed != 0 || time.Since(s.LastRead) > time.Minute {
		t.Fatalf("Stats = %+v, %v", s, err)
	}
	// The rest, after Stats moved them out of the library's memory.
	for i := uint64(4); i < 10; i++ {
		var r fanlog.Record
		var err error
		if i%2 == 0 {
			r, err = c.NextView(bg)
		} else {
			r, err = c.Next(bg)
		}
		if err != nil || r.Seq != i || getU64(r.Data) != i {
			t.Fatalf("record %d: %+v, %v", i, r, err)
		}
		if i == 6 {
			if s, _ := c.Stats(); s.Position != 7 || s.RecordsRead != 7 || s.Lag != 3 {
				t.Fatalf("Stats = %+v", s)
			}
		}
	}
	if s, _ := c.Stats(); s.Position != 10 || s.RecordsRead != 10 || s.Lag != 0 {
		t.Fatalf("Stats = %+v", s)
	}
	l.AppendBatch([][]byte{u64(10), u64(11), u64(12)})
	c.Next(bg)
	c.Stats()
	dst := make([]fanlog.Record, 8)
	for _, view := range []bool{false, true} {
		var n int
		var err error
		if view {
			n, err = c.NextBatchView(bg, dst[:1])
		} else {
			n, err = c.NextBatch(bg, dst[:1])
		}
		if err != nil || n != 1 || getU64(dst[0].Data) != dst[0].Seq {
			t.Fatalf("batch from stats spill: %d, %v, %+v", n, err, dst[0])
		}
	}
}

// A blocked Next returns ctx.Err() promptly when ctx is cancelled, and
// the cursor works normally afterwards.
func TestNextCancel(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	c := subscribe(t, l, fanlog.FromLatest)
	var lat []time.Duration
	for i := 0; i < 7; i++ {
		ctx, cancel := context.WithCancel(bg)
		type result struct {
			err error
			at  time.Time
		}
		done := make(chan result, 1)
		go func() { _, err := c.Next(ctx); done <- result{err, time.Now()} }()
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		cancel()
		r := within(t, time.Second, "cancelled Next to return", done)
		if r.err != context.Canceled {
			t.Fatalf("cancelled Next = %v", r.err)
		}
		lat = append(lat, r.at.Sub(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("cancel-to-return latency: min %v, median %v, max %v", lat[0], lat[len(lat)/2], lat[len(lat)-1])
	if lat[len(lat)/2] > 10*time.Millisecond {
		t.Errorf("median cancel latency %v > 10ms", lat[len(lat)/2])
	}

	// Deadlines.
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Next(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Next with a deadline = %v", err)
	}
	if d := time.Since(start); d < 15*time.Millisecond || d > 2*time.Second {
		t.Fatalf("deadline after %v", d)
	}
	// A done ctx wins even when records are available.
	l.Append([]byte("a"))
	if _, err := c.Next(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Next with a done ctx = %v", err)
	}
	if _, err := c.NextBatch(ctx, make([]fanlog.Record, 1)); err != context.DeadlineExceeded {
		t.Fatalf("NextBatch with a done ctx = %v", err)
	}
	// The cursor still works, and waits again (the cancelled deadline was cleared).
	if r, err := c.Next(bg); err != nil || string(r.Data) != "a" {
		t.Fatalf("Next after cancellations = %+v, %v", r, err)
	}
	go func() { time.Sleep(10 * time.Millisecond); l.Append([]byte("b")) }()
	ctx2, cancel2 := context.WithTimeout(bg, 10*time.Second)
	defer cancel2()
	if r, err := c.Next(ctx2); err != nil || string(r.Data) != "b" {
		t.Fatalf("blocking Next after cancellations = %+v, %v", r, err)
	}
}

func TestInterrupt(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	c := subscribe(t, l, fanlog.FromLatest)
	done := make(chan error, 1)
	go func() { _, err := c.Next(bg); done <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := c.Interrupt(); err != nil {
		t.Fatal(err)
	}
	if err := within(t, time.Second, "interrupted Next", done); err != fanlog.ErrInterrupted {
		t.Fatalf("interrupted Next = %v", err)
	}
	// Sticky when nobody waits, but records come first.
	c.Interrupt()
	l.Append([]byte("x"))
	if r, err := c.Next(bg); err != nil || string(r.Data) != "x" {
		t.Fatalf("Next = %+v, %v", r, err)
	}
	if _, err := c.Next(bg); err != fanlog.ErrInterrupted {
		t.Fatalf("Next after a pending interrupt = %v", err)
	}
	go func() { time.Sleep(10 * time.Millisecond); l.Append([]byte("y")) }()
	if r, err := c.Next(bg); err != nil || string(r.Data) != "y" {
		t.Fatalf("Next = %+v, %v", r, err)
	}
}

// A Cursor is single-consumer: a second concurrent call gets ErrBusy.
func TestBusy(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	c := subscribe(t, l, fanlog.FromLatest)
	done := make(chan error, 1)
	go func() { _, err := c.Next(bg); done <- err }()
	time.Sleep(20 * time.Millisecond)
	for _, call := range []func() error{
		func() error { _, err := c.Next(bg); return err },
		func() error { _, err := c.TryNext(); return err },
		func() error { _, err := c.NextBatch(bg, make([]fanlog.Record, 1)); return err },
		func() error { _, err := c.Stats(); return err },
	} {
		if err := call(); err != fanlog.ErrBusy {
			t.Fatalf("concurrent call = %v; want ErrBusy", err)
		}
	}
	l.Append(nil)
	if err := within(t, time.Second, "Next", done); err != nil {
		t.Fatal(err)
	}
}

func TestCursorUseAfterClose(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	c, err := l.Subscribe(fanlog.FromEarliest)
	if err != nil {
		t.Fatal(err)
	}
	l.Append([]byte("unread"))
	c.Next(bg) // reads ahead; the rest of the batch is dropped by Close
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	for name, call := range map[string]func() error{
		"Next":          func() error { _, err := c.Next(bg); return err },
		"NextView":      func() error { _, err := c.NextView(bg); return err },
		"TryNext":       func() error { _, err := c.TryNext(); return err },
		"NextBatch":     func() error { _, err := c.NextBatch(bg, make([]fanlog.Record, 1)); return err },
		"NextBatchView": func() error { _, err := c.NextBatchView(bg, make([]fanlog.Record, 1)); return err },
		"Stats":         func() error { _, err := c.Stats(); return err },
		"Interrupt":     func() error { return c.Interrupt() },
	} {
		err := call()
		if !errors.Is(err, fanlog.ErrClosed) || err.Error() != "fanlog: use of closed Cursor" {
			t.Errorf("%s after Close = %v", name, err)
		}
	}
	if s, _ := l.Stats(); s.Cursors != 0 {
		t.Fatalf("log still counts %d cursors", s.Cursors)
	}
}

// Close from another goroutine wakes a blocked Next, which returns an
// error wrapping ErrClosed; the handle is released after it returns.
func TestCloseWakesBlockedNext(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	for round := 0; round < 50; round++ {
		c, err := l.Subscribe(fanlog.FromLatest)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithCancel(bg) // exercises the AfterFunc path too
			defer cancel()
			for {
				if _, err := c.Next(ctx); err != nil {
					done <- err
					return
				}
			}
		}()
		if round%2 == 0 {
			time.Sleep(time.Millisecond)
		}
		if round%3 == 0 {
			l.Append(nil)
		}
		c.Close()
		if err := within(t, 2*time.Second, "Next after Close", done); !errors.Is(err, fanlog.ErrClosed) {
			t.Fatalf("round %d: Next after Close = %v", round, err)
		}
	}
	eventually(t, "cursors released", func() bool { s, _ := l.Stats(); return s.Cursors == 0 })
}

// Values dropped without Close are released by the garbage collector: a
// cursor stops holding the log; a log is closed with CodeAbandoned.
func TestGarbageCollectedHandles(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	func() {
		c, err := l.Subscribe(fanlog.FromEarliest)
		if err != nil {
			t.Fatal(err)
		}
		l.Append(nil)
		c.Next(bg) // with a batch buffer
		c2, _ := l.Subscribe(fanlog.FromLatest)
		go c2.Next(context.Background()) // blocks: creates the readiness fd
		time.Sleep(10 * time.Millisecond)
		c2.Interrupt()
		time.Sleep(10 * time.Millisecond)
	}()
	eventually(t, "dropped cursors to be released", func() bool {
		runtime.GC()
		s, _ := l.Stats()
		return s.Cursors == 0
	})

	var c *fanlog.Cursor
	func() {
		l2, err := fanlog.NewLog(fanlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		l2.Append([]byte("orphan"))
		c, err = l2.Subscribe(fanlog.FromEarliest)
		if err != nil {
			t.Fatal(err)
		}
	}()
	defer c.Close()
	if r, err := c.Next(bg); err != nil || string(r.Data) != "orphan" {
		t.Fatalf("Next = %+v, %v", r, err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Next(bg); done <- err }()
	var err error
	eventually(t, "dropped log to be closed", func() bool {
		runtime.GC()
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	var ce *fanlog.CloseError
	if !errors.As(err, &ce) || ce.Code != fanlog.CodeAbandoned {
		t.Fatalf("Next on an abandoned log = %v", err)
	}
}

// 1,000 goroutines blocked in Next wait in the Go scheduler, not on OS
// threads; one append wakes them all; cancelling returns them all.
func TestThousandBlockedReaders(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	const n = 1000
	before := osThreads(t)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	var started, got, finished sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		c := subscribe(t, l, fanlog.FromLatest)
		started.Add(1)
		got.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			started.Done()
			r, err := c.Next(ctx)
			if err != nil || string(r.Data) != "wake" {
				errs <- fmt.Errorf("first Next = %+v, %v", r, err)
			}
			got.Done()
			_, err = c.Next(ctx)
			errs <- err
		}()
	}
	started.Wait()
	time.Sleep(200 * time.Millisecond) // let them all block
	blocked := osThreads(t)
	l.Append([]byte("wake"))
	waitGroup(t, &got, 10*time.Second, "every reader to get the record")
	time.Sleep(100 * time.Millisecond) // blocked again
	start := time.Now()
	cancel()
	waitGroup(t, &finished, 10*time.Second, "every reader to return after cancel")
	elapsed := time.Since(start)
	after := osThreads(t)
	close(errs)
	for err := range errs {
		if err != context.Canceled {
			t.Fatal(err)
		}
	}
	t.Logf("OS threads: %d before, %d with %d goroutines blocked in Next, %d at the end; all returned %v after cancel",
		before, blocked, n, after, elapsed)
	if blocked >= 50 || after >= 50 {
		t.Errorf("too many OS threads: %d blocked, %d at the end", blocked, after)
	}
	if elapsed > 2*time.Second {
		t.Errorf("cancel took %v to return %d blocked readers", elapsed, n)
	}
}

func waitGroup(t testing.TB, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	within(t, d, what, done)
}
