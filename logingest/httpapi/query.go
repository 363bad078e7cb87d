package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/change66/logserver/logingest"
)

// maxPage bounds the page parameter so page*page_size cannot overflow; deeper pages should use the cursor.
const maxPage = 1_000_000

// filterData is the data of a GET /api/v1/logs/filter answer.
type filterData struct {
	Logs            []logingest.Event `json:"logs"`
	TotalCount      int64             `json:"total_count"`
	Page            int               `json:"page"`
	PageSize        int               `json:"page_size"`
	TotalPages      int64             `json:"total_pages"`
	NextCursor      string            `json:"next_cursor,omitempty"`
	TotalIsEstimate bool              `json:"total_is_estimate"`
}

// recentData is the data of a GET /api/v1/logs/recent answer.
type recentData struct {
	Logs  []logingest.Event `json:"logs"`
	Count int               `json:"count"`
	Limit int               `json:"limit"`
}

// statusData is the data of a GET /api/v1/status answer.
type statusData struct {
	Status        string    `json:"status"`
	Version       string    `json:"version"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	Store         string    `json:"store"`
	Time          time.Time `json:"time"`
}

// paramErrors collects the problems of query parameters, named as the API names them.
type paramErrors []logingest.FieldError

func (pe *paramErrors) add(field, reason string) {
	for _, e := range *pe {
		if e.Field == field {
			return
		}
	}
	*pe = append(*pe, logingest.FieldError{Field: field, Reason: reason})
}

func (pe paramErrors) err() error {
	if len(pe) == 0 {
		return nil
	}
	return &logingest.ValidationError{Errors: pe}
}

// query parses the query string strictly: a malformed one could silently drop a filter and widen the result.
func query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &logingest.ValidationError{Errors: []logingest.FieldError{{Field: "query", Reason: "malformed query string"}}}
	}
	return q, nil
}

// intParam parses an optional integer parameter within [lo, hi]; def when absent.
func intParam(q url.Values, name string, def, lo, hi int, errs *paramErrors) int {
	s := q.Get(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < lo || n > hi {
		errs.add(name, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
		return def
	}
	return n
}

func timeParam(q url.Values, name string, errs *paramErrors) time.Time {
	s := q.Get(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		errs.add(name, "must be an RFC 3339 time such as 2024-01-15T10:30:00Z")
		return time.Time{}
	}
	return t
}

// parseFilter turns the filter query parameters into a normalised Filter for source, reporting every invalid
// parameter by name. It returns the page number as well.
func parseFilter(q url.Values, source string) (logingest.Filter, int, error) {
	var errs paramErrors
	f := logingest.Filter{
		Source:       source,
		EventType:    logingest.EventType(q.Get("event_type")),
		EventName:    q.Get("event_name"),
		UserID:       q.Get("user_id"),
		SessionID:    q.Get("session_id"),
		AppVersion:   q.Get("app_version"),
		Priority:     logingest.Priority(q.Get("priority")),
		ProviderName: q.Get("provider_name"),
		StartTime:    timeParam(q, "start_time", &errs),
		EndTime:      timeParam(q, "end_time", &errs),
		SortBy:       logingest.SortField(strings.ToLower(strings.TrimSpace(q.Get("sort_by")))),
		After:        q.Get("cursor"),
	}
	page := intParam(q, "page", 1, 1, maxPage, &errs)
	f.Limit = intParam(q, "page_size", logingest.DefaultQueryLimit, 1, logingest.MaxQueryLimit, &errs)
	switch o := strings.ToUpper(strings.TrimSpace(q.Get("sort_order"))); o {
	case "":
	case string(logingest.SortAsc), string(logingest.SortDesc):
		f.SortOrder = logingest.SortOrder(o)
	default:
		errs.add("sort_order", "must be asc or desc")
	}
	if f.After != "" && page > 1 {
		errs.add("cursor", "cannot be combined with page greater than 1")
	}
	f.Offset = (page - 1) * f.Limit
	nf, err := f.Normalize()
	if ve := asValidation(err); ve != nil {
		for _, fe := range ve.Errors {
			errs.add(fe.Field, fe.Reason)
		}
	} else if err != nil {
		return f, page, fmt.Errorf("normalize filter: %w", err)
	}
	if err := errs.err(); err != nil {
		return f, page, err
	}
	return nf, page, nil
}

func asValidation(err error) *logingest.ValidationError {
	ve, _ := err.(*logingest.ValidationError) //nolint:errorlint // Normalize documents an unwrapped *ValidationError
	return ve
}

func (h *Handler) handleFilter(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	p, _ := logingest.FromContext(r.Context())
	f, page, err := parseFilter(q, sourceOf(p))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	res, err := h.store.Query(r.Context(), f)
	if err != nil {
		var ve *logingest.ValidationError
		if f.After != "" && errors.Is(err, logingest.ErrInvalid) && !errors.As(err, &ve) {
			// The parameters were checked above, so the store can only be refusing the cursor.
			err = fmt.Errorf("%w: %w", &logingest.ValidationError{Errors: []logingest.FieldError{{
				Field: "cursor", Reason: "is not a valid cursor for this query",
			}}}, err)
		}
		h.writeError(w, r, fmt.Errorf("query: %w", err))
		return
	}
	data := filterData{
		Logs:            nonNil(res.Events),
		TotalCount:      res.Total,
		Page:            page,
		PageSize:        f.Limit,
		NextCursor:      res.NextCursor,
		TotalIsEstimate: res.TotalIsEstimate,
	}
	if res.Total >= 0 {
		data.TotalPages = (res.Total + int64(f.Limit) - 1) / int64(f.Limit)
	} else {
		data.TotalPages = -1
	}
	h.writeOK(w, r, http.StatusOK, "", data)
}

func (h *Handler) handleRecent(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var errs paramErrors
	limit := intParam(q, "limit", logingest.DefaultQueryLimit, 1, logingest.MaxQueryLimit, &errs)
	if err := errs.err(); err != nil {
		h.writeError(w, r, err)
		return
	}
	p, _ := logingest.FromContext(r.Context())
	res, err := h.store.Query(r.Context(), logingest.Filter{
		Source:    sourceOf(p),
		SortBy:    logingest.SortReceivedAt,
		SortOrder: logingest.SortDesc,
		Limit:     limit,
		SkipTotal: true,
	})
	if err != nil {
		h.writeError(w, r, fmt.Errorf("query recent: %w", err))
		return
	}
	logs := nonNil(res.Events)
	h.writeOK(w, r, http.StatusOK, "", recentData{Logs: logs, Count: len(logs), Limit: limit})
}

func (h *Handler) handleStats(w http.ResponseWriter, r *http.Request) {
	p, _ := logingest.FromContext(r.Context())
	st, err := h.store.Stats(r.Context(), logingest.StatsQuery{Source: sourceOf(p), Now: h.cfg.Now().UTC()})
	if err != nil {
		h.writeError(w, r, fmt.Errorf("stats: %w", err))
		return
	}
	h.writeOK(w, r, http.StatusOK, "", st)
}

func (h *Handler) handleStatus(w http.ResponseWriter, r *http.Request) {
	now := h.cfg.Now()
	data := statusData{
		Status:        "ok",
		Version:       h.cfg.Version,
		StartedAt:     h.started.UTC(),
		UptimeSeconds: int64(now.Sub(h.started) / time.Second),
		Store:         "ok",
		Time:          now.UTC(),
	}
	if err := h.ping(r.Context()); err != nil {
		h.requestLogger(r).WarnContext(r.Context(), "store ping failed", "error", err)
		data.Status, data.Store = "degraded", "unreachable"
	}
	h.writeOK(w, r, http.StatusOK, "", data)
}

func nonNil(evs []logingest.Event) []logingest.Event {
	if evs == nil {
		return []logingest.Event{}
	}
	return evs
}
