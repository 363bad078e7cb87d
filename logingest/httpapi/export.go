package httpapi

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/change66/logserver/logingest"
)

// exportWriteTimeout bounds the write of one page of an export: a client that reads nothing for that long
// is dropped, however long the whole export takes.
const exportWriteTimeout = 60 * time.Second

// Export formats.
const (
	formatNDJSON = "ndjson"
	formatCSV    = "csv"
)

// exportColumns are the CSV columns, in order; properties and device_info are JSON text.
var exportColumns = []string{
	"id", "event_id", "timestamp", "received_at", "event_type", "event_name", "user_id", "session_id", "app_version",
	"priority", "sequence_number", "source", "properties", "device_info",
}

// handleExport answers GET /api/v1/logs/export?format=ndjson|csv and the filters (and sort_by, sort_order) of
// /logs/filter. It streams every matching event, page by page with the store's keyset cursor, so memory stays
// constant however many rows there are. An error after the first page aborts the response (the client sees
// a truncated transfer, never a silently short file).
func (h *Handler) handleExport(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	p, _ := logingest.FromContext(r.Context())
	format := strings.ToLower(strings.TrimSpace(q.Get("format")))
	var errs paramErrors
	switch format {
	case "":
		format = formatNDJSON
	case formatNDJSON, formatCSV:
	default:
		errs.add("format", "must be ndjson or csv")
	}
	q.Del("page")
	q.Del("page_size")
	q.Del("cursor")
	f, _, err := parseFilter(q, sourceOf(p))
	if ve := asValidation(err); ve != nil {
		for _, fe := range ve.Errors {
			errs.add(fe.Field, fe.Reason)
		}
	} else if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := errs.err(); err != nil {
		h.writeError(w, r, err)
		return
	}
	f.Limit, f.Offset, f.SkipTotal = logingest.MaxQueryLimit, 0, true

	page, err := h.store.Query(r.Context(), f)
	if err != nil {
		h.writeError(w, r, storeError("export", err))
		return
	}
	name := fmt.Sprintf("logs-%s-%s.%s", safeFileName(f.Source), h.cfg.Now().UTC().Format("20060102T150405Z"), format)
	hdr := w.Header()
	if format == formatCSV {
		hdr.Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		hdr.Set("Content-Type", "application/x-ndjson")
	}
	hdr.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)

	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 64<<10)
	var cw *csv.Writer
	if format == formatCSV {
		cw = csv.NewWriter(bw)
		_ = cw.Write(exportColumns)
	}
	// The next page is read while this one is written (at most two pages in memory): the store's work and
	// the encoding overlap.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	type fetched struct {
		page *logingest.Page
		err  error
	}
	next := make(chan fetched, 1) // buffered: a fetch never blocks, even when the export stops early
	rows := 0
	var buf []byte // one NDJSON line, reused
	for {
		pending := page.NextCursor != ""
		if pending {
			nf := f
			nf.After = page.NextCursor
			go func() {
				p, err := h.store.Query(ctx, nf)
				next <- fetched{p, err}
			}()
		}
		_ = rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
		for i := range page.Events {
			e := &page.Events[i]
			if cw != nil {
				err = cw.Write(csvRecord(e))
			} else {
				buf, err = appendLogJSON(buf[:0], e)
				if err == nil {
					buf = append(buf, '\n')
					_, err = bw.Write(buf)
				}
			}
			if err != nil {
				break
			}
		}
		if cw != nil {
			cw.Flush()
			if err == nil {
				err = cw.Error()
			}
		}
		if err == nil {
			err = bw.Flush()
		}
		if err == nil {
			_ = rc.Flush()
		}
		rows += len(page.Events)
		if err != nil || !pending {
			break
		}
		got := <-next
		if page, err = got.page, got.err; err != nil {
			break
		}
	}
	if err != nil {
		h.requestLogger(r).WarnContext(r.Context(), "export aborted", "rows", rows, "error", err)
		panic(http.ErrAbortHandler) // the status is sent: break the transfer so the file is not taken as whole
	}
}

// csvRecord is e as exportColumns (sequence_number empty when absent). Free-text cells that a spreadsheet
// would run as a formula (starting with = + - @, tab or carriage return) are prefixed with an apostrophe: the
// ingest key is public, so an event can carry anything.
func csvRecord(e *logingest.Event) []string {
	seq := "" // absent
	if e.SequenceNumber != nil {
		seq = strconv.FormatInt(*e.SequenceNumber, 10)
	}
	return []string{
		strconv.FormatInt(e.ID, 10), csvText(e.EventID), e.Timestamp.UTC().Format(time.RFC3339Nano), e.ReceivedAt.UTC().Format(time.RFC3339Nano),
		csvText(string(e.EventType)), csvText(e.EventName), csvText(e.UserID), csvText(e.SessionID),
		csvText(e.AppVersion), csvText(string(e.Priority)), seq,
		csvText(e.Source), csvText(string(e.Properties)), csvText(string(e.DeviceInfo)),
	}
}

func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// safeFileName keeps letters, digits, '-', '_' and '.' of s (a source name) for a Content-Disposition
// filename.
func safeFileName(s string) string {
	out := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}
