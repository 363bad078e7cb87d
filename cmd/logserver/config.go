package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/change66/logserver/logingest"
)

// config is the server's configuration, read from the environment (and .env). Every variable is listed in
// config.example.env and in the README's configuration table.
type config struct {
	Port    int    // PORT
	Host    string // HOST
	DataDir string // DATA_DIR
	// SQLiteSynchronous is SQLITE_SYNCHRONOUS: FULL (default; acknowledged events survive power loss) or NORMAL
	// (faster; they survive a crash of the process only).
	SQLiteSynchronous string

	DatabaseURL string // DATABASE_URL, or built from DB_HOST/DB_PORT/DB_NAME/DB_USER/DB_PASSWORD/DB_SSL_MODE
	DBMaxConns  int    // DB_MAX_CONNECTIONS
	// DBMinConns is DB_MAX_IDLE_CONNECTIONS: connections the pool keeps open when idle (0: pgxpool's default).
	DBMinConns int
	// DBMaxConnLifetime is DB_MAX_LIFETIME_MINUTES (0: pgxpool's default of one hour).
	DBMaxConnLifetime time.Duration
	AutoMigrate       bool // AUTO_MIGRATE
	Retention         int  // RETENTION_DAYS (0 keeps events forever)

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
	MaxInflightPerIPMB int      // MAX_INFLIGHT_BODIES_PER_CLIENT_MB (0: a quarter of the budget)
	MaxEventSizeKB     int      // MAX_EVENT_SIZE_KB
	MaxConnections     int      // MAX_CONNECTIONS (0: no cap)
	MetricsAddr        string   // METRICS_ADDR ("": /metrics on the API port, no pprof)
	WorkerPoolSize     int      // WORKER_POOL_SIZE
	FlushDelay         time.Duration
	QueueMaxEvents     int
	QueueMaxWait       time.Duration // INGEST_QUEUE_MAX_WAIT (0: off)
	AdmissionWait      time.Duration // INGEST_ADMISSION_WAIT (0: off)
	WriteTimeout       time.Duration
	CORSOrigins        []string // CORS_ALLOWED_ORIGINS and ALLOWED_ORIGINS, empty when ENABLE_CORS=false
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
	MinBodyRateKB     int           // HTTP_MIN_BODY_RATE_KB (0 disables the slow-body check)
	BodyGrace         time.Duration // HTTP_BODY_GRACE

	EnableMetrics bool   // ENABLE_METRICS: serve the Prometheus exposition
	MetricsPath   string // METRICS_PATH: also serves GET /metrics
	HealthPath    string // HEALTH_CHECK_PATH: also serves GET /health

	// Notices are start-up log lines about the original server's variables: the ones set but ignored, with the
	// reason, and how others were read. serve logs each once.
	Notices []notice
}

// notice is one start-up log line about a configuration variable.
type notice struct {
	Variable string
	Message  string
	Reason   string
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
	if err != nil || f < lo || math.IsNaN(f) || math.IsInf(f, 0) {
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

func (r *envReader) bool(name string, def bool) bool { //nolint:unparam // each call states its default, true or not
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
		MaxInflightPerIPMB: r.int("MAX_INFLIGHT_BODIES_PER_CLIENT_MB", 0, 0, 1<<20),
		MaxEventSizeKB:     r.int("MAX_EVENT_SIZE_KB", 1024, 1, 1<<20),
		MaxConnections:     r.int("MAX_CONNECTIONS", 1024, 0, 1_000_000),
		MetricsAddr:        r.str("METRICS_ADDR", ""),
		WorkerPoolSize:     r.int("WORKER_POOL_SIZE", 0, 1, 1000), // 0: the library's default
		FlushDelay:         r.duration("INGEST_FLUSH_DELAY", 0, 0),
		QueueMaxEvents:     r.int("INGEST_QUEUE_MAX_EVENTS", 50000, 1, 10_000_000),
		WriteTimeout:       r.duration("INGEST_WRITE_TIMEOUT", 10*time.Second, time.Millisecond),
		QueueMaxWait:       r.duration("INGEST_QUEUE_MAX_WAIT", 400*time.Millisecond, 0),
		AdmissionWait:      r.duration("INGEST_ADMISSION_WAIT", 150*time.Millisecond, 0),
		TrustedProxyHeader: r.str("TRUSTED_PROXY_HEADER", ""),
		ConsoleEnabled:     r.bool("CONSOLE_ENABLED", true),
		LogFormat:          strings.ToLower(r.str("LOG_FORMAT", logFormatAuto)),
		ShutdownTimeout:    r.duration("SHUTDOWN_TIMEOUT", 30*time.Second, time.Second),
		ReadHeaderTimeout:  r.duration("HTTP_READ_HEADER_TIMEOUT", 10*time.Second, 10*time.Millisecond),
		ReadTimeout:        r.duration("HTTP_READ_TIMEOUT", 30*time.Second, time.Second),
		WriteTimeoutHTTP:   r.duration("HTTP_WRITE_TIMEOUT", 60*time.Second, time.Second),
		IdleTimeout:        r.duration("HTTP_IDLE_TIMEOUT", 120*time.Second, time.Second),
		MinBodyRateKB:      r.int("HTTP_MIN_BODY_RATE_KB", 16, 0, 1<<20),
		BodyGrace:          r.duration("HTTP_BODY_GRACE", 5*time.Second, 0),
	}
	c.SQLiteSynchronous = strings.ToUpper(r.str("SQLITE_SYNCHRONOUS", "FULL"))
	switch c.SQLiteSynchronous {
	case "FULL", "NORMAL", "EXTRA":
	default:
		r.errs = append(r.errs, fmt.Errorf("SQLITE_SYNCHRONOUS must be FULL, EXTRA or NORMAL, got %q", c.SQLiteSynchronous))
	}
	c.DBMinConns = min(r.int("DB_MAX_IDLE_CONNECTIONS", 0, 0, 1000), c.DBMaxConns)
	c.DBMaxConnLifetime = time.Duration(r.int("DB_MAX_LIFETIME_MINUTES", 0, 0, 100_000)) * time.Minute
	c.EnableMetrics = r.bool("ENABLE_METRICS", true)
	c.MetricsPath = opsPath(r, "METRICS_PATH", "/metrics")
	c.HealthPath = opsPath(r, "HEALTH_CHECK_PATH", "/health")
	c.CORSOrigins = corsOrigins(r, &c)
	// REQUEST_TIMEOUT_SECONDS (the original's name) is the default of both HTTP_READ_TIMEOUT and
	// HTTP_WRITE_TIMEOUT; each of those, when set, wins.
	if rt := r.int("REQUEST_TIMEOUT_SECONDS", 0, 0, 86_400); rt > 0 {
		d := time.Duration(rt) * time.Second
		if strings.TrimSpace(getenv("HTTP_READ_TIMEOUT")) == "" {
			c.ReadTimeout = d
		}
		if strings.TrimSpace(getenv("HTTP_WRITE_TIMEOUT")) == "" {
			c.WriteTimeoutHTTP = d
		}
	}
	c.Notices = append(c.Notices, ignoredVariables(getenv)...)
	// 0 means "unlimited" (or "off") to operators; the handler spells that as a negative rate.
	for _, f := range []*float64{&c.RateLimitPerMinute, &c.EventsPerMinute, &c.AuthFailuresPerMin} {
		if *f == 0 {
			*f = -1
		}
	}
	// Rates and bursts the limiters can represent (see logingest.KeyLimits.Validate for the reasons).
	for _, l := range []struct {
		rateName, burstName string
		rate                float64
		burst               int
	}{
		{"RATE_LIMIT_REQUESTS_PER_MINUTE", "RATE_LIMIT_BURST", c.RateLimitPerMinute, c.RateLimitBurst},
		{"RATE_LIMIT_EVENTS_PER_MINUTE", "RATE_LIMIT_EVENTS_BURST", c.EventsPerMinute, c.EventsBurst},
		{"AUTH_FAILURES_PER_MINUTE", "", c.AuthFailuresPerMin, 0},
	} {
		switch {
		case l.rate <= 0: // unlimited
		case l.rate < logingest.MinKeyRatePerMinute || l.rate > logingest.MaxKeyRatePerMinute:
			r.errs = append(r.errs, fmt.Errorf("%s must be 0 (unlimited) or between %g and %g, got %g",
				l.rateName, logingest.MinKeyRatePerMinute, float64(logingest.MaxKeyRatePerMinute), l.rate))
		case float64(l.burst)/l.rate > logingest.MaxBucketMinutes:
			r.errs = append(r.errs, fmt.Errorf("%s / %s must be at most %d minutes (an empty bucket refills within 285 years), got %g",
				l.burstName, l.rateName, logingest.MaxBucketMinutes, float64(l.burst)/l.rate))
		}
	}
	if c.EventsPerMinute > 0 && c.EventsBurst < c.MaxBatchSize {
		r.errs = append(r.errs, fmt.Errorf(
			"RATE_LIMIT_EVENTS_BURST (%d) must be at least MAX_BATCH_SIZE (%d), or a full batch could never pass",
			c.EventsBurst, c.MaxBatchSize))
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			r.errs = append(r.errs, fmt.Errorf("METRICS_ADDR must be host:port or :port, got %q", c.MetricsAddr))
		}
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

// corsOrigins merges CORS_ALLOWED_ORIGINS with the original server's ALLOWED_ORIGINS; the original's
// ENABLE_CORS=false turns CORS off whatever the lists say. "*" allows every origin (the answer never allows
// credentials, so "*" is safe to send).
func corsOrigins(r *envReader, c *config) []string {
	origins := r.list("CORS_ALLOWED_ORIGINS")
	for _, o := range r.list("ALLOWED_ORIGINS") {
		if !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	enabled := r.bool("ENABLE_CORS", true)
	switch {
	case !enabled && len(origins) > 0:
		c.Notices = append(c.Notices, notice{
			Variable: "ALLOWED_ORIGINS", Message: "CORS is off",
			Reason: "ENABLE_CORS=false turns CORS off; CORS_ALLOWED_ORIGINS and ALLOWED_ORIGINS are not used",
		})
		return nil
	case enabled && strings.TrimSpace(r.getenv("ENABLE_CORS")) != "" && len(origins) == 0:
		c.Notices = append(c.Notices, notice{
			Variable: "ENABLE_CORS", Message: "CORS is off",
			Reason: "ENABLE_CORS=true needs ALLOWED_ORIGINS (or CORS_ALLOWED_ORIGINS): the origins to allow, or *",
		})
	}
	return origins
}

// ignoredVariables reports the original server's variables that logingest does not use, when they are set.
func ignoredVariables(getenv func(string) string) []notice {
	reasons := []struct{ name, reason string }{
		{"GIN_MODE", "logingest does not use gin; LOG_LEVEL and LOG_FORMAT control logging"},
		{"ENVIRONMENT", "no behaviour depends on an environment name; every setting has its own variable"},
		{"BATCH_TIMEOUT_SECONDS", "a batch is written in one store write bounded by INGEST_WRITE_TIMEOUT (default 10s), " +
			"shorter than the app's 10-15 s client timeouts; a longer bound would only outlast the client"},
		{"API_KEY_ROTATION_INTERVAL_HOURS", apiKeyRotationReason},
	}
	var out []notice
	if v := strings.TrimSpace(getenv("ENABLE_API_KEY_ROTATION")); v != "" {
		if b, err := strconv.ParseBool(v); err != nil || b {
			out = append(out, notice{
				Variable: "ENABLE_API_KEY_ROTATION", Message: "configuration variable ignored", Reason: apiKeyRotationReason,
			})
		}
	}
	for _, v := range reasons {
		if strings.TrimSpace(getenv(v.name)) != "" {
			out = append(out, notice{Variable: v.name, Message: "configuration variable ignored", Reason: v.reason})
		}
	}
	return out
}

// apiKeyRotationReason is why keys are never rotated on a timer: app builds hold their key for months.
const apiKeyRotationReason = "keys are never rotated on a timer: every installed app build holds its key for months and " +
	"would be locked out; rotate explicitly with `logserver keys rotate ID -grace 2160h` (or POST /api/v1/keys/{id}/rotate), " +
	"which issues a new key and keeps the old one valid for the grace period, set to cover the time old builds stay in use"

// opsPath reads the path of an operational endpoint: absolute, clean, outside /api/ (which the API owns).
func opsPath(r *envReader, name, def string) string {
	p := r.str(name, def)
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "/" || strings.HasPrefix(p, "/api/") || strings.ContainsAny(p, " ?#%{}") {
		r.errs = append(r.errs, fmt.Errorf("%s must be a clean absolute path outside /api/, such as %s, got %q", name, def, p))
		return def
	}
	return p
}
