package fanlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

// smallDurable is a durable log of 4 KiB segments.
func smallDurable() *fanlog.OpenOptions {
	return &fanlog.OpenOptions{SegmentSize: 4096, MaxBytes: 1 << 20}
}

func openLog(t testing.TB, dir string, opts *fanlog.OpenOptions) *fanlog.Log {
	t.Helper()
	l, err := fanlog.OpenLog(dir, opts)
	if err != nil {
		t.Fatalf("OpenLog(%s): %v", dir, err)
	}
	t.Cleanup(func() { l.Close(nil) })
	return l
}

func recData(i uint64) []byte { return []byte(fmt.Sprintf("record-%04d", i)) }

func nextData(t testing.TB, c *fanlog.Cursor, want uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("Next (want %d): %v", want, err)
	}
	if rec.Seq != want || !bytes.Equal(rec.Data, recData(want)) {
		t.Fatalf("got %d %q, want %d %q", rec.Seq, rec.Data, want, recData(want))
	}
}

func appendN(t testing.TB, l *fanlog.Log, from, to uint64) {
	t.Helper()
	for i := from; i < to; i++ {
		seq, err := l.Append(recData(i))
		if err != nil || seq != i {
			t.Fatalf("Append %d: seq %d, %v", i, seq, err)
		}
	}
}

func TestOpenLogReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, err := fanlog.OpenLog(dir, smallDurable())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 1000) // many segments
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1000, 1010)
	if err := l.Close(nil); err != nil {
		t.Fatal(err)
	}

	l = openLog(t, dir, nil) // the existing segment size
	r, err := l.Recovery()
	if err != nil {
		t.Fatal(err)
	}
	if r.NextSeq != 1010 || r.FirstSeq != 0 || !r.HasCheckpoint || r.CheckpointSeq != 1000 ||
		r.DroppedRecords != 0 || r.TruncatedFile != "" || r.Corruption != "" || r.Segments < 2 {
		t.Fatalf("Recovery: %+v", r)
	}
	c := subscribe(t, l, fanlog.FromEarliest)
	for i := uint64(0); i < 1010; i++ {
		nextData(t, c, i)
	}
	if _, err := c.TryNext(); err != fanlog.ErrEmpty {
		t.Fatalf("TryNext after the end: %v", err)
	}
	appendN(t, l, 1010, 1011) // the sequence continues
	nextData(t, c, 1010)

	// A log from NewLog is not durable.
	m := newLog(t, fanlog.Options{})
	if err := m.Flush(); err != fanlog.ErrNotDurable {
		t.Fatalf("Flush: %v", err)
	}
	if _, err := m.Recovery(); err != fanlog.ErrNotDurable {
		t.Fatalf("Recovery: %v", err)
	}
	if _, err := m.SubscribeNamed("x", fanlog.FromEarliest); err != fanlog.ErrNotDurable {
		t.Fatalf("SubscribeNamed: %v", err)
	}
	plain := subscribe(t, m, fanlog.FromEarliest)
	if err := plain.Commit(0); err != fanlog.ErrNotNamed {
		t.Fatalf("Commit on a plain cursor: %v", err)
	}
	if err := plain.SetAutoCommit(true); err != fanlog.ErrNotNamed {
		t.Fatalf("SetAutoCommit on a plain cursor: %v", err)
	}
}

func TestOpenLogErrors(t *testing.T) {
	base := t.TempDir()
	var oe *fanlog.OpenError
	for _, o := range []*fanlog.OpenOptions{
		{SegmentSize: 1000},
		{Policy: 9},
		{Sync: 7},
		{Sync: fanlog.SyncInterval}, // needs SyncEvery
		{Verify: 3},
		{MaxBytes: 4096, SegmentSize: 4096},
		{SegmentSize: -1},
		{MaxAge: -time.Second},
	} {
		_, err := fanlog.OpenLog(filepath.Join(base, "bad"), o)
		if !errors.Is(err, fanlog.ErrInvalidArgument) || !errors.As(err, &oe) {
			t.Fatalf("OpenLog(%+v): %v", o, err)
		}
	}
	_, err := fanlog.OpenLog(filepath.Join(base, "missing"), &fanlog.OpenOptions{NoCreate: true})
	if !errors.Is(err, fanlog.ErrIO) {
		t.Fatalf("NoCreate: %v", err)
	}
	os.Mkdir(filepath.Join(base, "empty"), 0o700)
	_, err = fanlog.OpenLog(filepath.Join(base, "empty"), &fanlog.OpenOptions{ReadOnly: true})
	if !errors.Is(err, fanlog.ErrFormat) {
		t.Fatalf("read-only open of a directory without a log: %v", err)
	}

	// One writer at a time.
	dir := filepath.Join(base, "log")
	w := openLog(t, dir, smallDurable())
	_, err = fanlog.OpenLog(dir, smallDurable())
	if !errors.Is(err, fanlog.ErrLocked) || !errors.As(err, &oe) || oe.Dir != dir || oe.Detail == "" {
		t.Fatalf("second writer: %v", err)
	}
	// Another segment size than the log's.
	w.Close(nil)
	_, err = fanlog.OpenLog(dir, &fanlog.OpenOptions{SegmentSize: 8192})
	if !errors.Is(err, fanlog.ErrFormat) {
		t.Fatalf("other segment size: %v", err)
	}
}

func TestNamedCursorResume(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, err := fanlog.OpenLog(dir, smallDurable())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 30)
	for _, bad := range []string{"", ".hidden", "a/b", "é"} {
		if _, err := l.SubscribeNamed(bad, fanlog.FromEarliest); !errors.Is(err, fanlog.ErrInvalidArgument) {
			t.Fatalf("SubscribeNamed(%q): %v", bad, err)
		}
	}
	c, err := l.SubscribeNamed("billing", fanlog.FromEarliest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.SubscribeNamed("billing", fanlog.FromEarliest); err != fanlog.ErrCursorInUse {
		t.Fatalf("second SubscribeNamed: %v", err)
	}
	if _, err := l.RemoveCursor("billing"); err != fanlog.ErrCursorInUse {
		t.Fatalf("RemoveCursor of an open cursor: %v", err)
	}
	for i := uint64(0); i < 10; i++ {
		nextData(t, c, i)
	}
	// The cursor read ahead (a batch), but only returned 0..9.
	if err := c.Commit(10); err != fanlog.ErrNotRead {
		t.Fatalf("Commit(10): %v", err)
	}
	if err := c.Commit(4); err != nil {
		t.Fatal(err)
	}
	if next, ok, err := c.Committed(); next != 5 || !ok || err != nil {
		t.Fatalf("Committed: %d %v %v", next, ok, err)
	}
	c.Close()
	if err := c.Commit(4); !errors.Is(err, fanlog.ErrClosed) {
		t.Fatalf("Commit after Close: %v", err)
	}
	l.Close(nil)

	// Reopened: the name resumes after its commit.
	l = openLog(t, dir, nil)
	c, err = l.SubscribeNamed("billing", fanlog.FromLatest)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(5); i < 8; i++ {
		nextData(t, c, i)
	}
	if err := c.CommitPosition(); err != nil {
		t.Fatal(err)
	}
	if next, _, _ := c.Committed(); next != 8 {
		t.Fatalf("Committed after CommitPosition: %d", next)
	}
	// Auto-commit: each read commits what earlier reads returned; Close
	// commits everything returned, not what was read ahead.
	if err := c.SetAutoCommit(true); err != nil {
		t.Fatal(err)
	}
	nextData(t, c, 8)
	nextData(t, c, 9)
	if next, _, _ := c.Committed(); next != 9 {
		t.Fatalf("Committed with auto-commit: %d", next)
	}
	c.Close()
	c, err = l.SubscribeNamed("billing", fanlog.FromEarliest)
	if err != nil {
		t.Fatal(err)
	}
	nextData(t, c, 10)
	c.Close()

	// A new name holds retention from its start.
	d, err := l.SubscribeNamed("audit", fanlog.FromLatest)
	if err != nil {
		t.Fatal(err)
	}
	if next, ok, _ := d.Committed(); !ok || next != 30 {
		t.Fatalf("new name: Committed %d %v", next, ok)
	}
	d.Close()
	for _, name := range []string{"billing", "audit"} {
		if removed, err := l.RemoveCursor(name); !removed || err != nil {
			t.Fatalf("RemoveCursor(%s): %v %v", name, removed, err)
		}
	}
	if removed, err := l.RemoveCursor("billing"); removed || err != nil {
		t.Fatalf("RemoveCursor again: %v %v", removed, err)
	}
}

// A read-only Log tails the writer in the same process: the reader blocks
// in Next (in the netpoller, woken through the readiness fd by the
// library's follower thread) before the writer appends.
func TestReadOnlyTail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	w := openLog(t, dir, smallDurable())
	appendN(t, w, 0, 1)
	ro := openLog(t, dir, &fanlog.OpenOptions{ReadOnly: true, PollInterval: 200 * time.Microsecond})
	if _, err := ro.Append([]byte("x")); err != fanlog.ErrReadOnly {
		t.Fatalf("Append on a read-only log: %v", err)
	}
	if err := ro.Flush(); err != fanlog.ErrReadOnly {
		t.Fatalf("Flush on a read-only log: %v", err)
	}
	c := subscribe(t, ro, fanlog.FromEarliest)
	nextData(t, c, 0)

	const n = 500 // several segments
	got := make(chan error, 1)
	waiting := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		close(waiting)
		for i := uint64(1); i <= n; i++ {
			rec, err := c.Next(ctx)
			if err != nil {
				got <- fmt.Errorf("Next %d: %w", i, err)
				return
			}
			if rec.Seq != i || !bytes.Equal(rec.Data, recData(i)) {
				got <- fmt.Errorf("got %d %q, want %d", rec.Seq, rec.Data, i)
				return
			}
		}
		_, err := c.Next(ctx)
		got <- err
	}()
	<-waiting
	time.Sleep(50 * time.Millisecond) // the reader is parked in Next
	go func() {
		for i := uint64(1); i <= n; i++ {
			w.Append(recData(i))
		}
		w.Close(&fanlog.CloseError{Code: 3, Message: "done here"})
	}()
	err := <-got
	var ce *fanlog.CloseError
	if !errors.As(err, &ce) || ce.Code != 3 || ce.Message != "done here" {
		t.Fatalf("after the writer's close: %v", err)
	}
}

func TestStoreUseAfterClose(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, err := fanlog.OpenLog(dir, smallDurable())
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.SubscribeNamed("a", fanlog.FromEarliest)
	if err != nil {
		t.Fatal(err)
	}
	l.Close(nil)
	if err := l.Flush(); !errors.Is(err, fanlog.ErrClosed) {
		t.Fatalf("Flush: %v", err)
	}
	if _, err := l.Recovery(); !errors.Is(err, fanlog.ErrClosed) {
		t.Fatalf("Recovery: %v", err)
	}
	if _, err := l.SubscribeNamed("b", fanlog.FromEarliest); !errors.Is(err, fanlog.ErrClosed) {
		t.Fatalf("SubscribeNamed: %v", err)
	}
	if _, err := l.RemoveCursor("a"); !errors.Is(err, fanlog.ErrClosed) {
		t.Fatalf("RemoveCursor: %v", err)
	}
	// The cursor outlives the Log value; then it is closed too.
	if err := c.CommitPosition(); err != nil {
		t.Fatalf("CommitPosition on a cursor of a closed Log: %v", err)
	}
	c.Close()
	for name, f := range map[string]func() error{
		"Commit":         func() error { return c.Commit(0) },
		"CommitPosition": c.CommitPosition,
		"SetAutoCommit":  func() error { return c.SetAutoCommit(true) },
		"Committed":      func() error { _, _, err := c.Committed(); return err },
	} {
		if err := f(); !errors.Is(err, fanlog.ErrClosed) {
			t.Fatalf("%s after Close: %v", name, err)
		}
	}
}

// damage flips one byte of needle in the file at path.
func damage(t testing.TB, path string, needle []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, needle)
	if i < 0 {
		t.Fatalf("%q not in %s", needle, path)
	}
	b[i+len(needle)-1] ^= 0x20
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, err := fanlog.OpenLog(dir, smallDurable())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 10)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l.Close(nil)
	seg := filepath.Join(dir, "00000000000000000000.seg")
	damage(t, seg, recData(3))

	l = openLog(t, dir, nil)
	c := subscribe(t, l, fanlog.FromEarliest)
	for i := uint64(0); i < 3; i++ {
		nextData(t, c, i)
	}
	for range 2 { // the cursor stays at the damaged record
		_, err := c.TryNext()
		var ce *fanlog.CorruptError
		if !errors.Is(err, fanlog.ErrCorrupt) || !errors.As(err, &ce) || ce.Seq != 3 ||
			!bytes.Contains([]byte(ce.Detail), []byte("00000000000000000000.seg")) {
			t.Fatalf("read of the damaged record: %v", err)
		}
	}
	l.Close(nil)
	c.Close()

	_, err = fanlog.OpenLog(dir, &fanlog.OpenOptions{Verify: fanlog.VerifyAll})
	var oe *fanlog.OpenError
	if !errors.Is(err, fanlog.ErrCorrupt) || !errors.As(err, &oe) ||
		!bytes.Contains([]byte(oe.Detail), []byte("offset")) {
		t.Fatalf("OpenLog with VerifyAll: %v", err)
	}
	ro := openLog(t, dir, &fanlog.OpenOptions{ReadOnly: true, Verify: fanlog.VerifyAll})
	if r, err := ro.Recovery(); err != nil || r.Corruption == "" {
		t.Fatalf("read-only Recovery: %+v %v", r, err)
	}
}

// A consumer that resumes where it stopped: a named cursor of a durable
// log commits what it processed, and after a restart continues from there.
func ExampleOpenLog() {
	dir, err := os.MkdirTemp("", "fanlog-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	log, err := fanlog.OpenLog(dir, nil)
	if err != nil {
		panic(err)
	}
	for _, s := range []string{"alpha", "beta", "gamma"} {
		log.Append([]byte(s))
	}
	cur, err := log.SubscribeNamed("billing", fanlog.FromEarliest)
	if err != nil {
		panic(err)
	}
	rec, _ := cur.Next(ctx)
	fmt.Println("processed", rec.Seq, string(rec.Data))
	cur.Commit(rec.Seq)
	cur.Close()
	log.Close(nil)

	// After a restart:
	log, err = fanlog.OpenLog(dir, nil)
	if err != nil {
		panic(err)
	}
	defer log.Close(nil)
	r, _ := log.Recovery()
	fmt.Println("recovered", r.NextSeq, "records")
	cur, _ = log.SubscribeNamed("billing", fanlog.FromEarliest)
	defer cur.Close()
	for {
		rec, err := cur.TryNext()
		if err == fanlog.ErrEmpty {
			break
		}
		fmt.Println("processed", rec.Seq, string(rec.Data))
		cur.Commit(rec.Seq)
	}
	// Output:
	// processed 0 alpha
	// recovered 3 records
	// processed 1 beta
	// processed 2 gamma
}

// syncLog is a durable SyncEveryBatch log with one record ("record-0000").
func syncLog(t *testing.T) *fanlog.Log {
	t.Helper()
	o := smallDurable()
	o.Sync = fanlog.SyncEveryBatch
	l := openLog(t, filepath.Join(t.TempDir(), "log"), o)
	appendN(t, l, 0, 1)
	return l
}

// wantSyncError checks that err is a *SyncError for count records from
// first, and not ErrIO (which means nothing was appended).
func wantSyncError(t *testing.T, err error, first uint64, count int) {
	t.Helper()
	var se *fanlog.SyncError
	if !errors.As(err, &se) || !errors.Is(err, fanlog.ErrSyncFailed) || errors.Is(err, fanlog.ErrIO) {
		t.Fatalf("want a *SyncError, got %T %v", err, err)
	}
	if se.First != first || se.Count != count || se.Code != int32(syscall.EIO) || se.Detail == "" {
		t.Fatalf("SyncError %+v, want First %d Count %d Code EIO", se, first, count)
	}
}

// readThrough reads l from the start to its close and returns the payloads
// and the error the cursor ended with.
func readThrough(t *testing.T, l *fanlog.Log) ([]string, error) {
	t.Helper()
	c, err := l.Subscribe(fanlog.FromEarliest)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rec, err := c.Next(ctx)
		cancel()
		if err != nil {
			return got, err
		}
		got = append(got, string(rec.Data))
	}
}

// wantClosedWithEIO checks what cursors and later appends see after a
// failed sync: every record listed, then the close with EIO.
func wantClosedWithEIO(t *testing.T, l *fanlog.Log, want ...string) {
	t.Helper()
	if _, err := l.Append([]byte("late")); !errors.Is(err, fanlog.ErrClosed) {
		t.Fatalf("Append after the failed sync: %v, want ErrClosed", err)
	}
	got, err := readThrough(t, l)
	var ce *fanlog.CloseError
	if !errors.As(err, &ce) || ce.Code != int32(syscall.EIO) {
		t.Fatalf("the cursor ended with %v, want a *CloseError with EIO", err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// A failed sync under SyncEveryBatch is reported as what it is: the
// records were appended (their sequence numbers come back), the log is
// closed, and the error is not ErrIO, whose appends appended nothing.
func TestSyncFailedAppendsAreReportedAsAppended(t *testing.T) {
	t.Run("Append", func(t *testing.T) {
		l := syncLog(t)
		fanlog.FailNextSync(l)
		seq, err := l.Append([]byte("b"))
		wantSyncError(t, err, 1, 1)
		if seq != 1 {
			t.Fatalf("seq %d, want 1", seq)
		}
		wantClosedWithEIO(t, l, "record-0000", "b")
	})
	t.Run("AppendBatch", func(t *testing.T) {
		l := syncLog(t)
		fanlog.FailNextSync(l)
		first, err := l.AppendBatch([][]byte{[]byte("b1"), []byte("b2"), []byte("b3")})
		wantSyncError(t, err, 1, 3)
		if first != 1 {
			t.Fatalf("first %d, want 1", first)
		}
		wantClosedWithEIO(t, l, "record-0000", "b1", "b2", "b3")
	})
	t.Run("AppendContext", func(t *testing.T) {
		// A full log, so that the append waits through a producer handle
		// (appendWait) until a reader makes room.
		o := smallDurable()
		o.Sync = fanlog.SyncEveryBatch
		o.MaxBytes = 2 * o.SegmentSize
		l := openLog(t, filepath.Join(t.TempDir(), "log"), o)
		c, err := l.Subscribe(fanlog.FromEarliest)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var want []string
		for {
			d := recData(uint64(len(want)))
			if _, err := l.TryAppend(0, d); errors.Is(err, fanlog.ErrFull) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			want = append(want, string(d))
		}
		n := uint64(len(want))
		read := make(chan error, 1)
		go func() {
			time.Sleep(100 * time.Millisecond) // the append is waiting by then
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i := range n {
				rec, err := c.Next(ctx)
				if err == nil && string(rec.Data) != want[i] {
					err = fmt.Errorf("read %q, want %q", rec.Data, want[i])
				}
				if err != nil {
					read <- err
					return
				}
			}
			read <- nil
		}()
		fanlog.FailNextSync(l)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		seq, err := l.AppendContext(ctx, 0, []byte("b"))
		wantSyncError(t, err, n, 1)
		if seq != n {
			t.Fatalf("seq %d, want %d", seq, n)
		}
		if err := <-read; err != nil {
			t.Fatal(err)
		}
		// The cursor that made room reads the record, then the close.
		rec, err := c.TryNext()
		if err != nil || string(rec.Data) != "b" {
			t.Fatalf("TryNext: %v %v, want b", rec, err)
		}
		var ce *fanlog.CloseError
		if _, err := c.TryNext(); !errors.As(err, &ce) || ce.Code != int32(syscall.EIO) {
			t.Fatalf("after b: %v, want a *CloseError with EIO", err)
		}
	})
}

// A Writer whose batch hits a failed sync holds nothing afterwards (the
// records were appended) and reports the *SyncError exactly once: from
// Flush, or, when an Append's own flush hit it, from the next call, which
// does not take its record.
func TestWriterSyncFailed(t *testing.T) {
	t.Run("Flush", func(t *testing.T) {
		l := syncLog(t)
		w, err := l.NewWriter(fanlog.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"w1", "w2"} {
			if err := w.Append([]byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		fanlog.FailNextSync(l)
		wantSyncError(t, w.Flush(), 1, 2)
		if n := w.Buffered(); n != 0 {
			t.Fatalf("Buffered %d after the failed sync, want 0", n)
		}
		if err := w.Flush(); err != nil {
			t.Fatalf("second Flush: %v, want nil (reported once)", err)
		}
		wantClosedWithEIO(t, l, "record-0000", "w1", "w2")
	})
	t.Run("Append", func(t *testing.T) {
		l := syncLog(t)
		w, err := l.NewWriter(fanlog.WriterOptions{MaxRecords: 2})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Append([]byte("w1")); err != nil {
			t.Fatal(err)
		}
		fanlog.FailNextSync(l)
		// The second record fills the batch: it is taken and flushed.
		if err := w.Append([]byte("w2")); err != nil {
			t.Fatalf("Append that took its record: %v", err)
		}
		if n := w.Buffered(); n != 0 {
			t.Fatalf("Buffered %d after the failed sync, want 0", n)
		}
		err = w.Append([]byte("w3"))
		wantSyncError(t, err, 1, 2)
		if n := w.Buffered(); n != 0 {
			t.Fatalf("Buffered %d: w3 must not be taken", n)
		}
		if err := w.Flush(); err != nil {
			t.Fatalf("Flush with nothing held: %v (the error was reported)", err)
		}
		// Later records wait in the Writer as usual; the closed log refuses them.
		if err := w.Append([]byte("w4")); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); !errors.Is(err, fanlog.ErrClosed) || w.Buffered() != 1 {
			t.Fatalf("Flush after the close: %v, %d held; want ErrClosed, 1", err, w.Buffered())
		}
		wantClosedWithEIO(t, l, "record-0000", "w1", "w2")
	})
	t.Run("Log closed before the report", func(t *testing.T) {
		l := syncLog(t)
		w, err := l.NewWriter(fanlog.WriterOptions{MaxRecords: 1})
		if err != nil {
			t.Fatal(err)
		}
		fanlog.FailNextSync(l)
		if err := w.Append([]byte("w1")); err != nil { // taken and flushed
			t.Fatal(err)
		}
		l.Close(nil)
		wantSyncError(t, w.Append([]byte("w2")), 1, 1)
		if err := w.Append([]byte("w3")); !errors.Is(err, fanlog.ErrClosed) {
			t.Fatalf("Append after the report: %v, want ErrClosed", err)
		}
	})
	t.Run("large record", func(t *testing.T) {
		l := syncLog(t)
		w, err := l.NewWriter(fanlog.WriterOptions{MaxBytes: 64})
		if err != nil {
			t.Fatal(err)
		}
		big := bytes.Repeat([]byte("x"), 100) // larger than a batch: appended on its own
		fanlog.FailNextSync(l)
		if err := w.Append(big); err != nil {
			t.Fatalf("Append of a large record that was appended: %v", err)
		}
		wantSyncError(t, w.Flush(), 1, 1)
		wantClosedWithEIO(t, l, "record-0000", string(big))
	})
}
