package fanlog_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

// A producer appends; a consumer reads every record in order, then learns
// that the producer finished cleanly.
func Example() {
	log, err := fanlog.NewLog(fanlog.Options{})
	if err != nil {
		panic(err)
	}
	cur, err := log.Subscribe(fanlog.FromEarliest)
	if err != nil {
		panic(err)
	}
	defer cur.Close()

	go func() {
		for _, s := range []string{"alpha", "beta", "gamma"} {
			log.Append([]byte(s))
		}
		log.Close(nil) // success
	}()

	ctx := context.Background()
	for {
		rec, err := cur.Next(ctx)
		if err == fanlog.ErrClosed {
			fmt.Println("producer finished")
			return
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(rec.Seq, string(rec.Data))
	}
	// Output:
	// 0 alpha
	// 1 beta
	// 2 gamma
	// producer finished
}

// Every consumer reads every record, then sees the producer's error: the
// completion status travels with the log, after the last record.
func ExampleLog_Close() {
	log, _ := fanlog.NewLog(fanlog.Options{})
	var wg sync.WaitGroup
	out := make([]string, 3)
	for i := range out {
		cur, _ := log.Subscribe(fanlog.FromEarliest)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cur.Close()
			n := 0
			for {
				_, err := cur.Next(context.Background())
				var ce *fanlog.CloseError
				switch {
				case err == nil:
					n++
					continue
				case errors.As(err, &ce):
					out[i] = fmt.Sprintf("consumer %d: %d records, then code %d: %s", i, n, ce.Code, ce.Message)
				default:
					out[i] = fmt.Sprintf("consumer %d: %v", i, err)
				}
				return
			}
		}()
	}
	log.Append([]byte("part 1"))
	log.Append([]byte("part 2"))
	log.Close(&fanlog.CloseError{Code: 503, Message: "upstream went away"})
	wg.Wait()
	for _, s := range out {
		fmt.Println(s)
	}
	// Output:
	// consumer 0: 2 records, then code 503: upstream went away
	// consumer 1: 2 records, then code 503: upstream went away
	// consumer 2: 2 records, then code 503: upstream went away
}

// NextBatch reads many records per call and reuses the caller's buffers.
func ExampleCursor_NextBatch() {
	log, _ := fanlog.NewLog(fanlog.Options{})
	defer log.Close(nil)
	cur, _ := log.Subscribe(fanlog.FromEarliest)
	defer cur.Close()

	first, _ := log.AppendBatch([][]byte{[]byte("a"), []byte("b"), []byte("c")})
	fmt.Println("first sequence number:", first)

	batch := make([]fanlog.Record, 16)
	n, err := cur.NextBatch(context.Background(), batch)
	fmt.Println(n, err)
	for _, rec := range batch[:n] {
		fmt.Printf("%d:%s ", rec.Seq, rec.Data)
	}
	fmt.Println()
	// Output:
	// first sequence number: 0
	// 3 <nil>
	// 0:a 1:b 2:c
}

// Under DropOldest a slow cursor is told how many records it missed, and
// continues with the oldest one still retained.
func ExampleLaggedError() {
	log, _ := fanlog.NewLog(fanlog.Options{
		SegmentSize: 256, // eight 8-byte records per segment
		MaxBytes:    512, // two segments
		Policy:      fanlog.DropOldest,
	})
	defer log.Close(nil)
	cur, _ := log.Subscribe(fanlog.FromEarliest)
	defer cur.Close()
	for i := 0; i < 40; i++ {
		log.Append(make([]byte, 8))
	}
	read := 0
	for {
		_, err := cur.TryNext()
		var lag *fanlog.LaggedError
		switch {
		case err == nil:
			read++
			continue
		case errors.As(err, &lag):
			fmt.Println("lagged:", errors.Is(err, fanlog.ErrLagged))
			read += int(lag.Missed) // count them to check the total
			continue
		case err == fanlog.ErrEmpty:
		}
		break
	}
	fmt.Println("read or missed:", read)
	// Output:
	// lagged: true
	// read or missed: 40
}

// A blocked Next gives up when its context is cancelled.
func ExampleCursor_Next_cancel() {
	log, _ := fanlog.NewLog(fanlog.Options{})
	defer log.Close(nil)
	cur, _ := log.Subscribe(fanlog.FromLatest)
	defer cur.Close()

	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	_, err := cur.Next(ctx) // nothing is appended
	fmt.Println(err)
	// Output:
	// context canceled
}

// A hub delivers each event to the subscriptions whose kinds match; a
// subscriber that falls behind loses events to its own mailbox, counted,
// without slowing anyone else.
func ExampleHub() {
	const (
		kindLogin  = 1
		kindLogout = 2
	)
	hub, _ := fanlog.NewHub(fanlog.HubOptions{})
	audit, _ := hub.Subscribe(fanlog.SubscribeOptions{Name: "audit"})                            // every kind
	logins, _ := hub.Subscribe(fanlog.SubscribeOptions{Name: "logins"}, kindLogin)               // logins only
	tiny, _ := hub.Subscribe(fanlog.SubscribeOptions{Capacity: 1, Policy: fanlog.HubDropNewest}) // falls behind
	defer audit.Close()
	defer logins.Close()
	defer tiny.Close()

	hub.Publish(kindLogin, []byte("alice"))
	hub.Publish(kindLogout, []byte("alice"))
	d, _ := hub.Publish(kindLogin, []byte("bob"))
	fmt.Printf("last publish: delivered %d, dropped %d\n", d.Delivered, d.Dropped)
	hub.Close(nil)

	ctx := context.Background()
	for ev, err := logins.Next(ctx); err == nil; ev, err = logins.Next(ctx) {
		fmt.Println("login:", string(ev.Data))
	}
	n := 0
	for _, err := audit.Next(ctx); err == nil; _, err = audit.Next(ctx) {
		n++
	}
	fmt.Println("audited:", n)
	st, _ := tiny.Stats()
	fmt.Printf("tiny: delivered %d, dropped %d\n", st.Delivered, st.Dropped)
	// Output:
	// last publish: delivered 2, dropped 1
	// login: alice
	// login: bob
	// audited: 3
	// tiny: delivered 1, dropped 2
}

// A snapshot publishes an immutable configuration; readers load it
// without locks, and a watcher waits for the next version.
func ExampleSnapshot() {
	cfg, _ := fanlog.NewSnapshot([]byte(`{"replicas": 1}`))
	defer cfg.Close()

	changed := make(chan string)
	go func() {
		data, version, _ := cfg.WaitNewer(context.Background(), 0)
		changed <- fmt.Sprintf("version %d: %s", version, data)
	}()
	cfg.Store([]byte(`{"replicas": 3}`))
	fmt.Println(<-changed)

	data, version, _ := cfg.Load()
	fmt.Printf("current: version %d: %s\n", version, data)
	// Output:
	// version 1: {"replicas": 3}
	// current: version 1: {"replicas": 3}
}

// A goroutine that produces one small record at a time appends through a
// Writer: records cross into the library in batches. Flush ends a burst;
// a reader parked waiting gets what is held without it.
func ExampleWriter() {
	log, _ := fanlog.NewLog(fanlog.Options{})
	cur, _ := log.Subscribe(fanlog.FromEarliest)
	defer cur.Close()

	w, _ := log.NewWriter(fanlog.WriterOptions{MaxRecords: 64})
	for i := 0; i < 1000; i++ {
		w.Append([]byte(fmt.Sprintf("tick %d", i)))
	}
	fmt.Println("held:", w.Buffered())
	if err := w.Flush(); err != nil {
		panic(err)
	}
	log.Close(nil)

	n := 0
	for {
		_, err := cur.Next(context.Background())
		if err != nil {
			fmt.Println("read:", n, "then:", err)
			break
		}
		n++
	}
	// Output:
	// held: 40
	// read: 1000 then: fanlog: closed
}
