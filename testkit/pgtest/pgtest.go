// Package pgtest gives tests their own PostgreSQL schema on the throw-away
// server that scripts/test provisions (TETHERTEST_POSTGRES_URL).
package pgtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tether-id/tether/testkit/testenv"
)

// URL creates a fresh, empty schema and returns a connection URL whose
// search_path selects it, so that a store opened on the URL keeps its
// tables there; processes given the URL share the schema. The schema is
// dropped when t ends. Without a server the test is skipped, or failed
// under CI=true.
func URL(t testing.TB) string {
	t.Helper()
	base := testenv.Need(t, testenv.PostgresURL)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", testenv.PostgresURL)
	}
	name := "t_" + strings.ToLower(rand.Text())
	exec(t, base, "CREATE SCHEMA "+name)
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA "+name+" CASCADE") })
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func exec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", testenv.PostgresURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}
