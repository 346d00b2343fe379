package pgexec

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// TestPreparedStatements: pgmcp's own prepared statements are reused,
// bounded per connection, re-planned for each caller's privileges and row
// security, and a statement whose table changed shape runs again
// unprepared instead of failing.
func TestPreparedStatements(t *testing.T) {
	role := "pgmcp_stmt_caller"
	db, ex := oneConnFixture(t, fmt.Sprintf(`
		DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[1]s') THEN CREATE ROLE %[1]s NOLOGIN; END IF; END $$;
		GRANT %[1]s TO %[2]s;
		CREATE TABLE stmt_t (id int, owner text, secret text);
		INSERT INTO stmt_t VALUES (1, '%[1]s', 'a'), (2, 'someone else', 'b');
		ALTER TABLE stmt_t ENABLE ROW LEVEL SECURITY;
		CREATE POLICY own ON stmt_t FOR SELECT USING (owner = current_user);
		GRANT SELECT (id, owner) ON stmt_t TO %[1]s;
		GRANT SELECT ON stmt_t TO %[2]s;
		ALTER TABLE stmt_t FORCE ROW LEVEL SECURITY`, role, pgtest.Reader), Options{})
	admin := db.Pool(t)
	login := Limits{MaxRows: 10}.withDefaults()
	caller := Limits{MaxRows: 10, Role: role}.withDefaults()
	named := func() int {
		t.Helper()
		var n int
		// Read on the executor's own connection: pg_prepared_statements is per session.
		res, err := ex.run(t.Context(), "SELECT count(*) FILTER (WHERE NOT from_sql AND name LIKE 'pgmcp\\_%') FROM pg_prepared_statements", login)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Sscan(fmt.Sprint(res.Rows[0][0]), &n)
		return n
	}

	// The same text, as the login role then as the caller: the caller
	// sees only its own row (RLS re-planned for the role), and a column it
	// may not read is refused at execution, prepared or not.
	const q = "SELECT count(*) FROM stmt_t"
	if got := value(t, ex, q, login); got != "0" {
		t.Errorf("login role under forced RLS: count = %s, want 0", got)
	}
	if got := value(t, ex, q, caller); got != "1" {
		t.Errorf("caller: count = %s, want 1", got)
	}
	if got := value(t, ex, q, login); got != "0" {
		t.Errorf("login role again: count = %s, want 0", got)
	}
	const secret = "SELECT max(secret) FROM stmt_t"
	_ = value(t, ex, secret, login)
	_, err := ex.run(t.Context(), secret, caller)
	var pe *Error
	if !errors.As(err, &pe) || pe.PG == nil || pe.PG.SQLState != "42501" {
		t.Errorf("a column the caller may not read, prepared as the login role: %v, want permission denied", err)
	}

	// A table altered under a prepared SELECT *: the call still works and
	// shows the new column.
	const star = "SELECT * FROM stmt_t WHERE id = 2"
	if _, err := ex.run(t.Context(), star, login); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(t.Context(), "ALTER TABLE stmt_t ADD COLUMN extra int DEFAULT 7"); err != nil {
		t.Fatal(err)
	}
	// Under forced RLS the login role sees no row, but the columns come
	// back in the description.
	res, err := ex.run(t.Context(), star, login)
	if err != nil {
		t.Fatalf("after ALTER TABLE: %v", err)
	}
	if len(res.Columns) != 4 || res.Columns[3].Name != "extra" {
		t.Errorf("columns after ALTER TABLE = %+v, want the new column", res.Columns)
	}

	// Bounded: many distinct texts leave at most statementCap of pgmcp's
	// statements (plus the probe and the check) on the session.
	for i := range statementCap + 40 {
		_ = value(t, ex, fmt.Sprintf("SELECT %d", i), login)
	}
	if n := named(); n > statementCap+1 || n < statementCap/2 {
		t.Errorf("pgmcp's prepared statements on the session = %d, want about %d and never above %d", n, statementCap, statementCap+1)
	}
	if s := ex.SessionStats(); len(s.Discards) != 0 || len(s.Resets) != 0 {
		t.Errorf("session stats = %+v, want no reset or discard from pgmcp's own statements", s)
	}
}
