//! Which events a subscription wants: all, a set of kinds, or a predicate.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Which events a subscription receives.
///
/// ```
/// use fanlog::hub::Filter;
/// let all = Filter::All;
/// let some = Filter::kinds([1, 2, 300]);
/// let big = Filter::predicate(|_kind, payload| payload.len() > 1024);
/// assert!(all.matches(7, b""));
/// assert!(some.matches(300, b"") && !some.matches(3, b""));
/// assert!(!big.matches(0, b"small"));
/// ```
#[derive(Clone, Debug, Default)]
pub enum Filter {
    /// Every event.
    #[default]
    All,
    /// Events whose kind is in the set (see [`Filter::kinds`]).
    Kinds(KindSet),
    /// Events for which the closure returns `true` (see
    /// [`Filter::predicate`]).
    Predicate(Predicate),
}

impl Filter {
    /// Events whose kind is one of `kinds` (any number; duplicates are
    /// fine; an empty set matches nothing).
    pub fn kinds(kinds: impl IntoIterator<Item = u32>) -> Self {
        Filter::Kinds(KindSet::new(kinds))
    }

    /// Events for which `f(kind, payload)` returns `true`.
    ///
    /// The closure runs on the publisher's thread, once per publish, for
    /// this subscription; keep it short and non-blocking. If it panics, the
    /// panic is caught: this subscription is closed with
    /// [`PREDICATE_PANICKED`](crate::hub::PREDICATE_PANICKED) and the publish
    /// goes on to the other subscriptions.
    pub fn predicate(f: impl Fn(u32, &[u8]) -> bool + Send + Sync + 'static) -> Self {
        Filter::Predicate(Predicate(Arc::new(f)))
    }

    /// Whether an event of `kind` with `payload` passes (a panicking
    /// predicate panics here; the hub catches it).
    pub fn matches(&self, kind: u32, payload: &[u8]) -> bool {
        match self {
            Filter::All => true,
            Filter::Kinds(set) => set.contains(kind),
            Filter::Predicate(p) => (p.0)(kind, payload),
        }
    }

    /// [`matches`](Self::matches) with the predicate's panic caught and
    /// turned into its message.
    #[inline]
    pub(crate) fn try_matches(&self, kind: u32, payload: &[u8]) -> Result<bool, String> {
        match self {
            Filter::All => Ok(true),
            Filter::Kinds(set) => Ok(set.contains(kind)),
            Filter::Predicate(p) => {
                // AssertUnwindSafe: after a panic the predicate is never
                // called again (its subscription is closed), so no broken
                // state of the closure can be observed.
                catch_unwind(AssertUnwindSafe(|| (p.0)(kind, payload))).map_err(|e| {
                    e.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| e.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic payload".to_string())
                })
            }
        }
    }
}

/// A set of event kinds with an O(1) test for kinds below 64 (a bitmap) and
/// a binary search over a sorted slice for the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindSet {
    /// Bit `k` set: kind `k` (< 64) is in the set.
    low: u64,
    /// Kinds >= 64, sorted, without duplicates.
    high: Box<[u32]>,
}

impl KindSet {
    /// The set of `kinds`.
    pub fn new(kinds: impl IntoIterator<Item = u32>) -> Self {
        let mut low = 0u64;
        let mut high = Vec::new();
        for k in kinds {
            if k < 64 {
                low |= 1 << k;
            } else {
                high.push(k);
            }
        }
        high.sort_unstable();
        high.dedup();
        Self {
            low,
            high: high.into_boxed_slice(),
        }
    }

    /// Whether `kind` is in the set.
    #[inline]
    pub fn contains(&self, kind: u32) -> bool {
        if kind < 64 {
            self.low & (1 << kind) != 0
        } else {
            !self.high.is_empty() && self.high.binary_search(&kind).is_ok()
        }
    }

    /// Number of kinds in the set.
    pub fn len(&self) -> usize {
        self.low.count_ones() as usize + self.high.len()
    }

    /// Whether the set is empty (the filter then matches nothing).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A predicate filter's closure (shared, so a [`Filter`] is cheap to clone).
#[derive(Clone)]
pub struct Predicate(Arc<PredicateFn>);

/// The closure type behind a [`Predicate`].
type PredicateFn = dyn Fn(u32, &[u8]) -> bool + Send + Sync;

impl std::fmt::Debug for Predicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Predicate(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_sets() {
        let s = KindSet::new([0, 63, 64, 1000, 64, u32::MAX, 5]);
        for k in [0, 5, 63, 64, 1000, u32::MAX] {
            assert!(s.contains(k), "{k}");
        }
        for k in [1, 62, 65, 999, 1001] {
            assert!(!s.contains(k), "{k}");
        }
        assert_eq!(s.len(), 6);
        assert!(KindSet::new([]).is_empty());
        assert!(!Filter::kinds([]).matches(0, b""));
    }

    #[test]
    fn predicate_panic_is_caught() {
        let f = Filter::predicate(|k, _| if k == 3 { panic!("boom {k}") } else { true });
        assert_eq!(f.try_matches(1, b""), Ok(true));
        let msg = f.try_matches(3, b"").unwrap_err();
        assert!(msg.contains("boom 3"), "{msg}");
    }
}
