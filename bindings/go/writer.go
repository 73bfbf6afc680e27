package fanlog

// #include "fanlog_go.h"
import "C"

import (
	"errors"
	"runtime"
	"unsafe"
)

// WriterOptions configures a Writer. The zero value of every field means
// the default.
type WriterOptions struct {
	// MaxRecords is the most records a Writer holds before it appends
	// them: 1 to 256 (larger values mean 256). Zero means 64.
	MaxRecords int
	// MaxBytes bounds the records a Writer holds by the space they take in
	// the log (each payload plus its framing, see Writer). It is capped at
	// one segment, because the held records are appended as one batch.
	// Zero means 16 KiB.
	MaxBytes int
}

const (
	defaultWriterRecords = 64
	defaultWriterBytes   = 16 << 10
)

// A Writer appends records to a Log in batches, as a bufio.Writer writes
// to a file: Append copies the record into the Writer, and the records it
// holds reach the log together, as one batch (one call into the library
// and one reservation, as with AppendBatchKind), when
//
//   - it holds WriterOptions.MaxRecords records, or their frames would
//     exceed WriterOptions.MaxBytes;
//   - a record of another kind is appended;
//   - a Cursor of this Log value (in this process) is parked in Next or
//     NextBatch waiting for a record, so that an idle Go reader does not
//     wait for a batch to fill while the producer is still appending
//     (readers in C, Rust or other processes, and a Go reader in its first
//     yields, are not seen: they get the records at the next trigger);
//   - Flush is called.
//
// Held records are not readable yet, and have no sequence number: call
// Flush when a burst of appends ends (a Writer has no timer), and before
// Close. Records keep their order, and no other producer's record comes
// between the records of one batch. Each record costs the batch
// Limits().FrameLen(len(record)) bytes of one segment.
//
// Writer is for a goroutine that appends one record at a time: at 8 and
// 64 bytes each call into the library costs more than the append itself
// (see BENCHMARKS.md, "fanlog writer"). A Writer is not safe for
// concurrent use; give each producing goroutine its own. It holds no C
// memory and needs no Close. Appending the held records waits for room
// under the Block policy, as AppendBatch does, so Append and Write can
// wait too. A Writer of a log opened ReadOnly cannot be made.
//
// Errors. Append returns an error only when it did not take the record
// (the caller still has it, and every record held before stays held, see
// Buffered): ErrClosed once the Log was closed, ErrTooLarge for a record
// larger than the log accepts, or the error of appending the held records
// first (ErrFull under Reject while the log is full). When appending the
// held records fails after Append took the record, Append returns nil and
// keeps them; the next Append (or Flush) tries again first and reports the
// error if it fails again. A *SyncError (ErrSyncFailed: durable logs
// under SyncEveryBatch) is the one error after which records are not
// held: the records it names were appended, their sync failed, and the
// library closed the log. Flush returns it when its own batch hit it; when
// an Append's batch did, that Append took its record and returns nil, and
// the next Append (which then does not take its record) or Flush returns
// the *SyncError. So a non-nil error from Append always means the record
// was not taken, and no *SyncError goes unreported.
type Writer struct {
	l          *Log
	lim        Limits
	maxRecords int
	maxBytes   int

	kind   uint32
	buf    []byte     // the held payloads, back to back
	ends   []C.size_t // end of each held record in buf
	framed int        // bytes the held records take in a segment
	// failed is set when appending the held records failed after Append
	// took its record: the next Append flushes first.
	failed bool
	// pending is a *SyncError met after Append took its record, returned
	// by the next Append or Flush.
	pending error
}

// Limits are a log's size limits (see Log.Limits).
type Limits struct {
	// SegmentSize is the size of one segment: a batch is appended only
	// when its records' frames sum to at most this.
	SegmentSize int
	// MaxRecordSize is the largest payload of one record.
	MaxRecordSize int
	// FrameHeader is the framing before each payload: 16 bytes (a log
	// without timestamps), 24, or 32 (durable).
	FrameHeader int
	// FrameAlign: each frame is rounded up to a multiple of it (8).
	FrameAlign int
}

// FrameLen is the space a record of n payload bytes takes in a segment
// (of a log with these limits; the zero Limits give n).
func (m Limits) FrameLen(n int) int {
	align := max(m.FrameAlign, 1)
	return (m.FrameHeader + n + align - 1) / align * align
}

// Limits returns the log's size limits, which never change.
func (l *Log) Limits() (Limits, error) {
	h := l.h
	if !h.st.acquire() {
		return Limits{}, errLogClosed
	}
	var c C.fanlog_log_limits
	st := C.fanlog_log_get_limits(h.ptr, &c)
	h.st.release(shared)
	runtime.KeepAlive(l)
	if st != statusOK {
		return Limits{}, statusError(st)
	}
	return Limits{
		SegmentSize:   int(c.segment_size),
		MaxRecordSize: int(c.max_record_size),
		FrameHeader:   int(c.frame_header),
		FrameAlign:    int(c.frame_align),
	}, nil
}

// NewWriter returns a Writer that appends to l. Errors: ErrInvalidArgument
// for negative options, ErrReadOnly for a log opened ReadOnly, ErrClosed
// once the Log value was closed.
func (l *Log) NewWriter(opts WriterOptions) (*Writer, error) {
	if opts.MaxRecords < 0 || opts.MaxBytes < 0 {
		return nil, ErrInvalidArgument
	}
	if l.h.wk == nil { // only a read-only log has no waker
		return nil, ErrReadOnly
	}
	lim, err := l.Limits()
	if err != nil {
		return nil, err
	}
	w := &Writer{l: l, lim: lim, maxRecords: opts.MaxRecords, maxBytes: opts.MaxBytes}
	if w.maxRecords == 0 {
		w.maxRecords = defaultWriterRecords
	}
	if w.maxBytes == 0 {
		w.maxBytes = defaultWriterBytes
	}
	w.maxBytes = min(w.maxBytes, lim.SegmentSize)
	w.maxRecords = min(w.maxRecords, C.FANLOG_GO_PACKED_MAX)
	return w, nil
}

// Append takes a record of kind 0; see Writer for when it reaches the
// log. The bytes are copied: data may be reused as soon as Append returns.
// A non-nil error means the record was not taken.
func (w *Writer) Append(data []byte) error {
	return w.AppendKind(0, data)
}

// Write is Append for io.Writer: each call is one record (so an encoder
// that writes each value with one Write, such as json.Encoder, appends a
// record per value; an empty p is an empty record). It returns len(p) or,
// when the record was not taken, 0 and the error.
func (w *Writer) Write(p []byte) (int, error) {
	if err := w.AppendKind(0, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// AppendKind is Append with an application-defined kind. The records of a
// batch share one kind, so a change of kind appends the held records
// first.
func (w *Writer) AppendKind(kind uint32, data []byte) error {
	if err := w.takePending(); err != nil {
		return err
	}
	if w.l.h.st.closed() {
		return errLogClosed
	}
	if len(data) > w.lim.MaxRecordSize {
		return ErrTooLarge
	}
	fl := w.lim.FrameLen(len(data))
	n := len(w.ends)
	if w.failed || n > 0 && (kind != w.kind || n == w.maxRecords || w.framed+fl > w.maxBytes) {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if fl > w.maxBytes {
		// Larger than a batch may be: on its own (nothing is held now).
		_, err := w.l.AppendKind(kind, data)
		if errors.Is(err, ErrSyncFailed) {
			w.pending = err // appended: the record was taken
			return nil
		}
		return err
	}
	w.kind = kind
	w.buf = append(w.buf, data...)
	w.ends = append(w.ends, C.size_t(len(w.buf)))
	w.framed += fl
	if len(w.ends) == w.maxRecords || w.l.h.wk.hasWaiters() {
		if err := w.flush(); errors.Is(err, ErrSyncFailed) {
			w.pending = err
		} else {
			w.failed = err != nil
		}
	}
	return nil
}

// takePending returns (and forgets) a *SyncError met by an earlier Append.
func (w *Writer) takePending() error {
	err := w.pending
	w.pending = nil
	return err
}

// Flush appends the records the Writer holds, in one batch, waiting for
// room as AppendBatch does. On error (ErrClosed, ErrFull under Reject)
// nothing was appended and the records stay held, except for a *SyncError
// (see Writer): those records were appended, and are no longer held.
func (w *Writer) Flush() error {
	if err := w.takePending(); err != nil {
		return err
	}
	if len(w.ends) == 0 {
		w.failed = false
		return nil
	}
	err := w.flush()
	w.failed = err != nil && !errors.Is(err, ErrSyncFailed) // else nothing is held
	return err
}

// flush appends the held records with one call into the library: the
// payloads and their ends are passed as they are (Go memory without Go
// pointers, for the call only), so nothing is copied to C memory first.
func (w *Writer) flush() error {
	h := w.l.h
	if !h.st.acquire() {
		return errLogClosed
	}
	r := h.appendBlocking(func(t C.uint64_t) C.fanlog_go_seq_result {
		return C.fanlog_go_log_append_packed(h.ptr, C.uint32_t(w.kind), cbytes(w.buf),
			unsafe.SliceData(w.ends), C.size_t(len(w.ends)), t)
	})
	h.wk.notify()
	_, err := h.appendResult(r, len(w.ends))
	h.st.release(shared)
	runtime.KeepAlive(w.l)
	if err != nil && !errors.Is(err, ErrSyncFailed) {
		return err // nothing was appended: keep the records
	}
	// Appended (even when their sync failed): they are no longer held.
	w.buf, w.ends, w.framed = w.buf[:0], w.ends[:0], 0
	return err
}

// Buffered returns the number of records the Writer holds.
func (w *Writer) Buffered() int {
	return len(w.ends)
}

// Discard drops the records the Writer holds (after an error that will
// not go away, such as ErrClosed) and returns how many there were.
func (w *Writer) Discard() int {
	n := len(w.ends)
	w.buf, w.ends, w.framed, w.failed = w.buf[:0], w.ends[:0], 0, false
	return n
}
