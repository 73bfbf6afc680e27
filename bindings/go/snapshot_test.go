package fanlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	fanlog "github.com/fanlog/fanlog/bindings/go"
)

func newSnapshot(t testing.TB, data []byte) *fanlog.Snapshot {
	t.Helper()
	s, err := fanlog.NewSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSnapshot(t *testing.T) {
	s := newSnapshot(t, []byte("v0"))
	if v, err := s.Version(); v != 0 || err != nil {
		t.Fatalf("Version = %d, %v", v, err)
	}
	data, v, err := s.Load()
	if err != nil || v != 0 || string(data) != "v0" {
		t.Fatalf("Load = %q, %d, %v", data, v, err)
	}
	data[0] = 'X' // our copy
	ref, err := s.LoadRef()
	if err != nil || ref.Version() != 0 || string(ref.Data()) != "v0" {
		t.Fatalf("LoadRef = %v, %v", ref, err)
	}
	if v, err := s.Store([]byte("v1")); v != 1 || err != nil {
		t.Fatalf("Store = %d, %v", v, err)
	}
	if string(ref.Data()) != "v0" { // a reference keeps its version
		t.Fatalf("held reference changed to %q", ref.Data())
	}
	ref.Release()
	ref.Release() // idempotent
	if ref.Data() != nil {
		t.Fatal("Data after Release")
	}
	if v, err := s.Store(nil); v != 2 || err != nil {
		t.Fatalf("Store(nil) = %d, %v", v, err)
	}
	if data, v, err := s.Load(); len(data) != 0 || v != 2 || err != nil {
		t.Fatalf("Load of an empty blob = %q, %d, %v", data, v, err)
	}
	empty, err := fanlog.NewSnapshot(nil)
	if err != nil {
		t.Fatal(err)
	}
	empty.Close()
}

func TestSnapshotWaitNewer(t *testing.T) {
	s := newSnapshot(t, []byte("a"))
	// Already newer: returns at once.
	s.Store([]byte("b"))
	if data, v, err := s.WaitNewer(bg, 0); err != nil || v != 1 || string(data) != "b" {
		t.Fatalf("WaitNewer(0) = %q, %d, %v", data, v, err)
	}
	// Woken by a store.
	go func() {
		time.Sleep(10 * time.Millisecond)
		s.Store([]byte("c"))
	}()
	if data, v, err := s.WaitNewer(bg, 1); err != nil || v != 2 || string(data) != "c" {
		t.Fatalf("WaitNewer(1) = %q, %d, %v", data, v, err)
	}
	// Cancelled.
	ctx, cancel := context.WithTimeout(bg, 10*time.Millisecond)
	defer cancel()
	if _, _, err := s.WaitNewer(ctx, 2); err != context.DeadlineExceeded {
		t.Fatalf("WaitNewer with a deadline = %v", err)
	}
	// Woken by Close.
	done := make(chan error, 1)
	go func() { _, _, err := s.WaitNewer(bg, 2); done <- err }()
	time.Sleep(10 * time.Millisecond)
	s.Close()
	if err := within(t, time.Second, "WaitNewer after Close", done); !errors.Is(err, fanlog.ErrClosed) {
		t.Fatalf("WaitNewer after Close = %v", err)
	}
	for name, call := range map[string]func() error{
		"Store":     func() error { _, err := s.Store(nil); return err },
		"Version":   func() error { _, err := s.Version(); return err },
		"Load":      func() error { _, _, err := s.Load(); return err },
		"LoadRef":   func() error { _, err := s.LoadRef(); return err },
		"WaitNewer": func() error { _, _, err := s.WaitNewer(bg, 0); return err },
	} {
		if err := call(); !errors.Is(err, fanlog.ErrClosed) {
			t.Errorf("%s after Close = %v", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Writers and readers at once: every blob read is one that was written
// whole, and each reader sees versions in increasing order.
func TestSnapshotConcurrent(t *testing.T) {
	blob := func(w, i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("%d:%d;", w, i)), 50) }
	s := newSnapshot(t, blob(0, 0))
	ctx, cancel := context.WithCancel(bg)
	var readers sync.WaitGroup
	for r := 0; r < 4; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var last uint64
			for ctx.Err() == nil {
				var data []byte
				var v uint64
				var err error
				if r%2 == 0 {
					data, v, err = s.Load()
				} else {
					data, v, err = s.WaitNewer(ctx, last)
					if err == context.Canceled {
						return
					}
				}
				if err != nil || v < last {
					t.Errorf("reader %d: version %d after %d, %v", r, v, last, err)
					return
				}
				var w, i int
				fmt.Sscanf(string(data), "%d:%d;", &w, &i)
				if !bytes.Equal(data, blob(w, i)) {
					t.Errorf("reader %d: torn blob %q", r, data[:20])
					return
				}
				last = v
			}
		}()
	}
	var writers sync.WaitGroup
	for w := 1; w <= 2; w++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; i < 2000; i++ {
				if _, err := s.Store(blob(w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writers.Wait()
	cancel()
	readers.Wait()
	if v, _ := s.Version(); v != 4000 {
		t.Fatalf("version %d after 4000 stores", v)
	}
}

// References dropped without Release are released by the GC (they must
// not be used then); a dropped Snapshot is freed.
func TestSnapshotGarbageCollected(t *testing.T) {
	s := newSnapshot(t, make([]byte, 1<<20))
	for i := 0; i < 100; i++ {
		ref, err := s.LoadRef()
		if err != nil || len(ref.Data()) != 1<<20 {
			t.Fatal(err)
		}
		s.Store(make([]byte, 1<<20))
	}
	runtime.GC()
	runtime.GC()
	func() { fanlog.NewSnapshot([]byte("dropped")) }()
	runtime.GC()
}
