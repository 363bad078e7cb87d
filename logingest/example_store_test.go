package logingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
)

// countingStore is a custom Store: it decorates another Store and counts the writes the Ingester makes. Test a
// real implementation with storetest.Run.
type countingStore struct {
	logingest.Store
	writes atomic.Int64
}

func (s *countingStore) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	s.writes.Add(1)
	return s.Store.Append(ctx, events)
}

// ExampleStore_custom plugs a custom Store into an Ingester.
func ExampleStore_custom() {
	ctx := context.Background()
	store := &countingStore{Store: memstore.New()}
	ing, err := logingest.New(store, &logingest.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	ts := time.Date(2025, 8, 27, 9, 0, 0, 0, time.UTC)
	for _, id := range []string{"a", "b"} {
		ev := logingest.Event{EventID: id, Timestamp: ts, EventType: "telemetry", EventName: "api_call"}
		if _, err := ing.Ingest(ctx, "", []logingest.Event{ev}); err != nil {
			panic(err)
		}
	}
	if err := ing.Close(ctx); err != nil {
		panic(err)
	}
	fmt.Println("store writes:", store.writes.Load())
	// Output:
	// store writes: 2
}
