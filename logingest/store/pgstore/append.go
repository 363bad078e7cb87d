package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/change66/logserver/logingest"
)

// appendSQL stores a batch in one statement. The batch arrives as one array per column; WITH ORDINALITY keeps
// each event's position. first keeps the first occurrence of each key in the batch; new_ids inserts those keys
// (sorted by key, so concurrent batches lock index entries in the same order and cannot deadlock) and returns
// only the ones that were not stored yet; ins stores exactly those events, in slice order so that ids follow
// insertion order. The result is the positions (1-based) of the inserted events; every other one is a duplicate.
//
//nolint:unqueryvet // every * is over the CTEs above, whose columns are the unnest's own column list (t(...))
const appendSQL = `
WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::text[], $13::timestamptz[])
		WITH ORDINALITY AS t(source, event_id, ts, event_type, event_name, properties,
			user_id, session_id, app_version, device_info, sequence_number, priority, received_at, ord)
), first AS (
	SELECT DISTINCT ON (source, event_id) * FROM input ORDER BY source, event_id, ord
), new_ids AS (
	INSERT INTO analytics_event_ids AS e (source, event_id, received_at)
	SELECT source, event_id, received_at FROM first ORDER BY source, event_id
	ON CONFLICT DO NOTHING
	RETURNING e.source, e.event_id
), new_rows AS (
	SELECT f.* FROM first f JOIN new_ids n ON n.source = f.source AND n.event_id = f.event_id
), ins AS (
	INSERT INTO analytics_logs (source, event_id, timestamp, event_type, event_name, properties, user_id,
		session_id, app_version, device_info, sequence_number, priority, received_at)
	SELECT source, event_id, ts, event_type, event_name, properties::jsonb, NULLIF(user_id, ''),
		NULLIF(session_id, ''), NULLIF(app_version, ''), device_info::jsonb, sequence_number, priority, received_at
	FROM new_rows ORDER BY ord
)
SELECT ord FROM new_rows`

// Append implements logingest.Store. The whole batch is one SQL statement, hence one round trip and atomic.
// Timestamps are stored with microsecond precision. Empty UserID, SessionID and AppVersion are stored as NULL
// and read back as "". It returns an error matching logingest.ErrClosed after Close.
func (s *Store) Append(ctx context.Context, events []logingest.Event) ([]logingest.AppendStatus, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	n := len(events)
	var (
		sources     = make([]string, n)
		eventIDs    = make([]string, n)
		timestamps  = make([]time.Time, n)
		types       = make([]string, n)
		names       = make([]string, n)
		props       = make([]*string, n)
		users       = make([]string, n)
		sessions    = make([]string, n)
		versions    = make([]string, n)
		devices     = make([]*string, n)
		seqs        = make([]int64, n)
		priorities  = make([]string, n)
		receivedAts = make([]time.Time, n)
	)
	for i := range events {
		e := &events[i]
		sources[i] = e.Source
		eventIDs[i] = e.EventID
		timestamps[i] = e.Timestamp
		types[i] = string(e.EventType)
		names[i] = e.EventName
		props[i] = rawJSON(e.Properties)
		users[i] = e.UserID
		sessions[i] = e.SessionID
		versions[i] = e.AppVersion
		devices[i] = rawJSON(e.DeviceInfo)
		seqs[i] = e.SequenceNumber
		priorities[i] = string(e.Priority)
		receivedAts[i] = e.ReceivedAt
	}

	rows, err := s.pool.Query(ctx, appendSQL, sources, eventIDs, timestamps, types, names, props, users, sessions,
		versions, devices, seqs, priorities, receivedAts)
	if err != nil {
		return nil, fmt.Errorf("append: %w", withCtx(ctx, mapErr(err)))
	}
	defer rows.Close()
	out := make([]logingest.AppendStatus, n)
	for i := range out {
		out[i] = logingest.AppendDuplicate
	}
	for rows.Next() {
		var ord int64
		if err := rows.Scan(&ord); err != nil {
			return nil, fmt.Errorf("append: scan: %w", err)
		}
		out[ord-1] = logingest.AppendInserted
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("append: %w", withCtx(ctx, mapErr(err)))
	}
	return out, nil
}

// rawJSON returns nil for an absent JSON value, so it is stored as NULL.
func rawJSON(b []byte) *string {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	s := string(b)
	return &s
}
