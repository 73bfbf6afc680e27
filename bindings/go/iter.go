//go:build go1.23

package fanlog

import (
	"context"
	"errors"
	"iter"
)

// All returns an iterator over the cursor's records for a range loop:
//
//	for rec, err := range cur.All(ctx) {
//		if err != nil {
//			// a *LaggedError (iteration continues), or the final error
//		}
//		...
//	}
//
// Records are Go-owned copies, as from Next. A *LaggedError is yielded
// and iteration continues. Iteration ends silently after a clean close of
// the log (plain ErrClosed); any other error — a *CloseError with the
// producer's failure, ctx.Err(), a closed Cursor — is yielded once, last.
// Requires Go 1.23.
func (c *Cursor) All(ctx context.Context) iter.Seq2[Record, error] {
	return all(ctx, c.Next)
}

// All is Cursor.All for a subscription's events: it ends silently after a
// clean close of the hub or after Unsubscribe, and yields a *CloseError
// (last) after a close with an error.
func (s *Subscription) All(ctx context.Context) iter.Seq2[Record, error] {
	return all(ctx, s.Next)
}

func all(ctx context.Context, next func(context.Context) (Record, error)) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			rec, err := next(ctx)
			switch {
			case err == nil:
				if !yield(rec, nil) {
					return
				}
			case errors.Is(err, ErrLagged):
				if !yield(Record{}, err) {
					return
				}
			case err == ErrClosed:
				return
			default:
				yield(Record{}, err)
				return
			}
		}
	}
}
