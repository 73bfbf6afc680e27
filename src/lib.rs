//! # fanlog
//!
//! A lock-free broadcast log and event fan-out for Rust, C and Go.
//!
//! Go and C services keep re-writing the same concurrency by hand: a
//! broadcast queue as a mutex around a list of chunks with a cursor per
//! consumer; observers notified from a locked slice; a condition variable
//! that misses a wake-up; an error variable read after a `done` channel while
//! a reader drains a buffer. fanlog is the one tested core they can link
//! instead.
//!
//! * [`Log`]: many producers append byte records with gap-free sequence
//!   numbers; every [`Cursor`] reads every record, in the same order, without
//!   a lock on the read path; a byte budget with an [`OverflowPolicy`]
//!   (block / drop-oldest with [`RecvError::Lagged`] / reject); close with a
//!   [`CloseStatus`] that every consumer sees after draining; waits with
//!   timeout, interrupt ([`Waker`]) and a readiness fd, with no lost
//!   wake-ups.
//!
//! ```
//! use fanlog::{CloseStatus, Log, RecvError, Start};
//!
//! let log = Log::new();
//! let mut cursor = log.cursor(Start::Earliest).unwrap();
//! let producer = log.producer();
//! let t = std::thread::spawn(move || {
//!     for i in 0..1000u32 {
//!         producer.append(&i.to_le_bytes()).unwrap();
//!     }
//! });
//! t.join().unwrap();
//! log.close(CloseStatus::Ok);
//! let mut n = 0u32;
//! loop {
//!     match cursor.next() {
//!         Ok(rec) => {
//!             assert_eq!(rec.data(), &n.to_le_bytes());
//!             n += 1;
//!         }
//!         Err(RecvError::Closed(status)) => {
//!             assert!(status.is_ok());
//!             break;
//!         }
//!         Err(e) => panic!("{e}"),
//!     }
//! }
//! assert_eq!(n, 1000);
//! ```
//!
//! The long-form design notes live in [`docs`].

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

#[cfg(not(target_os = "linux"))]
compile_error!("fanlog currently supports Linux only (futex, eventfd)");

pub mod docs;
mod error;
pub mod hub;
pub mod log;
pub mod snapshot;
pub mod store;
mod sync;
mod wait;

pub mod ffi;

pub use error::{AppendError, BuildError, CloseStatus, RecvError, StartError};
pub use hub::{
    Event, Filter, Hub, HubBuilder, HubOverflow, HubStats, PublishReport, Publisher,
    SubscribeOptions, Subscription, SubscriptionStats,
};
pub use log::config::{LogConfig, DEFAULT_SEGMENT_SIZE, MAX_POOL_SEGMENTS, MIN_SEGMENT_SIZE};
pub use log::segment::Memory;
pub use log::{
    Batch, Cursor, CursorStats, Log, LogBuilder, LogStats, OverflowPolicy, Producer, Record, Start,
    Timestamps, WaitStrategy,
};
pub use snapshot::{BlobSnapshot, Snapshot, SnapshotGuard};
pub use store::{OpenOptions, Recovery, StoreError, SyncPolicy, Verify};
pub use wait::Waker;
