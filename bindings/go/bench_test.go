package fanlog_test

// BenchmarkPeers: fanlog's log and hub against what Go programmers write
// by hand to fan records out: a buffered channel per subscriber, and a
// mutex + chunk list + sync.Cond queue with a cursor per subscriber (the
// design of /work/shared/context/000-broadcast-queue-race.md), bounded
// and, as in the write-up, unbounded. One
// producer goroutine, 1, 2 or 4 subscribers, payloads of 8, 64 and 1024
// bytes; every subscriber receives every record, checks that the
// producer's counter (the first 8 bytes) goes up by one, and reads every
// byte. Capacities are equal where the peer has one: fanlog's log holds
// benchCap records (its byte budget is benchCap frames), the hub's
// mailboxes and the channels benchCap records each, the bounded chunk
// queue benchCap records; the unbounded one (a reference, as in the
// write-up) never makes its producer wait. ns/op is per
// record appended; records/s is records appended per second (each is
// delivered to every subscriber). BENCHMARKS.md publishes the results
// (benches/run.sh runs this with -count 3).
//
//	go test -run '^$' -bench '^BenchmarkPeers$' -benchtime 1s

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

// benchCap is the records each system holds (the Rust peers bench's CAP).
const benchCap = 4096

// benchBatch is how many records a subscriber takes per call.
const benchBatch = 256

var (
	benchSubs     = []int{1, 2, 4}
	benchPayloads = []int{8, 64, 1024}
)

func BenchmarkPeers(b *testing.B) {
	impls := []struct {
		name string
		run  func(b *testing.B, subs, size int)
	}{
		{"fanlog", benchFanlog(appendOne, false)},
		{"fanlog_view", benchFanlog(appendOne, true)},
		{"fanlog_batch64", benchFanlog(appendBatch64, false)},
		{"fanlog_writer", benchFanlog(appendWriter, false)},
		{"hub", benchHub},
		{"chan", benchChannels},
		{"mutex_cond", benchMutexCond(benchCap)},
		{"mutex_cond_unbounded", benchMutexCond(0)},
	}
	for _, impl := range impls {
		for _, size := range benchPayloads {
			for _, subs := range benchSubs {
				b.Run(fmt.Sprintf("%s/%dB/subs=%d", impl.name, size, subs), func(b *testing.B) {
					impl.run(b, subs, size)
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
				})
			}
		}
	}
}

// checker is one subscriber's check: the producer's counters arrive in
// order, and every payload byte is read (summed as 8-byte words).
type checker struct {
	next uint64
	sum  uint64
	bad  bool
}

func (c *checker) record(data []byte) {
	if binary.LittleEndian.Uint64(data) != c.next {
		c.bad = true
	}
	c.next++
	for len(data) >= 8 {
		c.sum += binary.LittleEndian.Uint64(data)
		data = data[8:]
	}
	for _, v := range data {
		c.sum += uint64(v)
	}
}

func (c *checker) report(b *testing.B, who string) {
	if c.bad {
		b.Errorf("%s: a record arrived out of order or was lost", who)
	}
}

// benchFrame is the bytes a record of size bytes takes in a log without
// timestamps (16-byte header, 8-byte aligned).
func benchFrame(size int) int { return (16 + size + 7) &^ 7 }

// benchLog is a log holding benchCap records of size bytes, in segments of
// a quarter of the budget (rounded down to a power of two), without
// timestamps: the Rust peers bench's configuration.
func benchLog(b *testing.B, subs, size int) (*fanlog.Log, []*fanlog.Cursor) {
	budget := benchCap * benchFrame(size)
	seg := 256
	for seg*2 <= budget/4 {
		seg *= 2
	}
	return openBenchLog(b, subs, fanlog.Options{
		SegmentSize: seg,
		MaxBytes:    budget,
		Timestamps:  fanlog.TimestampsOff,
	})
}

// openBenchLog opens a log with opts and subs cursors from its start, closed
// when the benchmark ends.
func openBenchLog(b *testing.B, subs int, opts fanlog.Options) (*fanlog.Log, []*fanlog.Cursor) {
	l, err := fanlog.NewLog(opts)
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

// newBatch returns benchBatch records with room for size-byte payloads,
// for NextBatch to copy into without allocating.
func newBatch(size int) []fanlog.Record {
	dst := make([]fanlog.Record, benchBatch)
	for i := range dst {
		dst[i].Data = make([]byte, 0, size)
	}
	return dst
}

// startReader starts a subscriber goroutine that takes b.N records with
// next (a NextBatch) and checks them.
func startReader(b *testing.B, wg *sync.WaitGroup, who string, size int,
	next func(context.Context, []fanlog.Record) (int, error)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		var chk checker
		dst := newBatch(size)
		for got := 0; got < b.N; {
			n, err := next(context.Background(), dst)
			if err != nil {
				b.Error(err)
				return
			}
			for _, r := range dst[:n] {
				chk.record(r.Data)
			}
			got += n
		}
		chk.report(b, who)
	}()
}

// How the fanlog benchmarks append.
type appendMode int

const (
	appendOne     appendMode = iota // Log.Append per record
	appendBatch64                   // Log.AppendBatch of 64 records
	appendWriter                    // Writer.Append per record (default options), Flush at the end
)

// fanlog's log: Append per record, AppendBatch of 64, or a Writer's Append
// per record; NextBatch into reused buffers (a copy, no allocation), or
// NextBatchView (no copy: the records point into the log until the
// subscriber's next call).
func benchFanlog(mode appendMode, view bool) func(b *testing.B, subs, size int) {
	return func(b *testing.B, subs, size int) {
		l, curs := benchLog(b, subs, size)
		var wg sync.WaitGroup
		for _, c := range curs {
			next := c.NextBatch
			if view {
				next = c.NextBatchView
			}
			startReader(b, &wg, "fanlog subscriber", size, next)
		}
		b.ResetTimer()
		switch mode {
		case appendBatch64:
			recs := make([][]byte, 64)
			for i := range recs {
				recs[i] = make([]byte, size)
			}
			for i := 0; i < b.N; i += len(recs) {
				n := min(len(recs), b.N-i)
				for k, r := range recs[:n] {
					binary.LittleEndian.PutUint64(r, uint64(i+k))
				}
				if _, err := l.AppendBatch(recs[:n]); err != nil {
					b.Fatal(err)
				}
			}
		case appendWriter:
			w, err := l.NewWriter(fanlog.WriterOptions{})
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, size)
			for i := 0; i < b.N; i++ {
				binary.LittleEndian.PutUint64(payload, uint64(i))
				if err := w.Append(payload); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		default:
			payload := make([]byte, size)
			for i := 0; i < b.N; i++ {
				binary.LittleEndian.PutUint64(payload, uint64(i))
				if _, err := l.Append(payload); err != nil {
					b.Fatal(err)
				}
			}
		}
		wg.Wait()
	}
}

// The hub: lossless (HubBlock) mailboxes of benchCap events; the payload
// is copied once and shared by the subscribers.
func benchHub(b *testing.B, subs, size int) {
	h, err := fanlog.NewHub(fanlog.HubOptions{
		Capacity:   benchCap,
		Policy:     fanlog.HubBlock,
		Timestamps: fanlog.TimestampsOff,
	})
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
		startReader(b, &wg, "hub subscriber", size, s.NextBatch)
	}
	b.ResetTimer()
	payload := make([]byte, size)
	for i := 0; i < b.N; i++ {
		binary.LittleEndian.PutUint64(payload, uint64(i))
		if _, err := h.Publish(0, payload); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
}

// A buffered channel of benchCap records per subscriber; the producer
// allocates each record (all subscribers share it, so it cannot reuse a
// buffer).
func benchChannels(b *testing.B, subs, size int) {
	chans := make([]chan []byte, subs)
	var wg sync.WaitGroup
	for i := range chans {
		chans[i] = make(chan []byte, benchCap)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var chk checker
			for r := range chans[i] {
				chk.record(r)
			}
			chk.report(b, "channel subscriber")
		}()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := make([]byte, size)
		binary.LittleEndian.PutUint64(rec, uint64(i))
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
// take everything available in their chunk per lock. With limit > 0 it is
// bounded the way a careful Go programmer would bound it: the producer
// waits on a second Cond while the slowest cursor is limit records behind,
// and readers signal it as they move on.
type chunkQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond // readers wait here for records
	space   *sync.Cond // the producer waits here for room
	tail    *chunk
	closed  bool
	limit   int // records the queue may hold; 0: unbounded
	count   int // records enqueued
	cursors []*chunkCursor
}

type chunk struct {
	items [][]byte
	next  *chunk
}

const chunkSize = 1024

func newChunkQueue(limit int) *chunkQueue {
	q := &chunkQueue{tail: &chunk{items: make([][]byte, 0, chunkSize)}, limit: limit}
	q.cond = sync.NewCond(&q.mu)
	q.space = sync.NewCond(&q.mu)
	return q
}

// subscribe adds a cursor at the tail (before the producer starts).
func (q *chunkQueue) subscribe() *chunkCursor {
	q.mu.Lock()
	defer q.mu.Unlock()
	cc := &chunkCursor{q: q, c: q.tail, idx: len(q.tail.items), taken: q.count}
	q.cursors = append(q.cursors, cc)
	return cc
}

// slowest is the fewest records any cursor has taken (mu held).
func (q *chunkQueue) slowest() int {
	m := q.count
	for _, cc := range q.cursors {
		m = min(m, cc.taken)
	}
	return m
}

func (q *chunkQueue) enqueue(rec []byte) {
	q.mu.Lock()
	for q.limit > 0 && q.count-q.slowest() >= q.limit {
		q.space.Wait()
	}
	if len(q.tail.items) == chunkSize {
		c := &chunk{items: make([][]byte, 0, chunkSize)}
		q.tail.next = c
		q.tail = c
	}
	q.tail.items = append(q.tail.items, rec)
	q.count++
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
	q     *chunkQueue
	c     *chunk
	idx   int
	taken int // records taken
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
			cc.taken += len(recs)
			if q.limit > 0 {
				q.space.Signal() // the one producer
			}
			return recs
		}
		if q.closed {
			return nil
		}
		q.cond.Wait()
	}
}

// benchMutexCond: the chunk queue bounded to benchCap records (limit),
// or unbounded as in the write-up (limit 0); the producer allocates each
// record, as for the channels.
func benchMutexCond(limit int) func(b *testing.B, subs, size int) {
	return func(b *testing.B, subs, size int) {
		q := newChunkQueue(limit)
		var wg sync.WaitGroup
		for i := 0; i < subs; i++ {
			cc := q.subscribe()
			wg.Add(1)
			go func() {
				defer wg.Done()
				var chk checker
				for {
					recs := cc.read()
					if recs == nil {
						break
					}
					for _, r := range recs {
						chk.record(r)
					}
				}
				chk.report(b, "chunk-queue subscriber")
			}()
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rec := make([]byte, size)
			binary.LittleEndian.PutUint64(rec, uint64(i))
			q.enqueue(rec)
		}
		q.close()
		wg.Wait()
	}
}

// Single-goroutine costs of the binding's calls, with 64-byte records in
// a log of the default configuration (1 MiB segments, 64 MiB, Block).

const benchRecord = 64

func benchDefaultLog(b *testing.B, subs int) (*fanlog.Log, []*fanlog.Cursor) {
	return openBenchLog(b, subs, fanlog.Options{})
}

func BenchmarkAppend(b *testing.B) {
	l, _ := benchDefaultLog(b, 0)
	payload := make([]byte, benchRecord)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.Append(payload)
	}
}

func BenchmarkAppendBatch64(b *testing.B) {
	l, _ := benchDefaultLog(b, 0)
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
	l, curs := benchDefaultLog(b, 1)
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

// BenchmarkPingPong: wake-up latency between two goroutines. A appends a
// record to one log (sends on one channel) and waits for B's reply on
// another; B waits, then replies. Every round the waiting side has caught
// up and parks, so a round trip is two parks and two wake-ups through each
// system. ns/op is per round trip.
func BenchmarkPingPong(b *testing.B) {
	b.Run("fanlog", func(b *testing.B) {
		opts := fanlog.Options{Timestamps: fanlog.TimestampsOff}
		ping, pingCur := openBenchLog(b, 1, opts)
		pong, pongCur := openBenchLog(b, 1, opts)
		msg := make([]byte, 8)
		done := make(chan error, 1)
		go func() {
			for i := 0; i < b.N; i++ {
				if _, err := pingCur[0].Next(context.Background()); err != nil {
					done <- err
					return
				}
				if _, err := pong.Append(msg); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := ping.Append(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := pongCur[0].Next(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	})
	b.Run("chan", func(b *testing.B) {
		ping, pong := make(chan []byte, benchCap), make(chan []byte, benchCap)
		go func() {
			for m := range ping {
				pong <- m
			}
		}()
		msg := make([]byte, 8)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ping <- msg
			<-pong
		}
		close(ping)
	})
}

// BenchmarkHubOtherKinds publishes events of kind 1 to a hub whose
// subscriptions take other kinds only, while their readers wait in Next:
// what subscriptions that receive nothing cost the publisher (a reader
// woken for events it does not take would read and yield on a P the
// publisher needs). subs=0 is the publisher alone. cores is the process's
// CPU time per wall-clock second.
func BenchmarkHubOtherKinds(b *testing.B) {
	for _, subs := range []int{0, 1, 4} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			h, err := fanlog.NewHub(fanlog.HubOptions{Timestamps: fanlog.TimestampsOff})
			if err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			for i := 0; i < subs; i++ {
				s, err := h.Subscribe(fanlog.SubscribeOptions{}, uint32(2+i))
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer s.Close()
					if _, err := s.Next(context.Background()); err != fanlog.ErrClosed {
						b.Errorf("Next: %v, want ErrClosed", err)
					}
				}()
			}
			payload := make([]byte, 8)
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := h.Publish(1, payload); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric((cpuTime()-cpu0).Seconds()/b.Elapsed().Seconds(), "cores")
			h.Close(nil)
			wg.Wait()
		})
	}
}

// cpuTime is the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
