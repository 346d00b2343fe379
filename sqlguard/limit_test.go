package sqlguard

import (
	"testing"

	pg "github.com/pganalyze/pg_query_go/v5"
)

func TestLimitRows(t *testing.T) {
	p := testPolicy()
	for _, tc := range []struct {
		name, sql string
		n         int
		want      string
	}{
		{"no limit", "SELECT id FROM orders", 101,
			"SELECT id FROM orders\nLIMIT 101"},
		{"no limit, text kept as written", "select id  from orders -- the ids\n;", 101,
			"select id  from orders -- the ids\nLIMIT 101"},
		{"no limit, a comment at the end", "SELECT id FROM orders -- the ids", 101,
			"SELECT id FROM orders -- the ids\nLIMIT 101"},
		{"smaller limit kept", "SELECT id FROM orders LIMIT 5", 101,
			"SELECT id FROM orders LIMIT 5"},
		{"equal limit kept", "select id from orders limit 101;", 101,
			"select id from orders limit 101"},
		{"larger limit lowered", "SELECT id FROM orders LIMIT 1000", 101,
			"SELECT id FROM orders LIMIT 101"},
		{"LIMIT ALL", "SELECT id FROM orders LIMIT ALL", 101,
			"SELECT id FROM orders LIMIT 101"},
		{"LIMIT NULL", "SELECT id FROM orders LIMIT NULL", 101,
			"SELECT id FROM orders LIMIT 101"},
		{"offset kept", "SELECT id FROM orders ORDER BY id LIMIT 1000 OFFSET 20", 101,
			"SELECT id FROM orders ORDER BY id LIMIT 101 OFFSET 20"},
		{"offset without limit", "SELECT id FROM orders ORDER BY id OFFSET 20", 101,
			"SELECT id FROM orders ORDER BY id OFFSET 20\nLIMIT 101"},
		{"union", "SELECT id FROM orders UNION SELECT id FROM payments", 101,
			"SELECT id FROM orders UNION SELECT id FROM payments\nLIMIT 101"},
		{"union with branch limits", "(SELECT id FROM orders LIMIT 500) UNION ALL (SELECT id FROM payments LIMIT 500)", 101,
			"(SELECT id FROM orders LIMIT 500) UNION ALL (SELECT id FROM payments LIMIT 500)\nLIMIT 101"},
		{"union with a large limit", "SELECT id FROM orders UNION ALL SELECT id FROM payments ORDER BY 1 LIMIT 5000", 101,
			"SELECT id FROM orders UNION ALL SELECT id FROM payments ORDER BY 1 LIMIT 101"},
		{"order by kept", "SELECT id FROM orders ORDER BY total_amount DESC NULLS LAST", 101,
			"SELECT id FROM orders ORDER BY total_amount DESC NULLS LAST\nLIMIT 101"},
		{"values", "VALUES (1), (2), (3)", 2,
			"VALUES (1), (2), (3)\nLIMIT 2"},
		{"fetch first kept", "SELECT id FROM orders FETCH FIRST 10 ROWS ONLY", 101,
			"SELECT id FROM orders FETCH FIRST 10 ROWS ONLY"},
		{"fetch first lowered", "SELECT id FROM orders OFFSET 10 ROWS FETCH NEXT 500 ROWS ONLY", 101,
			"SELECT id FROM orders LIMIT 101 OFFSET 10"},
		{"fetch first row only", "SELECT id FROM orders FETCH FIRST ROW ONLY", 101,
			"SELECT id FROM orders FETCH FIRST ROW ONLY"},
		{"expression limit", "SELECT id FROM orders LIMIT 2 + 3", 101,
			"SELECT id FROM orders LIMIT LEAST(2 + 3, 101)"},
		{"subquery limit", "SELECT id FROM orders LIMIT (SELECT count(*) FROM payments)", 101,
			"SELECT id FROM orders LIMIT LEAST((SELECT count(*) FROM payments), 101)"},
		{"with ties wrapped", "SELECT id FROM orders ORDER BY total_amount FETCH FIRST 3 ROWS WITH TIES", 101,
			"SELECT * FROM (SELECT id FROM orders ORDER BY total_amount FETCH FIRST 3 ROWS WITH TIES) pgmcp_limited LIMIT 101"},
		{"cte", "WITH x AS (SELECT id FROM orders LIMIT 1000) SELECT * FROM x", 101,
			"WITH x AS (SELECT id FROM orders LIMIT 1000) SELECT * FROM x\nLIMIT 101"},
		{"zero rows", "SELECT id FROM orders", 0,
			"SELECT id FROM orders\nLIMIT 0"},
		{"big constant limit", "SELECT id FROM orders LIMIT 10000000000", 101,
			"SELECT id FROM orders LIMIT LEAST(10000000000, 101)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Check(tc.sql, p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := q.LimitRows(tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("LimitRows(%d)\n got %s\nwant %s", tc.n, got, tc.want)
			}
			assertSafeSelect(t, got)
		})
	}
	q, _ := Check("SELECT 1", p)
	if _, err := q.LimitRows(-1); err == nil {
		t.Error("negative n accepted")
	}
}

// assertSafeSelect re-parses text and checks it is exactly one SelectStmt
// with no INTO, no locking clause and no data-modifying statement.
func assertSafeSelect(t testing.TB, text string) {
	t.Helper()
	tree, err := pg.Parse(text)
	if err != nil {
		t.Fatalf("re-parse %q: %v", text, err)
	}
	if len(tree.Stmts) != 1 || tree.Stmts[0].Stmt.GetSelectStmt() == nil {
		t.Fatalf("re-parse %q: not one SELECT", text)
	}
	if reason := unsafeNode(tree); reason != "" {
		t.Fatalf("re-parse %q: %s", text, reason)
	}
}
