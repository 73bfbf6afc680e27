//go:build go1.24

package fanlog

import "runtime"

// cleanup is the GC safety net of a Log or Cursor: it releases the C
// handle if the Go value becomes unreachable without Close. Close stops it.
type cleanup struct{ c runtime.Cleanup }

// addCleanup arranges for f(arg) to run once ptr is unreachable. arg must
// not reference ptr.
func addCleanup[T, S any](ptr *T, f func(S), arg S) cleanup {
	return cleanup{runtime.AddCleanup(ptr, f, arg)}
}

func (c cleanup) stop() { c.c.Stop() }
