package pgexec

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// TestTransactionPooler runs the executor through a real PgBouncer in
// transaction mode with one server session for every client connection:
// consecutive transactions of a pgmcp connection, and those of different
// pgmcp connections, share that session, so nothing may be left to session
// state.
func TestTransactionPooler(t *testing.T) {
	role := "pgmcp_pooled_caller"
	db := pgtest.NewDB(t, pgtest.Demo)
	db.Exec(t, fmt.Sprintf(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[1]s') THEN CREATE ROLE %[1]s NOLOGIN; END IF; END $$;
		GRANT %[1]s TO %[2]s; GRANT SELECT ON public.products TO %[1]s`, role, pgtest.Reader))
	bouncer := pgtest.StartPgBouncer(t, "transaction", 1)
	url := bouncer.URL(db.Name)
	opts := Options{MaxConns: 4, StatementTimeout: 5 * time.Second, SearchPath: []string{"public"}}

	// Pinned start-up parameters are refused by PgBouncer: with the mode
	// forced to none, the pool does not open, and says what to do.
	none := opts
	none.Pooler = PoolerNone
	if pool, err := NewPool(t.Context(), url, none); err == nil {
		pool.Close()
		t.Fatal("a pool with start-up parameters opened through PgBouncer")
	} else if !strings.Contains(err.Error(), "PGMCP_POOLER=transaction") {
		t.Errorf("error without the way out: %v", err)
	}
	// Detected: the pool opens in transaction mode.
	pool, err := NewPool(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, bouncer.Log())
	}
	t.Cleanup(pool.Close)
	if !TransactionPooled(pool) {
		t.Fatal("PgBouncer was not detected as a transaction-mode pooler")
	}
	ex := NewExecutor(pool)
	lim := Limits{MaxRows: 10}

	// Every transaction carries pgmcp's settings, whatever the session has.
	const settings = `SELECT concat_ws(' | ', current_setting('transaction_read_only'), current_setting('search_path'),
		current_setting('statement_timeout'), current_setting('DateStyle'), current_setting('IntervalStyle'),
		current_setting('bytea_output'), current_setting('extra_float_digits'), current_setting('standard_conforming_strings'))`
	const want = `on | public | 5s | ISO, MDY | iso_8601 | hex | 1 | on`
	if got := value(t, ex, settings, lim); got != want {
		t.Errorf("settings = %q, want %q", got, want)
	}
	// A session-level change made by a call is gone at the next one.
	_, _ = ex.run(t.Context(), "SELECT set_config('search_path', 'pg_temp', false), set_config('DateStyle', 'SQL, DMY', false)", lim.withDefaults())
	if got := value(t, ex, settings, lim); got != want {
		t.Errorf("settings after a session-level set_config = %q, want %q", got, want)
	}
	// The caller's role, for its transaction only.
	if got := value(t, ex, "SELECT current_user::text", Limits{MaxRows: 10, Role: role}); got != role {
		t.Errorf("current_user with a role = %s, want %s", got, role)
	}
	if got := value(t, ex, "SELECT current_user::text", lim); got != pgtest.Reader {
		t.Errorf("current_user after = %s, want %s", got, pgtest.Reader)
	}

	// State a ROLLBACK does not undo, left by SQL past the guard, is not
	// found by the next call on the one server session.
	cases := []struct{ attack, probe string }{
		{"SELECT pg_advisory_lock(42)", "SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory'"},
		{"PREPARE pgmcp_leftover AS SELECT 1", "SELECT count(*)::text FROM pg_prepared_statements WHERE from_sql"},
		{"DECLARE pgmcp_cursor CURSOR WITH HOLD FOR SELECT 1", "SELECT count(*)::text FROM pg_cursors WHERE name <> ''"},
	}
	for _, tc := range cases {
		_, _ = ex.run(t.Context(), tc.attack, lim.withDefaults())
		if got := value(t, ex, tc.probe, lim); got != "0" {
			t.Errorf("after %q: %s = %s, want 0", tc.attack, tc.probe, got)
		}
	}
	if left := ex.SessionStats().PoolerLeft; left[ReasonPreparedStatements] == 0 {
		t.Errorf("a prepared statement left behind the pooler was not counted: %v", left)
	}

	// Calls at once from four pgmcp connections, on one server session.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				n := w*100 + i
				res, err := ex.run(t.Context(), fmt.Sprintf("SELECT %d::int AS n, (SELECT count(*) FROM products) AS c", n), lim.withDefaults())
				if err != nil {
					errs <- err
					return
				}
				if got := fmt.Sprint(res.Rows[0][0]); got != fmt.Sprint(n) {
					errs <- fmt.Errorf("call %d got %s", n, got)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// EXPLAIN runs the same way.
	pol, err := sqlguard.ParsePolicyJSON([]byte(`{"search_path": ["public"], "allowed_relations": ["public.products"]}`))
	if err != nil {
		t.Fatal(err)
	}
	pol.Database = db.Name
	if pol.Catalog, err = LoadCatalog(t.Context(), pool, []string{"public"}); err != nil {
		t.Fatal(err)
	}
	q, err := sqlguard.Check("SELECT name FROM products WHERE id > 10", pol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Explain(t.Context(), q, lim); err != nil {
		t.Errorf("explain through the pooler: %v", err)
	}
	var pe *Error
	_, err = ex.run(t.Context(), "SELECT pg_sleep(3)", Limits{MaxRows: 1, StatementTimeout: 200 * time.Millisecond}.withDefaults())
	if !errors.As(err, &pe) || pe.Code != CodeQueryTimeout {
		t.Errorf("statement timeout through the pooler: %v", err)
	}
}
