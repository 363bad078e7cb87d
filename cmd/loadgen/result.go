package main

import (
	"fmt"
	"io"
	"time"
)

// result is the outcome of a run; with -json it is printed as one JSON object. Field names are stable: scripts
// (make bench) read them.
type result struct {
	RunID      string  `json:"run_id"`
	Target     string  `json:"target"`
	Endpoint   string  `json:"endpoint"`
	Clients    int     `json:"clients"`
	Batch      int     `json:"batch"`
	Gzip       bool    `json:"gzip"`
	Seed       uint64  `json:"seed"`
	StopReason string  `json:"stop_reason"` // events, duration, canceled or unauthorized
	WallSec    float64 `json:"wall_sec"`

	EventsPerSec   float64 `json:"events_per_sec"`   // events acknowledged by a 201 (accepted + duplicates) per second
	RequestsPerSec float64 `json:"requests_per_sec"` // HTTP attempts (retries included) per second
	P50Ms          float64 `json:"p50_ms"`
	P90Ms          float64 `json:"p90_ms"`
	P99Ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`

	EventsSent     int64 `json:"events_sent"`     // events in requests sent (each counted once, however many attempts)
	DuplicatesSent int64 `json:"duplicates_sent"` // of which re-sent an earlier event_id (-dup-fraction)
	EventsAcked    int64 `json:"events_acked"`    // accepted + duplicates
	Accepted       int64 `json:"accepted"`        // as reported by the server
	Duplicates     int64 `json:"duplicates"`      // as reported by the server
	Rejected       int64 `json:"rejected"`        // as reported by the server (invalid events inside a 201 batch)
	EventsFailed   int64 `json:"events_failed"`   // events whose request did not end in a 201

	Requests        int64 `json:"requests"` // HTTP attempts
	Errors          int64 `json:"errors"`   // requests whose last attempt was not a 201
	Status201       int64 `json:"status_201"`
	Status4xx       int64 `json:"status_4xx"` // 4xx other than 429
	Status429       int64 `json:"status_429"`
	Status503       int64 `json:"status_503"`
	Status5xx       int64 `json:"status_5xx"` // 5xx other than 503
	StatusOther     int64 `json:"status_other"`
	TransportErrors int64 `json:"transport_errors"`
	Canceled        int64 `json:"canceled"`
	Retries         int64 `json:"retries"`          // attempts repeated after 429/503
	CountMismatches int64 `json:"count_mismatches"` // 201 answers whose counts did not add up to the events sent
	BadAnswers      int64 `json:"bad_answers"`      // 201 answers without readable counts

	CPUMicrosPerEvent   float64 `json:"cpu_us_per_event"`   // loadgen's own CPU (user+sys) per event sent
	BuildMicrosPerEvent float64 `json:"build_us_per_event"` // time spent building bodies per event built
}

func newResult(g *generator, t *tally, stop string, wall, cpu, build time.Duration, built int64) *result {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	perSec := func(n int64) float64 {
		if wall <= 0 {
			return 0
		}
		return float64(n) / wall.Seconds()
	}
	perEvent := func(d time.Duration, n int64) float64 {
		if n == 0 {
			return 0
		}
		return float64(d) / float64(time.Microsecond) / float64(n)
	}
	acked := t.accepted + t.duplicates
	return &result{
		RunID:               g.cfg.runID,
		Target:              g.cfg.target.String(),
		Endpoint:            g.endpoint,
		Clients:             g.cfg.clients,
		Batch:               g.cfg.batch,
		Gzip:                g.cfg.gzip,
		Seed:                g.cfg.seed,
		StopReason:          stop,
		WallSec:             wall.Seconds(),
		EventsPerSec:        perSec(acked),
		RequestsPerSec:      perSec(t.requests),
		P50Ms:               ms(t.lat.quantile(0.50)),
		P90Ms:               ms(t.lat.quantile(0.90)),
		P99Ms:               ms(t.lat.quantile(0.99)),
		MaxMs:               ms(t.lat.max),
		EventsSent:          t.eventsSent,
		DuplicatesSent:      t.dupsSent,
		EventsAcked:         acked,
		Accepted:            t.accepted,
		Duplicates:          t.duplicates,
		Rejected:            t.rejected,
		EventsFailed:        t.eventsFailed,
		Requests:            t.requests,
		Errors:              t.failed,
		Status201:           t.s201,
		Status4xx:           t.s4xx,
		Status429:           t.s429,
		Status503:           t.s503,
		Status5xx:           t.s5xx,
		StatusOther:         t.other,
		TransportErrors:     t.transport,
		Canceled:            t.canceled,
		Retries:             t.retries,
		CountMismatches:     t.mismatched,
		BadAnswers:          t.badBody,
		CPUMicrosPerEvent:   perEvent(cpu, t.eventsSent),
		BuildMicrosPerEvent: perEvent(build, built),
	}
}

// writeText prints r for people.
func (r *result) writeText(w io.Writer) error {
	gz := ""
	if r.Gzip {
		gz = ", gzip"
	}
	_, err := fmt.Fprintf(w, `loadgen run %s -> %s (%d clients, batch %d%s, seed %d)
stopped:   %s after %.3fs
events:    %d sent (%d duplicates), %d acknowledged (%d accepted, %d duplicate), %d rejected, %d failed
rate:      %.1f events/s, %.1f requests/s
latency:   p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms
answers:   201: %d  4xx: %d  429: %d  503: %d  5xx: %d  other: %d  transport errors: %d  canceled: %d
retries:   %d; failed requests: %d; count mismatches: %d; unreadable 201s: %d
generator: %.2fµs CPU per event (whole process), %.2fµs per event building bodies
`,
		r.RunID, r.Endpoint, r.Clients, r.Batch, gz, r.Seed,
		r.StopReason, r.WallSec,
		r.EventsSent, r.DuplicatesSent, r.EventsAcked, r.Accepted, r.Duplicates, r.Rejected, r.EventsFailed,
		r.EventsPerSec, r.RequestsPerSec,
		r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs,
		r.Status201, r.Status4xx, r.Status429, r.Status503, r.Status5xx, r.StatusOther, r.TransportErrors, r.Canceled,
		r.Retries, r.Errors, r.CountMismatches, r.BadAnswers,
		r.CPUMicrosPerEvent, r.BuildMicrosPerEvent)
	return err
}
