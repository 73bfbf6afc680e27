package fanlog

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/../../target/release/libfanlog.a -lpthread -ldl -lm
#include "fanlog_go.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ABIVersion is the version of the C ABI this package was compiled against
// (FANLOG_ABI_VERSION in include/fanlog.h).
const ABIVersion = C.FANLOG_ABI_VERSION

// waitForever is FANLOG_WAIT_FOREVER (UINT64_MAX) as a C timeout.
const waitForever = C.uint64_t(^uint64(0))

// noWait is FANLOG_NO_WAIT.
const noWait = C.uint64_t(C.FANLOG_NO_WAIT)

// batchCap is how many records a cursor fetches per C call.
const batchCap = C.FANLOG_GO_BATCH

// status is a fanlog_status code.
type status = C.fanlog_status

// The status codes of include/fanlog.h.
const (
	statusOK             status = C.FANLOG_OK
	statusEmpty          status = C.FANLOG_EMPTY
	statusTimeout        status = C.FANLOG_TIMEOUT
	statusClosed         status = C.FANLOG_CLOSED
	statusLagged         status = C.FANLOG_LAGGED
	statusFull           status = C.FANLOG_FULL
	statusTooLarge       status = C.FANLOG_TOO_LARGE
	statusBufferTooSmall status = C.FANLOG_BUFFER_TOO_SMALL
	statusInterrupted    status = C.FANLOG_INTERRUPTED
	statusEvicted        status = C.FANLOG_EVICTED
	statusFuture         status = C.FANLOG_FUTURE
	statusReadOnly       status = C.FANLOG_READ_ONLY
	statusCorrupt        status = C.FANLOG_CORRUPT
	statusLocked         status = C.FANLOG_LOCKED
	statusNotDurable     status = C.FANLOG_NOT_DURABLE
	statusNotNamed       status = C.FANLOG_NOT_NAMED
	statusNotRead        status = C.FANLOG_NOT_READ
	statusCursorInUse    status = C.FANLOG_CURSOR_IN_USE
	statusFormat         status = C.FANLOG_FORMAT
	statusNullArgument   status = C.FANLOG_NULL_ARGUMENT
	statusInvalidArg     status = C.FANLOG_INVALID_ARGUMENT
	statusInvalidHandle  status = C.FANLOG_INVALID_HANDLE
	statusBusy           status = C.FANLOG_BUSY
	statusOSError        status = C.FANLOG_OS_ERROR
	statusIOError        status = C.FANLOG_IO_ERROR
	statusSyncFailed     status = C.FANLOG_SYNC_FAILED
	statusPanic          status = C.FANLOG_PANIC
)

func init() {
	if v := C.fanlog_abi_version(); v != C.FANLOG_ABI_VERSION {
		panic(fmt.Sprintf("fanlog: C ABI mismatch: this Go package was compiled against "+
			"include/fanlog.h with FANLOG_ABI_VERSION %d, but the linked libfanlog.a reports %d; "+
			"rebuild the library (cargo build --release) and the Go package from the same checkout "+
			"(go clean -cache if Go reused a stale build)", C.FANLOG_ABI_VERSION, v))
	}
}

// Version returns the version of the linked fanlog library (e.g. "0.1.0").
func Version() string {
	return C.GoString(C.fanlog_version_string())
}

// statusString is fanlog_status_str: the library's description of a code.
func statusString(st status) string {
	return C.GoString(C.fanlog_status_str(C.uint32_t(st)))
}

// cbytes is the C view of a Go byte slice for the duration of one call:
// NULL when empty. The bytes contain no Go pointers, so passing them is
// allowed by the cgo pointer rules; C copies them and keeps no reference.
func cbytes(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b)))
}
