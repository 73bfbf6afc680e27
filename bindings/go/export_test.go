package fanlog

// Hooks for the tests (package fanlog_test), compiled only with them.

// EmptyFills is how many reads of s's reader found nothing.
func EmptyFills(s *Subscription) uint64 { return s.r.emptyFills.Load() }

// ParkedReaders is how many readers are parked on h's waker.
func ParkedReaders(h *Hub) int { return int(h.h.wk.waiters.Load()) }

// ParkedCounts is h's waker's count of parked readers without a filter,
// and its per-bucket counts of parked filtered readers (non-zero ones).
func ParkedCounts(h *Hub) (all int, buckets map[int]int) {
	w := h.h.wk
	buckets = map[int]int{}
	for b := range w.parkedIn {
		if n := w.parkedIn[b].Load(); n != 0 {
			buckets[b] = int(n)
		}
	}
	return int(w.parkedAll.Load()), buckets
}

// FailNextSync makes the next append to l that succeeds report a failed
// msync (a *SyncError), as SyncEveryBatch does when the disk fails: the
// log is closed with EIO.
func FailNextSync(l *Log) { l.h.failSync.Store(true) }
