package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// rs builds a ResultSet with generated column names.
func rs(rows ...[]any) ResultSet {
	r := ResultSet{Rows: rows}
	if len(rows) > 0 {
		for i := range rows[0] {
			r.Columns = append(r.Columns, fmt.Sprintf("c%d", i))
		}
	}
	return r
}

func row(vs ...any) []any { return vs }

func n(s string) json.Number { return json.Number(s) }

func TestExecutionMatch(t *testing.T) {
	cases := []struct {
		name       string
		gold, pred ResultSet
		ordered    bool
		want       bool
	}{
		{"identical", rs(row(n("1"), "a"), row(n("2"), "b")), rs(row(n("1"), "a"), row(n("2"), "b")), false, true},
		{"permuted columns", rs(row(n("1"), "a"), row(n("2"), "b")), rs(row("a", n("1")), row("b", n("2"))), false, true},
		{"permuted columns ordered", rs(row(n("1"), "a"), row(n("2"), "b")), rs(row("a", n("1")), row("b", n("2"))), true, true},
		// Each column's multiset agrees, but no single assignment works:
		// a per-row sorted multiset of cells would wrongly accept this.
		{"columns swapped in one row only", rs(row("x", "y"), row("x", "y")), rs(row("x", "y"), row("y", "x")), false, false},
		// Columns with equal value multisets: the permutation must be
		// checked row-wise, not column-wise.
		{"same column multisets, rows differ", rs(row("a", "b"), row("b", "a")), rs(row("a", "a"), row("b", "b")), false, false},
		{"ambiguous columns, swap needed", rs(row("a", "b", "c"), row("b", "a", "d")), rs(row("c", "b", "a"), row("d", "a", "b")), false, true},
		{"column names ignored", ResultSet{Columns: []string{"id"}, Rows: [][]any{{n("1")}}}, ResultSet{Columns: []string{"count"}, Rows: [][]any{{n("1")}}}, false, true},
		{"no columns given: width from rows", ResultSet{Rows: [][]any{{n("1"), "a"}}}, ResultSet{Rows: [][]any{{"a", n("1")}}}, false, true},
		{"extra column", rs(row(n("1"))), rs(row(n("1"), n("1"))), false, false},
		{"ragged row", rs(row(n("1"), n("2"))), ResultSet{Columns: []string{"a", "b"}, Rows: [][]any{{n("1")}}}, false, false},

		{"duplicates count: 2 vs 1", rs(row("a"), row("a")), rs(row("a")), false, false},
		{"duplicates count: same length, different multiplicity", rs(row("a"), row("a"), row("b")), rs(row("a"), row("b"), row("b")), false, false},
		{"duplicates equal multiplicity", rs(row("a"), row("b"), row("a")), rs(row("b"), row("a"), row("a")), false, true},

		{"row order ignored when unordered", rs(row("a"), row("b")), rs(row("b"), row("a")), false, true},
		{"row order matters when ordered", rs(row("a"), row("b")), rs(row("b"), row("a")), true, false},
		{"ordered same order", rs(row("a"), row("b")), rs(row("a"), row("b")), true, true},
		{"extra row", rs(row("a")), rs(row("a"), row("b")), false, false},
		{"missing row", rs(row("a"), row("b")), rs(row("a")), false, false},

		{"json.Number 1.0 vs int 1", rs(row(n("1.0"))), rs(row(1)), false, true},
		{"json.Number 1 vs 1.0", rs(row(n("1"))), rs(row(n("1.0"))), false, true},
		{"json.Number 1 vs float64 1", rs(row(n("1"))), rs(row(1.0)), false, true},
		{"exponent form", rs(row(n("1.5"))), rs(row(n("15e-1"))), false, true},
		{"negative zero", rs(row(n("0"))), rs(row(n("-0.0"))), false, true},
		{"1 vs 2", rs(row(n("1"))), rs(row(n("2"))), false, false},
		{"float within 1e-6", rs(row(n("3.3333333333333333"))), rs(row(10.0 / 3)), false, true},
		{"float within 1e-6 (9e-7 relative)", rs(row(n("1.0"))), rs(row(n("1.0000009"))), false, true},
		{"float beyond 1e-6 (2e-6 relative)", rs(row(n("1.0"))), rs(row(n("1.000002"))), false, false},
		{"integers compared exactly", rs(row(n("1000000"))), rs(row(n("1000001"))), false, false},
		{"integer vs decimal within tolerance", rs(row(n("1000000"))), rs(row(n("1000000.5"))), false, true},
		{"zero is only zero", rs(row(n("0"))), rs(row(n("0.0000000001"))), false, false},
		{"string is not a number", rs(row("1")), rs(row(n("1"))), false, false},
		{"NaN strings", rs(row("NaN")), rs(row("NaN")), false, true},

		{"NULL equals NULL", rs(row(nil, "a")), rs(row(nil, "a")), false, true},
		{"NULL is not empty string", rs(row(nil)), rs(row("")), false, false},
		{"NULL is not zero", rs(row(nil)), rs(row(n("0"))), false, false},
		{"strings exact: case", rs(row("Alice")), rs(row("alice")), false, false},
		{"strings exact: space", rs(row("a")), rs(row("a ")), false, false},
		{"bool", rs(row(true)), rs(row(true)), false, true},
		{"bool differs", rs(row(true)), rs(row(false)), false, false},
		{"bool is not string", rs(row(true)), rs(row("t")), false, false},

		{"both empty", rs(), rs(), false, true},
		{"both empty, different columns", ResultSet{Columns: []string{"a"}}, ResultSet{Columns: []string{"a", "b"}}, true, true},
		{"empty vs one row", rs(), rs(row("a")), false, false},
		{"one row vs empty", rs(row("a")), rs(), false, false},

		{"json key order and space", rs(row(json.RawMessage(`{"a":1,"b":[1,2]}`))), rs(row(json.RawMessage(`{ "b": [1, 2], "a": 1.0 }`))), false, true},
		{"json differs", rs(row(json.RawMessage(`{"a":1}`))), rs(row(json.RawMessage(`{"a":2}`))), false, false},
		{"json is not a string", rs(row(json.RawMessage(`"x"`))), rs(row("x")), false, false},
		{"arrays", rs(row([]any{n("1"), nil, "x"})), rs(row([]any{n("1.0"), nil, "x"})), false, true},
		{"arrays differ", rs(row([]any{n("1"), n("2")})), rs(row([]any{n("2"), n("1")})), false, false},
		{"array is not json", rs(row([]any{n("1")})), rs(row(json.RawMessage(`[1]`))), false, false},

		// Tolerance and multisets: rows that are not identical must still
		// pair up, and each gold row is used once.
		{"tolerant multiset", rs(row("a", n("0.1")), row("b", n("0.2"))), rs(row("b", 0.2000000001), row("a", 0.1000000001)), false, true},
		{"tolerant multiset, one pred row for two gold rows", rs(row(n("1.0")), row(n("2.0"))), rs(row(1.0000001), row(1.0000002)), false, false},
		// Exact pairing first would pair 1.0 with 1.0 and leave
		// 0.9999992 against 1.0000008 (1.6e-6 apart); a matching exists.
		// Sorting by the first column pairs (1.0, 5) with (1.0, 6); only
		// the bipartite matching finds the pairing.
		{"tolerant rows need bipartite matching", rs(row(n("1.0"), n("5")), row(n("1.0000005"), n("6"))), rs(row(n("1.0000005"), n("5")), row(n("1.0"), n("6"))), false, true},
		{"tolerant rows, no matching", rs(row(n("1.0"), n("5")), row(n("1.0000005"), n("6"))), rs(row(n("1.0000005"), n("5")), row(n("1.0"), n("7"))), false, false},
		{"tolerant chain needs matching", rs(row(n("1.0")), row(n("0.9999992"))), rs(row(n("1.0")), row(n("1.0000008"))), false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ExecutionMatch(c.gold, c.pred, c.ordered); got != c.want {
				t.Errorf("ExecutionMatch(gold, pred, %v) = %v, want %v", c.ordered, got, c.want)
			}
		})
	}
}

// TestExecutionMatchSymmetric checks that swapping gold and pred never
// changes the answer.
func TestExecutionMatchSymmetric(t *testing.T) {
	sets := []ResultSet{
		rs(row(n("1"), "a"), row(n("2"), "b")),
		rs(row("a", n("1")), row("b", n("2"))),
		rs(row("a", 1.0000001), row("b", n("2"))),
		rs(row("a", n("1")), row("a", n("1"))),
		rs(row(nil, "a"), row("b", n("2"))),
		rs(),
	}
	for i, a := range sets {
		for j, b := range sets {
			for _, ordered := range []bool{false, true} {
				if ExecutionMatch(a, b, ordered) != ExecutionMatch(b, a, ordered) {
					t.Errorf("sets %d and %d (ordered %v): not symmetric", i, j, ordered)
				}
			}
		}
	}
}

// TestExecutionMatchWide checks the permutation search on a result whose
// columns all hold the same values (every assignment is a candidate): the
// identity is found at once, and a reversed copy is found within the bound.
func TestExecutionMatchWide(t *testing.T) {
	const w = 12
	var g, p []any
	for range w {
		g = append(g, n("7"))
		p = append(p, n("7"))
	}
	if !ExecutionMatch(rs(g, g), rs(p, p), false) {
		t.Error("12 identical columns: want match")
	}
	// Distinct columns, reversed: candidates are pruned to one each.
	g, p = nil, nil
	for i := range w {
		g = append(g, fmt.Sprint("v", i))
		p = append(p, fmt.Sprint("v", w-1-i))
	}
	if !ExecutionMatch(rs(g), rs(p), false) {
		t.Error("reversed distinct columns: want match")
	}
	p[0] = "other"
	if ExecutionMatch(rs(g), rs(p), false) {
		t.Error("one different cell: want no match")
	}
}

func TestExecutionMatchLargeTolerantGroup(t *testing.T) {
	// 300 numeric rows (beyond the bipartite bound) that differ from gold
	// by float noise only: the sorted pairing matches them.
	var g, p [][]any
	for i := range 300 {
		g = append(g, row(n(fmt.Sprintf("%d.1", i))))
		p = append(p, row(float64(299-i)+0.1+1e-12))
	}
	if !ExecutionMatch(ResultSet{Rows: g}, ResultSet{Rows: p}, false) {
		t.Error("want match")
	}
	p[0] = row(1e9)
	if ExecutionMatch(ResultSet{Rows: g}, ResultSet{Rows: p}, false) {
		t.Error("one row changed: want no match")
	}
}

func TestSoftF1(t *testing.T) {
	cases := []struct {
		name       string
		gold, pred ResultSet
		want       float64
	}{
		{"identical", rs(row("a", n("1")), row("b", n("2"))), rs(row("a", n("1")), row("b", n("2"))), 1},
		{"both empty", rs(), rs(), 1},
		{"gold empty", rs(), rs(row("a")), 0},
		{"pred empty", rs(row("a")), rs(), 0},
		// tp 2/3, fp 1/3, fn 1/3: P = R = 2/3.
		{"one cell of three wrong", rs(row(n("1"), n("2"), n("3"))), rs(row(n("1"), n("2"), n("4"))), 2.0 / 3},
		// tp 1, fp 0, fn 1 (missing row): P 1, R 1/2, F1 2/3.
		{"missing row", rs(row("a", "b"), row("c", "d")), rs(row("a", "b")), 2.0 / 3},
		// tp 1, fp 1 (extra row), fn 0: F1 2/3.
		{"extra row", rs(row("a")), rs(row("a"), row("b")), 2.0 / 3},
		// Column order within a row is ignored.
		{"permuted columns", rs(row("a", n("1"))), rs(row(n("1"), "a")), 1},
		// Rows are paired by position: swapped rows share nothing.
		{"rows paired by position", rs(row("a"), row("b")), rs(row("b"), row("a")), 0},
		// Duplicates dropped: [a, a] is [a].
		{"duplicate rows dropped", rs(row("a"), row("a")), rs(row("a")), 1},
		// Dedup keeps the first occurrence: pred becomes [a, b].
		{"dedup keeps order", rs(row("a"), row("b")), rs(row("a"), row("a"), row("b")), 1},
		// Membership, not multiset: match 2/2, fn 1/2: P 1, R 2/3, F1 4/5.
		{"membership within row", rs(row("a", "b")), rs(row("a", "a")), 0.8},
		// Pred wider than gold: match 2/2, fp 1/2: P 2/3, R 1, F1 4/5.
		{"pred row wider", rs(row("a", "b")), rs(row("a", "b", "c")), 0.8},
		// Numbers use ExecutionMatch's equality.
		{"numeric forms", rs(row(n("1.0"), n("2"))), rs(row(1, 2.0)), 1},
		{"NULLs match", rs(row(nil, "a")), rs(row(nil, "b")), 0.5},
		// Row 1: tp 1/2, fp 1/2, fn 1/2; row 2 missing: fn 1.
		// tp 1/2, fp 1/2, fn 3/2: P 1/2, R 1/4, F1 1/3.
		{"partial and missing", rs(row("a", "b"), row("c", "d")), rs(row("a", "x")), 1.0 / 3},
		{"nothing in common", rs(row("a")), rs(row("b")), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SoftF1(c.gold, c.pred); math.Abs(got-c.want) > 1e-12 {
				t.Errorf("SoftF1 = %v, want %v", got, c.want)
			}
		})
	}
}

func TestScoreNormDecimal(t *testing.T) {
	cases := []struct {
		in      string
		key     string
		integer bool
		ok      bool
	}{
		{"1", "1e0", true, true},
		{"1.0", "1e0", false, true},
		{"100", "1e2", true, true},
		{"-0.50", "-5e-1", false, true},
		{"15e-1", "15e-1", false, true},
		{"0.0", "0", false, true},
		{"-0", "0", true, true},
		{"1e+21", "1e21", false, true},
		{"abc", "", false, false},
		{"-", "", false, false},
		{"1e99999999999", "", false, false},
	}
	for _, c := range cases {
		key, integer, ok := scoreNormDecimal(c.in)
		if key != c.key || integer != c.integer || ok != c.ok {
			t.Errorf("scoreNormDecimal(%q) = %q, %v, %v; want %q, %v, %v", c.in, key, integer, ok, c.key, c.integer, c.ok)
		}
	}
}

func TestScoreResultSetFrom(t *testing.T) {
	r := &pgexec.Result{
		Columns: []pgexec.Column{{Name: "id", Type: "int4"}, {Name: "name", Type: "text"}},
		Rows:    [][]any{{n("1"), "a"}},
	}
	got := ResultSetFrom(r)
	if len(got.Columns) != 2 || got.Columns[0] != "id" || got.Columns[1] != "name" || len(got.Rows) != 1 {
		t.Fatalf("ResultSetFrom = %+v", got)
	}
	if !ExecutionMatch(got, rs(row("a", 1)), false) {
		t.Error("want match against a hand-made result")
	}
}
