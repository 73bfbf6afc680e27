package fanlog

// Hooks for the tests (package fanlog_test), compiled only with them.

// EmptyFills is how many reads of s's reader found nothing.
func EmptyFills(s *Subscription) uint64 { return s.r.emptyFills.Load() }

// ParkedReaders is how many readers are parked on h's waker.
func ParkedReaders(h *Hub) int { return int(h.h.wk.waiters.Load()) }
