// Command logserver runs the logingest HTTP server, and its admin commands (migrate, keys, erase-user).
//
// With no configuration it listens on :8080 and stores events in an embedded SQLite database under ./data.
// Set DATABASE_URL (or DB_HOST and friends) to use PostgreSQL. See config.example.env for every variable.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(code())
}

// code runs logserver with the process's arguments, environment and signals, and returns its exit code. It is
// separate from main so that its deferred calls run before os.Exit.
func code() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	getenv, err := envWithDotenv(os.LookupEnv, ".env")
	if err == nil {
		err = run(ctx, os.Args[1:], getenv, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "logserver:", err)
		return 1
	}
	return 0
}

// run dispatches to the subcommand named by args[0] (serve when absent). It returns when ctx ends (serve)
// or the command finishes.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args, getenv, stdout, stderr)
	case "keys":
		return keysCmd(ctx, args, getenv, stdout, stderr)
	case "erase-user":
		return eraseUserCmd(ctx, args, getenv, stdout, stderr)
	case "consume":
		return consume(ctx, args, getenv, stdout, stderr)
	case "deadletters":
		return deadLettersCmd(ctx, args, getenv, stdout, stderr)
	case "version":
		_, err := fmt.Fprintln(stdout, version)
		return err
	case "help", "-h", "--help":
		_, err := fmt.Fprint(stdout, usage)
		return err
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

const usage = `usage: logserver [command]

commands:
  serve                       run the HTTP server (default)
  migrate up|down|status      apply, roll back one, or list schema migrations
  keys create|list|revoke|rotate  manage API keys stored in the database
  erase-user -user-id ID      delete every event of one user (right to erasure)
  consume                     move events from the ingest buffer (INGEST_BUFFER) to the store
  deadletters list [-after SEQ] [-limit N]  list events the store refused, from the buffer's dead-letter stream
  version                     print the version

Configuration comes from environment variables and ./.env (see config.example.env).
`
