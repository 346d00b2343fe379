package tools

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/engine"
)

func (f *queryFixture) explain(t testing.TB, args map[string]any) (toolOutcome, engine.ExplainResult) {
	t.Helper()
	o := f.call(t, t.Context(), "explain", args)
	var out engine.ExplainResult
	if !o.isError {
		if err := json.Unmarshal(o.structured, &out); err != nil {
			t.Fatalf("structured content: %v: %s", err, o.structured)
		}
	}
	return o, out
}

func warningCodes(r engine.ExplainResult) []string {
	var codes []string
	for _, w := range r.Warnings {
		codes = append(codes, w.Code)
	}
	return codes
}

func hasWarning(r engine.ExplainResult, code string) bool {
	for _, w := range r.Warnings {
		if w.Code == code {
			return true
		}
	}
	return false
}

func TestExplainWarnings(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{})
	cases := []struct {
		name, sql string
		want      []string // warning codes that must be present
		not       []string // warning codes that must be absent
	}{
		{"full scan of a large table", "SELECT order_id, quantity FROM order_items", []string{"seq_scan_large_table", "rows_over_max"}, nil},
		{"indexed filter", "SELECT order_id, quantity FROM order_items WHERE product_id = 7", nil, []string{"seq_scan_large_table"}},
		{"cartesian product", "SELECT count(*) FROM customers c JOIN products p ON c.id > 0", []string{"cartesian_product"}, nil},
		{"join with a condition", "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id", nil, []string{"cartesian_product"}},
		{"correlated lookup", "SELECT o.id, (SELECT c.email FROM customers c WHERE c.id = o.customer_id) FROM orders o WHERE o.id < 50", nil, []string{"cartesian_product", "nested_loop_large"}},
		{"small result", "SELECT id, name FROM products WHERE id < 20 ORDER BY id", nil, []string{"rows_over_max", "seq_scan_large_table", "cartesian_product"}},
		{"big sort", "SELECT * FROM analytics.events ORDER BY properties::text", []string{"sort_may_spill", "rows_over_max"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, out := f.explain(t, map[string]any{"sql": tc.sql})
			if o.isError || !out.Verdict.Allowed || out.Plan == nil {
				t.Fatalf("explain %q: %s", tc.sql, o.text)
			}
			for _, w := range tc.want {
				if !hasWarning(out, w) {
					t.Errorf("no %s warning; warnings %v; plan:\n%s", w, warningCodes(out), strings.Join(out.Plan.Tree, "\n"))
				}
			}
			for _, w := range tc.not {
				if hasWarning(out, w) {
					t.Errorf("unexpected %s warning: %+v", w, out.Warnings)
				}
			}
			if out.Plan.TotalCost <= 0 || len(out.Plan.Tree) == 0 || out.Summary == "" || out.SummaryBy != "structure" {
				t.Errorf("plan %+v, summary %q by %q", out.Plan, out.Summary, out.SummaryBy)
			}
		})
	}
}

func TestExplainRejectedQuery(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{})
	o, out := f.explain(t, map[string]any{"sql": "select first_name, phone from customers"})
	if o.isError {
		t.Fatalf("a refused query is a verdict, not an error: %s", o.text)
	}
	if out.Verdict.Allowed || out.Verdict.Code != string(sqlguard.CodeBlockedColumn) || out.Verdict.Message == "" || out.Plan != nil {
		t.Errorf("verdict %+v, plan %v", out.Verdict, out.Plan)
	}
	if !strings.Contains(out.SQL, "SELECT") || !strings.Contains(o.text, "REFUSED") {
		t.Errorf("sql %q text %q", out.SQL, o.text)
	}
}

func TestExplainCostCeiling(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{deps: func(d *engine.Config) { d.MaxPlanCost = 2000 }})
	const costly = "SELECT count(*) FROM order_items a JOIN order_items b ON a.quantity <= b.quantity"
	o, out := f.explain(t, map[string]any{"sql": costly})
	if o.isError || out.Plan == nil || !out.Plan.OverCeiling || out.Plan.CostCeiling != 2000 || !hasWarning(out, string(engine.CodePlanTooExpensive)) {
		t.Fatalf("explain: %s", o.text)
	}
	if !strings.Contains(o.text, "cost ceiling 2000 (over it)") {
		t.Errorf("the text does not show the cost against the ceiling: %s", o.text)
	}
	q := f.query(t, map[string]any{"sql": costly})
	if !q.isError || q.err.Code != string(engine.CodePlanTooExpensive) {
		t.Errorf("query of a costly plan: %+v", q)
	}
	// A cheap query still runs.
	if q := f.query(t, map[string]any{"sql": "SELECT id FROM products WHERE id = 3"}); q.isError {
		t.Errorf("a cheap query was refused: %s", q.text)
	}
	_, cheap := f.explain(t, map[string]any{"sql": "SELECT id FROM products WHERE id = 3"})
	if cheap.Plan == nil || cheap.Plan.OverCeiling {
		t.Errorf("cheap query plan %+v", cheap.Plan)
	}
}

// TestExplainSummaryNotProse checks a model that answers the summary
// request with JSON or SQL (a small local model repeating its last
// format) gets its summary replaced by the structural one.
func TestExplainSummaryNotProse(t *testing.T) {
	const sql = "SELECT status, count(*) FROM orders GROUP BY status"
	for _, reply := range []fakellm.Reply{fakellm.SQL(sql), fakellm.Text(sql), fakellm.Text("```sql\n" + sql + "\n```"), fakellm.Text("   ")} {
		f := newQueryFixture(t, fixtureOpts{script: fakellm.Sequence(reply)})
		o, out := f.explain(t, map[string]any{"sql": sql})
		if o.isError || out.SummaryBy != "structure" || strings.Contains(out.Summary, "SELECT") || out.Summary == "" {
			t.Errorf("reply %q: summary %q by %s", reply.Content, out.Summary, out.SummaryBy)
		}
	}
}

func TestExplainQuestion(t *testing.T) {
	const sql = "SELECT c.country_code, count(*) AS orders FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.ordered_at >= '2025-01-01' GROUP BY c.country_code ORDER BY orders DESC LIMIT 10"
	const summary = "Counts 2025 orders per customer country and lists the ten countries with the most orders."
	f := newQueryFixture(t, fixtureOpts{script: fakellm.Sequence(fakellm.SQL(sql), fakellm.Text(summary))})
	o, out := f.explain(t, map[string]any{"question": "Which ten countries ordered most since 2025?"})
	if o.isError {
		t.Fatal(o.text)
	}
	if !out.Verdict.Allowed || out.Plan == nil || out.Attempts != 1 || out.Summary != summary || out.SummaryBy != "model" {
		t.Errorf("result = %+v", out)
	}
	if !strings.Contains(out.SQL, "\nFROM") || !strings.Contains(out.SQL, "GROUP BY") {
		t.Errorf("the SQL is not pretty-printed:\n%s", out.SQL)
	}
	if len(out.Relations) != 2 || out.Relations[0] != "public.customers" {
		t.Errorf("relations = %v", out.Relations)
	}
	reqs := f.fake.Requests()
	if len(reqs) != 2 || !strings.Contains(reqs[1].Last(), "plain English") || !strings.Contains(reqs[1].Last(), "country_code") {
		t.Errorf("the summary request: %+v", reqs)
	}
	// Nothing was executed: no query of this database ran the SQL.
	assertNoBlockedNames(t, f, "Which ten countries ordered most since 2025?")
}

// TestExplainNeverAnalyzes checks, on the statements PostgreSQL saw (its
// log, with log_statement = all for the test database), that explain ran
// EXPLAIN without ANALYZE and never the query itself.
func TestExplainNeverAnalyzes(t *testing.T) {
	var logFile string
	f := newQueryFixture(t, fixtureOpts{setup: func(db *pgtest.DB) {
		c := db.Server.Cluster()
		if c == nil {
			t.Skip("needs the throwaway cluster's log (PGMCP_TEST_DATABASE_URL is set)")
		}
		logFile = c.LogFile()
		db.Exec(t, "ALTER DATABASE "+db.Name+" SET log_statement = 'all'")
	}})
	const marker = "explain_never_analyzes_7f3a"
	sql := "SELECT count(*) AS " + marker + " FROM orders WHERE status = 'delivered'"
	if o, out := f.explain(t, map[string]any{"sql": sql}); o.isError || out.Plan == nil {
		t.Fatalf("explain: %s", o.text)
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var explains, other int
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, marker) || !strings.Contains(line, "statement") && !strings.Contains(line, "execute") {
			continue
		}
		switch {
		case regexp.MustCompile(`(?i)\bEXPLAIN\b`).MatchString(line):
			explains++
			if regexp.MustCompile(`(?i)\bANALY[SZ]E\b`).MatchString(line) {
				t.Errorf("EXPLAIN ran with ANALYZE: %s", line)
			}
		default:
			other++
			t.Errorf("explain ran the query itself: %s", line)
		}
	}
	if explains == 0 {
		t.Fatalf("no EXPLAIN of the query in the server log %s", logFile)
	}
	t.Logf("%d EXPLAIN statements logged, none with ANALYZE; %d runs of the query", explains, other)
}

func TestExplainPagila(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{template: pgtest.Pagila})
	o, out := f.explain(t, map[string]any{"sql": `SELECT f.title, count(*) AS rentals
		FROM rental r JOIN inventory i ON i.inventory_id = r.inventory_id JOIN film f ON f.film_id = i.film_id
		GROUP BY f.title ORDER BY rentals DESC LIMIT 10`})
	if o.isError || out.Plan == nil || len(out.Relations) != 3 {
		t.Fatalf("explain: %s", o.text)
	}
	if !strings.Contains(out.Summary, "rental") || !strings.Contains(strings.ToLower(out.Summary), "10") {
		t.Errorf("summary %q", out.Summary)
	}
	// payment is partitioned in Pagila: a full scan reads every partition.
	o, out = f.explain(t, map[string]any{"sql": "SELECT p.payment_id, p.amount FROM payment p JOIN customer c ON c.active = 1"})
	if o.isError || !hasWarning(out, "cartesian_product") {
		t.Errorf("cartesian join on Pagila: %v\n%s", warningCodes(out), o.text)
	}
}

func TestReviewSQLPrompt(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{})
	req := mcp.GetPromptRequest{}
	req.Params.Name = "review_sql"
	req.Params.Arguments = map[string]string{"sql": "SELECT count(*) FROM orders"}
	res, err := f.c.GetPrompt(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 {
		t.Fatalf("messages = %+v", res.Messages)
	}
	text := res.Messages[0].Content.(mcp.TextContent).Text
	for _, want := range []string{"explain", "query", "SELECT count(*) FROM orders", "verdict", "warning"} {
		if !strings.Contains(text, want) {
			t.Errorf("the prompt lacks %q:\n%s", want, text)
		}
	}
	req.Params.Arguments = map[string]string{}
	if _, err := f.c.GetPrompt(t.Context(), req); err == nil {
		t.Error("review_sql without sql or question was accepted")
	}
}

// TestExplainHidesBlockedColumns: a plan names neither an index that covers
// a blocked column nor a condition over one (a view's, here), and planning
// runs under the short explain timeout.
func TestExplainHidesBlockedColumns(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{setup: func(db *pgtest.DB) {
		db.Exec(t, `DROP INDEX IF EXISTS public.customers_country_code_idx;
			CREATE INDEX customers_country_phone_secret_idx ON public.customers (country_code, phone);
			CREATE VIEW public.reachable_customers AS SELECT id, first_name FROM public.customers WHERE phone LIKE '+1%';
			GRANT SELECT ON public.reachable_customers TO `+pgtest.Reader+`;
			ANALYZE public.customers`)
	}, deps: func(d *engine.Config) { d.Limits.ExplainTimeout = 500 * time.Millisecond }})
	f.setPolicy(t, `{"search_path": ["public"], "allowed_schemas": ["public"],
		"blocked_columns": {"public.customers": ["phone", "date_of_birth"]}}`)
	for _, sql := range []string{
		"SELECT country_code FROM customers WHERE country_code = 'ZZ'",
		"SELECT id FROM customers WHERE country_code = 'US'",
		"SELECT first_name FROM reachable_customers",
	} {
		o, out := f.explain(t, map[string]any{"sql": sql})
		if o.isError || out.Plan == nil {
			t.Fatalf("explain %s: %s", sql, o.text)
		}
		tree := strings.Join(out.Plan.Tree, "\n")
		for _, leak := range []string{"phone", "secret_idx", "+1", "country_phone"} {
			if strings.Contains(o.text, leak) || strings.Contains(tree, leak) {
				t.Errorf("explain of %s shows %q:\n%s", sql, leak, tree)
			}
		}
		t.Logf("%s:\n%s", sql, tree)
		if strings.Contains(sql, "'ZZ'") && !strings.Contains(tree, engine.HiddenIndex) {
			t.Errorf("the plan of %s should use the index, shown as %q:\n%s", sql, engine.HiddenIndex, tree)
		}
	}
	// Folding constants at plan time stops at the explain timeout.
	start := time.Now()
	// Thirty folds of about 60 ms each: nearly 2 s of planning, refused at 500 ms.
	fold := "SELECT " + strings.Repeat("length(regexp_replace(repeat('ab', 50000), '(a|b)', 'xy', 'g')) + ", 29) +
		"length(regexp_replace(repeat('ab', 50000), '(a|b)', 'xy', 'g')) AS n"
	o, _ := f.explain(t, map[string]any{"sql": fold})
	if !o.isError || !strings.Contains(o.text, "query_timeout") {
		t.Errorf("explain of a huge fold: %s, want query_timeout", o.text)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("explain of a huge fold took %s, want about the 500ms explain timeout", d)
	}
}
