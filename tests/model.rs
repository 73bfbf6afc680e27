//! The log against a simple model (a `Vec` of records and a position per
//! cursor) under randomized single-threaded operations (proptest).

use fanlog::{AppendError, CloseStatus, Log, OverflowPolicy, RecvError, Start, StartError};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Append { kind: u32, len: usize },
    Batch { n: usize, len: usize },
    Open(u8),
    Read { cursor: usize, max: usize },
    DropCursor(usize),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..4, 0usize..300).prop_map(|(kind, len)| Op::Append { kind, len }),
        2 => (0usize..6, 0usize..80).prop_map(|(n, len)| Op::Batch { n, len }),
        1 => any::<u8>().prop_map(Op::Open),
        6 => (0usize..4, 1usize..20).prop_map(|(cursor, max)| Op::Read { cursor, max }),
        1 => (0usize..4).prop_map(Op::DropCursor),
        1 => Just(Op::Close),
    ]
}

fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

/// A model cursor: the next sequence number it expects.
struct ModelCursor {
    cursor: fanlog::Cursor,
    expect: u64,
}

fn run(ops: Vec<Op>, policy: OverflowPolicy) {
    let seg = 512;
    let log = Log::builder()
        .segment_size(seg)
        .max_bytes(seg * 3)
        .overflow(policy)
        .build()
        .unwrap();
    let p = log.producer();
    let mut records: Vec<(u32, usize)> = Vec::new(); // (kind, len) by seq
    let mut cursors: Vec<ModelCursor> = Vec::new();
    let mut closed = false;
    for op in ops {
        match op {
            Op::Append { kind, len } => {
                let seq = records.len() as u64;
                let r = p.try_append(kind, &payload(seq, len));
                match r {
                    Ok(s) => {
                        assert!(!closed);
                        assert_eq!(s, seq);
                        records.push((kind, len));
                    }
                    Err(AppendError::TooLarge { .. }) => assert!(len > seg - 24),
                    Err(AppendError::Closed(_)) => assert!(closed),
                    Err(AppendError::Full) => assert_ne!(policy, OverflowPolicy::DropOldest),
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Batch { n, len } => {
                let seq = records.len() as u64;
                let batch: Vec<_> = (0..n).map(|i| payload(seq + i as u64, len)).collect();
                match p.try_append_batch(9, &batch) {
                    Ok(s) => {
                        assert!(!closed);
                        assert_eq!(s, seq);
                        records.extend((0..n).map(|_| (9, len)));
                    }
                    Err(AppendError::TooLarge { len: total, max }) => {
                        assert!(total > max);
                        assert_eq!(max, seg);
                    }
                    Err(AppendError::Closed(_)) => assert!(closed),
                    Err(AppendError::Full) => assert_ne!(policy, OverflowPolicy::DropOldest),
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Open(x) => {
                if cursors.len() >= 4 {
                    continue;
                }
                let next = records.len() as u64;
                let oldest = log.stats().oldest_seq;
                let (start, expect) = match x % 4 {
                    0 => (Start::Earliest, oldest),
                    1 => (Start::Latest, next),
                    _ => {
                        let want = (x as u64 * 7) % (next + 2);
                        (Start::At(want), want)
                    }
                };
                match log.cursor(start) {
                    Ok(cursor) => {
                        assert_eq!(cursor.position(), expect, "{start:?}");
                        cursors.push(ModelCursor { cursor, expect });
                    }
                    Err(StartError::Evicted {
                        requested,
                        oldest: o,
                    }) => {
                        assert!(requested < o);
                        assert_eq!(o, oldest);
                    }
                    Err(StartError::Future { requested, next: n }) => {
                        assert!(requested > n);
                        assert_eq!(n, next);
                    }
                }
            }
            Op::Read { cursor, max } => {
                let Some(mc) = cursors.get_mut(cursor) else {
                    continue;
                };
                match mc.cursor.try_next_batch(max) {
                    Ok(batch) => {
                        let mut n = 0;
                        for r in batch {
                            assert_eq!(r.seq(), mc.expect);
                            let (kind, len) = records[r.seq() as usize];
                            assert_eq!(r.kind(), kind);
                            assert_eq!(r.data(), &payload(r.seq(), len)[..]);
                            mc.expect += 1;
                            n += 1;
                        }
                        assert!(n >= 1 && n <= max);
                    }
                    Err(RecvError::Empty) => {
                        assert!(mc.expect <= records.len() as u64);
                        if policy != OverflowPolicy::DropOldest {
                            assert_eq!(mc.expect, records.len() as u64, "Empty with records left");
                        }
                    }
                    Err(RecvError::Lagged { missed }) => {
                        assert_eq!(policy, OverflowPolicy::DropOldest);
                        mc.expect += missed;
                        assert!(mc.expect <= records.len() as u64);
                    }
                    Err(RecvError::Closed(_)) => {
                        assert!(closed);
                        assert_eq!(mc.expect, records.len() as u64);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Op::DropCursor(i) => {
                if i < cursors.len() {
                    cursors.remove(i);
                }
            }
            Op::Close => {
                assert_eq!(log.close(CloseStatus::Ok), !closed);
                closed = true;
            }
        }
        let st = log.stats();
        assert_eq!(st.records_appended, records.len() as u64);
        assert_eq!(st.cursors, cursors.len());
        assert!(st.segments_retained <= 3);
    }
    // Drain: everything left arrives in order, then Closed if closed.
    for mc in &mut cursors {
        loop {
            match mc.cursor.try_next() {
                Ok(r) => {
                    assert_eq!(r.seq(), mc.expect);
                    mc.expect += 1;
                }
                Err(RecvError::Lagged { missed }) => mc.expect += missed,
                Err(RecvError::Empty) => {
                    assert!(!closed);
                    break;
                }
                Err(RecvError::Closed(_)) => {
                    assert!(closed);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(mc.expect, records.len() as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 4 } else { 256 }, ..ProptestConfig::default() })]

    #[test]
    fn block_policy_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
        run(ops, OverflowPolicy::Block);
    }

    #[test]
    fn reject_policy_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
        run(ops, OverflowPolicy::Reject);
    }

    #[test]
    fn drop_oldest_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
        run(ops, OverflowPolicy::DropOldest);
    }
}
