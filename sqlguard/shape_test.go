package sqlguard

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v5"
)

var shapeSummaries = []struct{ name, sql, want string }{
	{
		name: "constant",
		sql:  "SELECT 1",
		want: "Reads no table; outputs 1.",
	},
	{
		name: "join, filter, group, having, order, limit",
		sql:  "SELECT c.country, sum(o.total_amount) AS revenue, count(*) AS orders FROM orders o JOIN customers c ON o.customer_id = c.id WHERE o.order_date >= DATE '2024-01-01' AND o.status <> 'cancelled' GROUP BY c.country HAVING count(*) > 10 ORDER BY revenue DESC LIMIT 10",
		want: "Reads public.orders (o) joined to public.customers (c) on o.customer_id = c.id; keeps rows where o.order_date >= '2024-01-01'::date and o.status <> 'cancelled'; groups by c.country; keeps groups where count(*) > 10; computes sum and count; outputs c.country, revenue and orders; orders by revenue descending; returns at most 10 rows.",
	},
	{
		name: "CTE",
		sql:  "WITH first_orders AS (SELECT customer_id, min(order_date) AS first_order FROM orders GROUP BY customer_id) SELECT date_trunc('month', f.first_order) AS cohort, count(*) AS customers FROM first_orders f JOIN customers c ON c.id = f.customer_id GROUP BY 1 ORDER BY 1",
		want: "Defines WITH query first_orders. Reads WITH query first_orders (f, reading public.orders) joined to public.customers (c) on c.id = f.customer_id; groups by column 1; computes count; outputs cohort and customers; orders by column 1.",
	},
	{
		name: "UNION ALL",
		sql:  "SELECT id, 'web' AS src FROM orders WHERE channel = 'web' UNION ALL SELECT order_id, 'sales' FROM sales.orders UNION ALL SELECT id, 'pay' FROM payments ORDER BY 1 LIMIT 100",
		want: "Combines 3 queries with UNION ALL. The first reads public.orders; keeps rows where channel = 'web'; outputs id and src. Orders the combined rows by column 1; returns at most 100 rows.",
	},
	{
		name: "window function",
		sql:  "SELECT id, customer_id, rank() OVER (PARTITION BY customer_id ORDER BY total_amount DESC) AS rnk FROM orders WHERE status = 'paid'",
		want: "Reads public.orders; keeps rows where status = 'paid'; computes rank (with window functions); outputs id, customer_id and rnk.",
	},
	{
		name: "subquery in FROM",
		sql:  "SELECT t.customer_id, t.n FROM (SELECT customer_id, count(*) AS n FROM orders GROUP BY customer_id) AS t WHERE t.n > 5 ORDER BY t.n DESC, t.customer_id",
		want: "Reads a subquery (t, reading public.orders); keeps rows where t.n > 5; outputs t.customer_id and t.n; orders by t.n descending and t.customer_id.",
	},
	{
		name: "DISTINCT",
		sql:  "SELECT DISTINCT country FROM customers ORDER BY country",
		want: "Reads public.customers; removes duplicate rows; outputs country; orders by country.",
	},
	{
		name: "DISTINCT ON",
		sql:  "SELECT DISTINCT ON (customer_id) customer_id, id, order_date FROM orders ORDER BY customer_id, order_date DESC",
		want: "Reads public.orders; keeps the first row for each customer_id; outputs customer_id, id and order_date; orders by customer_id and order_date descending.",
	},
	{
		name: "left join, USING, OR filter",
		sql:  "SELECT o.id, p.amount, r.name FROM orders o LEFT JOIN payments p ON p.order_id = o.id AND p.status = 'captured' JOIN (SELECT r.id AS order_id, r.name FROM sales.regions r) r USING (order_id) WHERE p.id IS NULL OR p.amount < o.total_amount",
		want: "Reads public.orders (o) left-joined to public.payments (p) on p.order_id = o.id AND p.status = 'captured', joined to a subquery (r, reading sales.regions) using (order_id); keeps rows where p.id IS NULL OR p.amount < o.total_amount; outputs o.id, p.amount and r.name.",
	},
	{
		name: "comma and lateral function",
		sql:  "SELECT p.name, t.tag FROM products p, LATERAL unnest(p.tags) AS t(tag) WHERE t.tag LIKE 'sale%'",
		want: "Reads public.products (p) and lateral unnest(p.tags) (t); keeps rows where t.tag LIKE 'sale%'; outputs p.name and t.tag.",
	},
	{
		name: "VALUES",
		sql:  "VALUES (1, 'one'), (2, 'two')",
		want: "Lists 2 literal rows (VALUES).",
	},
	{
		name: "recursive CTE",
		sql:  "WITH RECURSIVE tree AS (SELECT id, parent_id, name FROM categories WHERE parent_id IS NULL UNION ALL SELECT c.id, c.parent_id, c.name FROM categories c JOIN tree t ON c.parent_id = t.id) SELECT * FROM tree",
		want: "Defines recursive WITH query tree. Reads WITH query tree (reading public.categories); outputs all columns.",
	},
	{
		name: "OFFSET and FETCH WITH TIES",
		sql:  "SELECT id, total_amount FROM orders ORDER BY total_amount DESC OFFSET 20 FETCH FIRST 5 ROWS WITH TIES",
		want: "Reads public.orders; outputs id and total_amount; orders by total_amount descending; skips the first 20 rows; returns at most 5 rows (more when the last ones tie).",
	},
	{
		name: "TABLE",
		sql:  "TABLE categories",
		want: "Reads public.categories; outputs all columns.",
	},
	{
		name: "many filters and columns",
		sql:  "SELECT id, first_name, last_name, email, country, city, signup_date, segment, is_active, region_id FROM customers WHERE country = 'DE' AND city = 'City1' AND segment = 'smb' AND is_active AND signup_date > '2023-06-01' AND region_id = 2 AND email LIKE '%@example.com'\n",
		want: "Reads public.customers; keeps rows where country = 'DE', city = 'City1', segment = 'smb', is_active, signup_date > '2023-06-01' and 2 more conditions; outputs 10 columns (id, first_name, last_name, email, country, city, …).",
	},
	{
		name: "WITH queries read through each other; a forward reference is a table",
		sql:  "WITH a AS (SELECT * FROM orders), b AS (SELECT a.id FROM a JOIN customers c ON c.id = a.customer_id), d AS (SELECT * FROM payments), payments AS (SELECT 1) SELECT * FROM b, d",
		want: "Defines WITH queries a, b, d and payments. Reads WITH query b (reading public.customers and public.orders) and WITH query d (reading public.payments); outputs all columns.",
	},
}

func TestShapeSummary(t *testing.T) {
	p := testPolicy()
	for _, c := range shapeSummaries {
		t.Run(c.name, func(t *testing.T) {
			q, err := Check(c.sql, p)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.Shape().Summary(); got != c.want {
				t.Errorf("Summary():\n got: %s\nwant: %s", got, c.want)
			}
		})
	}
}

func TestShapeFields(t *testing.T) {
	q, err := Check(`WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3)
		SELECT o.status, count(*) AS "Orders", rank() OVER (ORDER BY count(*) DESC)
		FROM orders o
		NATURAL LEFT JOIN payments
		CROSS JOIN r
		RIGHT JOIN sales.orders so USING (id)
		FULL JOIN generate_series(1, 2) g ON g = so.id
		WHERE (o.id = 1 OR o.id = 2) AND o.status = 'paid' AND NOT o.id = 3
		GROUP BY ROLLUP (o.status), o.channel
		HAVING count(*) > 1 AND max(o.total_amount) < 10
		ORDER BY 2 DESC NULLS LAST
		LIMIT ALL OFFSET 3`, testPolicy())
	if err != nil {
		t.Fatal(err)
	}
	got := q.Shape()
	want := Shape{
		CTEs:      []string{"r"},
		Recursive: true,
		From: []ShapeSource{
			{Name: "public.orders", Alias: "o", Kind: "table"},
			{Name: "public.payments", Kind: "table", Join: "natural left"},
			{Name: "r", Kind: "cte", Join: "cross"},
			{Name: "sales.orders", Alias: "so", Kind: "table", Join: "right", Using: []string{"id"}},
			{Name: "generate_series(1, 2)", Alias: "g", Kind: "function", Join: "full", On: "g = so.id"},
		},
		Filters:    []string{"(o.id = 1 OR o.id = 2)", "o.status = 'paid'", "NOT o.id = 3"},
		GroupBy:    []string{"ROLLUP (o.status)", "o.channel"},
		Having:     []string{"count(*) > 1", "max(o.total_amount) < 10"},
		Aggregates: []string{"count", "rank", "max"},
		Windowed:   true,
		Select:     []string{"o.status", `"Orders"`, "rank() OVER (ORDER BY count(*) DESC)"},
		OrderBy:    []string{"2 DESC NULLS LAST"},
		Offset:     "3",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Shape():\n got %+v\nwant %+v", got, want)
	}
}

func TestShapeShortens(t *testing.T) {
	long := "o.notes = '" + strings.Repeat("x", 200) + "'"
	q, err := Check("SELECT id FROM orders o WHERE "+long+" AND id > 1", testPolicy())
	if err != nil {
		t.Fatal(err)
	}
	s := q.Shape()
	if len(s.Filters) != 2 || !strings.HasSuffix(s.Filters[0], "…") || len([]rune(s.Filters[0])) > shapeCondLen {
		t.Errorf("Filters = %q, want the first shortened to %d characters", s.Filters, shapeCondLen)
	}
}

// TestShapeCorpus runs Shape and Summary over every accepted query of the
// corpus and of the public data sets: no panic, a non-empty summary, and
// no part the deparser failed on.
func TestShapeCorpus(t *testing.T) {
	run := func(t *testing.T, policy func(i int) *Policy, srcs, sqls []string) {
		n := 0
		for i, sql := range sqls {
			q, err := Check(sql, policy(i))
			if err != nil {
				continue
			}
			n++
			s := q.Shape()
			sum := s.Summary()
			if sum == "" || !strings.HasSuffix(sum, ".") {
				t.Errorf("%s: Summary() = %q", srcs[i], sum)
			}
			if again := q.Shape().Summary(); again != sum {
				t.Errorf("%s: Summary() is not deterministic:\n%s\n%s", srcs[i], sum, again)
			}
			for _, part := range shapeParts(s) {
				if part == "" || part == "…" {
					t.Errorf("%s: a deparsed part is %q: %+v", srcs[i], part, s)
					break
				}
			}
		}
		t.Logf("%d accepted queries described", n)
	}
	t.Run("accept corpus", func(t *testing.T) {
		var srcs, sqls []string
		for i, c := range loadCorpus(t, "guard_accept.jsonl") {
			srcs, sqls = append(srcs, "guard_accept.jsonl:"+strconv.Itoa(i+1)), append(sqls, c.SQL)
		}
		p := shopPolicy(t)
		run(t, func(int) *Policy { return p }, srcs, sqls)
	})
	for _, set := range []struct {
		name string
		load func(*testing.T) []realQuery
	}{{"bird", loadBIRD}, {"spider", loadSpider}} {
		t.Run(set.name, func(t *testing.T) {
			qs := set.load(t)
			srcs, sqls := make([]string, len(qs)), make([]string, len(qs))
			for i, q := range qs {
				srcs[i], sqls[i] = q.source, q.sql
			}
			run(t, func(i int) *Policy { return qs[i].policy }, srcs, sqls)
		})
	}
}

// shapeParts lists the deparsed strings of a shape.
func shapeParts(s Shape) []string {
	parts := append([]string(nil), s.Filters...)
	parts = append(parts, s.GroupBy...)
	parts = append(parts, s.Having...)
	parts = append(parts, s.DistinctOn...)
	parts = append(parts, s.Select...)
	parts = append(parts, s.OrderBy...)
	for _, src := range s.From {
		if src.Kind == "function" {
			parts = append(parts, src.Name)
		}
		if src.On != "" {
			parts = append(parts, src.On)
		}
	}
	return parts
}

// TestFragments: one Deparse call for all fragments, semicolons inside
// literals do not split; when the batch fails (here: a fragment the
// deparser cannot print), each fragment is deparsed alone.
func TestFragments(t *testing.T) {
	d := &fragments{}
	a := d.expr(pg.MakeAConstStrNode("a;b", -1))
	w := d.add(selectWith(func(st *pg.SelectStmt) {
		st.WhereClause = pg.MakeColumnRefNode([]*pg.Node{pg.MakeStrNode("ok")}, -1)
	}), "SELECT WHERE ")
	d.run()
	if a() != "'a;b'" || w() != "ok" || d.calls != 1 {
		t.Errorf("fragments = %q, %q after %d calls; want 'a;b', ok after 1", a(), w(), d.calls)
	}

	d = &fragments{}
	a = d.expr(pg.MakeAConstIntNode(1, -1))
	bad := d.expr(&pg.Node{}) // an empty node
	c := d.expr(pg.MakeColumnRefNode([]*pg.Node{pg.MakeStrNode("x")}, -1))
	d.run()
	if a() != "1" || bad() != "…" || c() != "x" {
		t.Errorf("fragments = %q, %q, %q; want 1, …, x", a(), bad(), c())
	}
}

// FuzzShape: Shape and Summary never panic on an accepted query.
func FuzzShape(f *testing.F) {
	fuzzSeeds(f)
	for _, c := range shapeSummaries {
		f.Add(c.sql)
	}
	p := testPolicy()
	f.Fuzz(func(t *testing.T, sql string) {
		q, err := Check(sql, p)
		if err != nil {
			return
		}
		if q.Shape().Summary() == "" {
			t.Errorf("empty summary for %q", sql)
		}
	})
}
