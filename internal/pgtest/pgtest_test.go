package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/pgtest"
)

func TestSchema(t *testing.T) {
	t.Parallel()

	var name string
	dbURL := pgtest.DatabaseURL(t)
	// Parent cleanups run after every subtest, parallel ones included, has finished and run its own cleanups:
	// by then the subtest's schema must have been dropped. t.Context is canceled before cleanups run.
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		conn, err := pgx.Connect(ctx, dbURL)
		require.NoError(t, err)
		defer conn.Close(ctx)
		var exists bool
		require.NoError(t, conn.QueryRow(ctx,
			"SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", name).Scan(&exists))
		require.False(t, exists, "schema %s should be dropped on cleanup", name)
	})

	t.Run("isolated", func(t *testing.T) {
		t.Parallel()

		dsn := pgtest.Schema(t)
		conn, err := pgx.Connect(t.Context(), dsn)
		require.NoError(t, err)
		defer conn.Close(t.Context())

		require.NoError(t, conn.QueryRow(t.Context(), "SELECT current_schema()").Scan(&name))
		require.Regexp(t, `^t_[0-9a-f]{16}$`, name)
		_, err = conn.Exec(t.Context(), "CREATE TABLE x (id int)")
		require.NoError(t, err)
	})
}

func TestWithSearchPath(t *testing.T) {
	t.Parallel()

	got, err := pgtest.WithSearchPath("postgres://u@h:5432/db?sslmode=disable", "t_1")
	require.NoError(t, err)
	require.Equal(t, "postgres://u@h:5432/db?search_path=t_1&sslmode=disable", got)

	got, err = pgtest.WithSearchPath("host=h user=u", "t_1")
	require.NoError(t, err)
	require.Equal(t, "host=h user=u search_path=t_1", got)
}
