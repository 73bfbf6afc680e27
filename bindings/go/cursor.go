package fanlog

// #include "fanlog_go.h"
import "C"

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// A Cursor is one reader's position in a log. It reads every record in
// sequence order, each exactly once, at its own pace: other cursors don't
// affect it (except that under DropOldest a slow cursor may lag).
//
// A Cursor is single-consumer: use it from one goroutine at a time (a
// second concurrent call fails with ErrBusy instead of corrupting
// anything). Close and Interrupt may be called from any goroutine at any
// time. Create one cursor per consumer goroutine.
//
// Waiting for records does not occupy an OS thread: a blocked Next parks
// its goroutine in the Go scheduler until an append wakes it, as a
// channel receive does (a cursor of a log opened ReadOnly, which another
// process appends to, waits in the Go runtime's network poller on its
// readiness file descriptor instead). Thousands of blocked cursors cost
// thousands of goroutines, not threads.
//
// A named cursor of a durable log (Log.SubscribeNamed) also records what
// its consumer has processed: Commit, CommitPosition, Committed and
// SetAutoCommit.
type Cursor struct {
	r       *reader
	cleanup cleanup
	// isNamed: from Log.SubscribeNamed (Commit and friends work).
	isNamed bool
}

// cursorSource is a log cursor as a reader's source.
type cursorSource struct{ ptr *C.fanlog_cursor }

func (s cursorSource) fill(buf *C.fanlog_go_cursor_buf) status {
	return C.fanlog_go_cursor_fill(s.ptr, buf)
}

func (s cursorSource) readinessFd() (C.int, status) {
	var fd C.int
	st := C.fanlog_cursor_readiness_fd(s.ptr, &fd)
	return fd, st
}

func (s cursorSource) pending() bool {
	var st C.fanlog_cursor_stats
	if C.fanlog_cursor_get_stats(s.ptr, &st) != statusOK {
		return true // let the read report it
	}
	return st.lag > 0
}

func (s cursorSource) closeStatus() error {
	return readCloseStatus(func(code *C.int32_t, buf *C.char, cap C.size_t, n *C.size_t) status {
		return C.fanlog_cursor_close_status(s.ptr, code, buf, cap, n)
	})
}

func (s cursorSource) release() { C.fanlog_cursor_free(s.ptr) }

func newCursor(p *C.fanlog_cursor, fdMu *sync.Mutex, wk *waker, room *roomHint) (*Cursor, error) {
	r, err := newReader(cursorSource{p}, fdMu, wk, nil, errCursorClosed)
	if err == nil {
		r.room = room
	}
	if err != nil {
		return nil, err
	}
	c := &Cursor{r: r}
	c.cleanup = addCleanup(c, (*reader).abandon, r)
	return c, nil
}

// Close releases the cursor. A call blocked in Next on another goroutine
// returns an error wrapping ErrClosed; so does every later call. Records
// returned by the View methods become invalid. Close is idempotent and
// always returns nil.
func (c *Cursor) Close() error {
	if c.r.close() {
		c.cleanup.stop()
	}
	runtime.KeepAlive(c)
	return nil
}

// Interrupt makes a Next blocked on another goroutine return
// ErrInterrupted; if none is blocked, the next read that finds nothing to
// return does. Records that are available are returned first. Safe to
// call from any goroutine.
func (c *Cursor) Interrupt() error {
	err := c.r.interrupt()
	runtime.KeepAlive(c)
	return err
}

// Next returns the next record, waiting for it until ctx is done. The
// record's Data is a copy the caller owns.
//
// Errors: a *LaggedError (DropOldest: records were dropped before this
// cursor read them; call Next again to continue with the oldest retained
// record); ErrClosed once every record appended before a clean Log.Close
// has been read, or a *CloseError (which wraps ErrClosed) carrying the
// error given to Log.Close — every later call returns the same; ctx.Err();
// ErrInterrupted; ErrBusy; an error wrapping ErrClosed after Cursor.Close.
//
// Next checks ctx before anything else, so a loop over Next stops when ctx
// is cancelled even if records keep coming.
func (c *Cursor) Next(ctx context.Context) (Record, error) {
	rec, err := c.r.next(ctx, false, true)
	runtime.KeepAlive(c)
	return rec, err
}

// NextView is Next without the copy: the record's Data points into the
// log's memory and is valid only until the next call on this cursor
// (including Stats) or its Close, and while the Cursor is reachable (the
// slice does not keep it alive; an unreachable Cursor is closed by the
// garbage collector). Do not modify it, and copy what you keep. Reading it
// later may return garbage or crash the process.
func (c *Cursor) NextView(ctx context.Context) (Record, error) {
	rec, err := c.r.next(ctx, true, true)
	runtime.KeepAlive(c)
	return rec, err
}

// TryNext returns the next record if one is available now, else ErrEmpty.
// Other errors as for Next.
func (c *Cursor) TryNext() (Record, error) {
	rec, err := c.r.next(context.Background(), false, false)
	runtime.KeepAlive(c)
	return rec, err
}

// NextBatch fills dst with the records available now, waiting until ctx
// is done for at least one, and returns how many it wrote (at least one,
// or zero with an error; zero without error only if dst is empty). Each
// payload is copied into dst[i].Data, reusing its capacity, so a caller
// that keeps passing the same dst reads without allocating. Errors as for
// Next; records written before an error was found are returned first.
func (c *Cursor) NextBatch(ctx context.Context, dst []Record) (int, error) {
	n, err := c.r.nextBatch(ctx, dst, false)
	runtime.KeepAlive(c)
	return n, err
}

// NextBatchView is NextBatch without copies: every dst[i].Data points into
// the log's memory, with the validity rules of NextView (until the next
// call on this cursor). dst[i].Data's previous contents are not touched.
func (c *Cursor) NextBatchView(ctx context.Context, dst []Record) (int, error) {
	n, err := c.r.nextBatch(ctx, dst, true)
	runtime.KeepAlive(c)
	return n, err
}

// CursorStats are a cursor's counters (see Cursor.Stats).
type CursorStats struct {
	// RecordsRead is the number of records returned by this cursor.
	RecordsRead uint64
	// BytesRead is the payload bytes returned.
	BytesRead uint64
	// RecordsMissed sums the Missed counts of the *LaggedErrors returned.
	RecordsMissed uint64
	// Position is the sequence number of the next record to return.
	Position uint64
	// Lag is how many records were appended but not yet returned.
	Lag uint64
	// LastRead is when records were last fetched (coarse clock).
	LastRead time.Time
}

// Stats returns the cursor's counters. It is a call on the cursor like
// Next (single-consumer; it ends the validity of records from the View
// methods).
func (c *Cursor) Stats() (CursorStats, error) {
	r := c.r
	if err := r.st.acquireExclusive(r.closedErr); err != nil {
		return CursorStats{}, err
	}
	// The C contract lets any call on the cursor invalidate the records
	// of the last batch: copy the ones not yet returned first.
	r.detach()
	var s C.fanlog_cursor_stats
	st := C.fanlog_cursor_get_stats(r.src.(cursorSource).ptr, &s)
	pending, pendingBytes := r.pending()
	var position uint64
	if len(r.spill) > 0 {
		position = r.spill[0].Seq
	}
	r.st.release(exclusive)
	runtime.KeepAlive(c)
	if st != statusOK {
		return CursorStats{}, statusError(st)
	}
	out := CursorStats{
		RecordsRead:   uint64(s.records_read) - pending,
		BytesRead:     uint64(s.bytes_read) - pendingBytes,
		RecordsMissed: uint64(s.records_missed),
		Position:      uint64(s.position),
		Lag:           uint64(s.lag) + pending,
	}
	if pending > 0 {
		out.Position = position
	}
	if ns := s.last_read_ns; ns != 0 {
		out.LastRead = time.Unix(0, int64(ns))
	}
	return out, nil
}
