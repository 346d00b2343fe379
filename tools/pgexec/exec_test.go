package pgexec

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// execFixture is a demo database with a reader pool and an executor.
type execFixture struct {
	db   *pgtest.DB
	pool *pgxpool.Pool
	ex   *Executor
	pol  *sqlguard.Policy
}

func newExecFixture(t testing.TB, setup string) *execFixture {
	t.Helper()
	db := pgtest.NewDB(t, pgtest.Demo)
	if setup != "" {
		db.Exec(t, setup)
	}
	pool, err := NewPool(t.Context(), db.ReaderURL, Options{StatementTimeout: 5 * time.Second, SearchPath: []string{"public"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	pol := &sqlguard.Policy{Database: db.Name, SearchPath: []string{"public"}, AllowedSchemas: []string{"public", "billing", "analytics"},
		BlockedRelations: []string{"billing.payment_cards"},
		BlockedColumns:   map[string][]string{"public.customers": {"phone", "date_of_birth"}}}
	if pol.Catalog, err = LoadCatalog(t.Context(), pool, []string{"public", "billing", "analytics"}); err != nil {
		t.Fatal(err)
	}
	return &execFixture{db: db, pool: pool, ex: NewExecutor(pool), pol: pol}
}

func (f *execFixture) run(t testing.TB, sql string, lim Limits) (*Result, error) {
	t.Helper()
	q, err := sqlguard.Check(sql, f.pol)
	if err != nil {
		t.Fatalf("guard rejected %q: %v", sql, err)
	}
	return f.ex.Run(t.Context(), q, lim)
}

func TestRunTruncation(t *testing.T) {
	f := newExecFixture(t, "")
	res, err := f.run(t, "SELECT id FROM customers ORDER BY id", Limits{MaxRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 10 || !res.Truncated || res.TruncatedBy != "max_rows" {
		t.Errorf("rows=%d truncated=%v by=%q, want 10 rows truncated by max_rows", len(res.Rows), res.Truncated, res.TruncatedBy)
	}
	if len(res.Columns) != 1 || res.Columns[0] != (Column{Name: "id", Type: "integer"}) {
		t.Errorf("columns = %+v", res.Columns)
	}
	if res.Rows[0][0] != json.Number("1") || res.Rows[9][0] != json.Number("10") {
		t.Errorf("rows = %v", res.Rows)
	}
	// Exactly max_rows rows: not truncated.
	res, err = f.run(t, "SELECT id FROM customers ORDER BY id LIMIT 10", Limits{MaxRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 10 || res.Truncated {
		t.Errorf("exactly 10 rows: rows=%d truncated=%v", len(res.Rows), res.Truncated)
	}
	// A smaller LIMIT of the query's own is kept.
	res, err = f.run(t, "SELECT id FROM customers LIMIT 3", Limits{MaxRows: 10})
	if err != nil || len(res.Rows) != 3 || res.Truncated {
		t.Errorf("LIMIT 3: %v rows, truncated %v, err %v", len(res.Rows), res.Truncated, err)
	}
}

func TestRunByteCap(t *testing.T) {
	f := newExecFixture(t, "")
	res, err := f.run(t, "SELECT id, name, brand, attributes FROM products ORDER BY id", Limits{MaxRows: 1000, MaxResultBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || res.TruncatedBy != "max_result_bytes" || len(res.Rows) == 0 || len(res.Rows) >= 200 {
		t.Fatalf("rows=%d truncated=%v by=%q, want a byte-capped result", len(res.Rows), res.Truncated, res.TruncatedBy)
	}
	b, _ := json.Marshal(res.Rows)
	if len(b) > 4096 {
		t.Errorf("rows take %d bytes as JSON, over the 4096 cap", len(b))
	}
	// The cell cap cuts long values and says so.
	res, err = f.run(t, "SELECT string_agg(name, ', ') FROM products", Limits{MaxRows: 10, MaxCellBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := res.Rows[0][0].(string)
	if res.CellsTruncated != 1 || !strings.Contains(s, "…[truncated ") || len(s) > 130 {
		t.Errorf("cell = %q (%d cut)", s, res.CellsTruncated)
	}
}

func TestRunTypes(t *testing.T) {
	// User types are set up here, as the superuser: the guard does not let
	// a query cast to them.
	f := newExecFixture(t, `CREATE TYPE mood AS ENUM ('sad', 'happy');
		CREATE DOMAIN posint AS int CHECK (VALUE > 0);
		CREATE TABLE public.typed AS SELECT 'happy'::mood AS e, ARRAY['sad', 'happy']::mood[] AS earr, 5::posint AS dom;
		GRANT SELECT ON public.typed TO `+pgtest.Reader)
	sql := `SELECT
		true AS b, 42::int2 AS i2, 2147483647::int4 AS i4, 9223372036854775807::int8 AS i8,
		12345678901234567890.123456789::numeric AS num, 'NaN'::numeric AS num_nan,
		1.5::float8 AS f8, 'Infinity'::float8 AS f_inf, 0.1::float4 AS f4,
		'{"a": [1, 2.50, null], "big": 12345678901234567890}'::jsonb AS jb, '[1, 2]'::json AS js,
		timestamptz '2024-03-05 06:07:08.123456+00' AS tstz,
		timestamp '2024-03-05 06:07:08' AS ts, 'infinity'::timestamp AS ts_inf,
		date '2024-02-29' AS d, time '13:14:15' AS tm,
		interval '1 year 2 months 3 days 04:05:06.5' AS iv,
		'\x00ff10'::bytea AS by, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u,
		'192.168.0.1/24'::inet AS ip, e,
		ARRAY[1, NULL, 3] AS arr, ARRAY[['a', 'b,c'], ['"q"', NULL]] AS arr2,
		ARRAY['{"x":1}'::jsonb] AS jarr, ARRAY[1.10, 2]::numeric[] AS narr, earr,
		dom, NULL::text AS n, 'plain text' AS t
		FROM typed`
	res, err := f.run(t, sql, Limits{MaxRows: 5})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	types := map[string]string{}
	for i, c := range res.Columns {
		got[c.Name] = res.Rows[0][i]
		types[c.Name] = c.Type
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var round map[string]json.RawMessage
	if err := json.Unmarshal(b, &round); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"b": `true`, "i2": `42`, "i4": `2147483647`, "i8": `9223372036854775807`,
		"num": `12345678901234567890.123456789`, "num_nan": `"NaN"`,
		"f8": `1.5`, "f_inf": `"Infinity"`, "f4": `0.1`,
		"jb": `{"a":[1,2.50,null],"big":12345678901234567890}`, "js": `[1,2]`,
		"tstz": `"2024-03-05T06:07:08.123456Z"`, "ts": `"2024-03-05T06:07:08"`, "ts_inf": `"infinity"`,
		"d": `"2024-02-29"`, "tm": `"13:14:15"`, "iv": `"P1Y2M3DT4H5M6.5S"`,
		"by": `"\\x00ff10"`, "u": `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`, "ip": `"192.168.0.1/24"`, "e": `"happy"`,
		"arr": `[1,null,3]`, "arr2": `[["a","b,c"],["\"q\"",null]]`, "jarr": `[{"x":1}]`, "narr": `[1.10,2]`, "earr": `["sad","happy"]`,
		"dom": `5`, "n": `null`, "t": `"plain text"`,
	}
	for k, w := range want {
		if g := string(round[k]); g != w {
			t.Errorf("%s = %s, want %s", k, g, w)
		}
	}
	for col, typ := range map[string]string{"num": "numeric", "tstz": "timestamp with time zone", "arr": "integer[]", "e": "mood", "dom": "integer", "i8": "bigint"} {
		if types[col] != typ {
			t.Errorf("type of %s = %q, want %q", col, types[col], typ)
		}
	}
}

// slowSQL runs for minutes: a join of 10^10 pairs.
const slowSQL = "SELECT count(*) FROM order_items a JOIN order_items b ON a.quantity <= b.quantity"

func TestRunStatementTimeout(t *testing.T) {
	f := newExecFixture(t, "")
	start := time.Now()
	_, err := f.run(t, slowSQL, Limits{MaxRows: 10, StatementTimeout: 300 * time.Millisecond})
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeQueryTimeout {
		t.Fatalf("err = %v, want %s", err, CodeQueryTimeout)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the timeout took %s to stop the query", took)
	}
}

func TestRunCancelLeavesNoBackend(t *testing.T) {
	f := newExecFixture(t, "")
	q, err := sqlguard.Check(slowSQL, f.pol)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := f.ex.Run(ctx, q, Limits{MaxRows: 10, StatementTimeout: time.Minute})
		done <- err
	}()
	admin := f.db.Pool(t)
	waitFor(t, 10*time.Second, func() bool { return activeQueries(t, admin, f.db.Name) == 1 })
	cancel()
	select {
	case err := <-done:
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != CodeCancelled {
			t.Errorf("err = %v, want %s", err, CodeCancelled)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	waitFor(t, 5*time.Second, func() bool { return activeQueries(t, admin, f.db.Name) == 0 })
}

func activeQueries(t *testing.T, admin *pgxpool.Pool, db string) int {
	t.Helper()
	var n int
	err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = $1 AND state = 'active' AND application_name = 'pgmcp' AND pid <> pg_backend_pid()`, db).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunCastErrorHidesValue(t *testing.T) {
	f := newExecFixture(t, "")
	_, err := f.run(t, "SELECT email::int FROM customers", Limits{MaxRows: 10})
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeQueryFailed || pe.PG == nil || pe.PG.SQLState != "22P02" {
		t.Fatalf("err = %#v, want query_failed 22P02", err)
	}
	var email string
	if err := f.db.Pool(t).QueryRow(t.Context(), "SELECT email FROM customers ORDER BY id LIMIT 1").Scan(&email); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(pe.Message, "@") || strings.Contains(pe.PG.Message, "@") || strings.Contains(pe.Message, email) {
		t.Errorf("the error leaks a value: %q", pe.Message)
	}
	if !strings.Contains(pe.Message, "invalid input syntax for type integer") {
		t.Errorf("the error should still say what went wrong: %q", pe.Message)
	}
}

func TestRunReadOnlyViolation(t *testing.T) {
	// A view the policy trusts hides a function that writes: the READ ONLY
	// transaction stops it.
	f := newExecFixture(t, `CREATE TABLE public.audit (at timestamptz);
		CREATE FUNCTION public.sneaky() RETURNS int LANGUAGE sql AS 'INSERT INTO public.audit VALUES (now()); SELECT 1';
		CREATE VIEW public.sneaky_view AS SELECT public.sneaky() AS x;
		GRANT SELECT ON public.sneaky_view TO `+pgtest.Reader+`;
		GRANT INSERT ON public.audit TO `+pgtest.Reader)
	_, err := f.run(t, "SELECT x FROM sneaky_view", Limits{MaxRows: 10})
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeReadOnlyViolation {
		t.Fatalf("err = %v, want %s", err, CodeReadOnlyViolation)
	}
	var n int
	if err := f.db.Pool(t).QueryRow(t.Context(), "SELECT count(*) FROM public.audit").Scan(&n); err != nil || n != 0 {
		t.Errorf("audit rows = %d (%v), want 0", n, err)
	}
}

// TestExtendedProtocolRefusesTwoStatements checks the property the executor
// relies on: the unnamed-statement extended protocol refuses a string with
// two commands, so a second statement cannot run even if one slipped past
// the guard.
func TestExtendedProtocolRefusesTwoStatements(t *testing.T) {
	f := newExecFixture(t, "")
	conn, err := f.pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	_, err = conn.Conn().PgConn().ExecParams(t.Context(), "SELECT 1; SELECT 2", nil, nil, nil, nil).Close()
	if err == nil || !strings.Contains(err.Error(), "cannot insert multiple commands into a prepared statement") {
		t.Errorf("two statements through ExecParams: %v", err)
	}
}

func TestSanitizeMessage(t *testing.T) {
	known := func(n string) bool { return n == "orders.customer_id" }
	cases := []struct{ state, in, sql, want string }{
		{"22P02", `invalid input syntax for type integer: "alice@example.com"`, "SELECT email::int FROM customers", `invalid input syntax for type integer: "…"`},
		{"22P02", `invalid input syntax for type integer: "abc"`, "SELECT 'abc'::int", `invalid input syntax for type integer: "…"`},
		{"22008", `date/time field value out of range: 2024-13-01`, "SELECT d::date FROM t", `date/time field value out of range: …`},
		{"22003", `value "99999999999" is out of range for type integer`, "SELECT x::int FROM t", `value "…" is out of range for type integer`},
		{"22012", `division by zero`, "SELECT 1/0", `division by zero`},
		{"42703", `column "emial" does not exist`, "SELECT emial FROM customers", `column "emial" does not exist`},
		{"22P02", `invalid input value for enum order_status: "shipped-ish"`, "SELECT s::order_status FROM t", `invalid input value for enum order_status: "…"`},
		// Class 42 carries data too: a value read from a row is masked.
		{"42601", `syntax error in tsquery: "User 1"`, "SELECT to_tsquery(name) FROM users", `syntax error in tsquery: "…"`},
		{"42601", `syntax error at or near "FORM"`, "SELECT 1 FORM t", `syntax error at or near "FORM"`},
		{"42703", `Perhaps you meant to reference the column "orders.customer_id".`, "SELECT customerid FROM orders", `Perhaps you meant to reference the column "orders.customer_id".`},
		{"42703", `Perhaps you meant to reference the column "users.ssn".`, "SELECT sn FROM users", `Perhaps you meant to reference the column "…".`},
		// Unquoted values and numbers outside class 42.
		{"54000", `requested character too large for encoding: 12345`, "SELECT chr(n) FROM t", `requested character too large for encoding: …`},
		{"22021", `invalid byte sequence for encoding "UTF8": 0xe2 0x80`, "SELECT convert_from(b, 'UTF8') FROM t", `invalid byte sequence for encoding "…": …`},
		{"22026", `bit string length 3 does not match type bit(4)`, "SELECT b::bit(4) FROM t", `bit string length … does not match type bit(4)`},
		// Text a function wrote is never shown.
		{"P0001", `secret row: alice`, "SELECT f()", `the statement failed in a function or extension (SQLSTATE P0001; its message is not shown, it may hold data)`},
	}
	for _, tc := range cases {
		if got := SanitizeMessage(tc.state, tc.in, tc.sql, known); got != tc.want {
			t.Errorf("SanitizeMessage(%s, %q) = %q, want %q", tc.state, tc.in, got, tc.want)
		}
	}
}
