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
    //!   therefore zeroed before it is linked again, by the linker (a
    //!   producer) as it takes the segment from the pool. Zeroing when the
    //!   segment returned to the pool, on the reader that recycled it, was
    //!   measured slower: it left every line modified in the reader's cache,
    //!   and the producer then fetched each one across cores as it wrote.
    //! * **Eager reclamation.** A segment every cursor has left is recycled at
    //!   once (beyond the optional `retain_bytes`), which keeps the working
    //!   set to a few warm segments — the measured difference between 30 M/s
    //!   and 12 M/s in the design probe.
    //! * **Appends do not pin the epoch (in-memory logs).** Profiles showed
    //!   crossbeam-epoch's pin — one full fence per append, draining a store
    //!   buffer full of the previous record's lines that the consumer is
    //!   reading — as 37% of 1 → 1 time. The fast path now loads the tail
    //!   pointer and reserves on it without pinning. That is sound because
    //!   in-memory segments are *type-stable*: a recycled segment goes to the
    //!   pool, or, when the pool is full, to a graveyard (a push-only stack
    //!   popped only by the linker) with its pages handed back with
    //!   `MADV_DONTNEED`; no segment is freed before the log. A stale pointer
    //!   therefore still points at a segment, and its reservation word
    //!   decides: a retired life is sealed, so the `fetch_add` fails (the
    //!   producer takes the pinned path and finds the real tail); a new life
    //!   was reset with the tail word stored last, with Release, so the
    //!   Acquire `fetch_add` that lands in it sees that life's base. Two more
    //!   rules close the gaps the pin used to cover: `recycle` first waits
    //!   until every frame reserved in the retiring life is committed (a
    //!   preempted producer may still be copying into it), and `close` takes
    //!   the linker's flag to install its end-of-log link, so a linker is
    //!   never between resetting a segment and linking it when the log
    //!   closes (a reservation in that segment would otherwise be lost).
    //!   Durable segments are unmapped when recycled, so durable logs keep
    //!   the pinned path. Measured: 1 → 1 `cargo bench --bench log` went from
    //!   8–9 to 13.5 M records/s at 8 B and from 6.4 to 11 M/s at 64 B on the
    //!   shared 2-core machine (one core busy with another job).
    //! * **A single producing thread reserves without a locked instruction**
    //!   (the producer bias, `log::bias`). With the pin gone, the profile of
    //!   1 → 1 put 85% of `append_one` on the reservation's `lock xadd`: a
    //!   locked instruction drains the store buffer, whose stores go to lines
    //!   the consumer is reading. The first thread to append to an in-memory
    //!   log now owns it and reserves with a plain load and store, inside a
    //!   `busy` flag; the first append from another thread (or `close`)
    //!   revokes the bias for good, with a `membarrier` and a wait for `busy`
    //!   (the same asymmetric store-buffer pairing as the event count). No new
    //!   API: any single-threaded producer gets it, and a second producer
    //!   costs one revocation, which waits for the owner's append in flight
    //!   (the one moment appends are not strictly lock-free: an owner stopped
    //!   inside an append holds up the second producer's first one). A Go producer goroutine that migrates between
    //!   OS threads revokes it at its first migration (correct, only slower).
    //!   Appends are not async-signal-safe (they never were: a signal handler
    //!   appending on the owner thread would interleave with its plain
    //!   reservation).
    //! * **The owner's append is inlined; everything else is out of line.**
    //!   `append_one` first tries `append_owned`: if the calling thread owns
    //!   the bias and the record fits in the tail segment, it reserves,
    //!   writes and commits without leaving the caller (`Bias::try_owned`:
    //!   the owner check, `busy`, the fence and the re-check, nothing else);
    //!   otherwise it changes nothing and the out-of-line path
    //!   (`append_one_slow`: claiming, revoking, sealing, linking, waiting,
    //!   closing, errors) runs as before. Payloads of 8 to 64 bytes are
    //!   copied with overlapping word moves instead of a `memcpy` call.
    //!   callgrind of a single-threaded 8-byte append loop: 178 → 124
    //!   instructions per append (the rest is the loop, recycling and the
    //!   zeroing of reused segments); its rate went from 55–64 to 105–108
    //!   M/s on the shared 2-vCPU guest.
    //! * **Waiters yield instead of spinning, and a wake-up is paid once per
    //!   round of waiting.** `SpinThenPark` re-checks after each of 32
    //!   `sched_yield`s, then parks; the event count's armed flag, in the futex
    //!   word itself, makes only the first notify after a waiter armed pay the
    //!   RMW and the `FUTEX_WAKE`. Both measured in BENCHMARKS.md ("Waiting").
    //!
    //! ## The durable log ([`crate::store`])
    //!
    //! * **Same engine, other memory.** A durable log is the in-memory log
    //!   whose segments are `MAP_SHARED` mappings of preallocated files
    //!   (a 4 KiB header page, then exactly `segment_size` bytes of frames),
    //!   so producers, cursors, leases, reclamation and waiting are the code
    //!   the loom models check. Recycling deletes the file instead of zeroing
    //!   and pooling it (a fresh `posix_fallocate`d file reads as zeros).
    //! * **Frames grow a CRC.** Durable frames have a 32-byte header: the
    //!   in-memory 24 bytes, then a CRC-32C over the sequence number, the
    //!   header fields and the payload. In-memory logs keep 24-byte headers,
    //!   or 16 bytes without timestamps (the header size is a per-log
    //!   value).
    //! * **Recovery keeps a gap-free prefix.** It scans from the checkpoint
    //!   that `flush` writes and cuts at the first bad frame. Damage *before*
    //!   the checkpoint cannot be a torn write (that data was synced), so it is
    //!   an error (`Verify::All`) or a `RecvError::Corrupt` at read time,
    //!   never a silent cut.
    //! * **Tailing needs no new protocol for records**: commits are visible
    //!   through the shared mapping. Segment rolls are announced in the old
    //!   segment's header page (`SEALED | count`, stored after the successor
    //!   file was renamed into place) and the close in the tail's header, so
    //!   a tailing process's follower thread finds them without a system
    //!   call, maps the next file and links it with the same Release/Acquire
    //!   steps as the in-process linker.
    //! * **No loom model for the store.** Its cross-process steps (header
    //!   words, files) cannot run under loom, whose atomics cannot live in a
    //!   file mapping; they are covered by the kill, corruption, tailing and
    //!   fuzz tests instead (`tests/store*.rs`, `fuzz/`).
}

pub mod orderings {
    //! # Memory orderings
    //!
    //! | where | ordering | pairs with / why |
    //! |---|---|---|
    //! | commit word store | Release | the reader's Acquire load of the commit word |
    //! | reservation `fetch_add` | Relaxed (pinned path), Acquire (pin-free path) | only its modification order matters; data is published by the commit. Pin-free: a stale pointer's reservation that lands in a reused segment synchronizes with `reset`'s Release store of the tail word, so it sees the new base |
    //! | `Segment::reset` tail-word store | Release, after the other fields | see the line above |
    //! | `wait_committed` (recycle) commit-word loads | Acquire | a preempted producer's writes happen before the segment is zeroed |
    //! | `Segment::read_through` store (cursor at a sealed end) / load (recycle) | Release / Acquire | the cursor's Acquire loads of every commit word, and so every frame write, happen before the segment is zeroed, in place of the walk above |
    //! | seal store / `sealed_count` load | Release / Acquire | readers see the final count and the frames before it |
    //! | `next` CAS / load | Release / Acquire | a reset successor is fully visible |
    //! | `tail` store / load | Release / Acquire | same |
    //! | lease `fetch_add`, `head_base`, `head` | SeqCst | lease validation: either the reclaimer sees the lease or the cursor sees the head moved |
    //! | event count | SeqCst fences | store-buffer litmus between "condition stored" and "waiter registered" |
    //! | `closed` store / load | Release / Acquire | `final_seq` and the status are visible before `Closed` is reported |
    //! | event count `prepare` / `notify` | membarrier / compiler fence (SeqCst fences without membarrier) | asymmetric store-buffer pairing, see `wait` |
    //! | event count armed flag: `prepare`'s `fetch_or` / the wake's update | Acquire / Release | a waiter whose key includes a wake sees what the notifier stored before it |
    //! | producer bias: owner's `busy` store, owner re-check / revoker's CAS, `busy` load | compiler fence / membarrier (SeqCst fences without membarrier) | asymmetric store-buffer pairing: the owner sees the revocation or the revoker sees `busy` |
    //! | producer bias: `busy` clear / revoker's `busy` load, `REVOKED` store / every append's load | Release / Acquire | the owner's plain reservation happens before every later RMW on the word |
    //! | producer bias: the owner's plain tail-word load and store | Relaxed | nobody else writes the word while the bias is held; data is published by the commit |
    //! | producer bias: `try_owned`'s first load of `owner` | Relaxed | only a value equal to our own id matters, which only this thread stored; the re-check after the fence decides |
    //! | segment header `sealed` / `closed` words (durable) | Release / Acquire | a tailing process finds the successor file renamed into place / the close-status file written |
    //! | named cursor word (durable) | Release / Acquire | a commit is ordered after the consumer's work; readers of the word in other processes see it |
    //! | follower's tail-word CAS (read-only logs) | Release | `Start::Latest` cursors Acquire the committed prefix |
    //! | handle count (`Log`, `Producer`, `Cursor`): increment / decrement | Relaxed / AcqRel | as `Arc`: the last handle's drop sees every other handle's work before it shuts a durable log down (thread joined, last sync, lock released) |
    //! | deferred retire of an unlinked segment | holds a `Weak` | a retire that runs after the last reference frees the segment itself; a durable segment's file was deleted at unlink (Relaxed `deleted` flag, ordered by the grace period or the last lease) |
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
