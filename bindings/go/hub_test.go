package fanlog_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

func newHub(t testing.TB, opts fanlog.HubOptions) *fanlog.Hub {
	t.Helper()
	h, err := fanlog.NewHub(opts)
	if err != nil {
		t.Fatalf("NewHub(%+v): %v", opts, err)
	}
	t.Cleanup(func() { h.Close(nil) })
	return h
}

func sub(t testing.TB, h *fanlog.Hub, opts fanlog.SubscribeOptions, kinds ...uint32) *fanlog.Subscription {
	t.Helper()
	s, err := h.Subscribe(opts, kinds...)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestHubOptions(t *testing.T) {
	for _, o := range []fanlog.HubOptions{
		{Capacity: -1},
		{Capacity: 1 << 30},
		{Policy: 9},
		{Timestamps: 7},
	} {
		if h, err := fanlog.NewHub(o); !errors.Is(err, fanlog.ErrInvalidArgument) {
			t.Errorf("NewHub(%+v) = %v, %v", o, h, err)
		}
	}
	h := newHub(t, fanlog.HubOptions{Policy: fanlog.HubBlock, BlockTimeout: -1, Timestamps: fanlog.TimestampsOff})
	for _, o := range []fanlog.SubscribeOptions{{Capacity: -1}, {Capacity: 1 << 30}, {Policy: 8}} {
		if s, err := h.Subscribe(o); !errors.Is(err, fanlog.ErrInvalidArgument) {
			t.Errorf("Subscribe(%+v) = %v, %v", o, s, err)
		}
	}
	for p, want := range map[fanlog.HubPolicy]string{
		fanlog.HubDefault: "HubDefault", fanlog.HubDropNewest: "HubDropNewest",
		fanlog.HubDropOldest: "HubDropOldest", fanlog.HubBlock: "HubBlock", 9: "HubPolicy(9)",
	} {
		if p.String() != want {
			t.Errorf("%d.String() = %q", uint32(p), p.String())
		}
	}
}

func TestHubPublishSubscribe(t *testing.T) {
	h := newHub(t, fanlog.HubOptions{})
	if d, err := h.Publish(1, []byte("nobody")); err != nil || d != (fanlog.Delivery{}) {
		t.Fatalf("Publish with no subscription = %+v, %v", d, err)
	}
	all := sub(t, h, fanlog.SubscribeOptions{Name: "all"})
	odd := sub(t, h, fanlog.SubscribeOptions{}, 1, 3, 3)
	before := time.Now()
	for k := uint32(0); k < 4; k++ {
		d, err := h.Publish(k, []byte(fmt.Sprint("event ", k)))
		want := fanlog.Delivery{Delivered: 1 + uint64(k%2)}
		if err != nil || d != want {
			t.Fatalf("Publish(%d) = %+v, %v; want %+v", k, d, err, want)
		}
	}
	d, err := h.PublishBatch(3, [][]byte{[]byte("b1"), nil, []byte("b3")})
	if err != nil || d.Delivered != 6 || d.Dropped != 0 {
		t.Fatalf("PublishBatch = %+v, %v", d, err)
	}
	var seqs []uint64
	for i := 0; i < 7; i++ {
		r, err := all.Next(bg)
		if err != nil {
			t.Fatal(err)
		}
		if i < 4 && (r.Kind != uint32(i) || string(r.Data) != fmt.Sprint("event ", i)) {
			t.Fatalf("event %d = %+v", i, r)
		}
		if r.Time.Before(before.Add(-50*time.Millisecond)) || time.Since(r.Time) > time.Minute {
			t.Fatalf("event time %v", r.Time)
		}
		seqs = append(seqs, r.Seq)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence numbers %v", seqs)
		}
	}
	if _, err := all.TryNext(); err != fanlog.ErrEmpty {
		t.Fatalf("TryNext on empty = %v", err)
	}
	dst := make([]fanlog.Record, 8)
	n, err := odd.NextBatch(bg, dst)
	if err != nil || n != 5 || dst[0].Kind != 1 || dst[1].Kind != 3 || string(dst[2].Data) != "b1" || len(dst[3].Data) != 0 {
		t.Fatalf("odd NextBatch = %d, %v, %+v", n, err, dst[:n])
	}
	h.Publish(1, []byte("view"))
	if r, err := odd.NextView(bg); err != nil || string(r.Data) != "view" {
		t.Fatalf("NextView = %+v, %v", r, err)
	}
	h.Publish(3, []byte("bv"))
	if n, err := odd.NextBatchView(bg, dst); err != nil || n != 1 || string(dst[0].Data) != "bv" {
		t.Fatalf("NextBatchView = %d, %v", n, err)
	}
	s, err := h.Stats()
	if err != nil || s.Published != 10 || s.Subscriptions != 2 || s.Closed {
		t.Fatalf("hub stats %+v, %v", s, err)
	}
}

// The overflow policies and their exact accounting.
func TestHubPolicies(t *testing.T) {
	h := newHub(t, fanlog.HubOptions{Capacity: 4})
	newest := sub(t, h, fanlog.SubscribeOptions{Policy: fanlog.HubDropNewest})
	oldest := sub(t, h, fanlog.SubscribeOptions{}) // the hub's default: HubDropOldest
	noWait := sub(t, h, fanlog.SubscribeOptions{Policy: fanlog.HubBlock, BlockTimeout: -1, Capacity: 2})
	for i := 0; i < 10; i++ {
		h.Publish(0, u64(uint64(i)))
	}
	read := func(s *fanlog.Subscription) (vals []uint64) {
		for {
			r, err := s.TryNext()
			if err != nil {
				return vals
			}
			vals = append(vals, getU64(r.Data))
		}
	}
	for _, c := range []struct {
		name    string
		s       *fanlog.Subscription
		want    string
		dropped uint64
	}{
		{"newest", newest, "[0 1 2 3]", 6},
		{"oldest", oldest, "[6 7 8 9]", 6},
		{"block, no wait", noWait, "[0 1]", 8},
	} {
		if got := fmt.Sprint(read(c.s)); got != c.want {
			t.Errorf("%s received %s, want %s", c.name, got, c.want)
		}
		st, err := c.s.Stats()
		if err != nil || st.Dropped != c.dropped || st.Delivered+st.Dropped != 10 || st.Depth != 0 || st.Received != st.Delivered {
			t.Errorf("%s stats %+v, %v", c.name, st, err)
		}
	}

	// Block with a timeout drops after waiting; lossless Block waits for
	// the reader.
	timed := sub(t, h, fanlog.SubscribeOptions{Policy: fanlog.HubBlock, BlockTimeout: 5 * time.Millisecond, Capacity: 1}, 7)
	h.Publish(7, nil)
	start := time.Now()
	if d, _ := h.Publish(7, nil); d.Dropped != 1 || time.Since(start) < 4*time.Millisecond {
		t.Fatalf("timed Block publish = %+v after %v", d, time.Since(start))
	}
	timed.Close()
	lossless := sub(t, h, fanlog.SubscribeOptions{Policy: fanlog.HubBlock, Capacity: 1}, 8)
	go func() {
		for i := 0; i < 100; i++ {
			h.Publish(8, u64(uint64(i)))
		}
	}()
	for i := 0; i < 100; i++ {
		r, err := lossless.Next(bg)
		if err != nil || getU64(r.Data) != uint64(i) {
			t.Fatalf("lossless event %d = %+v, %v", i, r, err)
		}
	}
}

func TestHubClose(t *testing.T) {
	for _, fail := range []error{nil, codedError{12}} {
		h := newHub(t, fanlog.HubOptions{})
		s1 := sub(t, h, fanlog.SubscribeOptions{})
		s2 := sub(t, h, fanlog.SubscribeOptions{})
		if err := h.Err(); err != nil {
			t.Fatal(err)
		}
		h.Publish(0, []byte("last"))
		done := make(chan error, 1)
		go func() {
			s1.Next(bg)
			_, err := s1.Next(bg) // blocks until the close
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		if err := h.Close(fail); err != nil {
			t.Fatal(err)
		}
		check := func(err error) {
			t.Helper()
			if fail == nil {
				if err != fanlog.ErrClosed {
					t.Fatalf("after a clean close: %v", err)
				}
				return
			}
			var ce *fanlog.CloseError
			if !errors.As(err, &ce) || ce.Code != 12 || !errors.Is(err, fanlog.ErrClosed) {
				t.Fatalf("after a failed close: %v", err)
			}
		}
		check(within(t, time.Second, "blocked receive to end", done))
		if r, err := s2.Next(bg); err != nil || string(r.Data) != "last" {
			t.Fatalf("drain: %+v, %v", r, err)
		}
		_, err := s2.Next(bg)
		check(err)
		check(h.Err())
		if err := h.Close(errors.New("again")); err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func() error{
			"Publish":      func() error { _, err := h.Publish(0, nil); return err },
			"PublishBatch": func() error { _, err := h.PublishBatch(0, nil); return err },
			"Stats":        func() error { _, err := h.Stats(); return err },
			"Subscribe":    func() error { _, err := h.Subscribe(fanlog.SubscribeOptions{}); return err },
		} {
			if err := call(); !errors.Is(err, fanlog.ErrClosed) {
				t.Errorf("%s after Close = %v", name, err)
			}
		}
	}
}

func TestUnsubscribe(t *testing.T) {
	h := newHub(t, fanlog.HubOptions{})
	s := sub(t, h, fanlog.SubscribeOptions{})
	h.Publish(0, []byte("held"))
	got := make(chan []error, 1)
	go func() {
		var errs []error
		for {
			r, err := s.Next(bg)
			errs = append(errs, err)
			if err != nil {
				got <- errs
				return
			}
			if string(r.Data) != "held" {
				errs = append(errs, fmt.Errorf("got %q", r.Data))
			}
		}
	}()
	time.Sleep(10 * time.Millisecond) // waiting in Next
	if err := s.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe(); err != nil {
		t.Fatalf("second Unsubscribe = %v", err)
	}
	if d, _ := h.Publish(0, []byte("late")); d.Delivered != 0 {
		t.Fatalf("delivered after Unsubscribe: %+v", d)
	}
	errs := within(t, time.Second, "receiver to see the unsubscribe", got)
	if len(errs) != 2 || errs[0] != nil || errs[1] != fanlog.ErrClosed {
		t.Fatalf("receiver saw %v", errs)
	}
	if st, _ := s.Stats(); !st.Closed || st.Received != 1 {
		t.Fatalf("stats %+v", st)
	}
	if hs, _ := h.Stats(); hs.Subscriptions != 0 {
		t.Fatalf("hub still counts %d subscriptions", hs.Subscriptions)
	}
}

func TestSubscriptionWaits(t *testing.T) {
	h := newHub(t, fanlog.HubOptions{})
	s := sub(t, h, fanlog.SubscribeOptions{})
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	if _, err := s.Next(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Next with a deadline = %v", err)
	}
	done := make(chan error, 2)
	go func() { _, err := s.Next(bg); done <- err }()
	time.Sleep(10 * time.Millisecond)
	if _, err := s.Next(bg); err != fanlog.ErrBusy {
		t.Fatalf("concurrent Next = %v", err)
	}
	if _, err := s.Stats(); err != fanlog.ErrBusy {
		t.Fatalf("concurrent Stats = %v", err)
	}
	s.Interrupt()
	if err := within(t, time.Second, "interrupted Next", done); err != fanlog.ErrInterrupted {
		t.Fatalf("interrupted Next = %v", err)
	}
	go func() { _, err := s.Next(bg); done <- err }()
	time.Sleep(10 * time.Millisecond)
	s.Close()
	if err := within(t, time.Second, "Next after Close", done); !errors.Is(err, fanlog.ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
	for name, call := range map[string]func() error{
		"Next":          func() error { _, err := s.Next(bg); return err },
		"NextView":      func() error { _, err := s.NextView(bg); return err },
		"TryNext":       func() error { _, err := s.TryNext(); return err },
		"NextBatch":     func() error { _, err := s.NextBatch(bg, make([]fanlog.Record, 1)); return err },
		"NextBatchView": func() error { _, err := s.NextBatchView(bg, make([]fanlog.Record, 1)); return err },
		"Stats":         func() error { _, err := s.Stats(); return err },
		"Interrupt":     s.Interrupt,
		"Unsubscribe":   s.Unsubscribe,
	} {
		if err := call(); !errors.Is(err, fanlog.ErrClosed) || err.Error() != "fanlog: use of closed Subscription" {
			t.Errorf("%s after Close = %v", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Stats counts events fetched ahead by the binding as waiting.
func TestSubscriptionStats(t *testing.T) {
	h := newHub(t, fanlog.HubOptions{})
	s := sub(t, h, fanlog.SubscribeOptions{Capacity: 100})
	for i := 0; i < 10; i++ {
		h.Publish(0, u64(uint64(i)))
	}
	s.Next(bg)
	s.Next(bg)
	st, err := s.Stats()
	if err != nil || st.Received != 2 || st.Depth != 8 || st.Delivered != 10 || st.Capacity != 100 || st.HighWater > st.Capacity {
		t.Fatalf("stats %+v, %v", st, err)
	}
	for i := 2; i < 10; i++ {
		if r, err := s.Next(bg); err != nil || getU64(r.Data) != uint64(i) {
			t.Fatalf("event %d: %+v, %v", i, r, err)
		}
	}
}

// 4 publishers, 4 lossless subscriptions (HubBlock): every subscription
// receives every event, each publisher's in order.
func TestHubFourByFour(t *testing.T) {
	h := newHub(t, fanlog.HubOptions{Capacity: 64, Policy: fanlog.HubBlock})
	const publishers, subs = 4, 4
	per := 20000
	if raceEnabled {
		per = 5000
	}
	ss := make([]*fanlog.Subscription, subs)
	for i := range ss {
		ss[i] = sub(t, h, fanlog.SubscribeOptions{})
	}
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch [][]byte
			for i := 0; i < per; i++ {
				ev := payload(uint64(p), uint64(i))
				if p%2 == 0 {
					if _, err := h.Publish(uint32(p), ev); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				if batch = append(batch, ev); len(batch) == 16 || i == per-1 {
					if _, err := h.PublishBatch(uint32(p), batch); err != nil {
						t.Error(err)
						return
					}
					batch = batch[:0]
				}
			}
		}()
	}
	errs := make(chan error, subs)
	for si, s := range ss {
		go func() {
			last := make([]int64, publishers)
			for i := range last {
				last[i] = -1
			}
			n := 0
			dst := make([]fanlog.Record, 32)
			for {
				k, err := s.NextBatch(bg, dst)
				for _, r := range dst[:k] {
					p, i := binary.LittleEndian.Uint64(r.Data), int64(binary.LittleEndian.Uint64(r.Data[8:]))
					if uint64(r.Kind) != p || i != last[p]+1 {
						errs <- fmt.Errorf("subscription %d: publisher %d event %d after %d", si, p, i, last[p])
						return
					}
					last[p] = i
					n++
				}
				if err == fanlog.ErrClosed {
					if n != publishers*per {
						err = fmt.Errorf("subscription %d received %d", si, n)
					} else {
						err = nil
					}
					errs <- err
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	h.Close(nil)
	for range ss {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Hubs and subscriptions dropped without Close are released by the GC.
func TestHubGarbageCollected(t *testing.T) {
	h := newHub(t, fanlog.HubOptions{})
	func() { h.Subscribe(fanlog.SubscribeOptions{}) }()
	eventually(t, "dropped subscription to be released", func() bool {
		runtime.GC()
		s, _ := h.Stats()
		return s.Subscriptions == 0
	})
	var s *fanlog.Subscription
	func() {
		h2, _ := fanlog.NewHub(fanlog.HubOptions{})
		s, _ = h2.Subscribe(fanlog.SubscribeOptions{})
	}()
	defer s.Close()
	done := make(chan error, 1)
	go func() { _, err := s.Next(bg); done <- err }()
	var err error
	eventually(t, "dropped hub to be closed", func() bool {
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
		t.Fatalf("Next on an abandoned hub = %v", err)
	}
}

// 1,000 subscriptions waiting: few OS threads; one publish wakes them all.
func TestThousandBlockedSubscriptions(t *testing.T) {
	h := newHub(t, fanlog.HubOptions{})
	const n = 1000
	var started, finished sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		s := sub(t, h, fanlog.SubscribeOptions{Capacity: 1})
		started.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			started.Done()
			r, err := s.Next(bg)
			if err == nil && string(r.Data) != "wake" {
				err = fmt.Errorf("got %q", r.Data)
			}
			errs <- err
		}()
	}
	started.Wait()
	time.Sleep(200 * time.Millisecond)
	blocked := osThreads(t)
	if d, _ := h.Publish(0, []byte("wake")); d.Delivered != n {
		t.Fatalf("delivered to %d", d.Delivered)
	}
	waitGroup(t, &finished, 10*time.Second, "every subscription to receive")
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("OS threads with %d subscriptions waiting: %d", n, blocked)
	if blocked >= 50 {
		t.Errorf("%d OS threads", blocked)
	}
}

// Stats (and every other call that takes the subscription's C handle) may
// meet an Unsubscribe from another goroutine holding it for a moment: it
// waits that out instead of reporting ErrBusy, as receives do.
func TestSubscriptionStatsDuringUnsubscribe(t *testing.T) {
	h, err := fanlog.NewHub(fanlog.HubOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(nil)
	for round := 0; round < 2000; round++ {
		s, err := h.Subscribe(fanlog.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		start, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			<-start
			if err := s.Unsubscribe(); err != nil {
				t.Error(err)
			}
		}()
		close(start)
		for stop := false; !stop; {
			select {
			case <-done:
				stop = true
			default:
			}
			if _, err := s.Stats(); err != nil {
				t.Fatalf("round %d: Stats during Unsubscribe: %v", round, err)
			}
		}
		s.Close()
	}
}
