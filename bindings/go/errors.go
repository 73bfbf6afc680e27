package fanlog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors returned by this package. Test for them with errors.Is: the error
// returned may wrap them (a *CloseError wraps ErrClosed, a *LaggedError
// matches ErrLagged). Contexts passed to blocking calls report their own
// errors (context.Canceled, context.DeadlineExceeded) unwrapped.
var (
	// ErrClosed: the log (hub) was closed (appends, publishes), a reader
	// has read everything appended (delivered) before the close or an
	// Unsubscribe (reads), or the Go value itself was closed (any call
	// after its Close). After a close with an error, reads return a
	// *CloseError, which wraps ErrClosed.
	ErrClosed = errors.New("fanlog: closed")
	// ErrEmpty: TryNext found nothing to read.
	ErrEmpty = errors.New("fanlog: empty: nothing to read right now")
	// ErrTimeout: a timeout given to the library passed. No method of this
	// package passes one today (context deadlines are reported as
	// context.DeadlineExceeded); it completes the mapping of the library's
	// statuses.
	ErrTimeout = errors.New("fanlog: timed out")
	// ErrLagged matches a *LaggedError: the cursor fell behind a
	// DropOldest log and records were dropped before it read them.
	ErrLagged = errors.New("fanlog: lagged: records were dropped before this cursor read them")
	// ErrFull: no room in the log's byte budget (TryAppend, or any append
	// under the Reject policy).
	ErrFull = errors.New("fanlog: full: no room in the byte budget")
	// ErrTooLarge: the record (or batch) is larger than the log accepts.
	ErrTooLarge = errors.New("fanlog: too large: record or batch exceeds the configured maximum")
	// ErrInterrupted: a read was interrupted (Cursor.Interrupt,
	// Subscription.Interrupt).
	ErrInterrupted = errors.New("fanlog: interrupted")
	// ErrEvicted: FromSeq named a record that is no longer retained.
	ErrEvicted = errors.New("fanlog: evicted: the requested sequence number is no longer retained")
	// ErrFuture: FromSeq named a record that has not been appended yet.
	ErrFuture = errors.New("fanlog: future: the requested sequence number has not been appended yet")
	// ErrBusy: a Cursor or Subscription was used by two goroutines at once
	// (they are single-consumer: create one per goroutine).
	ErrBusy = errors.New("fanlog: busy: in use by another goroutine (single-consumer)")
	// ErrInvalidArgument: an option or argument is out of range.
	ErrInvalidArgument = errors.New("fanlog: invalid argument")
	// ErrOS: the operating system refused (memory, file descriptors).
	ErrOS = errors.New("fanlog: operating system error")
	// ErrPanic: the library caught a panic (a bug in fanlog); the object
	// it happened in was closed.
	ErrPanic = errors.New("fanlog: panic caught at the C boundary (bug); the object was closed")

	// Errors of durable logs (OpenLog). Errors from OpenLog are
	// *OpenErrors, which wrap them and carry the library's message.

	// ErrLocked: another Log (in this process or another) has the
	// directory open for writing. Open it with OpenOptions.ReadOnly to
	// tail it instead.
	ErrLocked = errors.New("fanlog: locked: the log is open for writing elsewhere")
	// ErrCorrupt: data on disk is damaged. OpenLog reports it for synced
	// data (the message names the file and byte offset; a read-only open
	// can still read the records before it); a read reports it as a
	// *CorruptError, which matches ErrCorrupt.
	ErrCorrupt = errors.New("fanlog: corrupt: data on disk is damaged")
	// ErrReadOnly: an append (or Flush) on a log opened read-only.
	ErrReadOnly = errors.New("fanlog: read-only: the log was opened read-only")
	// ErrNotDurable: the method needs a log from OpenLog, not NewLog.
	ErrNotDurable = errors.New("fanlog: not durable: the log was not opened from a directory")
	// ErrNotNamed: Commit, CommitPosition, Committed or SetAutoCommit on a
	// cursor from Subscribe (they need SubscribeNamed).
	ErrNotNamed = errors.New("fanlog: not named: the cursor has no name")
	// ErrNotRead: Commit named a record the cursor has not returned yet.
	ErrNotRead = errors.New("fanlog: not read: the cursor has not returned that record yet")
	// ErrCursorInUse: SubscribeNamed (or RemoveCursor) found a cursor of
	// that name open in this process.
	ErrCursorInUse = errors.New("fanlog: cursor in use: a cursor of that name is already open")
	// ErrFormat: the directory does not hold a log this build can open as
	// asked (not a fanlog log, or another segment size than asked).
	ErrFormat = errors.New("fanlog: format: not a fanlog log this build can open")
	// ErrIO: a file operation failed (missing directory, permissions, no
	// space left on device). From an append: nothing was appended (the
	// next segment file could not be made), and it may be retried.
	ErrIO = errors.New("fanlog: I/O error: a file operation failed")
	// ErrSyncFailed matches a *SyncError: under SyncEveryBatch the records
	// were appended (cursors read them) but the sync that makes them
	// durable failed, and the library closed the log. Do not append them
	// again: that would duplicate them.
	ErrSyncFailed = errors.New("fanlog: sync failed: the records were appended but not made durable; the log was closed")
)

// SyncError reports an append under SyncEveryBatch whose records were
// appended but could not be synced: the library closed the log (Log.Err
// returns the *CloseError, with the errno as its Code). The append's
// first result is valid too. errors.Is(err, ErrSyncFailed) holds;
// errors.Is(err, ErrIO) does not (ErrIO from an append means nothing was
// appended).
type SyncError struct {
	// First is the sequence number of the append's first record.
	First uint64
	// Count is the number of records of the append (1 for Append).
	Count int
	// Code is the errno the sync failed with (0 if unknown).
	Code int32
	// Detail is the library's message.
	Detail string
}

func (e *SyncError) Error() string {
	s := fmt.Sprintf("fanlog: %d record(s) from sequence number %d were appended, but their sync failed and the log was closed", e.Count, e.First)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is reports whether target is ErrSyncFailed.
func (e *SyncError) Is(target error) bool { return target == ErrSyncFailed }

// CorruptError reports a damaged record of a durable log: every record
// before it was returned, and the cursor stays at it (every later read
// returns the same error). errors.Is(err, ErrCorrupt) holds.
type CorruptError struct {
	// Seq is the sequence number of the damaged record.
	Seq uint64
	// Detail names the file and byte offset and says what is wrong.
	Detail string
}

func (e *CorruptError) Error() string {
	return "fanlog: record " + strconv.FormatUint(e.Seq, 10) + " is corrupt: " + e.Detail
}

// Is reports whether target is ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// OpenError is an error of OpenLog: Err is the sentinel (ErrLocked,
// ErrCorrupt, ErrFormat, ErrIO, ErrInvalidArgument...), which it wraps,
// and Detail the library's message (the file and byte offset of damaged
// data, the lock file, the system error...).
type OpenError struct {
	// Dir is the directory passed to OpenLog.
	Dir string
	// Err is the sentinel error.
	Err error
	// Detail is what the library says is wrong.
	Detail string
}

func (e *OpenError) Error() string {
	if e.Detail == "" {
		return "fanlog: open " + e.Dir + ": " + e.Err.Error()
	}
	return "fanlog: open " + e.Dir + ": " + e.Detail
}

// Unwrap returns Err.
func (e *OpenError) Unwrap() error { return e.Err }

// LaggedError reports that a cursor fell behind a DropOldest log: Missed
// records were evicted before it read them. The cursor continues at the
// oldest retained record; call Next again. errors.Is(err, ErrLagged) holds.
type LaggedError struct {
	// Missed is how many records this cursor will never see.
	Missed uint64
}

func (e *LaggedError) Error() string {
	return "fanlog: lagged: missed " + strconv.FormatUint(e.Missed, 10) + " records"
}

// Is reports whether target is ErrLagged.
func (e *LaggedError) Is(target error) bool { return target == ErrLagged }

// CloseError is the completion status of a producer's run that failed: the
// error code and message given to Log.Close. Every cursor returns it (after
// reading every record appended before the close) instead of plain
// ErrClosed, which it wraps: errors.Is(err, ErrClosed) holds.
//
// A *CloseError passed to Log.Close is forwarded as is (code and message),
// so a status can be relayed from one log to another.
type CloseError struct {
	// Code is the application's error code (CodeUnspecified if the error
	// given to Close had no Code method).
	Code int32
	// Message is the error's message.
	Message string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("fanlog: closed with error (code %d): %s", e.Code, e.Message)
}

// Unwrap returns ErrClosed.
func (e *CloseError) Unwrap() error { return ErrClosed }

// CodeUnspecified is the close code used for an error that carries no code
// (one without a `Code() int32` method).
const CodeUnspecified int32 = -1

// CodeAbandoned is the close code of a Log that was garbage-collected
// without Close: its cursors end with a *CloseError with this code instead
// of waiting forever.
const CodeAbandoned int32 = -2

// closedHandleError is returned by calls on a Log or Cursor after its
// Close: it wraps ErrClosed but says which object was closed.
type closedHandleError struct{ what string }

func (e *closedHandleError) Error() string { return "fanlog: use of closed " + e.what }
func (e *closedHandleError) Unwrap() error { return ErrClosed }

var (
	errLogClosed    error = &closedHandleError{"Log"}
	errCursorClosed error = &closedHandleError{"Cursor"}
)

// statusError maps a status code to an error (nil for FANLOG_OK). Statuses
// that need context (LAGGED, CLOSED with a status) are handled by callers.
func statusError(st status) error {
	switch st {
	case statusOK:
		return nil
	case statusEmpty:
		return ErrEmpty
	case statusTimeout:
		return ErrTimeout
	case statusClosed:
		return ErrClosed
	case statusLagged:
		return ErrLagged
	case statusFull:
		return ErrFull
	case statusTooLarge:
		return ErrTooLarge
	case statusInterrupted:
		return ErrInterrupted
	case statusEvicted:
		return ErrEvicted
	case statusFuture:
		return ErrFuture
	case statusBusy:
		return ErrBusy
	case statusInvalidArg:
		return ErrInvalidArgument
	case statusOSError:
		return ErrOS
	case statusReadOnly:
		return ErrReadOnly
	case statusCorrupt:
		return ErrCorrupt
	case statusLocked:
		return ErrLocked
	case statusNotDurable:
		return ErrNotDurable
	case statusNotNamed:
		return ErrNotNamed
	case statusNotRead:
		return ErrNotRead
	case statusCursorInUse:
		return ErrCursorInUse
	case statusFormat:
		return ErrFormat
	case statusIOError:
		return ErrIO
	case statusSyncFailed:
		return ErrSyncFailed
	case statusPanic:
		return ErrPanic
	default:
		// NULL_ARGUMENT, INVALID_HANDLE, BUFFER_TOO_SMALL: the binding
		// never causes them; report the library's words if one appears.
		return fmt.Errorf("fanlog: unexpected status %d: %s", uint32(st), statusString(st))
	}
}

// closeArgs turns the error given to Log.Close into a C close status.
// A nil error is a clean close. Otherwise the message is never empty, so
// that the status can't be mistaken for a clean one; NUL bytes, which would
// end it early in C, are written as the four characters \x00.
func closeArgs(err error) (code int32, msg string, ok bool) {
	if err == nil {
		return 0, "", true
	}
	if ce, ok := err.(*CloseError); ok { // relayed as is
		code, msg = ce.Code, ce.Message
	} else {
		code, msg = CodeUnspecified, err.Error()
		var coder interface{ Code() int32 }
		var wrapped *CloseError
		if errors.As(err, &coder) {
			code = coder.Code()
		} else if errors.As(err, &wrapped) {
			code = wrapped.Code
		}
	}
	msg = strings.ReplaceAll(msg, "\x00", `\x00`)
	if msg == "" {
		msg = "unspecified error"
	}
	return code, msg, false
}

// closeStatusError is what a reader sees once drained: ErrClosed after a
// clean close, a *CloseError otherwise.
func closeStatusError(code int32, msg string) error {
	if code == 0 && msg == "" {
		return ErrClosed
	}
	return &CloseError{Code: code, Message: msg}
}
