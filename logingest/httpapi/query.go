package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/change66/logserver/logingest"
)

// maxPage bounds the page parameter so page*page_size cannot overflow; deeper pages should use the cursor.
const maxPage = 1_000_000

// filterData is the data of a GET /api/v1/logs/filter answer: the original's {logs, total_count, page,
// page_size, total_pages} plus the keyset cursor and whether the total is estimated.
type filterData struct {
	Logs            []logObject `json:"logs"`
	TotalCount      int64       `json:"total_count"`
	Page            int         `json:"page"`
	PageSize        int         `json:"page_size"`
	TotalPages      int64       `json:"total_pages"`
	NextCursor      string      `json:"next_cursor,omitempty"`
	TotalIsEstimate bool        `json:"total_is_estimate"`
	Limit           int         `json:"limit"`
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
// parameter by name. It returns the page number as well. It only parses (integers, times, the page number,
// which is not a Filter field); every other rule is Filter.Normalize's, so the API and the stores share one
// definition of a valid filter.
func parseFilter(q url.Values, source string) (logingest.Filter, int, error) {
	var errs paramErrors
	f := logingest.Filter{
		Source:       source,
		EventType:    logingest.EventType(q.Get("event_type")),
		EventName:    q.Get("event_name"),
		UserID:       q.Get("user_id"),
		SessionID:    q.Get("session_id"),
		AppVersion:   appVersionParam(q),
		Priority:     logingest.Priority(q.Get("priority")),
		ProviderName: q.Get("provider_name"),
		StartTime:    timeParam(q, "start_time", &errs),
		EndTime:      timeParam(q, "end_time", &errs),
		Search:       q.Get("search"),
		SortBy:       logingest.SortField(strings.ToLower(strings.TrimSpace(q.Get("sort_by")))),
		SortOrder:    logingest.SortOrder(strings.ToUpper(strings.TrimSpace(q.Get("sort_order")))),
		After:        q.Get("cursor"),
	}
	page := intParam(q, "page", 1, 1, maxPage, &errs)
	f.Limit = pageSizeParam(q, &errs)
	// The offset depends on the page size Normalize fills in when page_size is absent.
	withDefaults, _ := f.Normalize() // its errors are reported by the call below
	f.Offset = offsetOf(page, withDefaults.Limit)
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

// pageSizeParam parses page_size for Filter.Limit: 0 (the default) when absent. An explicit page_size=0 is
// passed on as -1, since a zero Limit would mean "the default" and the API refuses page_size=0.
func pageSizeParam(q url.Values, errs *paramErrors) int {
	s := q.Get("page_size")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	switch {
	case err != nil:
		errs.add("page_size", fmt.Sprintf("must be an integer between 1 and %d", logingest.MaxQueryLimit))
		return 0
	case n == 0:
		return -1
	}
	return n
}

// offsetOf is the Filter.Offset of page with limit events per page. It saturates instead of overflowing, and
// an invalid limit (which Normalize refuses) counts as 1, so that the offset is non-zero exactly when page > 1
// and Normalize can refuse a cursor combined with such a page.
func offsetOf(page, limit int) int {
	limit = max(limit, 1)
	if page-1 > math.MaxInt/limit {
		return math.MaxInt
	}
	return (page - 1) * limit
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
		h.writeError(w, r, paramError(err))
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
		h.writeError(w, r, storeError("query", err))
		return
	}
	data := filterData{
		Logs:            toLogObjects(res.Events),
		TotalCount:      res.Total,
		Page:            page,
		PageSize:        f.Limit,
		Limit:           f.Limit,
		NextCursor:      res.NextCursor,
		TotalIsEstimate: res.TotalIsEstimate,
	}
	if res.Total >= 0 {
		data.TotalPages = (res.Total + int64(f.Limit) - 1) / int64(f.Limit)
	} else {
		data.TotalPages = -1
	}
	h.writeOK(w, r, http.StatusOK, fmt.Sprintf("%d logs on this page", len(data.Logs)), data)
}

// paramError marks err, a problem with query parameters, so that the error body carries the original's
// invalid_<parameter> code (see wireCode).
func paramError(err error) error {
	return fmt.Errorf("%w: %w", errQueryParams, err)
}

// appVersionParam returns the app_version parameter with every space read as "+". Flutter versions carry a
// "+build" suffix (2.0.0+6) that clients, the original's own examples among them, write unencoded, and an
// unencoded "+" in a query string decodes to a space. An app version never contains a space, so a space in the
// decoded value can only be such a "+"; an encoded %2B arrives as "+" already.
func appVersionParam(q url.Values) string {
	return strings.ReplaceAll(q.Get("app_version"), " ", "+")
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
		h.writeError(w, r, paramError(err))
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
		h.writeError(w, r, storeError("query recent", err))
		return
	}
	logs := toLogObjects(res.Events)
	n := len(logs)
	h.writeEnvelope(w, r, http.StatusOK, envelope{
		Message: fmt.Sprintf("%d most recently received logs", n),
		Data:    logs,
		Count:   &n,
		Limit:   limit,
	})
}

func (h *Handler) handleStats(w http.ResponseWriter, r *http.Request) {
	p, _ := logingest.FromContext(r.Context())
	st, err := h.stats(r, sourceOf(p))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeOK(w, r, http.StatusOK, "metrics of the last hour and day", toMetrics(st))
}

// stats reads the Stats of source relative to now.
func (h *Handler) stats(r *http.Request, source string) (*logingest.Stats, error) {
	st, err := h.store.Stats(r.Context(), logingest.StatsQuery{Source: source, Now: h.cfg.Now().UTC(), TopN: topN})
	if err != nil {
		return nil, storeError("stats", err)
	}
	return st, nil
}

func (h *Handler) handleStatus(w http.ResponseWriter, r *http.Request) {
	now := h.cfg.Now()
	uptime := now.Sub(h.started)
	data := statusData{
		Service: serviceInfo{
			Name:          serviceName,
			Version:       h.cfg.Version,
			Uptime:        uptime.String(),
			StartedAt:     h.started.UTC(),
			UptimeSeconds: int64(uptime / time.Second),
		},
		Database: databaseInfo{Status: statusHealthy},
		Status:   "ok",
		Time:     now.UTC(),
	}
	p, _ := logingest.FromContext(r.Context())
	if err := h.ping(r.Context()); err != nil {
		h.requestLogger(r).WarnContext(r.Context(), "store ping failed", "error", err)
		data.Status, data.Database.Status = "degraded", statusUnhealthy
	} else if st, err := h.stats(r, sourceOf(p)); err != nil {
		h.requestLogger(r).WarnContext(r.Context(), "store stats failed", "error", err)
		data.Status, data.Database.Status = "degraded", statusUnhealthy
	} else {
		m := toMetrics(st)
		data.Metrics = &m
		data.Database.TotalLogs = st.TotalEvents
	}
	h.writeOK(w, r, http.StatusOK, "service status", data)
}

// storeError adds context to a store failure. Stores report transient failures as logingest.ErrUnavailable,
// which classify answers 503 with Retry-After; anything unrecognised is a 500.
func storeError(op string, err error) error {
	return &readerError{op: op, err: err}
}
