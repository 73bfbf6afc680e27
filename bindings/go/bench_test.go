package fanlog_test

// Benchmarks: one producer, N subscribers, 64-byte records, every
// subscriber receives every record (no drops). fanlog's log and hub against what Go
// programmers write by hand: a channel per subscriber, and a mutex + chunk
// list + sync.Cond queue with a cursor per subscriber (the design of
// /work/shared/context/000-broadcast-queue-race.md). ns/op is per record
// appended; deliveries/s counts records received by all subscribers.
//
//	go test -bench . -benchtime=1s -run '^$'

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

const benchRecord = 64

var benchSubs = []int{1, 4}

func BenchmarkFanout(b *testing.B) {
	impls := []struct {
		name string
		run  func(b *testing.B, subs int)
	}{
		{"fanlog-Next", benchFanlogNext},
		{"fanlog-NextBatch", benchFanlogBatch(false, false)},
		{"fanlog-AppendBatch-NextBatch", benchFanlogBatch(true, false)},
		{"fanlog-AppendBatch-NextBatchView", benchFanlogBatch(true, true)},
		{"hub-Publish-NextBatch", benchHub(false)},
		{"hub-PublishBatch-NextBatch", benchHub(true)},
		{"chan-per-subscriber", benchChannels},
		{"mutex-chunks-cond", benchMutexCond},
	}
	for _, impl := range impls {
		for _, subs := range benchSubs {
			b.Run(fmt.Sprintf("%s/subs=%d", impl.name, subs), func(b *testing.B) {
				start := time.Now()
				impl.run(b, subs)
				b.ReportMetric(float64(b.N)*float64(subs)/time.Since(start).Seconds(), "deliveries/s")
			})
		}
	}
}

func benchLog(b *testing.B, subs int) (*fanlog.Log, []*fanlog.Cursor) {
	l, err := fanlog.NewLog(fanlog.Options{}) // 1 MiB segments, 64 MiB, Block
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close(nil) })
	curs := make([]*fanlog.Cursor, subs)
	for i := range curs {
		if curs[i], err = l.Subscribe(fanlog.FromEarliest); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { curs[i].Close() })
	}
	return l, curs
}

// Next: a copy (one allocation) per record.
func benchFanlogNext(b *testing.B, subs int) {
	l, curs := benchLog(b, subs)
	var wg sync.WaitGroup
	for _, c := range curs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum := 0
			for i := 0; i < b.N; i++ {
				r, err := c.Next(context.Background())
				if err != nil {
					b.Error(err)
					return
				}
				sum += int(r.Data[0])
			}
			_ = sum
		}()
	}
	payload := make([]byte, benchRecord)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		payload[0] = byte(i)
		if _, err := l.Append(payload); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
}

// NextBatch into reused buffers (no allocation), or NextBatchView (no
// copy); the producer appends one record per call, or batches of 64.
func benchFanlogBatch(appendBatch, view bool) func(b *testing.B, subs int) {
	return func(b *testing.B, subs int) {
		l, curs := benchLog(b, subs)
		var wg sync.WaitGroup
		for _, c := range curs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dst := make([]fanlog.Record, 64)
				for i := range dst {
					dst[i].Data = make([]byte, 0, benchRecord)
				}
				sum := 0
				for got := 0; got < b.N; {
					var n int
					var err error
					if view {
						n, err = c.NextBatchView(context.Background(), dst)
					} else {
						n, err = c.NextBatch(context.Background(), dst)
					}
					if err != nil {
						b.Error(err)
						return
					}
					for _, r := range dst[:n] {
						sum += int(r.Data[0])
					}
					got += n
				}
				_ = sum
			}()
		}
		b.ResetTimer()
		if appendBatch {
			batch := make([][]byte, 64)
			for i := range batch {
				batch[i] = make([]byte, benchRecord)
			}
			for i := 0; i < b.N; i += len(batch) {
				n := min(len(batch), b.N-i)
				if _, err := l.AppendBatch(batch[:n]); err != nil {
					b.Fatal(err)
				}
			}
		} else {
			payload := make([]byte, benchRecord)
			for i := 0; i < b.N; i++ {
				payload[0] = byte(i)
				if _, err := l.Append(payload); err != nil {
					b.Fatal(err)
				}
			}
		}
		wg.Wait()
	}
}

// The hub: a lossless (HubBlock) mailbox of 1024 events per subscriber,
// like the channels below; the payload is copied once and shared.
func benchHub(batch bool) func(b *testing.B, subs int) {
	return func(b *testing.B, subs int) {
		h, err := fanlog.NewHub(fanlog.HubOptions{Capacity: 1024, Policy: fanlog.HubBlock})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close(nil)
		var wg sync.WaitGroup
		for i := 0; i < subs; i++ {
			s, err := h.Subscribe(fanlog.SubscribeOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				dst := make([]fanlog.Record, 64)
				for i := range dst {
					dst[i].Data = make([]byte, 0, benchRecord)
				}
				sum := 0
				for got := 0; got < b.N; {
					n, err := s.NextBatch(context.Background(), dst)
					if err != nil {
						b.Error(err)
						return
					}
					for _, r := range dst[:n] {
						sum += int(r.Data[0])
					}
					got += n
				}
				_ = sum
			}()
		}
		b.ResetTimer()
		if batch {
			events := make([][]byte, 64)
			for i := range events {
				events[i] = make([]byte, benchRecord)
			}
			for i := 0; i < b.N; i += len(events) {
				if _, err := h.PublishBatch(0, events[:min(len(events), b.N-i)]); err != nil {
					b.Fatal(err)
				}
			}
		} else {
			payload := make([]byte, benchRecord)
			for i := 0; i < b.N; i++ {
				payload[0] = byte(i)
				if _, err := h.Publish(0, payload); err != nil {
					b.Fatal(err)
				}
			}
		}
		wg.Wait()
	}
}

// A buffered channel per subscriber; the producer allocates each record
// (it is shared by all subscribers, so it can't reuse a buffer).
func benchChannels(b *testing.B, subs int) {
	chans := make([]chan []byte, subs)
	var wg sync.WaitGroup
	for i := range chans {
		chans[i] = make(chan []byte, 1024)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum := 0
			for r := range chans[i] {
				sum += int(r[0])
			}
			_ = sum
		}()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := make([]byte, benchRecord)
		rec[0] = byte(i)
		for _, ch := range chans {
			ch <- rec
		}
	}
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()
}

// chunkQueue is the hand-written broadcast queue: a mutex around a list of
// chunks, a (chunk, index) cursor per consumer, and a sync.Cond. Readers
// take everything available in their chunk per lock.
type chunkQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	tail   *chunk
	closed bool
}

type chunk struct {
	items [][]byte
	next  *chunk
}

const chunkSize = 1024

func newChunkQueue() *chunkQueue {
	q := &chunkQueue{tail: &chunk{items: make([][]byte, 0, chunkSize)}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *chunkQueue) enqueue(rec []byte) {
	q.mu.Lock()
	if len(q.tail.items) == chunkSize {
		c := &chunk{items: make([][]byte, 0, chunkSize)}
		q.tail.next = c
		q.tail = c
	}
	q.tail.items = append(q.tail.items, rec)
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *chunkQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

type chunkCursor struct {
	q   *chunkQueue
	c   *chunk
	idx int
}

// read returns the records available (waiting for one), nil when closed.
func (cc *chunkCursor) read() [][]byte {
	q := cc.q
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if cc.idx == chunkSize && cc.c.next != nil {
			cc.c, cc.idx = cc.c.next, 0
		}
		if cc.idx < len(cc.c.items) {
			recs := cc.c.items[cc.idx:len(cc.c.items)]
			cc.idx = len(cc.c.items)
			return recs
		}
		if q.closed {
			return nil
		}
		q.cond.Wait()
	}
}

func benchMutexCond(b *testing.B, subs int) {
	q := newChunkQueue()
	var wg sync.WaitGroup
	for i := 0; i < subs; i++ {
		cc := &chunkCursor{q: q, c: q.tail}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum := 0
			for {
				recs := cc.read()
				if recs == nil {
					break
				}
				for _, r := range recs {
					sum += int(r[0])
				}
			}
			_ = sum
		}()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := make([]byte, benchRecord)
		rec[0] = byte(i)
		q.enqueue(rec)
	}
	q.close()
	wg.Wait()
}

// Single-goroutine costs of the binding's calls.
func BenchmarkAppend(b *testing.B) {
	l, _ := benchLog(b, 0)
	payload := make([]byte, benchRecord)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.Append(payload)
	}
}

func BenchmarkAppendBatch64(b *testing.B) {
	l, _ := benchLog(b, 0)
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = make([]byte, benchRecord)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 64 {
		l.AppendBatch(batch)
	}
}

// NextBatch64 times only the reads: records are appended in rounds of
// 64 Ki with the timer stopped.
func BenchmarkNextBatch64(b *testing.B) {
	l, curs := benchLog(b, 1)
	dst := make([]fanlog.Record, 64)
	for i := range dst {
		dst[i].Data = make([]byte, 0, benchRecord)
	}
	batch := make([][]byte, 64)
	for k := range batch {
		batch[k] = make([]byte, benchRecord)
	}
	const round = 64 << 10
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		b.StopTimer()
		for i := 0; i < round; i += 64 {
			l.AppendBatch(batch)
		}
		b.StartTimer()
		for got := 0; got < round; {
			n, err := curs[0].NextBatch(context.Background(), dst)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}
