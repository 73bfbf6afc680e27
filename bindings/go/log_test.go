package fanlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

var bg = context.Background()

func TestVersion(t *testing.T) {
	if v := fanlog.Version(); v == "" || !strings.Contains(v, ".") {
		t.Fatalf("Version() = %q", v)
	}
	if fanlog.ABIVersion != 1 {
		t.Fatalf("ABIVersion = %d", fanlog.ABIVersion)
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []fanlog.Options{
		{SegmentSize: -1},
		{MaxBytes: -1},
		{SegmentSize: 1000},                    // not a power of two
		{SegmentSize: 128},                     // too small
		{SegmentSize: 4096, MaxBytes: 4096},    // fewer than two segments
		{SegmentSize: 256, MaxRecordSize: 300}, // larger than a segment
		{Policy: 7},
		{Timestamps: 9},
	} {
		if l, err := fanlog.NewLog(o); !errors.Is(err, fanlog.ErrInvalidArgument) {
			t.Errorf("NewLog(%+v) = %v, %v; want ErrInvalidArgument", o, l, err)
		}
	}
	for _, o := range []fanlog.Options{
		{},
		{PoolSegments: -1},
		{PoolSegments: 2, RetainBytes: 4096, Timestamps: fanlog.TimestampsPrecise},
		small(fanlog.Reject, 2),
	} {
		l, err := fanlog.NewLog(o)
		if err != nil {
			t.Fatalf("NewLog(%+v): %v", o, err)
		}
		l.Close(nil)
	}
	for p, want := range map[fanlog.Policy]string{
		fanlog.Block: "Block", fanlog.DropOldest: "DropOldest", fanlog.Reject: "Reject", 9: "Policy(9)",
	} {
		if p.String() != want {
			t.Errorf("%d.String() = %q", uint32(p), p.String())
		}
	}
}

func TestAppendAndRead(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	c := subscribe(t, l, fanlog.FromEarliest)
	before := time.Now()
	buf := []byte("hello")
	if seq, err := l.Append(buf); seq != 0 || err != nil {
		t.Fatalf("Append = %d, %v", seq, err)
	}
	copy(buf, "XXXXX") // the log copied the bytes
	if seq, err := l.AppendKind(7, nil); seq != 1 || err != nil {
		t.Fatalf("AppendKind(empty) = %d, %v", seq, err)
	}
	if seq, err := l.TryAppend(9, []byte("try")); seq != 2 || err != nil {
		t.Fatalf("TryAppend = %d, %v", seq, err)
	}
	if seq, err := l.AppendContext(bg, 3, []byte("ctx")); seq != 3 || err != nil {
		t.Fatalf("AppendContext = %d, %v", seq, err)
	}
	after := time.Now()

	r, err := c.Next(bg)
	if err != nil || r.Seq != 0 || r.Kind != 0 || string(r.Data) != "hello" {
		t.Fatalf("Next = %+v, %v", r, err)
	}
	// Coarse clock: a few ms of resolution.
	if r.Time.Before(before.Add(-50*time.Millisecond)) || r.Time.After(after.Add(50*time.Millisecond)) {
		t.Errorf("Time %v not within [%v, %v]", r.Time, before, after)
	}
	r.Data[0] = 'J' // ours to modify
	if r, err = c.TryNext(); err != nil || r.Seq != 1 || r.Kind != 7 || r.Data != nil {
		t.Fatalf("TryNext = %+v, %v", r, err)
	}
	if r, err = c.NextView(bg); err != nil || r.Seq != 2 || r.Kind != 9 || string(r.Data) != "try" {
		t.Fatalf("NextView = %+v, %v", r, err)
	}
	if r, err = c.Next(bg); err != nil || r.Seq != 3 || r.Kind != 3 || string(r.Data) != "ctx" {
		t.Fatalf("Next = %+v, %v", r, err)
	}
	if _, err = c.TryNext(); err != fanlog.ErrEmpty {
		t.Fatalf("TryNext on empty = %v", err)
	}

	// A second cursor from the start sees the original bytes.
	c2 := subscribe(t, l, fanlog.FromEarliest)
	if r, err = c2.Next(bg); err != nil || string(r.Data) != "hello" {
		t.Fatalf("second cursor: %+v, %v", r, err)
	}
}

func TestTimestampsOff(t *testing.T) {
	l := newLog(t, fanlog.Options{Timestamps: fanlog.TimestampsOff})
	c := subscribe(t, l, fanlog.FromEarliest)
	l.Append([]byte("x"))
	if r, err := c.Next(bg); err != nil || !r.Time.IsZero() {
		t.Fatalf("Next = %+v, %v; want zero Time", r, err)
	}
}

func TestAppendBatch(t *testing.T) {
	l := newLog(t, fanlog.Options{SegmentSize: 4096, MaxBytes: 64 * 4096})
	c := subscribe(t, l, fanlog.FromEarliest)
	l.Append([]byte("first"))
	big := bytes.Repeat([]byte{'b'}, 100)
	first, err := l.AppendBatch([][]byte{[]byte("a"), nil, big, []byte("d")})
	if err != nil || first != 1 {
		t.Fatalf("AppendBatch = %d, %v", first, err)
	}
	if first, err = l.AppendBatchKind(5, [][]byte{[]byte("k1"), []byte("k2")}); err != nil || first != 5 {
		t.Fatalf("AppendBatchKind = %d, %v", first, err)
	}
	if first, err = l.AppendBatch(nil); err != nil || first != 7 {
		t.Fatalf("AppendBatch(nil) = %d, %v; want the next sequence number", first, err)
	}
	// Larger than a segment: refused whole.
	var huge [][]byte
	for i := 0; i < 100; i++ {
		huge = append(huge, big)
	}
	if _, err = l.AppendBatch(huge); !errors.Is(err, fanlog.ErrTooLarge) {
		t.Fatalf("huge batch: %v", err)
	}
	want := []struct {
		kind uint32
		data string
	}{{0, "first"}, {0, "a"}, {0, ""}, {0, string(big)}, {0, "d"}, {5, "k1"}, {5, "k2"}}
	for i, w := range want {
		r, err := c.Next(bg)
		if err != nil || r.Seq != uint64(i) || r.Kind != w.kind || string(r.Data) != w.data {
			t.Fatalf("record %d = %+v, %v; want %+v", i, r, err, w)
		}
	}
	if _, err := c.TryNext(); err != fanlog.ErrEmpty {
		t.Fatalf("after the batches: %v (the huge batch must not be appended)", err)
	}
}

// Concurrent batches keep their records together.
func TestAppendBatchConcurrent(t *testing.T) {
	l := newLog(t, fanlog.Options{SegmentSize: 1 << 16, MaxBytes: 1 << 22, Policy: fanlog.Block})
	c := subscribe(t, l, fanlog.FromEarliest)
	const producers, batches, per = 4, 200, 10
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([][]byte, per)
			for b := 0; b < batches; b++ {
				for i := range recs {
					recs[i] = u64(uint64(p<<32 | b*per + i))
				}
				if _, err := l.AppendBatchKind(uint32(p), recs); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	l.Close(nil)
	for n := 0; ; n++ {
		r, err := c.Next(bg)
		if err == fanlog.ErrClosed {
			if n != producers*batches*per {
				t.Fatalf("read %d records", n)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if v := getU64(r.Data); int(v>>32) != int(r.Kind) || (n%per != int(v&0xffffffff)%per) {
			t.Fatalf("record %d (kind %d, value %x): batch split or reordered", n, r.Kind, v)
		}
	}
}

func TestTooLarge(t *testing.T) {
	l := newLog(t, fanlog.Options{SegmentSize: 4096, MaxRecordSize: 100})
	if _, err := l.Append(make([]byte, 101)); !errors.Is(err, fanlog.ErrTooLarge) {
		t.Fatalf("Append(101 B) = %v", err)
	}
	if _, err := l.Append(make([]byte, 100)); err != nil {
		t.Fatalf("Append(100 B) = %v", err)
	}
}

func TestFull(t *testing.T) {
	for _, policy := range []fanlog.Policy{fanlog.Reject, fanlog.Block} {
		t.Run(policy.String(), func(t *testing.T) {
			l := newLog(t, small(policy, 2))
			subscribe(t, l, fanlog.FromEarliest) // holds every record
			n := 0
			for ; n < 1000; n++ {
				if _, err := l.TryAppend(0, u64(uint64(n))); err != nil {
					if !errors.Is(err, fanlog.ErrFull) {
						t.Fatal(err)
					}
					break
				}
			}
			if n == 0 || n == 1000 {
				t.Fatalf("appended %d records before ErrFull", n)
			}
			if policy == fanlog.Reject {
				if _, err := l.Append(u64(0)); !errors.Is(err, fanlog.ErrFull) {
					t.Fatalf("Append under Reject when full = %v", err)
				}
			}
		})
	}
}

// AppendContext waits for room under Block, and gives up with ctx.
func TestAppendContext(t *testing.T) {
	l := newLog(t, small(fanlog.Block, 2))
	c := subscribe(t, l, fanlog.FromEarliest)
	for {
		if _, err := l.TryAppend(0, u64(1)); err != nil {
			break
		}
	}
	ctx, cancel := context.WithTimeout(bg, 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := l.AppendContext(ctx, 0, u64(2)); err != context.DeadlineExceeded {
		t.Fatalf("AppendContext on a full log = %v", err)
	}
	if d := time.Since(start); d < 25*time.Millisecond || d > 2*time.Second {
		t.Errorf("gave up after %v", d)
	}
	ctx, cancel = context.WithCancel(bg)
	done := make(chan error, 1)
	go func() { _, err := l.AppendContext(ctx, 0, u64(3)); done <- err }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := within(t, time.Second, "cancelled AppendContext", done); err != context.Canceled {
		t.Fatalf("cancelled AppendContext = %v", err)
	}
	if _, err := l.AppendContext(ctx, 0, nil); err != context.Canceled {
		t.Fatalf("AppendContext with a done ctx = %v", err)
	}
	// A reader makes room: a waiting AppendContext succeeds.
	go func() {
		time.Sleep(10 * time.Millisecond)
		for {
			if _, err := c.TryNext(); err != nil {
				return
			}
		}
	}()
	for i := 0; i < 3; i++ { // reuses the pooled producer
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		seq, err := l.AppendContext(ctx, 0, u64(4))
		cancel()
		if err != nil {
			t.Fatalf("AppendContext after room was made = %d, %v", seq, err)
		}
	}
}

// Close wakes a producer blocked in AppendContext.
func TestCloseWakesBlockedAppend(t *testing.T) {
	l := newLog(t, small(fanlog.Block, 2))
	subscribe(t, l, fanlog.FromEarliest)
	for {
		if _, err := l.TryAppend(0, u64(1)); err != nil {
			break
		}
	}
	done := make(chan error, 2)
	go func() { _, err := l.AppendContext(context.WithoutCancel(bg), 0, u64(2)); done <- err }()
	go func() { _, err := l.Append(u64(3)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	l.Close(errors.New("stop"))
	for i := 0; i < 2; i++ {
		if err := within(t, 2*time.Second, "blocked append to return", done); !errors.Is(err, fanlog.ErrClosed) {
			t.Fatalf("blocked append after Close = %v", err)
		}
	}
}

// Under Block, appends that find no room yield to the reading cursors and
// try again, or wait in the library when the readers pause: both paths,
// with Append, AppendContext and AppendBatch, lose nothing and reorder
// nothing.
func TestAppendWaitsForRoom(t *testing.T) {
	l := newLog(t, small(fanlog.Block, 2))
	c := subscribe(t, l, fanlog.FromEarliest)
	const total = 3000
	ctx, cancel := context.WithCancel(bg) // AppendContext's cancellable path
	defer cancel()
	done := make(chan error, 1)
	go func() {
		dst := make([]fanlog.Record, 16)
		for got := 0; got < total; {
			n, err := c.NextBatch(bg, dst)
			if err != nil {
				done <- err
				return
			}
			for _, r := range dst[:n] {
				if v := getU64(r.Data); v != uint64(got) {
					done <- fmt.Errorf("record %d holds %d", got, v)
					return
				}
				got++
				if got%500 == 0 {
					time.Sleep(5 * time.Millisecond) // the appends wait in the library
				}
			}
		}
		done <- nil
	}()
	for i := 0; i < total; {
		if i%200 < 100 {
			var err error
			if i%2 == 0 {
				_, err = l.Append(u64(uint64(i)))
			} else {
				_, err = l.AppendContext(ctx, 0, u64(uint64(i)))
			}
			if err != nil {
				t.Fatal(err)
			}
			i++
			continue
		}
		batch := [][]byte{u64(uint64(i)), u64(uint64(i + 1)), u64(uint64(i + 2)), u64(uint64(i + 3))}
		if _, err := l.AppendBatch(batch); err != nil {
			t.Fatal(err)
		}
		i += len(batch)
	}
	if err := within(t, 10*time.Second, "the reader to get every record", done); err != nil {
		t.Fatal(err)
	}
}

type codedError struct{ code int32 }

func (e codedError) Error() string { return fmt.Sprintf("coded %d", e.code) }
func (e codedError) Code() int32   { return e.code }

// The close status given to Log.Close, as every cursor sees it.
func TestCloseStatus(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error // ErrClosed or a *CloseError
	}{
		{"nil", nil, fanlog.ErrClosed},
		{"plain", errors.New("disk on fire"), &fanlog.CloseError{Code: fanlog.CodeUnspecified, Message: "disk on fire"}},
		{"coder", codedError{42}, &fanlog.CloseError{Code: 42, Message: "coded 42"}},
		{"wrapped coder", fmt.Errorf("run: %w", codedError{7}), &fanlog.CloseError{Code: 7, Message: "run: coded 7"}},
		{"relayed", &fanlog.CloseError{Code: 3, Message: "upstream"}, &fanlog.CloseError{Code: 3, Message: "upstream"}},
		{"zero code", &fanlog.CloseError{Code: 0, Message: "failed"}, &fanlog.CloseError{Code: 0, Message: "failed"}},
		{"empty message", errors.New(""), &fanlog.CloseError{Code: fanlog.CodeUnspecified, Message: "unspecified error"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLog(t, fanlog.Options{})
			c := subscribe(t, l, fanlog.FromEarliest)
			if err := l.Err(); err != nil {
				t.Fatalf("Err() while open = %v", err)
			}
			l.Append([]byte("last words"))
			if err := l.Close(tc.err); err != nil {
				t.Fatal(err)
			}
			if r, err := c.Next(bg); err != nil || string(r.Data) != "last words" {
				t.Fatalf("drain: %+v, %v", r, err)
			}
			for i := 0; i < 2; i++ { // the same on every later call
				_, err := c.Next(bg)
				if !errors.Is(err, fanlog.ErrClosed) {
					t.Fatalf("after drain: %v; want ErrClosed", err)
				}
				if want, ok := tc.want.(*fanlog.CloseError); ok {
					var ce *fanlog.CloseError
					if !errors.As(err, &ce) || *ce != *want {
						t.Fatalf("after drain: %#v; want %#v", err, want)
					}
				} else if err != fanlog.ErrClosed {
					t.Fatalf("after a clean close: %#v; want ErrClosed itself", err)
				}
			}
			if err := l.Err(); fmt.Sprint(err) != fmt.Sprint(tc.want) {
				t.Fatalf("Log.Err() = %v; want %v", err, tc.want)
			}
		})
	}
}

// Close is idempotent: the first status wins.
func TestCloseIdempotent(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	c := subscribe(t, l, fanlog.FromEarliest)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Close(&fanlog.CloseError{Code: 1, Message: "first"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := l.Close(nil); err != nil {
		t.Fatal(err)
	}
	var ce *fanlog.CloseError
	if _, err := c.Next(bg); !errors.As(err, &ce) || ce.Message != "first" {
		t.Fatalf("Next = %v", err)
	}
	if err := l.Err(); !errors.As(err, &ce) || ce.Message != "first" {
		t.Fatalf("Err = %v", err)
	}
}

func TestLogUseAfterClose(t *testing.T) {
	l, err := fanlog.NewLog(fanlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Subscribe(fanlog.FromEarliest)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l.Append([]byte("kept"))
	l.Close(nil)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	calls := map[string]func() error{
		"Append":          func() error { _, err := l.Append(nil); return err },
		"AppendKind":      func() error { _, err := l.AppendKind(1, nil); return err },
		"TryAppend":       func() error { _, err := l.TryAppend(1, nil); return err },
		"AppendContext":   func() error { _, err := l.AppendContext(ctx, 1, nil); return err },
		"AppendBatch":     func() error { _, err := l.AppendBatch([][]byte{nil}); return err },
		"AppendBatchKind": func() error { _, err := l.AppendBatchKind(1, nil); return err },
		"Stats":           func() error { _, err := l.Stats(); return err },
		"Subscribe":       func() error { _, err := l.Subscribe(fanlog.FromEarliest); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, fanlog.ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", name, err)
		}
	}
	if err := l.Close(errors.New("again")); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := l.Err(); err != fanlog.ErrClosed {
		t.Fatalf("Err after a clean Close = %v", err)
	}
	// The cursor outlives the log handle.
	if r, err := c.Next(bg); err != nil || string(r.Data) != "kept" {
		t.Fatalf("cursor after Log.Close: %+v, %v", r, err)
	}
	if _, err := c.Next(bg); err != fanlog.ErrClosed {
		t.Fatalf("cursor drained: %v", err)
	}
}

func TestLogStats(t *testing.T) {
	l := newLog(t, fanlog.Options{SegmentSize: 4096, MaxBytes: 8 * 4096})
	subscribe(t, l, fanlog.FromEarliest)
	for i := 0; i < 10; i++ {
		l.Append(make([]byte, 10))
	}
	s, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.RecordsAppended != 10 || s.BytesAppended != 10*(24+16) || s.Cursors != 1 || s.Closed ||
		s.SegmentsRetained < 1 || s.BytesRetained < 4096 || s.PeakBytesRetained < s.BytesRetained ||
		s.BytesAllocated < s.BytesRetained || s.OldestSeq != 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

// Many goroutines append while the log is closed: no crash, and every
// failure is ErrClosed.
func TestCloseRacesAppends(t *testing.T) {
	for round := 0; round < 20; round++ {
		l, err := fanlog.NewLog(fanlog.Options{Policy: fanlog.DropOldest, SegmentSize: 4096, MaxBytes: 4 * 4096})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithCancel(bg)
				defer cancel()
				for i := 0; ; i++ {
					var err error
					switch i % 4 {
					case 0:
						_, err = l.Append(u64(uint64(i)))
					case 1:
						_, err = l.AppendBatch([][]byte{u64(1), u64(2)})
					case 2:
						_, err = l.AppendContext(ctx, 1, u64(3))
					case 3:
						_, err = l.Stats()
					}
					if err != nil {
						if !errors.Is(err, fanlog.ErrClosed) {
							t.Errorf("append during Close: %v", err)
						}
						return
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		l.Close(nil)
		wg.Wait()
	}
}

// A close error whose message has NUL bytes (which would end it early in
// C) reaches cursors whole and still as a failure, even with code 0.
func TestCloseMessageWithNUL(t *testing.T) {
	for _, msg := range []string{"\x00disk on fire", "disk\x00on fire"} {
		l, err := fanlog.NewLog(fanlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := l.Subscribe(fanlog.FromEarliest)
		if err != nil {
			t.Fatal(err)
		}
		l.Close(&fanlog.CloseError{Code: 0, Message: msg})
		_, err = c.TryNext()
		var ce *fanlog.CloseError
		want := strings.ReplaceAll(msg, "\x00", `\x00`)
		if !errors.As(err, &ce) || ce.Code != 0 || ce.Message != want {
			t.Fatalf("close with %q: the cursor got %v, want a *CloseError %q", msg, err, want)
		}
		c.Close()
	}
}
