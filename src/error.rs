//! Errors and the close status, in tokio's vocabulary: `Closed`, `Lagged`,
//! `Empty`, `Full`, `TooLarge`, `Timeout`, `Interrupted`.

use std::fmt;
use std::sync::Arc;

/// How the producing side finished: passed to `close` and handed to every
/// consumer once it has drained everything committed before the close.
///
/// This is the "error variable read after a `done` channel" of hand-written
/// Go code, made race-free: the status is written before the close becomes
/// visible, and every consumer observes it only after the last record.
///
/// ```
/// use fanlog::CloseStatus;
/// let ok = CloseStatus::Ok;
/// let failed = CloseStatus::error(7, "upstream reset");
/// assert!(ok.is_ok());
/// assert_eq!(failed.code(), 7);
/// assert_eq!(failed.message(), "upstream reset");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum CloseStatus {
    /// The producers finished normally.
    #[default]
    Ok,
    /// The producers failed; the code and message are the application's.
    Error {
        /// Application error code (never interpreted by fanlog).
        code: i32,
        /// Human-readable message.
        message: Arc<str>,
    },
}

impl CloseStatus {
    /// An error status with `code` and `message`.
    pub fn error(code: i32, message: impl Into<Arc<str>>) -> Self {
        CloseStatus::Error {
            code,
            message: message.into(),
        }
    }

    /// `true` for [`CloseStatus::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, CloseStatus::Ok)
    }

    /// The error code, `0` for `Ok`.
    pub fn code(&self) -> i32 {
        match self {
            CloseStatus::Ok => 0,
            CloseStatus::Error { code, .. } => *code,
        }
    }

    /// The message, `""` for `Ok`.
    pub fn message(&self) -> &str {
        match self {
            CloseStatus::Ok => "",
            CloseStatus::Error { message, .. } => message,
        }
    }
}

impl fmt::Display for CloseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseStatus::Ok => f.write_str("closed normally"),
            CloseStatus::Error { code, message } => {
                write!(f, "closed with error {code}: {message}")
            }
        }
    }
}

/// Why an append (or a publish) failed. Nothing was appended in every case
/// but one: [`AppendError::SyncFailed`], where the records *were* appended
/// and only their sync under `SyncPolicy::EveryBatch` failed (do not append
/// them again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The log was closed; the status is the one given to `close`.
    Closed(CloseStatus),
    /// The record (or the batch) is larger than the configured maximum.
    TooLarge {
        /// Size of the offending record or batch, in bytes.
        len: usize,
        /// The maximum accepted.
        max: usize,
    },
    /// `Reject` policy (or `try_append`): no room in the byte budget now.
    Full,
    /// `Block` policy: no room freed up before the timeout.
    Timeout,
    /// A blocked append was interrupted from another thread.
    Interrupted,
    /// The log was opened read-only (a durable log tailed from another
    /// process).
    ReadOnly,
    /// A durable log could not create its next segment file (the message
    /// names the file and the system error, e.g. no space left on device):
    /// nothing was appended, and the append may be retried.
    Io(Arc<str>),
    /// `SyncPolicy::EveryBatch`: the records **were appended** (the first
    /// has sequence number `first_seq`, the rest of a batch follow it, and
    /// cursors read them like any other), but the `msync` that makes them
    /// durable failed. Durability can no longer be promised, so the log was
    /// closed with an error status (the errno as its code, `message` as its
    /// message). Appending the records again would duplicate them: what is
    /// uncertain is only whether they survive a power loss.
    SyncFailed {
        /// Sequence number of the first record of the failed append.
        first_seq: u64,
        /// What failed (the system error), as in the close status.
        message: Arc<str>,
    },
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::Closed(s) => write!(f, "append on a closed log ({s})"),
            AppendError::TooLarge { len, max } => {
                write!(
                    f,
                    "record of {len} bytes exceeds the maximum of {max} bytes"
                )
            }
            AppendError::Full => f.write_str("log is full (byte budget exhausted)"),
            AppendError::Timeout => f.write_str("timed out waiting for room in the log"),
            AppendError::Interrupted => f.write_str("append interrupted"),
            AppendError::ReadOnly => f.write_str("the log was opened read-only"),
            AppendError::Io(m) => write!(f, "storage error: {m}"),
            AppendError::SyncFailed { message, .. } => write!(f, "sync failed: {message}"),
        }
    }
}

impl std::error::Error for AppendError {}

/// Why a read returned no record. Which variants a method can return is
/// listed in its docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// Nothing to read right now (non-blocking reads only).
    Empty,
    /// Nothing arrived before the timeout.
    Timeout,
    /// The wait was interrupted through a [`Waker`](crate::Waker).
    Interrupted,
    /// The reader fell behind and `missed` records were dropped before it
    /// could read them (`DropOldest` / `DropOldest`-like policies). Returned
    /// once; the next read continues at the oldest retained record.
    Lagged {
        /// How many records this reader will never see.
        missed: u64,
    },
    /// Everything committed before the close has been read; this is the
    /// status the producer gave to `close`. Returned on every later read too.
    Closed(CloseStatus),
    /// Durable logs: the record at sequence `seq` is damaged on disk (bad
    /// CRC, length or commit marker); `detail` names the file and offset.
    /// Every record before it was delivered; the cursor stays at `seq`.
    Corrupt {
        /// The sequence number of the damaged record.
        seq: u64,
        /// File, byte offset and what is wrong.
        detail: Arc<str>,
    },
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Empty => f.write_str("no record available"),
            RecvError::Timeout => f.write_str("timed out waiting for a record"),
            RecvError::Interrupted => f.write_str("wait interrupted"),
            RecvError::Lagged { missed } => write!(f, "reader lagged and missed {missed} records"),
            RecvError::Closed(s) => write!(f, "drained: {s}"),
            RecvError::Corrupt { seq, detail } => {
                write!(f, "record {seq} is corrupt: {detail}")
            }
        }
    }
}

impl std::error::Error for RecvError {}

/// A cursor could not be created at the requested position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartError {
    /// `Start::At(seq)` named a record that has already been evicted or
    /// reclaimed; `oldest` is the oldest sequence still retained.
    Evicted {
        /// The requested sequence number.
        requested: u64,
        /// The oldest sequence number still retained.
        oldest: u64,
    },
    /// `Start::At(seq)` named a sequence number beyond the next one to be
    /// appended (`next`); starting exactly at `next` is allowed.
    Future {
        /// The requested sequence number.
        requested: u64,
        /// The next sequence number to be appended.
        next: u64,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Evicted { requested, oldest } => write!(
                f,
                "sequence {requested} is no longer retained (oldest retained is {oldest})"
            ),
            StartError::Future { requested, next } => write!(
                f,
                "sequence {requested} has not been appended yet (next is {next})"
            ),
        }
    }
}

impl std::error::Error for StartError {}

/// An invalid configuration, refused when the object is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    /// What is wrong, for humans.
    pub reason: String,
}

impl BuildError {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.reason)
    }
}

impl std::error::Error for BuildError {}
