package sqlite_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/sqlite"
	"github.com/change66/logserver/logingest/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) logingest.Store {
		t.Helper()
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "conformance.db"),
			&sqlite.Config{Logger: slog.New(slog.DiscardHandler), AutoMigrate: true})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return s
	}, nil)
}
