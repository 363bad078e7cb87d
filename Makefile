# Makefile for logingest / logserver. `make` (or `make help`) lists the targets.
# CI runs `bash .ci/run`, which calls `make lint` and `make test`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO ?= go
# Go 1.27.3: the standard library's HTTP server advisories for Go 1.26.8 (GO-2026-6603, -6611, -6612, -6613,
# -6617) reach logserver's http.Server; `make vulncheck` proves it. The go command downloads this toolchain
# through the module proxy on first use. Override with GOTOOLCHAIN=... if you must.
export GOTOOLCHAIN ?= go1.27.3
BIN := $(CURDIR)/bin

# Pinned tools, installed into ./bin by `make dev-setup` (or on demand by `make lint`).
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint
# govulncheck, installed into ./bin on demand by `make vulncheck`, reads an offline database built from the
# golang.org/x/vulndb module (served by the Go module proxy) at VULNDB_VERSION; latest means today's advisories.
GOVULNCHECK_VERSION := v1.9.0
GOVULNCHECK := $(BIN)/govulncheck
VULNDB_VERSION ?= latest
VULNDB_DIR ?= $(shell $(GO) env GOCACHE)/logingest-vulndb

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS_PROD := -s -w -X main.version=$(VERSION)

# go test runs against the PostgreSQL at TEST_DATABASE_URL or a throwaway cluster (see the script).
WITH_POSTGRES := ./scripts/with-postgres.sh
# -timeout bounds a hung package; cmd/logserver (browser, Prometheus and hostile-input suites) takes several
# minutes on a quiet machine and over 20 on a loaded one, within CI's 90.
TEST_FLAGS := -race -count=1 -timeout 40m
# The build tags of the opt-in cgo SQLite driver (github.com/mattn/go-sqlite3; needs CGO_ENABLED=1 and a C compiler).
SQLITE_CGO_TAGS := sqlite_cgo sqlite_fts5
COVERPROFILE := coverage.out

MIGRATIONS_DIRS := migrations/postgres migrations/sqlite

.PHONY: help dev-setup tools run build build-prod test test/race test-console test-import-1m test-coverage lint format \
	verify migrate-up migrate-down migrate-status migrate-create bench bench-big clean fuzz vulncheck

help: ## Show this help
	@echo "Usage: make <target>"
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_\/.-]+:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

dev-setup: tools ## Download modules, install pinned tools into ./bin, create .env from config.example.env
	$(GO) mod download
	@if [ -f .env ]; then \
		echo ".env exists; leaving it alone"; \
	elif [ -f config.example.env ]; then \
		cp config.example.env .env && echo "created .env from config.example.env"; \
	else \
		echo "config.example.env not found; no .env created" >&2; \
	fi

tools: ## Install the pinned tools (golangci-lint, version in GOLANGCI_LINT_VERSION) into ./bin if missing or outdated
	@if "$(GOLANGCI_LINT)" version 2>/dev/null | grep -q "version $(GOLANGCI_LINT_VERSION:v%=%) "; then \
		echo "golangci-lint $(GOLANGCI_LINT_VERSION) already in ./bin"; \
	else \
		echo "installing golangci-lint $(GOLANGCI_LINT_VERSION) into ./bin (takes a few minutes)"; \
		GOBIN="$(BIN)" $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); \
	fi

run: ## Run the server (go run ./cmd/logserver), configured from the environment / .env
	$(GO) run ./cmd/logserver

build: ## Build bin/logserver
	$(GO) build -o bin/logserver ./cmd/logserver

build-prod: ## Build a static, stripped bin/logserver stamped with VERSION (git describe, else "dev")
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS_PROD)" -o bin/logserver ./cmd/logserver

test: ## Run all tests with the race detector (PostgreSQL from TEST_DATABASE_URL or a throwaway cluster), then the SQLite store on the cgo driver
	$(WITH_POSTGRES) $(GO) test ./... $(TEST_FLAGS)
	$(WITH_POSTGRES) env CGO_ENABLED=1 $(GO) test -tags '$(SQLITE_CGO_TAGS)' ./logingest/store/sqlite/ ./cmd/logserver/ $(TEST_FLAGS)

test/race: test ## Same as test: the race detector is always on

test-console: ## Only the web console's browser test (headless Chromium; screenshots in logingest/console/e2e/screenshots)
	npm ci --prefix logingest/console/e2e --ignore-scripts --no-audit --no-fund
	$(WITH_POSTGRES) $(GO) test ./cmd/logserver -run TestConsoleE2E -v $(TEST_FLAGS)

test-import-1m: ## Import a million events from a database with the original server's schema (pgstore, a few minutes)
	LOGINGEST_ORIGINAL_EVENTS=1000000 $(WITH_POSTGRES) $(GO) test ./logingest/store/pgstore/ -run 'TestImportOriginal$$' -count=1 -v -timeout 20m

test-coverage: ## Run all tests with a coverage profile (coverage.out) and print the per-function summary
	$(WITH_POSTGRES) $(GO) test ./... $(TEST_FLAGS) -covermode=atomic -coverprofile=$(COVERPROFILE)
	$(GO) tool cover -func=$(COVERPROFILE)

# Fuzz targets, as package:FuzzName. Their seed corpora (f.Add and testdata/fuzz/) run in every `make test`;
# `make fuzz` explores each for FUZZTIME. Add new targets to this list.
FUZZ_TARGETS := \
	./logingest:FuzzObjectShape \
	./logingest:FuzzValidate \
	./logingest/httpapi:FuzzParseFilter \
	./logingest/httpapi:FuzzDecodeBatch \
	./logingest/httpapi:FuzzDecodeEvent \
	./logingest/httpapi:FuzzReadBody \
	./internal/storequery:FuzzCursorRoundTrip \
	./internal/storequery:FuzzAfter \
	./logingest/store/memstore:FuzzStoreRoundTrip \
	./logingest/store/sqlite:FuzzStoreRoundTrip
FUZZTIME ?= 30s

fuzz: ## Run every fuzz target (FUZZ_TARGETS) for FUZZTIME each (default 30s; CI uses 5s); a failing input lands in testdata/fuzz/
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "==> $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) "$$pkg" || exit 1; \
	done

vulncheck: ## Check for known vulnerabilities (govulncheck) against an offline database built from golang.org/x/vulndb
	@if ! "$(GOVULNCHECK)" -version 2>/dev/null | grep -q "govulncheck@$(GOVULNCHECK_VERSION)$$"; then \
		echo "installing govulncheck $(GOVULNCHECK_VERSION) into $(dir $(GOVULNCHECK))"; \
		GOBIN="$(abspath $(dir $(GOVULNCHECK)))" $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION); \
	fi
	@src=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	if [ -z "$$src" ]; then echo "vulncheck: could not download golang.org/x/vulndb@$(VULNDB_VERSION)" >&2; exit 1; fi; \
	echo "==> vulnerability database from $$src"; \
	$(GO) run ./internal/tools/vulndbindex -vulns "$$src/data/osv" -out "$(VULNDB_DIR)"
	"$(GOVULNCHECK)" -db "file://$(VULNDB_DIR)" ./...

bench: ## Ingest benchmark: COPY ceiling vs logserver over HTTP on PostgreSQL and SQLite, as ratios (scripts/bench.sh)
	$(WITH_POSTGRES) ./scripts/bench.sh

# BIG_BENCH_ROWS sets the row count; BIG_BENCH_KEEP=1 keeps the loaded database for the next run.
BIG_BENCH_ROWS ?= 5000000
BIG_BENCH_COUNT ?= 100x
bench-big: ## Read paths over 5 million events on PostgreSQL: p50/p99 of metrics, dashboard, search, list queries; export rows/s and memory (~30 min)
	LOGINGEST_BIG_BENCH=1 LOGINGEST_BIG_BENCH_ROWS=$(BIG_BENCH_ROWS) LOGINGEST_BIG_BENCH_KEEP=$${BIG_BENCH_KEEP:-} \
		$(WITH_POSTGRES) $(GO) test ./logingest/store/pgstore/ -run '^$$' -bench 'BigConsole' \
		-benchtime $(BIG_BENCH_COUNT) -timeout 120m

lint: tools ## Check formatting (gofmt), run go vet and golangci-lint; runs all three, fails if any fails
	@status=0; \
	echo "==> gofmt -l ."; \
	unformatted=$$(gofmt -l .) || status=1; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt: these files are not formatted (run 'make format'):" >&2; \
		echo "$$unformatted" >&2; \
		status=1; \
	fi; \
	echo "==> go vet ./..."; \
	$(GO) vet ./... || status=1; \
	echo "==> golangci-lint run ./..."; \
	"$(GOLANGCI_LINT)" run ./... || status=1; \
	exit $$status

format: tools ## Format the code (gofmt -w, then golangci-lint fmt: gofumpt and gci)
	gofmt -w .
	$(GOLANGCI_LINT) fmt

verify: ## Check go.mod/go.sum are tidy and the migration files are well-formed
	$(GO) mod tidy -diff
	$(WITH_POSTGRES) $(GO) test ./migrations/...

migrate-up: ## Apply all pending migrations (go run ./cmd/logserver migrate up)
	$(GO) run ./cmd/logserver migrate up

migrate-down: ## Revert the last migration (go run ./cmd/logserver migrate down)
	$(GO) run ./cmd/logserver migrate down

migrate-status: ## Show applied and pending migrations (go run ./cmd/logserver migrate status)
	$(GO) run ./cmd/logserver migrate status

migrate-create: ## Create empty NNN_<name>.up/.down.sql pairs for PostgreSQL and SQLite: make migrate-create name=foo
	@if [ -z "$(name)" ]; then \
		echo "usage: make migrate-create name=snake_case_name" >&2; exit 1; \
	fi
	@if ! [[ "$(name)" =~ ^[a-z0-9]+(_[a-z0-9]+)*$$ ]]; then \
		echo "migrate-create: name must be snake_case like add_index (see migrations/migrator.go), got '$(name)'" >&2; \
		exit 1; \
	fi
	@for dir in $(MIGRATIONS_DIRS); do \
		last=$$(ls "$$dir" | grep -oE '^[0-9]+' | sort -n | tail -n 1); \
		next=$$(printf '%03d' $$((10#$${last:-0} + 1))); \
		for d in up down; do \
			f="$$dir/$${next}_$(name).$$d.sql"; \
			if [ -e "$$f" ]; then echo "migrate-create: $$f exists" >&2; exit 1; fi; \
			: > "$$f"; \
			echo "created $$f"; \
		done; \
	done

clean: ## Remove build and test artifacts (bin/logserver, coverage.out); keeps the tools in ./bin
	rm -f bin/logserver $(COVERPROFILE)
	$(GO) clean -testcache
