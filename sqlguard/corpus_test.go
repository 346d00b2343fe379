package sqlguard

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// The shared corpus (../shared/corpus) and data sets (../shared/data) are
// found with pgtest.SharedPath: a test that needs a missing file is
// skipped, or fails when PGMCP_REQUIRE_CORPUS=1 (CI).

type corpusCase struct {
	SQL      string `json:"sql"`
	Category string `json:"category"`
	Why      string `json:"why"`
	Source   string `json:"source"`
}

func loadCorpus(t testing.TB, name string) []corpusCase {
	t.Helper()
	f, err := os.Open(pgtest.SharedPath(t, "corpus/"+name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var c corpusCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s:%d: %v", name, line, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func shopPolicy(t testing.TB) *Policy {
	t.Helper()
	b, err := os.ReadFile(pgtest.SharedPath(t, "corpus/shop_policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePolicyJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	p.Catalog = shopCatalog(t, p.SearchPath)
	return p
}

// shopCatalog is the Catalog of the corpus schema, shop_schema.sql.
func shopCatalog(t testing.TB, searchPath []string) *Catalog {
	t.Helper()
	ddl, err := os.ReadFile(pgtest.SharedPath(t, "corpus/shop_schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := CatalogFromDDL(string(ddl), searchPath)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dosLetThrough are the reject-corpus "dos" cases the parse tree cannot
// show to be expensive; statement_timeout and the row cap stop them. The
// test asserts that exactly these are accepted, so the list cannot grow
// silently.
var dosLetThrough = []string{}

func TestCorpus(t *testing.T) {
	p := shopPolicy(t)
	rejects := loadCorpus(t, "guard_reject.jsonl")
	accepts := loadCorpus(t, "guard_accept.jsonl")

	type tally struct {
		total, rejected int
		codes           map[Code]int
	}
	byCat := map[string]*tally{}
	get := func(cat string) *tally {
		if byCat[cat] == nil {
			byCat[cat] = &tally{codes: map[Code]int{}}
		}
		return byCat[cat]
	}
	letThrough := map[string]bool{}
	for _, s := range dosLetThrough {
		letThrough[s] = true
	}
	var gotThrough []string
	for _, c := range rejects {
		tl := get("reject/" + c.Category)
		tl.total++
		_, err := Check(c.SQL, p)
		if err == nil {
			if c.Category == "dos" && letThrough[c.SQL] {
				gotThrough = append(gotThrough, c.SQL)
				continue
			}
			t.Errorf("accepted a reject case [%s]: %q (%s)", c.Category, c.SQL, c.Why)
			continue
		}
		var ge *Error
		if !errors.As(err, &ge) {
			t.Errorf("error is not *Error: %T %v", err, err)
			continue
		}
		tl.rejected++
		tl.codes[ge.Code]++
		checkMessage(t, c.SQL, ge)
		if testing.Verbose() {
			t.Logf("rejected %-22s %-22s %.200q", c.Category, ge.Code, c.SQL)
		}
	}
	for _, c := range accepts {
		tl := get("accept/" + c.Category)
		tl.total++
		if _, err := Check(c.SQL, p); err != nil {
			tl.rejected++
			t.Errorf("rejected an accept case [%s]: %q: %v", c.Category, c.SQL, err)
		}
	}
	sort.Strings(gotThrough)
	want := append([]string(nil), dosLetThrough...)
	sort.Strings(want)
	if strings.Join(gotThrough, "\n") != strings.Join(want, "\n") {
		t.Errorf("dos cases let through changed:\n got %q\nwant %q", gotThrough, want)
	}
	for _, s := range gotThrough {
		t.Logf("dos case let through (left to statement_timeout and the row cap): %s", s)
	}

	cats := make([]string, 0, len(byCat))
	for c := range byCat {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-34s %6s %8s %8s  %s\n", "category", "cases", "accepted", "rejected", "codes")
	for _, c := range cats {
		tl := byCat[c]
		var codes []string
		for code, n := range tl.codes {
			codes = append(codes, fmt.Sprintf("%s=%d", code, n))
		}
		sort.Strings(codes)
		fmt.Fprintf(&b, "%-34s %6d %8d %8d  %s\n", c, tl.total, tl.total-tl.rejected, tl.rejected, strings.Join(codes, " "))
	}
	t.Log(b.String())
}

// checkMessage asserts that a rejection message quotes no literal of the
// query: no string constant longer than two characters appears in it.
func checkMessage(t *testing.T, sql string, e *Error) {
	t.Helper()
	for _, lit := range stringLiterals(sql) {
		if len(lit) > 2 && strings.Contains(e.Message, lit) {
			t.Errorf("message for %q echoes the literal %q: %s", sql, lit, e.Message)
		}
	}
}

// stringLiterals extracts the bodies of '…' literals (roughly).
func stringLiterals(sql string) []string {
	var out []string
	for {
		i := strings.IndexByte(sql, '\'')
		if i < 0 {
			return out
		}
		sql = sql[i+1:]
		j := strings.IndexByte(sql, '\'')
		if j < 0 {
			return out
		}
		out = append(out, sql[:j])
		sql = sql[j+1:]
	}
}
