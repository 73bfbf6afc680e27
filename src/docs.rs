//! Long-form documentation: the design, the memory orderings, the C ABI.

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
}
