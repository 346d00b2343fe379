package tools

import (
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// benchSQL is a typical analyst query: a join, an aggregate, 20 rows.
const benchSQL = `SELECT p.name, count(*) AS orders, round(sum(i.quantity * i.unit_price), 2) AS revenue
FROM order_items i JOIN products p ON p.id = i.product_id
WHERE i.order_id < 500
GROUP BY p.name ORDER BY revenue DESC LIMIT 20`

// benchQueries are the queries of BenchmarkQueryToolSQL and
// BenchmarkDirectPgx: the medium one above and a trivial one, whose cost
// is nearly all pgmcp's and pgx's own.
var benchQueries = []struct{ name, sql string }{
	{"medium", benchSQL},
	{"trivial", "SELECT 1 AS one"},
}

// BenchmarkQueryToolSQL is the query tool in SQL mode as the stdio
// transport serves it: a JSON-RPC request's bytes in, the response's
// bytes out (guard, read-only transaction, execution, conversion, text
// and structured result, encoding). What a client does with the bytes is
// the client's cost, left out as pgx's own decode is on the other side.
// Compare with BenchmarkDirectPgx, in the same run:
//
//	go test -run '^$' -bench 'QueryToolSQL|DirectPgx' -count 6 ./tools
func BenchmarkQueryToolSQL(b *testing.B) {
	f := newQueryFixture(b, fixtureOpts{})
	for _, q := range benchQueries {
		b.Run(q.name, func(b *testing.B) {
			call, _ := stdioCall(b, f, q.sql, 1)
			b.ResetTimer()
			for b.Loop() {
				call()
			}
		})
	}
}

// BenchmarkDirectPgx runs the same SQL straight through a pgx pool and
// reads every value: the floor the tool's overhead is measured against. It
// uses pgx's default prepared-statement cache (pgmcp prepares its checked
// queries too, as named statements of its own: see pgexec/stmts.go).
func BenchmarkDirectPgx(b *testing.B) {
	f := newQueryFixture(b, fixtureOpts{})
	pool := f.pool
	for _, q := range benchQueries {
		b.Run(q.name, func(b *testing.B) {
			run := func() int { return pgxReadAll(b, pool, q.sql) }
			if n := run(); n == 0 {
				b.Fatal("warm-up: no rows")
			}
			b.ResetTimer()
			for b.Loop() {
				run()
			}
		})
	}
}

// pgxReadAll runs sql through pool with pgx's statement cache and reads
// every value into Go values, returning the row count.
func pgxReadAll(b *testing.B, pool *pgxpool.Pool, sql string) int {
	rows, err := pool.Query(b.Context(), sql, pgx.QueryExecModeCacheStatement)
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

// stdioCall returns a function serving a query tool call of sql as the
// stdio transport does (the request's bytes in, the response's bytes out,
// EncodeMessage), once it has checked an answer: no error, at least
// minRows rows, not truncated. size is that answer's length.
func stdioCall(b *testing.B, f *queryFixture, sql string, minRows int) (call func() []byte, size int) {
	req, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
		"params": map[string]any{"name": "query", "arguments": map[string]any{"sql": sql}}})
	if err != nil {
		b.Fatal(err)
	}
	call = stdioServe(b, f, req)
	var resp struct {
		Result struct {
			IsError           bool `json:"isError"`
			StructuredContent struct {
				RowCount  int  `json:"row_count"`
				Truncated bool `json:"truncated"`
			} `json:"structuredContent"`
		} `json:"result"`
	}
	first := call()
	if err := json.Unmarshal(first, &resp); err != nil || resp.Result.IsError || resp.Result.StructuredContent.Truncated ||
		resp.Result.StructuredContent.RowCount < minRows {
		b.Fatalf("warm-up: %.300s (%v)", first, err)
	}
	return call, len(first)
}

// stdioServe returns a function serving the JSON-RPC request req as the
// stdio transport does: the request's bytes in, the response's bytes out.
func stdioServe(b *testing.B, f *queryFixture, req []byte) func() []byte {
	return func() []byte {
		out, err := EncodeMessage(f.srv.HandleMessage(b.Context(), req))
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
}
