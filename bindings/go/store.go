package fanlog

// #include "fanlog_go.h"
import "C"

import (
	"fmt"
	"runtime"
	"time"
	"unsafe"
)

// SyncPolicy says when a durable log syncs its files to disk. Every record
// whose append returned survives a crash of the process under any policy
// (the files are shared memory mappings owned by the kernel); the policy
// decides what survives power loss or a kernel crash.
type SyncPolicy uint32

const (
	// SyncNone: never on its own; Log.Flush syncs on demand. After power
	// loss, what the kernel had written back survives, plus everything
	// before the last Flush. The default.
	SyncNone SyncPolicy = C.FANLOG_SYNC_NONE
	// SyncInterval: a background thread flushes every
	// OpenOptions.SyncEvery.
	SyncInterval SyncPolicy = C.FANLOG_SYNC_INTERVAL
	// SyncEveryBatch: every append (and batch) is on disk before it
	// returns without error. If the msync fails, the append returns a
	// *SyncError (the records were appended; the log is closed).
	SyncEveryBatch SyncPolicy = C.FANLOG_SYNC_EVERY_BATCH
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncNone:
		return "SyncNone"
	case SyncInterval:
		return "SyncInterval"
	case SyncEveryBatch:
		return "SyncEveryBatch"
	}
	return fmt.Sprintf("SyncPolicy(%d)", uint32(p))
}

// Verify says how much OpenLog checks.
type Verify uint32

const (
	// VerifyFromCheckpoint scans the frames after the last checkpoint
	// (written by Flush): a fast open. Older records are checked when a
	// cursor reads them. The default.
	VerifyFromCheckpoint Verify = C.FANLOG_VERIFY_FROM_CHECKPOINT
	// VerifyAll scans and checks every record of every segment.
	VerifyAll Verify = C.FANLOG_VERIFY_ALL
)

// OpenOptions configures OpenLog. The zero value of every field means the
// default, so a nil *OpenOptions (or &OpenOptions{}) is a valid
// configuration.
type OpenOptions struct {
	// SegmentSize is the size of one segment file's records in bytes: a
	// power of two from 256 B to 128 MiB. Zero means the existing log's
	// size, or 1 MiB for a new log; another size than an existing log's
	// is an error (ErrFormat).
	SegmentSize int
	// MaxBytes is the byte budget of segment files, at least two
	// segments. Zero means 64 segments.
	MaxBytes int
	// RetainBytes is history kept when no cursor needs it. Zero means as
	// much as MaxBytes; a negative value means none.
	RetainBytes int
	// MaxRecordSize is the largest payload accepted; at most SegmentSize
	// minus 32 bytes of framing. Zero means that maximum.
	MaxRecordSize int
	// Policy is what appends do when MaxBytes is used up. A named cursor
	// holds the records it has not committed, also while it is closed.
	// Read-only logs always drop the oldest segment.
	Policy Policy
	// Timestamps selects the clock of Record.Time.
	Timestamps Timestamps
	// Sync is when the log syncs to disk (see SyncPolicy).
	Sync SyncPolicy
	// SyncEvery is the flush interval of SyncInterval (required then).
	SyncEvery time.Duration
	// Verify is how much OpenLog checks.
	Verify Verify
	// ReadOnly opens the log to tail it: appends fail with ErrReadOnly,
	// and a reader sees what a writer (a Log in this or another process)
	// appends within PollInterval. Any number of read-only Logs may be
	// open beside the one writer.
	ReadOnly bool
	// NoCreate makes OpenLog fail (ErrIO) instead of creating a missing
	// directory and an empty log.
	NoCreate bool
	// MaxAge deletes sealed segments older than this, even if named
	// cursors have not committed them. Zero means no age limit.
	MaxAge time.Duration
	// PollInterval is how often a read-only log looks for the writer's
	// progress. Zero means 1 ms; at least 10 µs.
	PollInterval time.Duration
}

// cOptions converts the options, checking what C can't see.
func (o *OpenOptions) cOptions() (C.fanlog_open_options, error) {
	var c C.fanlog_open_options
	if st := C.fanlog_open_options_init(&c); st != statusOK {
		return c, statusError(st)
	}
	if o == nil {
		return c, nil
	}
	if o.SegmentSize < 0 || o.MaxBytes < 0 || o.MaxRecordSize < 0 {
		return c, fmt.Errorf("%w: negative size in OpenOptions", ErrInvalidArgument)
	}
	if o.SyncEvery < 0 || o.MaxAge < 0 || o.PollInterval < 0 {
		return c, fmt.Errorf("%w: negative duration in OpenOptions", ErrInvalidArgument)
	}
	c.segment_size = C.size_t(o.SegmentSize)
	c.max_bytes = C.size_t(o.MaxBytes)
	switch {
	case o.RetainBytes > 0:
		c.retain_bytes = C.size_t(o.RetainBytes)
	case o.RetainBytes < 0:
		c.retain_bytes = 0
	}
	c.max_record_size = C.size_t(o.MaxRecordSize)
	c.overflow = C.uint32_t(o.Policy)
	c.timestamps = C.uint32_t(o.Timestamps)
	c.sync = C.uint32_t(o.Sync)
	c.sync_interval_ns = C.uint64_t(o.SyncEvery)
	c.verify = C.uint32_t(o.Verify)
	if o.ReadOnly {
		c.read_only = 1
	}
	if o.NoCreate {
		c.create = 0
	}
	c.max_age_ns = C.uint64_t(o.MaxAge)
	if o.PollInterval != 0 {
		c.poll_interval_ns = C.uint64_t(o.PollInterval)
	}
	return c, nil
}

// OpenLog opens (or creates) the durable log in directory dir: a Log
// whose records live in memory-mapped segment files, recovered when it is
// opened again (see Log.Recovery). opts may be nil for the defaults. Every
// method of Log and Cursor works on it; Flush, Recovery, SubscribeNamed
// and RemoveCursor need it.
//
// One Log at a time may have a directory open for writing (ErrLocked for
// the next, in this process or another), until it is closed and every
// cursor of it too. Close marks the log closed on disk (read-only logs
// see it); opening it again for writing continues the sequence. A writer
// that ends without Close (a crash, a kill) loses no record whose append
// returned (see SyncPolicy for power loss).
//
// Errors are *OpenErrors wrapping ErrLocked, ErrCorrupt, ErrFormat, ErrIO
// or ErrInvalidArgument.
func OpenLog(dir string, opts *OpenOptions) (*Log, error) {
	o, err := opts.cOptions()
	if err != nil {
		return nil, &OpenError{Dir: dir, Err: err}
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	msg := make([]byte, 512+len(dir))
	var p *C.fanlog_log
	st := C.fanlog_log_open(cdir, &o, &p, (*C.char)(unsafe.Pointer(&msg[0])), C.size_t(len(msg)))
	if st != statusOK {
		return nil, &OpenError{Dir: dir, Err: statusError(st), Detail: C.GoString((*C.char)(unsafe.Pointer(&msg[0])))}
	}
	policy, readOnly := Block, false
	if opts != nil {
		policy, readOnly = opts.Policy, opts.ReadOnly
	}
	return newLogValue(p, policy, readOnly), nil
}

// Flush returns once every record appended before the call is on disk,
// with the named cursors' commits, and writes a checkpoint that makes the
// next OpenLog fast. It waits on its OS thread for the disk.
//
// Errors: ErrNotDurable, ErrReadOnly, ErrIO, ErrClosed after Close.
func (l *Log) Flush() error {
	h := l.h
	if !h.st.acquire() {
		return errLogClosed
	}
	st := C.fanlog_log_flush(h.ptr)
	h.st.release(shared)
	runtime.KeepAlive(l)
	return statusError(st)
}

// Recovery is what OpenLog found in the directory.
type Recovery struct {
	// Segments is the number of segment files kept.
	Segments int
	// FirstSeq is the oldest sequence number retained.
	FirstSeq uint64
	// NextSeq is the next sequence number to be appended.
	NextSeq uint64
	// CheckpointSeq is the checkpoint the scan started from, if
	// HasCheckpoint.
	CheckpointSeq uint64
	// HasCheckpoint reports whether a checkpoint was found.
	HasCheckpoint bool
	// ScannedRecords and ScannedBytes count the records checked.
	ScannedRecords, ScannedBytes uint64
	// DroppedRecords and DroppedBytes count what was cut with a torn
	// tail (records being written when a writer crashed).
	DroppedRecords, DroppedBytes uint64
	// TruncatedFile is the file where a torn tail was cut ("" if none),
	// at byte TruncatedOffset.
	TruncatedFile   string
	TruncatedOffset uint64
	// Corruption is what a read-only open found damaged before the
	// checkpoint ("" if nothing); cursors get a *CorruptError there.
	Corruption string
	// Elapsed is how long recovery took.
	Elapsed time.Duration
}

// Recovery returns what OpenLog found (ErrNotDurable for a log from
// NewLog).
func (l *Log) Recovery() (Recovery, error) {
	h := l.h
	if !h.st.acquire() {
		return Recovery{}, errLogClosed
	}
	defer runtime.KeepAlive(l)
	defer h.st.release(shared)
	var r C.fanlog_recovery
	if st := C.fanlog_log_recovery(h.ptr, &r); st != statusOK {
		return Recovery{}, statusError(st)
	}
	out := Recovery{
		Segments:        int(r.segments),
		FirstSeq:        uint64(r.first_seq),
		NextSeq:         uint64(r.next_seq),
		CheckpointSeq:   uint64(r.checkpoint_seq),
		HasCheckpoint:   r.has_checkpoint != 0,
		ScannedRecords:  uint64(r.scanned_records),
		ScannedBytes:    uint64(r.scanned_bytes),
		DroppedRecords:  uint64(r.dropped_records),
		DroppedBytes:    uint64(r.dropped_bytes),
		TruncatedOffset: uint64(r.truncated_offset),
		Elapsed:         time.Duration(r.elapsed_ns),
	}
	var err error
	if r.truncated != 0 {
		out.TruncatedFile, err = h.recoveryText(C.FANLOG_RECOVERY_TRUNCATED_PATH)
	}
	if r.corrupt != 0 && err == nil {
		out.Corruption, err = h.recoveryText(C.FANLOG_RECOVERY_CORRUPTION)
	}
	return out, err
}

// recoveryText reads one text of the recovery report. Needs a reference.
func (h *logHandle) recoveryText(what C.uint32_t) (string, error) {
	return readText(func(buf *C.char, cap C.size_t, n *C.size_t) status {
		return C.fanlog_log_recovery_text(h.ptr, what, buf, cap, n)
	})
}

// readText reads a string through get (a copy-out function of the
// library), growing the buffer as it asks.
func readText(get func(buf *C.char, cap C.size_t, n *C.size_t) status) (string, error) {
	var n C.size_t
	buf := make([]byte, 256)
	for {
		switch st := get((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n); st {
		case statusOK:
			return string(buf[:n]), nil
		case statusBufferTooSmall:
			buf = make([]byte, int(n)+1)
		default:
			return "", statusError(st)
		}
	}
}

// SubscribeNamed creates a named cursor on a durable log: it resumes
// after the last record committed under name (by this process or an
// earlier run; see Cursor.Commit). from applies only when name is new;
// a new name commits its start at once, so that a consumer that dies
// before its first commit loses nothing. If the committed position was
// deleted meanwhile (MaxAge, or DropOldest), the first read returns a
// *LaggedError. Retention keeps what a name has not committed, also
// while no cursor of that name is open: under Block a name nobody reads
// any more holds producers back; delete it with RemoveCursor.
//
// A name is 1-128 characters of [A-Za-z0-9._-], not starting with '.'.
//
// Errors: ErrInvalidArgument (name), ErrCursorInUse (a cursor of that
// name is open in this process), ErrEvicted, ErrFuture, ErrNotDurable,
// ErrIO, ErrClosed after Close.
func (l *Log) SubscribeNamed(name string, from Start) (*Cursor, error) {
	h := l.h
	if !h.st.acquire() {
		return nil, errLogClosed
	}
	cname := C.CString(name)
	var p *C.fanlog_cursor
	st := C.fanlog_log_cursor_named(h.ptr, cname, C.uint32_t(from.mode), C.uint64_t(from.seq), &p)
	C.free(unsafe.Pointer(cname))
	h.st.release(shared)
	runtime.KeepAlive(l)
	if st != statusOK {
		if st == statusInvalidArg {
			return nil, fmt.Errorf("%w: cursor name %q (use 1-128 of [A-Za-z0-9._-], "+
				"not starting with '.')", ErrInvalidArgument, name)
		}
		return nil, statusError(st)
	}
	c, err := newCursor(p, h.fdMu, h.wk, h.room)
	if err != nil {
		return nil, err
	}
	c.isNamed = true
	return c, nil
}

// RemoveCursor deletes the named cursor name of a durable log: its
// committed position is forgotten and no longer holds retention. It
// reports whether there was one.
//
// Errors: ErrCursorInUse (a cursor of that name is open),
// ErrInvalidArgument, ErrNotDurable, ErrIO, ErrClosed after Close.
func (l *Log) RemoveCursor(name string) (bool, error) {
	h := l.h
	if !h.st.acquire() {
		return false, errLogClosed
	}
	cname := C.CString(name)
	var removed C.bool
	st := C.fanlog_log_remove_cursor(h.ptr, cname, &removed)
	C.free(unsafe.Pointer(cname))
	h.st.release(shared)
	runtime.KeepAlive(l)
	if st != statusOK {
		return false, statusError(st)
	}
	return bool(removed), nil
}

// corruption reads the damaged record behind the last FANLOG_CORRUPT.
func (s cursorSource) corruption() error {
	var seq C.uint64_t
	detail, err := readText(func(buf *C.char, cap C.size_t, n *C.size_t) status {
		return C.fanlog_cursor_corruption(s.ptr, &seq, buf, cap, n)
	})
	if err != nil {
		return ErrCorrupt
	}
	return &CorruptError{Seq: uint64(seq), Detail: detail}
}

// Commit records that the records up to and including seq are processed:
// a cursor opened later under the same name (after a restart, say)
// resumes at seq+1. It survives a crash of the process at once, and power
// loss after the next Flush (or sync interval). Committing backwards is
// allowed. Commit is a call on the cursor like Next (single-consumer);
// records from the View methods stay valid.
//
// Errors: ErrNotNamed (a cursor from Subscribe), ErrNotRead (seq was not
// returned by this cursor yet), ErrBusy, an error wrapping ErrClosed
// after Close.
func (c *Cursor) Commit(seq uint64) error {
	return c.named(func(r *reader, p *C.fanlog_cursor) error {
		// Records read ahead are not returned yet: the library can't
		// tell them apart.
		if first, ok := r.firstPending(); ok && seq >= first {
			return ErrNotRead
		}
		return statusError(C.fanlog_cursor_commit(p, C.uint64_t(seq)))
	})
}

// CommitPosition commits every record this cursor returned so far.
// Errors as for Commit (except ErrNotRead).
func (c *Cursor) CommitPosition() error {
	return c.named(func(r *reader, _ *C.fanlog_cursor) error {
		return r.commitReturned()
	})
}

// Committed returns the committed position under the cursor's name: the
// next sequence number a cursor opened under it would return (ok false if
// nothing is committed).
// Errors as for Commit.
func (c *Cursor) Committed() (next uint64, ok bool, err error) {
	err = c.named(func(_ *reader, p *C.fanlog_cursor) error {
		var v C.uint64_t
		switch st := C.fanlog_cursor_committed(p, &v); st {
		case statusOK:
			next, ok = uint64(v), true
		case statusEmpty:
		default:
			return statusError(st)
		}
		return nil
	})
	return next, ok, err
}

// SetAutoCommit turns automatic commits on or off (the default). With
// them on, each read (Next, NextBatch, TryNext, All...) first commits
// every record returned by earlier reads, and Close commits everything
// returned: at-least-once delivery, a record is committed once you ask
// for the next one.
// Errors as for Commit.
func (c *Cursor) SetAutoCommit(on bool) error {
	return c.named(func(r *reader, _ *C.fanlog_cursor) error {
		r.autoCommit = on
		return nil
	})
}

// named runs f as a consumer call on a named cursor.
func (c *Cursor) named(f func(r *reader, p *C.fanlog_cursor) error) error {
	r := c.r
	if err := r.st.acquireExclusive(r.closedErr); err != nil {
		return err
	}
	err := ErrNotNamed
	if c.isNamed {
		err = f(r, r.src.(cursorSource).ptr)
	}
	r.st.release(exclusive)
	runtime.KeepAlive(c)
	return err
}

// commitReturned commits the records returned so far (not those read
// ahead). Needs the consumer's exclusive reference, or the free.
func (r *reader) commitReturned() error {
	p := r.src.(cursorSource).ptr
	first, ok := r.firstPending()
	switch {
	case !ok:
		return statusError(C.fanlog_cursor_commit_position(p))
	case first == 0:
		return nil // nothing returned yet
	default:
		return statusError(C.fanlog_cursor_commit(p, C.uint64_t(first-1)))
	}
}
