package httpapi

import (
	"context"
	"log/slog"
)

// requestHandler is the slog.Handler of a request's logger: it writes the lines of inner with request_id first
// (and key_id, once the caller is known), exactly as inner.WithAttrs would. slog's With formats its attributes
// when it is called, for every request; requestHandler adds them only to the lines actually written, so a request
// that logs nothing at the enabled levels (the common case: the access log is at info) costs nothing to log.
type requestHandler struct {
	inner  slog.Handler
	id     string
	keyID  string
	hasKey bool // key_id is written (even when empty, as With would)
}

// newRequestLogger returns the logger of request id over base.
func newRequestLogger(base *slog.Logger, id string) *slog.Logger {
	return slog.New(&requestHandler{inner: base.Handler(), id: id})
}

// withKeyID returns logger with key_id added: a new requestHandler when logger has one, else logger.With.
func withKeyID(logger *slog.Logger, keyID string) *slog.Logger {
	if rh, ok := logger.Handler().(*requestHandler); ok && !rh.hasKey {
		return slog.New(&requestHandler{inner: rh.inner, id: rh.id, keyID: keyID, hasKey: true})
	}
	return logger.With(slog.String("key_id", keyID))
}

func (h *requestHandler) attrs() []slog.Attr {
	if h.hasKey {
		return []slog.Attr{slog.String("request_id", h.id), slog.String("key_id", h.keyID)}
	}
	return []slog.Attr{slog.String("request_id", h.id)}
}

func (h *requestHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *requestHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(h.attrs()...)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *requestHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.inner.WithAttrs(h.attrs()).WithAttrs(attrs)
}

func (h *requestHandler) WithGroup(name string) slog.Handler {
	return h.inner.WithAttrs(h.attrs()).WithGroup(name)
}
