package storequery

import (
	"context"
	"sync"
)

// ReadAhead runs read in a goroutine of its own, one chunk ahead of use: while use consumes a chunk, the next is
// being read. read fills the chunk it is given (a fresh one from fresh, or one use is done with) and reports
// whether another follows; use is called with each chunk in order, on the caller's goroutine, and may not keep
// it after it returns. At most three chunks exist at once (the one use holds, one read ahead, one being read).
//
// ReadAhead returns the first error of read or use, else ctx's error if ctx ended first, else nil. The reader
// goroutine never outlives the call.
func ReadAhead[C any](
	ctx context.Context, fresh func() *C, read func(ctx context.Context, c *C) (more bool, err error), use func(c *C) error,
) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the reader stops
	defer cancel()
	type chunk struct {
		c   *C
		err error
	}
	out := make(chan chunk, 1)
	free := make(chan *C, 3) // chunks use is done with, for read to fill again
	wg.Go(func() {
		defer close(out)
		for {
			var c *C
			select {
			case c = <-free:
			default:
				c = fresh()
			}
			more, err := read(ctx, c)
			select {
			case out <- chunk{c, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || !more {
				return
			}
		}
	})
	for ch := range out {
		if ch.err != nil {
			return ch.err
		}
		if err := use(ch.c); err != nil {
			return err
		}
		select {
		case free <- ch.c:
		default:
		}
	}
	return ctx.Err() // set when the parent ended before the last chunk
}
