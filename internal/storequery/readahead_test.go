package storequery_test

import (
	"context"
	"errors"
	"testing"

	"github.com/change66/logserver/internal/storequery"
)

type numChunk struct{ n []int }

// reader returns a read func that fills chunks of size numbers counting up from 0, total numbers in all; it
// fails with errAt's error at the chunk that would start at errAt (when errAt >= 0).
func reader(total, size, errAt int, fresh *int) (func() *numChunk, func(context.Context, *numChunk) (bool, error)) {
	next := 0
	newChunk := func() *numChunk { *fresh++; return &numChunk{} }
	read := func(_ context.Context, c *numChunk) (bool, error) {
		if errAt >= 0 && next >= errAt {
			return false, errors.New("read failed")
		}
		c.n = c.n[:0]
		for len(c.n) < size && next < total {
			c.n = append(c.n, next)
			next++
		}
		return next < total, nil
	}
	return newChunk, read
}

func TestReadAhead(t *testing.T) {
	t.Parallel()
	t.Run("every chunk in order, chunks reused", func(t *testing.T) {
		t.Parallel()
		fresh := 0
		newChunk, read := reader(10_000, 7, -1, &fresh)
		var got []int
		err := storequery.ReadAhead(t.Context(), newChunk, read, func(c *numChunk) error {
			got = append(got, c.n...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("got[%d] = %d", i, v)
			}
		}
		if len(got) != 10_000 {
			t.Fatalf("got %d numbers, want 10000", len(got))
		}
		if fresh > 3 {
			t.Fatalf("%d chunks made, want at most 3", fresh)
		}
	})
	t.Run("a read error ends it after the chunks before it", func(t *testing.T) {
		t.Parallel()
		fresh := 0
		newChunk, read := reader(100, 10, 50, &fresh)
		seen := 0
		err := storequery.ReadAhead(t.Context(), newChunk, read, func(c *numChunk) error {
			seen += len(c.n)
			return nil
		})
		if err == nil || err.Error() != "read failed" || seen != 50 {
			t.Fatalf("err %v after %d numbers, want read failed after 50", err, seen)
		}
	})
	t.Run("a use error stops the reader", func(t *testing.T) {
		t.Parallel()
		fresh := 0
		newChunk, read := reader(1_000_000, 10, -1, &fresh)
		stop := errors.New("stop")
		calls := 0
		err := storequery.ReadAhead(t.Context(), newChunk, read, func(*numChunk) error {
			calls++
			if calls == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 3 {
			t.Fatalf("err %v after %d calls, want stop after 3", err, calls)
		}
	})
	t.Run("a cancelled context", func(t *testing.T) {
		t.Parallel()
		fresh := 0
		newChunk, read := reader(1_000_000, 10, -1, &fresh)
		ctx, cancel := context.WithCancel(t.Context())
		err := storequery.ReadAhead(ctx, newChunk, func(ctx context.Context, c *numChunk) (bool, error) {
			more, err := read(ctx, c)
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return more, err
		}, func(c *numChunk) error {
			if c.n[0] == 100 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
}
