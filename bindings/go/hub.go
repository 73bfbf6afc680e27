package fanlog

// #include "fanlog_go.h"
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// HubPolicy says what a publish does when a subscription's mailbox is
// full. Each subscription has its own, so one slow subscriber never
// stalls the others (except under HubBlock, by design).
type HubPolicy uint32

const (
	// HubDefault: in SubscribeOptions, the hub's default policy and block
	// timeout; in HubOptions, HubDropOldest.
	HubDefault HubPolicy = C.FANLOG_HUB_OVERFLOW_DEFAULT
	// HubDropNewest: the new event is dropped (and counted).
	HubDropNewest HubPolicy = C.FANLOG_HUB_DROP_NEWEST
	// HubDropOldest: the mailbox's oldest event is evicted to make room
	// (and counted as dropped).
	HubDropOldest HubPolicy = C.FANLOG_HUB_DROP_OLDEST
	// HubBlock: the publisher waits for room, up to the block timeout,
	// then drops the event. The wait stalls that publisher for every
	// subscription, and occupies its OS thread.
	HubBlock HubPolicy = C.FANLOG_HUB_BLOCK
)

func (p HubPolicy) String() string {
	switch p {
	case HubDefault:
		return "HubDefault"
	case HubDropNewest:
		return "HubDropNewest"
	case HubDropOldest:
		return "HubDropOldest"
	case HubBlock:
		return "HubBlock"
	}
	return fmt.Sprintf("HubPolicy(%d)", uint32(p))
}

// HubOptions configures a Hub. The zero value of every field means the
// default.
type HubOptions struct {
	// Capacity is the mailbox capacity, in events, of subscriptions that
	// don't set one. Zero means 1024.
	Capacity int
	// Policy is the overflow policy of subscriptions that don't set one.
	// Zero (HubDefault) means HubDropOldest.
	Policy HubPolicy
	// BlockTimeout bounds a HubBlock publisher's wait for room, per event
	// and subscription. Zero means no bound (lossless); negative means
	// don't wait (drop at once).
	BlockTimeout time.Duration
	// Timestamps selects the clock of Record.Time.
	Timestamps Timestamps
}

// SubscribeOptions configures one subscription; the zero value means the
// hub's defaults.
type SubscribeOptions struct {
	// Capacity is the mailbox capacity in events. Zero means the hub's.
	Capacity int
	// Policy is the overflow policy. Zero (HubDefault) means the hub's
	// policy and block timeout.
	Policy HubPolicy
	// BlockTimeout, with Policy HubBlock: zero means no bound (lossless),
	// negative means don't wait.
	BlockTimeout time.Duration
	// Name is for humans (debugging).
	Name string
}

// blockTimeout converts a BlockTimeout to the C convention.
func blockTimeout(d time.Duration) C.uint64_t {
	switch {
	case d == 0:
		return waitForever
	case d < 0:
		return noWait
	}
	return C.uint64_t(d)
}

// A Hub fans events out: Publish delivers an event (a kind and a payload)
// to every subscription whose kind filter matches, each into its own
// bounded mailbox with its own overflow policy and drop counter. The
// payload is copied once and shared by the subscriptions it reaches. All
// methods are safe for concurrent use; Close it when publishing is done.
type Hub struct {
	h       *hubHandle
	cleanup cleanup
}

type hubHandle struct {
	ptr *C.fanlog_hub
	st  refState
	// fdMu serializes readiness-fd setup among the hub's subscriptions.
	fdMu *sync.Mutex
	// wk wakes subscriptions parked in the Go scheduler after every
	// publish and close.
	wk *waker
	// final is the close status, saved by Close before the handle goes.
	final atomic.Pointer[errBox]
}

var errHubClosed error = &closedHandleError{"Hub"}

// NewHub creates a hub.
func NewHub(opts HubOptions) (*Hub, error) {
	var o C.fanlog_hub_options
	if st := C.fanlog_hub_options_default(&o); st != statusOK {
		return nil, statusError(st)
	}
	if opts.Capacity < 0 {
		return nil, fmt.Errorf("%w: negative Capacity", ErrInvalidArgument)
	}
	o.default_capacity = C.size_t(opts.Capacity)
	o.default_overflow = C.uint32_t(opts.Policy)
	o.block_timeout_ns = blockTimeout(opts.BlockTimeout)
	o.timestamps = C.uint32_t(opts.Timestamps)
	var p *C.fanlog_hub
	if st := C.fanlog_hub_new(&o, &p); st != statusOK {
		return nil, statusError(st)
	}
	h := &hubHandle{ptr: p, fdMu: new(sync.Mutex), wk: new(waker)}
	h.st.free = func() { C.fanlog_hub_free(h.ptr) }
	hub := &Hub{h: h}
	hub.cleanup = addCleanup(hub, (*hubHandle).abandon, h)
	return hub, nil
}

// abandon is the GC cleanup of a Hub that was never closed.
func (h *hubHandle) abandon() {
	if !h.st.closeIdle() {
		return
	}
	msg := C.CString("fanlog: Hub was garbage-collected without Close")
	C.fanlog_hub_close(h.ptr, C.int32_t(CodeAbandoned), msg)
	C.free(unsafe.Pointer(msg))
	h.wk.notifyAll()
	C.fanlog_hub_free(h.ptr)
}

// Delivery is what one publish did: the number of mailboxes it reached,
// and the number of events the overflow policies dropped because of it
// (the new event, or older ones evicted under HubDropOldest).
type Delivery struct {
	Delivered uint64
	Dropped   uint64
}

// Publish delivers one event to every matching subscription. The bytes
// are copied; data may be reused when Publish returns. It never waits,
// except for room in the mailbox of a matching HubBlock subscription
// (inside the library, on this goroutine's OS thread, up to that
// subscription's block timeout).
//
// Errors: ErrClosed after Close.
func (h *Hub) Publish(kind uint32, data []byte) (Delivery, error) {
	hh := h.h
	if !hh.st.acquire() {
		return Delivery{}, errHubClosed
	}
	r := C.fanlog_go_hub_publish(hh.ptr, C.uint32_t(kind), cbytes(data), C.size_t(len(data)))
	hh.wk.notifyKind(kind)
	hh.st.release(shared)
	runtime.KeepAlive(h)
	if r.status != statusOK {
		return Delivery{}, statusError(r.status)
	}
	return Delivery{uint64(r.delivered), uint64(r.dropped)}, nil
}

// PublishBatch publishes one event of kind per element of events, with
// consecutive sequence numbers, more cheaply than as many Publish calls.
// The Delivery sums the batch.
func (h *Hub) PublishBatch(kind uint32, events [][]byte) (Delivery, error) {
	hh := h.h
	if !hh.st.acquire() {
		return Delivery{}, errHubClosed
	}
	sc, err := getBatchScratch(events)
	if err != nil {
		hh.st.release(shared)
		return Delivery{}, err
	}
	r := C.fanlog_go_hub_publish_batch(hh.ptr, C.uint32_t(kind), sc.slices, C.size_t(len(events)))
	hh.wk.notifyKind(kind)
	putBatchScratch(sc)
	hh.st.release(shared)
	runtime.KeepAlive(h)
	if r.status != statusOK {
		return Delivery{}, statusError(r.status)
	}
	return Delivery{uint64(r.delivered), uint64(r.dropped)}, nil
}

// Subscribe creates a subscription to the events of the given kinds (all
// kinds if none is given). It receives every matching event whose publish
// begins after Subscribe returns, or counts it as dropped. After this Hub
// value's Close, Subscribe returns an error wrapping ErrClosed.
func (h *Hub) Subscribe(opts SubscribeOptions, kinds ...uint32) (*Subscription, error) {
	if opts.Capacity < 0 {
		return nil, fmt.Errorf("%w: negative Capacity", ErrInvalidArgument)
	}
	var o C.fanlog_subscribe_options
	if st := C.fanlog_subscribe_options_default(&o); st != statusOK {
		return nil, statusError(st)
	}
	o.capacity = C.size_t(opts.Capacity)
	o.overflow = C.uint32_t(opts.Policy)
	o.block_timeout_ns = blockTimeout(opts.BlockTimeout)
	if opts.Name != "" {
		o.name = C.CString(opts.Name)
		defer C.free(unsafe.Pointer(o.name))
	}
	var pk *C.uint32_t
	if len(kinds) > 0 {
		pk = (*C.uint32_t)(unsafe.Pointer(&kinds[0]))
	}
	hh := h.h
	if !hh.st.acquire() {
		return nil, errHubClosed
	}
	filter := newKindFilter(kinds)
	if filter != nil {
		// Before the library's subscribe: publishes that deliver to the
		// subscription see it (see waker).
		hh.wk.hasFiltered.Store(true)
	}
	var p *C.fanlog_subscription
	st := C.fanlog_hub_subscribe(hh.ptr, pk, C.size_t(len(kinds)), &o, &p)
	hh.st.release(shared)
	runtime.KeepAlive(h)
	if st != statusOK {
		return nil, statusError(st)
	}
	r, err := newReader(subSource{p}, hh.fdMu, hh.wk, filter, errSubscriptionClosed)
	if err != nil {
		return nil, err
	}
	s := &Subscription{r: r}
	s.cleanup = addCleanup(s, (*reader).abandon, r)
	return s, nil
}

// Close closes the hub with the completion status of the publishing side,
// as Log.Close does for a log: nil for success, or an error whose code and
// message every subscription returns as a *CloseError once it has
// received what it holds (plain ErrClosed after a clean close). Publishes
// fail with ErrClosed afterwards. Idempotent (the first status wins), safe
// to call concurrently with anything; the hub's C handle is released when
// calls in flight return. Subscriptions stay usable.
func (h *Hub) Close(err error) error {
	hh := h.h
	if !hh.st.acquire() {
		return nil
	}
	code, msg, clean := closeArgs(err)
	var cmsg *C.char
	if !clean {
		cmsg = C.CString(msg)
	}
	st := C.fanlog_hub_close(hh.ptr, C.int32_t(code), cmsg)
	hh.wk.notifyAll()
	if cmsg != nil {
		C.free(unsafe.Pointer(cmsg))
	}
	hh.final.Store(&errBox{hh.closeStatus()})
	if hh.st.markClosed() {
		h.cleanup.stop()
	}
	hh.st.release(shared)
	runtime.KeepAlive(h)
	if st != statusOK && st != statusClosed {
		return statusError(st)
	}
	return nil
}

// Err returns nil while the hub is open, then ErrClosed after a clean
// close or a *CloseError with the first Close's status.
func (h *Hub) Err() error {
	hh := h.h
	if !hh.st.acquire() {
		if b := hh.final.Load(); b != nil {
			return b.err
		}
		return errHubClosed
	}
	err := hh.closeStatus()
	hh.st.release(shared)
	runtime.KeepAlive(h)
	return err
}

func (hh *hubHandle) closeStatus() error {
	return readCloseStatus(func(code *C.int32_t, buf *C.char, cap C.size_t, n *C.size_t) status {
		return C.fanlog_hub_close_status(hh.ptr, code, buf, cap, n)
	})
}

// HubStats are a hub's counters.
type HubStats struct {
	// Published counts the events published (the next sequence number).
	Published uint64
	// Subscriptions is the number of subscriptions registered now.
	Subscriptions int
	// Closed reports whether the hub was closed.
	Closed bool
}

// Stats returns the hub's counters.
func (h *Hub) Stats() (HubStats, error) {
	hh := h.h
	if !hh.st.acquire() {
		return HubStats{}, errHubClosed
	}
	var s C.fanlog_hub_stats
	st := C.fanlog_hub_get_stats(hh.ptr, &s)
	hh.st.release(shared)
	runtime.KeepAlive(h)
	if st != statusOK {
		return HubStats{}, statusError(st)
	}
	return HubStats{uint64(s.published), int(s.subscriptions), s.closed != 0}, nil
}

// A Subscription receives the events of a hub that match its filter,
// through its own bounded mailbox. Like a Cursor it is single-consumer
// (concurrent receives fail with ErrBusy), waits in the Go scheduler
// without occupying an OS thread, and may be closed or interrupted from
// any goroutine. It keeps the hub's memory alive.
type Subscription struct {
	r       *reader
	cleanup cleanup
}

var errSubscriptionClosed error = &closedHandleError{"Subscription"}

// subSource is a subscription as a reader's source.
type subSource struct{ ptr *C.fanlog_subscription }

func (s subSource) fill(buf *C.fanlog_go_cursor_buf) status {
	return C.fanlog_go_subscription_fill(s.ptr, buf)
}

func (s subSource) readinessFd() (C.int, status) {
	var fd C.int
	st := retryBusy(func() status { return C.fanlog_subscription_readiness_fd(s.ptr, &fd) })
	return fd, st
}

// retryBusy calls f until it does not report FANLOG_BUSY: a subscription's
// C handle is also taken, for a moment, by an Unsubscribe on another
// goroutine (as in reader.fill).
func retryBusy(f func() status) status {
	for {
		if st := f(); st != statusBusy {
			return st
		}
		runtime.Gosched()
	}
}

func (s subSource) pending() bool {
	var st C.fanlog_subscription_stats
	if retryBusy(func() status { return C.fanlog_subscription_get_stats(s.ptr, &st) }) != statusOK {
		return true // let the read report it
	}
	return st.depth > 0 || st.closed != 0
}

func (s subSource) closeStatus() error {
	return readCloseStatus(func(code *C.int32_t, buf *C.char, cap C.size_t, n *C.size_t) status {
		return C.fanlog_subscription_close_status(s.ptr, code, buf, cap, n)
	})
}

func (s subSource) release() { C.fanlog_subscription_free(s.ptr) }

// Close unsubscribes and releases the subscription, dropping the events it
// holds. A receive blocked on another goroutine returns an error wrapping
// ErrClosed; so does every later call. Idempotent; returns nil.
func (s *Subscription) Close() error {
	if s.r.close() {
		s.cleanup.stop()
	}
	runtime.KeepAlive(s)
	return nil
}

// Unsubscribe stops deliveries to the subscription (when it returns,
// nothing more arrives, and a HubBlock publisher waiting on its mailbox is
// released). The events it already holds can still be received; then
// receives return ErrClosed (or the hub's *CloseError if the hub was
// closed first). Idempotent; safe to call while another goroutine waits
// in Next.
func (s *Subscription) Unsubscribe() error {
	r := s.r
	if !r.st.acquire() {
		return r.closedErr
	}
	p := r.src.(subSource).ptr
	var st status
	for {
		// BUSY only while the receiving goroutine is inside a short,
		// non-blocking receive: Go readers never block in the library.
		if st = C.fanlog_subscription_unsubscribe(p); st != statusBusy {
			break
		}
		runtime.Gosched()
	}
	r.poke() // the library also signals the fd; this is belt and braces
	r.st.release(shared)
	runtime.KeepAlive(s)
	return statusError(st)
}

// Interrupt makes a receive blocked on another goroutine return
// ErrInterrupted (or the next one that finds nothing, if none is blocked).
func (s *Subscription) Interrupt() error {
	err := s.r.interrupt()
	runtime.KeepAlive(s)
	return err
}

// Next receives the next event, waiting until ctx is done. Data is a copy
// the caller owns. Errors: ErrClosed (drained after a clean hub close or
// after Unsubscribe), a *CloseError (drained after the hub was closed
// with an error), ctx.Err(), ErrInterrupted, ErrBusy, and an error
// wrapping ErrClosed after Close.
func (s *Subscription) Next(ctx context.Context) (Record, error) {
	rec, err := s.r.next(ctx, false, true)
	runtime.KeepAlive(s)
	return rec, err
}

// NextView is Next without the copy: Data points into the payload the
// hub shares among subscriptions, valid until the next receive on this
// subscription or its Close, and while the Subscription is reachable (the
// slice does not keep it alive). Do not modify it.
func (s *Subscription) NextView(ctx context.Context) (Record, error) {
	rec, err := s.r.next(ctx, true, true)
	runtime.KeepAlive(s)
	return rec, err
}

// TryNext receives an event if one is waiting, else returns ErrEmpty.
func (s *Subscription) TryNext() (Record, error) {
	rec, err := s.r.next(context.Background(), false, false)
	runtime.KeepAlive(s)
	return rec, err
}

// NextBatch receives the events waiting (at least one, waiting for it
// until ctx is done) into dst, copying payloads into dst[i].Data's
// capacity, and returns how many. Errors as for Next.
func (s *Subscription) NextBatch(ctx context.Context, dst []Record) (int, error) {
	n, err := s.r.nextBatch(ctx, dst, false)
	runtime.KeepAlive(s)
	return n, err
}

// NextBatchView is NextBatch without copies (validity as for NextView).
func (s *Subscription) NextBatchView(ctx context.Context, dst []Record) (int, error) {
	n, err := s.r.nextBatch(ctx, dst, true)
	runtime.KeepAlive(s)
	return n, err
}

// SubscriptionStats are a subscription's counters. Delivered + Dropped is
// the number of matching events published while it was subscribed (exact
// once publishers are quiet).
type SubscriptionStats struct {
	// Delivered counts events put in the mailbox and not evicted:
	// Received + Depth.
	Delivered uint64
	// Dropped counts events lost to the overflow policy (or published
	// while the subscription was closing).
	Dropped uint64
	// Received counts events returned by receives.
	Received uint64
	// Depth is the number of events waiting now.
	Depth int
	// HighWater is the mailbox depth's high-water mark (exact when the
	// mailbox filled up, otherwise sampled).
	HighWater int
	// Capacity is the mailbox capacity.
	Capacity int
	// Closed reports whether it was unsubscribed or the hub closed (it
	// may still hold events).
	Closed bool
}

// Stats returns the subscription's counters. Events the binding fetched
// ahead but has not returned yet count as waiting, not received.
func (s *Subscription) Stats() (SubscriptionStats, error) {
	r := s.r
	if err := r.st.acquireExclusive(r.closedErr); err != nil {
		return SubscriptionStats{}, err
	}
	var cs C.fanlog_subscription_stats
	ptr := r.src.(subSource).ptr
	st := retryBusy(func() status { return C.fanlog_subscription_get_stats(ptr, &cs) })
	pending, _ := r.pending()
	r.st.release(exclusive)
	runtime.KeepAlive(s)
	if st != statusOK {
		return SubscriptionStats{}, statusError(st)
	}
	return SubscriptionStats{
		Delivered: uint64(cs.delivered),
		Dropped:   uint64(cs.dropped),
		Received:  uint64(cs.received) - pending,
		Depth:     int(cs.depth) + int(pending),
		HighWater: int(cs.high_water),
		Capacity:  int(cs.capacity),
		Closed:    cs.closed != 0,
	}, nil
}
