package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/change66/logserver/internal/storequery"
	"github.com/change66/logserver/logingest"
)

// exportChunkRows is how many events one statement of Export reads. A chunk is read whole, and its statement
// (a read transaction of its own) ends, before any of its events is handed out: however slowly the caller
// consumes them, no read transaction stays open long enough to hold back WAL checkpoints.
const exportChunkRows = 1000

// The byte columns of a chunk row, in the order of selectColumns.
const (
	xSource = iota
	xEventID
	xTimestamp
	xEventType
	xEventName
	xProperties
	xUserID
	xSessionID
	xAppVersion
	xDeviceInfo
	xPriority
	xReceivedAt
	xProcessedAt
	xOriginal
	exportTexts
)

// exportRow is one row of a chunk as read: its id and sequence number, and the end offsets of its byte
// columns in the chunk's arena (each starts where the previous one ends; the first where the previous row's
// last one ended). It holds no pointer, so a chunk costs the garbage collector nothing to scan.
type exportRow struct {
	id   int64
	seq  sql.NullInt64
	end  [exportTexts]uint32
	null [exportTexts]bool
}

// exportChunk is a chunk of rows and the bytes of their columns, or the error that ended the reading.
type exportChunk struct {
	rows  []exportRow
	arena []byte
	err   error
}

// Export implements logingest.Exporter. Without a search it reads chunks of exportChunkRows events by keyset on
// (sort column, id), each with one statement of its own, one chunk ahead of fn (at most three chunks held);
// with a search it pages through Query (which picks the search's plan), one page at a time. Events are
// sanitised as Query sanitises them. It returns an error matching logingest.ErrClosed after Close.
func (s *Store) Export(ctx context.Context, f logingest.Filter, fn func(e *logingest.Event) error) error {
	f.Limit, f.Offset, f.SkipTotal = 0, 0, true
	f, err := f.Normalize()
	if err != nil {
		return err
	}
	if _, err := storequery.After(f); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if f.Search != "" {
		return s.exportPages(ctx, f, fn)
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
			bad := decodeExportRow(&e, &seq, r, start, text, c.arena)
			start = r.end[exportTexts-1]
			logingest.LogSanitized(ctx, s.logger, &e, r.id, slices.Concat(bad, logingest.SanitizeStored(&e)))
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
	decodeExportRow(&e, &seq, last, start, string(c.arena[start:last.end[exportTexts-1]]), c.arena)
	cur := storequery.At(&e, last.id, f.SortBy)
	cur.Order = f.SortOrder
	return cur.Encode()
}

// exportPages is Export by paging through Query, for searches.
func (s *Store) exportPages(ctx context.Context, f logingest.Filter, fn func(e *logingest.Event) error) error {
	f.Limit = logingest.MaxQueryLimit
	for {
		p, err := s.Query(ctx, f)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		for i := range p.Events {
			if err := fn(&p.Events[i]); err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
		if p.NextCursor == "" {
			return nil
		}
		f.After = p.NextCursor
	}
}

// exportReadChunk reads the next exportChunkRows events of f (no search; from f.After) with one statement,
// whole, into c (emptied first), or sets c.err.
func (s *Store) exportReadChunk(ctx context.Context, f logingest.Filter, c *exportChunk) {
	c.rows, c.arena, c.err = c.rows[:0], c.arena[:0], nil
	fail := func(err error) { c.err = fmt.Errorf("export: %w", s.mapErr(ctx, err)) }
	after, err := storequery.After(f)
	if err != nil {
		c.err = err
		return
	}
	where, args := filterWhere(f)
	where, args, order := keyset(where, args, sortColumns[f.SortBy], f.SortOrder, after)
	//nolint:gosec // G202: where is built by filterWhere from fixed conditions with ? placeholders; the column comes from sortColumns
	q := "SELECT " + selectColumns + " FROM analytics_logs" + where + order + fmt.Sprintf(" LIMIT %d", exportChunkRows)

	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		fail(err)
		return
	}
	defer func() { _ = rows.Close() }()
	var b [exportTexts]sql.RawBytes // only valid until the next row: copied into the arena
	for rows.Next() {
		var r exportRow
		if err := rows.Scan(&r.id, &b[xSource], &b[xEventID], &b[xTimestamp], &b[xEventType], &b[xEventName],
			&b[xProperties], &b[xUserID], &b[xSessionID], &b[xAppVersion], &b[xDeviceInfo], &r.seq, &b[xPriority],
			&b[xReceivedAt], &b[xProcessedAt], &b[xOriginal]); err != nil {
			fail(fmt.Errorf("scan: %w", err))
			return
		}
		for k := range b {
			c.arena = append(c.arena, b[k]...)
			r.end[k] = uint32(len(c.arena)) //nolint:gosec // a chunk of 1,000 rows stays far below 4 GiB (1 GiB per value at most)
			r.null[k] = b[k] == nil
		}
		c.rows = append(c.rows, r)
	}
	if err := rows.Err(); err != nil {
		fail(err)
	}
}

// decodeExportRow sets e to row r, whose byte columns start at offset start of the chunk: strings from text
// (the chunk's arena as a string, or the part of it from start), JSON from arena. It returns the stored
// values that could not be read (as Query's readTime reports them).
func decodeExportRow(e *logingest.Event, seq *int64, r *exportRow, start uint32, text string, arena []byte) []logingest.FieldError {
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
	raw := func(k int) []byte {
		if r.null[k] {
			return nil
		}
		return arena[r.end[k-1]:r.end[k]:r.end[k]]
	}
	*e = logingest.Event{
		ID: r.id, Source: str(xSource), EventID: str(xEventID), EventType: logingest.EventType(str(xEventType)),
		EventName: str(xEventName), Properties: raw(xProperties), UserID: str(xUserID), SessionID: str(xSessionID),
		AppVersion: str(xAppVersion), DeviceInfo: raw(xDeviceInfo), Priority: logingest.Priority(str(xPriority)),
	}
	if r.seq.Valid {
		*seq = r.seq.Int64
		e.SequenceNumber = seq
	}
	var bad []logingest.FieldError
	e.Timestamp, bad = readTime(str(xTimestamp), "timestamp", bad)
	e.ReceivedAt, bad = readTime(str(xReceivedAt), "received_at", bad)
	e.ProcessedAt, bad = readNullTime(sql.NullString{String: str(xProcessedAt), Valid: !r.null[xProcessedAt]}, "processed_at", bad)
	e.OriginalTimestamp, bad = readNullTime(sql.NullString{String: str(xOriginal), Valid: !r.null[xOriginal]}, "original_timestamp", bad)
	return bad
}
