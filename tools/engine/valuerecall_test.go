package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// spiderLiteral matches the string literals of Spider's gold SQL (SQLite
// dialect: "double" or 'single' quotes).
var spiderLiteral = regexp.MustCompile(`"([^"]*)"|'([^']*)'`)

// The shares measured on the tree before value grounding (issue 17): 380
// of 417 literals are in the prompt (0.911), 127 of them beyond the
// question's own words (0.305, the planner's common values). A change that
// sends the model fewer of the values it needs fails here.
const (
	valueRecallFloor       = 0.91
	valueRecallBeyondFloor = 0.30
	// With the value index (schema.Options.Values): 397 of 417 (0.952),
	// 370 beyond the question's words (0.887); the median prompt grows from
	// 645 to 653 tokens.
	valueHintsFloor       = 0.95
	valueHintsBeyondFloor = 0.88
)

// TestValueRecallSpider measures value recall on Spider dev: the 19
// PostgreSQL ports of ../shared/data/spider/pg_dbs are loaded (and
// ANALYZEd, so the schema shows the planner's common values), and for
// every dev question on them, each string literal of its gold SQL (LIKE
// wildcards stripped) is looked for, case-sensitively as SQL compares it,
// in what the model is first sent: the whole prompt, and the prompt
// without the question's own words (the schema, common values and
// examples). Set PGMCP_RECALL_VERBOSE=1 to list the misses.
// spiderQuestion is one question of Spider dev.
type spiderQuestion struct {
	DB       string `json:"db_id"`
	Query    string `json:"query"`
	Question string `json:"question"`
}

// loadSpider loads the 19 PostgreSQL ports of ../shared/data/spider/pg_dbs,
// each into a database of its own (ANALYZEd, so the schema shows the
// planner's common values), opens them (named by their Spider db_id, lower
// case), and reads Spider dev.
func loadSpider(t testing.TB, values bool) ([]*Database, []spiderQuestion) {
	t.Helper()
	dir := pgtest.SharedPath(t, "data/spider/pg_dbs")
	devPath := pgtest.SharedPath(t, "data/spider/dev.json")
	files, _ := filepath.Glob(filepath.Join(dir, "*.sql"))
	if len(files) == 0 {
		t.Fatalf("no Spider databases in %s", dir)
	}
	dbs := make([]*Database, len(files))
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	for i, f := range files {
		stem := strings.ToLower(strings.TrimSuffix(filepath.Base(f), ".sql"))
		pdb := pgtest.NewDB(t, pgtest.Empty)
		wg.Go(func() {
			if le := pgtest.LoadSQLFile(t, pdb.URL, f); len(le) > 0 {
				t.Logf("%s: %d statements of the dump failed, the first: %v", stem, len(le), le[0])
			}
			pool := pdb.Pool(t)
			if _, err := pool.Exec(t.Context(), "ANALYZE"); err != nil {
				errs[i] = err
				return
			}
			opts := schema.DefaultOptions()
			opts.Values = values
			dbs[i], errs[i] = Open(t.Context(), DatabaseSpec{Name: stem, URL: pdb.URL, AllowPrivilegedRole: true, Schema: &opts,
				Policy: PolicySource{AllowedSchemas: []string{"public"}}, Pool: pgexec.Options{ConnectTimeout: 10 * time.Second}}, nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", files[i], err)
		}
		t.Cleanup(dbs[i].Pool.Close)
	}
	b, err := os.ReadFile(devPath)
	if err != nil {
		t.Fatal(err)
	}
	var dev []spiderQuestion
	if err := json.Unmarshal(b, &dev); err != nil {
		t.Fatal(err)
	}
	return dbs, dev
}

func TestValueRecallSpider(t *testing.T) {
	for _, tc := range []struct {
		name          string
		values        bool
		floor, beyond float64
	}{
		{"without value hints", false, valueRecallFloor, valueRecallBeyondFloor},
		{"with value hints", true, valueHintsFloor, valueHintsBeyondFloor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			share, beyond := measureValueRecall(t, tc.values)
			if share < tc.floor {
				t.Errorf("value recall %.3f is below the floor %.2f", share, tc.floor)
			}
			if beyond < tc.beyond {
				t.Errorf("value recall beyond the question's words %.3f is below the floor %.2f", beyond, tc.beyond)
			}
		})
	}
}

// measureValueRecall is TestValueRecallSpider's measure, with the schema's
// value index on or off; it returns the share of literals in the prompt and
// the share beyond the question's own words.
func measureValueRecall(t *testing.T, values bool) (share, beyond float64) {
	dbs, dev := loadSpider(t, values)
	eng, err := New(Config{Databases: dbs})
	if err != nil {
		t.Fatal(err)
	}
	eng.WaitValues(t.Context())
	loaded := map[string]bool{}
	for _, db := range dbs {
		loaded[db.Name] = true
	}
	verbose := os.Getenv("PGMCP_RECALL_VERBOSE") != ""
	var questions, literals, inPrompt, outsideQuestion, inQuestionOnly int
	var misses []string
	var tokens []int // prompt tokens of every question on the loaded databases
	for i, q := range dev {
		if !loaded[strings.ToLower(q.DB)] {
			continue
		}
		if msgs, err := eng.prompt(t.Context(), mustAccess(t, eng, q.DB), q.Question, 100); err == nil {
			n := 0
			for _, m := range msgs {
				n += schema.EstimateTokens(m.Content)
			}
			tokens = append(tokens, n)
		}
		var lits []string
		for _, m := range spiderLiteral.FindAllStringSubmatch(q.Query, -1) {
			lit := strings.Trim(m[1]+m[2], "%")
			if lit != "" {
				lits = append(lits, lit)
			}
		}
		if len(lits) == 0 {
			continue
		}
		questions++
		msgs, err := eng.prompt(t.Context(), mustAccess(t, eng, q.DB), q.Question, 100)
		if err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		for _, m := range msgs {
			all.WriteString(m.Content + "\n")
		}
		text := all.String()
		rest := strings.ReplaceAll(text, q.Question, "")
		for _, lit := range lits {
			literals++
			switch {
			case strings.Contains(rest, lit):
				inPrompt++
				outsideQuestion++
			case strings.Contains(text, lit):
				inPrompt++
				inQuestionOnly++
			default:
				kind := "not in the prompt"
				if strings.Contains(strings.ToLower(text), strings.ToLower(lit)) {
					kind = "only in another case"
				}
				misses = append(misses, fmt.Sprintf("dev #%d [%s] %q: %q %s", i, q.DB, q.Question, lit, kind))
			}
		}
	}
	if questions == 0 {
		t.Fatal("no Spider dev question with a string literal on the loaded databases")
	}
	share = float64(inPrompt) / float64(literals)
	beyond = float64(outsideQuestion) / float64(literals)
	t.Logf("spider dev, %d databases: %d questions with string literals, %d literals; in the prompt %d (%.3f): %d beyond the question's own text, %d only in the question; missed %d",
		len(dbs), questions, literals, inPrompt, share, outsideQuestion, inQuestionOnly, len(misses))
	sort.Ints(tokens)
	t.Logf("prompt tokens over %d questions (bytes/4): median %d, p95 %d, max %d",
		len(tokens), tokens[len(tokens)/2], tokens[len(tokens)*95/100], tokens[len(tokens)-1])
	kinds := map[string]int{}
	for _, m := range misses {
		kinds[m[strings.LastIndex(m, "\" ")+2:]]++
	}
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("  misses %s: %d", k, kinds[k])
	}
	if verbose {
		for _, m := range misses {
			t.Log("  miss:", m)
		}
	}
	return share, beyond
}

// mustAccess is the caller's access to database (its name lower-cased).
func mustAccess(t *testing.T, eng *Engine, database string) *Access {
	t.Helper()
	a, err := eng.Access(t.Context(), strings.ToLower(database))
	if err != nil {
		t.Fatal(err)
	}
	return a
}
