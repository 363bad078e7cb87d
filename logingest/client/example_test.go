package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"time"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/client"
	"github.com/change66/logserver/logingest/httpapi"
	"github.com/change66/logserver/logingest/store/memstore"
)

// ExampleNew sends events from a Go backend to a logingest server and reads each event's result.
func ExampleNew() {
	// A server to send to (in production: the URL of logserver).
	logger := slog.New(slog.DiscardHandler)
	store := memstore.New()
	ing, _ := logingest.New(store, &logingest.Config{Logger: logger})
	defer ing.Close(context.Background())
	h, _ := httpapi.New(ing, &httpapi.Config{
		Logger:        logger,
		Authenticator: logingest.NewStaticKeys([]string{"backend-key"}, logingest.ScopeIngest, "billing"),
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	results := make(chan client.Result, 10)
	c, err := client.New(srv.URL, &client.Config{
		APIKey:   "backend-key",
		Logger:   logger,
		OnResult: func(r client.Result) { results <- r },
	})
	if err != nil {
		panic(err)
	}
	for _, id := range []string{"inv-1", "inv-2", "inv-1"} {
		err := c.Send(context.Background(), logingest.Event{
			EventID: id, Timestamp: time.Now().UTC(), EventType: logingest.EventTypeBehavioral, EventName: "invoice_paid",
		})
		if err != nil {
			panic(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil { // sends what is queued and waits for the answers
		panic(err)
	}
	close(results)
	for r := range results {
		fmt.Println(r.EventID, r.Status)
	}
	// Output:
	// inv-1 accepted
	// inv-2 accepted
	// inv-1 duplicate
}
