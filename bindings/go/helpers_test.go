package fanlog_test

import (
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

// newLog creates a log closed at the end of the test.
func newLog(t testing.TB, opts fanlog.Options) *fanlog.Log {
	t.Helper()
	l, err := fanlog.NewLog(opts)
	if err != nil {
		t.Fatalf("NewLog(%+v): %v", opts, err)
	}
	t.Cleanup(func() { l.Close(nil) })
	return l
}

// subscribe creates a cursor closed at the end of the test.
func subscribe(t testing.TB, l *fanlog.Log, from fanlog.Start) *fanlog.Cursor {
	t.Helper()
	c, err := l.Subscribe(from)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// small is a log of tiny segments (256 B: eight 8-byte records each).
func small(policy fanlog.Policy, segments int) fanlog.Options {
	return fanlog.Options{SegmentSize: 256, MaxBytes: 256 * segments, Policy: policy}
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func getU64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// osThreads is the number of OS threads of this process.
func osThreads(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads: line in /proc/self/status")
	return 0
}

// eventually polls cond for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// within fails if ch does not deliver within d.
func within[T any](t testing.TB, d time.Duration, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s did not happen within %v", what, d)
		panic("unreachable")
	}
}
