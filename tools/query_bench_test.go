package tools

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/mark3labs/mcp-go/mcp"
)

// benchSQL is a typical analyst query: a join, an aggregate, 20 rows.
const benchSQL = `SELECT p.name, count(*) AS orders, round(sum(i.quantity * i.unit_price), 2) AS revenue
FROM order_items i JOIN products p ON p.id = i.product_id
WHERE i.order_id < 500
GROUP BY p.name ORDER BY revenue DESC LIMIT 20`

// BenchmarkQueryToolSQL is the query tool in SQL mode over MCP (in-process
// client): guard, read-only transaction, execution, conversion, JSON.
// Compare with BenchmarkDirectPgx, in the same run:
//
//	go test -run '^$' -bench 'QueryToolSQL|DirectPgx' -count 10 ./tools
func BenchmarkQueryToolSQL(b *testing.B) {
	f := newQueryFixture(b, fixtureOpts{})
	args := map[string]any{"sql": benchSQL}
	if o := f.query(b, args); o.isError || o.out.RowCount != 20 {
		b.Fatalf("warm-up: %+v", o)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = "query"
	req.Params.Arguments = args
	b.ResetTimer()
	for b.Loop() {
		res, err := f.c.CallTool(b.Context(), req)
		if err != nil || res.IsError {
			b.Fatal(err, res)
		}
	}
}

// BenchmarkDirectPgx runs the same SQL straight through a pgx pool and
// reads every value: the floor the tool's overhead is measured against. It
// uses pgx's default prepared-statement cache (pgmcp's pools prepare
// nothing, so that a session holds no statement pgmcp did not just run).
func BenchmarkDirectPgx(b *testing.B) {
	f := newQueryFixture(b, fixtureOpts{})
	pool := f.pool
	run := func() int {
		rows, err := pool.Query(b.Context(), benchSQL, pgx.QueryExecModeCacheStatement)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			if _, err := rows.Values(); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		return n
	}
	if n := run(); n != 20 {
		b.Fatalf("warm-up: %d rows", n)
	}
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}
