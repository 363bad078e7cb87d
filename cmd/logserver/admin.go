package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the migrator
	"github.com/prometheus/client_golang/prometheus"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/pgstore"
	"github.com/change66/logserver/logingest/store/sqlite"
	"github.com/change66/logserver/migrations"
)

// setupAuth builds the authenticator: keys from API_KEYS (ingest+read in the default source) and keys stored in
// the database. When API_KEYS is unset and the database holds no key, it creates one and prints it once. The
// KeyStoreAuthenticator is returned too (nil without a KeyStore): its Run flushes key usage.
func setupAuth(
	ctx context.Context, cfg config, store backend, logger *slog.Logger, reg prometheus.Registerer, stdout io.Writer, baseURL string,
) (logingest.Authenticator, *logingest.KeyStoreAuthenticator, error) {
	var auths []logingest.Authenticator
	if len(cfg.APIKeys) > 0 {
		auths = append(auths, logingest.NewStaticKeys(cfg.APIKeys, logingest.ScopeIngest|logingest.ScopeRead, logingest.DefaultSource))
		logger.Warn("keys from API_KEYS can ingest and read every event of the default source; "+
			"prefer stored keys with scopes (logserver keys create)",
			slog.Int("keys", len(cfg.APIKeys)))
	}
	ks, ok := store.(logingest.KeyStore)
	var ka *logingest.KeyStoreAuthenticator
	if ok {
		var err error
		ka, err = logingest.NewKeyStoreAuthenticator(ks, &logingest.KeyAuthConfig{Logger: logger, Registerer: reg})
		if err != nil {
			return nil, nil, err
		}
		auths = append(auths, ka)
	}
	if ok && len(cfg.APIKeys) == 0 {
		keys, err := ks.ListAPIKeys(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list api keys: %w", err)
		}
		if len(keys) == 0 {
			secret, key, err := logingest.GenerateAPIKey("first-start", logingest.DefaultSource,
				logingest.ScopeIngest|logingest.ScopeRead, time.Now())
			if err != nil {
				return nil, nil, err
			}
			if err := ks.CreateAPIKey(ctx, key); err != nil {
				return nil, nil, fmt.Errorf("store first api key: %w", err)
			}
			fmt.Fprintf(stdout, `
Created an API key with scopes ingest,read (only its hash is stored; it is shown this once):

    %s

Try it:
    curl -i -X POST %s/api/v1/ingest -H 'X-API-Key: %s' -H 'Content-Type: application/json' --data @testdata/single.json
    curl -s '%s/api/v1/logs/filter?page_size=5' -H 'X-API-Key: %s'
%s
`, secret, baseURL, secret, baseURL, secret, consoleHint(cfg, baseURL))
			logger.Info("created first api key", slog.String("key_id", key.ID))
		}
	}
	if len(auths) == 0 {
		return nil, nil, errors.New("no API keys: set API_KEYS (the store cannot keep keys)")
	}
	return logingest.FirstOf(auths...), ka, nil
}

// openMigrator returns the migrator of the configured database, without touching its schema, and the function
// that releases it. Each store builds its own connection settings.
func openMigrator(ctx context.Context, cfg config, logger *slog.Logger) (*migrations.Migrator, func() error, error) {
	mc := &migrations.Config{Logger: logger}
	if cfg.DatabaseURL != "" {
		db, err := sql.Open("pgx", cfg.DatabaseURL)
		if err != nil {
			return nil, nil, fmt.Errorf("open PostgreSQL at %s: %w", redactURL(cfg.DatabaseURL), err)
		}
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close()
			return nil, nil, fmt.Errorf("connect to database: %w", err)
		}
		m, err := pgstore.NewMigrator(db, mc)
		if err != nil {
			_ = db.Close()
			return nil, nil, err
		}
		return m, db.Close, nil
	}
	path := filepath.Join(cfg.DataDir, "logingest.db")
	m, release, err := sqlite.NewMigrator(path, mc)
	if err != nil {
		return nil, nil, fmt.Errorf("open SQLite database %s: %w", path, err)
	}
	return m, release, nil
}

// migrateCmd runs "logserver migrate up|down|status".
func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: logserver migrate up|down|status [-target N] [-steps N] [-dry-run]")
	}
	dir := args[0]
	fs := flag.NewFlagSet("migrate "+dir, flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.Int("target", 0, "migrate to this version (down: -1 removes every migration)")
	steps := fs.Int("steps", 0, "apply at most this many migrations")
	dryRun := fs.Bool("dry-run", false, "print what would run without applying it")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	logger := newLogger(cfg, stderr)
	m, release, err := openMigrator(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() { _ = release() }()
	switch dir {
	case "up", "down":
		res, err := m.Migrate(ctx, migrations.Direction(dir), &migrations.MigrateOpts{TargetVersion: *target, MaxSteps: *steps, DryRun: *dryRun})
		if err != nil {
			return err
		}
		verb := "applied"
		if *dryRun {
			verb = "would apply"
		}
		if len(res.Versions) == 0 {
			fmt.Fprintf(stdout, "nothing to migrate %s\n", dir)
		}
		for _, v := range res.Versions {
			fmt.Fprintf(stdout, "%s %s %03d_%s (%s)\n", verb, dir, v.Version, v.Name, v.Duration.Round(time.Millisecond))
		}
		return nil
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED AT")
		for _, s := range st {
			at := "pending"
			if s.Applied {
				at = s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%03d\t%s\t%s\n", s.Version, s.Name, at)
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown migrate command %q (want up, down or status)", dir)
}

const keysUsage = `usage: logserver keys create -name NAME [-scopes ingest,read] [-source S] [-expires 720h]
                     [-requests-per-minute N] [-events-per-minute N]
       logserver keys list
       logserver keys revoke ID
       logserver keys rotate ID [-grace 24h]`

// keysCmd runs "logserver keys create|list|revoke|rotate".
func keysCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "a label for the key")
	scopes := fs.String("scopes", "ingest", "comma-separated scopes: ingest, read, admin")
	source := fs.String("source", logingest.DefaultSource, "the source (app and environment) the key writes to and reads")
	expires := fs.Duration("expires", 0, "lifetime of the key, e.g. 720h (0: never expires)")
	reqRate := fs.Float64("requests-per-minute", 0, "override RATE_LIMIT_REQUESTS_PER_MINUTE for this key (0: server default, -1: unlimited)")
	evRate := fs.Float64("events-per-minute", 0, "override RATE_LIMIT_EVENTS_PER_MINUTE for this key (0: server default, -1: unlimited)")
	grace := fs.Duration("grace", 24*time.Hour, "rotate: how long the old key keeps working")
	// Flags may come before or after the key ID: "rotate ID -grace 1h" and "rotate -grace 1h ID".
	var ids []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		ids = append(ids, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	store, err := openAdminStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	ks, ok := store.(logingest.KeyStore)
	if !ok {
		return errors.New("this store cannot keep API keys")
	}
	switch sub {
	case "create":
		if *name == "" {
			return errors.New("keys create: -name is required")
		}
		limits := logingest.KeyLimits{RequestsPerMinute: *reqRate, EventsPerMinute: *evRate}
		if err := errors.Join(logingest.ValidateKeyName(*name), logingest.ValidateKeySource(*source), limits.Validate()); err != nil {
			return fmt.Errorf("keys create: %s", flagNames(err))
		}
		sc, err := logingest.ParseScopes(*scopes)
		if err != nil {
			return err
		}
		if sc == 0 {
			return errors.New("keys create: -scopes must name at least one scope")
		}
		secret, key, err := logingest.GenerateAPIKey(*name, *source, sc, time.Now())
		if err != nil {
			return err
		}
		if *expires > 0 {
			key.ExpiresAt = key.CreatedAt.Add(*expires)
		}
		key.Limits = limits
		if err := ks.CreateAPIKey(ctx, key); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "created key %s (%s, source %s, scopes %s); the secret is shown only once:\n%s\n",
			key.ID, termSafe(key.Name), termSafe(key.Source), key.Scopes, secret)
		return secretNotShown(key.ID, err)
	case "list":
		keys, err := ks.ListAPIKeys(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSOURCE\tSCOPES\tCREATED\tEXPIRES\tREVOKED\tLAST USED\tUSES")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n",
				termSafe(k.ID), termSafe(k.Name), termSafe(k.Source), k.Scopes,
				fmtTime(k.CreatedAt), fmtTime(k.ExpiresAt), fmtTime(k.RevokedAt), fmtTime(k.LastUsedAt), k.UseCount)
		}
		return tw.Flush()
	case "revoke":
		if len(ids) != 1 {
			return errors.New("usage: logserver keys revoke ID")
		}
		if err := ks.RevokeAPIKey(ctx, ids[0], time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked key %s; every server refuses it within a second\n", termSafe(ids[0]))
		return nil
	case "rotate":
		if len(ids) != 1 {
			return errors.New("usage: logserver keys rotate ID [-grace 24h]")
		}
		now := time.Now()
		secret, key, err := logingest.RotateAPIKey(ctx, ks, ids[0], *grace, now)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "rotated key %s: it stops working at %s at the latest\n"+
			"created key %s (%s, source %s, scopes %s); the secret is shown only once:\n%s\n",
			termSafe(ids[0]), now.Add(*grace).UTC().Format(time.RFC3339), key.ID, termSafe(key.Name), termSafe(key.Source), key.Scopes, secret)
		return secretNotShown(key.ID, err)
	}
	return fmt.Errorf("unknown keys command %q (want create, list, revoke or rotate)", sub)
}

// secretNotShown turns a failed write of a new key's secret into an error that says the key exists but nobody
// has its secret, and how to get rid of it. It returns nil when err is nil.
func secretNotShown(id string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("key %s was created, but its secret could not be written (%w); "+
		"nobody can use it: revoke it with `logserver keys revoke %s` and create another", id, err, id)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// openAdminStore opens the configured store for an admin command, migrating it when AUTO_MIGRATE is set.
func openAdminStore(ctx context.Context, getenv func(string) string, stderr io.Writer) (backend, error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	store, _, err := openStore(ctx, cfg, newLogger(cfg, stderr), cfg.AutoMigrate)
	return store, err
}

// eraseUserCmd runs "logserver erase-user -user-id ID [-source S]".
func eraseUserCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("erase-user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	userID := fs.String("user-id", "", "the user whose events are deleted")
	source := fs.String("source", "", "restrict to one source (default: every source)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *userID == "" {
		return errors.New("erase-user: -user-id is required")
	}
	store, err := openAdminStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	eraser, ok := store.(logingest.UserEraser)
	if !ok {
		return errors.New("this store cannot erase users")
	}
	n, err := eraser.DeleteUserEvents(ctx, *source, *userID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %d events of user %s\n", n, termSafe(*userID))
	return nil
}
