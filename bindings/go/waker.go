package fanlog

import (
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
// Every call of this package that can make something readable (an append,
// a publish, a close, the GC cleanup's close) calls notify after the
// library call returns. Nothing else appends to a log or hub this package
// created: the C handles never leave it. A log opened ReadOnly is written
// by another process, so its cursors have no waker and wait on the fd.
//
// The protocol (no lost wake-ups; Go's atomics are sequentially
// consistent, and the library's commit comes before the notifier's gen.Add
// in program order):
//
//	reader: g := gen.Load(); a read finds nothing (C); register
//	        (waiters++); park unless gen.Load() != g
//	notify: (commit, in C); gen.Add(1); if waiters.Load() > 0: wake all
//
// If notify's gen.Add comes before the reader's first gen.Load, the
// reader's read, after it, sees the commit. Otherwise either the
// reader's second gen.Load sees the new gen, or it came first, and so did
// the registration: notify then sees waiters > 0 and wakes the reader.
type waker struct {
	// gen counts notifications.
	gen atomic.Uint64
	// waiters is len(parked), readable without mu (written under it).
	waiters atomic.Int32
	mu      sync.Mutex
	// parked holds the wake channels of the registered readers.
	parked []chan struct{}
}

// notify wakes the readers parked on w (after an append, publish or close
// made something readable). w may be nil.
func (w *waker) notify() {
	if w == nil {
		return
	}
	// An atomic read-modify-write (a full barrier), ordered after the
	// library call that committed: see the protocol above.
	w.gen.Add(1)
	if w.waiters.Load() != 0 {
		w.wakeAll()
	}
}

// hasWaiters reports whether a reader is parked on w (nil: false).
func (w *waker) hasWaiters() bool {
	return w != nil && w.waiters.Load() != 0
}

func (w *waker) wakeAll() {
	w.mu.Lock()
	for i, ch := range w.parked {
		select {
		case ch <- struct{}{}:
		default: // a token is already there (poke, or an earlier wake)
		}
		w.parked[i] = nil
	}
	w.parked = w.parked[:0]
	w.waiters.Store(0)
	w.mu.Unlock()
}

// register adds a reader's wake channel.
func (w *waker) register(ch chan struct{}) {
	w.mu.Lock()
	w.parked = append(w.parked, ch)
	w.waiters.Store(int32(len(w.parked)))
	w.mu.Unlock()
}

// unregister removes ch if a wakeAll did not already, and takes the
// token a wakeAll (or a poke) left in it, so that the next park does not
// return at once for nothing.
func (w *waker) unregister(ch chan struct{}) {
	w.mu.Lock()
	for i, c := range w.parked {
		if c == ch {
			last := len(w.parked) - 1
			w.parked[i] = w.parked[last]
			w.parked[last] = nil
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
