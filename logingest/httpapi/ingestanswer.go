package httpapi

import (
	"net/http"
	"strconv"
)

// jsonContentType is the Content-Type of every JSON answer, shared (see securityHeaders for why that is safe).
var jsonContentType = []string{"application/json; charset=utf-8"}

// writeIngestOK writes the 201 answer of a single-event ingest: what writeOK writes for data, byte for byte,
// without reflection, since it is written once per event that the app sends alone.
func (h *Handler) writeIngestOK(w http.ResponseWriter, r *http.Request, msg string, data ingestData) {
	body := appendIngestAnswer(make([]byte, 0, 192), msg, data, requestIDFrom(r.Context()))
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(body)
}

// appendIngestAnswer appends the JSON of envelope{Success: true, Message: msg, Data: d, RequestID: requestID}
// and a newline, as writeJSON writes it.
func appendIngestAnswer(dst []byte, msg string, d ingestData, requestID string) []byte {
	dst = append(dst, `{"success":true,"message":`...)
	dst = appendJSONString(dst, msg)
	dst = append(dst, `,"data":{"event_id":`...)
	dst = appendJSONString(dst, d.EventID)
	dst = append(dst, `,"id":`...)
	dst = strconv.AppendInt(dst, d.ID, 10)
	dst = append(dst, `,"status":`...)
	dst = appendJSONString(dst, string(d.Status))
	dst = append(dst, '}')
	if requestID != "" {
		dst = append(dst, `,"request_id":`...)
		dst = appendJSONString(dst, requestID)
	}
	return append(dst, "}\n"...)
}
