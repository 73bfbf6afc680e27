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

// A Record is one record read from a cursor, or one event received by a
// subscription.
type Record struct {
	// Seq is the sequence number. For a log: gap-free, in append order.
	// For a hub: the hub-wide publish number (a subscription sees the
	// events that matched its filter, each publisher's in increasing
	// order).
	Seq uint64
	// Kind is the application-defined kind given at append (publish)
	// time.
	Kind uint32
	// Time is when the record was appended (the zero Time if timestamps
	// are off).
	Time time.Time
	// Data is the payload. Records from Next, NextBatch, TryNext and All
	// own their Data (a copy, safe to keep and modify); records from the
	// View methods borrow it from the library (see Cursor.NextView). Nil
	// when empty.
	Data []byte
}

// source is the C object a reader reads from: a log cursor or a hub
// subscription.
type source interface {
	// fill reads what is available now, without waiting, into buf.
	fill(buf *C.fanlog_go_cursor_buf) status
	// readinessFd returns the object's readiness fd (owned by it).
	readinessFd() (C.int, status)
	// pending reports whether a read may find something (records,
	// events, or the end) without reading, and so without arming the
	// readiness fd.
	pending() bool
	// closeStatus reads the status to report once drained after close.
	closeStatus() error
	// release frees the C object.
	release()
}

// reader is what Cursor and Subscription share: the lifetime guard, a
// read-ahead buffer, and waiting in the Go netpoller. Everything but st,
// wakeFile and interrupted belongs to the consumer call in flight
// (stBusy), then to free.
type reader struct {
	src source
	st  refState
	// closedErr is returned by calls after Close.
	closedErr error

	// buf holds the last batch read (in C memory); buf.recs[i:n] have not
	// been returned yet. Their data pointers stay valid until the next
	// receive on the C object (a cursor's get_stats counts as one, so
	// Cursor.Stats moves them to spill first) or its free.
	buf  *C.fanlog_go_cursor_buf
	i, n int
	// caughtUp: the last read returned less than a full buffer (or
	// nothing), so the next one may find nothing: refill spins first
	// (without a waker).
	caughtUp bool
	// spill holds Go-owned copies of records read but not yet returned.
	spill []Record
	// lastNs and lastTime cache the last timestamp conversion.
	lastNs   uint64
	lastTime time.Time
	// term is the final error once drained after close.
	term error

	// fdMu serializes readiness-fd setup among the readers of one log or
	// hub (shared with them): see openReadiness.
	fdMu *sync.Mutex
	// wk is the log's or hub's waker (nil for a read-only log's cursor):
	// a reader that caught up parks on it (fillOrPark), and never sets up
	// its readiness fd. Without one, it waits on the fd (wait).
	wk *waker
	// kinds is a subscription's kind filter (nil: every kind; a cursor):
	// it decides which notifications wake the reader (see waker).
	kinds *kindFilter
	// room is the log's roomHint (a cursor of a log that is not
	// read-only): after a read, it counts one if an append waits for room.
	room *roomHint
	// wake receives the waker's token (see waker.wake), and poke's.
	wake chan struct{}
	// pokes counts pokes (Close, Interrupt, Unsubscribe): a reader parks
	// only if none came since before its last read (see fillOrPark).
	pokes atomic.Uint64
	// emptyFills counts the reads of fillOrPark that found nothing (read
	// by the tests).
	emptyFills atomic.Uint64
	// file is a duplicate of the readiness fd, registered with the Go
	// netpoller; rc is its raw conn. Nil until the first wait.
	file *os.File
	rc   syscall.RawConn

	// wakeFile is file, published for Close and Interrupt, which wake a
	// waiting reader by setting a read deadline in the past (see poke).
	wakeFile atomic.Pointer[os.File]
	// interrupted is a pending Interrupt.
	interrupted atomic.Bool

	// autoCommit: a named log cursor commits the records it returned
	// before each read and when it is freed (Cursor.SetAutoCommit). The
	// library's own auto-commit is not used: it would commit the records
	// read ahead into buf before they are returned.
	autoCommit bool
}

// corruptionSource is a source that can describe a damaged record (a
// durable log's cursor).
type corruptionSource interface {
	// corruption is the *CorruptError of the last FANLOG_CORRUPT read.
	corruption() error
}

func newReader(src source, fdMu *sync.Mutex, wk *waker, kinds *kindFilter, closedErr error) (*reader, error) {
	buf := (*C.fanlog_go_cursor_buf)(C.calloc(1, C.sizeof_fanlog_go_cursor_buf))
	if buf == nil {
		src.release()
		return nil, ErrOS
	}
	r := &reader{src: src, buf: buf, fdMu: fdMu, wk: wk, kinds: kinds, wake: make(chan struct{}, 1), closedErr: closedErr}
	r.st.free = r.free
	return r, nil
}

// free releases the C object, the buffer and the duplicated fd (once,
// after Close and after the last call in flight).
func (r *reader) free() {
	if r.autoCommit {
		r.commitReturned()
	}
	if r.file != nil {
		r.wakeFile.Store(nil)
		r.file.Close()
		r.file, r.rc = nil, nil
		// Unregistering the fd copies the list of fds, as registering
		// does (see openReadiness).
		r.fdMu.Lock()
		r.src.release()
		r.fdMu.Unlock()
	} else {
		r.src.release()
	}
	C.free(unsafe.Pointer(r.buf))
	r.buf = nil
	r.i, r.n, r.spill = 0, 0, nil
}

// abandon is the GC cleanup of a reader that was never closed: it frees
// the C object, so that it stops holding records (a cursor under Block
// holds producers back) or receiving events.
func (r *reader) abandon() {
	if r.st.closeIdle() {
		r.free()
	}
}

// close is Close of a Cursor or Subscription (see there): it reports
// whether this call closed it (the caller then stops its cleanup).
func (r *reader) close() bool {
	if !r.st.acquire() {
		return false
	}
	first := r.st.markClosed()
	if first {
		r.poke() // a read waiting on another goroutine sees stClosed
	}
	r.st.release(shared)
	return first
}

// interrupt is Interrupt of a Cursor or Subscription.
func (r *reader) interrupt() error {
	if !r.st.acquire() {
		return r.closedErr
	}
	r.interrupted.Store(true)
	r.poke()
	r.st.release(shared)
	return nil
}

// poke wakes the reader waiting in the netpoller, if any, after the
// caller set the flag it should look at (stClosed, interrupted). The
// reader clears the deadline before it checks the flags, so either it
// sees the flag or its wait sees the deadline.
//
// A reader parked on the waker (fillOrPark) gets a token on r.wake
// instead. poke counts itself in r.pokes after the caller's change and
// before it sends; the reader loads r.pokes before its read and again
// after registering, so either its read sees the change, or it sees the
// count move and does not park, or the token comes after it parked.
//
// (The library's interrupt functions are not needed: a Go reader never
// blocks inside the library, so waking its wait directly is enough, and
// does not depend on how the library signals the fd.)
func (r *reader) poke() {
	r.pokes.Add(1)
	select {
	case r.wake <- struct{}{}: // a reader parked on the waker (fillOrPark)
	default:
	}
	if f := r.wakeFile.Load(); f != nil {
		f.SetReadDeadline(longAgo)
	}
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

// next is Next, NextView and TryNext (wait false).
func (r *reader) next(ctx context.Context, view, wait bool) (Record, error) {
	if err := r.st.acquireExclusive(r.closedErr); err != nil {
		return Record{}, err
	}
	var rec Record
	err := ctxErr(ctx)
	if err == nil {
		if r.autoCommit {
			r.commitReturned()
		}
		err = r.nextLocked(ctx, &rec, view, wait)
	}
	r.st.release(exclusive)
	return rec, err
}

// nextLocked returns one record: from spill, then the buffer, then a new
// batch.
func (r *reader) nextLocked(ctx context.Context, rec *Record, view, wait bool) error {
	if len(r.spill) > 0 {
		*rec = r.spill[0]
		r.spill[0] = Record{}
		r.spill = r.spill[1:]
		return nil
	}
	if r.i == r.n {
		if err := r.refill(ctx, wait); err != nil {
			return err
		}
	}
	r.set(rec, &r.buf.recs[r.i], view)
	r.i++
	return nil
}

// nextBatch is NextBatch and NextBatchView.
func (r *reader) nextBatch(ctx context.Context, dst []Record, view bool) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	if err := r.st.acquireExclusive(r.closedErr); err != nil {
		return 0, err
	}
	n, err := 0, ctxErr(ctx)
	if err == nil {
		if r.autoCommit {
			r.commitReturned()
		}
		n, err = r.nextBatchLocked(ctx, dst, view)
	}
	r.st.release(exclusive)
	return n, err
}

func (r *reader) nextBatchLocked(ctx context.Context, dst []Record, view bool) (int, error) {
	n := 0
	for ; n < len(dst) && len(r.spill) > 0; n++ {
		s := r.spill[0]
		r.spill[0] = Record{}
		r.spill = r.spill[1:]
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
	if r.i == r.n {
		if err := r.refill(ctx, true); err != nil {
			return 0, err
		}
	}
	i, end, recs := r.i, r.n, &r.buf.recs
	for ; n < len(dst) && i < end; n, i = n+1, i+1 {
		if !view {
			dst[n].Data = dst[n].Data[:0] // set copies into its capacity
		}
		r.set(&dst[n], &recs[i], view)
	}
	r.i = i
	return n, nil
}

// set writes the C record c into *dst, field by field (building a Record
// and copying it costs store-forwarding stalls, measured at a third of the
// time of a batch read). Data aliases the library's memory if view, else
// it is a copy appended to dst.Data[:len].
func (r *reader) set(dst *Record, c *C.fanlog_record, view bool) {
	dst.Seq = uint64(c.seq)
	dst.Kind = uint32(c.kind)
	dst.Time = r.time(uint64(c.timestamp_ns))
	src := cdata(c)
	switch {
	case view:
		dst.Data = src
	case len(src) > 0:
		dst.Data = append(dst.Data, src...)
	}
}

// time converts a timestamp, reusing the last conversion: records of a
// batch usually share the coarse clock's value.
func (r *reader) time(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	if ns != r.lastNs {
		r.lastNs, r.lastTime = ns, time.Unix(0, int64(ns))
	}
	return r.lastTime
}

// cdata is the payload of a C record (nil if empty).
func cdata(c *C.fanlog_record) []byte {
	if c.len == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(c.data)), int(c.len))
}

// detach moves the records of the current batch that were not returned
// yet into spill, as Go-owned copies.
func (r *reader) detach() {
	if r.i == r.n {
		return
	}
	size := 0
	for i := r.i; i < r.n; i++ {
		size += int(r.buf.recs[i].len)
	}
	arena := make([]byte, 0, size)
	for ; r.i < r.n; r.i++ {
		var rec Record
		r.set(&rec, &r.buf.recs[r.i], true)
		if rec.Data != nil {
			start := len(arena)
			arena = append(arena, rec.Data...)
			rec.Data = arena[start:len(arena):len(arena)]
		}
		r.spill = append(r.spill, rec)
	}
}

// firstPending is the sequence number of the first record read ahead and
// not returned yet, if any.
func (r *reader) firstPending() (uint64, bool) {
	if len(r.spill) > 0 {
		return r.spill[0].Seq, true
	}
	if r.i < r.n {
		return uint64(r.buf.recs[r.i].seq), true
	}
	return 0, false
}

// pending counts the records read ahead and not returned yet, and their
// payload bytes.
func (r *reader) pending() (n, bytes uint64) {
	for i := r.i; i < r.n; i++ {
		n++
		bytes += uint64(r.buf.recs[i].len)
	}
	for _, s := range r.spill {
		n++
		bytes += uint64(len(s.Data))
	}
	return n, bytes
}

// refill reads a new batch into buf: without waiting first, then (if wait)
// in the netpoller until something arrives or ctx is done.
func (r *reader) refill(ctx context.Context, wait bool) error {
	if r.term != nil {
		return r.term
	}
	r.i, r.n = 0, 0
	st := statusEmpty
	if r.wk == nil {
		if wait && r.caughtUp {
			r.spinPending()
		}
		st = r.fill()
		r.caughtUp = st != statusOK || int(r.buf.count) < batchCap
	} else {
		st = r.fillOrPark(ctx, wait)
	}
	if st == statusEmpty {
		switch {
		case r.interrupted.Swap(false):
			return ErrInterrupted
		case wait && r.wk != nil && r.st.closed():
			return r.closedErr
		case wait && r.wk != nil && ctx.Err() != nil:
			return ctx.Err()
		case wait: // no waker (a read-only log's cursor)
			var err error
			if st, err = r.wait(ctx); err != nil {
				return err
			}
		}
	}
	switch st {
	case statusOK:
		r.n = int(r.buf.count)
		return nil
	case statusLagged:
		return &LaggedError{Missed: uint64(r.buf.missed)}
	case statusClosed:
		r.term = r.src.closeStatus()
		if r.term == nil { // can't happen: CLOSED means the status is set
			r.term = ErrClosed
		}
		return r.term
	case statusInterrupted:
		if r.st.closed() {
			return r.closedErr
		}
		return ErrInterrupted
	case statusCorrupt:
		if cs, ok := r.src.(corruptionSource); ok {
			return cs.corruption()
		}
	}
	return statusError(st)
}

// fill reads what is available now into buf. A subscription's C handle
// is also taken, for a moment, by an Unsubscribe on another goroutine,
// during which a receive reports FANLOG_BUSY: try again.
func (r *reader) fill() status {
	for {
		st := r.src.fill(r.buf)
		if st != statusBusy {
			return st
		}
		runtime.Gosched()
	}
}

// spinRounds is how many times a reader that caught up yields its P,
// asking in between whether there is something new, before it reads
// (spinPending) or parks (yieldFor).
const spinRounds = 16

// spinPending (for readers without a waker) waits a little, without
// arming the readiness fd, for something to read. A read that finds
// nothing arms the fd, which costs the reader a membarrier (its side of
// the asymmetric fence) and the next appender a write to the eventfd,
// then the reader a park and a wake-up in the netpoller: every time the
// reader catches up. With more goroutines than Ps, the producer usually
// needs just the yields below to append (BenchmarkPeers at 8 B with 4
// subscribers on 2 Ps, the log, the log with AppendBatch and the hub, 2 M
// records each, when every reader waited this way: 52 k membarriers and
// 86 k eventfd writes without this, 11 k and 9 k with it).
func (r *reader) spinPending() {
	for k := 0; k < spinRounds && !r.interrupted.Load() && !r.st.closed(); k++ {
		if r.src.pending() {
			return
		}
		runtime.Gosched()
	}
}

// fillOrPark reads what is available now; if that is nothing and wait is
// set, it parks on the waker, in the Go scheduler, until an append (a
// publish, a close) through this package may have made something readable,
// and reads again. It returns statusEmpty if ctx is done or Close or
// Interrupt pokes the reader first.
//
// A reader with a waker never asks for its readiness fd, so a read that
// finds nothing arms nothing (no membarrier), and appends write to no
// eventfd: see waker, also for the protocol.
func (r *reader) fillOrPark(ctx context.Context, wait bool) status {
	w := r.wk
	for {
		p := r.pokes.Load()
		g := w.stamp(r.kinds)
		st := r.fill()
		if st == statusOK && r.room != nil && r.room.waiting.Load() != 0 {
			r.room.reads.Add(1)
		}
		if st != statusEmpty || !wait || r.interrupted.Load() || r.st.closed() || ctxErr(ctx) != nil {
			return st
		}
		r.emptyFills.Add(1)
		if r.yieldFor(g, p) {
			continue
		}
		w.register(r.wake, r.kinds)
		// The stamp and pokes again after registering: notify reads
		// waiters after its adds, and poke sends after counting itself.
		if w.stamp(r.kinds) == g && r.pokes.Load() == p {
			if done := ctx.Done(); done != nil {
				select {
				case <-r.wake:
				case <-done:
				}
			} else {
				<-r.wake
			}
		}
		w.unregister(r.wake)
	}
}

// yieldFor yields the P up to spinRounds times while the reader's stamp
// (see waker) is still g and no poke came since p, and reports whether
// either moved on.
// With more goroutines than Ps the producer usually appends within a few
// yields, so the reader reads again without parking, and the producer
// need not wake it.
func (r *reader) yieldFor(g, p uint64) bool {
	for k := 0; k < spinRounds; k++ {
		runtime.Gosched()
		if r.wk.stamp(r.kinds) != g || r.pokes.Load() != p {
			return true
		}
	}
	return false
}

// longAgo is a deadline in the past: setting it wakes a netpoller wait.
var longAgo = time.Unix(1, 0)

// wait (for readers without a waker: a read-only log's cursors) blocks in
// the netpoller until the readiness fd says there is something to return
// (then reads it without waiting), ctx is done, or Close or Interrupt
// pokes it.
//
// The fd is level-triggered from the reader's point of view: a read with
// timeout 0 that finds nothing re-arms it, and the library makes it
// readable when a record is committed (an event delivered) or the object
// is closed. The netpoller is edge-triggered, but every signal is a new
// write to the eventfd, hence a new edge, and the poll descriptor latches
// one that comes before we park. So: read with timeout 0 at the start of
// each RawConn.Read and each time the fd is reported readable, until that
// read returns something. We never read the eventfd ourselves (the
// library owns and drains it).
//
// Everything else that ends a wait sets a read deadline in the past on our
// duplicate of the fd: a context.AfterFunc for ctx, and poke for Close and
// Interrupt.
func (r *reader) wait(ctx context.Context) (status, error) {
	if r.rc == nil {
		if err := r.openReadiness(); err != nil {
			return 0, err
		}
		r.wakeFile.Store(r.file)
	}
	if ctx.Done() != nil {
		fired := make(chan struct{})
		f := r.file
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
		if err := r.file.SetReadDeadline(time.Time{}); err != nil {
			return 0, err
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if r.st.closed() {
			return 0, r.closedErr
		}
		if r.interrupted.Swap(false) {
			return 0, ErrInterrupted
		}
		// RawConn.Read forgets readiness the poller latched before the
		// call (it resets the poll descriptor), so the callback must
		// re-check before the first park: a signal between the caller's
		// read and this call would otherwise be lost (the eventfd stays
		// readable, and an edge-triggered poller reports it only once).
		st := statusEmpty
		err := r.rc.Read(func(uintptr) bool {
			st = r.fill()
			return st != statusEmpty
		})
		if err == nil {
			return st, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, fmt.Errorf("fanlog: waiting for the readiness fd: %w", err)
		}
		// Woken by ctx, Close or Interrupt: the loop finds out which.
	}
}

// openReadiness gets the readiness fd and registers a duplicate with the
// netpoller. The duplicate shares the eventfd (and its non-blocking flag);
// closing it does not affect the library's own fd.
//
// This is done one reader at a time per log (or hub), the others parked
// on a Go mutex. The library registers each new fd by copying the log's
// list of fds (RCU), so concurrent first waits of many cursors contend and
// calls run long; and a goroutine that stays in a C call or system call
// past a scheduler tick while other goroutines are runnable has its P
// handed to another thread, a new one if none is idle. Measured with 1,000
// cursors starting to wait at once: unserialized, up to 60 ms per call and
// over 100 OS threads; with only the C call serialized, still 50-100
// threads on a loaded 2-core machine; with the whole setup serialized,
// 6-11.
func (r *reader) openReadiness() error {
	r.fdMu.Lock()
	defer r.fdMu.Unlock()
	fd, st := r.src.readinessFd()
	if st != statusOK {
		return statusError(st)
	}
	dup, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return fmt.Errorf("%w: duplicating the readiness fd: %w", ErrOS, errno)
	}
	f := os.NewFile(dup, "fanlog-readiness")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	r.file, r.rc = f, rc
	return nil
}
