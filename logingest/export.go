package logingest

import "context"

// Exporter is an optional Store interface for exports (GET /api/v1/logs/export): it streams every event
// matching a filter, in constant memory however many there are, with less work per event than paging through
// Query. The HTTP API uses it when the store implements it, and pages through Query otherwise. The conformance
// suite (storetest) checks every sentence of this contract.
type Exporter interface {
	// Export calls fn once for each event matching f, in the order in which paging through Query with f
	// (from f.After when set, else from the start) would return them: ordered by f.SortBy and f.SortOrder,
	// ties broken by ID. f.Limit, f.Offset and f.SkipTotal are ignored. Each event is as Query returns it (ID,
	// ProcessedAt, UTC times, and sanitised as SanitizeStored makes it, the change logged with LogSanitized).
	// An invalid f returns Normalize's error, and a malformed f.After an error matching ErrInvalid, before fn
	// is called.
	//
	// The event passed to fn, and everything it references (strings, Properties, DeviceInfo,
	// SequenceNumber), are only valid until fn returns: fn must neither keep nor modify them, so that the store
	// can reuse its memory.
	//
	// When fn returns an error, Export stops and returns an error matching it (errors.Is). When ctx is done,
	// Export stops and returns an error wrapping ctx.Err(). Any error after fn was called means the events
	// delivered so far are not all the matching events.
	//
	// Export holds no snapshot, transaction or lock for the whole export and none while fn runs: it reads in
	// bounded chunks of events, each read by a short statement of its own, so that a slow reader holds back
	// neither writers nor the store's upkeep, and its memory stays bounded by a few chunks. So an event
	// appended or deleted while an export runs may or may not be delivered; no event is delivered twice.
	Export(ctx context.Context, f Filter, fn func(e *Event) error) error
}
