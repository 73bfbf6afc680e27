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

// record payload: producer id, then its counter.
func payload(p, i uint64) []byte {
	b := binary.LittleEndian.AppendUint64(nil, p)
	return binary.LittleEndian.AppendUint64(b, i)
}

// 4 producers (each through a different append method) and 4 consumers
// (each through a different read method). Every consumer sees records in
// strictly increasing sequence order, each producer's records in the
// order it appended them. Block: every record, exactly once. DropOldest:
// the gaps are exactly the reported lags. (This test found a library bug:
// records skipped with no *LaggedError when the readiness fd was created
// at the moment a cursor lagged; fixed in the library.)
func TestFourByFour(t *testing.T) {
	for _, policy := range []fanlog.Policy{fanlog.Block, fanlog.DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			rounds := 1
			if policy == fanlog.DropOldest && !testing.Short() {
				rounds = 10 // lag races are rare per round
			}
			for i := 0; i < rounds && !t.Failed(); i++ {
				fourByFour(t, policy)
			}
		})
	}
}

// consumed is what one consumer saw.
type consumed struct {
	read, missed uint64
	err          error
}

func fourByFour(t *testing.T, policy fanlog.Policy) {
	const producers, consumers = 4, 4
	perProducer := 20000
	if raceEnabled {
		perProducer = 5000
	}
	l := newLog(t, fanlog.Options{SegmentSize: 4096, MaxBytes: 4 * 4096, Policy: policy})
	curs := make([]*fanlog.Cursor, consumers)
	for i := range curs {
		curs[i] = subscribe(t, l, fanlog.FromEarliest)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch [][]byte
			for i := 0; i < perProducer; i++ {
				rec := payload(uint64(p), uint64(i))
				var err error
				switch p {
				case 0:
					_, err = l.Append(rec)
				case 1:
					_, err = l.AppendKind(1, rec)
				case 2:
					_, err = l.AppendContext(ctx, 2, rec)
				case 3:
					batch = append(batch, rec)
					if len(batch) == 8 || i == perProducer-1 {
						_, err = l.AppendBatchKind(3, batch)
						batch = batch[:0]
					}
				}
				if err != nil {
					t.Errorf("producer %d: %v", p, err)
					return
				}
			}
		}()
	}
	results := make([]consumed, consumers)
	var cw sync.WaitGroup
	for ci, c := range curs {
		cw.Add(1)
		go func() {
			defer cw.Done()
			results[ci] = consume(ci, c, producers)
		}()
	}
	wg.Wait()
	l.Close(nil)
	cw.Wait()
	total := uint64(producers * perProducer)
	for ci, r := range results {
		if r.err != nil {
			t.Fatalf("consumer %d: %v", ci, r.err)
		}
		if r.read+r.missed != total || (policy == fanlog.Block && r.read != total) {
			t.Errorf("consumer %d: read %d + missed %d != %d", ci, r.read, r.missed, total)
		}
		if testing.Verbose() {
			t.Logf("consumer %d: read %d, missed %d", ci, r.read, r.missed)
		}
	}
}

// consume reads until the log is closed and checks everything it sees.
func consume(ci int, c *fanlog.Cursor, producers int) consumed {
	ctx := context.Background()
	var res consumed
	next := uint64(0) // the sequence number expected next
	last := make([]int64, producers)
	for i := range last {
		last[i] = -1
	}
	check := func(r fanlog.Record) error {
		if r.Seq != next {
			return fmt.Errorf("seq %d, want %d (read %d, missed %d)", r.Seq, next, res.read, res.missed)
		}
		next++
		p, i := binary.LittleEndian.Uint64(r.Data), int64(binary.LittleEndian.Uint64(r.Data[8:]))
		if uint64(r.Kind) != p {
			return fmt.Errorf("kind %d for producer %d", r.Kind, p)
		}
		if i <= last[p] || (res.missed == 0 && i != last[p]+1) {
			return fmt.Errorf("producer %d: record %d after %d", p, i, last[p])
		}
		last[p] = i
		res.read++
		return nil
	}
	dst := make([]fanlog.Record, 32)
	for {
		var err error
		switch ci {
		case 0:
			var r fanlog.Record
			if r, err = c.Next(ctx); err == nil {
				err = check(r)
			}
		case 1:
			var n int
			n, err = c.NextBatch(ctx, dst)
			for _, r := range dst[:n] {
				if err = check(r); err != nil {
					break
				}
			}
		case 2:
			var r fanlog.Record
			if r, err = c.NextView(ctx); err == nil {
				err = check(r)
			}
		case 3:
			var n int
			n, err = c.NextBatchView(ctx, dst)
			for _, r := range dst[:n] {
				if err = check(r); err != nil {
					break
				}
			}
		}
		var lag *fanlog.LaggedError
		switch {
		case err == nil:
		case errors.As(err, &lag):
			res.missed += lag.Missed
			next += lag.Missed
		case err == fanlog.ErrClosed:
			return res
		default:
			res.err = err
			return res
		}
	}
}

// Lost wake-ups: a reader that has caught up parks (on the log's or hub's
// waker), and the producer appends the next record only after the reader
// acknowledged the previous one, so nearly every round races the
// reader's park against the append that should wake it. A lost wake-up
// hangs a round; every round has a deadline. Three readers per object,
// one reading with Next, one with NextBatch, one with a context (the
// select path). Filtered hub subscriptions also see publishes of other
// kinds go by without waking for good.
func TestNoLostWakeups(t *testing.T) {
	rounds := 20000
	if raceEnabled || testing.Short() {
		rounds = 2000
	}
	t.Run("log", func(t *testing.T) {
		l := newLog(t, fanlog.Options{SegmentSize: 4096, MaxBytes: 4 * 4096})
		var readers []func(context.Context) ([]byte, error)
		for k := 0; k < 3; k++ {
			c := subscribe(t, l, fanlog.FromEarliest)
			dst := make([]fanlog.Record, 4)
			var pending []fanlog.Record
			readers = append(readers, func(ctx context.Context) ([]byte, error) {
				switch k {
				case 1:
					if len(pending) == 0 {
						n, err := c.NextBatch(ctx, dst)
						if err != nil {
							return nil, err
						}
						pending = dst[:n]
					}
					r := pending[0]
					pending = pending[1:]
					return r.Data, nil
				default:
					r, err := c.Next(ctx)
					return r.Data, err
				}
			})
		}
		pingPong(t, rounds, readers, func(i uint64) error {
			_, err := l.Append(binary.LittleEndian.AppendUint64(nil, i))
			return err
		})
	})
	t.Run("hub", func(t *testing.T) {
		h := newHub(t, fanlog.HubOptions{Capacity: 16, Policy: fanlog.HubBlock})
		var readers []func(context.Context) ([]byte, error)
		for k := 0; k < 3; k++ {
			s, err := h.Subscribe(fanlog.SubscribeOptions{}, 7)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			readers = append(readers, func(ctx context.Context) ([]byte, error) {
				r, err := s.Next(ctx)
				return r.Data, err
			})
		}
		pingPong(t, rounds, readers, func(i uint64) error {
			if i%3 == 0 { // an event nobody subscribed to, first
				if _, err := h.Publish(8, nil); err != nil {
					return err
				}
			}
			_, err := h.Publish(7, binary.LittleEndian.AppendUint64(nil, i))
			return err
		})
	})
}

// pingPong runs rounds of: send(i), then every reader returns record i.
// Reader 2 reads with a cancellable context.
func pingPong(t *testing.T, rounds int, readers []func(context.Context) ([]byte, error), send func(uint64) error) {
	t.Helper()
	acks := make([]chan error, len(readers))
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	for k, read := range readers {
		acks[k] = make(chan error, 1)
		go func() {
			rctx := bg
			if k == 2 {
				rctx = ctx
			}
			for i := uint64(0); i < uint64(rounds); i++ {
				data, err := read(rctx)
				if err == nil && (len(data) != 8 || binary.LittleEndian.Uint64(data) != i) {
					err = fmt.Errorf("reader %d: record %d: got %x", k, i, data)
				}
				acks[k] <- err
				if err != nil {
					return
				}
			}
		}()
	}
	for i := uint64(0); i < uint64(rounds); i++ {
		if err := send(i); err != nil {
			t.Fatal(err)
		}
		for k := range acks {
			if err := within(t, 10*time.Second, fmt.Sprintf("reader %d to get record %d (a lost wake-up?)", k, i), acks[k]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Unsubscribe, Interrupt and Close race a reader that is about to park:
// each must end its wait whenever it comes, before, during or after the
// park (a few yields of delay, varied per round).
func TestStopRacesPark(t *testing.T) {
	rounds := 3000
	if raceEnabled || testing.Short() {
		rounds = 300
	}
	h := newHub(t, fanlog.HubOptions{})
	l := newLog(t, fanlog.Options{})
	for i := 0; i < rounds; i++ {
		// Even rounds a hub subscription (ended by Unsubscribe), odd
		// rounds a log cursor (ended by Close); every other pair of
		// rounds Interrupt instead.
		var next, interrupt, end func() error
		if i%2 == 0 {
			s := sub(t, h, fanlog.SubscribeOptions{})
			next = func() error { _, err := s.Next(bg); return err }
			interrupt, end = s.Interrupt, s.Unsubscribe
		} else {
			c := subscribe(t, l, fanlog.FromLatest)
			next = func() error { _, err := c.Next(bg); return err }
			interrupt, end = c.Interrupt, c.Close
		}
		stop, want := end, fanlog.ErrClosed
		if i%4 >= 2 {
			stop, want = interrupt, fanlog.ErrInterrupted
		}
		done := make(chan error, 1)
		go func() { done <- next() }()
		for k := 0; k < i%23; k++ {
			runtime.Gosched()
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		err := within(t, 5*time.Second, fmt.Sprintf("round %d: the reader to stop", i), done)
		if !errors.Is(err, want) {
			t.Fatalf("round %d: Next = %v, want %v", i, err, want)
		}
	}
}
