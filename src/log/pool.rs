//! The segment pool: free segments kept for reuse, so that steady-state
//! appends touch a small set of warm pages and never allocate.

use super::segment::Segment;

/// A segment pointer that may cross threads (ownership moves with it).
pub(crate) struct SegPtr(pub(crate) *mut Segment);

// SAFETY: a `SegPtr` in the pool or in a deferred closure is the unique
// owner of a boxed `Segment`, and `Segment` is `Send + Sync`.
unsafe impl Send for SegPtr {}

/// A bounded lock-free stack of free segments (crossbeam-queue's
/// `ArrayQueue`; a loom mutex stand-in under loom, since crossbeam-queue
/// does not go through loom).
pub(crate) struct Pool {
    #[cfg(not(fanlog_loom))]
    queue: Option<crossbeam_queue::ArrayQueue<SegPtr>>,
    #[cfg(fanlog_loom)]
    queue: crate::sync::Mutex<Vec<SegPtr>>,
    #[cfg(fanlog_loom)]
    cap: usize,
}

impl Pool {
    /// A pool holding at most `cap` segments.
    pub(crate) fn new(cap: usize) -> Self {
        #[cfg(not(fanlog_loom))]
        {
            Self {
                queue: (cap > 0).then(|| crossbeam_queue::ArrayQueue::new(cap)),
            }
        }
        #[cfg(fanlog_loom)]
        {
            Self {
                queue: crate::sync::Mutex::new(Vec::new()),
                cap,
            }
        }
    }

    /// Takes a free segment.
    pub(crate) fn pop(&self) -> Option<SegPtr> {
        #[cfg(not(fanlog_loom))]
        {
            self.queue.as_ref()?.pop()
        }
        #[cfg(fanlog_loom)]
        {
            self.queue.lock().unwrap().pop()
        }
    }

    /// Offers a free segment; gives it back if the pool is full.
    pub(crate) fn push(&self, seg: SegPtr) -> Result<(), SegPtr> {
        #[cfg(not(fanlog_loom))]
        {
            match &self.queue {
                Some(q) => q.push(seg),
                None => Err(seg),
            }
        }
        #[cfg(fanlog_loom)]
        {
            let mut q = self.queue.lock().unwrap();
            if q.len() < self.cap {
                q.push(seg);
                Ok(())
            } else {
                Err(seg)
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        while let Some(SegPtr(p)) = self.pop() {
            // SAFETY: the pool owned this boxed segment; nobody else can
            // reach it once the pool is being dropped.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}
