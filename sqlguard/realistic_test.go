package sqlguard

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v5"
)

// dataDir holds the shared public data sets, relative to this package.
const dataDir = "../../shared/data"

// Acceptance floors: the share of queries that parse as one statement which
// the guard accepts under a permissive policy. They are what the guard
// reached when these tests were written (BIRD 3877/4068: every rejection
// calls a function PostgreSQL does not have — divide, year, strftime,
// subtract, month, group_concat, multiply, datediff… — except one cartesian
// product of a table with itself; Spider 1032/1032). A drop is a regression.
const (
	birdAcceptFloor   = 0.9530
	spiderAcceptFloor = 1.0
)

// realisticPolicy allows every relation of public and blocks nothing.
func realisticPolicy() *Policy {
	return &Policy{SearchPath: []string{"public"}, AllowedSchemas: []string{"public"}}
}

type realQuery struct {
	sql, source string
}

func loadBIRD(t *testing.T) []realQuery {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, "bird", "minidev_pg_predictions", "*.json"))
	if len(files) == 0 {
		t.Skip("BIRD predictions not found")
	}
	sort.Strings(files)
	var out []realQuery
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			// "SQL\t----- bird -----\tdb_id"
			sql, _, _ := strings.Cut(m[k], "\t----- bird -----\t")
			out = append(out, realQuery{sql: sql, source: filepath.Base(f) + "#" + k})
		}
	}
	return out
}

func loadSpider(t *testing.T) []realQuery {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir, "spider", "dev_gold.sql"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("Spider dev gold not found")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []realQuery
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		// "SQL<TAB>db_id"
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		sql := text
		if i := strings.LastIndexByte(text, '\t'); i >= 0 {
			sql = text[:i]
		}
		out = append(out, realQuery{sql: sql, source: fmt.Sprintf("dev_gold.sql:%d", line)})
	}
	return out
}

// runRealistic checks every query that parses and reports the results.
func runRealistic(t *testing.T, name string, qs []realQuery, floor float64) {
	p := realisticPolicy()
	parsed, accepted := 0, 0
	codes := map[Code][]string{}
	for _, q := range qs {
		if tree, err := pg.Parse(q.sql); err != nil || len(tree.Stmts) != 1 {
			continue
		}
		parsed++
		_, err := Check(q.sql, p)
		if err == nil {
			accepted++
			continue
		}
		var ge *Error
		if !errors.As(err, &ge) {
			t.Fatalf("%s: %T %v", q.source, err, err)
		}
		codes[ge.Code] = append(codes[ge.Code], q.source+": "+ge.Message+"\n        "+oneLine(q.sql))
	}
	rate := float64(accepted) / float64(max(parsed, 1))
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d queries, %d parse as one statement, %d accepted (%.2f%% of parsed)\n",
		name, len(qs), parsed, accepted, 100*rate)
	keys := make([]string, 0, len(codes))
	for c := range codes {
		keys = append(keys, string(c))
	}
	sort.Strings(keys)
	for _, c := range keys {
		ex := codes[Code(c)]
		fmt.Fprintf(&b, "  %-22s %4d\n", c, len(ex))
		for i, e := range ex {
			if i == 8 && !testing.Verbose() {
				fmt.Fprintf(&b, "      … %d more (run with -v for all)\n", len(ex)-i)
				break
			}
			fmt.Fprintf(&b, "      %s\n", e)
		}
	}
	t.Log(b.String())
	if rate < floor {
		t.Errorf("%s: acceptance %.4f fell below the floor %.4f", name, rate, floor)
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 220 {
		s = s[:220] + "…"
	}
	return s
}

func TestRealisticBIRD(t *testing.T) {
	runRealistic(t, "BIRD mini-dev model predictions", loadBIRD(t), birdAcceptFloor)
}

func TestRealisticSpider(t *testing.T) {
	runRealistic(t, "Spider dev gold", loadSpider(t), spiderAcceptFloor)
}
