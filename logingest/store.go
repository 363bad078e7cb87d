package logingest

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Store persists events. Implementations must be safe for concurrent use by multiple goroutines.
//
// The exported conformance suite in package storetest checks every sentence of this contract; run it against
// your own implementation with storetest.Run.
type Store interface {
	// Append stores events idempotently, keyed on (Source, EventID), and returns one AppendResult per event, in
	// the order of events. An event whose key is already stored, or appears earlier in the same call, is reported
	// AppendDuplicate with the ID of the stored copy (the first occurrence's), which is left unchanged;
	// otherwise it is stored and reported AppendInserted with its new ID.
	//
	// IDs are positive, unique within the store, never change, and increase in insertion order: every event
	// inserted by a later Append has a larger ID than every event inserted by an earlier one that returned
	// before it started, and within one call IDs follow slice order. (Stores may leave gaps.) Query returns
	// them as Event.ID; the ID a duplicate reports is the one Query returns for the stored copy. Append ignores
	// the ID and ProcessedAt of the events it is given, and stores a nil SequenceNumber apart from 0.
	//
	// Append is atomic: it either records every event and returns a nil error, or returns an error and records
	// none. Events are stored in slice order, so for equal sort keys Query returns them in that order.
	// The events have been validated by the Ingester: Properties and DeviceInfo are JSON objects, Timestamp and
	// ReceivedAt are set. Append must not modify or retain the slice. An empty slice returns (nil or empty, nil)
	// without touching the backend. If ctx is done before the write commits, Append returns an error wrapping
	// ctx.Err() and stores nothing. When the backend cannot hold a value of an event that passed validation,
	// Append returns an error matching ErrInvalid (and stores nothing); the Ingester then retries the events in
	// smaller groups, so that only the events refused on their own are rejected. Any other error means the
	// write may be retried as it is.
	Append(ctx context.Context, events []Event) ([]AppendResult, error)

	// Query returns one page of the events that match every non-zero field of f, ordered by f.SortBy and
	// f.SortOrder, ties broken by ID, that is by insertion order (in the same direction). Every event carries
	// its ID; ProcessedAt is set when the store knows it. A nil SequenceNumber sorts before every number in
	// ascending order. Keyset cursors (Page.NextCursor) work for every SortField. Implementations call f.Normalize
	// first and return its error (which matches ErrInvalid) unchanged. A malformed f.After returns an error
	// matching ErrInvalid. Timestamps are returned in UTC; JSON objects are returned semantically equal to
	// what was appended (key order and spacing may differ). A stored value that cannot be served (a row
	// written past validation) never fails Query: the event is returned as SanitizeStored makes it, and the
	// change is logged with LogSanitized. The caller owns the returned Page.
	Query(ctx context.Context, f Filter) (*Page, error)

	// Stats summarises the events of q.Source (all sources when empty) relative to q.Now.
	Stats(ctx context.Context, q StatsQuery) (*Stats, error)

	// Ping reports whether the backend is reachable; it returns a non-nil error when it is not.
	Ping(ctx context.Context) error
}

// UserEraser is an optional Store interface for the right to erasure. The conformance suite (storetest) checks
// every sentence of this contract.
type UserEraser interface {
	// DeleteUserEvents deletes every event whose UserID equals userID exactly (case-sensitive) in source, or in
	// every source when source is empty, and returns how many it deleted. Deleting a user with no events
	// returns (0, nil).
	//
	// An empty userID is refused with an error matching ErrInvalid and deletes nothing: events without a user
	// belong to nobody and are never erased by this method.
	//
	// Erasure is permanent: an erased event that a client sends again (apps retry until they see 201) is
	// reported AppendDuplicate by Append and is not stored again, so a retry queue cannot restore erased
	// data. The store keeps the erased events' (source, event_id) keys for this, and nothing else of them, for
	// as long as it would recognise a duplicate of a stored event (a store whose retention forgets old keys
	// forgets these with them).
	// Another source's event with the same event_id is a different event and is stored as usual.
	DeleteUserEvents(ctx context.Context, source, userID string) (int64, error)
}

// AppendConcurrency is an optional Store interface for stores that serialise writes. MaxConcurrentAppends
// reports how many Append calls can make progress at once (SQLite: 1, since it has a single writer); the
// Ingester then runs no more writers than that, so concurrent requests coalesce into fewer, larger writes
// instead of queueing on the store's lock. Zero or a negative value means no limit.
type AppendConcurrency interface {
	MaxConcurrentAppends() int
}

// SortField names the field Query orders by. Only the constants below are accepted.
type SortField string

// The sortable fields, named as in the API.
const (
	// SortID orders by Event.ID, that is by insertion order.
	SortID         SortField = "id"
	SortEventID    SortField = "event_id"
	SortTimestamp  SortField = "timestamp"
	SortReceivedAt SortField = "received_at"
	// SortCreatedAt is the original server's name of SortReceivedAt; Filter.Normalize turns it into
	// SortReceivedAt.
	SortCreatedAt      SortField = "created_at"
	SortEventType      SortField = "event_type"
	SortEventName      SortField = "event_name"
	SortUserID         SortField = "user_id"
	SortSessionID      SortField = "session_id"
	SortAppVersion     SortField = "app_version"
	SortPriority       SortField = "priority"
	SortSequenceNumber SortField = "sequence_number"
)

// DefaultSortField is the order of a Filter without SortBy: newest received first with SortDesc, as the
// original server (created_at DESC).
const DefaultSortField = SortCreatedAt

// SortFields lists every accepted SortField.
func SortFields() []SortField {
	return []SortField{
		SortID, SortEventID, SortTimestamp, SortEventType, SortEventName, SortUserID, SortSessionID,
		SortAppVersion, SortPriority, SortCreatedAt, SortReceivedAt, SortSequenceNumber,
	}
}

// Valid reports whether f is one of the SortField constants.
func (f SortField) Valid() bool {
	return slices.Contains(SortFields(), f)
}

// SortOrder is ascending or descending.
type SortOrder string

// Sort orders. The API accepts them in any case ("asc", "DESC").
const (
	SortAsc  SortOrder = "ASC"
	SortDesc SortOrder = "DESC"
)

// Query limits.
const (
	// DefaultQueryLimit is the page size used when Filter.Limit is zero.
	DefaultQueryLimit = 50
	// MaxQueryLimit is the largest accepted Filter.Limit.
	MaxQueryLimit = 1000
)

// Filter selects and orders events for Store.Query. The zero value matches every event, newest received first
// (created_at DESC, as the original server), DefaultQueryLimit per page.
type Filter struct {
	// Source restricts results to one source. Empty means every source.
	Source string
	// Exact-match filters; the zero value means "any".
	EventType  EventType
	EventName  string
	UserID     string
	SessionID  string
	AppVersion string
	Priority   Priority
	// ProviderName matches the string value of properties.provider_name.
	ProviderName string
	// StartTime and EndTime bound Timestamp: StartTime inclusive, EndTime exclusive. Zero means unbounded.
	StartTime time.Time
	EndTime   time.Time
	// Search is free text: see SearchTerms. Empty means no search.
	Search string

	// SortBy defaults to DefaultSortField (SortCreatedAt, the same order as SortReceivedAt); SortOrder defaults
	// to SortDesc.
	SortBy    SortField
	SortOrder SortOrder
	// Limit is the page size, 1..MaxQueryLimit. Defaults to DefaultQueryLimit.
	Limit int
	// Offset skips that many matching events. It must be zero when After is set.
	Offset int
	// After is a cursor from a previous Page.NextCursor with the same filter and order; the page starts right
	// after the event the cursor points at (keyset pagination). Empty starts at the beginning.
	After string
	// SkipTotal lets the store leave Page.Total at -1, saving the count.
	SkipTotal bool
}

// Normalize applies defaults to a copy of f and validates it; it is the one definition of a valid Filter, which
// the HTTP API uses too (it only parses the query string). SortBy becomes SortReceivedAt when it is empty
// or SortCreatedAt (its alias), so stores see one name per order. The error is a *ValidationError naming each
// bad field by its API parameter name.
func (f Filter) Normalize() (Filter, error) {
	if f.SortBy == "" {
		f.SortBy = DefaultSortField
	}
	if f.SortBy == SortCreatedAt {
		f.SortBy = SortReceivedAt
	}
	if f.SortOrder == "" {
		f.SortOrder = SortDesc
	}
	if f.Limit == 0 {
		f.Limit = DefaultQueryLimit
	}
	// The checks run in the order the API has always reported its parameters, so that the first error (whose
	// field names the API's invalid_<parameter> code) stays the same.
	var errs []FieldError
	if f.Limit < 1 || f.Limit > MaxQueryLimit {
		errs = append(errs, FieldError{"page_size", fmt.Sprintf("must be an integer between 1 and %d", MaxQueryLimit)})
	}
	if f.SortOrder != SortAsc && f.SortOrder != SortDesc {
		errs = append(errs, FieldError{"sort_order", "must be asc or desc"})
	}
	if f.Offset < 0 {
		errs = append(errs, FieldError{"page", "offset must not be negative"})
	}
	if f.After != "" && f.Offset != 0 {
		errs = append(errs, FieldError{"cursor", "cannot be combined with page greater than 1"})
	}
	if f.EventType != "" && !f.EventType.Valid() {
		errs = append(errs, FieldError{"event_type", oneOfReason(EventTypes())})
	}
	if f.Priority != "" && !f.Priority.Valid() {
		errs = append(errs, FieldError{"priority", oneOfReason(Priorities())})
	}
	if !f.SortBy.Valid() {
		errs = append(errs, FieldError{"sort_by", fmt.Sprintf("must be one of %v", SortFields())})
	}
	if !f.StartTime.IsZero() && !f.EndTime.IsZero() && !f.StartTime.Before(f.EndTime) {
		errs = append(errs, FieldError{"end_time", "must be after start_time"})
	}
	if _, err := SearchTerms(f.Search); err != nil {
		errs = append(errs, FieldError{"search", err.Error()})
	}
	if errs != nil {
		return f, &ValidationError{Errors: errs}
	}
	return f, nil
}

// Page is one page of Query results.
type Page struct {
	// Events are the matching events in the requested order; never nil.
	Events []Event
	// Total is the number of events matching the filter, ignoring pagination, or -1 when Filter.SkipTotal was
	// set and the store skipped the count.
	Total int64
	// TotalIsEstimate reports that Total is an estimate (stores may estimate very large counts).
	TotalIsEstimate bool
	// NextCursor, when not empty, fetches the following page as Filter.After. It is empty when the store knows
	// this is the last page.
	NextCursor string
}

// StatsQuery parameterises Store.Stats.
type StatsQuery struct {
	// Source restricts the summary to one source. Empty means every source.
	Source string
	// Now is the reference time for the "last hour" and "last day" windows.
	Now time.Time
	// TopN bounds TopEventTypes and TopEventNames. Defaults to DefaultTopN.
	TopN int
}

// DefaultTopN is the default of StatsQuery.TopN.
const DefaultTopN = 5

// Normalize returns q with its defaults applied (TopN). Stores call it first, so every store applies the same
// defaults.
func (q StatsQuery) Normalize() StatsQuery {
	if q.TopN <= 0 {
		q.TopN = DefaultTopN
	}
	return q
}

// ValueCount is a value and how many events carry it.
type ValueCount struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Stats summarises stored events (Store.Stats, served as GET /api/v1/metrics); it is not a Status, the outcome of
// one ingested event. Windows are measured on ReceivedAt, because offline clients send old timestamps.
type Stats struct {
	TotalEvents int64 `json:"total_logs"`
	// LastHour and LastDay count events received in (Now-1h, Now] and (Now-24h, Now].
	LastHour int64 `json:"last_hour"`
	LastDay  int64 `json:"last_day"`
	// AverageLatencyMs is the mean of properties.duration_ms over the events received in the last hour
	// (Now-1h, Now] whose duration_ms is a JSON number from 0 to MaxDurationMs; 0 when there are none.
	// Events without one (or with a string, a boolean, a negative number, …) do not count.
	AverageLatencyMs float64 `json:"average_latency_ms"`
	// ErrorRatePercent is the number of events of type "error" received in the last hour, as a percentage
	// (0..100) of all events received in the last hour; 0 when there are none.
	ErrorRatePercent float64 `json:"error_rate_percent"`
	// ActiveSessions counts the distinct non-empty session ids among events received in the last 30 minutes
	// (Now-30m, Now], as the original service did.
	ActiveSessions int64 `json:"active_sessions"`
	// ActiveUsers counts the distinct non-empty user ids among events received in the last day (Now-24h, Now].
	ActiveUsers int64 `json:"active_users"`
	// TopEventTypes and TopEventNames count events received in the last day, ordered by count descending, then
	// value ascending, at most StatsQuery.TopN entries each; never nil.
	TopEventTypes []ValueCount `json:"top_event_types"`
	TopEventNames []ValueCount `json:"top_event_names"`
}

// Stats windows, relative to StatsQuery.Now and measured on ReceivedAt.
const (
	// ActiveSessionWindow is the window of Stats.ActiveSessions.
	ActiveSessionWindow = 30 * time.Minute
	// MaxDurationMs bounds the properties.duration_ms values that Stats.AverageLatencyMs averages: larger
	// (and negative) values are ignored, so that one absurd value cannot overflow or dominate the mean.
	MaxDurationMs = 1e12
)
