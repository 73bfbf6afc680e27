package fanlog

// #include "fanlog_go.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// A Record is one record read from a cursor.
type Record struct {
	// Seq is the record's sequence number: gap-free, in append order.
	Seq uint64
	// Kind is the application-defined kind given at append time.
	Kind uint32
	// Time is when the record was appended (the zero Time if the log's
	// timestamps are off).
	Time time.Time
	// Data is the payload. Records from Next, NextBatch, TryNext and All
	// own their Data (a copy, safe to keep and modify); records from the
	// View methods borrow it from the log (see NextView). Nil when empty.
	Data []byte
}

// A Cursor is one reader's position in a log. It reads every record in
// sequence order, each exactly once, at its own pace: other cursors don't
// affect it (except that under DropOldest a slow cursor may lag).
//
// A Cursor is single-consumer: use it from one goroutine at a time (a
// second concurrent call fails with ErrBusy instead of corrupting
// anything). Close and Interrupt may be called from any goroutine at any
// time. Create one cursor per consumer goroutine.
//
// Waiting for records does not occupy an OS thread: a blocked Next waits
// in the Go runtime's network poller on the cursor's readiness file
// descriptor, so thousands of blocked cursors cost thousands of
// goroutines, not threads.
type Cursor struct {
	h       *cursorHandle
	cleanup cleanup
}

// cursorHandle is the state of a Cursor that its GC cleanup may see.
// Everything but st and ptr belongs to the consumer call in flight
// (stBusy), then to free.
type cursorHandle struct {
	ptr *C.fanlog_cursor
	st  refState

	// buf holds the last batch read (in C memory); buf.recs[i:n] have not
	// been returned yet. Their data pointers stay valid until the next
	// call on the cursor that reads (fanlog_cursor_next_batch) or asks for
	// stats, so they are moved to spill before asking for stats.
	buf  *C.fanlog_go_cursor_buf
	i, n int
	// spill holds Go-owned copies of records read but not yet returned.
	spill []Record
	// lastNs and lastTime cache the last timestamp conversion.
	lastNs   uint64
	lastTime time.Time
	// term is the final error once the log is drained after close.
	term error

	// fdMu serializes the creation of readiness fds among the cursors of
	// one log (shared with the log's other cursors): see openReadiness.
	fdMu *sync.Mutex
	// file is a duplicate of the cursor's readiness fd, registered with
	// the Go netpoller; rc is its raw conn. Nil until the first wait.
	file *os.File
	rc   syscall.RawConn

	// wakeFile is file, published for Close and Interrupt, which wake a
	// waiting reader by setting a read deadline in the past (see poke).
	wakeFile atomic.Pointer[os.File]
	// interrupted is a pending Interrupt.
	interrupted atomic.Bool
}

func newCursor(p *C.fanlog_cursor, fdMu *sync.Mutex) (*Cursor, error) {
	buf := (*C.fanlog_go_cursor_buf)(C.calloc(1, C.sizeof_fanlog_go_cursor_buf))
	if buf == nil {
		C.fanlog_cursor_free(p)
		return nil, ErrOS
	}
	h := &cursorHandle{ptr: p, buf: buf, fdMu: fdMu}
	h.st.free = h.free
	c := &Cursor{h: h}
	c.cleanup = addCleanup(c, (*cursorHandle).abandon, h)
	return c, nil
}

// free releases the C cursor, its buffer and the duplicated fd (once,
// after Close and after the last call in flight).
func (h *cursorHandle) free() {
	if h.file != nil {
		h.wakeFile.Store(nil)
		h.file.Close()
		h.file, h.rc = nil, nil
		// Unregistering the fd copies the log's fd list, as registering
		// does (see openReadiness).
		h.fdMu.Lock()
		C.fanlog_cursor_free(h.ptr)
		h.fdMu.Unlock()
	} else {
		C.fanlog_cursor_free(h.ptr)
	}
	h.ptr = nil
	C.free(unsafe.Pointer(h.buf))
	h.buf = nil
	h.i, h.n, h.spill = 0, 0, nil
}

// abandon is the GC cleanup of a Cursor that was never closed: it frees
// the cursor, so that it stops holding records (and, under Block, stops
// holding producers back).
func (h *cursorHandle) abandon() {
	if h.st.closeIdle() {
		h.free()
	}
}

// Close releases the cursor. A call blocked in Next on another goroutine
// returns an error wrapping ErrClosed; so does every later call. Records
// returned by the View methods become invalid. Close is idempotent and
// always returns nil.
func (c *Cursor) Close() error {
	h := c.h
	if !h.st.acquire() {
		return nil
	}
	if h.st.markClosed() {
		c.cleanup.stop()
		h.poke() // a read waiting on another goroutine sees stClosed
	}
	h.st.release(shared)
	runtime.KeepAlive(c)
	return nil
}

// Interrupt makes a Next blocked on another goroutine return
// ErrInterrupted; if none is blocked, the next read that finds nothing to
// return does. Records that are available are returned first. Safe to
// call from any goroutine.
func (c *Cursor) Interrupt() error {
	h := c.h
	if !h.st.acquire() {
		return errCursorClosed
	}
	h.interrupted.Store(true)
	h.poke()
	h.st.release(shared)
	runtime.KeepAlive(c)
	return nil
}

// poke wakes the reader waiting in the netpoller, if any, after the
// caller set the flag it should look at (stClosed, interrupted). The
// reader clears the deadline before it checks the flags, so either it
// sees the flag or its wait sees the deadline.
//
// (fanlog_cursor_interrupt is not used: a Go reader never blocks inside
// the library, and the library's interrupt can be missed by a readiness-fd
// waiter — see wait.)
func (h *cursorHandle) poke() {
	if f := h.wakeFile.Load(); f != nil {
		f.SetReadDeadline(longAgo)
	}
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
	return c.next(ctx, false)
}

// NextView is Next without the copy: the record's Data points into the
// log's memory and is valid only until the next call on this cursor
// (including Stats) or its Close. Do not modify it, and copy what you
// keep. Reading it later may return garbage or crash the process.
func (c *Cursor) NextView(ctx context.Context) (Record, error) {
	return c.next(ctx, true)
}

func (c *Cursor) next(ctx context.Context, view bool) (Record, error) {
	h := c.h
	if err := h.st.acquireExclusive(); err != nil {
		return Record{}, err
	}
	var rec Record
	err := ctxErr(ctx)
	if err == nil {
		rec, err = h.next(ctx, view, true)
	}
	h.st.release(exclusive)
	runtime.KeepAlive(c)
	return rec, err
}

// TryNext returns the next record if one is available now, else ErrEmpty.
// Other errors as for Next.
func (c *Cursor) TryNext() (Record, error) {
	h := c.h
	if err := h.st.acquireExclusive(); err != nil {
		return Record{}, err
	}
	rec, err := h.next(context.Background(), false, false)
	h.st.release(exclusive)
	runtime.KeepAlive(c)
	return rec, err
}

// ctxErr is ctx.Err() through a non-blocking receive, which costs a few
// nanoseconds where Err may take a lock.
func ctxErr(ctx context.Context) error {
	if done := ctx.Done(); done != nil {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
	}
	return nil
}

// next returns one record (from spill, then the buffer, then a new batch).
func (h *cursorHandle) next(ctx context.Context, view, wait bool) (Record, error) {
	if len(h.spill) > 0 {
		rec := h.spill[0]
		h.spill[0] = Record{}
		h.spill = h.spill[1:]
		return rec, nil
	}
	if h.i == h.n {
		if err := h.refill(ctx, wait); err != nil {
			return Record{}, err
		}
	}
	var rec Record
	h.set(&rec, &h.buf.recs[h.i], view)
	h.i++
	return rec, nil
}

// NextBatch fills dst with the records available now, waiting until ctx
// is done for at least one, and returns how many it wrote (at least one,
// or zero with an error; zero without error only if dst is empty). Each
// payload is copied into dst[i].Data, reusing its capacity, so a caller
// that keeps passing the same dst reads without allocating. Errors as for
// Next; records written before an error was found are returned first.
func (c *Cursor) NextBatch(ctx context.Context, dst []Record) (int, error) {
	return c.nextBatch(ctx, dst, false)
}

// NextBatchView is NextBatch without copies: every dst[i].Data points into
// the log's memory, with the validity rules of NextView (until the next
// call on this cursor). dst[i].Data's previous contents are not touched.
func (c *Cursor) NextBatchView(ctx context.Context, dst []Record) (int, error) {
	return c.nextBatch(ctx, dst, true)
}

func (c *Cursor) nextBatch(ctx context.Context, dst []Record, view bool) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	h := c.h
	if err := h.st.acquireExclusive(); err != nil {
		return 0, err
	}
	n, err := 0, ctxErr(ctx)
	if err == nil {
		n, err = h.nextBatch(ctx, dst, view)
	}
	h.st.release(exclusive)
	runtime.KeepAlive(c)
	return n, err
}

func (h *cursorHandle) nextBatch(ctx context.Context, dst []Record, view bool) (int, error) {
	n := 0
	for ; n < len(dst) && len(h.spill) > 0; n++ {
		s := h.spill[0]
		h.spill[0] = Record{}
		h.spill = h.spill[1:]
		if view {
			dst[n] = s
		} else {
			d := append(dst[n].Data[:0], s.Data...)
			dst[n] = s
			dst[n].Data = d
		}
	}
	if n > 0 {
		return n, nil
	}
	if h.i == h.n {
		if err := h.refill(ctx, true); err != nil {
			return 0, err
		}
	}
	i, end, recs := h.i, h.n, &h.buf.recs
	for ; n < len(dst) && i < end; n, i = n+1, i+1 {
		if !view {
			dst[n].Data = dst[n].Data[:0] // set copies into its capacity
		}
		h.set(&dst[n], &recs[i], view)
	}
	h.i = i
	return n, nil
}

// set writes the C record r into *dst, field by field (building a Record
// and copying it costs store-forwarding stalls, measured at a third of the
// time of a batch read). Data aliases the log's memory if view, else it
// is a copy appended to dst.Data[:len].
func (h *cursorHandle) set(dst *Record, r *C.fanlog_record, view bool) {
	dst.Seq = uint64(r.seq)
	dst.Kind = uint32(r.kind)
	dst.Time = h.time(uint64(r.timestamp_ns))
	src := cdata(r)
	switch {
	case view:
		dst.Data = src
	case len(src) > 0:
		dst.Data = append(dst.Data, src...)
	}
}

// time converts a timestamp, reusing the last conversion: records of a
// batch usually share the coarse clock's value.
func (h *cursorHandle) time(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	if ns != h.lastNs {
		h.lastNs, h.lastTime = ns, time.Unix(0, int64(ns))
	}
	return h.lastTime
}

// cdata is the payload of a C record, in the log's memory (nil if empty).
func cdata(r *C.fanlog_record) []byte {
	if r.len == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(r.data)), int(r.len))
}

// refill reads a new batch into buf: without waiting first, then (if wait)
// in the netpoller until something arrives or ctx is done.
func (h *cursorHandle) refill(ctx context.Context, wait bool) error {
	if h.term != nil {
		return h.term
	}
	h.i, h.n = 0, 0
	st := C.fanlog_go_cursor_fill(h.ptr, h.buf)
	if st == statusEmpty {
		switch {
		case h.interrupted.Swap(false):
			return ErrInterrupted
		case wait:
			var err error
			if st, err = h.wait(ctx); err != nil {
				return err
			}
		}
	}
	switch st {
	case statusOK:
		h.n = int(h.buf.count)
		return nil
	case statusLagged:
		return &LaggedError{Missed: uint64(h.buf.missed)}
	case statusClosed:
		h.term = readCloseStatus(func(code *C.int32_t, buf *C.char, cap C.size_t, n *C.size_t) status {
			return C.fanlog_cursor_close_status(h.ptr, code, buf, cap, n)
		})
		if h.term == nil { // can't happen: CLOSED means the status is set
			h.term = ErrClosed
		}
		return h.term
	case statusInterrupted:
		if h.st.closed() {
			return errCursorClosed
		}
		return ErrInterrupted
	}
	return statusError(st)
}

// longAgo is a deadline in the past: setting it wakes a netpoller wait.
var longAgo = time.Unix(1, 0)

// wait blocks in the netpoller until the cursor's readiness fd says there
// is something to return (then reads it without waiting), ctx is done, or
// Close or Interrupt pokes it.
//
// The fd is level-triggered from the cursor's point of view: a read with
// timeout 0 that finds nothing re-arms it, and the library makes it
// readable when a record is committed or the log is closed. The netpoller
// is edge-triggered, but every signal is a new write to the eventfd, hence
// a new edge, and the poll descriptor latches one that comes before we
// park. So: read with timeout 0 at the start of each RawConn.Read and each
// time the fd is reported readable, until that read returns something. We
// never read the eventfd ourselves (the cursor owns and drains it).
//
// Everything else that ends a wait sets a read deadline in the past on our
// duplicate of the fd: a context.AfterFunc for ctx, and poke for Close and
// Interrupt. The library's own interrupt is not used for those: a
// fanlog_cursor_interrupt that lands between the library's check of the
// interrupt flag and its re-arming of the fd (which drains the eventfd)
// leaves the fd unreadable, and one raised before the fd exists does not
// make the new fd readable, so a poll on the fd can miss it.
func (h *cursorHandle) wait(ctx context.Context) (status, error) {
	if h.rc == nil {
		if err := h.openReadiness(); err != nil {
			return 0, err
		}
		h.wakeFile.Store(h.file)
	}
	if ctx.Done() != nil {
		fired := make(chan struct{})
		f := h.file
		stop := context.AfterFunc(ctx, func() {
			f.SetReadDeadline(longAgo)
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired // its deadline is cleared by the next wait
			}
		}()
	}
	for {
		// Clear the deadline first, then look at the flags (see poke).
		if err := h.file.SetReadDeadline(time.Time{}); err != nil {
			return 0, err
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if h.st.closed() {
			return 0, errCursorClosed
		}
		if h.interrupted.Swap(false) {
			return 0, ErrInterrupted
		}
		// RawConn.Read forgets readiness the poller latched before the
		// call (it resets the poll descriptor), so the callback must
		// re-check before the first park: a signal between the caller's
		// read and this call would otherwise be lost (the eventfd stays
		// readable, and an edge-triggered poller reports it only once).
		st := statusEmpty
		err := h.rc.Read(func(uintptr) bool {
			st = C.fanlog_go_cursor_fill(h.ptr, h.buf)
			return st != statusEmpty
		})
		if err == nil {
			return st, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, fmt.Errorf("fanlog: waiting for the cursor's readiness fd: %w", err)
		}
		// Woken by ctx, Close or Interrupt: the loop finds out which.
	}
}

// openReadiness gets the cursor's readiness fd and registers a duplicate
// with the netpoller. The duplicate shares the eventfd (and its
// non-blocking flag); closing it does not affect the cursor's own fd.
//
// This is done one cursor at a time per log, the others parked on a Go
// mutex. The library registers each new fd by copying the log's list of
// fds (RCU), so concurrent first waits of many cursors contend and calls
// run long; and a goroutine that stays in a C call or system call past a
// scheduler tick while other goroutines are runnable has its P handed to
// another thread, a new one if none is idle. Measured with 1,000 cursors
// starting to wait at once: unserialized, up to 60 ms per call and over
// 100 OS threads; with only the C call serialized, still 50-100 threads
// on a loaded 2-core machine; with the whole setup serialized, 6-11.
func (h *cursorHandle) openReadiness() error {
	h.fdMu.Lock()
	defer h.fdMu.Unlock()
	var fd C.int
	if st := C.fanlog_cursor_readiness_fd(h.ptr, &fd); st != statusOK {
		return statusError(st)
	}
	dup, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return fmt.Errorf("%w: duplicating the readiness fd: %w", ErrOS, errno)
	}
	f := os.NewFile(dup, "fanlog-cursor-readiness")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	h.file, h.rc = f, rc
	return nil
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
	h := c.h
	if err := h.st.acquireExclusive(); err != nil {
		return CursorStats{}, err
	}
	// The C contract lets any call on the cursor invalidate the records
	// of the last batch: copy the ones not yet returned first.
	h.detach()
	var s C.fanlog_cursor_stats
	st := C.fanlog_cursor_get_stats(h.ptr, &s)
	var pending, pendingBytes uint64
	for _, r := range h.spill {
		pending++
		pendingBytes += uint64(len(r.Data))
	}
	var position uint64
	if len(h.spill) > 0 {
		position = h.spill[0].Seq
	}
	h.st.release(exclusive)
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

// detach moves the records of the current batch that were not returned
// yet into spill, as Go-owned copies.
func (h *cursorHandle) detach() {
	if h.i == h.n {
		return
	}
	size := 0
	for i := h.i; i < h.n; i++ {
		size += int(h.buf.recs[i].len)
	}
	arena := make([]byte, 0, size)
	for ; h.i < h.n; h.i++ {
		var r Record
		h.set(&r, &h.buf.recs[h.i], true)
		if r.Data != nil {
			start := len(arena)
			arena = append(arena, r.Data...)
			r.Data = arena[start:len(arena):len(arena)]
		}
		h.spill = append(h.spill, r)
	}
}
