// Package fanlog is the Go binding of fanlog, a lock-free broadcast log
// written in Rust: many goroutines append byte records, and every reader
// (a Cursor) receives every record, in the same order, at its own pace.
// It replaces the usual hand-written broadcast queue — a mutex around a
// list of chunks with a cursor and a notification channel per consumer, a
// channel per subscriber fed by non-blocking sends, a sync.Cond that
// misses a wake-up, an error variable read after a done channel — with one
// tested core.
//
//	log, err := fanlog.NewLog(fanlog.Options{})
//	cur, err := log.Subscribe(fanlog.FromEarliest) // one per consumer
//	seq, err := log.Append([]byte("hello"))        // from any goroutine
//	rec, err := cur.Next(ctx)                      // rec.Seq, rec.Kind, rec.Time, rec.Data
//	err = log.Close(runErr)                        // every cursor sees runErr after draining
//
// Two more tools share the package's conventions: a Hub fans events out
// to filtered subscriptions, each with its own bounded mailbox, overflow
// policy and drop counter (NewHub, Hub.Subscribe, Hub.Publish,
// Subscription.Next); a Snapshot publishes an immutable, versioned blob
// that readers load without locks (NewSnapshot, Store, Load, WaitNewer).
//
// A log can also be durable: OpenLog keeps its records in memory-mapped
// files in a directory, recovers them when it is opened again, and offers
// named cursors whose commits survive restarts (Log.SubscribeNamed,
// Cursor.Commit), Log.Flush for power-loss durability, and read-only Logs
// that tail a writer in this or another process. See OpenLog.
//
// # Ordering
//
// Sequence numbers are gap-free and follow append order; every cursor
// returns records strictly in sequence order, each exactly once (unless
// it lags, below). Records are immutable once appended: Next returns a
// copy the caller owns; the View methods lend the log's memory instead.
//
// # Slow consumers
//
// A log holds at most Options.MaxBytes of records. When a producer would
// exceed it, the Policy decides: Block waits for the slowest cursor
// (nobody loses anything), DropOldest evicts the oldest segment (a cursor
// that had not read it gets a *LaggedError saying how many records it
// missed, then continues), Reject fails the append with ErrFull.
//
// # Closing
//
// Log.Close(err) records the outcome of the producing side. Cursors still
// return every record appended before the close; then Next returns
// ErrClosed after Close(nil), like io.EOF, or a *CloseError carrying err's
// code and message, which wraps ErrClosed. That is the completion status
// every consumer sees, with no separate error variable or done channel to
// synchronize.
//
// # Waiting
//
// Next(ctx) waits without occupying an OS thread: when nothing is
// available it yields its P a few times, then parks the goroutine in the
// Go scheduler; the next Append, AppendBatch or Close on the log (every
// call of this package that makes something readable) wakes it, as a
// sync.Cond would, with no system call on either side. Cancelling ctx,
// Close and Interrupt wake it at once. A thousand goroutines blocked in
// Next cost a thousand goroutines and a few threads. The same holds for
// Subscription.Next. A cursor of a log opened ReadOnly (which another
// process appends to) waits in the Go runtime's network poller on the
// cursor's readiness file descriptor instead, an eventfd the library
// signals; so does Snapshot.WaitNewer.
//
// Appends that wait for room under Block first yield their P while the
// log's cursors are reading (a cgo call that waits would keep the P from
// them), then wait inside the library, on their OS thread; AppendContext
// can be cancelled. So do publishes to a
// full HubBlock mailbox, up to its block timeout (not cancellable).
//
// # Performance
//
// Every call crosses cgo (tens of nanoseconds each), so throughput comes
// from batches: AppendBatch hands the library many records in one call, a
// Writer makes the batches for a goroutine that appends one record at a
// time (like bufio.Writer: records wait in it until a batch is full, a
// reader is parked, or Flush), and NextBatch (or NextBatchView) takes up
// to 64 per call. A goroutine that is a log's only producer keeps the
// library's cheaper append path only while it stays on one OS thread
// (runtime.LockOSThread). Between goroutines of one process, AppendBatch
// of 64 small records and a Writer moved them faster than a channel per
// subscriber in every measured case, and faster than a carefully bounded
// mutex + sync.Cond queue in all but one (8-byte records, 4 readers); with
// small records and one Log.Append per record, that queue is faster. The
// repository's BENCHMARKS.md has the measurements. fanlog is for where its
// guarantees matter: the close status, lag reports, the byte budget and
// its policy, readiness fds, readers and writers in C, Rust and other
// processes, durability.
//
// # Concurrency and lifetime
//
// All Log, Hub and Snapshot methods may be called from any goroutine. A
// Cursor or Subscription belongs to one goroutine at a time (concurrent
// calls fail with ErrBusy); its Close and Interrupt (and a Subscription's
// Unsubscribe) may be called from anywhere. Close both explicitly: Close
// is idempotent, safe while other calls are in flight (the C handle is
// released when they return), and any call after it returns an error
// wrapping ErrClosed. A cleanup registered with the garbage collector
// releases handles that were dropped without Close, as a safety net only;
// a Log collected that way is closed with CodeAbandoned.
//
// # Building
//
// The package links the static library target/release/libfanlog.a of the
// repository it lives in (cgo; build it first with cargo build --release)
// and needs Go 1.22 or newer; Cursor.All and Subscription.All need Go
// 1.23. The Go build cache does not notice a rebuilt library or a changed
// include/fanlog.h (they are outside the package directory): after
// rebuilding the library, run go clean -cache (or build with -a). An init
// check panics if the library's ABI version differs from the header's.
package fanlog
