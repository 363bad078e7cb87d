package logingest

import (
	"context"
	"log/slog"
)

type loggerKey struct{}

// ContextWithLogger returns a copy of ctx that carries logger, so that code called with ctx (a Store, for
// example) logs with the attributes of the request it serves, such as its request id. httpapi.Handler puts
// its request logger there.
func ContextWithLogger(ctx context.Context, logger *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, logger)
}

// LoggerFromContext returns the logger stored by ContextWithLogger, or fallback when there is none.
func LoggerFromContext(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return fallback
}
