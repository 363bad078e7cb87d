package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSynchronousDefaultIsDurable checks the durability default: the writer connection fsyncs every commit
// (PRAGMA synchronous = 2, FULL) unless Config.Synchronous opts out with NORMAL (1).
func TestSynchronousDefaultIsDurable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  *Config
		want int
	}{
		{cfg: &Config{}, want: 2},
		{cfg: &Config{Synchronous: "normal"}, want: 1},
		{cfg: &Config{Synchronous: "EXTRA"}, want: 3},
	} {
		tc.cfg.AutoMigrate = true
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "s.db"), tc.cfg)
		require.NoError(t, err)
		var got int
		require.NoError(t, s.writer.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&got))
		require.Equal(t, tc.want, got, "config %+v", tc.cfg)
		require.NoError(t, s.Close())
	}
}
