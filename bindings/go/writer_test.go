package fanlog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

func newWriter(t testing.TB, l *fanlog.Log, opts fanlog.WriterOptions) *fanlog.Writer {
	t.Helper()
	w, err := l.NewWriter(opts)
	if err != nil {
		t.Fatalf("NewWriter(%+v): %v", opts, err)
	}
	return w
}

func appended(t testing.TB, l *fanlog.Log) uint64 {
	t.Helper()
	s, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s.RecordsAppended
}

func TestLimits(t *testing.T) {
	l := newLog(t, fanlog.Options{SegmentSize: 4096, Timestamps: fanlog.TimestampsOff})
	lim, err := l.Limits()
	if err != nil {
		t.Fatal(err)
	}
	if lim.SegmentSize != 4096 || lim.FrameHeader != 16 || lim.FrameAlign != 8 || lim.MaxRecordSize == 0 {
		t.Fatalf("Limits() = %+v", lim)
	}
	if got := lim.FrameLen(8); got != 24 {
		t.Fatalf("FrameLen(8) = %d, want 24", got)
	}
	if got := lim.FrameLen(9); got != 32 {
		t.Fatalf("FrameLen(9) = %d, want 32", got)
	}
	// A batch of frames that fill a segment exactly is accepted; one byte
	// more is not.
	recs := make([][]byte, 4096/24)
	for i := range recs {
		recs[i] = make([]byte, 8)
	}
	rest := 4096 - len(recs)*24 // 16: one more frame of 0 bytes
	recs = append(recs, make([]byte, rest-16))
	if _, err := l.AppendBatch(recs); err != nil {
		t.Fatalf("AppendBatch of exactly one segment: %v", err)
	}
	recs[0] = make([]byte, 9)
	if _, err := l.AppendBatch(recs); !errors.Is(err, fanlog.ErrTooLarge) {
		t.Fatalf("AppendBatch of one segment + 8 bytes: %v, want ErrTooLarge", err)
	}
	l.Close(nil)
	if _, err := l.Limits(); !errors.Is(err, fanlog.ErrClosed) {
		t.Fatalf("Limits after Close: %v", err)
	}
}

// Every record arrives once, in order, with its kind, across batch limits
// by count and by bytes, kind changes, records too large for a batch, and
// a log whose segments are smaller than MaxBytes.
func TestWriterDeliversInOrder(t *testing.T) {
	for _, seg := range []int{512, 1 << 20} {
		l := newLog(t, fanlog.Options{SegmentSize: seg, MaxBytes: 4 * seg})
		c := subscribe(t, l, fanlog.FromEarliest)
		w := newWriter(t, l, fanlog.WriterOptions{MaxRecords: 7})
		lim, _ := l.Limits()
		const n = 3000
		want := func(i int) (uint32, []byte) {
			size := (i * 37) % 300
			if i%500 == 499 {
				size = lim.MaxRecordSize // on its own
			}
			p := bytes.Repeat([]byte{byte(i)}, size)
			if size >= 8 {
				copy(p, u64(uint64(i)))
			}
			return uint32(i / 50), p
		}
		done := make(chan error, 1)
		go func() {
			for i := 0; i < n; i++ {
				r, err := c.Next(bg)
				if err != nil {
					done <- err
					return
				}
				k, p := want(i)
				if r.Seq != uint64(i) || r.Kind != k || !bytes.Equal(r.Data, p) {
					done <- fmt.Errorf("record %d: seq %d kind %d len %d, want kind %d len %d",
						i, r.Seq, r.Kind, len(r.Data), k, len(p))
					return
				}
			}
			done <- nil
		}()
		for i := 0; i < n; i++ {
			k, p := want(i)
			if err := w.AppendKind(k, p); err != nil {
				t.Fatalf("segment %d: AppendKind(%d): %v", seg, i, err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if w.Buffered() != 0 {
			t.Fatalf("Buffered() = %d after Flush", w.Buffered())
		}
		if err := within(t, 20*time.Second, "the reader", done); err != nil {
			t.Fatalf("segment %d: %v", seg, err)
		}
	}
}

// Records wait in the Writer until a limit or Flush while no reader is
// parked.
func TestWriterHoldsUntilFlush(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	w := newWriter(t, l, fanlog.WriterOptions{MaxRecords: 4})
	for i := 0; i < 3; i++ {
		if err := w.Append(u64(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if w.Buffered() != 3 || appended(t, l) != 0 {
		t.Fatalf("after 3 appends: Buffered %d, appended %d; want 3, 0", w.Buffered(), appended(t, l))
	}
	if err := w.Append(u64(3)); err != nil { // the fourth fills the batch
		t.Fatal(err)
	}
	if w.Buffered() != 0 || appended(t, l) != 4 {
		t.Fatalf("after 4 appends: Buffered %d, appended %d; want 0, 4", w.Buffered(), appended(t, l))
	}
	if err := w.AppendKind(9, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err != nil { // another kind: the held one goes first
		t.Fatal(err)
	}
	if w.Buffered() != 1 || appended(t, l) != 5 {
		t.Fatalf("after a kind change: Buffered %d, appended %d; want 1, 5", w.Buffered(), appended(t, l))
	}
	// MaxBytes: two 24-byte frames fit in 48 bytes, a third does not.
	l2 := newLog(t, fanlog.Options{Timestamps: fanlog.TimestampsOff})
	w2 := newWriter(t, l2, fanlog.WriterOptions{MaxBytes: 48})
	for i := 0; i < 3; i++ {
		if err := w2.Append(u64(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if w2.Buffered() != 1 || appended(t, l2) != 2 {
		t.Fatalf("MaxBytes 48: Buffered %d, appended %d; want 1, 2", w2.Buffered(), appended(t, l2))
	}
}

// A reader parked waiting gets a record without a Flush: the Writer
// appends what it holds when it sees a parked cursor.
func TestWriterFlushesForParkedReader(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	c := subscribe(t, l, fanlog.FromEarliest)
	w := newWriter(t, l, fanlog.WriterOptions{MaxRecords: 1000})
	got := make(chan uint64)
	go func() {
		for {
			r, err := c.Next(bg)
			if err != nil {
				close(got)
				return
			}
			got <- getU64(r.Data)
		}
	}()
	const rounds = 20
	unflushed := 0
	for round := uint64(0); round < rounds; round++ {
		// The reader parks within microseconds of its last record; an
		// append it was not parked for yet stays held.
		time.Sleep(2 * time.Millisecond)
		if err := w.Append(u64(round)); err != nil {
			t.Fatal(err)
		}
		var v uint64
		select {
		case v = <-got:
			unflushed++
		case <-time.After(50 * time.Millisecond):
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			v = within(t, 10*time.Second, "a flushed record", got)
		}
		if v != round || w.Buffered() != 0 {
			t.Fatalf("round %d: got %d, %d held", round, v, w.Buffered())
		}
	}
	// Without the flush for parked readers, every round needs Flush.
	if unflushed < rounds/2 {
		t.Fatalf("only %d of %d records reached a parked reader without Flush", unflushed, rounds)
	}
}

// Bad input and closed logs: an error means the record was not taken, and
// nothing held is lost.
func TestWriterErrors(t *testing.T) {
	l := newLog(t, small(fanlog.Reject, 2))
	subscribe(t, l, fanlog.FromEarliest) // holds what is appended
	if _, err := l.NewWriter(fanlog.WriterOptions{MaxRecords: -1}); !errors.Is(err, fanlog.ErrInvalidArgument) {
		t.Fatalf("MaxRecords -1: %v", err)
	}
	w := newWriter(t, l, fanlog.WriterOptions{})
	lim, _ := l.Limits()
	if err := w.Append(make([]byte, lim.MaxRecordSize+1)); !errors.Is(err, fanlog.ErrTooLarge) {
		t.Fatalf("oversized record: %v", err)
	}
	// Reject: fill the log, then the held records can't be appended.
	for i := 0; ; i++ {
		if _, err := l.TryAppend(0, u64(uint64(i))); errors.Is(err, fanlog.ErrFull) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Append(u64(100)); err != nil {
		t.Fatal(err) // held (64 B of a 256 B segment)
	}
	if err := w.Flush(); !errors.Is(err, fanlog.ErrFull) {
		t.Fatalf("Flush into a full log: %v", err)
	}
	if err := w.Append(u64(101)); !errors.Is(err, fanlog.ErrFull) {
		t.Fatalf("Append after a failed flush: %v", err)
	}
	if w.Buffered() != 1 {
		t.Fatalf("Buffered() = %d, want 1 (the record not taken is not held)", w.Buffered())
	}
	l.Close(nil)
	if err := w.Append(u64(102)); !errors.Is(err, fanlog.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, fanlog.ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
	if w.Buffered() != 1 {
		t.Fatalf("Buffered() = %d after Close, want 1", w.Buffered())
	}
	if _, err := l.NewWriter(fanlog.WriterOptions{}); !errors.Is(err, fanlog.ErrClosed) {
		t.Fatalf("NewWriter after Close: %v", err)
	}
	if n := w.Discard(); n != 1 || w.Buffered() != 0 {
		t.Fatalf("Discard() = %d, then Buffered() = %d; want 1, 0", n, w.Buffered())
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush with nothing held: %v", err)
	}
	// A read-only log has no Writer.
	dir := filepath.Join(t.TempDir(), "log")
	openLog(t, dir, smallDurable())
	ro := openLog(t, dir, &fanlog.OpenOptions{ReadOnly: true})
	if _, err := ro.NewWriter(fanlog.WriterOptions{}); !errors.Is(err, fanlog.ErrReadOnly) {
		t.Fatalf("NewWriter on a read-only log: %v", err)
	}
}

// Empty records, alone in a batch (the packed payloads are then empty).
func TestWriterEmptyRecords(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	c := subscribe(t, l, fanlog.FromEarliest)
	w := newWriter(t, l, fanlog.WriterOptions{MaxRecords: 3})
	for i := 0; i < 5; i++ {
		if err := w.AppendKind(uint32(i/3), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		r, err := c.TryNext()
		if err != nil || r.Seq != uint64(i) || len(r.Data) != 0 || r.Kind != uint32(i/3) {
			t.Fatalf("record %d: %+v, %v", i, r, err)
		}
	}
	if (fanlog.Limits{}).FrameLen(5) != 5 {
		t.Fatal("the zero Limits' FrameLen")
	}
}

// Writer is an io.Writer: json.Encoder writes one record per value.
func TestWriterIsAnIOWriter(t *testing.T) {
	l := newLog(t, fanlog.Options{})
	c := subscribe(t, l, fanlog.FromEarliest)
	w := newWriter(t, l, fanlog.WriterOptions{})
	enc := json.NewEncoder(w)
	for i := 0; i < 3; i++ {
		if err := enc.Encode(map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		r, err := c.TryNext()
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]int
		if err := json.Unmarshal(r.Data, &v); err != nil || v["n"] != i {
			t.Fatalf("record %d: %q (%v)", i, r.Data, err)
		}
	}
}
