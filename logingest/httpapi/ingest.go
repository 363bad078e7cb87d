package httpapi

import (
	"fmt"
	"net/http"

	"github.com/change66/logserver/logingest"
)

// The ingest handlers. body.go reads a body under the in-flight memory budget; decode.go turns it into events
// under the batch and event limits. Every byte a request holds (body buffer, then decoded events) is reserved
// from the budget before it is allocated and given back when the request ends.

func (h *Handler) handleIngest(w http.ResponseWriter, r *http.Request) {
	adm, err := h.admit(1)
	if err != nil {
		h.writeError(w, r, fmt.Errorf("ingest: %w", err))
		return
	}
	defer adm.release()
	rv := h.newReservation(r)
	defer rv.release()
	body, err := h.readBody(w, r, rv)
	if err != nil {
		h.writeError(w, r, adm.scheduled(err))
		return
	}
	if limit := h.cfg.MaxEventBytes; int64(len(body)) > limit {
		h.writeError(w, r, &logingest.LimitError{Field: fieldEvent, Limit: limit, Unit: unitBytes, TooLarge: true})
		return
	}
	if err := adm.reserve(r.Context(), 1); err != nil {
		h.writeError(w, r, fmt.Errorf("ingest: %w", err))
		return
	}
	estimate := decodeCost(len(body), 1)
	if err := rv.grow(estimate); err != nil {
		h.writeError(w, r, adm.scheduled(err))
		return
	}
	ev, errs := decodeEvent(body)
	if errs != nil {
		// Only now tell a malformed body (whole-request error) from an invalid event: the decode above already
		// validated the JSON, so the common path scans the body once.
		if err := checkJSON(body); err != nil {
			h.writeError(w, r, err)
			return
		}
		h.writeError(w, r, &logingest.ValidationError{Errors: errs})
		return
	}
	events := []logingest.Event{ev}
	if err := h.settle(rv, estimate, events, body); err != nil {
		h.writeError(w, r, adm.scheduled(err))
		return
	}
	if err := h.chargeEvents(w, r, 1); err != nil {
		h.writeError(w, r, err)
		return
	}
	p, _ := logingest.FromContext(r.Context())
	res, err := adm.ingest(r.Context(), sourceOf(p), events)
	if err != nil {
		h.writeError(w, r, fmt.Errorf("ingest: %w", err))
		return
	}
	if len(res.Results) != 1 {
		h.writeError(w, r, fmt.Errorf("ingest: ingester returned %d results for 1 event", len(res.Results)))
		return
	}
	out := res.Results[0]
	switch out.Status {
	case logingest.StatusAccepted:
		h.writeIngestOK(w, r, "event accepted", toIngestData(out))
	case logingest.StatusDuplicate:
		h.writeIngestOK(w, r, "event already stored", toIngestData(out))
	default:
		h.writeError(w, r, &logingest.ValidationError{Errors: out.Errors})
	}
}

func (h *Handler) handleBatchIngest(w http.ResponseWriter, r *http.Request) {
	lim := h.batchLimits()
	adm, err := h.admit(estimateEvents(r, lim.maxEvents))
	if err != nil {
		h.writeError(w, r, fmt.Errorf("ingest batch: %w", err))
		return
	}
	defer adm.release()
	rv := h.newReservation(r)
	defer rv.release()
	body, err := h.readBody(w, r, rv)
	if err != nil {
		h.writeError(w, r, adm.scheduled(err))
		return
	}
	env, err := walkEnvelope(body, lim)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := adm.reserve(r.Context(), len(env.logs)); err != nil {
		h.writeError(w, r, fmt.Errorf("ingest batch: %w", err))
		return
	}
	estimate := decodeCost(len(env.array), len(env.logs))
	if err := rv.grow(estimate); err != nil {
		h.writeError(w, r, adm.scheduled(err))
		return
	}
	b := decodeBatch(env, lim)
	if err := h.settle(rv, estimate, b.events, body); err != nil {
		h.writeError(w, r, adm.scheduled(err))
		return
	}
	if err := h.chargeEvents(w, r, len(b.results)); err != nil {
		h.writeError(w, r, err)
		return
	}
	results, events, positions := b.results, b.events, b.positions
	if len(events) > 0 {
		p, _ := logingest.FromContext(r.Context())
		res, err := adm.ingest(r.Context(), sourceOf(p), events)
		if err != nil {
			h.writeError(w, r, fmt.Errorf("ingest batch: %w", err))
			return
		}
		if len(res.Results) != len(events) {
			h.writeError(w, r, fmt.Errorf("ingest batch: ingester returned %d results for %d events", len(res.Results), len(events)))
			return
		}
		for j, out := range res.Results {
			out.Index = positions[j]
			results[positions[j]] = out
		}
	}
	data := toBatchData(results)
	msg := fmt.Sprintf("batch processed: %d accepted, %d duplicates, %d rejected", data.Accepted, data.Duplicates, data.Rejected)
	h.writeOK(w, r, http.StatusCreated, msg, data)
}

// batchLimits returns the limits batch decoding runs under: the Ingester's MaxBatchSize (fallbackMaxEvents
// when it does not report one) and Config.MaxEventBytes.
func (h *Handler) batchLimits() batchLimits {
	lim := batchLimits{maxEvents: fallbackMaxEvents, maxEventBytes: h.cfg.MaxEventBytes}
	if bs, ok := h.ing.(batchSizer); ok && bs.MaxBatchSize() > 0 {
		lim.maxEvents = bs.MaxBatchSize()
	}
	return lim
}

// settle turns the reservation of a decode's estimated cost into its measured one, and gives back the body's
// buffer, which the caller no longer uses once its events are decoded (they copy what they keep). It fails only
// when the decoded events need more than was estimated and the budget cannot hold the difference.
func (h *Handler) settle(rv *reservation, estimate int64, events []logingest.Event, body []byte) error {
	actual := decodedSize(events)
	if actual > estimate {
		if err := rv.grow(actual - estimate); err != nil {
			return err
		}
	} else {
		rv.shrink(estimate - actual)
	}
	rv.shrink(int64(cap(body)))
	return nil
}
