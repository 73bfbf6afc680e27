//go:build !go1.24

package fanlog

import "runtime"

// cleanup is the GC safety net of a Log or Cursor (a finalizer before Go
// 1.24 added runtime.AddCleanup). Close stops it.
type cleanup struct{ obj any }

// addCleanup arranges for f(arg) to run once ptr is unreachable. arg must
// not reference ptr.
func addCleanup[T, S any](ptr *T, f func(S), arg S) cleanup {
	runtime.SetFinalizer(ptr, func(*T) { f(arg) })
	return cleanup{ptr}
}

func (c cleanup) stop() { runtime.SetFinalizer(c.obj, nil) }
