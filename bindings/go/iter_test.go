//go:build go1.23

package fanlog_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

func TestAll(t *testing.T) {
	l := newLog(t, small(fanlog.DropOldest, 2))
	c := subscribe(t, l, fanlog.FromEarliest)
	for i := 0; i < 100; i++ {
		l.Append(u64(uint64(i)))
	}
	l.Close(&fanlog.CloseError{Code: 9, Message: "stop"})
	var read, missed uint64
	var final error
	for rec, err := range c.All(bg) {
		var lag *fanlog.LaggedError
		switch {
		case err == nil:
			if getU64(rec.Data) != rec.Seq {
				t.Fatalf("record %+v", rec)
			}
			read++
		case errors.As(err, &lag):
			missed += lag.Missed
		default:
			if final != nil {
				t.Fatalf("a second final error %v after %v", err, final)
			}
			final = err
		}
	}
	var ce *fanlog.CloseError
	if read+missed != 100 || missed == 0 || !errors.As(final, &ce) || ce.Code != 9 {
		t.Fatalf("read %d, missed %d, final %v", read, missed, final)
	}

	// A clean close ends the loop without an error; break works.
	l2 := newLog(t, fanlog.Options{})
	c2 := subscribe(t, l2, fanlog.FromEarliest)
	c3 := subscribe(t, l2, fanlog.FromEarliest)
	for i := 0; i < 5; i++ {
		l2.Append(u64(uint64(i)))
	}
	l2.Close(nil)
	n := 0
	for _, err := range c2.All(bg) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 5 {
		t.Fatalf("ranged over %d records", n)
	}
	for rec := range c3.All(bg) {
		if rec.Seq == 2 {
			break
		}
	}
	if r, err := c3.Next(bg); err != nil || r.Seq != 3 {
		t.Fatalf("after break: %+v, %v", r, err)
	}

	// Cancellation is yielded, last.
	c4 := subscribe(t, newLog(t, fanlog.Options{}), fanlog.FromLatest)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	var errs []error
	for _, err := range c4.All(ctx) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || errs[0] != context.Canceled {
		t.Fatalf("errors %v", errs)
	}
}

// Ranging over a cursor: records, then the end of the log.
func ExampleCursor_All() {
	log, _ := fanlog.NewLog(fanlog.Options{})
	cur, _ := log.Subscribe(fanlog.FromEarliest)
	defer cur.Close()
	log.Append([]byte("one"))
	log.AppendKind(2, []byte("two"))
	log.Close(errors.New("disk full"))

	for rec, err := range cur.All(context.Background()) {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		fmt.Println(rec.Seq, rec.Kind, string(rec.Data))
	}
	// Output:
	// 0 0 one
	// 1 2 two
	// error: fanlog: closed with error (code -1): disk full
}

func TestSubscriptionAll(t *testing.T) {
	h := newHub(t, fanlog.HubOptions{})
	s := sub(t, h, fanlog.SubscribeOptions{})
	for i := 0; i < 5; i++ {
		h.Publish(0, u64(uint64(i)))
	}
	h.Close(&fanlog.CloseError{Code: 3, Message: "gone"})
	n := 0
	var final error
	for ev, err := range s.All(bg) {
		if err != nil {
			final = err
			continue
		}
		if getU64(ev.Data) != uint64(n) {
			t.Fatalf("event %d: %+v", n, ev)
		}
		n++
	}
	var ce *fanlog.CloseError
	if n != 5 || !errors.As(final, &ce) || ce.Code != 3 {
		t.Fatalf("%d events, final %v", n, final)
	}
	s2 := sub(t, newHub(t, fanlog.HubOptions{}), fanlog.SubscribeOptions{})
	s2.Unsubscribe()
	for _, err := range s2.All(bg) {
		t.Fatalf("after Unsubscribe: %v", err)
	}
}
