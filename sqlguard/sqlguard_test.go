package sqlguard

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// testPolicy is the corpus policy (shop_policy.json), built in code so these
// tests run without the shared corpus, over testCatalog: the shop schema
// and the additions of testcatalog_test.go, permitted and blocked as
// testRelations, testBlockedRelations and testBlockedColumns say.
func testPolicy() *Policy {
	blockedCols := make(map[string][]string, len(testBlockedColumns))
	for t, cols := range testBlockedColumns {
		blockedCols[t] = append([]string(nil), cols...)
	}
	return &Policy{
		Database:         "shop",
		SearchPath:       []string{"public"},
		AllowedRelations: append([]string(nil), testRelations...),
		BlockedRelations: append([]string(nil), testBlockedRelations...),
		BlockedColumns:   blockedCols,
		Catalog:          testCatalog(),
	}
}

type guardCase struct {
	name string
	sql  string
	want Code // "" = accepted
}

// guardCases cover every code, every bypass class of the design notes and
// tricky-but-safe queries.
var guardCases = []guardCase{
	// --- accepted -----------------------------------------------------------
	{"plain select", "SELECT id, status FROM orders WHERE status = 'paid'", ""},
	{"trailing semicolon and comment", "SELECT 1; -- done", ""},
	{"comment before", "/* report */ SELECT count(*) FROM orders", ""},
	{"drop inside nested comment", "SELECT 1 /* /* x */ ; DROP TABLE orders; */", ""},
	{"three-part name of this database", "SELECT count(*) FROM shop.public.orders", ""},
	{"schema-qualified", "SELECT r.name FROM sales.regions r", ""},
	{"quoted and upper-case names", `SELECT "id" FROM "orders" WHERE ID > 1`, ""},
	{"CTE named like the blocked table", "WITH api_keys AS (SELECT id FROM orders) SELECT * FROM api_keys", ""},
	{"alias named like the blocked table", "SELECT api_keys.id FROM orders AS api_keys", ""},
	{"recursive sibling reference", "WITH RECURSIVE a AS (SELECT key FROM api_keys), api_keys AS (SELECT 1 AS key) SELECT * FROM a", ""},
	{"CTE shadowing inside subquery only", "SELECT (WITH users AS (SELECT 1 AS ssn) SELECT ssn FROM users)", ""},
	{"blocked names in literals", "SELECT 'password_hash', 'SELECT * FROM api_keys' FROM orders", ""},
	{"safe users columns", "SELECT id, email, name, created_at FROM users", ""},
	{"output alias named like a blocked column", "SELECT email AS password_hash FROM users", ""},
	{"star over derived table of safe columns", "SELECT s.* FROM (SELECT id, email FROM users) s", ""},
	{"json_agg over safe derived table", "SELECT json_agg(x) FROM (SELECT id, email FROM users) x", ""},
	{"whole row of a table without blocked columns", "SELECT row_to_json(o) FROM orders o", ""},
	{"star over table without blocked columns", "SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id", ""},
	{"TABLE of a permitted table", "TABLE categories", ""},
	{"join USING a safe column", "SELECT u.id FROM users u JOIN orders o USING (id)", ""},
	{"natural join without blocked columns", "SELECT 1 FROM orders NATURAL JOIN (VALUES ('paid')) v(status)", ""},
	{"alias list on a table without blocked columns", "SELECT a FROM orders o(a, b)", ""},
	{"functions in every position", "SELECT date_trunc('month', order_date), count(*) FILTER (WHERE total_amount > 0), sum(total_amount) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM orders GROUP BY 1, order_date, total_amount, id ORDER BY lower(status) LIMIT abs(-5) OFFSET mod(4, 3)", ""},
	{"SQL-syntax functions", "SELECT extract(year FROM order_date), substring(status FROM 1 FOR 2), position('a' IN status), overlay(status PLACING 'x' FROM 1), trim(status), order_date AT TIME ZONE 'UTC', status SIMILAR TO 'p%' FROM orders", ""},
	{"typed literals and casts", "SELECT DATE '2024-01-01', interval '1 day', 1::int8, '1'::numeric(10,2), '{1}'::int[], int4(2), text(3), CAST(1 AS varchar(3))", ""},
	{"current date and time", "SELECT current_date, current_timestamp, localtime, now()", ""},
	{"operators", "SELECT id FROM products WHERE attributes @> '{}' AND tags && ARRAY['a'] AND name ~* 'x' AND attributes ? 'k'", ""},
	{"OPERATOR(pg_catalog.+)", "SELECT 1 OPERATOR(pg_catalog.+) 2", ""},
	{"regex with backslash", `SELECT regexp_split_to_array('a b', '\s+')`, ""},
	{"E string with escaped quote", `SELECT E'it\'s'`, ""},
	{"dollar quote with backslash", `SELECT $$a\'b$$`, ""},
	{"lateral function", "SELECT p.id, t.tag FROM products p, LATERAL unnest(p.tags) AS t(tag)", ""},
	{"rows from with column definitions", "SELECT * FROM ROWS FROM (jsonb_to_recordset('[{\"a\":1}]') AS (a int)) t", ""},
	{"tablesample", "SELECT id FROM orders TABLESAMPLE SYSTEM (10) REPEATABLE (1)", ""},
	{"small series", "SELECT g FROM generate_series(1, 100) g", ""},
	{"small timestamp series", "SELECT d FROM generate_series(date '2024-01-01', date '2024-12-31', interval '1 day') d", ""},
	{"bounded recursive CTE", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) SELECT * FROM n", ""},
	{"cross join with a small series", "SELECT o.id, g FROM orders o CROSS JOIN generate_series(1, 3) g", ""},
	{"two scalar subqueries cross joined", "SELECT a.n, b.n FROM (SELECT count(*) n FROM orders) a, (SELECT count(*) n FROM customers) b", ""},
	{"parenthesised set operation", "(SELECT id FROM orders LIMIT 5) UNION ALL (SELECT id FROM payments LIMIT 5)", ""},
	{"grouping sets", "SELECT status, channel, count(*) FROM orders GROUP BY GROUPING SETS ((status), (channel), ())", ""},
	{"window clause", "SELECT id, rank() OVER w FROM orders WINDOW w AS (PARTITION BY status ORDER BY id)", ""},
	{"collate", `SELECT status FROM orders ORDER BY status COLLATE "C"`, ""},
	{"values", "VALUES (1, 'a'), (2, 'b')", ""},
	{"distinct on", "SELECT DISTINCT ON (customer_id) customer_id, id FROM orders ORDER BY customer_id, id DESC", ""},
	{"fetch with ties", "SELECT id FROM orders ORDER BY total_amount FETCH FIRST 3 ROWS WITH TIES", ""},
	{"star inside EXISTS", "SELECT id FROM orders o WHERE EXISTS (SELECT * FROM users u WHERE u.id = o.customer_id)", ""},
	{"qualified star inside NOT EXISTS", "SELECT id FROM orders o WHERE NOT EXISTS (SELECT u.* FROM users u WHERE u.id = o.customer_id)", ""},

	// --- pre-parse ------------------------------------------------------------
	{"empty", "", CodeEmpty},
	{"whitespace", " \n\t ", CodeEmpty},
	{"comment only", "-- nothing", CodeEmpty},
	{"semicolons only", ";;", CodeEmpty},
	{"NUL byte", "SELECT 1\x00; DROP TABLE orders", CodeInvalidEncoding},
	{"invalid UTF-8", "SELECT '\xff'", CodeInvalidEncoding},
	{"huge input", "SELECT " + strings.Repeat("1 + ", 20000) + "1", CodeTooLarge},
	{"backslash quote", `SELECT 'a\'' , pg_read_file($$/etc/hostname$$) AS leak --'`, CodeLexerDifferential},
	{"string ending in backslash", `SELECT 'C:\'`, CodeLexerDifferential},

	// --- parser ---------------------------------------------------------------
	{"syntax error", "SELECT * FRMO orders", CodeSyntaxError},
	{"two statements", "SELECT 1; DROP TABLE orders", CodeMultipleStatements},
	{"comment with bare CR ends", "SELECT 1 --\r; DROP TABLE orders", CodeMultipleStatements},

	// --- statements -----------------------------------------------------------
	{"delete", "DELETE FROM orders", CodeNotSelect},
	{"explain", "EXPLAIN SELECT 1", CodeNotSelect},
	{"set", "SET standard_conforming_strings = off", CodeNotSelect},
	{"with delete at top", "WITH x AS (SELECT 1) DELETE FROM orders", CodeNotSelect},
	{"select into", "SELECT * INTO t FROM orders", CodeSelectInto},
	{"select into in a union", "SELECT 1 AS a INTO t3 UNION SELECT 2", CodeSelectInto},
	{"for update", "SELECT id FROM orders FOR UPDATE", CodeLockingClause},
	{"for share in subquery", "SELECT * FROM (SELECT id FROM orders FOR SHARE) s", CodeLockingClause},
	{"for key share in union branch", "SELECT id FROM orders UNION ALL (SELECT id FROM payments FOR KEY SHARE)", CodeLockingClause},
	{"data-modifying CTE", "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", CodeDataModifyingCTE},
	{"data-modifying CTE in subquery", "SELECT (WITH d AS (DELETE FROM payments RETURNING 1) SELECT count(*) FROM d)", CodeDataModifyingCTE},
	{"data-modifying CTE in lateral", "SELECT 1 FROM orders o, LATERAL (WITH d AS (UPDATE orders SET status = 'x' RETURNING 1) SELECT 1 FROM d) x", CodeDataModifyingCTE},

	// --- functions --------------------------------------------------------------
	{"pg_sleep", "SELECT pg_sleep(1)", CodeFunctionNotAllowed},
	{"quoted function name", `SELECT "pg_read_file"('/etc/passwd')`, CodeFunctionNotAllowed},
	{"unicode-escaped function name", `SELECT U&"pg_read_fil\0065"('/etc/passwd')`, CodeFunctionNotAllowed},
	{"upper-case quoted name of an allowed function", `SELECT "LOWER"('x')`, CodeFunctionNotAllowed},
	{"pg_catalog-qualified", "SELECT pg_catalog.pg_sleep(1)", CodeFunctionNotAllowed},
	{"other schema", "SELECT public.lower('x')", CodeFunctionNotAllowed},
	{"three-part function", "SELECT shop.pg_catalog.lower('x')", CodeFunctionNotAllowed},
	{"function in FROM", "SELECT * FROM pg_ls_dir('.')", CodeFunctionNotAllowed},
	{"function in ROWS FROM", "SELECT * FROM ROWS FROM (generate_series(1, 3), pg_sleep(1)) AS t(a, b)", CodeFunctionNotAllowed},
	{"function in FILTER", "SELECT count(*) FILTER (WHERE pg_try_advisory_lock(1)) FROM orders", CodeFunctionNotAllowed},
	{"function in window frame", "SELECT sum(id) OVER (ORDER BY id ROWS BETWEEN (SELECT 1 FROM pg_sleep(1))::int PRECEDING AND CURRENT ROW) FROM orders", CodeFunctionNotAllowed},
	{"function in LIMIT", "SELECT id FROM orders LIMIT (SELECT 1 FROM pg_sleep(5))", CodeFunctionNotAllowed},
	{"function in OFFSET", "SELECT id FROM orders OFFSET txid_current()", CodeFunctionNotAllowed},
	{"function in ORDER BY", "SELECT id FROM orders ORDER BY pg_backend_pid()", CodeFunctionNotAllowed},
	{"function in named argument", "SELECT format(fmt => '%s', VARIADIC ARRAY[pg_read_file('/etc/passwd')])", CodeFunctionNotAllowed},
	{"function in aggregate ORDER BY", "SELECT string_agg(status, ',' ORDER BY pg_advisory_lock(id)::text) FROM orders", CodeFunctionNotAllowed},
	{"function in tablesample", "SELECT * FROM orders TABLESAMPLE BERNOULLI ((SELECT 10 FROM pg_sleep(1)))", CodeFunctionNotAllowed},
	{"function in CTE", "WITH s AS (SELECT pg_sleep(5)) SELECT * FROM s", CodeFunctionNotAllowed},
	{"function in VALUES", "VALUES (pg_sleep(1))", CodeFunctionNotAllowed},
	{"function in COLLATE", `SELECT (pg_read_file('/etc/passwd') COLLATE "C")`, CodeFunctionNotAllowed},
	{"query_to_xml runs SQL text", "SELECT query_to_xml('SELECT 1', true, false, '')", CodeFunctionNotAllowed},
	{"ts_rewrite runs SQL text", "SELECT ts_rewrite('a'::tsquery, 'SELECT 1')", CodeFunctionNotAllowed},
	{"current_setting", "SELECT current_setting('data_directory')", CodeFunctionNotAllowed},
	{"nextval", "SELECT nextval('invoice_seq')", CodeFunctionNotAllowed},
	{"set_config", "SELECT set_config('role', 'postgres', false)", CodeFunctionNotAllowed},
	{"current_user", "SELECT current_user", CodeFunctionNotAllowed},
	{"session_user", "SELECT session_user", CodeFunctionNotAllowed},
	{"current_schema", "SELECT current_schema", CodeFunctionNotAllowed},
	{"tablesample method", "SELECT * FROM orders TABLESAMPLE system_rows (10)", CodeFunctionNotAllowed},

	// --- operators ----------------------------------------------------------------
	{"user operator", "SELECT 1 === 2", CodeOperatorNotAllowed},
	{"qualified operator", "SELECT 1 OPERATOR(public.+) 2", CodeOperatorNotAllowed},
	{"ORDER BY USING a user operator", "SELECT id FROM orders ORDER BY id USING ~<~", CodeOperatorNotAllowed},
	{"ANY with a user operator", "SELECT 1 WHERE 1 OPERATOR(public.=) ANY (SELECT 1)", CodeOperatorNotAllowed},

	// --- relations ------------------------------------------------------------------
	{"unknown table", "SELECT * FROM secret_salaries", CodeRelationNotAllowed},
	{"view not permitted", "SELECT ssn FROM user_directory", CodeRelationNotAllowed},
	{"sequence", "SELECT * FROM invoice_seq", CodeRelationNotAllowed},
	{"other database", "SELECT * FROM otherdb.public.orders", CodeRelationNotAllowed},
	{"schema not permitted", "SELECT * FROM private.orders", CodeRelationNotAllowed},
	{"pg_catalog qualified", "SELECT relname FROM pg_catalog.pg_class", CodeSystemCatalog},
	{"unqualified pg_class is the catalog", "SELECT relname FROM pg_class", CodeSystemCatalog},
	{"unqualified pg_stat_activity", "SELECT query FROM pg_stat_activity", CodeSystemCatalog},
	{"unqualified pg_user", "SELECT * FROM pg_user", CodeSystemCatalog},
	{"information_schema", "SELECT table_name FROM information_schema.tables", CodeSystemCatalog},
	{"pg_temp", "SELECT * FROM pg_temp.orders", CodeSystemCatalog},
	{"catalog in a subquery", "SELECT 1 WHERE EXISTS (SELECT 1 FROM pg_roles)", CodeSystemCatalog},
	{"blocked table", "SELECT * FROM api_keys", CodeBlockedTable},
	{"blocked table qualified", "SELECT key FROM public.api_keys", CodeBlockedTable},
	{"blocked table three-part", "SELECT count(*) FROM shop.public.api_keys", CodeBlockedTable},
	{"blocked table unicode escape", `SELECT * FROM U&"api\005Fkeys"`, CodeBlockedTable},
	{"blocked table quoted upper case", `SELECT * FROM public."API_KEYS"`, CodeBlockedTable},
	{"blocked table ONLY", "SELECT * FROM ONLY api_keys", CodeBlockedTable},
	{"TABLE blocked", "TABLE api_keys", CodeBlockedTable},
	{"forward CTE reference without RECURSIVE", "WITH a AS (SELECT key FROM api_keys), api_keys AS (SELECT 1 AS key) SELECT * FROM a", CodeBlockedTable},
	{"CTE inside a CTE is invisible outside", "WITH x AS (WITH api_keys AS (SELECT 1 AS key) SELECT key FROM api_keys) SELECT key FROM api_keys", CodeBlockedTable},
	{"CTE inside a subquery is invisible outside", "SELECT (WITH api_keys AS (SELECT 1 AS k) SELECT k FROM api_keys LIMIT 1), key FROM api_keys", CodeBlockedTable},
	{"CTE shadowing a permitted name", "WITH orders AS (SELECT key FROM api_keys) SELECT * FROM orders", CodeBlockedTable},
	{"blocked table in a set operation", "SELECT email FROM customers INTERSECT SELECT key FROM api_keys", CodeBlockedTable},

	// --- blocked columns ----------------------------------------------------------
	{"blocked column", "SELECT ssn FROM users", CodeBlockedColumn},
	{"blocked column quoted", `SELECT "password_hash" FROM users`, CodeBlockedColumn},
	{"blocked column unicode escape", `SELECT U&"\0073sn" FROM users`, CodeBlockedColumn},
	{"blocked column qualified", "SELECT public.users.ssn FROM public.users", CodeBlockedColumn},
	{"blocked column in WHERE", "SELECT id FROM users WHERE ssn LIKE '1%'", CodeBlockedColumn},
	{"blocked column in a cast", "SELECT id FROM users WHERE CAST(ssn AS int) = 1", CodeBlockedColumn},
	{"blocked column in window", "SELECT rank() OVER (PARTITION BY ssn) FROM users", CodeBlockedColumn},
	{"blocked column through CTE", "WITH t(a, b) AS (SELECT id, ssn FROM users) SELECT b FROM t", CodeBlockedColumn},
	{"blocked column in correlated subquery", "SELECT o.id, (SELECT ssn FROM users WHERE users.id = o.customer_id) FROM orders o", CodeBlockedColumn},
	{"blocked column upper-case quoted", `SELECT "SSN" FROM users`, CodeUnresolvedName}, // users has no column "SSN": PostgreSQL would fail too
	{"alias column list", "SELECT c6 FROM users u(c1, c2, c3, c4, c5, c6)", CodeBlockedColumn},
	{"natural join", "SELECT u.id FROM users u NATURAL JOIN (SELECT '1'::text AS ssn) g", CodeBlockedColumn},
	{"join using blocked column", "SELECT id FROM users JOIN (VALUES ('1')) v(ssn) USING (ssn)", CodeBlockedColumn},
	{"field of a whole row", "SELECT (u.*).password_hash FROM users u", CodeBlockedColumn},
	{"star", "SELECT * FROM users", CodeStarOnBlockedTable},
	{"qualified star", "SELECT u.* FROM users u", CodeStarOnBlockedTable},
	{"star over a join", "SELECT * FROM orders o JOIN users u ON u.id = o.customer_id", CodeStarOnBlockedTable},
	{"TABLE users", "TABLE users", CodeStarOnBlockedTable},
	{"star in a derived table", "SELECT * FROM (SELECT * FROM users) s", CodeStarOnBlockedTable},
	{"blocked column inside EXISTS", "SELECT 1 WHERE EXISTS (SELECT ssn FROM users)", CodeBlockedColumn},
	{"star in a subquery of EXISTS", "SELECT 1 WHERE EXISTS (SELECT x FROM (SELECT * FROM users) x)", CodeStarOnBlockedTable},
	{"star in EXISTS over a union", "SELECT 1 WHERE EXISTS (SELECT * FROM users UNION SELECT * FROM users)", CodeStarOnBlockedTable},
	{"star in an IN subquery", "SELECT 1 WHERE (1, 'a') IN (SELECT * FROM users)", CodeStarOnBlockedTable},
	{"ROW(u.*)", "SELECT ROW(u.*) FROM users u", CodeStarOnBlockedTable},
	{"star over a join alias", "SELECT j.* FROM (users u JOIN orders o ON o.customer_id = u.id) AS j", CodeStarOnBlockedTable},
	{"whole row", "SELECT u FROM users u", CodeWholeRowReference},
	{"whole row by table name", "SELECT users FROM users", CodeWholeRowReference},
	{"whole row in a function", "SELECT row_to_json(u) FROM users u", CodeWholeRowReference},
	{"whole row cast", "SELECT u::text FROM users u", CodeWholeRowReference},
	{"whole row field", "SELECT (u).ssn FROM users u", CodeBlockedColumn},
	{"whole row in format", "SELECT format('%s', u) FROM users u", CodeWholeRowReference},
	{"whole row in aggregate", "SELECT json_agg(u) FROM users u", CodeWholeRowReference},
	{"whole row of a join alias", "SELECT j FROM (users u JOIN orders o ON o.customer_id = u.id) AS j", CodeWholeRowReference},
	{"whole row from an outer level", "SELECT (SELECT u FROM orders LIMIT 1) FROM users u", CodeWholeRowReference},
	{"whole row in lateral", "SELECT x FROM users u, LATERAL (SELECT to_jsonb(u) AS x) l", CodeWholeRowReference},

	// --- parameters, casts ----------------------------------------------------------
	{"parameter", "SELECT * FROM orders WHERE id = $1", CodeParameterNotAllowed},
	{"typed parameter", "SELECT $1::text", CodeParameterNotAllowed},
	{"regclass cast", "SELECT 'users'::regclass", CodeCastNotAllowed},
	{"regproc cast", "SELECT 'now'::regproc", CodeCastNotAllowed},
	{"xml cast", "SELECT 'x'::xml", CodeCastNotAllowed},
	{"user type", "SELECT '1'::posint", CodeCastNotAllowed},
	{"qualified user type", "SELECT '1'::public.text", CodeCastNotAllowed},
	{"composite of a table", "SELECT NULL::users", CodeCastNotAllowed},
	{"%TYPE", "SELECT 1::orders.id%TYPE", CodeCastNotAllowed},
	{"column definition type", "SELECT * FROM jsonb_to_record('{}') AS t(a regclass)", CodeCastNotAllowed},
	{"regclass function-style", "SELECT regclass('users')", CodeFunctionNotAllowed},

	// --- resource limits ----------------------------------------------------------------
	{"huge series", "SELECT count(*) FROM generate_series(1, 1e12)", CodeResourceLimit},
	{"huge series computed", "SELECT count(*) FROM generate_series(1, 10^9)", CodeResourceLimit},
	{"huge timestamp series", "SELECT count(*) FROM generate_series(timestamp '2000-01-01', timestamp '2100-01-01', interval '1 second')", CodeResourceLimit},
	{"huge untyped timestamp series", "SELECT count(*) FROM generate_series('2000-01-01'::date, '2100-01-01', '1 minute')", CodeResourceLimit},
	{"joined medium series", "SELECT count(*) FROM generate_series(1, 100000) a JOIN generate_series(1, 100000) b ON a <> b", CodeResourceLimit},
	{"cartesian product of tables", "SELECT count(*) FROM orders, order_items, payments", CodeResourceLimit},
	{"cross join of tables", "SELECT count(*) FROM order_items a CROSS JOIN order_items b", CodeResourceLimit},
	{"table and big series", "SELECT count(*) FROM orders o, generate_series(1, 100000)", CodeResourceLimit},
	{"unbounded recursion", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r", CodeResourceLimit},
	{"recursion to 1e12", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1e12) SELECT count(*) FROM r", CodeResourceLimit},
	{"huge repeat", "SELECT repeat('x', 1000000000)", CodeResourceLimit},
	{"repeat of a long constant", "SELECT repeat('word ', 50000)", CodeResourceLimit},
	{"huge lpad", "SELECT lpad('', 1000000000, 'x')", CodeResourceLimit},
	{"huge array_fill", "SELECT array_fill(0, ARRAY[20000, 20000])", CodeResourceLimit},
	{"huge factorial", "SELECT factorial(200000)", CodeResourceLimit},
	{"deep nesting", "SELECT " + strings.Repeat("(", 1200) + "1" + strings.Repeat(" + 1)", 1200), CodeResourceLimit},
	{"deep union chain", strings.TrimSuffix(strings.Repeat("SELECT 1 UNION ALL ", 1100), " UNION ALL "), CodeResourceLimit},

	// --- unsupported nodes ----------------------------------------------------------------
	{"xml expression", "SELECT xmlelement(name x, 'y')", CodeUnsupportedNode},
	{"XMLTABLE", "SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int)", CodeUnsupportedNode},
	{"IS JSON", "SELECT '{}' IS JSON", CodeUnsupportedNode},
	{"JSON_OBJECT constructor", "SELECT JSON_OBJECT('a': 1)", CodeUnsupportedNode},
}

func TestCheck(t *testing.T) {
	p := testPolicy()
	for _, tc := range guardCases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Check(tc.sql, p)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v\n%s", err, tc.sql)
				}
				if q.SQL() == "" {
					t.Errorf("empty SQL()")
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %s: %.200s", tc.want, tc.sql)
			}
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("error %T is not *Error", err)
			}
			if ge.Code != tc.want {
				t.Errorf("code %s (%s), want %s", ge.Code, ge.Message, tc.want)
			}
			if ge.Message == "" || ge.Error() != string(ge.Code)+": "+ge.Message {
				t.Errorf("bad message %q", ge.Message)
			}
			checkMessage(t, tc.sql, ge)
		})
	}
}

// TestEveryCodeCovered makes sure the table above exercises every code a
// query can get (CodeInvalidPolicy is a policy matter, tested separately).
func TestEveryCodeCovered(t *testing.T) {
	all := []Code{CodeEmpty, CodeTooLarge, CodeInvalidEncoding, CodeSyntaxError, CodeMultipleStatements,
		CodeNotSelect, CodeSelectInto, CodeLockingClause, CodeDataModifyingCTE, CodeFunctionNotAllowed,
		CodeOperatorNotAllowed, CodeRelationNotAllowed, CodeSystemCatalog, CodeBlockedTable, CodeBlockedColumn,
		CodeStarOnBlockedTable, CodeWholeRowReference, CodeParameterNotAllowed, CodeCastNotAllowed,
		CodeLexerDifferential, CodeResourceLimit, CodeUnsupportedNode}
	seen := map[Code]bool{}
	for _, tc := range guardCases {
		seen[tc.want] = true
	}
	for _, c := range all {
		if !seen[c] {
			t.Errorf("no test case for %s", c)
		}
	}
}

func TestPositionsAndMessages(t *testing.T) {
	p := testPolicy()
	for _, tc := range []struct {
		sql  string
		code Code
		pos  int
		msg  string
	}{
		{"SELECT pg_read_file('/etc/passwd')", CodeFunctionNotAllowed, 8, `function "pg_read_file" is not allowed (position 8)`},
		{"SELECT relname FROM pg_class", CodeSystemCatalog, 21, `relation "pg_catalog.pg_class" is a system catalog (position 21)`},
		{"SELECT ssn FROM users", CodeBlockedColumn, 8, `column "ssn" of "public.users" is blocked (position 8)`},
		{"SELECT 'é', pg_sleep(1)", CodeFunctionNotAllowed, 13, ""}, // positions count characters, not bytes
		{"SELECT * FRMO orders", CodeSyntaxError, 10, "syntax error (position 10)"},
		{"SELECT 'secret-value-123'::regclass", CodeCastNotAllowed, 0, ""},
	} {
		_, err := Check(tc.sql, p)
		var ge *Error
		if !errors.As(err, &ge) {
			t.Fatalf("%q: %v", tc.sql, err)
		}
		if ge.Code != tc.code || (tc.pos != 0 && ge.Position != tc.pos) || (tc.msg != "" && ge.Message != tc.msg) {
			t.Errorf("%q: got %s %d %q", tc.sql, ge.Code, ge.Position, ge.Message)
		}
		if strings.Contains(ge.Message, "secret-value") {
			t.Errorf("message echoes a literal: %q", ge.Message)
		}
	}
}

func TestQueryAccessors(t *testing.T) {
	p := testPolicy()
	q, err := Check("  /* c */ SELECT o.id, c.email, lower(status), count(*) FROM orders o JOIN customers c ON c.id = o.customer_id "+
		"WHERE o.id IN (SELECT order_id FROM order_items) AND EXISTS (SELECT 1 FROM sales.orders) GROUP BY 1, 2, 3 ;  -- end", p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/* c */ SELECT o.id, c.email, lower(status), count(*) FROM orders o JOIN customers c ON c.id = o.customer_id " +
		"WHERE o.id IN (SELECT order_id FROM order_items) AND EXISTS (SELECT 1 FROM sales.orders) GROUP BY 1, 2, 3"; q.SQL() != want {
		t.Errorf("SQL() = %q", q.SQL())
	}
	if got, want := q.Relations(), []string{"public.customers", "public.order_items", "public.orders", "sales.orders"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Relations() = %q, want %q", got, want)
	}
	if got, want := q.Functions(), []string{"count", "lower"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Functions() = %q, want %q", got, want)
	}
	if got, want := q.Columns(), []string{"public.customers.email", "public.customers.id",
		"public.order_items.order_id", "public.orders.customer_id", "public.orders.id", "public.orders.status"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Columns() = %q, want %q", got, want)
	}
	fp := q.Fingerprint()
	q2, _ := Check("SELECT o.id, c.email, lower(status), count(*) FROM orders o JOIN customers c ON c.id = o.customer_id "+
		"WHERE o.id IN (SELECT order_id FROM order_items) AND EXISTS (SELECT 1 FROM sales.orders) GROUP BY 4, 5, 6", p)
	if fp == "" || len(fp) != 16 || q2.Fingerprint() != fp {
		t.Errorf("fingerprints %q %q", fp, q2.Fingerprint())
	}
	// CTE names are not relations.
	q, err = Check("WITH x AS (SELECT id FROM orders) SELECT x.id FROM x", p)
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Relations(); !reflect.DeepEqual(got, []string{"public.orders"}) {
		t.Errorf("Relations() = %q", got)
	}
	if got := q.Columns(); !reflect.DeepEqual(got, []string{"public.orders.id"}) {
		t.Errorf("Columns() = %q", got)
	}
}

func TestAllowedLists(t *testing.T) {
	fs := AllowedFunctions()
	if len(fs) < 100 {
		t.Fatalf("only %d functions", len(fs))
	}
	for _, f := range fs {
		if strings.HasPrefix(f, "pg_") || f != strings.ToLower(f) {
			t.Errorf("suspicious allowlisted function %q", f)
		}
	}
	for _, bad := range []string{"pg_sleep", "current_setting", "set_config", "query_to_xml", "ts_stat", "ts_rewrite",
		"txid_current", "nextval", "lo_import", "dblink", "version", "setseed", "current_database", "xmlelement"} {
		if _, ok := allowedFuncs[bad]; ok {
			t.Errorf("%s is allowlisted", bad)
		}
	}
	if len(AllowedOperators()) == 0 || len(AllowedTypes()) == 0 {
		t.Error("empty allowlists")
	}
	for _, ty := range AllowedTypes() {
		if strings.HasPrefix(ty, "reg") || ty == "xml" || ty == "record" {
			t.Errorf("type %s is allowlisted", ty)
		}
	}
}

// searchPathCatalog has the relations TestSearchPathResolution and
// TestPolicyChangesAreNoticed name, in the schemas they name.
var searchPathCatalog = sync.OnceValue(func() *Catalog {
	return mustCatalogFromDDL(`CREATE SCHEMA private; CREATE SCHEMA sales;
		CREATE TABLE public.anything (id int); CREATE TABLE private.anything (id int);
		CREATE TABLE public.orders (id int, status text); CREATE TABLE sales.regions (id int, name text);
		CREATE TABLE public.regions (id int, secret text); CREATE TABLE public.x (id int);
		CREATE TABLE public.t (id int)`, []string{"public"})
})

func TestSearchPathResolution(t *testing.T) {
	cat := searchPathCatalog()
	// Schema mode: an unqualified name resolves in the first schema only when
	// every schema of the path is allowed.
	p := &Policy{SearchPath: []string{"public", "private"}, AllowedSchemas: []string{"public"}, Catalog: cat}
	if _, err := Check("SELECT * FROM anything", p); err != nil {
		t.Errorf("first schema allowed: %v", err)
	}
	p = &Policy{SearchPath: []string{"private", "public"}, AllowedSchemas: []string{"public"}, Catalog: cat}
	if _, err := Check("SELECT * FROM anything", p); codeOf(err) != CodeRelationNotAllowed {
		t.Errorf("unresolvable name: %v", err)
	}
	if _, err := Check("SELECT * FROM public.anything", p); err != nil {
		t.Errorf("qualified: %v", err)
	}
	// Exact mode: the first schema of the path that lists the name wins.
	p = &Policy{SearchPath: []string{"sales", "public"}, AllowedRelations: []string{"public.orders", "sales.regions"},
		BlockedRelations: []string{"public.regions"}, Catalog: cat}
	q, err := Check("SELECT * FROM orders, regions WHERE true", p)
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Relations(); !reflect.DeepEqual(got, []string{"public.orders", "sales.regions"}) {
		t.Errorf("Relations() = %q", got)
	}
	// A block in an earlier schema of the path wins.
	p = &Policy{SearchPath: []string{"public", "sales"}, AllowedRelations: []string{"sales.regions"},
		BlockedRelations: []string{"public.regions"}, Catalog: cat}
	if _, err := Check("SELECT * FROM regions", p); codeOf(err) != CodeBlockedTable {
		t.Errorf("blocked earlier in the path: %v", err)
	}
	// pg_catalog in the path is skipped (it is searched first anyway).
	p = &Policy{SearchPath: []string{"pg_catalog", "public"}, AllowedSchemas: []string{"public"}, Catalog: cat}
	if _, err := Check("SELECT * FROM orders", p); err != nil {
		t.Errorf("pg_catalog in the path: %v", err)
	}
	// No database name: three-part names are refused.
	if _, err := Check("SELECT * FROM x.public.t", withCatalog(DefaultPolicy(), cat)); codeOf(err) != CodeRelationNotAllowed {
		t.Errorf("three-part name without database: %v", err)
	}
}

func codeOf(err error) Code {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return ""
}

// withCatalog sets p.Catalog and returns p.
func withCatalog(p *Policy, c *Catalog) *Policy {
	p.Catalog = c
	return p
}

func TestPolicyChangesAreNoticed(t *testing.T) {
	cat := searchPathCatalog()
	p := withCatalog(DefaultPolicy(), cat)
	if _, err := Check("SELECT * FROM orders", p); err != nil {
		t.Fatal(err)
	}
	p.BlockedRelations = append(p.BlockedRelations, "public.orders")
	if _, err := Check("SELECT * FROM orders", p); codeOf(err) != CodeBlockedTable {
		t.Errorf("appended block not noticed: %v", err)
	}
	cp := &Policy{SearchPath: p.SearchPath, AllowedSchemas: []string{"sales"}, Catalog: cat}
	if _, err := Check("SELECT * FROM public.x", cp); codeOf(err) != CodeRelationNotAllowed {
		t.Errorf("copy: %v", err)
	}
	if _, err := Check("SELECT 1", nil); codeOf(err) != CodeInvalidPolicy {
		t.Errorf("nil policy: %v", err)
	}
	bad := &Policy{AllowedRelations: []string{"orders"}, Catalog: cat}
	if _, err := Check("SELECT 1", bad); codeOf(err) != CodeInvalidPolicy {
		t.Errorf("invalid policy: %v", err)
	}
}

func TestParsePolicyJSON(t *testing.T) {
	good := `{"database": "shop", "search_path": ["public"], "allowed_schemas": ["public"],
		"allowed_relations": ["public.orders", "sales.regions"], "blocked_relations": ["public.api_keys"],
		"blocked_columns": {"public.users": ["password_hash", "ssn"]}, "max_series_rows": 10}`
	p, err := ParsePolicyJSON([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	p.Catalog = testCatalog()
	if p.Database != "shop" || len(p.AllowedRelations) != 2 || p.BlockedColumns["public.users"][1] != "ssn" || p.MaxSeriesRows != 10 {
		t.Errorf("parsed %+v", p)
	}
	if _, err := Check("SELECT * FROM generate_series(1, 100)", p); codeOf(err) != CodeResourceLimit {
		t.Errorf("max_series_rows not applied: %v", err)
	}
	for name, bad := range map[string]string{
		"unknown field":         `{"allowed_schemas": ["public"], "allowed_relation": ["public.x"]}`,
		"not JSON":              `{`,
		"trailing data":         `{"allowed_schemas": ["public"]} {}`,
		"relation without dot":  `{"allowed_relations": ["orders"]}`,
		"relation with 3 parts": `{"allowed_relations": ["a.b.c"]}`,
		"system schema":         `{"allowed_schemas": ["pg_catalog"]}`,
		"information_schema":    `{"allowed_relations": ["information_schema.tables"]}`,
		"pg_temp in path":       `{"allowed_schemas": ["public"], "search_path": ["pg_temp"]}`,
		"catalog views in path": `{"allowed_schemas": ["public"], "search_path": ["information_schema", "public"]}`,
		"$user in path":         `{"allowed_schemas": ["public"], "search_path": ["$user"]}`,
		"allowed and blocked":   `{"allowed_relations": ["public.a"], "blocked_relations": ["public.A"]}`,
		"empty blocked columns": `{"allowed_schemas": ["public"], "blocked_columns": {"public.users": []}}`,
		"bad blocked key":       `{"allowed_schemas": ["public"], "blocked_columns": {"users": ["ssn"]}}`,
		"negative limit":        `{"allowed_schemas": ["public"], "max_depth": -1}`,
		"allows nothing":        `{"database": "shop"}`,
		"wrong type":            `{"allowed_schemas": "public"}`,
	} {
		if _, err := ParsePolicyJSON([]byte(bad)); err == nil {
			t.Errorf("%s: accepted %s", name, bad)
		}
	}
}

// TestCaseFiles runs testdata/cases/*.sql: multi-line cases whose first line
// is "-- want: <code>" or "-- want: accept".
func TestCaseFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "cases", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files: %v", err)
	}
	p := testPolicy()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		want, ok := strings.CutPrefix(strings.TrimSpace(first), "-- want:")
		if !ok {
			t.Fatalf("%s: first line must be -- want: <code>", f)
		}
		want = strings.TrimSpace(want)
		q, err := Check(string(b), p)
		switch {
		case want == "accept" && err != nil:
			t.Errorf("%s: rejected: %v", f, err)
		case want == "accept":
			if _, err := q.LimitRows(10); err != nil {
				t.Errorf("%s: LimitRows: %v", f, err)
			}
		case codeOf(err) != Code(want):
			t.Errorf("%s: got %v, want %s", f, err, want)
		}
	}
}
