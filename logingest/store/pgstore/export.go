package pgstore

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

// exportChunkRows is how many events one statement of Export reads. A chunk is read whole, and its statement
// ends, before any of its events is handed out: the statement's locks and snapshot last as long as reading
// 1,000 rows (milliseconds), however slowly the caller consumes them, so partition upkeep (ATTACH, whose lock
// waits are bounded by strongLockTimeout and retried) gets its turn between two chunks.
const exportChunkRows = 1000

// exportTexts are the byte columns of a chunk row, in the order of selectColumns.
const (
	xSource = iota
	xEventID
	xEventType
	xEventName
	xProperties
	xUserID
	xSessionID
	xAppVersion
	xDeviceInfo
	xPriority
	exportTexts
)

// exportRow is one row of a chunk as read: fixed-size values, and the end offsets of its byte columns in the
// chunk's arena (each starts where the previous one ends; the first where the previous row's last one ended).
// It holds no pointer, so a chunk costs the garbage collector nothing to scan.
type exportRow struct {
	id                            int64
	seq                           pgtype.Int8
	ts, recv, processed, original pgtype.Timestamptz
	end                           [exportTexts]uint32
	nullProps, nullDevice         bool
}

// exportChunk is a chunk of rows and the bytes of their text and JSON columns, or the error that ended the
// reading.
type exportChunk struct {
	rows  []exportRow
	arena []byte
	err   error
}

// Export implements logingest.Exporter. It reads chunks of exportChunkRows events by keyset on (sort
// column, id), each with one short statement of its own (no transaction), one chunk ahead of fn
// (storequery.ReadAhead: at most three chunks are held). Events are sanitised as Query sanitises
// them. It returns an error matching logingest.ErrClosed after Close.
func (s *Store) Export(ctx context.Context, f logingest.Filter, fn func(e *logingest.Event) error) error {
	f.Limit, f.Offset, f.SkipTotal = 0, 0, true
	f, err := f.Normalize()
	if err != nil {
		return err
	}
	if err := s.checkOpen(); err != nil {
		return err
	}
	if _, err := storequery.After(f); err != nil {
		return err
	}
	var (
		e   logingest.Event
		seq int64
	)
	use := func(c *exportChunk) error {
		text := string(c.arena) // one copy per chunk: the events' strings are substrings of it
		start := uint32(0)
		for i := range c.rows {
			r := &c.rows[i]
			bad := decodeExportRow(&e, &seq, r, start, text, c.arena, nil)
			start = r.end[exportTexts-1]
			if len(bad) > 0 || !servableJSONB(&e) {
				s.sanitize(ctx, &e, r.id, bad)
			}
			if err := fn(&e); err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
		return nil
	}
	return storequery.ReadAhead(ctx, newExportChunk, func(ctx context.Context, c *exportChunk) (bool, error) {
		s.exportReadChunk(ctx, f, c)
		if c.err != nil || len(c.rows) < exportChunkRows {
			return false, c.err
		}
		f.After = nextExportCursor(f, c)
		return true, nil
	}, use)
}

func newExportChunk() *exportChunk {
	return &exportChunk{rows: make([]exportRow, 0, exportChunkRows), arena: make([]byte, 0, 256<<10)}
}

// nextExportCursor is the cursor after the last row of the full chunk c, as Query's NextCursor would be: it
// holds the stored sort value (before sanitising).
func nextExportCursor(f logingest.Filter, c *exportChunk) string {
	var e logingest.Event
	var seq int64
	last := &c.rows[len(c.rows)-1]
	start := c.rows[len(c.rows)-2].end[exportTexts-1] // exportChunkRows > 1
	decodeExportRow(&e, &seq, last, start, string(c.arena[start:last.end[exportTexts-1]]), c.arena, nil)
	cur := storequery.At(&e, last.id, f.SortBy)
	cur.Order = f.SortOrder
	return cur.Encode()
}

// exportReadChunk reads the next exportChunkRows events of f (from f.After) with one statement, whole, into c
// (emptied first), or sets c.err.
func (s *Store) exportReadChunk(ctx context.Context, f logingest.Filter, c *exportChunk) {
	c.rows, c.arena, c.err = c.rows[:0], c.arena[:0], nil
	f.Limit = exportChunkRows - 1 // buildPageSQL reads Limit+1 rows
	q, args, _, _, err := buildPageSQL(f)
	if err != nil {
		c.err = err
		return
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		c.err = fmt.Errorf("export: %w", withCtx(ctx, mapErr(err)))
		return
	}
	var b [exportTexts]pgtype.DriverBytes // only valid until the next row: copied into the arena
	for rows.Next() {
		var r exportRow
		if err := rows.Scan(&r.id, &b[xSource], &b[xEventID], &r.ts, &b[xEventType], &b[xEventName], &b[xProperties],
			&b[xUserID], &b[xSessionID], &b[xAppVersion], &b[xDeviceInfo], &r.seq, &b[xPriority], &r.recv,
			&r.processed, &r.original); err != nil {
			rows.Close()
			c.err = fmt.Errorf("export: scan: %w", err)
			return
		}
		for k := range b {
			c.arena = append(c.arena, b[k]...)
			r.end[k] = uint32(len(c.arena)) //nolint:gosec // a chunk of 1,000 rows stays far below 4 GiB (1 GiB per value at most)
		}
		r.nullProps, r.nullDevice = b[xProperties] == nil, b[xDeviceInfo] == nil
		c.rows = append(c.rows, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		c.err = fmt.Errorf("export: %w", withCtx(ctx, mapErr(err)))
	}
}

// decodeExportRow sets e to row r, whose byte columns start at offset start of the chunk: strings from text
// (the chunk's arena as a string, or the part of it from start), JSON from arena. It returns the stored
// values that could not be read (as Query's readTime reports them).
func decodeExportRow(e *logingest.Event, seq *int64, r *exportRow, start uint32, text string, arena []byte,
	bad []logingest.FieldError,
) []logingest.FieldError {
	off := uint32(0)
	if len(text) != len(arena) { // text is the row alone
		off = start
	}
	str := func(k int) string {
		from := start
		if k > 0 {
			from = r.end[k-1]
		}
		return text[from-off : r.end[k]-off]
	}
	raw := func(k int, null bool) []byte {
		if null {
			return nil
		}
		return arena[r.end[k-1]:r.end[k]:r.end[k]]
	}
	*e = logingest.Event{
		ID: r.id, Source: str(xSource), EventID: str(xEventID), EventType: logingest.EventType(str(xEventType)),
		EventName: str(xEventName), Properties: raw(xProperties, r.nullProps), UserID: str(xUserID),
		SessionID: str(xSessionID), AppVersion: str(xAppVersion), DeviceInfo: raw(xDeviceInfo, r.nullDevice),
		Priority: logingest.Priority(str(xPriority)),
	}
	if r.seq.Valid {
		*seq = r.seq.Int64
		e.SequenceNumber = seq
	}
	e.Timestamp, bad = readTime(r.ts, "timestamp", bad)
	e.ReceivedAt, bad = readTime(r.recv, "received_at", bad)
	e.ProcessedAt, bad = readNullTime(r.processed, "processed_at", bad)
	e.OriginalTimestamp, bad = readNullTime(r.original, "original_timestamp", bad)
	return bad
}

// servableJSONB reports, without parsing JSON, whether logingest.SanitizeStored would leave e unchanged, for an
// event read from PostgreSQL: its times within logingest.MinYear..MaxYear, its strings valid UTF-8, and its
// Properties and DeviceInfo absent or valid UTF-8 starting with '{'. The last suffices because PostgreSQL
// prints jsonb as valid JSON, so that starting with '{' makes it an object. Export calls SanitizeStored only
// for the events this refuses. The string fields are those of Event (SanitizeStored finds them by reflection;
// TestExportMatchesQuery covers each).
func servableJSONB(e *logingest.Event) bool {
	for _, t := range [...]time.Time{e.Timestamp, e.ReceivedAt, e.ProcessedAt, e.OriginalTimestamp} {
		if y := t.Year(); !t.IsZero() && (y < logingest.MinYear || y > logingest.MaxYear) {
			return false
		}
	}
	for _, s := range [...]string{
		e.EventID, string(e.EventType), e.EventName, e.UserID, e.SessionID, e.AppVersion,
		string(e.Priority), e.Source,
	} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	for _, o := range [...][]byte{e.Properties, e.DeviceInfo} {
		if len(o) > 0 && (o[0] != '{' || !utf8.Valid(o)) {
			return false
		}
	}
	return true
}
