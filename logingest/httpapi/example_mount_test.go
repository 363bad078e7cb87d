package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/httpapi"
	"github.com/change66/logserver/logingest/store/memstore"
)

// ExampleHandler_mount mounts the API under /logs/ of an application's own mux.
func ExampleHandler_mount() {
	logger := slog.New(slog.DiscardHandler)
	store := memstore.New()
	ing, err := logingest.New(store, &logingest.Config{Logger: logger})
	if err != nil {
		panic(err)
	}
	defer ing.Close(context.Background())

	h, err := httpapi.New(ing, &httpapi.Config{
		Logger:        logger,
		Authenticator: logingest.NewStaticKeys([]string{"app-key"}, logingest.ScopeIngest|logingest.ScopeRead, "habit-tracker"),
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/logs/", http.StripPrefix("/logs", h))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "the app's own routes") // a failed write means the client went away; nothing to do
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	body := `{"event_id":"e1","timestamp":"2025-08-27T09:00:24Z","event_type":"behavioral","event_name":"habit_completed"}`
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/logs/api/v1/ingest", strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", "app-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// 201
}
