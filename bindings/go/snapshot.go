package fanlog

// #include "fanlog_go.h"
import "C"

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A Snapshot holds an immutable byte blob (a configuration, a routing
// table) with a version: one side stores a new blob, any number of
// readers load the current one without locks or copies, and a reader can
// wait for a newer version. Stored bytes are copied; a loaded blob never
// changes. All methods are safe for concurrent use.
type Snapshot struct {
	h       *snapHandle
	cleanup cleanup
}

type snapHandle struct {
	ptr *C.fanlog_snapshot
	st  refState
	// mu guards changed, which Store (and Close) closes and replaces to
	// wake WaitNewer. Every store goes through this value (the C handle
	// is not shared), so waiting needs no thread blocked in the library.
	mu      sync.Mutex
	changed chan struct{}
}

var errSnapshotClosed error = &closedHandleError{"Snapshot"}

// NewSnapshot creates a snapshot holding a copy of data as version 0.
func NewSnapshot(data []byte) (*Snapshot, error) {
	var p *C.fanlog_snapshot
	if st := C.fanlog_snapshot_new(cbytes(data), C.size_t(len(data)), &p); st != statusOK {
		return nil, statusError(st)
	}
	h := &snapHandle{ptr: p, changed: make(chan struct{})}
	h.st.free = func() { C.fanlog_snapshot_free(h.ptr) }
	s := &Snapshot{h: h}
	s.cleanup = addCleanup(s, func(h *snapHandle) {
		if h.st.closeIdle() {
			C.fanlog_snapshot_free(h.ptr)
		}
	}, h)
	return s, nil
}

// notify wakes WaitNewer callers.
func (h *snapHandle) notify() {
	h.mu.Lock()
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

func (h *snapHandle) watch() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}

// Store replaces the blob with a copy of data and returns its version
// (each store gets the next one). Readers holding older blobs keep them.
func (s *Snapshot) Store(data []byte) (uint64, error) {
	h := s.h
	if !h.st.acquire() {
		return 0, errSnapshotClosed
	}
	var v C.uint64_t
	st := C.fanlog_snapshot_store(h.ptr, cbytes(data), C.size_t(len(data)), &v)
	if st == statusOK {
		h.notify()
	}
	h.st.release(shared)
	runtime.KeepAlive(s)
	if st != statusOK {
		return 0, statusError(st)
	}
	return uint64(v), nil
}

// Version returns the current version (0 until the first Store).
func (s *Snapshot) Version() (uint64, error) {
	h := s.h
	if !h.st.acquire() {
		return 0, errSnapshotClosed
	}
	var v C.uint64_t
	st := C.fanlog_snapshot_version(h.ptr, &v)
	h.st.release(shared)
	runtime.KeepAlive(s)
	return uint64(v), statusError(st)
}

// Load returns a copy of the current blob and its version.
func (s *Snapshot) Load() ([]byte, uint64, error) {
	ref, err := s.LoadRef()
	if err != nil {
		return nil, 0, err
	}
	data := append([]byte(nil), ref.Data()...)
	ref.Release()
	return data, ref.Version(), nil
}

// LoadRef returns a reference to the current blob without copying it: see
// SnapshotRef. Release it when done.
func (s *Snapshot) LoadRef() (*SnapshotRef, error) {
	h := s.h
	if !h.st.acquire() {
		return nil, errSnapshotClosed
	}
	var p *C.fanlog_snapshot_ref
	st := C.fanlog_snapshot_load(h.ptr, &p)
	h.st.release(shared)
	runtime.KeepAlive(s)
	if st != statusOK {
		return nil, statusError(st)
	}
	return newSnapshotRef(p)
}

// WaitNewer waits until the version is greater than version (pass the one
// you hold), or ctx is done, and returns a copy of the current blob and
// its version (intermediate versions may have been skipped). It waits on
// a Go channel, not inside the library: no OS thread is held. Close wakes
// it with an error wrapping ErrClosed.
func (s *Snapshot) WaitNewer(ctx context.Context, version uint64) ([]byte, uint64, error) {
	h := s.h
	for {
		changed := h.watch() // before the check, so a store after it is seen
		if !h.st.acquire() {
			return nil, 0, errSnapshotClosed
		}
		var p *C.fanlog_snapshot_ref
		st := C.fanlog_snapshot_wait_newer(h.ptr, C.uint64_t(version), noWait, &p)
		h.st.release(shared)
		runtime.KeepAlive(s)
		switch st {
		case statusOK:
			ref, err := newSnapshotRef(p)
			if err != nil {
				return nil, 0, err
			}
			data := append([]byte(nil), ref.Data()...)
			ref.Release()
			return data, ref.Version(), nil
		case statusEmpty:
		default:
			return nil, 0, statusError(st)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// Close releases the snapshot (references taken from it stay valid until
// their Release). WaitNewer calls return; later calls fail with an error
// wrapping ErrClosed. Idempotent; returns nil.
func (s *Snapshot) Close() error {
	h := s.h
	if !h.st.acquire() {
		return nil
	}
	if h.st.markClosed() {
		s.cleanup.stop()
		h.notify()
	}
	h.st.release(shared)
	runtime.KeepAlive(s)
	return nil
}

// A SnapshotRef holds one version of a snapshot's blob: Data stays valid
// and unchanged until Release, whatever is stored meanwhile and even after
// the Snapshot is closed. It is safe for concurrent use, but Release must
// come after every use of Data's bytes: reading them afterwards may return
// garbage or crash the process. The SnapshotRef must also stay reachable
// while Data's bytes are used: the slice does not keep it alive, and an
// unreachable SnapshotRef is released by the garbage collector (call
// Release, or runtime.KeepAlive(ref), after the last use).
type SnapshotRef struct {
	p        *C.fanlog_snapshot_ref
	data     []byte
	version  uint64
	released atomic.Bool
	cleanup  cleanup
}

func newSnapshotRef(p *C.fanlog_snapshot_ref) (*SnapshotRef, error) {
	d := C.fanlog_go_snapshot_ref_data(p)
	if d.status != statusOK {
		C.fanlog_snapshot_ref_release(p)
		return nil, statusError(d.status)
	}
	r := &SnapshotRef{p: p, version: uint64(d.version)}
	if d.len > 0 {
		r.data = unsafe.Slice((*byte)(unsafe.Pointer(d.data)), int(d.len))
	}
	// The cleanup gets the C pointer only: releasing twice is prevented
	// by Release stopping it.
	r.cleanup = addCleanup(r, func(p *C.fanlog_snapshot_ref) { C.fanlog_snapshot_ref_release(p) }, p)
	return r, nil
}

// Data returns the blob, in the library's memory (nil after Release). Do
// not modify it.
func (r *SnapshotRef) Data() []byte {
	if r.released.Load() {
		return nil
	}
	return r.data
}

// Version returns the blob's version.
func (r *SnapshotRef) Version() uint64 { return r.version }

// Release gives the blob back. Idempotent.
func (r *SnapshotRef) Release() {
	if r.released.Swap(true) {
		return
	}
	r.cleanup.stop()
	C.fanlog_snapshot_ref_release(r.p)
	runtime.KeepAlive(r)
}
