package pgexec

import (
	"encoding/json"
	"testing"

	"github.com/pgmcp/pgmcp/sqlguard"
)

// TestRunParams: a query checked with parameters runs with their values
// bound as data: a value holding SQL is compared as text, never run; the
// number of values must be the query's, on the named statement path and
// the row cap's rewrite alike.
func TestRunParams(t *testing.T) {
	f := newExecFixture(t, "")
	q, err := sqlguard.CheckParams(`SELECT id FROM customers WHERE id = ANY($1::integer[]) AND city <> $2::text ORDER BY id`, f.pol, 2)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second run uses the prepared statement
		res, err := f.ex.RunParams(t.Context(), q, [][]byte{[]byte("{3,1,2}"), []byte("x'); DROP TABLE customers; --")}, Limits{MaxRows: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != 2 || !res.Truncated || res.Rows[0][0] != json.Number("1") || res.Rows[1][0] != json.Number("2") {
			t.Errorf("rows %v truncated %v, want ids 1 and 2 of 3, cut by max_rows", res.Rows, res.Truncated)
		}
	}
	for _, params := range [][][]byte{nil, {[]byte("{1}")}, {[]byte("{1}"), []byte("a"), []byte("b")}} {
		if _, err := f.ex.RunParams(t.Context(), q, params, Limits{MaxRows: 10}); codeOf(err) != CodeQueryFailed {
			t.Errorf("%d values for 2 parameters: %v, want query_failed", len(params), err)
		}
	}
	// A query checked without parameters takes none.
	plain, err := sqlguard.Check("SELECT count(*) FROM customers", f.pol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ex.RunParams(t.Context(), plain, [][]byte{[]byte("1")}, Limits{MaxRows: 10}); codeOf(err) != CodeQueryFailed {
		t.Errorf("a value for a query without parameters: %v", err)
	}
	var n int
	if err := f.db.Pool(t).QueryRow(t.Context(), "SELECT count(*) FROM customers").Scan(&n); err != nil || n == 0 {
		t.Errorf("customers after the runs: %d, %v", n, err)
	}
}
