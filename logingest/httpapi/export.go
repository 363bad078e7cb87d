package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
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
	if ex, ok := h.store.(logingest.Exporter); ok {
		h.exportStream(w, r, ex, f, format)
		return
	}
	h.exportPages(w, r, f, format)
}

// exportHeaders sets the headers of an export of f in format and sends the status 200.
func (h *Handler) exportHeaders(w http.ResponseWriter, f logingest.Filter, format string) {
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
}

// exportFlushRows is how many events are written between two flushes to the client; each flush gets
// exportWriteTimeout.
const exportFlushRows = logingest.MaxQueryLimit

// exportEncoder writes the events of an export as NDJSON lines or CSV records, through a buffer of 64 KiB.
type exportEncoder struct {
	bw  *bufio.Writer
	csv bool
	buf []byte // one line or record, reused
}

func newExportEncoder(w http.ResponseWriter, format string) *exportEncoder {
	x := &exportEncoder{bw: bufio.NewWriterSize(w, 64<<10), csv: format == formatCSV}
	if x.csv {
		x.buf = appendCSVHeader(x.buf[:0])
		_, _ = x.bw.Write(x.buf)
	}
	return x
}

// write writes e.
func (x *exportEncoder) write(e *logingest.Event) error {
	var err error
	if x.csv {
		x.buf = appendCSVRecord(x.buf[:0], e)
	} else {
		x.buf, err = appendLogJSON(x.buf[:0], e)
		x.buf = append(x.buf, '\n')
	}
	if err != nil {
		return err
	}
	_, err = x.bw.Write(x.buf)
	return err
}

// exportStream is the export through the store's logingest.Exporter: the store reads in chunks, ahead of the
// writing, and hands out each event once, reusing its memory. The status is sent with the first event (or at
// the end), so that an error before it (a malformed cursor, the store unavailable) is answered as an error.
// Every exportFlushRows events the buffer is flushed to the client, which gets exportWriteTimeout for it.
func (h *Handler) exportStream(w http.ResponseWriter, r *http.Request, ex logingest.Exporter, f logingest.Filter, format string) {
	rc := http.NewResponseController(w)
	var x *exportEncoder
	rows := 0
	flush := func() error {
		if err := x.bw.Flush(); err != nil {
			return err
		}
		_ = rc.Flush()
		_ = rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
		return nil
	}
	start := func() {
		h.exportHeaders(w, f, format)
		_ = rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
		x = newExportEncoder(w, format)
	}
	err := ex.Export(r.Context(), f, func(e *logingest.Event) error {
		if x == nil {
			start()
		}
		if err := x.write(e); err != nil {
			return err
		}
		if rows++; rows%exportFlushRows == 0 {
			return flush()
		}
		return nil
	})
	if err != nil && x == nil {
		h.writeError(w, r, storeError("export", err))
		return
	}
	if x == nil {
		start()
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		h.requestLogger(r).WarnContext(r.Context(), "export aborted", "rows", rows, "error", err)
		panic(http.ErrAbortHandler) // the status is sent: break the transfer so the file is not taken as whole
	}
}

// exportPages is the export of a store that is not a logingest.Exporter: page by page with the store's keyset
// cursor, the next page read while this one is written (at most two pages in memory).
func (h *Handler) exportPages(w http.ResponseWriter, r *http.Request, f logingest.Filter, format string) {
	page, err := h.store.Query(r.Context(), f)
	if err != nil {
		h.writeError(w, r, storeError("export", err))
		return
	}
	h.exportHeaders(w, f, format)
	rc := http.NewResponseController(w)
	x := newExportEncoder(w, format)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	type fetched struct {
		page *logingest.Page
		err  error
	}
	next := make(chan fetched, 1) // buffered: a fetch never blocks, even when the export stops early
	rows := 0
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
			if err = x.write(&page.Events[i]); err != nil {
				break
			}
		}
		if err == nil {
			err = x.bw.Flush()
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
