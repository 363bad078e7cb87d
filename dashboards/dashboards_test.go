package dashboards_test

import (
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/dashboards"
	"github.com/change66/logserver/internal/dashtest"
	"github.com/change66/logserver/internal/pgtest"
	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/pgstore"
)

var wantDashboards = map[string]struct {
	uid        string
	datasource string
}{
	"analytics-overview.json": {"analytics-overview", dashtest.PostgresType},
	"server-metrics.json":     {"server-metrics", dashtest.PrometheusType},
}

func loadQueries(t *testing.T, name string) []dashtest.Query {
	t.Helper()
	d, err := dashtest.Load(dashboards.FS, name)
	require.NoError(t, err)
	qs, err := dashtest.Queries(d)
	require.NoError(t, err)
	return qs
}

func TestDashboardsAreValid(t *testing.T) {
	t.Parallel()
	files, err := fs.Glob(dashboards.FS, "*.json")
	require.NoError(t, err)
	require.ElementsMatch(t, slices.Collect(maps.Keys(wantDashboards)), files)

	for name, want := range wantDashboards {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, err := dashtest.Load(dashboards.FS, name)
			require.NoError(t, err)
			require.NotNil(t, d.Uid)
			require.Equal(t, want.uid, *d.Uid)
			require.NotEmpty(t, d.Title)
			require.NotEmpty(t, d.Panels)

			ids := map[uint32]bool{}
			titles := map[string]bool{}
			for _, p := range d.Panels {
				require.NotNil(t, p.Panel)
				require.NotNil(t, p.Panel.Id, "panel without id")
				require.False(t, ids[*p.Panel.Id], "duplicate panel id %d", *p.Panel.Id)
				ids[*p.Panel.Id] = true
				require.NotNil(t, p.Panel.Title)
				require.False(t, titles[*p.Panel.Title], "duplicate panel title %q", *p.Panel.Title)
				titles[*p.Panel.Title] = true
				require.NotNil(t, p.Panel.Datasource, "panel %q has no datasource", *p.Panel.Title)
				require.Equal(t, want.datasource, *p.Panel.Datasource.Type, "panel %q", *p.Panel.Title)
				require.NotEmpty(t, p.Panel.Targets, "panel %q has no target", *p.Panel.Title)
				require.NotNil(t, p.Panel.GridPos, "panel %q has no gridPos", *p.Panel.Title)
			}
			qs, err := dashtest.Queries(d)
			require.NoError(t, err)
			require.NotEmpty(t, qs)
		})
	}
}

// TestLoadIsStrict proves the decoding above would catch a mistake: an unknown field in a panel, a misspelt
// target field, or a wrongly typed value each fail.
func TestLoadIsStrict(t *testing.T) {
	t.Parallel()
	raw, err := fs.ReadFile(dashboards.FS, "server-metrics.json")
	require.NoError(t, err)
	for name, mutate := range map[string]func(d map[string]any){
		"unknown panel field": func(d map[string]any) { panel0(d)["colour"] = "red" },
		"misspelt target":     func(d map[string]any) { target0(d)["expresion"] = target0(d)["expr"] },
		"wrong type":          func(d map[string]any) { panel0(d)["gridPos"] = "top left" },
		"unknown top field":   func(d map[string]any) { d["panelz"] = []any{} },
	} {
		var d map[string]any
		require.NoError(t, json.Unmarshal(raw, &d))
		mutate(d)
		bad, err := json.Marshal(d)
		require.NoError(t, err)
		_, err = dashtest.Load(fstest.MapFS{"d.json": {Data: bad}}, "d.json")
		require.Error(t, err, name)
	}
}

func panel0(d map[string]any) map[string]any { return d["panels"].([]any)[0].(map[string]any) }
func target0(d map[string]any) map[string]any {
	return panel0(d)["targets"].([]any)[0].(map[string]any)
}

func TestPromQLParses(t *testing.T) {
	t.Parallel()
	qs := loadQueries(t, "server-metrics.json")
	for _, q := range qs {
		require.NotEmpty(t, q.Expr, q.Name())
		names, err := dashtest.MetricNames(dashtest.ExpandPromQL(q.Expr, "1m"))
		require.NoError(t, err, q.Name())
		require.NotEmpty(t, names, q.Name())
		for _, n := range names {
			require.Regexp(t, `^(logingest_|process_|go_)`, n, q.Name())
		}
	}
	_, err := dashtest.MetricNames("sum(rate(logingest_events_total[1m])") // the parser does reject bad PromQL
	require.Error(t, err)
}

// TestSQLPanelsRunOnPostgreSQL runs every analytics-overview query, with Grafana's macros expanded, against a
// fresh schema migrated to the current version and holding the app's test events. Every panel must return at
// least one row: the test events cover every panel.
func TestSQLPanelsRunOnPostgreSQL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.Schema(t)
	store, err := pgstore.Open(ctx, dsn, &pgstore.Config{AutoMigrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })

	raw, err := os.ReadFile(filepath.Join("..", "testdata", "batch-50.json"))
	require.NoError(t, err)
	var batch struct {
		Logs []logingest.Event `json:"logs"`
	}
	require.NoError(t, json.Unmarshal(raw, &batch))
	require.Len(t, batch.Logs, 50)
	ing, err := logingest.New(store, nil)
	require.NoError(t, err)
	res, err := ing.Ingest(ctx, "habit-tracker-test", batch.Logs)
	require.NoError(t, ing.Close(ctx))
	require.NoError(t, err)
	require.Equal(t, 50, res.Accepted)

	// The test events happened on 2025-08-27 between 09:00 and 09:31 UTC; the range covers them and now.
	from := time.Date(2025, 8, 27, 0, 0, 0, 0, time.UTC)
	to := time.Now().Add(time.Hour)

	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close(t.Context())) })

	qs := loadQueries(t, "analytics-overview.json")
	require.NotEmpty(t, qs)
	for _, q := range qs {
		sql, err := dashtest.ExpandSQL(q.SQL, from, to, 5*time.Minute)
		require.NoError(t, err, q.Name())
		rows, err := conn.Query(ctx, sql)
		require.NoError(t, err, "%s\n%s", q.Name(), sql)
		values, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
		require.NoError(t, err, "%s\n%s", q.Name(), sql)
		require.NotEmpty(t, values, "%s returned no rows\n%s", q.Name(), sql)
		if q.Format == "time_series" {
			cols := rows.FieldDescriptions()
			require.Equal(t, "time", cols[0].Name, "%s: a time series query starts with the time column", q.Name())
		}
		// Counts must be non-zero: an always-zero stat would pass "one row" while showing nothing.
		if len(values) == 1 && len(values[0]) == 1 {
			n, ok := values[0][0].(int64)
			require.True(t, ok, "%s: %T", q.Name(), values[0][0])
			require.Positive(t, n, "%s counts nothing\n%s", q.Name(), sql)
		}
		t.Logf("%s: %d rows", q.Name(), len(values))
	}
}

func TestExpandSQL(t *testing.T) {
	t.Parallel()
	from := time.Date(2025, 8, 27, 9, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	got, err := dashtest.ExpandSQL(
		`SELECT $__timeGroupAlias("timestamp", $__interval), 1 WHERE $__timeFilter("timestamp") AND x < $__timeTo()`,
		from, to, time.Minute)
	require.NoError(t, err)
	require.Equal(t,
		`SELECT floor(extract(epoch from "timestamp")/60)*60 AS "time", 1 WHERE "timestamp" BETWEEN '2025-08-27T09:00:00Z' AND '2025-08-27T10:00:00Z' AND x < '2025-08-27T10:00:00Z'`,
		got)
	_, err = dashtest.ExpandSQL(`SELECT $__unixEpochFilter(t)`, from, to, time.Minute)
	require.Error(t, err, "an unknown macro must not reach the database unnoticed")
}

var (
	backticked = regexp.MustCompile("`([a-z_]+)`")
	sectionRE  = regexp.MustCompile(`(?m)^## `)
)

// readmeSection returns the text of README.md's "## <title>" section.
func readmeSection(t *testing.T, readme, title string) string {
	t.Helper()
	for _, s := range sectionRE.Split(readme, -1) {
		if head, body, ok := strings.Cut(s, "\n"); ok && strings.TrimSpace(head) == title {
			return body
		}
	}
	t.Fatalf("README.md has no section %q", title)
	return ""
}

// firstColumn returns the backticked name in the first cell of each table row, or of each "- `x`" bullet.
func firstColumn(section string) []string {
	var names []string
	for line := range strings.SplitSeq(section, "\n") {
		if !strings.HasPrefix(line, "| `") && !strings.HasPrefix(line, "- `") {
			continue
		}
		if m := backticked.FindStringSubmatch(line); m != nil {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return names
}

// TestReadmeMatchesDashboards keeps README.md in step: its metric list is exactly the metrics the PromQL reads,
// its table list the tables the SQL reads, and every panel of both dashboards is described with its query.
func TestReadmeMatchesDashboards(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	readme := string(raw)

	used := map[string]bool{}
	for _, q := range loadQueries(t, "server-metrics.json") {
		names, err := dashtest.MetricNames(dashtest.ExpandPromQL(q.Expr, "1m"))
		require.NoError(t, err)
		for _, n := range names {
			used[dashtest.BaseMetricName(n)] = true
		}
	}
	require.Equal(t, slices.Sorted(maps.Keys(used)), firstColumn(readmeSection(t, readme, "Metrics used")),
		"dashboards/README.md \"Metrics used\" must list exactly the metrics server-metrics.json reads")

	tables := map[string]bool{}
	tableRE := regexp.MustCompile(`(?i)\bFROM\s+([a-z_]+)`)
	for _, q := range loadQueries(t, "analytics-overview.json") {
		for _, m := range tableRE.FindAllStringSubmatch(q.SQL, -1) {
			tables[m[1]] = true
		}
	}
	require.Equal(t, slices.Sorted(maps.Keys(tables)), firstColumn(readmeSection(t, readme, "Tables used")))

	for name := range wantDashboards {
		for _, q := range loadQueries(t, name) {
			query := q.Expr + q.SQL
			require.Contains(t, readme, "| "+q.PanelTitle+" |", "README.md does not describe panel %s", q.Name())
			require.Contains(t, readme, strings.ReplaceAll(query, "|", `\|`), "README.md does not show the query of %s", q.Name())
		}
	}
}
