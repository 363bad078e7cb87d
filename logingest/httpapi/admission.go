package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/change66/logserver/logingest"
)

// Early admission of ingest requests. Before a body is read, the handler asks the Backend whether a request of
// the size its Content-Length suggests can be taken now (Admit, a check that holds nothing): a request that
// cannot is refused before its body is read or decoded (net/http then discards a short unread body, or closes
// the connection after the answer when more than 256 KiB are left or the client asked for 100-continue, so the
// body is never sent). Once the body is in hand and its events are counted, and before they are decoded, a Backend that reserves room
// (*logingest.Ingester's Reserve, with its short waiting room) holds it until the request is ingested, so
// admitted work finishes within the Ingester's queue-wait bound and a refused request costs no decoding. Room is
// never held while a body is arriving: a stalled upload holds only its share of the in-flight body budget,
// which the slow-body deadline bounds. Refusals for lack of memory (the in-flight body budget) take their
// Retry-After from the Backend's retry schedule when it has one, like its own refusals.

// admitter is an optional Backend interface: Admit reports, before a body is read, whether a request carrying
// about that many events (0: unknown) would be admitted now, or an error matching logingest.ErrOverloaded when
// it would not.
type admitter interface {
	Admit(events int) error
}

// reserver is an optional Backend interface (*logingest.Ingester implements it): Reserve holds room for a
// request of about that many events (0: unknown) before its body is read, waiting a little for it, or fails
// with an error matching logingest.ErrOverloaded (a *logingest.OverloadedError carrying the Retry-After). When
// present it is used instead of admitter.
type reserver interface {
	Reserve(ctx context.Context, events int) (*logingest.Reservation, error)
}

// retryScheduler is an optional Backend interface (*logingest.Ingester implements it): RetryAfter gives a
// request of about that many events, refused for lack of room elsewhere, its time to come back.
type retryScheduler interface {
	RetryAfter(events int) time.Duration
}

// smallBodyBytes is the largest batch body judged a small request (a few events) by the early admission
// check.
const smallBodyBytes = 4 << 10

// Wire bytes per event assumed when a batch's events are estimated from its Content-Length: the app's events
// are 400-600 bytes of JSON (testdata/events.ndjson: 520), about 80 compressed. Erring low over-estimates, which
// only makes admission stricter for that request; the decoded count replaces the estimate before the events are
// queued.
const (
	estBytesPerEvent           = 400
	estBytesPerCompressedEvent = 80
)

// estimateEvents estimates the events of a batch request from its Content-Length: 1 for a body of at most
// smallBodyBytes (the small-request lane), 0 (unknown) without a length, otherwise at most maxEvents.
func estimateEvents(r *http.Request, maxEvents int) int {
	cl := r.ContentLength
	switch {
	case cl < 0:
		return 0
	case cl <= smallBodyBytes:
		return 1
	}
	per := int64(estBytesPerEvent)
	if enc := strings.TrimSpace(r.Header.Get("Content-Encoding")); enc != "" && !strings.EqualFold(enc, "identity") {
		per = estBytesPerCompressedEvent
	}
	return int(min(int64(maxEvents), (cl+per-1)/per))
}

// admission is one ingest request's early admission: the room reserved for it, when the Backend reserves.
type admission struct {
	h      *Handler
	rv     *logingest.Reservation
	events int // the estimate admission was asked for
}

// admit decides, before its body is read, whether an ingest request that will carry about that many events
// (0: unknown; estimateEvents' guess from Content-Length otherwise) can be taken now: admitter's Admit, a check
// that holds nothing, so a request whose body never arrives (a stalled upload) cannot hold queue room; its body
// is then bounded by the in-flight body budget and the slow-body deadline. A request that could neither be
// admitted nor wait for room is refused before a byte of its body is read (net/http closes the connection after
// the answer when more than 256 KiB are left, which costs the client a reconnect, not the server a read and a
// scan of the body). A body that breaks a limit (a bomb) is judged by its estimate, at most a full batch: it gets
// its 400 once the queue has room for a full batch, like any batch of that size. Room is held by reserve, once
// the body is in hand and its events are counted, before they are decoded. Call release when the request ends.
func (h *Handler) admit(events int) (admission, error) {
	a := admission{h: h, events: events}
	if b, ok := h.ing.(admitter); ok {
		if err := b.Admit(events); err != nil {
			return admission{}, err
		}
	}
	return a, nil
}

// reserve holds room for the request's events, counted from its body (the Backend's Reserve, which may wait a
// little for room), before they are decoded, so that admitted work is written within the queue-wait bound and
// a refused request costs no decoding. Without a reserving Backend it does nothing (Ingest decides).
func (a *admission) reserve(ctx context.Context, events int) error {
	a.events = events
	b, ok := a.h.ing.(reserver)
	if !ok {
		return nil
	}
	rv, err := b.Reserve(ctx, events)
	if err != nil {
		return err
	}
	a.rv = rv
	return nil
}

// ingest hands the request's events to the Backend, through the reservation when there is one.
func (a *admission) ingest(ctx context.Context, source string, events []logingest.Event) (*logingest.BatchResult, error) {
	if a.rv != nil {
		return a.rv.Ingest(ctx, source, events)
	}
	return a.h.ing.Ingest(ctx, source, events)
}

// release gives back the room reserved, if any is left.
func (a *admission) release() { a.rv.Release() }

// scheduled gives err, a refusal for lack of room outside the Backend (errors matching
// logingest.ErrOverloaded without a *logingest.OverloadedError), the Retry-After of the Backend's retry
// schedule, when it has one. Other errors are returned as they are.
func (a *admission) scheduled(err error) error {
	if !errors.Is(err, logingest.ErrOverloaded) {
		return err
	}
	if _, ok := errors.AsType[*logingest.OverloadedError](err); ok {
		return err
	}
	if rs, ok := a.h.ing.(retryScheduler); ok {
		return fmt.Errorf("%w: %w", err, &logingest.OverloadedError{RetryAfter: rs.RetryAfter(a.events)})
	}
	return err
}
