package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/natsbuffer"
)

// bufferConfig is the buffer mode's configuration (INGEST_BUFFER_*). URL empty means direct mode.
type bufferConfig struct {
	URL             string        // INGEST_BUFFER: nats://host:port[,nats://…]
	Stream          string        // INGEST_BUFFER_STREAM
	Replicas        int           // INGEST_BUFFER_REPLICAS
	Partitions      int           // INGEST_BUFFER_PARTITIONS
	PerEvent        bool          // INGEST_BUFFER_MESSAGES=event (default request)
	MaxMB           int           // INGEST_BUFFER_MAX_MB
	MaxEvents       int           // INGEST_BUFFER_MAX_EVENTS
	DuplicateWindow time.Duration // INGEST_BUFFER_DUPLICATE_WINDOW
	Consumer        string        // INGEST_BUFFER_CONSUMER
	Batch           int           // INGEST_BUFFER_BATCH
	AckWait         time.Duration // INGEST_BUFFER_ACK_WAIT
	Writers         int           // INGEST_BUFFER_WRITERS: writers inside `serve` (0: run `logserver consume`)
	Appenders       int           // INGEST_BUFFER_APPENDERS: concurrent Appends per writer and partition
	DeadLetter      string        // INGEST_BUFFER_DEAD_LETTER_STREAM
}

func loadBufferConfig(r *envReader) bufferConfig {
	b := bufferConfig{
		URL:             r.str("INGEST_BUFFER", ""),
		Stream:          r.str("INGEST_BUFFER_STREAM", "LOGINGEST"),
		Replicas:        r.int("INGEST_BUFFER_REPLICAS", 1, 1, 5),
		Partitions:      r.int("INGEST_BUFFER_PARTITIONS", 1, 1, 256),
		MaxMB:           r.int("INGEST_BUFFER_MAX_MB", 1024, 1, 1<<24),
		MaxEvents:       r.int("INGEST_BUFFER_MAX_EVENTS", 10_000_000, 1, 1<<40),
		DuplicateWindow: r.duration("INGEST_BUFFER_DUPLICATE_WINDOW", 10*time.Minute, time.Second),
		Consumer:        r.str("INGEST_BUFFER_CONSUMER", "logingest-writers"),
		Batch:           r.int("INGEST_BUFFER_BATCH", 5000, 1, 10000),
		AckWait:         r.duration("INGEST_BUFFER_ACK_WAIT", 30*time.Second, 2*time.Second),
		Writers:         r.int("INGEST_BUFFER_WRITERS", 2, 0, 64),
		Appenders:       r.int("INGEST_BUFFER_APPENDERS", 1, 1, 64),
		DeadLetter:      r.str("INGEST_BUFFER_DEAD_LETTER_STREAM", "LOGINGEST_DEADLETTER"),
	}
	switch m := r.str("INGEST_BUFFER_MESSAGES", "request"); m {
	case "request":
	case "event":
		b.PerEvent = true
	default:
		r.errs = append(r.errs, fmt.Errorf("INGEST_BUFFER_MESSAGES must be request or event, not %q", m))
	}
	if b.URL != "" {
		for u := range strings.SplitSeq(b.URL, ",") {
			if u = strings.TrimSpace(u); !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
				r.errs = append(r.errs, errors.New("INGEST_BUFFER must be a comma-separated list of nats:// or tls:// URLs"))
				break
			}
		}
	}
	return b
}

// natsConfig turns the environment's buffer settings into the package's Config.
func (b bufferConfig) natsConfig(logger *slog.Logger, reg prometheus.Registerer) *natsbuffer.Config {
	return &natsbuffer.Config{
		Logger:            logger,
		Registerer:        reg,
		Stream:            b.Stream,
		Replicas:          b.Replicas,
		Partitions:        b.Partitions,
		PerEventMessages:  b.PerEvent,
		MaxBytes:          int64(b.MaxMB) << 20,
		MaxEvents:         int64(b.MaxEvents),
		DuplicateWindow:   b.DuplicateWindow,
		Consumer:          b.Consumer,
		BatchSize:         b.Batch,
		Appenders:         b.Appenders,
		AckWait:           b.AckWait,
		WriteTimeout:      min(10*time.Second, b.AckWait/2),
		DeadLetterStream:  b.DeadLetter,
		DeadLetterSubject: strings.ToLower(b.Stream) + ".deadletter",
		Subject:           strings.ToLower(b.Stream) + ".events",
	}
}

// connectBuffer connects to the NATS servers of INGEST_BUFFER. The connection reconnects forever; while it is
// down, publishes fail fast and ingest answers 503.
func connectBuffer(b bufferConfig, name string, logger *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(b.URL,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.Timeout(5*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("disconnected from the ingest buffer", slog.Any("error", err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("reconnected to the ingest buffer", slog.String("server", nc.ConnectedUrlRedacted()))
		}))
	if err != nil {
		return nil, fmt.Errorf("connect to INGEST_BUFFER %s: %w", b.URL, err)
	}
	return nc, nil
}

// bufferBackend is the httpapi.Backend of buffer mode: Ingest (and MaxBatchSize) publish through the
// Publisher, reads go to store.
type bufferBackend struct {
	*natsbuffer.Publisher
	store logingest.Store
}

// Store implements httpapi.Backend.
func (b bufferBackend) Store() logingest.Store { return b.store }

// bufferReader is the read side handed to httpapi in buffer mode: reads go to the store, but Ping (health and
// readiness) reports the buffer connection, because ingest no longer depends on the database; a database
// outage must not take every replica out of its load balancer.
type bufferReader struct {
	logingest.Store
	nc *nats.Conn
}

func (r bufferReader) Ping(context.Context) error {
	if s := r.nc.Status(); s != nats.CONNECTED {
		return fmt.Errorf("ingest buffer connection is %s", s)
	}
	return nil
}

// newBufferReader wraps store as a bufferReader that still offers the optional read interfaces httpapi looks
// for (logingest.Aggregator for /api/v1/dashboard, logingest.Exporter for a streamed export) when store has
// them: embedding only logingest.Store would hide them, so buffer mode would lose the dashboard route and fall
// back to paging exports.
func newBufferReader(store logingest.Store, nc *nats.Conn) logingest.Store {
	r := bufferReader{Store: store, nc: nc}
	ag, isAg := store.(logingest.Aggregator)
	ex, isEx := store.(logingest.Exporter)
	switch {
	case isAg && isEx:
		return struct {
			bufferReader
			logingest.Aggregator
			logingest.Exporter
		}{r, ag, ex}
	case isAg:
		return struct {
			bufferReader
			logingest.Aggregator
		}{r, ag}
	case isEx:
		return struct {
			bufferReader
			logingest.Exporter
		}{r, ex}
	}
	return r
}

// startWriters creates n writers on nc for store; run runs them until ctx ends. With partitions, writer k pulls
// the partitions p with p mod n = k (with fewer partitions than writers, partition k mod n), so each partition has
// one puller per process and keeps its order when a single process writes.
func startWriters(
	ctx context.Context, nc *nats.Conn, store logingest.Store, n int, cfg *natsbuffer.Config,
) (run func(context.Context) error, err error) {
	ws := make([]*natsbuffer.Writer, n)
	for i := range ws {
		c := *cfg
		c.WriterPartitions = writerPartitions(i, n, max(1, cfg.Partitions))
		if ws[i], err = natsbuffer.NewWriter(ctx, nc, store, &c); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context) error {
		errs := make(chan error, len(ws))
		for _, w := range ws {
			go func() { errs <- w.Run(ctx) }()
		}
		all := make([]error, 0, len(ws))
		for range ws {
			all = append(all, <-errs)
		}
		return errors.Join(all...)
	}, nil
}

// writerPartitions returns the partitions writer k of n pulls out of parts: nil (all) without partitions.
func writerPartitions(k, n, parts int) []int {
	if parts <= 1 {
		return nil
	}
	if parts < n {
		return []int{k % parts}
	}
	var out []int
	for p := k; p < parts; p += n {
		out = append(out, p)
	}
	return out
}

// deadLettersCmd lists the events the writers moved to the dead-letter stream, as JSON lines.
func deadLettersCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "list" {
		return errors.New("usage: logserver deadletters list [-after SEQ] [-limit N]")
	}
	fs := flag.NewFlagSet("deadletters list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	after := fs.Uint64("after", 0, "list dead letters after this sequence")
	limit := fs.Int("limit", 100, "most dead letters to list")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cfg.Buffer.URL == "" {
		return errors.New("INGEST_BUFFER is not set: there is no buffer, hence no dead letters")
	}
	logger := newLogger(cfg, stderr)
	nc, err := connectBuffer(cfg.Buffer, "logserver deadletters", logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	total, page, err := natsbuffer.DeadLetters(ctx, nc, cfg.Buffer.natsConfig(logger, nil), *after, *limit)
	if err != nil {
		return err
	}
	for _, dl := range page {
		line, err := jsonLine(dl)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(stdout, line); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(stderr, "%d dead letters held; listed %d\n", total, len(page))
	return err
}

// jsonLine renders a dead letter as one JSON line, with the event's JSON inline when it is valid JSON.
func jsonLine(dl natsbuffer.DeadLetter) (string, error) {
	out := struct {
		natsbuffer.DeadLetter
		Event json.RawMessage `json:"event,omitempty"`
		Raw   string          `json:"raw,omitempty"`
	}{DeadLetter: dl}
	if json.Valid(dl.Data) {
		out.Event = dl.Data
	} else {
		out.Raw = string(dl.Data)
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// consume runs buffer writers (INGEST_BUFFER_WRITERS, at least 1) until ctx ends, and serves /metrics and
// /health on HOST:PORT.
func consume(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cfg.Buffer.URL == "" {
		return errors.New("INGEST_BUFFER is not set: consume moves events from the buffer to the store")
	}
	logger := newLogger(cfg, stderr)
	store, desc, err := openStore(ctx, cfg, logger, cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer func() { _ = store.Close() }()
	nc, err := connectBuffer(cfg.Buffer, "logserver consume", logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return err
	}
	runWriters, err := startWriters(ctx, nc, store, max(1, cfg.Buffer.Writers), cfg.Buffer.natsConfig(logger, reg))
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d (PORT): %w", cfg.Port, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if err := (bufferReader{nc: nc}).Ping(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "logserver %s consuming %s into %s; metrics on http://%s/metrics\n", version,
		cfg.Buffer.Stream, desc, displayAddr(ln.Addr()))
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	return runWriters(ctx)
}
