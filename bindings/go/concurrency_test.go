package fanlog_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

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
