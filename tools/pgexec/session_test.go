package pgexec

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// oneConnFixture is a demo database whose executor has a single pooled
// connection, so that every call after the first runs on the connection the
// previous call used (unless that one was closed).
func oneConnFixture(t *testing.T, setup string, opts Options) (*pgtest.DB, *Executor) {
	t.Helper()
	db := pgtest.NewDB(t, pgtest.Demo)
	if setup != "" {
		db.Exec(t, setup)
	}
	opts.MaxConns = 1
	if opts.StatementTimeout == 0 {
		opts.StatementTimeout = 5 * time.Second
	}
	opts.SearchPath = []string{"public"}
	pool, err := NewPool(t.Context(), db.ReaderURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return db, NewExecutor(pool)
}

// value runs SQL past the guard (the test-only path) and returns the text of
// the first column of its one row.
func value(t *testing.T, ex *Executor, sql string, lim Limits) string {
	t.Helper()
	res, err := ex.run(t.Context(), sql, lim.withDefaults())
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) < 1 {
		t.Fatalf("%s: %d rows", sql, len(res.Rows))
	}
	return fmt.Sprint(res.Rows[0][0])
}

// TestSessionCleanAfterEveryCall runs, past the guard, SQL that changes
// session state a ROLLBACK does not undo (or that is supposed to be undone
// by it), then checks on the same pooled connection that the next call
// starts in the pinned state.
func TestSessionCleanAfterEveryCall(t *testing.T) {
	other := "pgmcp_other_" + strings.ReplaceAll(t.Name(), "/", "_")[:8]
	db, ex := oneConnFixture(t, fmt.Sprintf(`CREATE ROLE %[1]s NOLOGIN; GRANT %[1]s TO %[2]s; GRANT SELECT ON ALL TABLES IN SCHEMA public TO %[1]s`,
		pgx.Identifier{other}.Sanitize(), pgtest.Reader), Options{})
	t.Cleanup(func() { db.Pool(t).Exec(t.Context(), "DROP OWNED BY "+other+"; DROP ROLE "+other) })
	admin := db.Pool(t)
	lim := Limits{MaxRows: 10}
	pid := value(t, ex, "SELECT pg_backend_pid()", lim)

	// What random() returns after setseed(0.25) on a fresh session.
	conn, err := admin.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var predicted float64
	if _, err := conn.Exec(t.Context(), "SELECT setseed(0.25)"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(t.Context(), "SELECT random()").Scan(&predicted); err != nil {
		t.Fatal(err)
	}
	conn.Release()

	cases := []struct {
		name, attack, probe, want string
		reused                    bool // the connection is reset, not closed
	}{
		{"advisory locks", "SELECT count(pg_advisory_lock(i)) FROM generate_series(1, 2000) AS i",
			"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", "0", true},
		{"advisory lock, shared", "SELECT pg_advisory_lock_shared(7), pg_try_advisory_lock(8)",
			"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", "0", true},
		{"random seed", "SELECT setseed(0.25)", "SELECT random()::text", "", true},
		{"settings", "SELECT set_config('statement_timeout', '1', false), set_config('search_path', 'pg_temp, pg_catalog', false), set_config('DateStyle', 'SQL, DMY', false), set_config('default_transaction_read_only', 'off', false)",
			"SELECT concat_ws(' | ', current_setting('statement_timeout'), current_setting('search_path'), current_setting('DateStyle'), current_setting('default_transaction_read_only'))",
			`5s | "public" | ISO, MDY | on`, true},
		{"role", fmt.Sprintf("SELECT set_config('role', %s, false)", pgx.Identifier{other}.Sanitize()[0:0]+"'"+other+"'"),
			"SELECT current_user::text || ' ' || session_user::text", pgtest.Reader + " " + pgtest.Reader, true},
		{"prepared statement", "PREPARE pgmcp_leftover AS SELECT 1", "SELECT count(*) FROM pg_prepared_statements WHERE from_sql OR name = 'pgmcp_leftover'", "0", true},
		{"listener", "LISTEN pgmcp_channel", "SELECT count(*) FROM pg_listening_channels()", "0", true},
		{"held cursor", "DECLARE pgmcp_cursor CURSOR WITH HOLD FOR SELECT 1", "SELECT count(*) FROM pg_cursors WHERE name <> ''", "0", true},
		{"temp table", "CREATE TEMP TABLE pgmcp_tmp (i int)", "SELECT pg_my_temp_schema()::int", "0", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := ex.SessionStats()
			_, _ = ex.run(t.Context(), tc.attack, lim.withDefaults()) // an error is fine: the state is what counts
			got := value(t, ex, tc.probe, lim)
			switch {
			case tc.name == "random seed":
				if got == fmt.Sprint(predicted) || strings.HasPrefix(fmt.Sprint(predicted), got) {
					t.Errorf("random() after setseed(0.25) = %s, the predictable value", got)
				}
			case got != tc.want:
				t.Errorf("after %q: %s = %q, want %q", tc.attack, tc.probe, got, tc.want)
			}
			if tc.name == "advisory locks" {
				// Not on this session only: nowhere in the cluster.
				var n int
				if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").Scan(&n); err != nil || n != 0 {
					t.Errorf("advisory locks held in the cluster: %d (%v)", n, err)
				}
			}
			if tc.name == "prepared statement" {
				after := ex.SessionStats()
				if after.Resets[ReasonPreparedStatements] != before.Resets[ReasonPreparedStatements]+1 {
					t.Errorf("resets = %v, want one more for prepared_statements", after.Resets)
				}
			}
			if now := value(t, ex, "SELECT pg_backend_pid()", lim); tc.reused && now != pid {
				t.Errorf("the connection was replaced (pid %s, was %s): a reset was expected", now, pid)
			}
		})
	}
}

// TestSessionWithoutSetConfig runs calls, with and without a caller role,
// as a login role that may not EXECUTE set_config nor setseed.
func TestSessionWithoutSetConfig(t *testing.T) {
	role := "pgmcp_caller_nsc"
	db, ex := oneConnFixture(t, fmt.Sprintf(`
		REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC;
		REVOKE EXECUTE ON FUNCTION pg_catalog.setseed(double precision) FROM PUBLIC;
		REVOKE EXECUTE ON FUNCTION pg_catalog.pg_advisory_unlock_all() FROM PUBLIC;
		DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[1]s') THEN CREATE ROLE %[1]s NOLOGIN; END IF; END $$;
		GRANT %[1]s TO %[2]s; GRANT SELECT ON public.products TO %[1]s`, role, pgtest.Reader), Options{})
	lim := Limits{MaxRows: 10, Role: role, StatementTimeout: 2 * time.Second}
	if got := value(t, ex, "SELECT current_user::text", lim); got != role {
		t.Errorf("current_user = %s, want %s", got, role)
	}
	if got := value(t, ex, "SELECT current_setting('statement_timeout')", lim); got != "2s" {
		t.Errorf("statement_timeout = %s, want 2s", got)
	}
	if got := value(t, ex, "SELECT count(*) FROM products", lim); got == "" {
		t.Error("no count")
	}
	_, err := ex.run(t.Context(), "SELECT set_config('role', 'none', true)", lim.withDefaults())
	var pe *Error
	if !errors.As(err, &pe) || pe.PG == nil || pe.PG.SQLState != "42501" {
		t.Errorf("set_config as the caller: %v, want permission denied", err)
	}
	// Without pg_advisory_unlock_all, the check finds the locks in
	// pg_locks and DISCARD ALL releases them.
	if _, err := ex.run(t.Context(), "SELECT pg_advisory_lock(11), pg_advisory_lock_shared(12)", Limits{MaxRows: 10}.withDefaults()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Pool(t).QueryRow(t.Context(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").Scan(&n); err != nil || n != 0 {
		t.Errorf("advisory locks held: %d (%v)", n, err)
	}
	if s := ex.SessionStats(); len(s.Discards) != 0 || s.Resets[ReasonAdvisoryLocks] != 1 {
		t.Errorf("stats = %+v, want one advisory_locks reset and no discard", s)
	}
}

// TestRunRefusesHugeRow: a row above the message bound is never read; the
// call fails with result_too_large and the next call works.
func TestRunRefusesHugeRow(t *testing.T) {
	_, ex := oneConnFixture(t, "", Options{MaxMessageBytes: 1 << 20})
	lim := Limits{MaxRows: 10}
	_, err := ex.run(t.Context(), "SELECT repeat('x', 64 << 20)", lim.withDefaults())
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeResultTooLarge {
		t.Fatalf("err = %v, want %s", err, CodeResultTooLarge)
	}
	if !strings.Contains(pe.Message, "PGMCP_MAX_ROW_BYTES") {
		t.Errorf("message = %q", pe.Message)
	}
	if d := ex.SessionStats().Discards[ReasonTooLarge]; d != 1 {
		t.Errorf("discards for %s = %d, want 1", ReasonTooLarge, d)
	}
	// Under the bound, the cell cap applies as before.
	res, err := ex.run(t.Context(), "SELECT repeat('y', 512 << 10)", Limits{MaxRows: 10, MaxCellBytes: 1000}.withDefaults())
	if err != nil || res.CellsTruncated != 1 {
		t.Fatalf("512 KiB cell: %v, cells truncated %d", err, res.CellsTruncated)
	}
}

func TestRunRefusesLongRoleName(t *testing.T) {
	_, ex := oneConnFixture(t, "", Options{})
	_, err := ex.run(t.Context(), "SELECT 1", Limits{Role: strings.Repeat("r", 64)}.withDefaults())
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeQueryFailed || !strings.Contains(pe.Message, "63 bytes") {
		t.Errorf("err = %v", err)
	}
}

// TestRunErrorTextsHoldNoValues: values read from rows do not reach the
// caller through error messages, class 42 included.
func TestRunErrorTextsHoldNoValues(t *testing.T) {
	db, ex := oneConnFixture(t, "", Options{})
	var name string
	if err := db.Pool(t).QueryRow(t.Context(), "SELECT name FROM products WHERE name LIKE '% %' ORDER BY id LIMIT 1").Scan(&name); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"SELECT to_tsquery(name) FROM products ORDER BY id",
		"SELECT name::int FROM products ORDER BY id",
		"SELECT name::date FROM products ORDER BY id",
		"SELECT to_tsquery(name) FROM products WHERE id = (SELECT min(id) FROM products WHERE name LIKE '% %')",
		"SELECT chr(id + 1114111) FROM products ORDER BY id",
		"SELECT convert_from(convert_to(name, 'UTF8') || '\\xff'::bytea, 'UTF8') FROM products ORDER BY id",
	} {
		_, err := ex.run(t.Context(), sql, Limits{MaxRows: 10}.withDefaults())
		var pe *Error
		if !errors.As(err, &pe) || pe.PG == nil {
			t.Fatalf("%s: %v, want a PostgreSQL error", sql, err)
		}
		first := strings.Fields(name)[0]
		for _, leak := range []string{first, "1114112", "1114113", "0xff"} {
			if strings.Contains(pe.Message, leak) || strings.Contains(pe.PG.Message, leak) {
				t.Errorf("%s: the error shows a row's value (%s): %q", sql, leak, pe.Message)
			}
		}
		t.Logf("%s → %s (full text, for the debug log only: %v)", sql, pe.Message, pe.Err)
	}
}
