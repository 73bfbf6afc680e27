//! C ABI over the hub: `fanlog_hub`, `fanlog_subscription`.
//!
//! # Handles
//!
//! A `fanlog_hub` handle owns a [`Hub`] and is the only publishing handle C
//! gets, so freeing it closes the hub with a success status (as dropping
//! the last `Hub` does in Rust): its subscriptions drain what they hold,
//! then report `FANLOG_CLOSED`. A `fanlog_subscription` owns a
//! [`Subscription`] and a clone of the hub (to close it if a panic is
//! caught in a subscription call, and to read its close status); it
//! outlives the hub handle.
//!
//! # Borrowed event data
//!
//! An event's payload is one shared allocation (`Arc<[u8]>`) for every
//! subscription it reached. A receive keeps the events it returned in a
//! vector inside the subscription handle, so the `data` pointers handed to
//! C stay valid, without a copy, until the next receive on that handle or
//! its free. The vector is cleared, not freed, between receives: after the
//! first receives of a given batch size, receiving allocates nothing.
//!
//! # Single consumer
//!
//! A subscription is read by one thread at a time: every call that uses it
//! (receive, readiness fd, stats, unsubscribe) takes a busy flag and returns
//! `FANLOG_BUSY` if another thread holds it. The interrupt and the close
//! status go around the flag and may be called from any thread at any time.

use super::fanlog_status::{self, *};
use super::handle::{self, HandleType, Tagged};
use super::log::{
    fanlog_slice, FANLOG_TIMESTAMPS_COARSE, FANLOG_TIMESTAMPS_OFF, FANLOG_TIMESTAMPS_PRECISE,
};
use super::{append_status, bytes, copy_status, fill_out, guard, recv_status, status, write_opt};
use crate::hub::{DEFAULT_CAPACITY, MAX_CAPACITY};
use crate::sync::Ordering;
use crate::{
    CloseStatus, Event, Filter, Hub, HubOverflow, RecvError, SubscribeOptions, Subscription,
    Timestamps, Waker,
};
use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, CStr};
use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;
use std::time::Duration;

/// An event hub (opaque): publishes events to every subscription whose
/// kind filter matches, each into its own bounded mailbox. Create with
/// `fanlog_hub_new`, release with `fanlog_hub_free` (which closes the hub).
/// Thread-safe: every function may be called from any thread concurrently,
/// except `fanlog_hub_free`, which must be the last call on the handle.
/// Subscriptions keep the hub's memory alive, so they may outlive this
/// handle.
///
/// Methods: `fanlog_hub_new`, `fanlog_hub_free`, `fanlog_hub_subscribe`,
/// `fanlog_hub_publish`, `fanlog_hub_publish_batch`, `fanlog_hub_close`,
/// `fanlog_hub_close_status`, `fanlog_hub_get_stats`.
pub struct fanlog_hub {
    _opaque: [u8; 0],
}

/// A subscription to a hub (opaque): a bounded mailbox of the events that
/// match its filter, and the receiving end of it. Create with
/// `fanlog_hub_subscribe`, release with `fanlog_subscription_free` (which
/// also unsubscribes). A subscription is single-consumer: calls that use it
/// from two threads at once return `FANLOG_BUSY` for one of them.
/// `fanlog_subscription_interrupt` and `fanlog_subscription_close_status`
/// may be called from any thread at any time.
///
/// Methods: `fanlog_subscription_next`, `fanlog_subscription_next_batch`,
/// `fanlog_subscription_interrupt`, `fanlog_subscription_readiness_fd`,
/// `fanlog_subscription_get_stats`, `fanlog_subscription_unsubscribe`,
/// `fanlog_subscription_close_status`, `fanlog_subscription_free`.
pub struct fanlog_subscription {
    _opaque: [u8; 0],
}

/// What a `fanlog_hub` handle points to.
pub(crate) struct HubInner {
    /// The hub; closed (success status) when the handle is freed.
    hub: Hub,
}

impl Drop for HubInner {
    fn drop(&mut self) {
        // C has no other publishing handle: once this one is gone nobody
        // can publish, so close now rather than when the last subscription
        // (which holds a `Hub` clone) goes. Idempotent.
        self.hub.close(CloseStatus::Ok);
    }
}

/// What a `fanlog_subscription` handle points to.
pub(crate) struct SubscriptionInner {
    /// Set while a call uses `state` (single-consumer guard).
    busy: AtomicBool,
    /// Interrupts the subscription's wait from any thread (no busy flag).
    waker: Waker,
    /// The hub: closed if a panic is caught here; its close status is what
    /// the subscription will report unless it was unsubscribed first.
    hub: Hub,
    /// The status a receive returned with `FANLOG_CLOSED` (exact).
    closed: OnceLock<CloseStatus>,
    /// The subscription and the events C may still be reading.
    state: UnsafeCell<SubState>,
}

/// The single-consumer part of a subscription handle.
struct SubState {
    /// The Rust subscription.
    sub: Subscription,
    /// The events returned by the last receive: their payloads back the
    /// `data` pointers given to C. Cleared (capacity kept) by each receive.
    held: Vec<Event>,
}

// SAFETY: `state` is only accessed by the thread that holds `busy` (see
// `with_sub`); every other field is `Sync`.
unsafe impl Sync for SubscriptionInner {}

impl HandleType for HubInner {
    const TAG: u64 = 0x464C_4C4F_4721_4842;
}
impl HandleType for SubscriptionInner {
    const TAG: u64 = 0x464C_4C4F_4721_5342;
}

/// Overflow policy value meaning "the default": in
/// `fanlog_subscribe_options`, the hub's default policy (and its block
/// timeout); in `fanlog_hub_options`, `FANLOG_HUB_DROP_OLDEST`.
pub const FANLOG_HUB_OVERFLOW_DEFAULT: u32 = 0;
/// Hub overflow policy: when a mailbox is full, the new event is dropped
/// (counted in that subscription's `dropped`). Publishers never wait.
pub const FANLOG_HUB_DROP_NEWEST: u32 = 1;
/// Hub overflow policy: when a mailbox is full, its oldest event is evicted
/// to make room (counted as dropped). Publishers never wait.
pub const FANLOG_HUB_DROP_OLDEST: u32 = 2;
/// Hub overflow policy: when a mailbox is full, the publisher waits up to
/// the block timeout for room, then drops the event. The wait stalls that
/// publisher for every subscription.
pub const FANLOG_HUB_BLOCK: u32 = 3;

/// Default mailbox capacity of a subscription, in events.
pub const FANLOG_HUB_DEFAULT_CAPACITY: usize = 1024;
/// Largest mailbox capacity accepted (mailboxes are allocated up front).
pub const FANLOG_HUB_MAX_CAPACITY: usize = 16777216;

// The header's literals must agree with the Rust constants.
const _: () = assert!(
    FANLOG_HUB_DEFAULT_CAPACITY == DEFAULT_CAPACITY && FANLOG_HUB_MAX_CAPACITY == MAX_CAPACITY
);

/// Hub configuration. Always initialize with `fanlog_hub_options_default`,
/// then change fields. (A zeroed struct also means the defaults, except
/// that `block_timeout_ns` is then 0.)
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fanlog_hub_options {
    /// Mailbox capacity, in events, of subscriptions that don't set one:
    /// 1 to `FANLOG_HUB_MAX_CAPACITY`; 0 means `FANLOG_HUB_DEFAULT_CAPACITY`
    /// (the default).
    pub default_capacity: usize,
    /// With `default_overflow` = `FANLOG_HUB_BLOCK`: the longest a
    /// publisher waits for room, per event and subscription, in ns (0 =
    /// don't wait; default `FANLOG_WAIT_FOREVER`: lossless). Ignored for
    /// the other policies.
    pub block_timeout_ns: u64,
    /// `FANLOG_HUB_*` policy of subscriptions that don't set one (default
    /// `FANLOG_HUB_DROP_OLDEST`; `FANLOG_HUB_OVERFLOW_DEFAULT` means the
    /// same).
    pub default_overflow: u32,
    /// `FANLOG_TIMESTAMPS_*`: the clock that stamps events (default
    /// `FANLOG_TIMESTAMPS_COARSE`).
    pub timestamps: u32,
}

/// Per-subscription options for `fanlog_hub_subscribe`. Always initialize
/// with `fanlog_subscribe_options_default` (the hub's defaults), then
/// change fields. (A zeroed struct also means the hub's defaults.)
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fanlog_subscribe_options {
    /// Mailbox capacity in events: 1 to `FANLOG_HUB_MAX_CAPACITY`; 0 (the
    /// default) means the hub's default capacity.
    pub capacity: usize,
    /// A NUL-terminated name, for humans (copied; need not outlive the
    /// call), or NULL (the default).
    pub name: *const c_char,
    /// With `overflow` = `FANLOG_HUB_BLOCK`: the longest a publisher waits
    /// for room in this mailbox, per event, in ns (0 = don't wait; default
    /// `FANLOG_WAIT_FOREVER`: lossless). Ignored for the other values.
    pub block_timeout_ns: u64,
    /// `FANLOG_HUB_*` policy, or `FANLOG_HUB_OVERFLOW_DEFAULT` (the
    /// default) for the hub's default policy and block timeout.
    pub overflow: u32,
}

/// One event received from a subscription. `data` points into the
/// payload that the hub shares among the subscriptions it reached
/// (zero-copy) and stays valid until the next receive on the same
/// subscription (`fanlog_subscription_next` / `_next_batch`, whatever
/// its result), or its free; copy what you need to keep.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fanlog_event {
    /// Hub-wide publish sequence number (from 0, one per published event;
    /// a subscription sees one publisher thread's events in increasing
    /// order, but not necessarily every number).
    pub seq: u64,
    /// Publish time, ns since the Unix epoch (0 if timestamps are off).
    pub timestamp_ns: u64,
    /// The payload (NULL only when `len` is 0).
    pub data: *const u8,
    /// Payload length in bytes.
    pub len: usize,
    /// The application-defined kind given to the publish.
    pub kind: u32,
}

/// Counters of a hub (see `fanlog_hub_get_stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct fanlog_hub_stats {
    /// Events published (the next sequence number).
    pub published: u64,
    /// Subscriptions registered now.
    pub subscriptions: usize,
    /// 1 once closed.
    pub closed: u32,
}

/// Counters of a subscription (see `fanlog_subscription_get_stats`).
/// `delivered + dropped` equals the number of published events that
/// matched its filter while it was subscribed and open (exact once
/// publishers are quiescent).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct fanlog_subscription_stats {
    /// Events put in the mailbox and not evicted: `received + depth`.
    pub delivered: u64,
    /// Events not delivered: mailbox full under `FANLOG_HUB_DROP_NEWEST`,
    /// evicted under `FANLOG_HUB_DROP_OLDEST`, timed out under
    /// `FANLOG_HUB_BLOCK`, or published while the subscription was closing.
    pub dropped: u64,
    /// Events returned by receives.
    pub received: u64,
    /// Events waiting in the mailbox now.
    pub depth: usize,
    /// High-water mark of the mailbox depth: exact when the mailbox filled
    /// up (it is then the capacity), otherwise sampled by the receiver.
    pub high_water: usize,
    /// Mailbox capacity.
    pub capacity: usize,
    /// 1 once closed (unsubscribed or hub closed); it may still hold events.
    pub closed: u32,
}

/// Fills `*out` with the default hub options.
///
/// Returns `FANLOG_NULL_ARGUMENT` if `out` is NULL. Thread-safe.
///
/// # Safety
/// `out` is NULL or valid for writing one `fanlog_hub_options`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_hub_options_default(out: *mut fanlog_hub_options) -> fanlog_status {
    guard(
        || {
            if out.is_null() {
                return FANLOG_NULL_ARGUMENT;
            }
            // SAFETY: non-null and valid per the contract.
            unsafe {
                out.write(fanlog_hub_options {
                    default_capacity: FANLOG_HUB_DEFAULT_CAPACITY,
                    block_timeout_ns: super::FANLOG_WAIT_FOREVER,
                    default_overflow: FANLOG_HUB_DROP_OLDEST,
                    timestamps: FANLOG_TIMESTAMPS_COARSE,
                })
            };
            FANLOG_OK
        },
        || {},
    )
}

/// Fills `*out` with the default subscribe options (every field: the hub's
/// default).
///
/// Returns `FANLOG_NULL_ARGUMENT` if `out` is NULL. Thread-safe.
///
/// # Safety
/// `out` is NULL or valid for writing one `fanlog_subscribe_options`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_subscribe_options_default(
    out: *mut fanlog_subscribe_options,
) -> fanlog_status {
    guard(
        || {
            if out.is_null() {
                return FANLOG_NULL_ARGUMENT;
            }
            // SAFETY: non-null and valid per the contract.
            unsafe {
                out.write(fanlog_subscribe_options {
                    capacity: 0,
                    name: std::ptr::null(),
                    block_timeout_ns: super::FANLOG_WAIT_FOREVER,
                    overflow: FANLOG_HUB_OVERFLOW_DEFAULT,
                })
            };
            FANLOG_OK
        },
        || {},
    )
}

/// A C block timeout as a `Duration` (`FANLOG_WAIT_FOREVER` = forever).
fn block_timeout(ns: u64) -> Duration {
    match ns {
        u64::MAX => Duration::MAX,
        ns => Duration::from_nanos(ns),
    }
}

/// A C overflow policy; `None` for `FANLOG_HUB_OVERFLOW_DEFAULT`.
fn overflow_from(code: u32, block_timeout_ns: u64) -> Result<Option<HubOverflow>, fanlog_status> {
    Ok(Some(match code {
        FANLOG_HUB_OVERFLOW_DEFAULT => return Ok(None),
        FANLOG_HUB_DROP_NEWEST => HubOverflow::DropNewest,
        FANLOG_HUB_DROP_OLDEST => HubOverflow::DropOldest,
        FANLOG_HUB_BLOCK => HubOverflow::Block {
            timeout: block_timeout(block_timeout_ns),
        },
        _ => return Err(FANLOG_INVALID_ARGUMENT),
    }))
}

/// Checks a C capacity (0 = default); `None` for the default.
fn capacity_from(capacity: usize) -> Result<Option<usize>, fanlog_status> {
    match capacity {
        0 => Ok(None),
        c if c > FANLOG_HUB_MAX_CAPACITY => Err(FANLOG_INVALID_ARGUMENT),
        c => Ok(Some(c)),
    }
}

fn hub_builder_from(o: &fanlog_hub_options) -> Result<crate::HubBuilder, fanlog_status> {
    let timestamps = match o.timestamps {
        FANLOG_TIMESTAMPS_COARSE => Timestamps::Coarse,
        FANLOG_TIMESTAMPS_PRECISE => Timestamps::Precise,
        FANLOG_TIMESTAMPS_OFF => Timestamps::Off,
        _ => return Err(FANLOG_INVALID_ARGUMENT),
    };
    let mut b = Hub::builder().timestamps(timestamps);
    if let Some(c) = capacity_from(o.default_capacity)? {
        b = b.default_capacity(c);
    }
    if let Some(p) = overflow_from(o.default_overflow, o.block_timeout_ns)? {
        b = b.default_overflow(p);
    }
    Ok(b)
}

/// Validates subscribe options and copies the name.
///
/// # Safety
/// `o.name` is NULL or a NUL-terminated string.
unsafe fn subscribe_options_from(
    o: &fanlog_subscribe_options,
) -> Result<SubscribeOptions, fanlog_status> {
    let mut opts = SubscribeOptions::new();
    opts.capacity = capacity_from(o.capacity)?;
    opts.overflow = overflow_from(o.overflow, o.block_timeout_ns)?;
    if !o.name.is_null() {
        // SAFETY: NUL-terminated per the contract.
        let name = unsafe { CStr::from_ptr(o.name) };
        opts.name = Some(name.to_string_lossy().into_owned());
    }
    Ok(opts)
}

/// Creates a hub. `options` may be NULL for the defaults. On success `*out`
/// receives a handle that the caller owns and must release with
/// `fanlog_hub_free`.
///
/// Returns `FANLOG_INVALID_ARGUMENT` for invalid options (capacity above
/// `FANLOG_HUB_MAX_CAPACITY`, unknown policy or timestamps value),
/// `FANLOG_NULL_ARGUMENT` if `out` is NULL. Thread-safe.
///
/// # Safety
/// `options` is NULL or points to a valid `fanlog_hub_options`; `out` is
/// NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_hub_new(
    options: *const fanlog_hub_options,
    out: *mut *mut fanlog_hub,
) -> fanlog_status {
    guard(
        || {
            status((|| {
                if out.is_null() {
                    return Err(FANLOG_NULL_ARGUMENT);
                }
                let builder = if options.is_null() {
                    Hub::builder()
                } else {
                    // SAFETY: non-null and valid per the contract.
                    hub_builder_from(unsafe { &*options })?
                };
                let hub = builder.build().map_err(|_| FANLOG_INVALID_ARGUMENT)?;
                let h = handle::new_handle(HubInner { hub });
                // SAFETY: `out` is non-null and valid per the contract.
                unsafe { out.write(h.cast()) };
                Ok(())
            })())
        },
        || {},
    )
}

/// Releases a hub handle and closes the hub with a success status if it is
/// not closed yet (nobody can publish any more): its subscriptions receive
/// what they hold, then `FANLOG_CLOSED`. A publisher blocked on a
/// `FANLOG_HUB_BLOCK` mailbox is released. Subscriptions stay valid until
/// their own free. NULL (and an already freed handle) is ignored. Must not
/// race with other calls on this handle.
///
/// # Safety
/// `hub` is NULL or a handle from `fanlog_hub_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_hub_free(hub: *mut fanlog_hub) {
    let _ = guard(
        || {
            // SAFETY: per the contract; `free` checks the tag.
            unsafe { handle::free::<HubInner>(hub.cast()) };
            FANLOG_OK
        },
        || {},
    );
}

unsafe fn hub_ref<'a>(hub: *const fanlog_hub) -> Result<&'a HubInner, fanlog_status> {
    // SAFETY: forwarded contract of the calling export.
    unsafe { handle::check::<HubInner>(hub.cast::<Tagged<HubInner>>()) }
}

fn poison_hub(hub: &Hub) {
    hub.close(CloseStatus::error(
        -99,
        "fanlog: panic caught at the C boundary",
    ));
}

/// Subscribes to the hub. `kinds` points to `nkinds` event kinds to
/// receive (any values; duplicates are fine); with `nkinds` 0 the
/// subscription receives every kind (`kinds` is then ignored and may be
/// NULL). `options` may be NULL for the hub's defaults. On success `*out`
/// receives a handle that the caller owns and must release with
/// `fanlog_subscription_free`. The subscription receives every event whose
/// publish begins after this returns (or counts it as dropped per its
/// overflow policy). Subscribing to a closed hub succeeds; the subscription
/// reports `FANLOG_CLOSED` at once.
///
/// Returns `FANLOG_NULL_ARGUMENT` (`out` NULL, or `kinds` NULL with
/// `nkinds` > 0), `FANLOG_INVALID_ARGUMENT` (capacity above
/// `FANLOG_HUB_MAX_CAPACITY`, unknown overflow value). Thread-safe; takes
/// the hub's registry lock briefly (publishers never take it).
///
/// # Safety
/// `hub` is a live handle; `kinds` points to `nkinds` readable `uint32_t`s
/// (or `nkinds` is 0); `options` is NULL or points to valid options whose
/// `name` is NULL or NUL-terminated; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_hub_subscribe(
    hub: *const fanlog_hub,
    kinds: *const u32,
    nkinds: usize,
    options: *const fanlog_subscribe_options,
    out: *mut *mut fanlog_subscription,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { hub_ref(hub) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    if out.is_null() || (kinds.is_null() && nkinds > 0) {
        return FANLOG_NULL_ARGUMENT;
    }
    guard(
        || {
            status((|| {
                let opts = if options.is_null() {
                    SubscribeOptions::new()
                } else {
                    // SAFETY: non-null and valid per the contract.
                    unsafe { subscribe_options_from(&*options) }?
                };
                let filter = if nkinds == 0 {
                    Filter::All
                } else {
                    // SAFETY: non-null (checked), `nkinds` elements per the
                    // contract.
                    let k = unsafe { std::slice::from_raw_parts(kinds, nkinds) };
                    Filter::kinds(k.iter().copied())
                };
                let sub = h
                    .hub
                    .subscribe(filter, opts)
                    .map_err(|_| FANLOG_INVALID_ARGUMENT)?;
                let s = handle::new_handle(SubscriptionInner {
                    busy: AtomicBool::new(false),
                    waker: sub.waker(),
                    hub: h.hub.clone(),
                    closed: OnceLock::new(),
                    state: UnsafeCell::new(SubState {
                        sub,
                        held: Vec::new(),
                    }),
                });
                // SAFETY: non-null, writable per the contract.
                unsafe { out.write(s.cast()) };
                Ok(())
            })())
        },
        || poison_hub(&h.hub),
    )
}

/// Publishes one event of `kind` with the `len` bytes at `data` to every
/// matching subscription. The bytes are copied once into an allocation
/// that all those subscriptions share (only if one matches); `data` may be
/// NULL if `len` is 0. On success `*out_delivered` receives the number of
/// mailboxes the event went into and `*out_dropped` the number of events
/// dropped by overflow policies because of it (the new one, or an evicted
/// older one under `FANLOG_HUB_DROP_OLDEST`); both may be NULL.
///
/// Returns `FANLOG_CLOSED` after `fanlog_hub_close` (nothing published).
/// Thread-safe and lock-free; never waits, except for room in the mailbox
/// of a matching `FANLOG_HUB_BLOCK` subscription that is full (up to its
/// block timeout; not interruptible, but unsubscribe, close and free of
/// that subscription release it).
///
/// # Safety
/// `hub` is a live handle; `data` points to `len` readable bytes;
/// `out_delivered` and `out_dropped` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_hub_publish(
    hub: *const fanlog_hub,
    kind: u32,
    data: *const u8,
    len: usize,
    out_delivered: *mut u64,
    out_dropped: *mut u64,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { hub_ref(hub) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    guard(
        || {
            // SAFETY: per the contract.
            let data = match unsafe { bytes(data, len) } {
                Ok(d) => d,
                Err(s) => return s,
            };
            match h.hub.publish(kind, data) {
                Ok(r) => {
                    // SAFETY: per the contract.
                    unsafe {
                        write_opt(out_delivered, r.delivered as u64);
                        write_opt(out_dropped, r.dropped as u64);
                    }
                    FANLOG_OK
                }
                Err(e) => append_status(&e),
            }
        },
        || poison_hub(&h.hub),
    )
}

/// Publishes `count` events of `kind`, one per slice of `records` (each
/// copied once), with consecutive sequence numbers and one load of the
/// subscriber list: cheaper than `count` calls of `fanlog_hub_publish`.
/// `*out_delivered` and `*out_dropped` (may be NULL) receive the sums over
/// the batch. An empty batch (`count` 0, `records` may be NULL) publishes
/// nothing. If any slice has NULL data with a non-zero length, nothing is
/// published and `FANLOG_NULL_ARGUMENT` is returned. Other errors, waiting
/// and thread-safety as for `fanlog_hub_publish`.
///
/// # Safety
/// `hub` is a live handle; `records` points to `count` slices of readable
/// bytes; `out_delivered` and `out_dropped` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_hub_publish_batch(
    hub: *const fanlog_hub,
    kind: u32,
    records: *const fanlog_slice,
    count: usize,
    out_delivered: *mut u64,
    out_dropped: *mut u64,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { hub_ref(hub) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    guard(
        || {
            // SAFETY: per the contract.
            let recs = match unsafe { super::log::check_slices(records, count) } {
                Ok(r) => r,
                Err(s) => return s,
            };
            match h.hub.publish_batch(kind, recs) {
                Ok(r) => {
                    // SAFETY: per the contract.
                    unsafe {
                        write_opt(out_delivered, r.delivered as u64);
                        write_opt(out_dropped, r.dropped as u64);
                    }
                    FANLOG_OK
                }
                Err(e) => append_status(&e),
            }
        },
        || poison_hub(&h.hub),
    )
}

/// Closes the hub with a completion status: `code` 0 and a NULL `message`
/// mean success; otherwise an application error code and an optional
/// NUL-terminated message (copied). Idempotent: the first close wins and
/// later calls return `FANLOG_CLOSED`. When it returns, publishing fails
/// with `FANLOG_CLOSED` and every subscription holds everything it will
/// ever receive: it drains that, then gets `FANLOG_CLOSED` and can read
/// this status. Wakes blocked receivers and publishers. Thread-safe; waits
/// only for publishes in flight to leave the mailboxes.
///
/// # Safety
/// `hub` is a live handle; `message` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_hub_close(
    hub: *const fanlog_hub,
    code: i32,
    message: *const c_char,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { hub_ref(hub) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    guard(
        || {
            let status = if code == 0 && message.is_null() {
                CloseStatus::Ok
            } else {
                let msg = if message.is_null() {
                    String::new()
                } else {
                    // SAFETY: NUL-terminated per the contract.
                    unsafe { CStr::from_ptr(message) }
                        .to_string_lossy()
                        .into_owned()
                };
                CloseStatus::error(code, msg)
            };
            if h.hub.close(status) {
                FANLOG_OK
            } else {
                FANLOG_CLOSED
            }
        },
        || {},
    )
}

/// Reads the hub's close status: `*out_code` (0 for success), and the
/// message copied NUL-terminated into `buf` of `cap` bytes (`buf` may be
/// NULL with `cap` 0 to ask only the length). `*out_len` (may be NULL)
/// receives the message length without the NUL, also when
/// `FANLOG_BUFFER_TOO_SMALL` is returned. Returns `FANLOG_EMPTY` if the hub
/// is not closed. Thread-safe.
///
/// # Safety
/// `hub` is a live handle; the out pointers are NULL or writable (`buf` for
/// `cap` bytes).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_hub_close_status(
    hub: *const fanlog_hub,
    out_code: *mut i32,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { hub_ref(hub) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    guard(
        || match h.hub.close_status() {
            None => FANLOG_EMPTY,
            // SAFETY: per the contract.
            Some(st) => unsafe { copy_status(&st, out_code, buf, cap, out_len) },
        },
        || {},
    )
}

/// Fills `*out` with the hub's counters. Thread-safe.
///
/// # Safety
/// `hub` is a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_hub_get_stats(
    hub: *const fanlog_hub,
    out: *mut fanlog_hub_stats,
) -> fanlog_status {
    // SAFETY: the handle and `out` per the contract.
    unsafe {
        fill_out(hub_ref(hub), out, |h| {
            let s = h.hub.stats();
            Ok(fanlog_hub_stats {
                published: s.published,
                subscriptions: s.subscriptions,
                closed: s.closed as u32,
            })
        })
    }
}

// ------------------------------------------------------------ subscription

/// Releases a subscription: unsubscribes it (a publisher blocked on its
/// mailbox is released) and drops the events it holds. NULL (and an
/// already freed handle) is ignored. Event pointers it returned become
/// invalid. Must not race with other calls on this handle.
///
/// # Safety
/// `sub` is NULL or a handle from `fanlog_hub_subscribe`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_subscription_free(sub: *mut fanlog_subscription) {
    let _ = guard(
        || {
            // SAFETY: per the contract; `free` checks the tag.
            unsafe { handle::free::<SubscriptionInner>(sub.cast()) };
            FANLOG_OK
        },
        || {},
    );
}

unsafe fn sub_ref<'a>(
    sub: *const fanlog_subscription,
) -> Result<&'a SubscriptionInner, fanlog_status> {
    // SAFETY: forwarded contract of the calling export.
    unsafe { handle::check::<SubscriptionInner>(sub.cast::<Tagged<SubscriptionInner>>()) }
}

/// Runs `f` with exclusive access to the subscription (single-consumer
/// guard).
unsafe fn with_sub(
    sub: *const fanlog_subscription,
    f: impl FnOnce(&mut SubState, &SubscriptionInner) -> fanlog_status,
) -> fanlog_status {
    // SAFETY: forwarded contract of the calling export.
    let h = match unsafe { sub_ref(sub) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    // Acquire: pairs with the Release store that ends the previous call, so
    // we see the subscription as that call left it.
    if h.busy.swap(true, Ordering::Acquire) {
        return FANLOG_BUSY;
    }
    let r = guard(
        // SAFETY: `busy` gives this call exclusive access to `state`.
        || f(unsafe { &mut *h.state.get() }, h),
        || poison_hub(&h.hub),
    );
    // Release: publishes our changes to the next call.
    h.busy.store(false, Ordering::Release);
    r
}

/// The C view of `ev`; its `data` borrows `ev`'s payload.
fn event_of(ev: &Event) -> fanlog_event {
    let data = ev.data();
    fanlog_event {
        seq: ev.seq(),
        timestamp_ns: ev.timestamp_ns(),
        data: if data.is_empty() {
            std::ptr::null()
        } else {
            data.as_ptr()
        },
        len: data.len(),
        kind: ev.kind(),
    }
}

/// The status of a receive error; remembers the close status.
fn recv_error(h: &SubscriptionInner, e: RecvError) -> fanlog_status {
    let (s, _) = recv_status(&e);
    if let RecvError::Closed(st) = e {
        let _ = h.closed.set(st);
    }
    s
}

/// Receives the next event, waiting up to `timeout_ns` (0 = don't wait,
/// `FANLOG_WAIT_FOREVER`). On success `*out` describes it; its `data`
/// pointer is zero-copy and valid until the next receive on this
/// subscription or its free. Events come in mailbox order (each publisher
/// thread's events in the order it published them).
///
/// Returns `FANLOG_EMPTY` (timeout 0) or `FANLOG_TIMEOUT`,
/// `FANLOG_INTERRUPTED` (`fanlog_subscription_interrupt`, also one raised
/// while not waiting), `FANLOG_CLOSED` (everything delivered was received
/// after the hub closed or the subscription was unsubscribed; returned
/// again by every later receive; see `fanlog_subscription_close_status`),
/// `FANLOG_BUSY`. Single-consumer; blocks as described.
///
/// # Safety
/// `sub` is a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_subscription_next(
    sub: *const fanlog_subscription,
    timeout_ns: u64,
    out: *mut fanlog_event,
) -> fanlog_status {
    if out.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    // SAFETY: per the contract.
    unsafe {
        with_sub(sub, |st, h| {
            // Releases the events of the previous receive.
            st.held.clear();
            let r = match timeout_ns {
                0 => st.sub.try_recv(),
                u64::MAX => st.sub.recv(),
                ns => st.sub.recv_timeout(Duration::from_nanos(ns)),
            };
            match r {
                Ok(ev) => {
                    // SAFETY: non-null (checked), writable per the contract.
                    out.write(event_of(&ev));
                    st.held.push(ev);
                    FANLOG_OK
                }
                Err(e) => recv_error(h, e),
            }
        })
    }
}

/// Receives up to `cap` events available now, waiting up to `timeout_ns`
/// for the first, into `out[0..*out_count]`. All are zero-copy and valid
/// until the next receive on this subscription or its free. The events are
/// kept in a vector inside the handle that is reused, so receiving
/// allocates only while that vector grows to the largest `cap` used.
/// Returns `FANLOG_INVALID_ARGUMENT` if `cap` is 0; other errors as for
/// `fanlog_subscription_next` (then `*out_count` is not written).
///
/// # Safety
/// `sub` is a live handle; `out` is NULL or writable for `cap` events;
/// `out_count` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_subscription_next_batch(
    sub: *const fanlog_subscription,
    timeout_ns: u64,
    out: *mut fanlog_event,
    cap: usize,
    out_count: *mut usize,
) -> fanlog_status {
    if out.is_null() || out_count.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    if cap == 0 {
        return FANLOG_INVALID_ARGUMENT;
    }
    // SAFETY: per the contract.
    unsafe {
        with_sub(sub, |st, h| {
            // Releases the events of the previous receive.
            st.held.clear();
            let r = match timeout_ns {
                0 => st.sub.try_recv_batch(cap),
                u64::MAX => st.sub.recv_batch(cap),
                ns => st.sub.recv_batch_timeout(cap, Duration::from_nanos(ns)),
            };
            match r {
                Ok(batch) => st.held.extend(batch),
                Err(e) => return recv_error(h, e),
            }
            for (i, ev) in st.held.iter().enumerate() {
                // SAFETY: `i < cap` (a batch holds at most `cap` events);
                // `out` is writable for `cap` events per the contract.
                out.add(i).write(event_of(ev));
            }
            // SAFETY: non-null (checked), writable per the contract.
            out_count.write(st.held.len());
            FANLOG_OK
        })
    }
}

/// Interrupts the subscription's blocked receive (or, if none, its next
/// receive), which returns `FANLOG_INTERRUPTED`. Thread-safe: may be called
/// from any thread while another thread receives. Never blocks.
///
/// # Safety
/// `sub` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_subscription_interrupt(
    sub: *const fanlog_subscription,
) -> fanlog_status {
    // SAFETY: per the contract.
    match unsafe { sub_ref(sub) } {
        Ok(h) => guard(
            || {
                h.waker.interrupt();
                FANLOG_OK
            },
            || {},
        ),
        Err(s) => s,
    }
}

/// Writes to `*out_fd` a readiness file descriptor (Linux eventfd) for
/// poll/epoll: readable whenever the subscription has something to return
/// (an event, `FANLOG_CLOSED`) or was interrupted; possibly spuriously.
/// Wait for readable, then receive with timeout 0 until `FANLOG_EMPTY`
/// (which re-arms it). The fd belongs to the subscription: do not read,
/// write or close it; it is closed by `fanlog_subscription_free`. Repeated
/// calls return the same fd. Returns `FANLOG_OS_ERROR` if no eventfd can be
/// created. Single-consumer.
///
/// # Safety
/// `sub` is a live handle; `out_fd` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_subscription_readiness_fd(
    sub: *const fanlog_subscription,
    out_fd: *mut c_int,
) -> fanlog_status {
    if out_fd.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    // SAFETY: per the contract.
    unsafe {
        with_sub(sub, |st, _| match st.sub.readiness_fd() {
            Ok(fd) => {
                // SAFETY: non-null (checked), writable per the contract.
                out_fd.write(fd);
                FANLOG_OK
            }
            Err(_) => FANLOG_OS_ERROR,
        })
    }
}

/// Fills `*out` with the subscription's counters. Single-consumer; never
/// blocks.
///
/// # Safety
/// `sub` is a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_subscription_get_stats(
    sub: *const fanlog_subscription,
    out: *mut fanlog_subscription_stats,
) -> fanlog_status {
    if out.is_null() {
        return FANLOG_NULL_ARGUMENT;
    }
    // SAFETY: per the contract.
    unsafe {
        with_sub(sub, |st, _| {
            let s = st.sub.stats();
            // SAFETY: non-null (checked), writable per the contract.
            out.write(fanlog_subscription_stats {
                delivered: s.delivered,
                dropped: s.dropped,
                received: s.received,
                depth: s.depth,
                high_water: s.high_water,
                capacity: s.capacity,
                closed: s.closed as u32,
            });
            FANLOG_OK
        })
    }
}

/// Stops deliveries to this subscription. Idempotent. When it returns, no
/// publish delivers anything more to it (not even one already in flight),
/// and a publisher blocked on its mailbox is released. Events already in
/// the mailbox can still be received; then receives return `FANLOG_CLOSED`
/// with a success status (or the hub's status if the hub was closed
/// first). The handle stays valid until `fanlog_subscription_free`.
/// Single-consumer: returns `FANLOG_BUSY` while another thread receives
/// (interrupt that receive first); waits only for publishes in flight to
/// leave the mailbox.
///
/// # Safety
/// `sub` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_subscription_unsubscribe(
    sub: *const fanlog_subscription,
) -> fanlog_status {
    // SAFETY: per the contract.
    unsafe {
        with_sub(sub, |st, _| {
            st.sub.unsubscribe();
            FANLOG_OK
        })
    }
}

/// Reads the subscription's close status: the status its receives return
/// with `FANLOG_CLOSED` once one has; before that, the hub's close status
/// if the hub is closed (what the subscription will report after draining,
/// unless it was unsubscribed before the hub closed). `*out_code` (0 for
/// success), the message copied NUL-terminated into `buf` of `cap` bytes
/// (`buf` may be NULL with `cap` 0 to ask only the length), `*out_len`
/// (may be NULL) the message length without the NUL, also when
/// `FANLOG_BUFFER_TOO_SMALL` is returned. Returns `FANLOG_EMPTY` if neither
/// is known yet. Thread-safe (no busy flag); never blocks.
///
/// # Safety
/// `sub` is a live handle; the out pointers are NULL or writable (`buf`
/// for `cap` bytes).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fanlog_subscription_close_status(
    sub: *const fanlog_subscription,
    out_code: *mut i32,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> fanlog_status {
    // SAFETY: per the contract.
    let h = match unsafe { sub_ref(sub) } {
        Ok(h) => h,
        Err(s) => return s,
    };
    guard(
        || {
            let st = match h.closed.get() {
                Some(st) => st.clone(),
                None => match h.hub.close_status() {
                    Some(st) => st,
                    None => return FANLOG_EMPTY,
                },
            };
            // SAFETY: per the contract.
            unsafe { copy_status(&st, out_code, buf, cap, out_len) }
        },
        || {},
    )
}
