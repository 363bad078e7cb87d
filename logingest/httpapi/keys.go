package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/change66/logserver/logingest"
)

// maxKeyRequestBytes bounds the body of the key endpoints.
const maxKeyRequestBytes = 16 << 10

// keyView is a key as the API shows it: never its hash.
type keyView struct {
	ID         string              `json:"id"`
	Name       string              `json:"name"`
	Source     string              `json:"source"`
	Scopes     []string            `json:"scopes"`
	CreatedAt  time.Time           `json:"created_at"`
	ExpiresAt  *time.Time          `json:"expires_at,omitempty"`
	RevokedAt  *time.Time          `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time          `json:"last_used_at,omitempty"`
	UseCount   int64               `json:"use_count"`
	Active     bool                `json:"active"`
	Limits     logingest.KeyLimits `json:"limits"`
}

func (h *Handler) view(k logingest.APIKey) keyView {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	scopes := []string{}
	if s := k.Scopes.String(); s != "" {
		scopes = strings.Split(s, ",")
	}
	return keyView{
		ID: k.ID, Name: k.Name, Source: k.Source, Scopes: scopes, CreatedAt: k.CreatedAt.UTC(),
		ExpiresAt: opt(k.ExpiresAt), RevokedAt: opt(k.RevokedAt), LastUsedAt: opt(k.LastUsedAt),
		UseCount: k.UseCount, Active: k.Active(h.cfg.Now()), Limits: k.Limits,
	}
}

// issuedKey is the answer to create and rotate: the secret is in no other answer, ever.
type issuedKey struct {
	Key    keyView  `json:"key"`
	Secret string   `json:"secret"`
	OldKey *keyView `json:"old_key,omitempty"`
}

func (h *Handler) handleListKeys(w http.ResponseWriter, r *http.Request) {
	p, _ := logingest.FromContext(r.Context())
	keys, err := h.keys.ListAPIKeys(r.Context())
	if err != nil {
		h.writeError(w, r, fmt.Errorf("list keys: %w", err))
		return
	}
	out := []keyView{}
	for _, k := range keys {
		if k.Source == sourceOf(p) {
			out = append(out, h.view(k))
		}
	}
	h.writeOK(w, r, http.StatusOK, fmt.Sprintf("%d keys", len(out)), map[string]any{"keys": out})
}

// createKeyRequest is the body of POST /api/v1/keys. The source is always the caller's.
type createKeyRequest struct {
	Name      string              `json:"name"`
	Scopes    []string            `json:"scopes"`
	ExpiresIn string              `json:"expires_in"` // Go duration, e.g. "720h"; empty: never
	Limits    logingest.KeyLimits `json:"limits"`
}

func (h *Handler) handleCreateKey(w http.ResponseWriter, r *http.Request) {
	var req createKeyRequest
	if err := h.decodeSmall(w, r, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	var errs []logingest.FieldError
	errs = appendValidation(errs, logingest.ValidateKeyName(req.Name))
	errs = appendValidation(errs, req.Limits.Validate())
	scopes, err := logingest.ParseScopes(strings.Join(req.Scopes, ","))
	if err != nil || scopes == 0 {
		errs = append(errs, logingest.FieldError{Field: "scopes", Reason: "must list at least one of ingest, read, admin"})
	}
	var lifetime time.Duration
	if req.ExpiresIn != "" {
		lifetime, err = time.ParseDuration(req.ExpiresIn)
		if err != nil || lifetime <= 0 {
			errs = append(errs, logingest.FieldError{Field: "expires_in", Reason: "must be a positive duration such as 720h"})
		}
	}
	if len(errs) > 0 {
		h.writeError(w, r, &logingest.ValidationError{Errors: errs})
		return
	}
	p, _ := logingest.FromContext(r.Context())
	secret, key, err := logingest.GenerateAPIKey(req.Name, sourceOf(p), scopes, h.cfg.Now())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	key.Limits = req.Limits
	if lifetime > 0 {
		key.ExpiresAt = key.CreatedAt.Add(lifetime)
	}
	if err := h.keys.CreateAPIKey(r.Context(), key); err != nil {
		h.writeError(w, r, fmt.Errorf("create key: %w", err))
		return
	}
	h.writeOK(w, r, http.StatusCreated, "key created; the secret is shown only once", issuedKey{Key: h.view(key), Secret: secret})
}

func (h *Handler) handleRevokeKey(w http.ResponseWriter, r *http.Request) {
	k, err := h.ownKey(r, "revoke")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.keys.RevokeAPIKey(r.Context(), k.ID, h.cfg.Now()); err != nil {
		h.writeError(w, r, fmt.Errorf("revoke key: %w", err))
		return
	}
	if k, err = h.keys.APIKeyByID(r.Context(), k.ID); err != nil {
		h.writeError(w, r, fmt.Errorf("revoke key: %w", err))
		return
	}
	h.writeOK(w, r, http.StatusOK, "key revoked; it stops working on every server within a second", map[string]any{"key": h.view(k)})
}

// rotateKeyRequest is the optional body of POST /api/v1/keys/{id}/rotate.
type rotateKeyRequest struct {
	Grace string `json:"grace"` // Go duration; empty: 24h
}

const defaultGrace = 24 * time.Hour

func (h *Handler) handleRotateKey(w http.ResponseWriter, r *http.Request) {
	req := rotateKeyRequest{}
	if r.ContentLength != 0 {
		if err := h.decodeSmall(w, r, &req); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	grace := defaultGrace
	if req.Grace != "" {
		var err error
		if grace, err = time.ParseDuration(req.Grace); err != nil || grace < 0 {
			h.writeError(w, r, &logingest.ValidationError{Errors: []logingest.FieldError{{
				Field: "grace", Reason: "must be a duration such as 24h, at least 0",
			}}})
			return
		}
	}
	old, err := h.ownKey(r, "rotate")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	secret, key, err := logingest.RotateAPIKey(r.Context(), h.keys, old.ID, grace, h.cfg.Now())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if old, err = h.keys.APIKeyByID(r.Context(), old.ID); err != nil {
		h.writeError(w, r, fmt.Errorf("rotate key: %w", err))
		return
	}
	ov := h.view(old)
	h.writeOK(w, r, http.StatusCreated, "key rotated; the new secret is shown only once",
		issuedKey{Key: h.view(key), Secret: secret, OldKey: &ov})
}

// ownKey returns the key named by the path /api/v1/keys/{id}/action when it belongs to the caller's source.
// A key of another source is reported as not found, like a missing one, so IDs of other tenants cannot be
// probed.
func (h *Handler) ownKey(r *http.Request, action string) (logingest.APIKey, error) {
	rest, ok := strings.CutSuffix(r.URL.Path, "/"+action)
	id := rest[strings.LastIndexByte(rest, '/')+1:]
	if !ok || id == "" {
		return logingest.APIKey{}, errRouteNotFound
	}
	k, err := h.keys.APIKeyByID(r.Context(), id)
	if err != nil {
		return logingest.APIKey{}, fmt.Errorf("key %s: %w", id, err)
	}
	p, _ := logingest.FromContext(r.Context())
	if k.Source != sourceOf(p) {
		return logingest.APIKey{}, fmt.Errorf("key %s of another source: %w", id, logingest.ErrNotFound)
	}
	return k, nil
}

// appendValidation appends the field errors of err, a *logingest.ValidationError or nil, to errs.
func appendValidation(errs []logingest.FieldError, err error) []logingest.FieldError {
	if ve, ok := errors.AsType[*logingest.ValidationError](err); ok {
		return append(errs, ve.Errors...)
	}
	return errs
}

// decodeSmall decodes a small JSON body into v, refusing unknown fields.
func (h *Handler) decodeSmall(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxKeyRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &logingest.LimitError{Field: fieldBody, Limit: maxKeyRequestBytes, Unit: "bytes", TooLarge: true}
		}
		return bodyError("must be a JSON object with known fields: " + err.Error())
	}
	return nil
}
