package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRequestLoggerWritesAsWith checks that the request logger writes every line byte for byte as the logger
// made with slog's With would, for both standard handlers, with and without key_id, through WithAttrs and
// WithGroup, and that it writes nothing below the level.
func TestRequestLoggerWritesAsWith(t *testing.T) {
	t.Parallel()
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler {
			return slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: noTime})
		},
		"text": func(b *bytes.Buffer) slog.Handler {
			return slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: noTime})
		},
	}
	uses := map[string]func(*slog.Logger){
		"plain": func(l *slog.Logger) {
			l.LogAttrs(context.Background(), slog.LevelInfo, "http request", slog.Int("status", 201), slog.String("route", "/x"))
			l.Warn("odd", "n", 1, slog.Group("g", "a", "b"))
			l.Debug("not written")
		},
		"with": func(l *slog.Logger) { l.With("extra", true).Info("line", "k", "v") },
		"group": func(l *slog.Logger) {
			l.WithGroup("store").Error("failed", "row", 7)
		},
	}
	for hname, mk := range handlers {
		for uname, use := range uses {
			for _, key := range []bool{false, true} {
				var got, want bytes.Buffer
				lazy := newRequestLogger(slog.New(mk(&got)), "req-1")
				eager := slog.New(mk(&want)).With(slog.String("request_id", "req-1"))
				if key {
					lazy = withKeyID(lazy, "k_1")
					eager = eager.With(slog.String("key_id", "k_1"))
				}
				use(lazy)
				use(eager)
				require.NotEmpty(t, want.String())
				require.Equal(t, want.String(), got.String(), "%s handler, %s use, key_id %v", hname, uname, key)
			}
		}
	}
}
