package fanlog

import (
	"slices"
	"sync"
	"sync/atomic"
)

// A waker lets the readers of one log (or hub) that caught up wait inside
// the Go scheduler for the next append (publish) made through this
// package, instead of in the netpoller on their readiness fds.
//
// Waiting on the fd costs, every time a reader catches up: a membarrier to
// arm it (the heavy side of the library's asymmetric fence: an IPI to
// every CPU running the process), an eventfd write by the next appender,
// and a netpoller wake-up. A Go reader parked here costs a channel receive,
// and the appender that wakes it a channel send: what a sync.Cond costs
// the hand-written queues fanlog replaces.
//
// Every call of this package that can make something readable calls the
// waker after the library call returns: an append notify, a publish
// notifyKind, a close (and the GC cleanup's close) notifyAll. Nothing else appends to a log or hub this package
// created: the C handles never leave it. A log opened ReadOnly is written
// by another process, so its cursors have no waker and wait on the fd.
//
// The protocol (no lost wake-ups; Go's atomics are sequentially
// consistent, and the library's commit comes before the notifier's adds
// in program order), with a reader's stamp being gen for a reader that
// takes every record:
//
//	reader: s := stamp(); a read finds nothing (C); register
//	        (waiters++); park unless stamp() != s
//	notify: (commit, in C); gen.Add(1); if waiters.Load() > 0: wake
//
// If notify's add comes before the reader's first stamp, the reader's
// read, after it, sees the commit. Otherwise either the reader's second
// stamp sees the add, or it came first, and so did the registration:
// notify then sees waiters > 0 and wakes the reader.
//
// Subscriptions with a kind filter. If they watched gen, every publish
// would wake them, or (while publishes keep coming) keep them reading
// without ever parking, for events of kinds they do not take: a filtered
// subscription on a busy hub halved its publisher's rate without
// receiving anything. So a publish of kind k (notifyKind) also adds to
// kgen[k % kindBuckets], and wakes only the parked readers whose filter
// takes k; a filtered reader's stamp is bcast plus the kgen of the buckets
// of its kinds, where bcast counts the notifications every reader must
// see (closes: notifyAll). The argument above holds for each reader with
// its own stamp: an event delivered to a filtered subscription has a kind
// its filter takes (the library's filter is the same set of kinds), and
// where it says waiters, notifyKind reads the parked count that the
// reader's registration added to (parkedAll, or parkedIn of the kind's
// bucket), after its adds.
// kgen is only added to once a filtered subscription exists (hasFiltered,
// set before the library's subscribe, so before the first delivery to it).
type waker struct {
	// gen counts notifications.
	gen atomic.Uint64
	// bcast counts notifyAll's.
	bcast atomic.Uint64
	// kgen counts notifyKind's, by kind % kindBuckets, once hasFiltered.
	kgen [kindBuckets]atomic.Uint64
	// hasFiltered: a subscription with a kind filter was made.
	hasFiltered atomic.Bool
	// waiters is len(parked), readable without mu (written under it).
	waiters atomic.Int32
	// parkedAll counts the parked readers without a filter, parkedIn[b]
	// the parked filtered readers with a kind in bucket b (written under
	// mu): notifyKind takes mu only if one of them may take its kind, so
	// that a parked subscription to a rare kind does not make every other
	// publish take the lock.
	parkedAll atomic.Int32
	parkedIn  [kindBuckets]atomic.Int32
	mu        sync.Mutex
	// parked holds the registered readers.
	parked []parkedReader
}

// kindBuckets is the number of kind counters of a waker.
const kindBuckets = 64

// A parkedReader is a registered reader's wake channel and kind filter.
type parkedReader struct {
	ch    chan struct{}
	kinds *kindFilter // nil: every kind
}

// A kindFilter is the set of kinds a subscription takes.
type kindFilter struct {
	kinds   []uint32 // sorted, distinct
	buckets []uint32 // the distinct kind % kindBuckets
}

func newKindFilter(kinds []uint32) *kindFilter {
	if len(kinds) == 0 {
		return nil
	}
	sorted := slices.Clone(kinds)
	slices.Sort(sorted)
	f := &kindFilter{kinds: slices.Compact(sorted)}
	for _, k := range f.kinds {
		if b := k % kindBuckets; !slices.Contains(f.buckets, b) {
			f.buckets = append(f.buckets, b)
		}
	}
	return f
}

func (f *kindFilter) takes(kind uint32) bool {
	if f == nil {
		return true
	}
	_, ok := slices.BinarySearch(f.kinds, kind)
	return ok
}

// stamp is what a reader with filter f compares before it parks (see the
// protocol): it moves whenever a notification the reader must see comes.
func (w *waker) stamp(f *kindFilter) uint64 {
	if f == nil {
		return w.gen.Load()
	}
	s := w.bcast.Load()
	for _, b := range f.buckets {
		s += w.kgen[b].Load()
	}
	return s
}

// notify wakes the readers parked on w after an append made something
// readable (a log's readers take every record). w may be nil.
func (w *waker) notify() {
	if w == nil {
		return
	}
	// An atomic read-modify-write (a full barrier), ordered after the
	// library call that committed: see the protocol above.
	w.gen.Add(1)
	if w.waiters.Load() != 0 {
		w.wake(nil)
	}
}

// notifyKind wakes the readers parked on w whose filter takes kind, after
// a publish of that kind.
func (w *waker) notifyKind(kind uint32) {
	if w.hasFiltered.Load() {
		w.kgen[kind%kindBuckets].Add(1)
	}
	w.gen.Add(1)
	if w.parkedAll.Load() != 0 || w.parkedIn[kind%kindBuckets].Load() != 0 {
		w.wake(&kind)
	}
}

// notifyAll wakes every reader parked on w, after a close. w may be nil.
func (w *waker) notifyAll() {
	if w == nil {
		return
	}
	w.bcast.Add(1)
	w.gen.Add(1)
	if w.waiters.Load() != 0 {
		w.wake(nil)
	}
}

// hasWaiters reports whether a reader is parked on w (nil: false).
func (w *waker) hasWaiters() bool {
	return w != nil && w.waiters.Load() != 0
}

// wake sends a token to, and unregisters, the parked readers whose filter
// takes *kind (every parked reader if kind is nil).
func (w *waker) wake(kind *uint32) {
	w.mu.Lock()
	kept := w.parked[:0]
	for _, p := range w.parked {
		if kind != nil && !p.kinds.takes(*kind) {
			kept = append(kept, p)
			continue
		}
		select {
		case p.ch <- struct{}{}:
		default: // a token is already there (poke, or an earlier wake)
		}
		w.count(p.kinds, -1)
	}
	clear(w.parked[len(kept):])
	w.parked = kept
	w.waiters.Store(int32(len(kept)))
	w.mu.Unlock()
}

// count adds d to the parked counts of a reader with filter f (under mu).
func (w *waker) count(f *kindFilter, d int32) {
	if f == nil {
		w.parkedAll.Add(d)
		return
	}
	for _, b := range f.buckets {
		w.parkedIn[b].Add(d)
	}
}

// register adds a reader's wake channel and filter.
func (w *waker) register(ch chan struct{}, kinds *kindFilter) {
	w.mu.Lock()
	w.parked = append(w.parked, parkedReader{ch, kinds})
	w.count(kinds, 1)
	w.waiters.Store(int32(len(w.parked)))
	w.mu.Unlock()
}

// unregister removes ch if a wake did not already, and takes the token a
// wake (or a poke) left in it, so that the next park does not return at
// once for nothing.
func (w *waker) unregister(ch chan struct{}) {
	w.mu.Lock()
	for i, p := range w.parked {
		if p.ch == ch {
			w.count(p.kinds, -1)
			last := len(w.parked) - 1
			w.parked[i] = w.parked[last]
			w.parked[last] = parkedReader{}
			w.parked = w.parked[:last]
			w.waiters.Store(int32(len(w.parked)))
			break
		}
	}
	w.mu.Unlock()
	select {
	case <-ch:
	default:
	}
}

// A roomHint tells appends waiting for room under Block (waitRoom) that a
// cursor read something. It is only a hint: a missed read costs the append
// a wait in the library, which is correct on its own.
type roomHint struct {
	// reads counts reads made while waiting > 0.
	reads atomic.Uint64
	// waiting counts the appends in waitRoom.
	waiting atomic.Int32
}
