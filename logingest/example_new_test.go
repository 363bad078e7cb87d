package logingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
)

// ExampleNew ingests a batch with one invalid event and a retried one: the invalid event is rejected on its own,
// the retry is reported as a duplicate, and the valid events are stored.
func ExampleNew() {
	ctx := context.Background()
	store := memstore.New()
	ing, err := logingest.New(store, &logingest.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer ing.Close(ctx)

	ts := time.Date(2025, 8, 27, 9, 0, 24, 0, time.UTC)
	events := []logingest.Event{
		{EventID: "e1", Timestamp: ts, EventType: "behavioral", EventName: "habit_completed", Properties: json.RawMessage(`{"streak":5}`)},
		{EventID: "e2", Timestamp: ts, EventType: "clicks", EventName: "button_tap"},
		{EventID: "e1", Timestamp: ts, EventType: "behavioral", EventName: "habit_completed"},
	}
	res, err := ing.Ingest(ctx, "habit-tracker-prod", events)
	if err != nil {
		panic(err)
	}
	for _, r := range res.Results {
		fmt.Println(r.Index, r.EventID, r.Status, r.Errors)
	}

	page, err := store.Query(ctx, logingest.Filter{Source: "habit-tracker-prod"})
	if err != nil {
		panic(err)
	}
	fmt.Println("stored:", page.Total)
	// Output:
	// 0 e1 accepted []
	// 1 e2 rejected [{event_type must be one of behavioral, telemetry, observability, error, performance}]
	// 2 e1 duplicate []
	// stored: 1
}
