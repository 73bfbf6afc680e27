package fanlog_test

// The five hand-written designs of /work/shared/context (see the README
// there), each done with fanlog in a few lines. They run under -race.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

// 000-broadcast-queue-race.md: a broadcast queue with a cursor per
// consumer. The hand-written one shared mutable items between consumers
// (a data race on Events) and lost track of memory. Here items are
// immutable once enqueued, each consumer gets its own copy and its own
// history (the cursor's counters), and memory is bounded and accounted.
func TestScenarioBroadcastQueue(t *testing.T) {
	type item struct {
		ID      int       `json:"id"`
		Payload string    `json:"payload"`
		Events  []string  `json:"events"`
		Created time.Time `json:"created"`
	}
	q := newLog(t, fanlog.Options{SegmentSize: 64 << 10, MaxBytes: 256 << 10, Policy: fanlog.Block})
	const consumers, items = 8, 2000
	var wg sync.WaitGroup
	got := make([][]item, consumers)
	for c := 0; c < consumers; c++ {
		cur := subscribe(t, q, fanlog.FromEarliest)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				rec, err := cur.Next(context.Background())
				if err == fanlog.ErrClosed {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				var it item
				if err := json.Unmarshal(rec.Data, &it); err != nil {
					t.Error(err)
					return
				}
				it.Events = append(it.Events, fmt.Sprintf("dequeue by %d", c)) // our copy
				got[c] = append(got[c], it)
			}
		}()
	}
	var producers sync.WaitGroup
	for p := 0; p < 2; p++ {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for i := p; i < items; i += 2 {
				b, _ := json.Marshal(item{ID: i, Payload: "data", Events: []string{"enqueue"}, Created: time.Now()})
				if _, err := q.Append(b); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	producers.Wait()
	s, _ := q.Stats()
	q.Close(nil)
	wg.Wait()
	for c, its := range got {
		if len(its) != items {
			t.Fatalf("consumer %d got %d items", c, len(its))
		}
		for _, it := range its {
			if len(it.Events) != 2 || it.Events[1] != fmt.Sprintf("dequeue by %d", c) {
				t.Fatalf("consumer %d: item %d events %v (shared with another consumer?)", c, it.ID, it.Events)
			}
		}
	}
	if s.PeakBytesRetained > 256<<10+consumers*(64<<10) {
		t.Fatalf("memory not bounded: peak %d", s.PeakBytesRetained)
	}
}

// 001-concurrency-guidelines.md: observers in a locked slice, copied on
// every notify. Here notify is an append (no lock, no copy), an observer
// can register at any time and sees every event from then on, in order,
// and a slow observer does not delay the others (up to the byte budget).
// (The guide's other pattern, a config shared by atomic pointer swap, is
// TestScenarioConfigSnapshot.)
func TestScenarioObservers(t *testing.T) {
	subject := newLog(t, fanlog.Options{})
	type observer struct {
		first  uint64 // the first event it must see
		events []string
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var observers []*observer
	register := func() {
		cur := subscribe(t, subject, fanlog.FromLatest)
		s, _ := subject.Stats()
		o := &observer{first: s.RecordsAppended}
		mu.Lock()
		observers = append(observers, o)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				rec, err := cur.Next(context.Background())
				if err != nil {
					return
				}
				if len(o.events) == 0 && rec.Seq > o.first {
					t.Errorf("observer registered at %d first saw %d", o.first, rec.Seq)
				}
				o.events = append(o.events, string(rec.Data))
			}
		}()
	}
	register()
	registrar := make(chan struct{})
	go func() { // registers while events are being notified
		defer close(registrar)
		for i := 0; i < 4; i++ {
			time.Sleep(time.Millisecond)
			register()
		}
	}()
	for i := 0; i < 1000; i++ {
		subject.Append([]byte(fmt.Sprintf("event %d", i)))
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	<-registrar
	subject.Close(nil)
	wg.Wait()
	for _, o := range observers {
		if len(o.events) == 0 {
			if o.first < 1000 {
				t.Fatalf("observer registered at %d saw nothing", o.first)
			}
			continue
		}
		var first int
		fmt.Sscanf(o.events[0], "event %d", &first)
		for k, e := range o.events {
			if e != fmt.Sprintf("event %d", first+k) {
				t.Fatalf("observer saw %q at %d, after %q", e, k, o.events[0])
			}
		}
		if first+len(o.events) != 1000 {
			t.Fatalf("observer saw events %d..%d", first, first+len(o.events)-1)
		}
	}
}

// 001-concurrency-guidelines.md, "single-owner background goroutine
// publishing snapshots": a config map behind an RWMutex, defensively
// copied. Here the owner stores an immutable blob; readers load it without
// locks and never see a half-written one; a reloader waits for changes.
func TestScenarioConfigSnapshot(t *testing.T) {
	type config struct {
		Version   int               `json:"version"`
		Endpoints map[string]string `json:"endpoints"`
	}
	encode := func(c config) []byte { b, _ := json.Marshal(c); return b }
	cfg := newSnapshot(t, encode(config{Endpoints: map[string]string{"api": "/v0"}}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ { // request handlers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				data, _, err := cfg.Load()
				var c config
				if err != nil || json.Unmarshal(data, &c) != nil || c.Endpoints["api"] != fmt.Sprintf("/v%d", c.Version) {
					t.Errorf("inconsistent config %s, %v", data, err)
					return
				}
			}
		}()
	}
	reloads := make(chan int, 100)
	wg.Add(1)
	go func() { // a component that reconfigures itself on change
		defer wg.Done()
		var seen uint64
		for {
			data, v, err := cfg.WaitNewer(ctx, seen)
			if err != nil {
				return
			}
			var c config
			json.Unmarshal(data, &c)
			reloads <- c.Version
			seen = v
		}
	}()
	for v := 1; v <= 50; v++ {
		cfg.Store(encode(config{Version: v, Endpoints: map[string]string{"api": fmt.Sprintf("/v%d", v)}}))
		time.Sleep(100 * time.Microsecond)
	}
	for last := 0; last != 50; {
		v := within(t, 5*time.Second, "the reloader to see the last config", reloads)
		if v <= last {
			t.Fatalf("reloader saw version %d after %d", v, last)
		}
		last = v
	}
	cancel()
	wg.Wait()
}

// 002-streaming-drain-race.md: a worker streams events and finishes with
// an error; the handler forwards every event, then reports the outcome.
// The hand-written version read an error variable after a done channel
// and could drop buffered events. Here the outcome is the log's close
// status: it arrives after the last event, to every reader, race-free.
func TestScenarioStreamingDrain(t *testing.T) {
	executeStream := func(log *fanlog.Log, n int, fail error) {
		for i := 0; i < n; i++ {
			log.Append([]byte(fmt.Sprintf("step %d", i)))
		}
		log.Close(fail) // the completion status
	}
	streamHandler := func(ctx context.Context, cur *fanlog.Cursor, w *strings.Builder) {
		fmt.Fprintln(w, "start")
		for {
			rec, err := cur.Next(ctx)
			var ce *fanlog.CloseError
			switch {
			case err == nil:
				fmt.Fprintln(w, string(rec.Data))
				continue
			case err == fanlog.ErrClosed:
				fmt.Fprintln(w, "done")
			case errors.As(err, &ce):
				fmt.Fprintln(w, "error:", ce.Message)
			case ctx.Err() != nil:
				fmt.Fprintln(w, "client went away")
			default:
				fmt.Fprintln(w, "internal error:", err)
			}
			return
		}
	}
	for _, fail := range []error{nil, errors.New("tool call failed")} {
		for round := 0; round < 20; round++ {
			log := newLog(t, fanlog.Options{})
			cur := subscribe(t, log, fanlog.FromEarliest)
			go executeStream(log, 50, fail)
			var w strings.Builder
			streamHandler(context.Background(), cur, &w)
			lines := strings.Split(strings.TrimSpace(w.String()), "\n")
			if len(lines) != 52 || lines[50] != "step 49" {
				t.Fatalf("lost events: %d lines, %q", len(lines), lines[len(lines)-2])
			}
			want := "done"
			if fail != nil {
				want = "error: " + fail.Error()
			}
			if lines[51] != want {
				t.Fatalf("last line %q, want %q", lines[51], want)
			}
		}
	}
	// The client disconnects: the handler returns at once.
	log := newLog(t, fanlog.Options{})
	cur := subscribe(t, log, fanlog.FromEarliest)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var w strings.Builder
	streamHandler(ctx, cur, &w)
	if !strings.HasSuffix(w.String(), "client went away\n") {
		t.Fatalf("output %q", w.String())
	}
}

// 003-event-subscriptions.md: SubscribeEvents() for every event,
// EventsForStates(...) for some, fed by non-blocking sends that dropped
// silently when a channel was full, and a single-consumer Messages()
// channel that several goroutines read by mistake. With a hub: a kind per
// connection state, a kind filter per subscription, one subscription per
// consumer, and drops counted exactly per subscriber.
func TestScenarioEventSubscriptions(t *testing.T) {
	const (
		stateConnecting uint32 = iota + 1
		stateConnected
		stateDisconnected
	)
	node := newHub(t, fanlog.HubOptions{Capacity: 64, Policy: fanlog.HubBlock}) // lossless by default
	monitor := sub(t, node, fanlog.SubscribeOptions{Name: "monitor"})
	handshakes := sub(t, node, fanlog.SubscribeOptions{Name: "handshake"}, stateConnected)
	// A metrics collector that may fall behind: it must never slow the
	// node down, and what it misses is counted.
	metrics := sub(t, node, fanlog.SubscribeOptions{Name: "metrics", Capacity: 8, Policy: fanlog.HubDropNewest})

	var wg sync.WaitGroup
	counts := make(map[string]int)
	var mu sync.Mutex
	consume := func(name string, s *fanlog.Subscription, want func(uint32) bool) {
		defer wg.Done()
		n := 0
		for ev, err := s.Next(context.Background()); err == nil; ev, err = s.Next(context.Background()) {
			if !want(ev.Kind) {
				t.Errorf("%s received kind %d", name, ev.Kind)
			}
			n++
		}
		mu.Lock()
		counts[name] = n
		mu.Unlock()
	}
	wg.Add(2)
	go consume("monitor", monitor, func(uint32) bool { return true })
	go consume("handshake", handshakes, func(k uint32) bool { return k == stateConnected })

	const peers = 300
	for p := 0; p < peers; p++ {
		for _, state := range []uint32{stateConnecting, stateConnected, stateDisconnected} {
			if _, err := node.Publish(state, []byte(fmt.Sprintf("peer-%d", p))); err != nil {
				t.Fatal(err)
			}
		}
	}
	node.Close(nil)
	wg.Wait()
	if counts["monitor"] != 3*peers || counts["handshake"] != peers {
		t.Fatalf("counts %v", counts)
	}
	st, _ := metrics.Stats()
	if st.Delivered != 8 || st.Dropped != 3*peers-8 {
		t.Fatalf("metrics: %+v (delivered + dropped must be %d)", st, 3*peers)
	}
}

// 004-backing-store-races.md: readers wait for a range of a file that a
// downloader is still writing. The hand-written store missed sync.Cond
// wake-ups, deadlocked on Close and could wait forever. Here each chunk
// is a record; a reader waits with its own deadline; a failed download
// wakes every reader with the error.
func TestScenarioBackingStore(t *testing.T) {
	type store struct{ log *fanlog.Log }
	newStore := func(t *testing.T) store {
		// RetainBytes: readers that start late still find the whole file.
		return store{newLog(t, fanlog.Options{SegmentSize: 1 << 16, MaxBytes: 8 << 20, RetainBytes: 8 << 20})}
	}
	// readAt fills p from offset off, waiting for the downloader.
	readAt := func(ctx context.Context, s store, p []byte, off int) error {
		cur, err := s.log.Subscribe(fanlog.FromEarliest)
		if err != nil {
			return err
		}
		defer cur.Close()
		pos, filled := 0, 0
		for filled < len(p) {
			rec, err := cur.NextView(ctx)
			if err != nil {
				return err
			}
			end := pos + len(rec.Data)
			if end > off+filled {
				filled += copy(p[filled:], rec.Data[off+filled-pos:])
			}
			pos = end
		}
		return nil
	}
	file := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	download := func(s store, chunks int, fail error) {
		const chunk = 1024
		for i := 0; i < chunks && i*chunk < len(file); i++ {
			s.log.Append(file[i*chunk : (i+1)*chunk])
			time.Sleep(100 * time.Microsecond)
		}
		s.log.Close(fail)
	}

	s := newStore(t)
	go download(s, 64, nil)
	var wg sync.WaitGroup
	for r := 0; r < 8; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := r * 7000
			p := make([]byte, 5000)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := readAt(ctx, s, p, off); err != nil || !bytes.Equal(p, file[off:off+len(p)]) {
				t.Errorf("reader %d: %v", r, err)
			}
		}()
	}
	wg.Wait()

	// A reader past what arrives in time gives up at its deadline...
	s = newStore(t)
	go download(s, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := readAt(ctx, s, make([]byte, 100), 60000); !errors.Is(err, context.DeadlineExceeded) && err != fanlog.ErrClosed {
		t.Fatalf("reader past the data: %v", err)
	}
	// ...and a failed download wakes every waiting reader with its error.
	s = newStore(t)
	errs := make(chan error, 8)
	for r := 0; r < 8; r++ {
		go func() { errs <- readAt(context.Background(), s, make([]byte, 100), 50000) }()
	}
	go download(s, 3, errors.New("server closed the connection"))
	for r := 0; r < 8; r++ {
		var ce *fanlog.CloseError
		if err := within(t, 5*time.Second, "reader to wake", errs); !errors.As(err, &ce) || ce.Message != "server closed the connection" {
			t.Fatalf("reader after a failed download: %v", err)
		}
	}
}
