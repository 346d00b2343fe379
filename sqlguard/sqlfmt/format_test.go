package sqlfmt

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

var formatGolden = []struct{ name, in, want string }{
	{
		name: "joins, filters, grouping",
		in:   `select c.country, sum(o.total_amount) as revenue, count(*) as orders from orders o join customers c on c.id = o.customer_id left join payments p on p.order_id = o.id and p.status = 'captured' where o.order_date >= date '2024-01-01' and o.status in ('paid', 'shipped') group by c.country having count(*) > 10 order by revenue desc limit 10;`,
		want: `SELECT c.country, sum(o.total_amount) AS revenue, count(*) AS orders
FROM orders o
  JOIN customers c ON c.id = o.customer_id
  LEFT JOIN payments p ON p.order_id = o.id
    AND p.status = 'captured'
WHERE o.order_date >= date '2024-01-01'
  AND o.status IN ('paid', 'shipped')
GROUP BY c.country
HAVING count(*) > 10
ORDER BY revenue DESC
LIMIT 10`,
	},
	{
		name: "CTEs",
		in:   `WITH first_orders AS (SELECT customer_id, min(order_date) AS first_order FROM orders WHERE status <> 'cancelled' GROUP BY customer_id), cohorts AS (SELECT c.id, date_trunc('month', f.first_order) AS cohort FROM customers c JOIN first_orders f ON f.customer_id = c.id) SELECT cohort, count(*) AS customers FROM cohorts GROUP BY cohort ORDER BY cohort`,
		want: `WITH first_orders AS (
  SELECT customer_id, min(order_date) AS first_order
  FROM orders
  WHERE status <> 'cancelled'
  GROUP BY customer_id
),
cohorts AS (
  SELECT c.id, date_trunc('month', f.first_order) AS cohort
  FROM customers c
    JOIN first_orders f ON f.customer_id = c.id
)
SELECT cohort, count(*) AS customers
FROM cohorts
GROUP BY cohort
ORDER BY cohort`,
	},
	{
		name: "window functions",
		in:   `select id, total_amount, avg(total_amount) over (order by order_date rows between 6 preceding and current row) as moving_avg, rank() over (partition by customer_id order by total_amount desc) from orders`,
		want: `SELECT
  id,
  total_amount,
  avg(total_amount) OVER (ORDER BY order_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS moving_avg,
  rank() OVER (PARTITION BY customer_id ORDER BY total_amount DESC)
FROM orders`,
	},
	{
		name: "subqueries in WHERE",
		in:   `SELECT users.email FROM users WHERE users.id IN (SELECT customer_id FROM orders WHERE total_amount > 900) AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = users.id AND p.status = 'failed')`,
		want: `SELECT users.email
FROM users
WHERE users.id IN (
  SELECT customer_id
  FROM orders
  WHERE total_amount > 900
)
  AND NOT EXISTS (
    SELECT 1
    FROM payments p
    WHERE p.order_id = users.id
      AND p.status = 'failed'
  )`,
	},
	{
		name: "UNION ALL",
		in:   `select id, 'orders' as src from orders union all select id, 'sales' from sales.orders where amount between 10 and 20 order by 1`,
		want: `SELECT id, 'orders' AS src
FROM orders
UNION ALL
SELECT id, 'sales'
FROM sales.orders
WHERE amount BETWEEN 10 AND 20
ORDER BY 1`,
	},
	{
		name: "comments and a semicolon",
		in: `-- revenue per month
SELECT date_trunc('month', order_date) AS month, -- bucket
       sum(total_amount) /* gross */ AS revenue
FROM orders
WHERE status = 'paid' -- only paid
  OR status = 'shipped'
;`,
		want: `-- revenue per month
SELECT
  date_trunc('month', order_date) AS month, -- bucket
  sum(total_amount) /* gross */ AS revenue
FROM orders
WHERE status = 'paid' -- only paid
  OR status = 'shipped'`,
	},
	{
		name: "keyword-named identifiers, lateral, dollar quote",
		in: `select "select", t."from", x.date, year from "Weird Table" as t, lateral (select $q$it's; -- not a comment$q$ as date) x where t."from" is distinct from -1 and year::text like 'a%'
`,
		want: `SELECT
  "select",
  t."from",
  x.date,
  year
FROM "Weird Table" AS t, LATERAL (
  SELECT $q$it's; -- not a comment$q$ AS date
) x
WHERE t."from" IS DISTINCT FROM -1
  AND year::text LIKE 'a%'`,
	},
}

func TestFormatGolden(t *testing.T) {
	for _, c := range formatGolden {
		t.Run(c.name, func(t *testing.T) {
			got := Format(c.in)
			if got != c.want {
				t.Errorf("Format:\n%s\n--- want:\n%s", got, c.want)
			}
			checkFormatInvariants(t, c.name, c.in)
		})
	}
}

var formatTricky = []string{
	`SELECT 1 AS "a""b", a "b", a b FROM t`,
	`SELECT x FROM t WHERE a = ANY(SELECT y FROM u) AND (SELECT 1) IN (SELECT 2)`,
	`SELECT * FROM t1 JOIN (t2 JOIN t3 ON a = b) ON c = d, (t4 JOIN t5 USING (id)) AS j`,
	`SELECT a FROM t WHERE b OPERATOR(pg_catalog.=) 1 AND 'a' || 'b' COLLATE "C" = 'x'`,
	`SELECT x::timestamp(3) without time zone, interval '1' day to second, CAST(x AS double precision), x::int[]`,
	"SELECT e'\\n', $$a$$ || $b$c;$b$, B'101', X'ff', N'x', U&'\\0041' UESCAPE '!', 'a'\n'b', 'c' -- comment\n, 'd'",
	"SELECT 1 /* nested /* c */ */, -- only comment\n 2",
	`SELECT a FROM t ORDER BY a USING < NULLS FIRST`,
	`SELECT a FROM t FOR UPDATE OF t SKIP LOCKED`,
	`SELECT count(*) OVER w, sum(a) OVER (w2 ROWS UNBOUNDED PRECEDING) FROM t WINDOW w AS (ORDER BY a), w2 AS (w)`,
	`SELECT x FROM t TABLESAMPLE system (10) REPEATABLE (1)`,
	`SELECT * FROM ROWS FROM (generate_series(1, 2), generate_series(1, 3)) WITH ORDINALITY AS x(a, b, c)`,
	`SELECT a <-> b, a->>'k', a#>'{a,b}', a @> b, -a, +a, ~a, 1.5e-3, -1.5, - - 1, 1 - -1, 1--1
	FROM t`,
	`SELECT a.b.c.d, (a).b, (a).*, a[1][2], a[1:], a[:2], (ARRAY[1, 2])[1] FROM t`,
	`SELECT * FROM t WHERE x LIKE 'a' ESCAPE '!' AND y SIMILAR TO 'b' AND z NOT ILIKE 'c'`,
	`SELECT x FROM t GROUP BY DISTINCT a, CUBE (a, b), GROUPING SETS ((a), ())`,
	`SELECT 1 UNION SELECT 2 INTERSECT SELECT 3 EXCEPT ALL SELECT 4 UNION DISTINCT SELECT 5`,
	`WITH a AS MATERIALIZED (SELECT 1), b AS NOT MATERIALIZED (SELECT 2) SELECT * FROM a, b`,
	`WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) SEARCH DEPTH FIRST BY n SET ord CYCLE n SET is_cycle USING path SELECT * FROM t`,
	`SELECT * FROM t OFFSET 5 LIMIT 10`,
	`SELECT * FROM t FETCH NEXT ROW ONLY`,
	`SELECT ALL a FROM t`,
	`SELECT FROM t`,
	`SELECT t.select, t.from AS from, a AS "from" FROM t`,
	`SELECT timestamp '2020-01-01', date '2020-01-01', time with time zone '10:00', CURRENT_DATE - 1, CURRENT_TIMESTAMP(3)`,
	`SELECT extract(year from d), substring(s from 1 for 2), position('a' in s), trim(both 'x' from s), overlay(s placing 'a' from 1 for 2) FROM t`,
	`SELECT a FROM t WHERE EXISTS(SELECT 1) OR a = (SELECT max(b) FROM u)`,
	`SELECT CASE a WHEN 1 THEN 'x' ELSE 'y' END FROM t WHERE a BETWEEN SYMMETRIC 1 AND 2 AND b NOT BETWEEN 3 AND 4`,
	`SELECT json_object('a': 1), json_build_object('a', 1)`,
	`SELECT $1::int, $2`,
	"SELECT a FROM t WHERE a = 1 -- x\n AND b = 2",
	"SELECT a -- c1\n -- c2\n FROM t",
	`SELECT /* c */ DISTINCT a FROM t GROUP /* c */ BY a`,
	"SELECT a FROM t ORDER -- c\n BY a",
	`SELECT (((((1)))))`,
	`(((SELECT 1)))`,
	`SELECT * FROM ((SELECT 1) UNION (SELECT 2)) x`,
	`SELECT (SELECT 1 UNION SELECT 2 LIMIT 1)`,
	`VALUES (1) ORDER BY 1 LIMIT 1`,
	`SELECT * FROM (VALUES (1)) AS v`,
	`TABLE t ORDER BY 1`,
	`SELECT a FROM t WHERE a IS NULL AND b ISNULL AND c NOTNULL AND d IS UNKNOWN AND (a, b) OVERLAPS (c, d)`,
	`SELECT a INTO x FROM t`,
	`SELECT a FROM t AS t (x, y) NATURAL FULL OUTER JOIN u RIGHT OUTER JOIN v ON true INNER JOIN w ON false`,
	`SELECT values, "values" FROM (VALUES (1)) v(values)`,
	`SELECT "left", t.right FROM t`,
	`SELECT x FROM t WHERE NOT EXISTS (SELECT 1) AND x IN (VALUES (1), (2))`,
	"SELECT 1\r\n-- crlf\r\nFROM t",
	"\n\n  SELECT 1  \n\n",
	"/* only */ -- comments\nSELECT 1 -- a\n/* b */",
	`SELECT array_agg(x ORDER BY y DESC) FILTER (WHERE z), percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM t`,
	`SELECT a FROM t WHERE a = 1 OR b = 2 AND (c = 3 OR d = 4)`,
	`SELECT x FROM t WHERE x AT TIME ZONE 'UTC' > now()`,
	`SELECT ROW(1, 2), row(1, 2) = (1, 2)`,
	`SELECT a FROM t JOIN LATERAL (SELECT 1) s ON TRUE CROSS JOIN LATERAL unnest(t.arr) u`,
}

// TestFormatTricky checks the invariants on unusual syntax, without
// asserting the layout.
func TestFormatTricky(t *testing.T) {
	for i, sql := range formatTricky {
		if _, err := pg.Parse(sql); err != nil {
			t.Errorf("case %d does not parse: %v", i, err)
			continue
		}
		checkFormatInvariants(t, "tricky "+strconv.Itoa(i), sql)
	}
}

// TestFormatRules covers single rules: the keyword case, spacing, comments,
// and the texts Format leaves alone.
func TestFormatRules(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"unchanged: syntax error", "SELEC 1", "SELEC 1"},
		{"unchanged: two statements", "SELECT 1; SELECT 2", "SELECT 1; SELECT 2"},
		{"unchanged: not a SELECT", "delete from orders", "delete from orders"},
		{"unchanged: NUL byte", "select 1\x00; drop table t", "select 1\x00; drop table t"},
		{"unchanged: empty", "", ""},
		{"semicolons dropped", "select 1;;", "SELECT 1"},
		{"already formatted", "SELECT 1", "SELECT 1"},
		{"quoted keyword kept", `select "select", "Order" from t`, `SELECT "select", "Order"` + "\nFROM t"},
		{"keyword after a dot and label after AS", "select t.order as from from t", "SELECT t.order AS from\nFROM t"},
		{"function named like a join word", "select left(name, 3) from t left join u using (id)",
			"SELECT left(name, 3)\nFROM t\n  LEFT JOIN u USING (id)"},
		{"unreserved keywords as columns", "select year, position, name from t where year between 1 and 2",
			"SELECT year, position, name\nFROM t\nWHERE year BETWEEN 1 AND 2"},
		{"four items go one per line", "select a, b, c, d from t", "SELECT\n  a,\n  b,\n  c,\n  d\nFROM t"},
		{"long list goes one per line", "select aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb, cccccccccccccccccccccc from t",
			"SELECT\n  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,\n  bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,\n  cccccccccccccccccccccc\nFROM t"},
		{"spacing", "select  count( * ),x :: numeric ( 10 , 2 ),arr [ 1 : 2 ] , - x , 2 - - 1 from t",
			"SELECT\n  count(*),\n  x::numeric(10, 2),\n  arr[1:2],\n  -x,\n  2 - -1\nFROM t"},
		{"FILTER, WITHIN GROUP, NULLS LAST", "select count(*) filter (where x), percentile_cont(0.5) within group (order by y) from t order by 1 nulls last",
			"SELECT count(*) FILTER (WHERE x), percentile_cont(0.5) WITHIN GROUP (ORDER BY y)\nFROM t\nORDER BY 1 NULLS LAST"},
		{"IS DISTINCT FROM is no clause", "select a from t where a is not distinct from b",
			"SELECT a\nFROM t\nWHERE a IS NOT DISTINCT FROM b"},
		{"AND of BETWEEN and inside CASE", "select 1 from t where a between 1 and 2 and case when b and c then true end",
			"SELECT 1\nFROM t\nWHERE a BETWEEN 1 AND 2\n  AND CASE WHEN b AND c THEN TRUE END"},
		{"line comment at the end ends with a newline", "select 1 -- done", "SELECT 1 -- done\n"},
		{"own-line comment before a clause", "select a\n-- the table\nfrom t", "SELECT a\n-- the table\nFROM t"},
		{"comment in the middle of a line", "select a /* x */ from t", "SELECT a /* x */\nFROM t"},
		{"bare CR ends a line comment", "select 1 --x\r, 2", "SELECT\n  1 --x\n    ,\n  2"},
		{"U& literals and N strings", `select U&'d\0061t' as a, N'x', U&"\0061" from t`,
			"SELECT U&'d\\0061t' AS a, N'x', U&\"\\0061\"\nFROM t"},
		{"VALUES", "values (1, 'a'), (2, 'b')", "VALUES (1, 'a'), (2, 'b')"},
		{"parenthesised branches", "(select 1) union (select 2) order by 1",
			"(\n  SELECT 1\n)\nUNION\n(\n  SELECT 2\n)\nORDER BY 1"},
		{"FETCH WITH TIES, OFFSET", "select a from t order by a offset 5 rows fetch first 3 rows with ties",
			"SELECT a\nFROM t\nORDER BY a\nOFFSET 5 ROWS\nFETCH FIRST 3 ROWS WITH TIES"},
		{"recursive CTE", "with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) select n from r",
			"WITH RECURSIVE r(n) AS (\n  SELECT 1\n  UNION ALL\n  SELECT n + 1\n  FROM r\n  WHERE n < 3\n)\nSELECT n\nFROM r"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Format(c.in)
			if got != c.want {
				t.Errorf("Format(%q):\n%s\n--- want:\n%s", c.in, got, c.want)
			}
			if again := Format(got); again != got {
				t.Errorf("not idempotent:\n%s\n--- twice:\n%s", got, again)
			}
		})
	}
}

// TestFormatChecked: on a text that is one SELECT, FormatChecked returns
// what Format returns; checked on every such text of the corpora, the data
// sets and sqlguard's case files.
func TestFormatChecked(t *testing.T) {
	// The text sqlguard.Check keeps of "…; -- done": the statement alone.
	in := "select id from orders where status = 'paid'"
	want := "SELECT id\nFROM orders\nWHERE status = 'paid'"
	if got := FormatChecked(in); got != want {
		t.Errorf("FormatChecked(%q) = %q, want %q", in, got, want)
	}
	for _, c := range formatGolden {
		if got := FormatChecked(c.in); got != c.want {
			t.Errorf("%s: FormatChecked:\n%s\n--- want:\n%s", c.name, got, c.want)
		}
	}
	if in := "select 1\x00; drop table t"; FormatChecked(in) != in {
		t.Errorf("FormatChecked changed a text with a NUL byte")
	}
	srcs, sqls := allTexts(t, true)
	n := 0
	for i, sql := range sqls {
		if !oneSelect(sql) {
			continue
		}
		n++
		if got, want := FormatChecked(sql), Format(sql); got != want {
			t.Errorf("%s: FormatChecked = %q, Format = %q", srcs[i], got, want)
		}
	}
	t.Logf("%d texts, %d one SELECT", len(sqls), n)
}

// oneSelect reports whether sql parses as exactly one SELECT, without NUL
// bytes: the texts FormatChecked may be given.
func oneSelect(sql string) bool {
	if strings.IndexByte(sql, 0) >= 0 {
		return false
	}
	tree, err := pg.Parse(sql)
	return err == nil && len(tree.Stmts) == 1 && tree.Stmts[0].GetStmt().GetSelectStmt() != nil
}

// checkFormatInvariants asserts, for a text that parses as one statement,
// that Format keeps its fingerprint and is idempotent, and reports whether
// Format changed anything.
func checkFormatInvariants(t *testing.T, source, sql string) bool {
	t.Helper()
	want, err := pg.Fingerprint(sql)
	if err != nil {
		return false
	}
	out, ok := format(sql, false)
	if tree, _ := pg.Parse(sql); !ok && tree.GetStmts()[0].GetStmt().GetSelectStmt() != nil {
		t.Errorf("%s: Format fell back to the input text\n%s", source, sql)
	}
	got, err := pg.Fingerprint(out)
	if err != nil || got != want {
		t.Errorf("%s: Format changed the fingerprint (%v)\n--- in:\n%s\n--- out:\n%s", source, err, sql, out)
		return false
	}
	if again := Format(out); again != out {
		t.Errorf("%s: Format is not idempotent\n--- once:\n%s\n--- twice:\n%s", source, out, again)
	}
	return out != sql
}

func TestFormatCorpusInvariants(t *testing.T) {
	for _, c := range []struct {
		name string
		load func(testing.TB) ([]string, []string)
	}{
		{"guard_accept.jsonl", func(t testing.TB) ([]string, []string) { return loadCorpus(t, "guard_accept.jsonl") }},
		{"guard_reject.jsonl", func(t testing.TB) ([]string, []string) { return loadCorpus(t, "guard_reject.jsonl") }},
		{"bird", loadBIRD},
		{"spider", loadSpider},
		{"cases", loadCases},
	} {
		t.Run(c.name, func(t *testing.T) {
			srcs, sqls := c.load(t)
			runFormatInvariants(t, srcs, sqls)
		})
	}
}

func runFormatInvariants(t *testing.T, srcs, sqls []string) {
	t.Helper()
	if len(sqls) == 0 {
		t.Fatal("no texts")
	}
	parsed, changed := 0, 0
	for i, sql := range sqls {
		if tree, err := pg.Parse(sql); err != nil || len(tree.Stmts) != 1 || strings.IndexByte(sql, 0) >= 0 {
			if Format(sql) != sql {
				t.Errorf("%s: Format changed a text that is not one statement", srcs[i])
			}
			continue
		}
		parsed++
		if checkFormatInvariants(t, srcs[i], sql) {
			changed++
		}
	}
	t.Logf("%d texts, %d parse as one statement, %d reformatted", len(sqls), parsed, changed)
}

// FuzzFormat: Format never panics, keeps the fingerprint of a text that
// parses as one statement and is idempotent, and FormatChecked agrees with
// it on one SELECT. Seeds: the tables above, the corpora and the sqlguard
// case files (whichever are present; the data sets are left out).
func FuzzFormat(f *testing.F) {
	for _, c := range formatGolden {
		f.Add(c.in)
	}
	for _, sql := range formatTricky {
		f.Add(sql)
	}
	_, sqls := allTexts(f, false)
	for _, sql := range sqls {
		f.Add(sql)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		out := Format(sql)
		tree, err := pg.Parse(sql)
		if err != nil || len(tree.Stmts) != 1 || strings.IndexByte(sql, 0) >= 0 {
			if out != sql {
				t.Fatalf("Format changed a text that is not one statement: %q -> %q", sql, out)
			}
			return
		}
		checkFormatInvariants(t, "fuzz", sql)
		if oneSelect(sql) {
			if got := FormatChecked(sql); got != out {
				t.Fatalf("FormatChecked(%q) = %q, Format = %q", sql, got, out)
			}
		}
	})
}

// --- test texts ---------------------------------------------------------------

// The shared corpus and data sets (../shared/corpus, ../shared/data) are
// found with pgtest.SharedPath: the loaders below skip the test when a file
// is absent, or fail it when PGMCP_REQUIRE_CORPUS=1 (CI). allTexts, for
// tests that have texts of their own, goes on without what is absent
// (pgtest.OptionalSharedPath), and fails too when PGMCP_REQUIRE_CORPUS=1.

// casesGlob matches sqlguard's multi-line case files, which are good
// formatter input too. They stay in sqlguard's testdata: its tests own them.
var casesGlob = filepath.Join("..", "testdata", "cases", "*.sql")

// loadCorpus returns the sql of each case of a corpus file (JSON Lines),
// and the sources ("name:line") to report them by.
func loadCorpus(t testing.TB, name string) (srcs, sqls []string) {
	t.Helper()
	return readCorpus(t, pgtest.SharedPath(t, "corpus/"+name))
}

// readCorpus reads the corpus file at path.
func readCorpus(t testing.TB, path string) (srcs, sqls []string) {
	t.Helper()
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var c struct {
			SQL string `json:"sql"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s:%d: %v", name, line, err)
		}
		srcs, sqls = append(srcs, name+":"+strconv.Itoa(line)), append(sqls, c.SQL)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return srcs, sqls
}

// loadCases returns sqlguard's case files (testdata/cases).
func loadCases(t testing.TB) (srcs, sqls []string) {
	t.Helper()
	files, _ := filepath.Glob(casesGlob)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs, sqls = append(srcs, f), append(sqls, string(b))
	}
	return srcs, sqls
}

// loadBIRD returns the model predictions of BIRD mini-dev.
func loadBIRD(t testing.TB) (srcs, sqls []string) {
	t.Helper()
	return readBIRD(t, pgtest.SharedPath(t, "data/bird/minidev_pg_predictions"))
}

// readBIRD reads the predictions in dir.
func readBIRD(t testing.TB, dir string) (srcs, sqls []string) {
	t.Helper()
	for _, p := range pgtest.ReadBIRDPredictions(t, dir) {
		srcs, sqls = append(srcs, p.Source), append(sqls, p.SQL)
	}
	return srcs, sqls
}

// loadSpider returns the gold queries of Spider dev.
func loadSpider(t testing.TB) (srcs, sqls []string) {
	t.Helper()
	return readSpider(t, pgtest.SharedPath(t, "data/spider/dev_gold.sql"))
}

// readSpider reads the gold queries at path.
func readSpider(t testing.TB, path string) (srcs, sqls []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		// "SQL<TAB>db_id"
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		if i := strings.LastIndexByte(text, '\t'); i >= 0 {
			text = text[:i]
		}
		srcs, sqls = append(srcs, fmt.Sprintf("dev_gold.sql:%d", line)), append(sqls, text)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return srcs, sqls
}

// allTexts returns the texts of both corpora and the case files, and with
// data set those of BIRD and Spider too: whichever are present, unless
// PGMCP_REQUIRE_CORPUS=1, which makes a missing one a failure.
func allTexts(t testing.TB, data bool) (srcs, sqls []string) {
	t.Helper()
	add := func(s, q []string) { srcs, sqls = append(srcs, s...), append(sqls, q...) }
	for _, name := range []string{"guard_accept.jsonl", "guard_reject.jsonl"} {
		if p := pgtest.OptionalSharedPath(t, "corpus/"+name); p != "" {
			add(readCorpus(t, p))
		}
	}
	add(loadCases(t))
	if data {
		if p := pgtest.OptionalSharedPath(t, "data/bird/minidev_pg_predictions"); p != "" {
			add(readBIRD(t, p))
		}
		if p := pgtest.OptionalSharedPath(t, "data/spider/dev_gold.sql"); p != "" {
			add(readSpider(t, p))
		}
	}
	return srcs, sqls
}
