package httpapi

import (
	"net/http"
	"time"

	"github.com/change66/logserver/logingest"
)

// dashboardData is the data of a GET /api/v1/dashboard answer.
type dashboardData struct {
	Range         dashboardRange         `json:"range"`
	Totals        dashboardTotals        `json:"totals"`
	Timeline      []timelinePoint        `json:"timeline"`
	EventTypes    []logingest.ValueCount `json:"event_types"`
	Priorities    []logingest.ValueCount `json:"priorities"`
	TopEventNames []logingest.ValueCount `json:"top_event_names"`
	AppVersions   []logingest.ValueCount `json:"app_versions"`
	Platforms     []logingest.ValueCount `json:"platforms"`
	Exact         bool                   `json:"exact"`
	Estimated     []string               `json:"estimated"`
}

type dashboardRange struct {
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	BucketSeconds int64     `json:"bucket_seconds"`
}

type dashboardTotals struct {
	TotalLogs        int64   `json:"total_logs"`
	LogsLastHour     int64   `json:"logs_last_hour"`
	LogsLastDay      int64   `json:"logs_last_day"`
	ErrorRatePercent float64 `json:"error_rate_percent"`
	AverageLatencyMs float64 `json:"average_latency_ms"`
	ActiveSessions   int64   `json:"active_sessions"`
	ActiveUsers      int64   `json:"active_users"`
	LogsToday        int64   `json:"logs_today"`
}

type timelinePoint struct {
	Start  time.Time `json:"start"`
	Count  int64     `json:"count"`
	Errors int64     `json:"errors"`
}

// handleDashboard answers GET /api/v1/dashboard: the filters of /logs/filter, from and to (RFC 3339; default
// the last 24 hours, on received_at) and top (1..100, default 10). The route exists only when the store
// implements logingest.Aggregator.
func (h *Handler) handleDashboard(w http.ResponseWriter, r *http.Request) {
	ag, ok := h.store.(logingest.Aggregator)
	if !ok {
		h.writeError(w, r, errRouteNotFound)
		return
	}
	q, err := query(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	p, _ := logingest.FromContext(r.Context())
	var errs paramErrors
	dq := logingest.DashboardQuery{
		From: timeParam(q, "from", &errs),
		To:   timeParam(q, "to", &errs),
		Now:  h.cfg.Now().UTC(),
		TopN: intParam(q, "top", logingest.DefaultDashboardTopN, 1, logingest.MaxDashboardTopN, &errs),
	}
	f, _, err := parseFilter(q, sourceOf(p))
	if ve := asValidation(err); ve != nil {
		for _, fe := range ve.Errors {
			errs.add(fe.Field, fe.Reason)
		}
	} else if err != nil {
		h.writeError(w, r, err)
		return
	}
	if _, _, err := (logingest.DashboardQuery{From: dq.From, To: dq.To, Now: dq.Now, TopN: dq.TopN}).Normalize(); err != nil {
		if ve := asValidation(err); ve != nil {
			for _, fe := range ve.Errors {
				errs.add(fe.Field, fe.Reason)
			}
		}
	}
	if err := errs.err(); err != nil {
		h.writeError(w, r, err)
		return
	}
	dq.Filter = f
	d, err := ag.Dashboard(r.Context(), dq)
	if err != nil {
		h.writeError(w, r, storeError("dashboard", err))
		return
	}
	data := dashboardData{
		Range: dashboardRange{From: d.From.UTC(), To: d.To.UTC(), BucketSeconds: int64(d.Bucket / time.Second)},
		Totals: dashboardTotals{
			TotalLogs: d.Totals.TotalLogs, LogsLastHour: d.Totals.LogsLastHour, LogsLastDay: d.Totals.LogsLastDay,
			ErrorRatePercent: d.Totals.ErrorRatePercent, AverageLatencyMs: d.Totals.AverageLatencyMs,
			ActiveSessions: d.Totals.ActiveSessions, ActiveUsers: d.Totals.ActiveUsers, LogsToday: d.Totals.LogsToday,
		},
		Timeline:      make([]timelinePoint, len(d.Timeline)),
		EventTypes:    nonNilCounts(d.EventTypes),
		Priorities:    nonNilCounts(d.Priorities),
		TopEventNames: nonNilCounts(d.TopEventNames),
		AppVersions:   nonNilCounts(d.AppVersions),
		Platforms:     nonNilCounts(d.Platforms),
		Exact:         d.Exact,
		Estimated:     d.Estimated,
	}
	if data.Estimated == nil {
		data.Estimated = []string{}
	}
	for i, pt := range d.Timeline {
		data.Timeline[i] = timelinePoint{Start: pt.Start.UTC(), Count: pt.Count, Errors: pt.Errors}
	}
	h.writeOK(w, r, http.StatusOK, "", data)
}

func nonNilCounts(v []logingest.ValueCount) []logingest.ValueCount {
	if v == nil {
		return []logingest.ValueCount{}
	}
	return v
}
