//! A subscription's bounded mailbox: crossbeam-queue's `ArrayQueue`, or a
//! loom mutex stand-in under loom (crossbeam-queue does not go through
//! loom), behind one small API.

use super::Event;

/// A bounded MPMC queue of events (one consumer in practice: the
/// subscription; several producers: the publishers).
pub(crate) struct Mailbox {
    #[cfg(not(fanlog_loom))]
    queue: crossbeam_queue::ArrayQueue<Event>,
    #[cfg(fanlog_loom)]
    queue: crate::sync::Mutex<std::collections::VecDeque<Event>>,
    #[cfg(fanlog_loom)]
    cap: usize,
}

impl Mailbox {
    /// A mailbox of `cap` events (`cap >= 1`, checked by the caller).
    pub(crate) fn new(cap: usize) -> Self {
        debug_assert!(cap >= 1);
        #[cfg(not(fanlog_loom))]
        {
            Self {
                queue: crossbeam_queue::ArrayQueue::new(cap),
            }
        }
        #[cfg(fanlog_loom)]
        {
            Self {
                queue: crate::sync::Mutex::new(std::collections::VecDeque::with_capacity(cap)),
                cap,
            }
        }
    }

    /// Appends `ev`, or gives it back when full.
    #[inline]
    pub(crate) fn push(&self, ev: Event) -> Result<(), Event> {
        #[cfg(not(fanlog_loom))]
        {
            self.queue.push(ev)
        }
        #[cfg(fanlog_loom)]
        {
            let mut q = self.queue.lock().unwrap();
            if q.len() < self.cap {
                q.push_back(ev);
                Ok(())
            } else {
                Err(ev)
            }
        }
    }

    /// Appends `ev`, evicting and returning the oldest event when full.
    #[inline]
    pub(crate) fn force_push(&self, ev: Event) -> Option<Event> {
        #[cfg(not(fanlog_loom))]
        {
            self.queue.force_push(ev)
        }
        #[cfg(fanlog_loom)]
        {
            let mut q = self.queue.lock().unwrap();
            let evicted = if q.len() == self.cap {
                q.pop_front()
            } else {
                None
            };
            q.push_back(ev);
            evicted
        }
    }

    /// Takes the oldest event.
    #[inline]
    pub(crate) fn pop(&self) -> Option<Event> {
        #[cfg(not(fanlog_loom))]
        {
            self.queue.pop()
        }
        #[cfg(fanlog_loom)]
        {
            self.queue.lock().unwrap().pop_front()
        }
    }

    /// Events held now (exact when quiescent).
    pub(crate) fn len(&self) -> usize {
        #[cfg(not(fanlog_loom))]
        {
            self.queue.len()
        }
        #[cfg(fanlog_loom)]
        {
            self.queue.lock().unwrap().len()
        }
    }
}
