package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// TestMain runs the tests with the pgtest cluster; the benchmark database
// (shared by the benchmarks of one run) is dropped before the cluster
// stops, which matters on an external server.
func TestMain(m *testing.M) {
	code := m.Run()
	dropBenchDB()
	if err := pgtest.Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// recall is the share of questions whose gold tables are all selected.
type recall struct {
	questions int
	kept      [3]int // by the weakest form a gold table got: [FormFull] all in full, [FormColumns] all with columns at least, [FormKeys] all in any form
	tokens    int
	budget    int
	misses    []string
}

func (r *recall) add(q goldQuestion, sel Selection, verbose bool) {
	r.questions++
	r.tokens += sel.Tokens
	r.budget += sel.Budget
	if sel.Tokens > sel.Budget {
		r.misses = append(r.misses, q.ID+": over budget")
	}
	form := map[string]Form{}
	for _, t := range sel.Tables {
		form[strings.ToLower(t.Table.Name)] = t.Form
		form[strings.ToLower(t.Table.QualifiedName())] = t.Form
	}
	weakest := FormFull
	var missing []string
	for _, g := range q.Tables {
		f, ok := form[strings.ToLower(g)]
		if !ok {
			missing = append(missing, g)
			continue
		}
		weakest = max(weakest, f)
	}
	if len(missing) > 0 {
		if verbose {
			r.misses = append(r.misses, q.ID+" ["+q.DB+"] "+q.Bare+" missing "+strings.Join(missing, ","))
		}
		return
	}
	for f := weakest; f <= FormKeys; f++ {
		r.kept[f]++
	}
}

func (r *recall) rate() float64 { return r.share(FormKeys) }
func (r *recall) share(f Form) float64 {
	return float64(r.kept[f]) / float64(r.questions)
}
func (r *recall) String() string {
	return fmt.Sprintf("recall %.4f (%d/%d questions with all gold tables kept; with columns at least %.4f, in full %.4f)",
		r.rate(), r.kept[FormKeys], r.questions, r.share(FormColumns), r.share(FormFull))
}

const recallTarget = 0.95

// TestSchemaLinkingRecall measures relevance selection on Spider dev and
// BIRD mini-dev: each database's schema from tables.json, a budget of 40%
// of its full compact rendering, and the gold tables of each question from
// results/gold_tables_per_question.jsonl. A question counts when all its
// gold tables are selected (in full or reduced form); the share in full
// form is reported too.
func TestSchemaLinkingRecall(t *testing.T) {
	dir := sharedData(t)
	gold := loadGold(t, dir)
	verbose := os.Getenv("PGMCP_RECALL_VERBOSE") != ""
	for _, ds := range []struct {
		name      string
		tables    string
		questions []goldQuestion
		bare      bool
	}{
		{"spider-dev", filepath.Join(dir, "spider", "tables.json"), spiderQuestions(t, dir, gold), false},
		{"bird-minidev", filepath.Join(dir, "bird", "mini_dev_tables.json"), birdQuestions(t, dir, gold), false},
		{"bird-minidev-no-evidence", filepath.Join(dir, "bird", "mini_dev_tables.json"), birdQuestions(t, dir, gold), true},
	} {
		t.Run(ds.name, func(t *testing.T) {
			prepared := map[string]*Prepared{}
			for _, db := range loadBenchDBs(t, ds.tables) {
				prepared[db.DBID] = Prepare(snapshotOf(db, "public", ""))
			}
			var r recall
			var full int
			for _, q := range ds.questions {
				p := prepared[q.DB]
				if p == nil {
					t.Fatalf("%s: no schema for %s", q.ID, q.DB)
				}
				budget := p.Tokens() * 40 / 100
				full += p.Tokens()
				text := q.Question
				if ds.bare {
					text = q.Bare
				}
				r.add(q, p.Select(text, budget), verbose)
			}
			t.Logf("%s: %s; budget 40%% of each schema (mean %d of %d tokens), mean selection %d tokens",
				ds.name, &r, r.budget/r.questions, full/r.questions, r.tokens/r.questions)
			for _, m := range r.misses {
				t.Log("  miss:", m)
			}
			if r.rate() < recallTarget && !ds.bare {
				t.Errorf("%s: recall %.4f < %.2f", ds.name, r.rate(), recallTarget)
			}
		})
	}
}

// TestSchemaLinkingRecallLargeCatalog measures selection on one catalog
// of more than 1,000 tables (every Spider and BIRD database merged, table
// names prefixed with the database, plus generated tables) at the default
// budget.
func TestSchemaLinkingRecallLargeCatalog(t *testing.T) {
	dir := sharedData(t)
	gold := loadGold(t, dir)
	snap := mergedCatalog(t, dir, 250)
	if len(snap.Tables) < 1000 {
		t.Fatalf("merged catalog has %d tables, want at least 1,000", len(snap.Tables))
	}
	p := Prepare(snap)
	verbose := os.Getenv("PGMCP_RECALL_VERBOSE") != ""
	var all recall
	for _, ds := range []struct {
		name, schema string
		questions    []goldQuestion
	}{
		{"spider-dev", "spider", spiderQuestions(t, dir, gold)},
		{"bird-minidev", "bird", birdQuestions(t, dir, gold)},
	} {
		var r recall
		for _, q := range ds.questions {
			qq := q
			qq.Tables = nil
			for _, g := range q.Tables {
				qq.Tables = append(qq.Tables, ds.schema+"."+q.DB+"__"+g)
			}
			sel := p.Select(q.Question, DefaultTokenBudget)
			r.add(qq, sel, verbose)
			all.add(qq, sel, false)
		}
		t.Logf("merged catalog (%d tables, %d tokens in full), %s: %s; budget %d, mean selection %d tokens",
			len(snap.Tables), p.Tokens(), ds.name, &r, DefaultTokenBudget, r.tokens/r.questions)
		for _, m := range r.misses {
			t.Log("  miss:", m)
		}
	}
	t.Logf("merged catalog, all questions: %s", &all)
	if all.rate() < recallTarget {
		t.Errorf("merged catalog: recall %.4f < %.2f", all.rate(), recallTarget)
	}
}
