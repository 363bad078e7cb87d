package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h histogram
	require.Zero(t, h.quantile(0.5))
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := q * float64(10000*time.Microsecond)
		require.InEpsilon(t, want, float64(h.quantile(q)), 0.02, "q=%v", q)
	}
	require.Equal(t, 10*time.Millisecond, h.max)
	require.Equal(t, 10*time.Millisecond, h.quantile(1))

	var other histogram
	other.record(time.Second)
	h.merge(&other)
	require.Equal(t, time.Second, h.quantile(1))
	require.EqualValues(t, 10001, h.total)

	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 40, 1<<62 + 12345} {
		i := bucketOf(v)
		require.GreaterOrEqual(t, bucketHigh(i), v, "v=%d", v)
		if i > 0 {
			require.Less(t, bucketHigh(i-1), v, "v=%d", v)
		}
	}
}

func TestParseTemplates(t *testing.T) {
	t.Parallel()
	tpls, err := parseTemplates(bytes.NewReader(defaultTemplates))
	require.NoError(t, err)
	require.Len(t, tpls, 300)
	for _, tp := range tpls {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte("{"+string(tp.members)+"}"), &m))
		require.NotContains(t, m, "event_id")
		require.NotContains(t, m, "timestamp")
		require.Contains(t, m, "event_type")
	}

	mixed := `{"event_type":"error","event_name":"a","event_id":"x","source":"s"}
[{"event_type":"telemetry","event_name":"b"}]
{"logs":[{"event_type":"behavioral","event_name":"c"},{"event_type":"behavioral","event_name":"d"}]}`
	tpls, err = parseTemplates(strings.NewReader(mixed))
	require.NoError(t, err)
	require.Len(t, tpls, 4)
	require.Equal(t, `"event_name":"a","event_type":"error"`, string(tpls[0].members))

	for _, bad := range []string{"", `{"event_name":"a"}`, `{"event_type":"error","event_name":""}`, `42`, `{"event_type":`} {
		_, err := parseTemplates(strings.NewReader(bad))
		require.Error(t, err, bad)
	}
}

func TestBuilder(t *testing.T) {
	t.Parallel()
	tpls, err := parseTemplates(bytes.NewReader(defaultTemplates))
	require.NoError(t, err)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	for _, tc := range []struct {
		batch  int
		total  int64
		frac   float64
		reqs   int
		wantDu int
	}{
		{batch: 1, total: 100, frac: 0, reqs: 100},
		{batch: 1, total: 100, frac: 0.5, reqs: 100, wantDu: 50},
		{batch: 50, total: 1001, frac: 0.25, reqs: 21, wantDu: 250},
		{batch: 500, total: 1000, frac: 0.5, reqs: 2, wantDu: 500}, // the whole debt of the first batch is paid
		{batch: 10, total: 20000, frac: 0.99, reqs: 2000, wantDu: 19800},
	} {
		b := newBuilder("run", tpls, tc.total, tc.batch, tc.frac, 1)
		firstReq := map[string]int{} // event_id -> request that first carried it
		var events, dups, reqs int
		for j := b.next(now); j != nil; j = b.next(now) {
			reqs++
			var evs []map[string]any
			if tc.batch == 1 {
				var e map[string]any
				require.NoError(t, json.Unmarshal(j.body, &e))
				evs = append(evs, e)
			} else {
				var env struct {
					Logs []map[string]any `json:"logs"`
				}
				require.NoError(t, json.Unmarshal(j.body, &env))
				evs = env.Logs
			}
			require.Len(t, evs, j.events)
			for _, e := range evs {
				id := e["event_id"].(string)
				ts, err := time.Parse(time.RFC3339Nano, e["timestamp"].(string))
				require.NoError(t, err)
				require.WithinDuration(t, now, ts, time.Duration(tc.batch)*time.Microsecond)
				if first, ok := firstReq[id]; ok {
					require.Less(t, first, reqs, "a duplicate re-sends an event of an earlier request")
					dups++
					continue
				}
				firstReq[id] = reqs
			}
			require.LessOrEqual(t, j.dups, j.events)
			events += j.events
		}
		require.EqualValues(t, tc.total, events)
		require.Equal(t, tc.reqs, reqs)
		require.Equal(t, tc.wantDu, dups, "batch %d fraction %v", tc.batch, tc.frac)
	}
}

// TestBuilderRealisticShape checks the default load: live timestamps at most recentSpread old, about
// offlineFraction of events hours to days old, thousands of users with a few sessions each, and duplicates that
// re-send their original's user and timestamp.
func TestBuilderRealisticShape(t *testing.T) {
	t.Parallel()
	tpls, err := parseTemplates(bytes.NewReader(defaultTemplates))
	require.NoError(t, err)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const total = 40000
	b := newBuilder("run", tpls, total, 100, 0.1, 3)
	b.shape = realisticShape
	var live, offline, anonymous int
	users, sessions := map[string]bool{}, map[string]bool{}
	byID := map[string]string{}
	for j := b.next(now); j != nil; j = b.next(now) {
		var env struct {
			Logs []map[string]any `json:"logs"`
		}
		require.NoError(t, json.Unmarshal(j.body, &env))
		for _, e := range env.Logs {
			ts, err := time.Parse(time.RFC3339Nano, e["timestamp"].(string))
			require.NoError(t, err)
			age := now.Sub(ts)
			switch {
			case age >= 0 && age <= realisticShape.recentSpread:
				live++
			case age >= realisticShape.offlineMinAge && age <= realisticShape.offlineMaxAge:
				offline++
			default:
				t.Fatalf("timestamp %s is %s old: neither live nor offline", ts, age)
			}
			u, _ := e["user_id"].(string)
			if u == "" {
				anonymous++
			} else {
				users[u] = true
			}
			s, _ := e["session_id"].(string)
			require.NotEmpty(t, s)
			sessions[s] = true
			key := fmt.Sprint(e["timestamp"], u, s, e["event_name"])
			if prev, ok := byID[e["event_id"].(string)]; ok {
				require.Equal(t, prev, key, "a duplicate re-sends its original unchanged")
			}
			byID[e["event_id"].(string)] = key
		}
	}
	require.Equal(t, total, live+offline)
	require.InDelta(t, realisticShape.offlineFraction, float64(offline)/total, 0.01)
	require.Greater(t, len(users), realisticShape.users*9/10)
	require.LessOrEqual(t, len(users), realisticShape.users)
	require.Greater(t, len(sessions), 2*len(users))
	require.Positive(t, anonymous, "templates without a user stay anonymous")
}

func TestAppendTimestamp(t *testing.T) {
	t.Parallel()
	b := &builder{}
	for _, tm := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 999999000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC),
	} {
		got := string(b.appendTimestamp(nil, tm.UnixMicro()))
		require.Equal(t, tm.Format("2006-01-02T15:04:05.000000Z"), got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	require.Equal(t, 5*time.Second, parseRetryAfter("5"))
	require.Zero(t, parseRetryAfter(""))
	require.Zero(t, parseRetryAfter("-3"))
	require.Zero(t, parseRetryAfter("soon"))
	later := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	require.Greater(t, parseRetryAfter(later), 50*time.Minute)
}

// BenchmarkBuilder measures the cost of making bodies, the part of loadgen's own work per event that does
// not depend on the server.
func BenchmarkBuilder(b *testing.B) {
	tpls, err := parseTemplates(bytes.NewReader(defaultTemplates))
	require.NoError(b, err)
	bl := newBuilder("lg0123456789ab", tpls, 1<<50, 50, 0.1, 1)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if bl.next(now) == nil {
			b.Fatal("builder ran out of events")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(bl.n), "ns/event")
}
