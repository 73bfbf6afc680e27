package fanlog_test

import (
	"runtime"
	"testing"
	"time"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

// A parked subscription is woken only by events its filter takes (and by
// closes): publishes of other kinds neither wake it nor make it read.
func TestFilteredSubscriptionSleepsThroughOtherKinds(t *testing.T) {
	h := newHub(t, fanlog.HubOptions{})
	filtered, err := h.Subscribe(fanlog.SubscribeOptions{}, 2, 70) // kinds in two buckets
	if err != nil {
		t.Fatal(err)
	}
	defer filtered.Close()
	all, err := h.Subscribe(fanlog.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	got := make(chan fanlog.Record, 1)
	go func() {
		if r, err := filtered.Next(bg); err == nil {
			got <- r
		}
	}()
	eventually(t, "the filtered subscription to park", func() bool { return fanlog.ParkedReaders(h) == 1 })
	before := fanlog.EmptyFills(filtered)

	// An unfiltered subscription parked beside it is woken by every kind.
	gotAll := make(chan fanlog.Record, 1)
	for _, kind := range []uint32{1, 3} {
		go func() {
			if r, err := all.Next(bg); err == nil {
				gotAll <- r
			}
		}()
		eventually(t, "the unfiltered subscription to park", func() bool { return fanlog.ParkedReaders(h) == 2 })
		if _, err := h.Publish(kind, []byte("other")); err != nil {
			t.Fatal(err)
		}
		if r := within(t, 10*time.Second, "the unfiltered subscription's event", gotAll); r.Kind != kind {
			t.Fatalf("unfiltered got kind %d, want %d", r.Kind, kind)
		}
	}
	for i := 0; i < 5000; i++ {
		if _, err := h.Publish(uint32(1+i%2*2), []byte("other")); err != nil { // kinds 1 and 3
			t.Fatal(err)
		}
	}
	if _, err := h.PublishBatch(66, [][]byte{[]byte("a"), []byte("b")}); err != nil { // 66 % 64 == 2
		t.Fatal(err)
	}
	if n := fanlog.EmptyFills(filtered) - before; n > 1 {
		// One is allowed: kind 66 shares kind 2's bucket.
		t.Fatalf("the filtered subscription read %d times for events of other kinds", n)
	}
	if n := fanlog.ParkedReaders(h); n != 1 {
		t.Fatalf("%d readers parked, want the filtered one", n)
	}
	if all, b := fanlog.ParkedCounts(h); all != 0 || len(b) != 2 || b[2] != 1 || b[70%64] != 1 {
		t.Fatalf("parked counts: %d unfiltered, buckets %v; want 0, {2:1 6:1}", all, b)
	}
	if _, err := h.Publish(70, []byte("mine")); err != nil {
		t.Fatal(err)
	}
	if r := within(t, 10*time.Second, "the filtered subscription's event", got); r.Kind != 70 {
		t.Fatalf("filtered got kind %d", r.Kind)
	}
	if all, b := fanlog.ParkedCounts(h); all != 0 || len(b) != 0 {
		t.Fatalf("parked counts after every reader left: %d unfiltered, buckets %v", all, b)
	}
	// A reader that leaves its park without a wake (Interrupt) takes its
	// counts back too.
	errs := make(chan error, 1)
	go func() {
		_, err := filtered.Next(bg)
		errs <- err
	}()
	eventually(t, "the filtered subscription to park again", func() bool { return fanlog.ParkedReaders(h) == 1 })
	filtered.Interrupt()
	if err := within(t, 10*time.Second, "Next to return after Interrupt", errs); err != fanlog.ErrInterrupted {
		t.Fatalf("Next after Interrupt: %v", err)
	}
	if all, b := fanlog.ParkedCounts(h); all != 0 || len(b) != 0 {
		t.Fatalf("parked counts after an interrupted park: %d unfiltered, buckets %v", all, b)
	}
}

// A filtered subscription that is about to park, or parked, learns of the
// hub's close (a close is not an event of its kinds).
func TestFilteredSubscriptionSeesClose(t *testing.T) {
	for round := 0; round < 300; round++ {
		h, err := fanlog.NewHub(fanlog.HubOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := h.Subscribe(fanlog.SubscribeOptions{}, 5)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := s.Next(bg)
			done <- err
		}()
		// Close right after the reader's first empty read (while it
		// yields, before it registers), or once it is parked.
		for fanlog.EmptyFills(s) == 0 {
			runtime.Gosched()
		}
		if round%2 == 1 {
			for fanlog.ParkedReaders(h) == 0 {
				runtime.Gosched()
			}
		}
		h.Close(nil)
		if err := within(t, 10*time.Second, "Next to return after Close", done); err != fanlog.ErrClosed {
			t.Fatalf("round %d: Next after Close: %v", round, err)
		}
		s.Close()
	}
}
