//! Building a [`Log`](crate::Log): sizes, budget, policies.

use super::frame::HEADER;
use super::segment::{Memory, MAX_SEGMENT_SIZE};
use crate::error::BuildError;

/// What an append does when the byte budget (`max_bytes`) is exhausted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// The producer waits (with its timeout, interruptible) until the slowest
    /// cursor has left the oldest segment. Nobody loses a record.
    #[default]
    Block,
    /// The producer never waits: the oldest segment is evicted, and a cursor
    /// that had not read it gets [`RecvError::Lagged`](crate::RecvError::Lagged)
    /// once, then continues at the oldest retained record.
    DropOldest,
    /// The producer gets [`AppendError::Full`](crate::AppendError::Full) at
    /// once. Nobody loses a record.
    Reject,
}

/// How blocked readers and producers wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WaitStrategy {
    /// Re-check a few times, yielding the CPU in between, then park on a
    /// futex (the default). Producers pay for a wake-up only when somebody
    /// parked since the last wake-up.
    #[default]
    SpinThenPark,
    /// Never park: spin (with `spin_loop` hints) until the deadline. Lowest
    /// latency when every waiter has a core of its own; wasteful otherwise.
    Spin,
}

/// Which clock stamps each record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Timestamps {
    /// `CLOCK_REALTIME_COARSE`: a few ns per append, resolution of one
    /// kernel tick (1–4 ms). The default.
    #[default]
    Coarse,
    /// `CLOCK_REALTIME`: ns resolution, ~20–40 ns per append (one per batch).
    Precise,
    /// No timestamp (records carry 0).
    Off,
}

/// The validated configuration of a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// Bytes per segment (power of two).
    pub segment_size: usize,
    /// Byte budget: at most `max_bytes / segment_size` segments are linked.
    pub max_bytes: usize,
    /// History kept even when no cursor needs it (bytes, rounded down to
    /// whole segments; the tail segment is always kept).
    pub retain_bytes: usize,
    /// Largest payload accepted, in bytes.
    pub max_record_size: usize,
    /// What appends do when the budget is exhausted.
    pub overflow: OverflowPolicy,
    /// How waits are done.
    pub wait: WaitStrategy,
    /// Which clock stamps records.
    pub timestamps: Timestamps,
    /// Where segment memory comes from.
    pub memory: Memory,
    /// Free segments kept for reuse (within the budget).
    pub pool_segments: usize,
}

impl LogConfig {
    /// Segments the budget allows to be linked at once.
    pub fn max_segments(&self) -> usize {
        self.max_bytes / self.segment_size
    }
}

/// Builder for [`Log`](crate::Log); see [`Log::builder`](crate::Log::builder).
///
/// ```
/// use fanlog::{Log, OverflowPolicy};
/// let log = Log::builder()
///     .segment_size(64 * 1024)
///     .max_bytes(1 << 20)
///     .overflow(OverflowPolicy::DropOldest)
///     .build()
///     .unwrap();
/// assert_eq!(log.config().max_record_size, 64 * 1024 - 24);
///
/// // Bad settings are refused, never a panic:
/// assert!(Log::builder().segment_size(1000).build().is_err());
/// ```
#[derive(Clone, Debug)]
pub struct LogBuilder {
    segment_size: usize,
    max_bytes: Option<usize>,
    retain_bytes: usize,
    max_record_size: Option<usize>,
    overflow: OverflowPolicy,
    wait: WaitStrategy,
    timestamps: Timestamps,
    memory: Memory,
    pool_segments: usize,
}

/// Default segment size: 1 MiB (64 KiB under Miri).
pub const DEFAULT_SEGMENT_SIZE: usize = if cfg!(miri) { 1 << 16 } else { 1 << 20 };
/// Smallest segment size accepted.
pub const MIN_SEGMENT_SIZE: usize = 256;
/// Most free segments a log's pool may be asked to keep
/// ([`LogBuilder::pool_segments`]).
pub const MAX_POOL_SEGMENTS: usize = 1 << 16;

impl Default for LogBuilder {
    fn default() -> Self {
        Self {
            segment_size: DEFAULT_SEGMENT_SIZE,
            max_bytes: None,
            retain_bytes: 0,
            max_record_size: None,
            overflow: OverflowPolicy::default(),
            wait: WaitStrategy::default(),
            timestamps: Timestamps::default(),
            memory: if cfg!(miri) {
                Memory::Heap
            } else {
                Memory::Mmap
            },
            pool_segments: 4,
        }
    }
}

impl LogBuilder {
    /// Bytes per segment: a power of two from 256 B to 128 MiB. Default 1 MiB.
    pub fn segment_size(mut self, bytes: usize) -> Self {
        self.segment_size = bytes;
        self
    }

    /// Byte budget for linked segments: at least two segments. Default: 64
    /// segments.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// History to keep even when no cursor needs it (default 0: a segment is
    /// recycled as soon as every cursor has left it, which keeps the working
    /// set small and in cache). `Start::Earliest` starts at the oldest
    /// retained record.
    pub fn retain_bytes(mut self, bytes: usize) -> Self {
        self.retain_bytes = bytes;
        self
    }

    /// Largest payload accepted; at most `segment_size - 24` (the default).
    pub fn max_record_size(mut self, bytes: usize) -> Self {
        self.max_record_size = Some(bytes);
        self
    }

    /// What appends do when the budget is exhausted. Default `Block`.
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    /// How waits are done. Default `SpinThenPark`.
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> Self {
        self.wait = wait;
        self
    }

    /// Which clock stamps records. Default `Coarse`.
    pub fn timestamps(mut self, timestamps: Timestamps) -> Self {
        self.timestamps = timestamps;
        self
    }

    /// Where segment memory comes from. Default `Mmap` (`Heap` under Miri).
    pub fn memory(mut self, memory: Memory) -> Self {
        self.memory = memory;
        self
    }

    /// Free segments kept for reuse (default 4; capped by the budget; at
    /// most [`MAX_POOL_SEGMENTS`], else the build fails: the pool's slots
    /// are allocated up front).
    pub fn pool_segments(mut self, n: usize) -> Self {
        self.pool_segments = n;
        self
    }

    /// Validates the settings.
    pub fn config(&self) -> Result<LogConfig, BuildError> {
        self.validate(HEADER, None)
    }

    /// Validates the settings for a durable log: 32-byte frame headers, and
    /// history kept up to the budget unless `retain` says otherwise.
    #[cfg_attr(fanlog_loom, allow(dead_code))]
    pub(crate) fn durable_config(&self, retain: Option<usize>) -> Result<LogConfig, BuildError> {
        self.validate(super::frame::DURABLE_HEADER, Some(retain))
    }

    fn validate(
        &self,
        header: usize,
        durable: Option<Option<usize>>,
    ) -> Result<LogConfig, BuildError> {
        let s = self.segment_size;
        if self.pool_segments > MAX_POOL_SEGMENTS {
            return Err(BuildError::new(format!(
                "pool_segments must be at most {MAX_POOL_SEGMENTS}, got {}",
                self.pool_segments
            )));
        }
        if !s.is_power_of_two() || !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&s) {
            return Err(BuildError::new(format!(
                "segment_size must be a power of two between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE} bytes, got {s}"
            )));
        }
        let max_bytes = self.max_bytes.unwrap_or(s.saturating_mul(64));
        if max_bytes / s < 2 {
            return Err(BuildError::new(format!(
                "max_bytes must allow at least two segments of {s} bytes, got {max_bytes}"
            )));
        }
        let limit = s - header;
        let max_record_size = self.max_record_size.unwrap_or(limit);
        if max_record_size > limit || max_record_size > u32::MAX as usize {
            return Err(BuildError::new(format!(
                "max_record_size must be at most segment_size - {header} = {limit} bytes, got {max_record_size}"
            )));
        }
        let retain_bytes = match durable {
            Some(Some(r)) => r,
            Some(None) => max_bytes,
            None => self.retain_bytes,
        };
        if retain_bytes > max_bytes {
            return Err(BuildError::new(format!(
                "retain_bytes ({retain_bytes}) cannot exceed max_bytes ({max_bytes})"
            )));
        }
        Ok(LogConfig {
            segment_size: s,
            max_bytes,
            retain_bytes,
            max_record_size,
            overflow: self.overflow,
            wait: self.wait,
            timestamps: self.timestamps,
            memory: self.memory,
            pool_segments: self.pool_segments.min(max_bytes / s),
        })
    }
}
