package sqlguard

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// unsafeNode scans a parse tree with protoreflect, independently of the
// walker, and names the first node that a validated query must not have:
// a statement other than SELECT, an INTO clause, a locking clause, a
// parameter.
func unsafeNode(tree *pg.ParseResult) string {
	var reason string
	var visit func(m protoreflect.Message)
	visit = func(m protoreflect.Message) {
		name := string(m.Descriptor().Name())
		switch {
		case name == "IntoClause", name == "LockingClause", name == "ParamRef":
			reason = name
			return
		case strings.HasSuffix(name, "Stmt") && name != "SelectStmt" && name != "RawStmt":
			reason = name
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if reason != "" {
				return false
			}
			if fd.Kind() != protoreflect.MessageKind {
				return true
			}
			if fd.IsList() {
				for i := 0; i < v.List().Len(); i++ {
					visit(v.List().Get(i).Message())
				}
			} else {
				visit(v.Message())
			}
			return true
		})
	}
	visit(tree.ProtoReflect())
	return reason
}

// fuzzSeeds are the table cases, both corpora and the testdata seed files.
// Without the shared corpus the fuzz target runs on the others (it fails
// when PGMCP_REQUIRE_CORPUS=1).
func fuzzSeeds(f *testing.F) {
	for _, tc := range guardCases {
		f.Add(tc.sql)
	}
	for _, name := range []string{"guard_reject.jsonl", "guard_accept.jsonl"} {
		if pgtest.OptionalSharedPath(f, "corpus/"+name) == "" {
			continue
		}
		for _, c := range loadCorpus(f, name) {
			f.Add(c.SQL)
		}
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "cases", "*.sql"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(string(b))
		}
	}
}

func FuzzCheck(f *testing.F) {
	fuzzSeeds(f)
	p := testPolicy()
	f.Fuzz(func(t *testing.T, sql string) {
		fuzzOne(t, p, sql)
		// Mutations often break UTF-8 or add NULs, which Check rejects before
		// parsing; check the cleaned text too so the parser paths get fuzzed.
		if clean := strings.ReplaceAll(strings.ToValidUTF8(sql, "?"), "\x00", " "); clean != sql {
			fuzzOne(t, p, clean)
		}
	})
}

func fuzzOne(t *testing.T, p *Policy, sql string) {
	q, err := Check(sql, p)
	if err != nil {
		var ge *Error
		if !errors.As(err, &ge) || ge.Code == "" || ge.Message == "" {
			t.Fatalf("bad error for %q: %#v", sql, err)
		}
		return
	}
	assertSafeSelect(t, q.SQL())
	// What runs is what was checked: the statement text checks the same.
	if _, err := Check(q.SQL(), p); err != nil {
		t.Fatalf("SQL() %q of an accepted query is rejected: %v", q.SQL(), err)
	}
	limited, err := q.LimitRows(11)
	if err != nil {
		// The deparser can fail on exotic input; that is an error, never
		// an unsafe result. Anything else is a bug.
		if !strings.Contains(err.Error(), "deparse") && !strings.Contains(err.Error(), "does not pass the guard") {
			t.Fatalf("LimitRows(%q): %v", sql, err)
		}
		return
	}
	assertSafeSelect(t, limited)
	_ = q.Relations()
	_ = q.Columns()
	_ = q.Functions()
}

// TestLimitRowsRoundTrip runs LimitRows over every accept-corpus query and
// checks the result is a safe SELECT that passes the guard.
func TestLimitRowsRoundTrip(t *testing.T) {
	p := shopPolicy(t)
	for _, c := range loadCorpus(t, "guard_accept.jsonl") {
		q, err := Check(c.SQL, p)
		if err != nil {
			t.Fatalf("%q: %v", c.SQL, err)
		}
		for _, n := range []int{0, 1, 3, 101} {
			out, err := q.LimitRows(n)
			if err != nil {
				t.Errorf("LimitRows(%d) of %q: %v", n, c.SQL, err)
				continue
			}
			assertSafeSelect(t, out)
			lq, err := Check(out, p)
			if err != nil {
				t.Errorf("limited %q rejected: %v", out, err)
				continue
			}
			// The limited query reads the same relations.
			if strings.Join(lq.Relations(), ",") != strings.Join(q.Relations(), ",") {
				t.Errorf("relations changed: %q -> %q", c.SQL, out)
			}
			sel := mustParse(t, out).Stmts[0].Stmt.GetSelectStmt()
			if c := sel.GetLimitCount().GetAConst(); c != nil {
				if v := c.GetIval().GetIval(); int(v) > n {
					t.Errorf("LimitRows(%d) of %q left LIMIT %d", n, c.String(), v)
				}
			}
		}
	}
}

func mustParse(t testing.TB, sql string) *pg.ParseResult {
	t.Helper()
	tree, err := pg.Parse(sql)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestRegressionSelects is a smoke test over the 14,698 SELECTs of the
// PostgreSQL 16 regression suite (many touch catalogs or unsafe functions,
// so most are rejected): it never panics, every accepted query re-parses as
// a safe SELECT, and LimitRows works on them.
func TestRegressionSelects(t *testing.T) {
	b, err := os.ReadFile(pgtest.SharedPath(t, "data/corpus/pg16_regress_pure_selects.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		t.Skip("short")
	}
	// The regression suite's own tables are not in any catalog here: the
	// shop schema stands in, so what it names resolves.
	p := &Policy{SearchPath: []string{"public"}, AllowedSchemas: []string{"public"}, Catalog: testCatalog()}
	total, accepted, limitErrs := 0, 0, 0
	codes := map[Code]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var c struct{ SQL string }
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		total++
		q, err := Check(c.SQL, p)
		if err != nil {
			codes[codeOf(err)]++
			continue
		}
		accepted++
		assertSafeSelect(t, q.SQL())
		out, err := q.LimitRows(101)
		if err != nil {
			limitErrs++
			t.Logf("LimitRows error: %v\n    %s", err, oneLine(c.SQL))
			continue
		}
		assertSafeSelect(t, out)
	}
	t.Logf("regression SELECTs: %d, accepted %d, LimitRows errors %d, rejections by code %v", total, accepted, limitErrs, codes)
}
