package pgstore_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/pgstore"
)

// TestQuery_RangeTotal: a time range's total above CountEstimateThreshold is taken from the sample alone,
// without the bounded count; it is exact when counting it at the measured pace fits CountTimeBudget, else the
// sample's estimate, labelled. Before any pace is measured (after start-up) it is counted when a scan of the
// table at the sample's pace would fit the budget, else it is the sample's estimate and a background count
// measures the pace. CountSamplePercent 100 makes the sample the whole table, so its estimate is the true
// total and only the label tells the paths apart.
func TestQuery_RangeTotal(t *testing.T) {
	t.Parallel()
	const n, inRange = 3000, 2000
	minute := &pgstore.Config{CountEstimateThreshold: 50, CountSamplePercent: 100, CountTimeBudget: time.Minute}
	loadWith := func(t *testing.T, cfg *pgstore.Config) (*pgstore.Store, *testBundle) {
		t.Helper()
		s, b := setup(t, cfg)
		// Event g happened g seconds before now: the last inRange of them lie in the range below.
		_, err := b.conn.Exec(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, event_type,
			event_name, received_at) SELECT 'default', 'e' || g, $1::timestamptz - g * interval '1 second', 'behavioral',
			'name_' || (g % 40), $1::timestamptz FROM generate_series(1, $2::int) g`, now, n)
		require.NoError(t, err)
		// Statistics, so that the planner expects the range above the threshold (sampledTotal asks it first).
		_, err = b.conn.Exec(t.Context(), `ANALYZE analytics_logs`)
		require.NoError(t, err)
		return s, b
	}
	load := func(t *testing.T) *pgstore.Store {
		t.Helper()
		s, _ := loadWith(t, minute)
		return s
	}
	hour := logingest.Filter{StartTime: now.Add(-inRange * time.Second), EndTime: now}
	small := logingest.Filter{StartTime: now.Add(-30 * time.Second), EndTime: now}

	t.Run("first total after start-up, counted when a scan fits the budget", func(t *testing.T) {
		t.Parallel()
		_, b := loadWith(t, minute)
		s, log := traced(t, b, minute)
		_, known := pgstore.CountPaceForTest(s)
		require.False(t, known)
		p, err := s.Query(t.Context(), hour)
		require.NoError(t, err)
		require.False(t, p.TotalIsEstimate, "3,000 events scan within a minute")
		require.EqualValues(t, inRange, p.Total)
		_, known = pgstore.CountPaceForTest(s)
		require.True(t, known, "the count above the threshold was timed")
		requireNoBoundedCount(t, log)
	})

	t.Run("first total after start-up, when a scan would outlast the budget: the sample's", func(t *testing.T) {
		t.Parallel()
		// A microsecond: no sample of the table is that fast, so no count runs in the request.
		cfg := *minute
		cfg.CountTimeBudget = time.Microsecond
		_, b := loadWith(t, &cfg)
		s, log := traced(t, b, &cfg)
		p, err := s.Query(t.Context(), hour)
		require.NoError(t, err)
		require.True(t, p.TotalIsEstimate)
		require.EqualValues(t, inRange, p.Total, "a sample of the whole table")
		requireNoBoundedCount(t, log)
		pgstore.WaitPaceForTest(s)
		_, known := pgstore.CountPaceForTest(s)
		require.True(t, known, "a background count measured the pace (or ran out of the budget)")
	})

	t.Run("exact when the pace fits the budget", func(t *testing.T) {
		t.Parallel()
		s := load(t)
		pgstore.SetCountPaceForTest(s, time.Microsecond) // 2 ms for the range
		p, err := s.Query(t.Context(), hour)
		require.NoError(t, err)
		require.False(t, p.TotalIsEstimate)
		require.EqualValues(t, inRange, p.Total)
	})

	t.Run("estimate, labelled, when counting would outlast the budget", func(t *testing.T) {
		t.Parallel()
		s := load(t)
		pgstore.SetCountPaceForTest(s, time.Second) // 2,000 s for the range: not attempted
		p, err := s.Query(t.Context(), hour)
		require.NoError(t, err)
		require.True(t, p.TotalIsEstimate, "a one-minute budget would have counted it: the pace skipped the count")
		require.EqualValues(t, inRange, p.Total, "a sample of the whole table")
		require.Len(t, p.Events, 50)

		// Below the threshold the bounded count answers, exactly, whatever the pace.
		p, err = s.Query(t.Context(), small)
		require.NoError(t, err)
		require.False(t, p.TotalIsEstimate)
		require.EqualValues(t, 30, p.Total)
	})
}

// TestQuery_ProviderTotalSampledFirst: a provider filter matching more than CountEstimateThreshold events gets
// its total from the sample and the exact count, without the bounded count in the page's round trip, which
// reads one heap page per match (an expression index gives no index-only scan): 90 ms of 130 ms at 5 million
// events.
func TestQuery_ProviderTotalSampledFirst(t *testing.T) {
	t.Parallel()
	cfg := &pgstore.Config{CountEstimateThreshold: 50, CountSamplePercent: 100, CountTimeBudget: time.Minute}
	_, b := setup(t, cfg)
	_, err := b.conn.Exec(t.Context(), `INSERT INTO analytics_logs (source, event_id, timestamp, event_type,
		event_name, properties, received_at) SELECT 'default', 'e' || g, $1::timestamptz - g * interval '1 second',
		'observability', 'provider_state_changed', jsonb_build_object('provider_name', 'p' || (g % 3)),
		$1::timestamptz FROM generate_series(1, 3000) g`, now)
	require.NoError(t, err)
	_, err = b.conn.Exec(t.Context(), `ANALYZE analytics_logs`)
	require.NoError(t, err)

	s, log := traced(t, b, cfg)
	pgstore.SetCountPaceForTest(s, time.Microsecond) // 1 ms for 1,000: counted exactly

	p, err := s.Query(t.Context(), logingest.Filter{ProviderName: "p1"})
	require.NoError(t, err)
	require.False(t, p.TotalIsEstimate)
	require.EqualValues(t, 1000, p.Total)
	require.Len(t, p.Events, 50)
	requireNoBoundedCount(t, log)
}

// traced returns a Store on the database of b whose pool records every statement it runs.
func traced(t *testing.T, b *testBundle, cfg *pgstore.Config) (*pgstore.Store, *statementLog) {
	t.Helper()
	log := &statementLog{}
	pcfg, err := pgxpool.ParseConfig(b.dsn)
	require.NoError(t, err)
	pcfg.ConnConfig.Tracer = log
	pool, err := pgxpool.NewWithConfig(t.Context(), pcfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	c := *cfg
	c.Now = func() time.Time { return now }
	s, err := pgstore.New(pool, &c)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() }) // before pool.Close: cleanups run last added first
	return s, log
}

// requireNoBoundedCount fails unless log holds no bounded count (up to CountEstimateThreshold 50 plus one).
func requireNoBoundedCount(t *testing.T, log *statementLog) {
	t.Helper()
	for _, q := range log.statements() {
		require.NotContains(t, q, "LIMIT 51) c", "the bounded count ran: %s", q)
	}
}

// statementLog records the SQL of every statement run on a pool, batched or not.
type statementLog struct {
	mu  sync.Mutex
	sql []string
}

func (l *statementLog) add(q string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sql = append(l.sql, q)
}

func (l *statementLog) statements() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sql)
}

func (l *statementLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.add(d.SQL)
	return ctx
}

func (*statementLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (*statementLog) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (l *statementLog) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	l.add(d.SQL)
}

func (*statementLog) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
