package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

// StreamConfig configures GET /api/v1/logs/stream. The zero value works.
type StreamConfig struct {
	// PollInterval is how often a stream asks the store for new events. Defaults to 500ms, so an event is
	// delivered well within 2 seconds of being stored, on any replica (every replica reads the same store).
	PollInterval time.Duration
	// Heartbeat is how often an idle stream sends a comment line, so that proxies keep it open. Defaults to
	// 15s.
	Heartbeat time.Duration
	// Lag is how far back each poll looks again for events that committed late (a batch that was stamped
	// before another but committed after it). Events seen in that window are not sent twice. Defaults to 5s.
	Lag time.Duration
	// Buffer is how many events may wait for a slow client; when it overflows, the client is sent a final
	// comment and dropped. Defaults to 1000.
	Buffer int
	// WriteTimeout bounds each write to the client; a client that takes longer is dropped. Defaults to 10s.
	WriteTimeout time.Duration
	// MaxStreams bounds the concurrent streams of one Handler (each polls the store); more are refused with
	// 503 and Retry-After. Defaults to 64; negative means no limit.
	MaxStreams int
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.Lag <= 0 {
		c.Lag = 5 * time.Second
	}
	if c.Buffer <= 0 {
		c.Buffer = 1000
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = 64
	}
	return c
}

// streamPosition is the Last-Event-ID of the stream: the received_at and key of the last event sent. Its
// text form is base64url (unpadded) JSON.
type streamPosition struct {
	ReceivedAt time.Time `json:"r"`
	EventID    string    `json:"e"`
}

func (p streamPosition) encode() string {
	b, _ := json.Marshal(p) //nolint:errchkjson // a time and a string always encode
	return base64.RawURLEncoding.EncodeToString(b)
}

func parsePosition(s string) (streamPosition, error) {
	var p streamPosition
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil || p.ReceivedAt.IsZero() {
		return p, &logingest.ValidationError{Errors: []logingest.FieldError{{
			Field: "Last-Event-ID", Reason: "is not an id this stream sent",
		}}}
	}
	return p, nil
}

// streamer polls the store for one stream. It orders by received_at, re-reads the last Lag on every poll and
// remembers what it sent in that window, so a late-committing event is still sent once.
type streamer struct {
	h    *Handler
	f    logingest.Filter
	cfg  StreamConfig
	from streamPosition // nothing at or before this position is sent
	// skipping is set while the events received exactly at from.ReceivedAt are the ones already sent (up to
	// and including from.EventID).
	skipping bool
	last     time.Time            // the newest received_at sent
	sent     map[string]time.Time // source/event_id -> received_at of what was sent within Lag of last
}

// poll returns the SSE frames of the events stored since the previous poll.
func (s *streamer) poll(ctx context.Context) ([][]byte, error) {
	since := s.from.ReceivedAt
	if t := s.last.Add(-s.cfg.Lag); t.After(since) {
		since = t
	}
	f := s.f
	f.SortBy, f.SortOrder, f.Limit, f.Offset, f.SkipTotal = logingest.SortReceivedAt, logingest.SortAsc, logingest.MaxQueryLimit, 0, true
	// Start just before since: the cursor sorts after every event received before since.
	f.After = storequery.Cursor{Field: logingest.SortReceivedAt, Value: since.Add(-time.Microsecond).UTC(), ID: math.MaxInt64}.Encode()
	var frames [][]byte
	for range 10 { // at most 10 pages per poll; the rest comes on the next one
		page, err := s.h.store.Query(ctx, f)
		if err != nil {
			return frames, err
		}
		for i := range page.Events {
			e := &page.Events[i]
			if frame := s.take(e); frame != nil {
				frames = append(frames, frame)
			}
		}
		if page.NextCursor == "" {
			break
		}
		f.After = page.NextCursor
	}
	for k, t := range s.sent {
		if t.Before(s.last.Add(-s.cfg.Lag)) {
			delete(s.sent, k)
		}
	}
	return frames, nil
}

// take returns the SSE frame of e, or nil when e was already sent or is at or before the resume position.
func (s *streamer) take(e *logingest.Event) []byte {
	r := e.ReceivedAt.UTC()
	switch {
	case r.Before(s.from.ReceivedAt):
		return nil
	case r.Equal(s.from.ReceivedAt):
		if s.skipping {
			if e.EventID == s.from.EventID {
				s.skipping = false
			}
			return nil
		}
	}
	k := e.Source + "\x00" + e.EventID
	if _, dup := s.sent[k]; dup {
		return nil
	}
	s.sent[k] = r
	if r.After(s.last) {
		s.last = r
	}
	data, err := json.Marshal(toLogObject(e))
	if err != nil {
		return nil
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "id: %s\nevent: log\ndata: %s\n\n", streamPosition{ReceivedAt: r, EventID: e.EventID}.encode(), data)
	return b.Bytes()
}

// handleStream answers GET /api/v1/logs/stream with the filters of /logs/filter (sorting and paging
// parameters are ignored): Server-Sent Events, one "log" event per stored event in received_at order, each
// with an id that resumes the stream after it as Last-Event-ID (header, or the last_event_id parameter).
// Without one, the stream starts with events received from now on. Comments are sent as heartbeats; a client
// that falls Buffer events behind is sent ": dropped …" and disconnected.
//
//nolint:gocognit // one flow: parse, admit, first poll, then the poller/writer pair; splitting it scatters the shutdown order
func (h *Handler) handleStream(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	p, _ := logingest.FromContext(r.Context())
	for _, k := range []string{"page", "page_size", "cursor", "sort_by", "sort_order"} {
		q.Del(k)
	}
	f, _, err := parseFilter(q, sourceOf(p))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	st := &streamer{h: h, f: f, cfg: h.cfg.Stream, sent: map[string]time.Time{}}
	st.from = streamPosition{ReceivedAt: h.cfg.Now().UTC()}
	if id := r.Header.Get("Last-Event-ID"); id != "" || q.Get("last_event_id") != "" {
		if id == "" {
			id = q.Get("last_event_id")
		}
		pos, err := parsePosition(id)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		st.from, st.skipping = pos, true
	}
	st.last = st.from.ReceivedAt
	if limit := int64(h.cfg.Stream.MaxStreams); limit > 0 {
		if n := h.streams.Add(1); n > limit {
			h.streams.Add(-1)
			w.Header().Set("Retry-After", "5")
			h.writeError(w, r, fmt.Errorf("%d live streams: %w", limit, logingest.ErrOverloaded))
			return
		}
		defer h.streams.Add(-1)
	}
	// The first poll runs before the answer starts, so that a store failure is an ordinary error answer.
	first, err := st.poll(r.Context())
	if err != nil {
		h.writeError(w, r, storeError("stream", err))
		return
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.Stream.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte(": connected\nretry: 2000\n\n")) {
		return
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	frames := make(chan []byte, h.cfg.Stream.Buffer)
	failed := make(chan error, 1)
	var dropped atomic.Bool
	go func() {
		defer close(frames)
		push := func(batch [][]byte) bool {
			for _, fr := range batch {
				select {
				case frames <- fr:
				default:
					dropped.Store(true)
					return false
				}
			}
			return true
		}
		if !push(first) {
			return
		}
		t := time.NewTicker(h.cfg.Stream.PollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			batch, err := st.poll(ctx)
			if err != nil {
				if ctx.Err() == nil {
					failed <- err
				}
				return
			}
			if !push(batch) {
				return
			}
		}
	}()

	hb := time.NewTicker(h.cfg.Stream.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case fr, ok := <-frames:
			if !ok {
				if dropped.Load() {
					write([]byte(": dropped: the client reads too slowly; reconnect with Last-Event-ID\n\n"))
				}
				select {
				case err := <-failed:
					h.requestLogger(r).WarnContext(r.Context(), "stream ended by a store error", "error", err)
					write([]byte(": error: the store failed; reconnect with Last-Event-ID\n\n"))
				default:
				}
				return
			}
			if dropped.Load() {
				// The poller gave up on this client: say so instead of sending what is left.
				cancel()
				write([]byte(": dropped: the client reads too slowly; reconnect with Last-Event-ID\n\n"))
				return
			}
			if !write(fr) {
				return
			}
		case <-hb.C:
			if !write([]byte(": heartbeat\n\n")) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}
