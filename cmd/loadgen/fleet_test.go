package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/httpapi"
	"github.com/change66/logserver/logingest/store/sqlite"
)

// TestFleetExactlyOnceAndSpreadRetries runs a small fleet against the real HTTP API on SQLite with an Ingester
// whose queue refuses almost everything (a 1 ms queue-wait bound, flushes of one batch, no waiting room), and every fifth
// single event answered only after the client gave up (so the app resends an event that was stored). Every
// event must be stored exactly once, the server must have refused with Retry-After values that differ (no
// lockstep), and the timed-out live events must have been delivered by their resend. The store takes at least
// slowWrite per write, as a slow disk does: the Retry-After schedule spreads clients over the time the server needs
// for their events, and on a fast machine a real SQLite write of 50 events took ~1 ms, so every refused client was
// told "1 s" (the minimum) and the spread under test was never exercised.
func TestFleetExactlyOnceAndSpreadRetries(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fleet.db"), &sqlite.Config{AutoMigrate: true, Synchronous: "NORMAL"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })
	ing, err := logingest.New(slowStore{Store: store, min: slowWrite}, &logingest.Config{
		Logger: slog.New(slog.DiscardHandler), MaxQueueWait: time.Millisecond, MaxAdmissionWait: -1,
		// The queue always admits two flushes per writer ahead of a request: flushes of 50 events (one sync
		// batch) leave room for two batches, so most of the eight installs' batches are refused.
		FlushSize: 50,
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ing.Close(context.Background())) })
	h, err := httpapi.New(ing, &httpapi.Config{
		Logger:            slog.New(slog.DiscardHandler),
		Authenticator:     logingest.NewStaticKeys([]string{"fleet-key"}, logingest.ScopeIngest|logingest.ScopeRead, ""),
		RequestsPerMinute: -1, EventsPerMinute: -1,
	})
	require.NoError(t, err)
	var singles, held atomic.Int64
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/ingest" || singles.Add(1)%5 != 0 {
			h.ServeHTTP(w, r)
			return
		}
		// Store the event, then answer only once the client has given up waiting.
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		held.Add(1)
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs before srv.Close

	tpls, err := parseTemplates(bytes.NewReader(defaultTemplates))
	require.NoError(t, err)
	target, err := parseTarget(srv.URL, false)
	require.NoError(t, err)
	cfg := fleetConfig{
		target: target, key: "fleet-key",
		fleetShape: fleetShape{
			installs: 8, buffered: 800, batch: 50, liveInterval: 10 * time.Second, singleTimeout: 3 * time.Second,
			syncTimeout: 15 * time.Second, resendDelay: 5 * time.Second, maxDuration: 5 * time.Minute, verify: true,
			seed: 42,
		},
		liveLimit: 3, runID: "fltest", templates: tpls, client: newHTTPClient(16, false),
		timeScale: 0.005, // a Retry-After of 3 s waits 15 ms: clients come back early and are refused again
	}
	res := newFleet(cfg).run(ctx)
	var text strings.Builder
	require.NoError(t, res.writeText(&text))
	t.Log(text.String())

	require.Equal(t, "done", res.StopReason)
	require.EqualValues(t, 800, res.BufferedAcked)
	require.Positive(t, res.LiveEvents)
	require.Equal(t, res.LiveEvents, res.LiveAcked, "every live event delivered")
	require.LessOrEqual(t, res.Accepted, res.EventsSent, "no event accepted twice")
	require.GreaterOrEqual(t, res.Accepted+res.Duplicates, res.EventsSent, "every event acknowledged")
	require.Equal(t, res.EventsSent, res.Stored, "the server stores each event once")
	st, err := store.Stats(ctx, logingest.StatsQuery{Now: time.Now()})
	require.NoError(t, err)
	require.Equal(t, res.EventsSent, st.TotalEvents, "rows in the database")
	require.True(t, res.ExactlyOnce)

	require.Positive(t, res.Sync503, "the queue refused batches")
	require.Greater(t, res.RetryDistinct, 1, "Retry-After values differ: %+v", res)
	require.Less(t, res.RetryTopShare, 1.0)
	require.Positive(t, held.Load(), "some single events were answered only after the client's timeout")
	require.Positive(t, res.LiveTimedOut, "live events answered after the client's timeout were resent")
	require.Positive(t, res.Duplicates, "a resent stored event is reported duplicate")
}

// slowWrite is how long each write of the fleet test's store takes at least: 50 events per 100 ms, a drain
// rate of ~500 events/s, so that the 800 buffered events need more than a second and refused clients are told
// to come back at different times.
const slowWrite = 100 * time.Millisecond

// slowStore is a Store whose Append takes at least min: the model of a slow disk, not a synchronisation.
type slowStore struct {
	logingest.Store
	min time.Duration
}

func (s slowStore) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendResult, error) {
	t := time.NewTimer(s.min)
	defer t.Stop()
	res, err := s.Store.Append(ctx, events)
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return res, err
}
