package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// config is the server's configuration, read from the environment (and .env). Every variable is listed in
// config.example.env and in the README's configuration table.
type config struct {
	Port    int    // PORT
	Host    string // HOST
	DataDir string // DATA_DIR

	DatabaseURL string // DATABASE_URL, or built from DB_HOST/DB_PORT/DB_NAME/DB_USER/DB_PASSWORD/DB_SSL_MODE
	DBMaxConns  int    // DB_MAX_CONNECTIONS
	AutoMigrate bool   // AUTO_MIGRATE
	Retention   int    // RETENTION_DAYS (0 keeps events forever)

	APIKeys            []string // API_KEYS
	RateLimitPerMinute float64  // RATE_LIMIT_REQUESTS_PER_MINUTE
	RateLimitBurst     int      // RATE_LIMIT_BURST
	EventsPerMinute    float64  // RATE_LIMIT_EVENTS_PER_MINUTE
	EventsBurst        int      // RATE_LIMIT_EVENTS_BURST
	AuthFailuresPerMin float64  // AUTH_FAILURES_PER_MINUTE
	RedisURL           string   // REDIS_URL
	RedisKeyPrefix     string   // REDIS_KEY_PREFIX
	MaxBatchSize       int      // MAX_BATCH_SIZE
	MaxRequestSizeMB   int      // MAX_REQUEST_SIZE_MB
	MaxInflightMB      int      // MAX_INFLIGHT_BODIES_MB (0: 16 × MAX_REQUEST_SIZE_MB)
	WorkerPoolSize     int      // WORKER_POOL_SIZE
	FlushDelay         time.Duration
	QueueMaxEvents     int
	WriteTimeout       time.Duration
	CORSOrigins        []string // CORS_ALLOWED_ORIGINS
	TrustedProxyHeader string   // TRUSTED_PROXY_HEADER
	ConsoleEnabled     bool     // CONSOLE_ENABLED: the web console at /ui/

	Buffer bufferConfig // INGEST_BUFFER and INGEST_BUFFER_*

	LogLevel          slog.Level // LOG_LEVEL
	LogFormat         string     // LOG_FORMAT: auto, json, text
	ShutdownTimeout   time.Duration
	ReadHeaderTimeout time.Duration // HTTP_READ_HEADER_TIMEOUT
	ReadTimeout       time.Duration
	WriteTimeoutHTTP  time.Duration
	IdleTimeout       time.Duration
}

// LOG_FORMAT values.
const (
	logFormatAuto = "auto" // text on a terminal, JSON otherwise
	logFormatJSON = "json"
	logFormatText = "text"
)

// envReader reads typed variables and collects one error per bad variable, each naming it.
type envReader struct {
	getenv func(string) string
	errs   []error
}

func (r *envReader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *envReader) int(name string, def, lo, hi int) int {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.errs = append(r.errs, fmt.Errorf("%s must be an integer between %d and %d, got %q", name, lo, hi, v))
		return def
	}
	return n
}

func (r *envReader) float(name string, def, lo float64) float64 {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo {
		r.errs = append(r.errs, fmt.Errorf("%s must be a number of at least %g, got %q", name, lo, v))
		return def
	}
	return f
}

func (r *envReader) duration(name string, def, lo time.Duration) time.Duration {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo {
		r.errs = append(r.errs, fmt.Errorf("%s must be a duration such as 500ms or 30s, at least %s, got %q", name, lo, v))
		return def
	}
	return d
}

func (r *envReader) bool(name string, def bool) bool {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s must be true or false, got %q", name, v))
		return def
	}
	return b
}

func (r *envReader) list(name string) []string {
	var out []string
	for p := range strings.SplitSeq(r.getenv(name), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// loadConfig reads the configuration through getenv. The error lists every invalid variable by name.
func loadConfig(getenv func(string) string) (config, error) {
	r := &envReader{getenv: getenv}
	c := config{
		Port:               r.int("PORT", 8080, 0, 65535),
		Host:               r.str("HOST", ""),
		DataDir:            r.str("DATA_DIR", "./data"),
		DBMaxConns:         r.int("DB_MAX_CONNECTIONS", 20, 1, 1000),
		AutoMigrate:        r.bool("AUTO_MIGRATE", true),
		Retention:          r.int("RETENTION_DAYS", 0, 0, 100000),
		APIKeys:            r.list("API_KEYS"),
		RateLimitPerMinute: r.float("RATE_LIMIT_REQUESTS_PER_MINUTE", 1000, 0),
		RateLimitBurst:     r.int("RATE_LIMIT_BURST", 100, 1, 1_000_000),
		EventsPerMinute:    r.float("RATE_LIMIT_EVENTS_PER_MINUTE", 60000, 0),
		EventsBurst:        r.int("RATE_LIMIT_EVENTS_BURST", 10000, 1, 100_000_000),
		AuthFailuresPerMin: r.float("AUTH_FAILURES_PER_MINUTE", 60, 0),
		RedisURL:           r.str("REDIS_URL", ""),
		RedisKeyPrefix:     r.str("REDIS_KEY_PREFIX", "logingest:"),
		MaxBatchSize:       r.int("MAX_BATCH_SIZE", 1000, 1, 100_000),
		MaxRequestSizeMB:   r.int("MAX_REQUEST_SIZE_MB", 10, 1, 1024),
		MaxInflightMB:      r.int("MAX_INFLIGHT_BODIES_MB", 0, 0, 1<<20),
		WorkerPoolSize:     r.int("WORKER_POOL_SIZE", 0, 1, 1000), // 0: the library's default
		FlushDelay:         r.duration("INGEST_FLUSH_DELAY", 0, 0),
		QueueMaxEvents:     r.int("INGEST_QUEUE_MAX_EVENTS", 50000, 1, 10_000_000),
		WriteTimeout:       r.duration("INGEST_WRITE_TIMEOUT", 10*time.Second, time.Millisecond),
		CORSOrigins:        r.list("CORS_ALLOWED_ORIGINS"),
		TrustedProxyHeader: r.str("TRUSTED_PROXY_HEADER", ""),
		ConsoleEnabled:     r.bool("CONSOLE_ENABLED", true),
		LogFormat:          strings.ToLower(r.str("LOG_FORMAT", logFormatAuto)),
		ShutdownTimeout:    r.duration("SHUTDOWN_TIMEOUT", 30*time.Second, time.Second),
		ReadHeaderTimeout:  r.duration("HTTP_READ_HEADER_TIMEOUT", 10*time.Second, 10*time.Millisecond),
		ReadTimeout:        r.duration("HTTP_READ_TIMEOUT", 30*time.Second, time.Second),
		WriteTimeoutHTTP:   r.duration("HTTP_WRITE_TIMEOUT", 60*time.Second, time.Second),
		IdleTimeout:        r.duration("HTTP_IDLE_TIMEOUT", 120*time.Second, time.Second),
	}
	// 0 means "unlimited" (or "off") to operators; the handler spells that as a negative rate.
	for _, f := range []*float64{&c.RateLimitPerMinute, &c.EventsPerMinute, &c.AuthFailuresPerMin} {
		if *f == 0 {
			*f = -1
		}
	}
	if c.EventsPerMinute > 0 && c.EventsBurst < c.MaxBatchSize {
		r.errs = append(r.errs, fmt.Errorf(
			"RATE_LIMIT_EVENTS_BURST (%d) must be at least MAX_BATCH_SIZE (%d), or a full batch could never pass",
			c.EventsBurst, c.MaxBatchSize))
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		r.errs = append(r.errs, errors.New("REDIS_URL must be a redis:// or rediss:// URL"))
	}
	switch lvl := strings.ToLower(r.str("LOG_LEVEL", "info")); lvl {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		r.errs = append(r.errs, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", lvl))
	}
	switch c.LogFormat {
	case logFormatAuto, logFormatJSON, logFormatText:
	default:
		r.errs = append(r.errs, fmt.Errorf("LOG_FORMAT must be auto, json or text, got %q", c.LogFormat))
	}
	c.DatabaseURL = databaseURL(r)
	c.Buffer = loadBufferConfig(r)
	return c, errors.Join(r.errs...)
}

// databaseURL returns DATABASE_URL, or a URL built from the seed's DB_* variables when DB_HOST is set, or ""
// (the embedded SQLite store).
func databaseURL(r *envReader) string {
	if u := r.str("DATABASE_URL", ""); u != "" {
		if _, err := url.Parse(u); err != nil || (!strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://")) {
			r.errs = append(r.errs, errors.New("DATABASE_URL must be a postgres:// or postgresql:// URL"))
			return ""
		}
		return u
	}
	host := r.str("DB_HOST", "")
	if host == "" {
		return ""
	}
	port := r.int("DB_PORT", 5432, 1, 65535)
	u := url.URL{
		Scheme: "postgres",
		Host:   fmt.Sprintf("%s:%d", host, port),
		Path:   "/" + r.str("DB_NAME", "analytics_logs"),
	}
	user, pass := r.str("DB_USER", "postgres"), r.getenv("DB_PASSWORD")
	if pass != "" {
		u.User = url.UserPassword(user, pass)
	} else {
		u.User = url.User(user)
	}
	q := url.Values{}
	q.Set("sslmode", r.str("DB_SSL_MODE", "disable"))
	switch m := q.Get("sslmode"); m {
	case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		r.errs = append(r.errs, fmt.Errorf("DB_SSL_MODE must be one of disable, allow, prefer, require, verify-ca, verify-full, got %q", m))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// redactURL hides the password of a database URL for logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable url)"
	}
	return u.Redacted()
}
