package schema

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
)

// demoFilter is the filter the server builds from the demo's default
// policy.
func demoFilter(t testing.TB) Filter {
	t.Helper()
	var p struct {
		AllowedSchemas   []string            `json:"allowed_schemas"`
		AllowedRelations []string            `json:"allowed_relations"`
		BlockedRelations []string            `json:"blocked_relations"`
		BlockedColumns   map[string][]string `json:"blocked_columns"`
	}
	if err := json.Unmarshal(demodb.PolicyJSON, &p); err != nil {
		t.Fatalf("demo policy: %v", err)
	}
	return Filter{Schemas: p.AllowedSchemas, Relations: p.AllowedRelations, BlockedTables: p.BlockedRelations, BlockedColumns: p.BlockedColumns}
}

// blockedNames returns the bare names a filter blocks.
func blockedNames(f Filter) []string {
	var names []string
	for _, t := range f.BlockedTables {
		parts := strings.Split(t, ".")
		names = append(names, parts[len(parts)-1])
	}
	for _, cols := range f.BlockedColumns {
		names = append(names, cols...)
	}
	return names
}

// assertNowhere fails when one of the names appears in text as a whole
// word (letters, digits and _ form words), case-insensitively.
func assertNowhere(t testing.TB, what, text string, names []string) {
	t.Helper()
	for _, n := range names {
		if regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(n) + `\b`).MatchString(text) {
			i := strings.Index(strings.ToLower(text), strings.ToLower(n))
			lo, hi := max(0, i-80), min(len(text), i+80)
			t.Errorf("blocked name %q appears in %s: ...%s...", n, what, text[lo:hi])
		}
	}
}

// renderAll returns every rendered form of a snapshot: compact text, JSON,
// each table in each form, and selections for a few questions at a small
// budget.
func renderAll(t testing.TB, s *Snapshot, questions ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	p := Prepare(s)
	out["compact"] = p.Render().Text
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	out["json"] = string(js)
	var forms strings.Builder
	for i := range s.Tables {
		for _, f := range []Form{FormFull, FormColumns, FormKeys} {
			forms.WriteString(RenderTableForm(&s.Tables[i], f))
		}
	}
	out["forms"] = forms.String()
	for _, q := range questions {
		for _, budget := range []int{300, 2000} {
			sel := p.Select(q, budget)
			out["select "+q] += sel.Render().Text
		}
	}
	return out
}

func pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// countingQueryer counts the queries sent (and hides BeginTx, so that
// every query goes through it).
type countingQueryer struct {
	db Queryer
	n  int
}

func (c *countingQueryer) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.n++
	return c.db.Query(ctx, sql, args...)
}
