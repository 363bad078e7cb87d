package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/change66/logserver/logingest"
)

// api wraps an /api/v1 handler with the authentication failure limit, authentication, the scope check and the
// per-key request limit, and gives back what the request was charged when it fails (see the package doc). The
// handler finds the Principal with logingest.FromContext.
func (h *Handler) api(need logingest.Scope, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := infoFrom(r.Context())
		ipKey := ""
		if h.cfg.AuthFailuresPerMinute > 0 {
			ipKey = "auth:" + h.clientBucket(r)
			if d, ok := h.take(r, ipKey, h.authRate(), 0); ok && d.Remaining < 1 {
				d.Allowed = false
				h.refuse(w, r, limitAuthFailures, h.authRate(), d)
				return
			}
		}
		p, err := h.authenticate(r)
		if err != nil {
			if ipKey != "" && errors.Is(err, logingest.ErrUnauthorized) {
				if d, ok := h.take(r, ipKey, h.authRate(), 1); ok && !d.Allowed {
					h.refuse(w, r, limitAuthFailures, h.authRate(), d)
					return
				}
			}
			h.writeError(w, r, err)
			return
		}
		if ri != nil {
			ri.setKeyID(p.KeyID)
		}
		if !p.Scopes.Has(need) {
			h.metrics.authFailures.WithLabelValues(authForbidden).Inc()
			h.writeError(w, r, fmt.Errorf("scope %s: %w", need, logingest.ErrForbidden))
			return
		}
		if rate, on := h.requestRate(p); on {
			key := bucketKey("req", p)
			d, ok := h.take(r, key, rate, 1)
			if ok {
				setRateHeaders(w.Header(), rate, d)
				if !d.Allowed {
					h.refuse(w, r, limitRequests, rate, d)
					return
				}
				if ri != nil {
					ri.charges = append(ri.charges, charge{key: key, rate: rate, n: 1, request: true})
				}
			}
		}
		next(w, r.WithContext(logingest.NewContext(r.Context(), p)))
		if ri != nil && ri.rec != nil {
			h.giveBack(r, ri, ri.rec.status)
		}
	})
}

// authenticate runs the Authenticator. Every credential failure is reported as the same ErrUnauthorized so the
// answer never reveals why; the reason goes to the auth failure metric only.
func (h *Handler) authenticate(r *http.Request) (logingest.Principal, error) {
	reason := authInvalid
	if logingest.APIKeyFromRequest(r) == "" {
		reason = authMissing
	}
	if h.cfg.Authenticator == nil {
		h.metrics.authFailures.WithLabelValues(reason).Inc()
		return logingest.Principal{}, h.refusal()
	}
	p, err := h.cfg.Authenticator.Authenticate(r)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, logingest.ErrUnauthorized):
		h.metrics.authFailures.WithLabelValues(reason).Inc()
		return logingest.Principal{}, h.refusal()
	default:
		h.metrics.authFailures.WithLabelValues(authError).Inc()
		// %v, not %w: only ErrUnavailable may decide the status, whatever the authenticator wrapped.
		return logingest.Principal{}, fmt.Errorf("%w: authenticate: %v", logingest.ErrUnavailable, err) //nolint:errorlint // see above
	}
}

// sourceOf returns the source a principal may read: its own, DefaultSource when empty (as the Ingester stamps
// it), never "every source".
func sourceOf(p logingest.Principal) string {
	if p.Source == "" {
		return logingest.DefaultSource
	}
	return p.Source
}

// Answer to a refused request when the Authenticator is not a logingest.Challenger.
const (
	defaultUnauthorizedMessage = "missing or invalid credentials"
	defaultChallenge           = `Bearer realm="logingest"`
)

// unauthorized is a request the Authenticator refused, with the answer it chose (logingest.Challenger). It
// matches logingest.ErrUnauthorized. Every refusal by one Authenticator gets the same answer.
type unauthorized struct{ message, challenge string }

func (e *unauthorized) Error() string        { return "unauthorized: " + e.message }
func (e *unauthorized) Is(target error) bool { return target == logingest.ErrUnauthorized }

// refusal returns the 401 error of the configured Authenticator.
func (h *Handler) refusal() error {
	u := &unauthorized{message: defaultUnauthorizedMessage, challenge: defaultChallenge}
	if c, ok := h.cfg.Authenticator.(logingest.Challenger); ok {
		msg, ch := c.Challenge()
		if msg != "" {
			u.message = msg
		}
		if ch != "" {
			u.challenge = ch
		}
	}
	return u
}

// unauthorizedMessage and unauthorizedChallenge give the answer to a 401 error.
func unauthorizedMessage(err error) string {
	if u, ok := errors.AsType[*unauthorized](err); ok {
		return u.message
	}
	return defaultUnauthorizedMessage
}

func unauthorizedChallenge(err error) string {
	if u, ok := errors.AsType[*unauthorized](err); ok {
		return u.challenge
	}
	return defaultChallenge
}
