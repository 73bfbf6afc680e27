package fanlog

import "sync/atomic"

// refState guards the C handle of a Log or Cursor against use after free
// without a lock on the hot path: it counts the calls in flight and records
// whether Close was called. The handle is released exactly once, by
// whichever call brings the count to zero after Close (Close itself when
// nothing is in flight), so a Close that races with reads, appends or
// blocked waits is safe: they finish with the handle still alive, and calls
// that start after Close fail before touching it.
//
// Layout of the word:
//
//	bit 63      stClosed: Close was called; new calls fail.
//	bit 62      stFreed:  the handle was released (set once, with count 0).
//	bit 61      stBusy:   a consumer call is in flight (Cursor: one at a time).
//	bits 0..60  the number of calls in flight.
type refState struct {
	v atomic.Uint64
	// free releases the handle; called once, by release or closeIdle.
	free func()
}

const (
	stClosed uint64 = 1 << 63
	stFreed  uint64 = 1 << 62
	stBusy   uint64 = 1 << 61
	stCount  uint64 = stBusy - 1

	// shared is what acquire adds; exclusive what acquireExclusive adds.
	shared    uint64 = 1
	exclusive uint64 = 1 | stBusy
)

// acquire registers a call in flight; false if the object is closed (the
// caller must not touch the handle then).
func (s *refState) acquire() bool {
	if s.v.Add(shared)&stClosed == 0 {
		return true
	}
	// Closed: undo. This can be the last call out (Close released its
	// own reference in between), and then it frees the handle.
	s.release(shared)
	return false
}

// acquireExclusive registers the single consumer call of a reader;
// closedErr is its error after Close.
func (s *refState) acquireExclusive(closedErr error) error {
	for {
		v := s.v.Load()
		switch {
		case v&stClosed != 0:
			return closedErr
		case v&stBusy != 0:
			return ErrBusy
		}
		if s.v.CompareAndSwap(v, v+exclusive) {
			return nil
		}
	}
}

// release ends a call (n is what its acquire added). The last call out
// after Close frees the handle.
func (s *refState) release(n uint64) {
	if s.v.Add(-n) == stClosed && s.v.CompareAndSwap(stClosed, stClosed|stFreed) {
		s.free()
	}
}

// markClosed sets stClosed; true for the call that set it. The caller must
// hold a reference (acquire) so that the handle can't be freed under it.
func (s *refState) markClosed() bool {
	for {
		v := s.v.Load()
		if v&stClosed != 0 {
			return false
		}
		if s.v.CompareAndSwap(v, v|stClosed) {
			return true
		}
	}
}

// closeIdle closes an object nobody uses (from a GC cleanup) and claims
// its free: true if the caller must now release the handle itself.
func (s *refState) closeIdle() bool {
	return s.v.CompareAndSwap(0, stClosed|stFreed)
}

// closed reports whether Close was called.
func (s *refState) closed() bool { return s.v.Load()&stClosed != 0 }
