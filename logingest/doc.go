// Package logingest ingests analytics and log events from mobile apps, stores them durably and lets their owners
// filter them. It is the library behind the logserver binary; import it to embed ingestion in your own backend.
//
// # Quick start
//
// An Ingester validates events and writes them to a Store; httpapi.New turns both into an http.Handler that
// speaks the app's API (POST /api/v1/ingest, /api/v1/batch-ingest, GET /api/v1/logs/filter, …):
//
//	store, err := sqlite.Open(ctx, "data/logingest.db", &sqlite.Config{AutoMigrate: true}) // or pgstore.Open, or memstore.New() in tests
//	if err != nil { ... }
//	defer store.Close()
//
//	ing, err := logingest.New(store, &logingest.Config{Logger: logger, Registerer: registry})
//	if err != nil { ... }
//	defer ing.Close(ctx) // flushes queued events
//
//	h, err := httpapi.New(ing, &httpapi.Config{
//		Authenticator: logingest.NewStaticKeys([]string{apiKey}, logingest.ScopeIngest|logingest.ScopeRead, ""),
//	})
//	if err != nil { ... }
//	mux.Handle("/logs/", http.StripPrefix("/logs", h))
//
// # Guarantees
//
// Events are idempotent on (source, event_id): a client that retries gets "duplicate" (HTTP 201), never an
// error, and the stored copy never changes. Invalid events are rejected one by one with the field and reason,
// and never cause the valid events of the same batch to be dropped. Ingest returns only after the store write
// holding the events has committed, so an acknowledged event is durable. Concurrent requests are coalesced into
// shared store writes (group commit); the queue is bounded, and when it is full Ingest fails at once with
// ErrOverloaded (HTTP 503 with Retry-After) rather than holding memory.
//
// # Stores
//
// Store is a four-method interface documented sentence by sentence; UserEraser and KeyStore are optional
// abilities discovered by type assertion. The subpackages provide memstore (in memory, for tests and examples),
// sqlite (embedded, the server's default) and pgstore (PostgreSQL, partitioned, for production). To write your
// own Store, run the exported conformance suite against it:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) logingest.Store { return mystore.New(t) }, nil)
//	}
//
// # Errors
//
// Errors match the sentinels of this package with errors.Is (ErrInvalid, ErrOverloaded, ErrUnavailable, …);
// *ValidationError and *LimitError carry the offending field and limit. The httpapi package maps them to HTTP
// status codes in one table.
package logingest
