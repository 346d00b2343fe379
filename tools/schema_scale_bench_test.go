package tools

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/engine"
)

// BenchmarkGetSchemaLarge is a warm get_schema on a large catalog (2,000
// generated tables beside the demo's; PGMCP_BENCH_TABLES for more), as
// stdio serves it, with the response's size against its text's:
//
//	PGMCP_BENCH_TABLES=10000 go test ./tools -run '^$' -bench GetSchemaLarge -benchtime 20x
func BenchmarkGetSchemaLarge(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("PGMCP_BENCH_TABLES")); err == nil && v > 0 {
		n = v
	}
	f := newQueryFixture(b, fixtureOpts{
		setup: func(db *pgtest.DB) {
			for from := 0; from < n; from += 500 {
				var ddl strings.Builder
				for i := from; i < min(from+500, n); i++ {
					fmt.Fprintf(&ddl, `CREATE TABLE public.gen_%05d (id bigint PRIMARY KEY, parent_id bigint, name text NOT NULL,
  status text NOT NULL DEFAULT 'new', amount numeric(12,2), created_at timestamptz NOT NULL DEFAULT now(), note text);
COMMENT ON TABLE public.gen_%05d IS 'Generated table %d: records of kind %d.';
COMMENT ON COLUMN public.gen_%05d.status IS 'Lifecycle status: new, active or closed.';
`, i, i, i, i%37, i)
				}
				db.Exec(b, ddl.String())
			}
			db.Exec(b, "ANALYZE")
		},
		deps: func(c *engine.Config) {
			c.Databases[0].Policy.AllowedRelations = nil // every table of the allowed schemas
		},
	})
	for _, detail := range []string{"summary", "full"} {
		b.Run(detail, func(b *testing.B) {
			req := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_schema","arguments":{"detail":"` + detail + `"}}}`)
			call := stdioServe(b, f, req)
			var resp struct {
				Result struct {
					IsError bool `json:"isError"`
					Content []struct {
						Text string `json:"text"`
					} `json:"content"`
					Structured json.RawMessage `json:"structuredContent"`
				} `json:"result"`
			}
			var structured struct {
				TotalTables int `json:"total_tables"`
			}
			first := call() // loads the schema
			if err := json.Unmarshal(first, &resp); err != nil || resp.Result.IsError || len(resp.Result.Content) == 0 {
				b.Fatalf("warm-up: %.300s (%v)", first, err)
			}
			if err := json.Unmarshal(resp.Result.Structured, &structured); err != nil || structured.TotalTables < n {
				b.Fatalf("warm-up: %d tables (%v)", structured.TotalTables, err)
			}
			text := len(resp.Result.Content[0].Text)
			b.ResetTimer()
			var size int
			for b.Loop() {
				size = len(call())
			}
			b.ReportMetric(float64(size), "resp-bytes")
			b.ReportMetric(float64(text), "text-bytes")
			b.ReportMetric(float64(size)/float64(text), "resp/text")
			b.ReportMetric(float64(len(resp.Result.Structured))/float64(text), "structured/text")
			b.ReportMetric(float64(structured.TotalTables), "tables")
		})
	}
}
