package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a small stand-in for the logserver ingest API. It checks what loadgen sends (method, path,
// headers, gzip, event shape), stores event bodies by event_id, and answers 201 with the counts the real
// server reports. Problems are collected and checked by the test goroutine.
type fakeServer struct {
	key string

	// unavailableEvery, when > 0, answers 503 with Retry-After to the first attempt of about one request
	// body in unavailableEvery (chosen by the body's hash); the retry succeeds.
	unavailableEvery int
	// alwaysStatus, when non-zero, is the answer to every authenticated request.
	alwaysStatus int
	// rejectName marks events with this event_name invalid: rejected inside a 201 batch, 400 when single.
	rejectName string

	mu        sync.Mutex
	problems  []string
	requests  int
	gzipped   int
	paths     map[string]int
	refused   map[[32]byte]bool // bodies already answered 503 once
	refusals  int
	stored    map[string][]byte // event_id -> event JSON
	arrival   []string          // event_ids in the order they arrived, duplicates included
	accepted  int
	dups      int
	rejected  int
	dupBodyOK int // duplicates whose body equals the stored event's
}

func newFakeServer(t *testing.T, f *fakeServer) *httptest.Server {
	t.Helper()
	f.paths = map[string]int{}
	f.refused = map[[32]byte]bool{}
	f.stored = map[string][]byte{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv
}

func (f *fakeServer) problemf(format string, args ...any) {
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	f.paths[r.URL.Path]++
	if r.Method != http.MethodPost {
		f.problemf("method %s", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.problemf("Content-Type %q", ct)
	}
	if r.Header.Get("X-API-Key") != f.key {
		writeAnswer(w, http.StatusUnauthorized, `{"success":false,"error":"unauthorized","code":"unauthorized"}`)
		return
	}
	if f.alwaysStatus != 0 {
		w.Header().Set("Retry-After", "1")
		writeAnswer(w, f.alwaysStatus, `{"success":false,"error":"busy","code":"unavailable"}`)
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		f.problemf("read body: %v", err)
		return
	}
	if enc := r.Header.Get("Content-Encoding"); enc == "gzip" {
		f.gzipped++
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			f.problemf("gzip header: %v", err)
			return
		}
		if raw, err = io.ReadAll(zr); err != nil {
			f.problemf("gzip body: %v", err)
			return
		}
	} else if enc != "" {
		f.problemf("Content-Encoding %q", enc)
	}
	if f.unavailableEvery > 0 {
		sum := sha256.Sum256(raw)
		if int(sum[0])%f.unavailableEvery == 0 && !f.refused[sum] {
			f.refused[sum] = true
			f.refusals++
			w.Header().Set("Retry-After", "1")
			writeAnswer(w, http.StatusServiceUnavailable, `{"success":false,"error":"overloaded","code":"unavailable"}`)
			return
		}
	}
	switch r.URL.Path {
	case "/api/v1/ingest":
		status := f.ingest(raw)
		if status == "rejected" {
			writeAnswer(w, http.StatusBadRequest, `{"success":false,"error":"invalid event","code":"invalid"}`)
			return
		}
		writeAnswer(w, http.StatusCreated, fmt.Sprintf(`{"success":true,"data":{"event_id":"x","status":%q}}`, status))
	case "/api/v1/batch-ingest":
		var env struct {
			Logs []json.RawMessage `json:"logs"`
		}
		if err := json.Unmarshal(raw, &env); err != nil || len(env.Logs) == 0 {
			f.problemf("batch body: %v (%d logs)", err, len(env.Logs))
			writeAnswer(w, http.StatusBadRequest, `{"success":false}`)
			return
		}
		counts := map[string]int{}
		for _, e := range env.Logs {
			counts[f.ingest(e)]++
		}
		writeAnswer(w, http.StatusCreated, fmt.Sprintf(`{"success":true,"data":{"accepted":%d,"duplicates":%d,"rejected":%d,"results":[]}}`,
			counts["accepted"], counts["duplicate"], counts["rejected"]))
	default:
		f.problemf("path %s", r.URL.Path)
		writeAnswer(w, http.StatusNotFound, `{"success":false}`)
	}
}

// ingest stores one event and returns accepted, duplicate or rejected.
func (f *fakeServer) ingest(raw json.RawMessage) string {
	var e struct {
		EventID        string          `json:"event_id"`
		Timestamp      time.Time       `json:"timestamp"`
		EventType      string          `json:"event_type"`
		EventName      string          `json:"event_name"`
		SequenceNumber *int64          `json:"sequence_number"`
		Properties     json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		f.problemf("event: %v", err)
		return "rejected"
	}
	if e.EventID == "" || e.EventType == "" || e.EventName == "" || e.Timestamp.IsZero() || e.SequenceNumber == nil {
		f.problemf("event lacks fields: %s", raw)
	}
	if d := time.Since(e.Timestamp); d < -time.Minute || d > realisticShape.offlineMaxAge+time.Hour {
		f.problemf("event timestamp %s is not current", e.Timestamp)
	}
	f.arrival = append(f.arrival, e.EventID)
	if e.EventName == f.rejectName {
		f.rejected++
		return "rejected"
	}
	if prev, ok := f.stored[e.EventID]; ok {
		f.dups++
		if bytes.Equal(prev, raw) {
			f.dupBodyOK++
		}
		return "duplicate"
	}
	f.stored[e.EventID] = bytes.Clone(raw)
	f.accepted++
	return "accepted"
}

func writeAnswer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body+"\n")
}

// snapshot returns a copy of the counters for assertions.
func (f *fakeServer) snapshot() fakeServer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeServer{
		problems: append([]string(nil), f.problems...), requests: f.requests, gzipped: f.gzipped,
		paths: f.paths, refusals: f.refusals, stored: f.stored, arrival: append([]string(nil), f.arrival...),
		accepted: f.accepted, dups: f.dups, rejected: f.rejected, dupBodyOK: f.dupBodyOK,
	}
}

// runJSON runs loadgen with args plus -json and returns its result.
func runJSON(t *testing.T, args ...string) (*result, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), append(args, "-json"), &stdout, &stderr)
	if stdout.Len() == 0 {
		if err == nil {
			return nil, fmt.Errorf("no output (stderr %s)", strings.TrimSpace(stderr.String()))
		}
		return nil, fmt.Errorf("no output (stderr %s): %w", strings.TrimSpace(stderr.String()), err)
	}
	var res result
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		return nil, fmt.Errorf("decode %q: %w", stdout.String(), jerr)
	}
	return &res, err
}
