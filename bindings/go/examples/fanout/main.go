// Command fanout is a verified fan-out demo of the Go binding: a producer
// goroutine appends records, several consumers read every one of them
// (one consumer is slow), and the producer finishes by closing the log
// with a completion error that every consumer must see after its last
// record. It checks order, payloads and counts, prints throughput, and
// exits with status 1 if any check fails.
//
//	cd bindings/go && go run ./examples/fanout -records 1000000 -consumers 4
//	cd bindings/go && go run ./examples/fanout -writer   # one Writer.Append per record
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

func main() {
	records := flag.Int("records", 500000, "records to append")
	consumers := flag.Int("consumers", 4, "consumers (the last one is slow with -slow)")
	size := flag.Int("size", 64, "payload bytes (at least 8)")
	batch := flag.Int("batch", 32, "records per AppendBatch call (1: Append)")
	writer := flag.Bool("writer", false, "append one record per call through a Writer (ignores -batch)")
	slow := flag.Bool("slow", true, "make the last consumer slow (it sleeps 1 ms every 4096 records)")
	policy := flag.String("policy", "block", "overflow policy: block or drop-oldest")
	fail := flag.Bool("fail", true, "end the run with a completion error (else a clean close)")
	flag.Parse()
	if *size < 8 || *consumers < 1 || *records < 0 || *batch < 1 {
		fmt.Fprintln(os.Stderr, "fanout: bad flags")
		os.Exit(2)
	}
	opts := fanlog.Options{SegmentSize: 1 << 20, MaxBytes: 16 << 20}
	switch *policy {
	case "block":
		opts.Policy = fanlog.Block
	case "drop-oldest":
		opts.Policy = fanlog.DropOldest
	default:
		fmt.Fprintln(os.Stderr, "fanout: -policy is block or drop-oldest")
		os.Exit(2)
	}
	if err := run(*records, *consumers, *size, *batch, *writer, *slow, opts, *fail); err != nil {
		fmt.Fprintln(os.Stderr, "fanout: FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("fanout: verified")
}

// report is what one consumer saw.
type report struct {
	read, missed uint64
	final        error
	err          error
}

func run(records, consumers, size, batchSize int, useWriter, slow bool, opts fanlog.Options, fail bool) error {
	log, err := fanlog.NewLog(opts)
	if err != nil {
		return err
	}
	defer log.Close(nil) // no-op after the producer's Close
	curs := make([]*fanlog.Cursor, consumers)
	for i := range curs {
		if curs[i], err = log.Subscribe(fanlog.FromEarliest); err != nil {
			return err
		}
		defer curs[i].Close()
	}
	var want error = fanlog.ErrClosed
	if fail {
		want = &fanlog.CloseError{Code: 75, Message: "upstream connection lost (simulated)"}
	}

	start := time.Now()
	reports := make([]report, consumers)
	var wg sync.WaitGroup
	for i, cur := range curs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i] = consume(cur, size, slow && i == consumers-1)
		}()
	}

	// The producer: seq-numbered payloads, in batches, or one per call
	// through a Writer, which batches them.
	go func() {
		if useWriter {
			produceWithWriter(log, records, size, fail, want)
			return
		}
		payloads := make([][]byte, batchSize)
		for i := range payloads {
			payloads[i] = make([]byte, size)
		}
		for n := 0; n < records; n += batchSize {
			k := min(batchSize, records-n)
			for i := 0; i < k; i++ {
				binary.LittleEndian.PutUint64(payloads[i], uint64(n+i))
			}
			var err error
			if k == 1 {
				_, err = log.Append(payloads[0])
			} else {
				_, err = log.AppendBatch(payloads[:k])
			}
			if err != nil {
				log.Close(fmt.Errorf("producer: %w", err))
				return
			}
		}
		if fail {
			log.Close(want)
		} else {
			log.Close(nil)
		}
	}()

	// Progress while the consumers run.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			if s, err := log.Stats(); err == nil {
				fmt.Printf("  %d records appended, %d MiB retained\n", s.RecordsAppended, s.BytesRetained>>20)
			}
		}
	}
	elapsed := time.Since(start)

	var failures []error
	for i, r := range reports {
		kind := "consumer"
		if slow && i == consumers-1 {
			kind = "slow consumer"
		}
		fmt.Printf("%s %d: read %d, missed %d, then: %v\n", kind, i, r.read, r.missed, r.final)
		switch {
		case r.err != nil:
			failures = append(failures, fmt.Errorf("consumer %d: %w", i, r.err))
		case r.read+r.missed != uint64(records):
			failures = append(failures, fmt.Errorf("consumer %d: read %d + missed %d != %d", i, r.read, r.missed, records))
		case opts.Policy == fanlog.Block && r.missed != 0:
			failures = append(failures, fmt.Errorf("consumer %d missed %d records under Block", i, r.missed))
		case r.final.Error() != want.Error() || !errors.Is(r.final, fanlog.ErrClosed):
			failures = append(failures, fmt.Errorf("consumer %d ended with %v, want %v", i, r.final, want))
		}
	}
	var delivered uint64
	for _, r := range reports {
		delivered += r.read
	}
	fmt.Printf("%d records of %d bytes to %d consumers in %v: %.2f M records/s appended, %.2f M deliveries/s\n",
		records, size, consumers, elapsed.Round(time.Millisecond),
		float64(records)/elapsed.Seconds()/1e6, float64(delivered)/elapsed.Seconds()/1e6)
	return errors.Join(failures...)
}

// consume reads until the end of the log, checking that sequence numbers
// increase without unreported gaps and that each payload matches its
// sequence number.
func consume(cur *fanlog.Cursor, size int, slow bool) report {
	var r report
	ctx := context.Background()
	dst := make([]fanlog.Record, 64)
	for i := range dst {
		dst[i].Data = make([]byte, 0, size)
	}
	next := uint64(0)
	for {
		n, err := cur.NextBatch(ctx, dst)
		for _, rec := range dst[:n] {
			if rec.Seq != next {
				r.err = fmt.Errorf("record %d arrived when %d was expected", rec.Seq, next)
				return r
			}
			if len(rec.Data) != size || binary.LittleEndian.Uint64(rec.Data) != rec.Seq {
				r.err = fmt.Errorf("record %d has a wrong payload", rec.Seq)
				return r
			}
			next++
			r.read++
			if slow && r.read%4096 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		var lag *fanlog.LaggedError
		switch {
		case err == nil:
		case errors.As(err, &lag):
			r.missed += lag.Missed
			next += lag.Missed
		case errors.Is(err, fanlog.ErrClosed):
			r.final = err
			return r
		default:
			r.err = err
			return r
		}
	}
}

// produceWithWriter appends records one per call through a Writer, then
// flushes and closes the log as the batch producer does.
func produceWithWriter(log *fanlog.Log, records, size int, fail bool, want error) {
	w, err := log.NewWriter(fanlog.WriterOptions{})
	if err == nil {
		payload := make([]byte, size)
		for n := 0; n < records && err == nil; n++ {
			binary.LittleEndian.PutUint64(payload, uint64(n))
			err = w.Append(payload)
		}
		if err == nil {
			err = w.Flush()
		}
	}
	switch {
	case err != nil:
		log.Close(fmt.Errorf("producer: %w", err))
	case fail:
		log.Close(want)
	default:
		log.Close(nil)
	}
}
