// Command loadgen sends realistic app events to a logserver to size deployments: it reports acknowledged
// events per second, request latency quantiles and every kind of failure. Run loadgen -h for the flags.
//
// It only loads servers on this machine (127.0.0.0/8, ::1, localhost) unless -allow-remote is given; every run
// is bounded by -events and -duration.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a bad command line; it exits with status 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	_, _ = fmt.Fprintln(stderr, "loadgen:", err)
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

const usageHead = `Usage: loadgen [flags]

loadgen sends habit-tracker events to a logserver's ingest API from concurrent clients and reports
acknowledged events/s, requests/s, request latency (p50/p90/p99/max) and answers by status. With -batch 1 it
uses POST /api/v1/ingest, otherwise POST /api/v1/batch-ingest. Every event gets a fresh event_id
"<run-id>-<n>"; -dup-fraction re-sends earlier events to exercise idempotency. 429 and 503 answers are
retried after their Retry-After (at most -retry-max-wait, at most -retries times).

By default the load looks like the app's traffic: timestamps up to -recent-spread before sending, with a
tail (-offline-fraction) of buffered offline events between -offline-min-age and -offline-max-age old
(log-uniform), and -users users with 3 sessions each. -timestamps now reproduces the old load: every event
carries the current time and the templates' own users.

The run stops when -events have been sent or -duration has passed, whichever comes first.

Safety: loadgen refuses any target that is not a loopback address (127.0.0.0/8, ::1, localhost), and its
connections can only reach loopback addresses. -allow-remote lifts this; it is for servers you own and are
allowed to load. In this workplace it is never passed.

loadgen fleet [flags] simulates a fleet of app installs coming online at once with buffered offline events
while live single events keep coming, and checks that every event is stored exactly once (loadgen fleet -h).

loadgen noop-server [-addr 127.0.0.1:0] serves the ingest endpoints with a no-op net/http server that reads
and decodes each JSON body and stores nothing: the baseline make bench quotes single events against.

The exit status is 0 when at least one event was acknowledged, 1 otherwise (or when the key was refused),
2 for a bad command line.

Flags:
`

// options are the parsed flags.
type options struct {
	url          string
	key          string
	clients      int
	batch        int
	events       int64
	duration     time.Duration
	gzip         bool
	dupFraction  float64
	sourceFile   string
	timeout      time.Duration
	retries      int
	retryMaxWait time.Duration
	jsonOut      bool
	seed         uint64
	allowRemote  bool

	timestamps      string
	recentSpread    time.Duration
	offlineFraction float64
	offlineMinAge   time.Duration
	offlineMaxAge   time.Duration
	users           int
}

// parseFlags reads args; getenv supplies LOADGEN_API_KEY. It returns flag.ErrHelp for -h.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = io.WriteString(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "base `URL` of the logserver; must be a loopback address unless -allow-remote")
	fs.StringVar(&o.key, "key", "", "API `key` sent as X-API-Key (default $LOADGEN_API_KEY)")
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients, each with one request in flight (1-10000)")
	fs.IntVar(&o.batch, "batch", 50, "events per request (1-10000); 1 uses /api/v1/ingest, more /api/v1/batch-ingest")
	fs.Int64Var(&o.events, "events", 100000, "total events to send (at least 1)")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "longest time to send for; requests in flight then may finish")
	fs.BoolVar(&o.gzip, "gzip", false, "gzip request bodies (Content-Encoding: gzip)")
	fs.Float64Var(&o.dupFraction, "dup-fraction", 0, "fraction `f` of events, 0 <= f < 1, that re-send an event already sent")
	fs.StringVar(&o.sourceFile, "source-file", "",
		"`file` of template events: ndjson, a JSON array or {\"logs\":[...]} (default: built-in app events)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of each HTTP request")
	fs.IntVar(&o.retries, "retries", 3, "times a request answered 429 or 503 is sent again")
	fs.DurationVar(&o.retryMaxWait, "retry-max-wait", 2*time.Second, "longest Retry-After honoured before a retry")
	fs.BoolVar(&o.jsonOut, "json", false,
		"print the result as one JSON object (events_per_sec, requests_per_sec, p50_ms, p99_ms, errors, ...)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed choosing templates and duplicates (default: random; the result shows the seed used)")
	fs.StringVar(&o.timestamps, "timestamps", "realistic",
		"`mix` of timestamps and users: realistic (the app's traffic, see above) or now (every event the current time, the templates' users)")
	fs.DurationVar(&o.recentSpread, "recent-spread", realisticShape.recentSpread,
		"a live event's timestamp is up to this much before sending (realistic)")
	fs.Float64Var(&o.offlineFraction, "offline-fraction", realisticShape.offlineFraction,
		"fraction `f` of events, 0 <= f <= 1, that are offline events hours to days old (realistic)")
	fs.DurationVar(&o.offlineMinAge, "offline-min-age", realisticShape.offlineMinAge, "youngest offline event (realistic)")
	fs.DurationVar(&o.offlineMaxAge, "offline-max-age", realisticShape.offlineMaxAge, "oldest offline event (realistic)")
	fs.IntVar(&o.users, "users", realisticShape.users, "users sending, 3 sessions each (realistic; 0 keeps the templates' users)")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a non-loopback target (never used in this workplace)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if o.key == "" {
		o.key = getenv("LOADGEN_API_KEY") // not the flag's default: -h would print the secret
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	}
	if err := o.validate(); err != nil {
		return nil, usageError{err}
	}
	return o, nil
}

func (o *options) validate() error {
	switch {
	case o.key == "":
		return errors.New("missing API key: pass -key or set LOADGEN_API_KEY")
	case o.clients < 1 || o.clients > 10000:
		return fmt.Errorf("-clients must be between 1 and 10000, got %d", o.clients)
	case o.batch < 1 || o.batch > 10000:
		return fmt.Errorf("-batch must be between 1 and 10000, got %d", o.batch)
	case o.events < 1:
		return fmt.Errorf("-events must be at least 1, got %d", o.events)
	case o.duration <= 0:
		return fmt.Errorf("-duration must be positive, got %s", o.duration)
	case !(o.dupFraction >= 0 && o.dupFraction < 1):
		return fmt.Errorf("-dup-fraction must be at least 0 and below 1, got %v", o.dupFraction)
	case o.timeout <= 0:
		return fmt.Errorf("-timeout must be positive, got %s", o.timeout)
	case o.retries < 0:
		return fmt.Errorf("-retries must not be negative, got %d", o.retries)
	case o.retryMaxWait < 0:
		return fmt.Errorf("-retry-max-wait must not be negative, got %s", o.retryMaxWait)
	case o.timestamps != "realistic" && o.timestamps != "now":
		return fmt.Errorf("-timestamps must be realistic or now, got %q", o.timestamps)
	case o.recentSpread < 0:
		return fmt.Errorf("-recent-spread must not be negative, got %s", o.recentSpread)
	case !(o.offlineFraction >= 0 && o.offlineFraction <= 1):
		return fmt.Errorf("-offline-fraction must be between 0 and 1, got %v", o.offlineFraction)
	case o.offlineMinAge <= 0 || o.offlineMaxAge < o.offlineMinAge:
		return fmt.Errorf("-offline-min-age must be positive and at most -offline-max-age, got %s and %s", o.offlineMinAge, o.offlineMaxAge)
	case o.users < 0 || o.users > 1<<30:
		return fmt.Errorf("-users must be between 0 and %d, got %d", 1<<30, o.users)
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "fleet" {
		return runFleet(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "noop-server" {
		// The baseline of make bench: loadgen noop-server [-addr 127.0.0.1:0].
		fs := flag.NewFlagSet("loadgen noop-server", flag.ContinueOnError)
		fs.SetOutput(stderr)
		addr := fs.String("addr", "127.0.0.1:0", "loopback `host:port` to listen on")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{err}
		}
		return runNoop(ctx, *addr, stdout)
	}
	o, err := parseFlags(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg, err := o.genConfig()
	if err != nil {
		return err
	}
	res := newGenerator(cfg).run(ctx)
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		err = enc.Encode(res)
	} else {
		err = res.writeText(stdout)
	}
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	switch {
	case res.StopReason == stopUnauthorized:
		return fmt.Errorf("%w: check -key", errUnauthorized)
	case res.EventsAcked == 0:
		return errors.New("no event was acknowledged")
	}
	return nil
}

// genConfig turns the options into a generator configuration: target checked, templates loaded, run ID and
// seed chosen.
func (o *options) genConfig() (genConfig, error) {
	target, err := parseTarget(o.url, o.allowRemote)
	if err != nil {
		return genConfig{}, usageError{err}
	}
	src := defaultTemplates
	if o.sourceFile != "" {
		if src, err = os.ReadFile(o.sourceFile); err != nil {
			return genConfig{}, fmt.Errorf("-source-file: %w", err)
		}
	}
	tpls, err := parseTemplates(bytes.NewReader(src))
	if err != nil {
		return genConfig{}, fmt.Errorf("-source-file %s: %w", o.sourceFile, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails
	seed := o.seed
	if seed == 0 {
		seed = uint64(rnd[0])<<56 | uint64(rnd[1])<<48 | uint64(rnd[2])<<40 | uint64(rnd[3])<<32 |
			uint64(rnd[4])<<24 | uint64(rnd[5])<<16 | uint64(rnd[6])<<8 | uint64(rnd[7])
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	var sh shape // -timestamps now
	if o.timestamps == "realistic" {
		sh = shape{
			recentSpread: o.recentSpread, offlineFraction: o.offlineFraction,
			offlineMinAge: o.offlineMinAge, offlineMaxAge: o.offlineMaxAge,
			users: o.users, sessionsPerUser: realisticShape.sessionsPerUser,
		}
	}
	return genConfig{
		shape:        sh,
		target:       target,
		key:          o.key,
		clients:      o.clients,
		batch:        o.batch,
		events:       o.events,
		duration:     o.duration,
		gzip:         o.gzip,
		dupFraction:  o.dupFraction,
		timeout:      o.timeout,
		retries:      o.retries,
		retryMaxWait: o.retryMaxWait,
		seed:         seed,
		runID:        "lg" + hex.EncodeToString(id[:]),
		templates:    tpls,
		client:       newHTTPClient(o.clients, o.allowRemote),
	}, nil
}
