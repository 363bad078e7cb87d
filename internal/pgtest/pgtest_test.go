package pgtest_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/change66/logserver/internal/pgtest"
)

func TestSchema(t *testing.T) {
	t.Parallel()

	var name string
	t.Run("isolated", func(t *testing.T) {
		dsn := pgtest.Schema(t)
		conn, err := pgx.Connect(t.Context(), dsn)
		require.NoError(t, err)
		defer conn.Close(t.Context())

		require.NoError(t, conn.QueryRow(t.Context(), "SELECT current_schema()").Scan(&name))
		require.Regexp(t, `^t_[0-9a-f]{16}$`, name)
		_, err = conn.Exec(t.Context(), "CREATE TABLE x (id int)")
		require.NoError(t, err)
	})

	// After the subtest, its cleanup has dropped the schema.
	conn, err := pgx.Connect(t.Context(), pgtest.DatabaseURL(t))
	require.NoError(t, err)
	defer conn.Close(t.Context())
	var exists bool
	require.NoError(t, conn.QueryRow(t.Context(),
		"SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", name).Scan(&exists))
	require.False(t, exists, "schema %s should be dropped on cleanup", name)
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
