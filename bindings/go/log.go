package fanlog

// #include "fanlog_go.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Policy says what an append does when the log's byte budget
// (Options.MaxBytes) is used up.
type Policy uint32

const (
	// Block: the append waits until the slowest cursor has read enough for
	// a segment to be freed. No cursor ever misses a record. The default.
	Block Policy = C.FANLOG_OVERFLOW_BLOCK
	// DropOldest: the append never waits; the oldest segment is evicted,
	// and a cursor that had not read it gets a *LaggedError once and then
	// continues at the oldest retained record.
	DropOldest Policy = C.FANLOG_OVERFLOW_DROP_OLDEST
	// Reject: the append fails with ErrFull.
	Reject Policy = C.FANLOG_OVERFLOW_REJECT
)

func (p Policy) String() string {
	switch p {
	case Block:
		return "Block"
	case DropOldest:
		return "DropOldest"
	case Reject:
		return "Reject"
	}
	return fmt.Sprintf("Policy(%d)", uint32(p))
}

// Timestamps selects the clock that stamps records (Record.Time).
type Timestamps uint32

const (
	// TimestampsCoarse: the coarse realtime clock (~1-4 ms resolution,
	// cheap). The default.
	TimestampsCoarse Timestamps = C.FANLOG_TIMESTAMPS_COARSE
	// TimestampsPrecise: the precise realtime clock.
	TimestampsPrecise Timestamps = C.FANLOG_TIMESTAMPS_PRECISE
	// TimestampsOff: no timestamps; Record.Time is the zero time.
	TimestampsOff Timestamps = C.FANLOG_TIMESTAMPS_OFF
)

// Options configures a Log. The zero value of every field means the
// library's default, so Options{} is a valid configuration.
type Options struct {
	// SegmentSize is the size of one segment of the log in bytes: a power
	// of two from 256 B to 128 MiB. Zero means 1 MiB.
	SegmentSize int
	// MaxBytes is the byte budget for retained segments, at least two
	// segments. Zero means 64 MiB.
	MaxBytes int
	// RetainBytes is history kept even when no cursor needs it, so that a
	// late Subscribe(FromEarliest) or FromSeq can still read it. Zero
	// means none.
	RetainBytes int
	// MaxRecordSize is the largest payload accepted; at most SegmentSize
	// minus 24 bytes of framing. Zero means that maximum.
	MaxRecordSize int
	// Policy is what appends do when MaxBytes is used up. The zero value
	// is Block.
	Policy Policy
	// Timestamps selects the clock of Record.Time. The zero value is
	// TimestampsCoarse.
	Timestamps Timestamps
	// PoolSegments is how many free segments are kept for reuse. Zero
	// means 4; a negative value means none.
	PoolSegments int
}

// A Log is a broadcast log: many goroutines append byte records, every
// record gets a gap-free sequence number, and every Cursor reads every
// record in that order. All methods of Log are safe for concurrent use.
//
// Close the Log when the producing side is done; it tells every cursor
// the outcome (see Close). Cursors keep the log's memory alive and may
// outlive the Log value.
type Log struct {
	h       *logHandle
	cleanup cleanup
}

// logHandle is the state of a Log that its GC cleanup may see: nothing in
// it points back to the Log.
type logHandle struct {
	ptr    *C.fanlog_log
	st     refState
	policy Policy

	// pmu guards idle.
	pmu sync.Mutex
	// idle holds producers for AppendContext's interruptible waits.
	idle []*C.fanlog_producer

	// fdMu serializes readiness-fd creation by this log's cursors.
	fdMu *sync.Mutex
	// wk wakes this log's cursors parked in the Go scheduler after every
	// append and close (nil for a read-only log, appended to by another
	// process: its cursors wait on their fds).
	wk *waker
	// room lets appends that find no room under Block yield to this
	// log's cursors while they read (nil for a read-only log).
	room *roomHint

	// final is the close status, saved by Close before the handle goes.
	final atomic.Pointer[errBox]

	// failSync is a test seam, set only by the package's tests (through
	// export_test.go): no disk can be made to fail an msync on demand.
	// The next append to this log that succeeds is then reported as
	// SyncEveryBatch reports a failed msync: the log is closed with EIO
	// and the append returns statusSyncFailed with its sequence number.
	// One atomic load per append.
	failSync atomic.Bool
}

type errBox struct{ err error }

// maxIdleProducers bounds the producers kept for AppendContext.
const maxIdleProducers = 16

// NewLog creates a log.
func NewLog(opts Options) (*Log, error) {
	var o C.fanlog_log_options
	if st := C.fanlog_log_options_default(&o); st != statusOK {
		return nil, statusError(st)
	}
	if opts.SegmentSize < 0 || opts.MaxBytes < 0 || opts.RetainBytes < 0 || opts.MaxRecordSize < 0 {
		return nil, fmt.Errorf("%w: negative size in Options", ErrInvalidArgument)
	}
	switch opts.Policy {
	case Block, DropOldest, Reject:
	default:
		return nil, fmt.Errorf("%w: unknown %v", ErrInvalidArgument, opts.Policy)
	}
	switch opts.Timestamps {
	case TimestampsCoarse, TimestampsPrecise, TimestampsOff:
	default:
		return nil, fmt.Errorf("%w: unknown Timestamps(%d)", ErrInvalidArgument, uint32(opts.Timestamps))
	}
	if opts.SegmentSize != 0 {
		o.segment_size = C.size_t(opts.SegmentSize)
	}
	if opts.MaxBytes != 0 {
		o.max_bytes = C.size_t(opts.MaxBytes)
	}
	o.retain_bytes = C.size_t(opts.RetainBytes)
	o.max_record_size = C.size_t(opts.MaxRecordSize)
	o.overflow = C.uint32_t(opts.Policy)
	o.timestamps = C.uint32_t(opts.Timestamps)
	switch {
	case opts.PoolSegments > 0:
		o.pool_segments = C.uint32_t(min(opts.PoolSegments, 1<<31))
	case opts.PoolSegments < 0:
		o.pool_segments = 0
	}
	var p *C.fanlog_log
	switch st := C.fanlog_log_new(&o, &p); st {
	case statusOK:
	case statusInvalidArg:
		return nil, fmt.Errorf("%w: options rejected (SegmentSize must be a power of two "+
			"from 256 B to 128 MiB, MaxBytes at least two segments, MaxRecordSize at most "+
			"SegmentSize-24)", ErrInvalidArgument)
	default:
		return nil, statusError(st)
	}
	return newLogValue(p, opts.Policy, false), nil
}

// newLogValue wraps a new C log handle, with its GC cleanup.
func newLogValue(p *C.fanlog_log, policy Policy, readOnly bool) *Log {
	h := &logHandle{ptr: p, policy: policy, fdMu: new(sync.Mutex)}
	if !readOnly {
		h.wk = new(waker)
		h.room = new(roomHint)
	}
	h.st.free = h.free
	l := &Log{h: h}
	l.cleanup = addCleanup(l, (*logHandle).abandon, h)
	return l
}

// free releases the C handle and the idle producers (once, after Close
// and after the last call in flight).
func (h *logHandle) free() {
	h.pmu.Lock()
	idle := h.idle
	h.idle = nil
	h.pmu.Unlock()
	for _, p := range idle {
		C.fanlog_producer_free(p)
	}
	C.fanlog_log_free(h.ptr)
	h.ptr = nil
}

// abandon is the GC cleanup of a Log that was never closed: it closes the
// log with CodeAbandoned, so that cursors end instead of waiting for
// records nobody can append any more, and frees it.
func (h *logHandle) abandon() {
	if !h.st.closeIdle() {
		return
	}
	msg := C.CString("fanlog: Log was garbage-collected without Close")
	C.fanlog_log_close(h.ptr, C.int32_t(CodeAbandoned), msg)
	C.free(unsafe.Pointer(msg))
	h.wk.notifyAll()
	h.free()
}

// Append appends one record of kind 0 and returns its sequence number. The
// bytes are copied; data may be reused as soon as Append returns. Under
// the Block policy Append waits for room: while the log's cursors are
// reading, it yields its P to them and tries again; then it waits inside
// the library, occupying its OS thread (use AppendContext to be able to
// give up).
//
// While a single OS thread is the only one that has appended to the log,
// its appends take a cheaper path (no locked instruction); an append from
// a second OS thread ends that for good. The Go scheduler moves goroutines
// between OS threads, so a goroutine that is the log's only producer keeps
// the cheaper path only if it calls runtime.LockOSThread first.
//
// Errors: ErrClosed (the log was closed), ErrTooLarge, ErrFull (Reject);
// for durable logs ErrReadOnly, ErrIO (no segment file could be made) and
// a *SyncError (SyncEveryBatch: the record was appended, and its sequence
// number returned, but its sync failed and the log was closed; do not
// append it again). After every other error but ErrPanic (a bug in the
// library, caught; the log is closed) nothing was appended.
func (l *Log) Append(data []byte) (uint64, error) {
	return l.AppendKind(0, data)
}

// AppendKind is Append with an application-defined kind, which readers see
// as Record.Kind.
func (l *Log) AppendKind(kind uint32, data []byte) (uint64, error) {
	return l.append(kind, data, waitForever)
}

// TryAppend appends one record without waiting: if there is no room it
// fails with ErrFull, whatever the policy (under DropOldest too, when the
// tail segment is being replaced by another producer at that moment).
func (l *Log) TryAppend(kind uint32, data []byte) (uint64, error) {
	return l.append(kind, data, noWait)
}

func (l *Log) append(kind uint32, data []byte, timeout C.uint64_t) (uint64, error) {
	h := l.h
	if !h.st.acquire() {
		return 0, errLogClosed
	}
	try := func(t C.uint64_t) C.fanlog_go_seq_result {
		return C.fanlog_go_log_append(h.ptr, C.uint32_t(kind), cbytes(data), C.size_t(len(data)), t)
	}
	var r C.fanlog_go_seq_result
	if timeout == waitForever {
		r = h.appendBlocking(try)
	} else {
		r = try(timeout)
	}
	h.wk.notify()
	seq, err := h.appendResult(r, 1)
	h.st.release(shared)
	runtime.KeepAlive(l)
	return seq, err
}

// appendResult turns an append's status into Go's results: the sequence
// number with a nil error, the sequence number with a *SyncError (the
// records were appended, see ErrSyncFailed), or 0 with the error. Needs a
// reference (it reads the close status for the *SyncError).
func (h *logHandle) appendResult(r C.fanlog_go_seq_result, count int) (uint64, error) {
	if r.status == statusOK && h.failSync.Load() && h.failSync.CompareAndSwap(true, false) {
		r.status = h.failSyncNow(uint64(r.seq))
	}
	switch r.status {
	case statusOK:
		return uint64(r.seq), nil
	case statusSyncFailed:
		e := &SyncError{First: uint64(r.seq), Count: count}
		var ce *CloseError
		if errors.As(h.closeStatus(), &ce) {
			e.Code, e.Detail = ce.Code, ce.Message
		}
		return uint64(r.seq), e
	}
	return 0, statusError(r.status)
}

// failSyncNow closes the log as a failed msync does (see failSync).
func (h *logHandle) failSyncNow(seq uint64) status {
	msg := C.CString(fmt.Sprintf("the records from %d were appended but msync failed (injected by a test)", seq))
	C.fanlog_log_close(h.ptr, C.int32_t(syscall.EIO), msg)
	C.free(unsafe.Pointer(msg))
	h.wk.notifyAll()
	return statusSyncFailed
}

// AppendContext appends one record like AppendKind, but gives up when ctx
// is done (returning ctx.Err() and appending nothing). A record that was
// appended is never reported as ctx's error, even if ctx ends at the same
// time. Other errors are those of Append (a *SyncError included: the record
// was appended).
func (l *Log) AppendContext(ctx context.Context, kind uint32, data []byte) (uint64, error) {
	if ctx.Done() == nil {
		return l.AppendKind(kind, data)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	h := l.h
	if !h.st.acquire() {
		return 0, errLogClosed
	}
	try := func(t C.uint64_t) C.fanlog_go_seq_result {
		return C.fanlog_go_log_append(h.ptr, C.uint32_t(kind), cbytes(data), C.size_t(len(data)), t)
	}
	r := try(noWait)
	var err error
	if r.status == statusFull && h.policy == Block && h.room != nil {
		// Yield to the reading cursors first, as AppendKind does.
		if r2, ok := h.yieldRoom(ctx, try); ok {
			r = r2
		}
	}
	if r.status == statusFull && h.policy != Reject {
		// Block: wait for room. DropOldest: a producer never waits for
		// readers, but an append that must not wait at all can still find
		// the tail busy (another producer linking a segment); waiting
		// covers that too.
		r, err = h.appendWait(ctx, kind, data)
	}
	h.wk.notify()
	var seq uint64
	if err == nil {
		seq, err = h.appendResult(r, 1)
	}
	h.st.release(shared)
	runtime.KeepAlive(l)
	return seq, err
}

// appendWait waits for room through a producer handle whose interrupt
// cancels the wait when ctx is done. The interrupt is sticky (it would hit
// the producer's next append), so a producer that may have been
// interrupted is freed instead of reused.
func (h *logHandle) appendWait(ctx context.Context, kind uint32, data []byte) (C.fanlog_go_seq_result, error) {
	p, err := h.producer()
	if err != nil {
		return C.fanlog_go_seq_result{}, err
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		C.fanlog_producer_interrupt(p)
		close(fired)
	})
	r := C.fanlog_go_producer_append(p, C.uint32_t(kind), cbytes(data), C.size_t(len(data)), waitForever)
	if stop() {
		h.putProducer(p)
	} else {
		<-fired
		C.fanlog_producer_free(p)
	}
	if r.status == statusInterrupted {
		return r, ctx.Err()
	}
	return r, nil
}

func (h *logHandle) producer() (*C.fanlog_producer, error) {
	h.pmu.Lock()
	if n := len(h.idle); n > 0 {
		p := h.idle[n-1]
		h.idle = h.idle[:n-1]
		h.pmu.Unlock()
		return p, nil
	}
	h.pmu.Unlock()
	var p *C.fanlog_producer
	if st := C.fanlog_producer_new(h.ptr, &p); st != statusOK {
		return nil, statusError(st)
	}
	return p, nil
}

func (h *logHandle) putProducer(p *C.fanlog_producer) {
	h.pmu.Lock()
	if len(h.idle) < maxIdleProducers {
		h.idle = append(h.idle, p)
		p = nil
	}
	h.pmu.Unlock()
	if p != nil {
		C.fanlog_producer_free(p)
	}
}

// batchScratch holds one AppendBatch call's records for C: the payloads
// copied into one arena and the array of slices pointing into it, both in
// C memory. The cgo rules forbid passing C an array in Go memory that
// holds pointers to Go memory unless every target is pinned, and pinning
// costs about 100 ns per record (a span lock and a special record each);
// one copy costs a few. The library copies the bytes again into the log.
type batchScratch struct {
	slices *C.fanlog_slice
	nslice int // capacity of slices
	arena  *C.uint8_t
	narena int // capacity of arena
}

// batchPool keeps a few scratch buffers (C memory can't go in a
// sync.Pool, which drops items without telling).
var batchPool = make(chan *batchScratch, 8)

// maxPooledArena is the largest arena kept for reuse.
const maxPooledArena = 1 << 20

func getBatchScratch(records [][]byte) (*batchScratch, error) {
	var sc *batchScratch
	select {
	case sc = <-batchPool:
	default:
		sc = new(batchScratch)
	}
	size := 0
	for _, r := range records {
		size += len(r)
	}
	if sc.nslice < len(records) {
		C.free(unsafe.Pointer(sc.slices))
		n := max(len(records), 64)
		sc.slices = (*C.fanlog_slice)(C.malloc(C.size_t(n) * C.sizeof_fanlog_slice))
		sc.nslice = n
		if sc.slices == nil {
			sc.nslice = 0
			putBatchScratch(sc)
			return nil, ErrOS
		}
	}
	if sc.narena < size {
		C.free(unsafe.Pointer(sc.arena))
		n := max(size, 4096)
		sc.arena = (*C.uint8_t)(C.malloc(C.size_t(n)))
		sc.narena = n
		if sc.arena == nil {
			sc.narena = 0
			putBatchScratch(sc)
			return nil, ErrOS
		}
	}
	slices := unsafe.Slice(sc.slices, len(records))
	arena := unsafe.Slice((*byte)(unsafe.Pointer(sc.arena)), size)
	off := 0
	for i, r := range records {
		copy(arena[off:], r)
		slices[i] = C.fanlog_slice{len: C.size_t(len(r))}
		if len(r) > 0 {
			slices[i].data = (*C.uint8_t)(unsafe.Add(unsafe.Pointer(sc.arena), off))
		}
		off += len(r)
	}
	return sc, nil
}

func putBatchScratch(sc *batchScratch) {
	if sc.narena > maxPooledArena {
		C.free(unsafe.Pointer(sc.arena))
		sc.arena, sc.narena = nil, 0
	}
	select {
	case batchPool <- sc:
	default:
		C.free(unsafe.Pointer(sc.slices))
		C.free(unsafe.Pointer(sc.arena))
	}
}

// AppendBatch appends records (kind 0) with one reservation: they get
// contiguous sequence numbers, first is the first one, and no other
// producer's record comes between them. The whole batch (24 bytes of
// framing, 16 without timestamps, plus the payload rounded up to 8 bytes, per record) must fit in
// one segment, else nothing is appended and the error is ErrTooLarge
// (split it). Waits for room as Append does, and fails as Append does (a
// *SyncError names the batch: it was appended). An empty batch appends
// nothing and returns the next sequence number.
func (l *Log) AppendBatch(records [][]byte) (first uint64, err error) {
	return l.AppendBatchKind(0, records)
}

// AppendBatchKind is AppendBatch with one kind for every record.
func (l *Log) AppendBatchKind(kind uint32, records [][]byte) (first uint64, err error) {
	h := l.h
	if !h.st.acquire() {
		return 0, errLogClosed
	}
	sc, err := getBatchScratch(records)
	if err != nil {
		h.st.release(shared)
		return 0, err
	}
	res := h.appendBlocking(func(t C.uint64_t) C.fanlog_go_seq_result {
		return C.fanlog_go_log_append_batch(h.ptr, C.uint32_t(kind), sc.slices, C.size_t(len(records)), t)
	})
	h.wk.notify()
	putBatchScratch(sc)
	first, err = h.appendResult(res, len(records))
	h.st.release(shared)
	runtime.KeepAlive(l)
	return first, err
}

// Close closes the log with the completion status of the producing side:
// nil for success, or an error whose message (and code, see below) every
// cursor receives as a *CloseError after it has read every record appended
// before the close. A clean close makes cursors end with plain ErrClosed,
// like io.EOF. Blocked appends and reads wake up; later appends fail with
// ErrClosed. The error's code is taken from a *CloseError, or from a
// `Code() int32` method anywhere in its chain, else CodeUnspecified.
//
// Close is idempotent (the first status wins; later calls return nil) and
// safe to call concurrently with any other method. It also releases the
// log's C handle once calls in flight have returned; afterwards every
// method except Err returns an error that wraps ErrClosed. Cursors are not
// affected by that: they keep the log's memory alive.
func (l *Log) Close(err error) error {
	h := l.h
	if !h.st.acquire() {
		return nil
	}
	code, msg, clean := closeArgs(err)
	var cmsg *C.char
	if !clean {
		cmsg = C.CString(msg)
	}
	st := C.fanlog_log_close(h.ptr, C.int32_t(code), cmsg)
	h.wk.notifyAll()
	if cmsg != nil {
		C.free(unsafe.Pointer(cmsg))
	}
	h.final.Store(&errBox{h.closeStatus()})
	if h.st.markClosed() {
		l.cleanup.stop()
	}
	h.st.release(shared)
	runtime.KeepAlive(l)
	if st != statusOK && st != statusClosed {
		return statusError(st)
	}
	return nil
}

// Err returns nil while the log is open. Once it is closed it returns
// ErrClosed after a clean close, or a *CloseError with the status given to
// the first Close.
func (l *Log) Err() error {
	h := l.h
	if !h.st.acquire() {
		if b := h.final.Load(); b != nil {
			return b.err
		}
		return errLogClosed
	}
	err := h.closeStatus()
	h.st.release(shared)
	runtime.KeepAlive(l)
	return err
}

// closeStatus reads the close status (nil if open). Needs a reference.
func (h *logHandle) closeStatus() error {
	return readCloseStatus(func(code *C.int32_t, buf *C.char, cap C.size_t, n *C.size_t) status {
		return C.fanlog_log_close_status(h.ptr, code, buf, cap, n)
	})
}

// readCloseStatus reads a close status through get (the log's or a
// cursor's close_status function): nil if not closed.
func readCloseStatus(get func(code *C.int32_t, buf *C.char, cap C.size_t, n *C.size_t) status) error {
	var code C.int32_t
	var n C.size_t
	buf := make([]byte, 128)
	for {
		switch st := get(&code, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n); st {
		case statusOK:
			return closeStatusError(int32(code), string(buf[:n]))
		case statusEmpty:
			return nil
		case statusBufferTooSmall:
			buf = make([]byte, int(n)+1)
		default:
			return statusError(st)
		}
	}
}

// LogStats are a log's counters (see Log.Stats).
type LogStats struct {
	// RecordsAppended is the number of records appended (the next
	// sequence number).
	RecordsAppended uint64
	// BytesAppended is the framed size of everything appended (24-byte
	// header, 16 without timestamps, 32 when durable, plus payload, rounded
	// up to 8 bytes, per record).
	BytesAppended uint64
	// OldestSeq is the oldest retained sequence number.
	OldestSeq uint64
	// SegmentsEvicted counts segments dropped by the DropOldest policy.
	SegmentsEvicted uint64
	// RecordsMissed sums the records cursors were told they missed.
	RecordsMissed uint64
	// SegmentsRetained is the number of segments linked in the log.
	SegmentsRetained int
	// BytesRetained is the segment memory held (linked, plus segments
	// still leased by lagging cursors).
	BytesRetained int
	// PeakBytesRetained is the high-water mark of BytesRetained.
	PeakBytesRetained int
	// BytesAllocated is the segment memory allocated, pool included.
	BytesAllocated int
	// Cursors is the number of live cursors.
	Cursors int
	// Closed reports whether the log was closed.
	Closed bool
	// SegmentsReleased counts recycled segments whose memory went back
	// to the kernel; it stays near zero in steady state.
	SegmentsReleased uint64
}

// Stats returns the log's counters.
func (l *Log) Stats() (LogStats, error) {
	h := l.h
	if !h.st.acquire() {
		return LogStats{}, errLogClosed
	}
	var s C.fanlog_log_stats
	st := C.fanlog_log_get_stats(h.ptr, &s)
	h.st.release(shared)
	runtime.KeepAlive(l)
	if st != statusOK {
		return LogStats{}, statusError(st)
	}
	return LogStats{
		RecordsAppended:   uint64(s.records_appended),
		BytesAppended:     uint64(s.bytes_appended),
		OldestSeq:         uint64(s.oldest_seq),
		SegmentsEvicted:   uint64(s.segments_evicted),
		RecordsMissed:     uint64(s.records_missed),
		SegmentsRetained:  int(s.segments_retained),
		BytesRetained:     int(s.bytes_retained),
		PeakBytesRetained: int(s.peak_bytes_retained),
		BytesAllocated:    int(s.bytes_allocated),
		Cursors:           int(s.cursors),
		Closed:            s.closed != 0,
		SegmentsReleased:  uint64(s.segments_released),
	}, nil
}

// Start is where a new cursor begins: FromEarliest, FromLatest or
// FromSeq(n). The zero value is FromEarliest.
type Start struct {
	mode uint32
	seq  uint64
}

var (
	// FromEarliest starts at the oldest retained record.
	FromEarliest = Start{mode: C.FANLOG_START_EARLIEST}
	// FromLatest starts at the next record to be appended.
	FromLatest = Start{mode: C.FANLOG_START_LATEST}
)

// FromSeq starts at sequence number seq, which must be retained
// (ErrEvicted otherwise) and not in the future (ErrFuture; seq equal to
// the next sequence number is allowed).
func FromSeq(seq uint64) Start { return Start{mode: C.FANLOG_START_AT, seq: seq} }

// Subscribe creates a cursor that reads the log from the given start.
// While the cursor is open it holds the records from its position on:
// under the Block policy producers wait for it, so Close cursors you no
// longer read.
func (l *Log) Subscribe(from Start) (*Cursor, error) {
	h := l.h
	if !h.st.acquire() {
		return nil, errLogClosed
	}
	var p *C.fanlog_cursor
	st := C.fanlog_cursor_new(h.ptr, C.uint32_t(from.mode), C.uint64_t(from.seq), &p)
	h.st.release(shared)
	runtime.KeepAlive(l)
	if st != statusOK {
		return nil, statusError(st)
	}
	return newCursor(p, h.fdMu, h.wk, h.room)
}

// roomRounds bounds how many times yieldRoom tries again.
const roomRounds = 64

// appendBlocking makes an append that waits for room (try is one attempt
// with the given timeout): under Block it tries without waiting first, and
// on FULL yields to the cursors before it waits in the library (waitRoom).
func (h *logHandle) appendBlocking(try func(C.uint64_t) C.fanlog_go_seq_result) C.fanlog_go_seq_result {
	if h.policy != Block || h.room == nil {
		return try(waitForever)
	}
	r := try(noWait)
	if r.status == statusFull {
		r = h.waitRoom(try)
	}
	return r
}

// waitRoom is an append under Block that found no room (try(noWait)
// returned FULL): yieldRoom, then, if there is still no room, wait in the
// library as before.
func (h *logHandle) waitRoom(try func(C.uint64_t) C.fanlog_go_seq_result) C.fanlog_go_seq_result {
	if r, ok := h.yieldRoom(nil, try); ok {
		return r
	}
	return try(waitForever)
}

// yieldRoom follows an append under Block that found no room. A cgo call
// that waits keeps its P (until the runtime's monitor takes it away, tens
// of microseconds or more later), so the readers that would make room get
// one P less. So yield the P spinRounds times, and if a cursor read
// something meanwhile, try again without waiting (trying after every read
// was no faster in A/B runs, and makes more cgo calls: room comes a
// segment at a time). It returns the first result that is not FULL, and
// true; or, after a round of yields without a read, roomRounds rounds, or
// when ctx (may be nil) is done, false: the caller then waits in the
// library, whose wait is correct on its own. Readers that caught up do not
// read, so this never waits for them.
func (h *logHandle) yieldRoom(ctx context.Context, try func(C.uint64_t) C.fanlog_go_seq_result) (C.fanlog_go_seq_result, bool) {
	rh := h.room
	rh.waiting.Add(1)
	defer rh.waiting.Add(-1)
	for k := 0; k < roomRounds; k++ {
		n := rh.reads.Load()
		for j := 0; j < spinRounds; j++ {
			runtime.Gosched()
		}
		if rh.reads.Load() == n || (ctx != nil && ctxErr(ctx) != nil) {
			break
		}
		if r := try(noWait); r.status != statusFull {
			return r, true
		}
	}
	return C.fanlog_go_seq_result{}, false
}
