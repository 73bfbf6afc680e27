//! Long-form documentation: the design ([`design`]), the memory orderings
//! ([`orderings`]), the C ABI ([`ffi`]).

pub mod design {
    //! # Design
    //!
    //! See `ARCHITECTURE.md` in the repository for the full picture; the
    //! append and read protocols are documented where they live, in
    //! [`crate::log`] and [`crate::log::segment`].
    //!
    //! ## Differences from the first design sketch
    //!
    //! * **Recycled segments are zeroed.** The sketch hoped a commit word
    //!   carrying the sequence number would make zeroing unnecessary; but a
    //!   stale *payload* from a segment's previous life can contain any byte
    //!   pattern, including the next expected `seq + 1` at the exact offset a
    //!   reader is about to look at. The used prefix of a segment is
    //!   therefore zeroed when it returns to the pool (off the append path in
    //!   the common case: by the reader or reclaimer that recycles it).
    //! * **Eager reclamation.** A segment every cursor has left is recycled at
    //!   once (beyond the optional `retain_bytes`), which keeps the working
    //!   set to a few warm segments — the measured difference between 30 M/s
    //!   and 12 M/s in the design probe.
}

pub mod orderings {
    //! # Memory orderings
    //!
    //! | where | ordering | pairs with / why |
    //! |---|---|---|
    //! | commit word store | Release | the reader's Acquire load of the commit word |
    //! | reservation `fetch_add` | Relaxed | only its modification order matters; data is published by the commit |
    //! | seal store / `sealed_count` load | Release / Acquire | readers see the final count and the frames before it |
    //! | `next` CAS / load | Release / Acquire | a reset successor is fully visible |
    //! | `tail` store / load | Release / Acquire | same |
    //! | lease `fetch_add`, `head_base`, `head` | SeqCst | lease validation: either the reclaimer sees the lease or the cursor sees the head moved |
    //! | event count | SeqCst fences | store-buffer litmus between "condition stored" and "waiter registered" |
    //! | `closed` store / load | Release / Acquire | `final_seq` and the status are visible before `Closed` is reported |
    //! | event count `prepare` / `notify` | membarrier / compiler fence (SeqCst fences without membarrier) | asymmetric store-buffer pairing, see `wait` |
    //! | hub subscription state word | `fetch_add` enter, Release `fetch_sub` exit, `fetch_or` seal | exact unsubscribe and close: see [`crate::hub`] |
    //!
    //! The hub's and snapshots' own arguments are written where they live
    //! ([`crate::hub`], [`crate::snapshot`]).
}

pub mod ffi {
    //! # The C ABI
    //!
    //! `include/fanlog.h` is generated from `src/ffi` by cbindgen in
    //! `build.rs`; CI fails when the committed header differs from the one a
    //! build produces, and compiles it as C11 and C++17 with
    //! `-Wall -Wextra -Werror`.
    //!
    //! * **Handles** (`fanlog_log`, `fanlog_producer`, `fanlog_cursor`,
    //!   `fanlog_hub`, `fanlog_subscription`, `fanlog_snapshot`,
    //!   `fanlog_snapshot_ref`) are boxes that start with a type tag. Every
    //!   entry point checks the tag, so a handle of the wrong type or one that
    //!   was freed gives `FANLOG_INVALID_HANDLE`. Freed shells stay
    //!   allocated, tagged dead, in a quarantine of the last 4096 frees, which
    //!   makes that detection reliable for recent frees without leaking.
    //! * **Single-consumer objects** (cursors, subscriptions) carry a busy
    //!   flag: a second thread calling in concurrently gets `FANLOG_BUSY`
    //!   instead of a data race. Their interrupt functions skip the flag.
    //! * **Zero-copy reads** return pointers into segment memory (or, for the
    //!   hub, into the shared event payload kept in the handle); they stay
    //!   valid until the next call on the same handle or its free.
    //! * **Panics** are caught in every export (`guard`), returned as
    //!   `FANLOG_PANIC`, and close the object they happened in with an error
    //!   status, so every consumer learns about it.
    //! * **No thread-local error state**: a Go caller may move between OS
    //!   threads between two calls. Status strings are static
    //!   (`fanlog_status_str`); close messages are copied out on request.
}
