package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lmittmann/tint"
	oklog "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/term"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/httpapi"
	"github.com/change66/logserver/logingest/natsbuffer"
	"github.com/change66/logserver/logingest/redislimit"
	"github.com/change66/logserver/logingest/store/pgstore"
	"github.com/change66/logserver/logingest/store/sqlite"
)

// backend is what the server needs of a store: the Store contract plus Close.
type backend interface {
	logingest.Store
	Close() error
}

// newLogger builds the process logger: tint on a terminal, JSON otherwise (LOG_FORMAT overrides).
func newLogger(cfg config, w io.Writer) *slog.Logger {
	format := cfg.LogFormat
	if format == logFormatAuto {
		format = logFormatJSON
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = logFormatText
		}
	}
	if format == logFormatText {
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: cfg.LogLevel, TimeFormat: time.TimeOnly}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.LogLevel}))
}

// openStore opens PostgreSQL when a database URL is configured, else the embedded SQLite database in DataDir.
// migrate reports whether pending migrations are applied on open.
func openStore(ctx context.Context, cfg config, logger *slog.Logger, migrate bool) (backend, string, error) {
	if cfg.DatabaseURL != "" {
		connString := cfg.DatabaseURL
		if !strings.Contains(connString, "pool_max_conns=") {
			sep := "?"
			if strings.Contains(connString, "?") {
				sep = "&"
			}
			connString += sep + "pool_max_conns=" + strconv.Itoa(cfg.DBMaxConns)
		}
		connString = withPoolParam(connString, "pool_min_conns", cfg.DBMinConns > 0, strconv.Itoa(cfg.DBMinConns))
		connString = withPoolParam(connString, "pool_max_conn_lifetime", cfg.DBMaxConnLifetime > 0, cfg.DBMaxConnLifetime.String())
		if migrate {
			logger.Info("applying pending PostgreSQL migrations (AUTO_MIGRATE=true)")
		}
		s, err := pgstore.Open(ctx, connString, &pgstore.Config{Logger: logger, AutoMigrate: migrate})
		if err != nil {
			return nil, "", fmt.Errorf("open PostgreSQL at %s: %w", redactURL(cfg.DatabaseURL), err)
		}
		return s, "postgres " + redactURL(cfg.DatabaseURL), nil
	}
	path := filepath.Join(cfg.DataDir, "logingest.db")
	s, err := sqlite.Open(ctx, path, &sqlite.Config{Logger: logger, AutoMigrate: migrate, Synchronous: cfg.SQLiteSynchronous})
	if err != nil {
		return nil, "", fmt.Errorf("open SQLite database %s: %w", path, err)
	}
	return s, "sqlite " + path + " (" + sqlite.Driver() + ")", nil
}

// withPoolParam appends name=value to a PostgreSQL URL when on and the URL does not set name itself.
func withPoolParam(connString, name string, on bool, value string) string {
	if !on || strings.Contains(connString, name+"=") {
		return connString
	}
	sep := "?"
	if strings.Contains(connString, "?") {
		sep = "&"
	}
	return connString + sep + name + "=" + value
}

// serve runs the HTTP server until ctx ends, then drains: readiness turns 503, the listener stops, in-flight
// requests finish (each waits for its events to commit), the ingester flushes, and the store closes.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	logger := newLogger(cfg, stderr)
	logNotices(logger, cfg.Notices)

	store, desc, err := openStore(ctx, cfg, logger, cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			logger.Error("close store", slog.Any("error", err))
		}
	}()
	logger.Info("store ready", slog.String("store", desc))

	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return fmt.Errorf("register go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return fmt.Errorf("register process collector: %w", err)
	}

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d (PORT): %w", cfg.Port, err)
	}
	defer ln.Close()
	baseURL := "http://" + displayAddr(ln.Addr())
	auth, keyAuth, err := setupAuth(ctx, cfg, store, logger, reg, stdout, baseURL)
	if err != nil {
		return err
	}
	limiter, closeLimiter, err := newRateLimiter(cfg, logger, reg)
	if err != nil {
		return err
	}
	defer closeLimiter()
	var keys logingest.KeyStore
	if ks, ok := store.(logingest.KeyStore); ok {
		keys = ks
	}

	// In buffer mode (INGEST_BUFFER) requests are published to JetStream and writers move them to the store;
	// otherwise the Ingester writes them directly.
	var (
		backend    httpapi.Backend
		opsStore   logingest.Store = store
		closeIng                   = func(context.Context) error { return nil }
		runWriters func(context.Context) error
	)
	if cfg.Buffer.URL != "" {
		nc, err := connectBuffer(cfg.Buffer, "logserver", logger)
		if err != nil {
			return err
		}
		defer nc.Close()
		val, err := logingest.NewValidator(&logingest.Config{Logger: logger, MaxBatchSize: cfg.MaxBatchSize})
		if err != nil {
			return err
		}
		bcfg := cfg.Buffer.natsConfig(logger, reg)
		pub, err := natsbuffer.NewPublisher(ctx, nc, val, bcfg)
		if err != nil {
			return err
		}
		if cfg.Buffer.Writers > 0 {
			if runWriters, err = startWriters(ctx, nc, store, cfg.Buffer.Writers, bcfg); err != nil {
				return err
			}
		}
		br := newBufferReader(store, nc)
		backend, opsStore = bufferBackend{Publisher: pub, store: br}, br
		logger.Info("ingest buffer ready", slog.String("stream", cfg.Buffer.Stream),
			slog.String("nats", nc.ConnectedUrlRedacted()), slog.Int("writers", cfg.Buffer.Writers))
	} else {
		ing, err := logingest.New(store, &logingest.Config{
			Logger:       logger,
			Registerer:   reg,
			MaxBatchSize: cfg.MaxBatchSize,
			Writers:      cfg.WorkerPoolSize,
			FlushDelay:   cfg.FlushDelay,
			QueueEvents:  cfg.QueueMaxEvents,
			MaxQueueWait: queueWait(cfg.QueueMaxWait),
			// INGEST_ADMISSION_WAIT: 0 turns the wait off, as for INGEST_QUEUE_MAX_WAIT.
			MaxAdmissionWait: queueWait(cfg.AdmissionWait),
			WriteTimeout:     cfg.WriteTimeout,
		})
		if err != nil {
			return err
		}
		backend, closeIng = ing, ing.Close
	}

	var draining atomic.Bool
	minBodyRate := int64(cfg.MinBodyRateKB) << 10
	if minBodyRate == 0 {
		minBodyRate = -1
	}
	api, err := httpapi.New(backend, &httpapi.Config{
		Logger:                        logger,
		Registerer:                    reg,
		Authenticator:                 auth,
		MaxBodyBytes:                  int64(cfg.MaxRequestSizeMB) << 20,
		MaxEventBytes:                 int64(cfg.MaxEventSizeKB) << 10,
		MaxInflightBodyBytes:          int64(cfg.MaxInflightMB) << 20,
		MaxInflightBodyBytesPerClient: int64(cfg.MaxInflightPerIPMB) << 20,
		MinBodyBytesPerSecond:         minBodyRate,
		BodyGracePeriod:               max(cfg.BodyGrace, time.Nanosecond), // 0 means none, not the default
		BodyReadTimeout:               cfg.ReadTimeout,
		RequestsPerMinute:             cfg.RateLimitPerMinute,
		Burst:                         cfg.RateLimitBurst,
		EventsPerMinute:               cfg.EventsPerMinute,
		EventsBurst:                   cfg.EventsBurst,
		AuthFailuresPerMinute:         cfg.AuthFailuresPerMin,
		RateLimiter:                   limiter,
		Keys:                          keys,
		CORS:                          httpapi.CORS{AllowedOrigins: cfg.CORSOrigins},
		Version:                       version,
		TrustedProxyHeader:            cfg.TrustedProxyHeader,
	})
	if err != nil {
		_ = closeIng(context.Background())
		return err
	}
	ops, err := httpapi.NewOps(opsStore, &httpapi.OpsConfig{
		Logger:             logger,
		Registerer:         reg,
		Gatherer:           gatherer(cfg, reg),
		Version:            version,
		TrustedProxyHeader: cfg.TrustedProxyHeader,
		Ready: func(context.Context) error {
			if draining.Load() {
				return errors.New("shutting down")
			}
			return nil
		},
	})
	if err != nil {
		_ = closeIng(context.Background())
		return err
	}
	// The server answers the API and the operational endpoints on one port, as the original did.
	handler := http.NewServeMux()
	for _, p := range httpapi.OpsPaths() {
		handler.Handle(p, ops)
	}
	handler.Handle("/", api)

	var root http.Handler = handler
	if cfg.ConsoleEnabled {
		if root, err = withConsole(handler); err != nil {
			_ = closeIng(context.Background())
			return err
		}
	}
	srv := &http.Server{
		Handler:           withOpsPaths(root, cfg),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeoutHTTP,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	apiLn, err := limitConnections(srv, ln, cfg.MaxConnections, reg)
	if err != nil {
		_ = closeIng(context.Background())
		return err
	}
	fmt.Fprintf(stdout, "logserver %s listening on %s (store: %s)\n", version, baseURL, desc)
	if cfg.ConsoleEnabled {
		fmt.Fprintf(stdout, "web console: %s%s (sign in with an API key that has the read scope)\n", baseURL, consolePath)
	}

	var g oklog.Group
	g.Add(func() error { // the HTTP server
		if err := srv.Serve(apiLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, func(error) {
		draining.Store(true)
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			logger.Error("http shutdown", slog.Any("error", err))
		}
	})
	if cfg.MetricsAddr != "" {
		if err := addMetricsServer(ctx, &g, cfg, reg, logger, stdout); err != nil {
			_ = closeIng(context.Background())
			return err
		}
	}
	g.Add(func() error { // stop on ctx (SIGINT/SIGTERM in main)
		<-ctx.Done()
		logger.Info("shutting down", slog.String("reason", context.Cause(ctx).Error()))
		return nil
	}, func(error) {})
	if runWriters != nil { // buffer writers: finish the batch in hand, leave the rest in the stream
		wctx, wcancel := context.WithCancel(context.Background())
		g.Add(func() error { return runWriters(wctx) }, func(error) { wcancel() })
	}
	if keyAuth != nil { // batched key usage (last_used_at, use_count), flushed once more on shutdown
		kctx, kcancel := context.WithCancel(context.Background())
		g.Add(func() error { return keyAuth.Run(kctx) }, func(error) { kcancel() })
	}
	if ps, ok := store.(*pgstore.Store); ok {
		mctx, mcancel := context.WithCancel(context.Background())
		g.Add(func() error { maintainPartitions(mctx, ps, cfg.Retention, logger); return nil }, func(error) { mcancel() })
		if ps.OriginalImportPending() { // migration 001 found the original server's tables
			ictx, icancel := context.WithCancel(context.Background())
			idone := make(chan struct{})
			g.Add(func() error {
				defer close(idone)
				importOriginal(ictx, ps, logger, reg)
				<-ictx.Done() // done importing: keep serving
				return nil
			}, func(error) { icancel(); <-idone })
		}
	}

	runErr := g.Run()
	cctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := closeIng(cctx); err != nil {
		logger.Error("drain ingester", slog.Any("error", err))
		runErr = errors.Join(runErr, err)
	}
	logger.Info("stopped")
	return runErr
}

// logNotices logs, once at start-up, the original server's variables that are ignored or read differently.
func logNotices(logger *slog.Logger, notices []notice) {
	for _, n := range notices {
		logger.Warn(n.Message, slog.String("variable", n.Variable), slog.String("reason", n.Reason))
	}
}

// withOpsPaths serves GET /metrics and GET /health also at METRICS_PATH and HEALTH_CHECK_PATH (the original's
// names for moving them), by rewriting those paths before h routes the request.
func withOpsPaths(h http.Handler, cfg config) http.Handler {
	alias := map[string]string{}
	if cfg.MetricsPath != "/metrics" {
		alias[cfg.MetricsPath] = "/metrics"
	}
	if cfg.HealthPath != "/health" {
		alias[cfg.HealthPath] = "/health"
	}
	if len(alias) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to, ok := alias[r.URL.Path]; ok {
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = to, ""
			r = r2
		}
		h.ServeHTTP(w, r)
	})
}

// gatherer is what GET /metrics serves: reg, or nothing (404) when ENABLE_METRICS=false.
func gatherer(cfg config, reg *prometheus.Registry) prometheus.Gatherer {
	// /metrics is served on the API port unless METRICS_ADDR gives it (and pprof) a listener of its own.
	if !cfg.EnableMetrics || cfg.MetricsAddr != "" {
		return nil
	}
	return reg
}

func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		if ok {
			return net.JoinHostPort("localhost", strconv.Itoa(tcp.Port))
		}
	}
	return a.String()
}

// maintainPartitions creates future partitions and applies retention every hour until ctx ends.
func maintainPartitions(ctx context.Context, s *pgstore.Store, retentionDays int, logger *slog.Logger) {
	// pgstore.Open created the partitions ahead but left any rows of the DEFAULT partition (a bulk import) where
	// they are, so that start-up stays short: move them now, in the background, then every hour.
	upkeep := func(now time.Time) {
		if err := s.MaintainPartitions(ctx, now); err != nil && ctx.Err() == nil {
			logger.Error("create partitions", slog.Any("error", err))
		}
		applyRetention(ctx, s, now, retentionDays, logger)
	}
	upkeep(time.Now())
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			upkeep(now)
		}
	}
}

// applyRetention drops the partitions of events received more than retentionDays before now (0 keeps all).
func applyRetention(ctx context.Context, s *pgstore.Store, now time.Time, retentionDays int, logger *slog.Logger) {
	if retentionDays <= 0 {
		return
	}
	dropped, err := s.DropPartitionsBefore(ctx, now.AddDate(0, 0, -retentionDays))
	if err != nil && ctx.Err() == nil {
		logger.Error("apply retention", slog.Any("error", err))
	}
	for _, p := range dropped {
		logger.Info("dropped partition", slog.String("partition", p.Name), slog.Int("retention_days", retentionDays))
	}
}

// newRateLimiter returns the limiter of the API's rate limits: in Redis when REDIS_URL is set (shared by every
// replica, with a per-process fallback while Redis is unreachable), else per process. The returned func closes
// the Redis client.
func newRateLimiter(cfg config, logger *slog.Logger, reg prometheus.Registerer) (httpapi.RateLimiter, func(), error) {
	if cfg.RedisURL == "" {
		return nil, func() {}, nil // httpapi's default: in memory
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	// Fail fast and let the fallback decide: a rate limiter must never add seconds to a request.
	opts.MaxRetries = -1
	opts.DialTimeout = 250 * time.Millisecond
	opts.ReadTimeout = 250 * time.Millisecond
	opts.WriteTimeout = 250 * time.Millisecond
	rdb := redis.NewClient(opts)
	l, err := redislimit.New(rdb, &redislimit.Config{Prefix: cfg.RedisKeyPrefix, Logger: logger, Registerer: reg})
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	pctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		logger.Warn("redis for rate limits is unreachable at start; limits are per process until it answers",
			slog.String("redis", redactURL(cfg.RedisURL)), slog.Any("error", err))
	} else {
		logger.Info("rate limits shared through redis", slog.String("redis", redactURL(cfg.RedisURL)))
	}
	return l, func() { _ = rdb.Close() }, nil
}

// addMetricsServer adds to g a server for /metrics and pprof on METRICS_ADDR, off the API port.
func addMetricsServer(
	ctx context.Context, g *oklog.Group, cfg config, reg *prometheus.Registry, logger *slog.Logger, stdout io.Writer,
) error {
	mln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (METRICS_ADDR): %w", cfg.MetricsAddr, err)
	}
	msrv := &http.Server{
		Handler:           opsMux(reg, logger, cfg.EnableMetrics),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "metrics and pprof on http://%s (METRICS_ADDR)\n", displayAddr(mln.Addr()))
	g.Add(func() error {
		if err := msrv.Serve(mln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, func(error) { _ = msrv.Close() })
	return nil
}

// limitConnections caps the connections srv holds on ln at maxConns (MAX_CONNECTIONS; 0: no cap) and returns
// the listener to serve.
func limitConnections(srv *http.Server, ln net.Listener, maxConns int, reg prometheus.Registerer) (net.Listener, error) {
	if maxConns <= 0 {
		return ln, nil
	}
	cl, err := newConnLimiter(maxConns, reg)
	if err != nil {
		return nil, fmt.Errorf("register connection metrics: %w", err)
	}
	srv.ConnState = cl.connState
	return cl.listener(ln), nil
}

// queueWait maps INGEST_QUEUE_MAX_WAIT to logingest.Config.MaxQueueWait: 0 turns the bound off (negative there).
func queueWait(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
