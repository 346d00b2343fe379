package schema

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkQuestionSelect measures what the server does with a question
// before the model is called, without a database: relevance selection
// (Prepared.Select at DefaultTokenBudget) plus a value match
// (ValueIndex.Match, 10 matches, rendered with Hints) over synthetic
// values of the schema's text columns (questionValues). Each iteration is
// one question, cycling over Spider dev's and BIRD mini-dev's questions
// that have gold tables; besides ns/op it reports the median and 95th
// percentile of the per-question time, in microseconds, for the whole and
// for Select and Match+Hints apart, and the table and value counts.
//
//   - spider-per-db, bird-per-db: each question on its own database's
//     schema (tables.json), as a server with one small database sees it.
//   - catalog/tables=N: every question on one catalog of N tables: about
//     250 (the databases the questions are asked on, plus generated
//     tables), about 1,000, 2,000, 10,000 and 30,000 (mergedCatalog:
//     every Spider and BIRD database, plus generated tables).
func BenchmarkQuestionSelect(b *testing.B) {
	dir := sharedData(b)
	gold := loadGold(b, dir)
	spider := spiderQuestions(b, dir, gold)
	bird := birdQuestions(b, dir, gold)

	for _, ds := range []struct {
		name, tables string
		questions    []goldQuestion
	}{
		{"spider-per-db", filepath.Join(dir, "spider", "tables.json"), spider},
		{"bird-per-db", filepath.Join(dir, "bird", "mini_dev_tables.json"), bird},
	} {
		asked := map[string]bool{}
		for _, q := range ds.questions {
			asked[q.DB] = true
		}
		type target struct {
			p  *Prepared
			ix *ValueIndex
		}
		targets := map[string]target{}
		for _, db := range loadBenchDBs(b, ds.tables) {
			if asked[db.DBID] {
				snap := snapshotOf(db, "public", "")
				targets[db.DBID] = target{Prepare(snap), NewValueIndex(questionValues(snap), ValueIndexOptions{})}
			}
		}
		var runs []questionRun
		var tables, values int
		for _, q := range ds.questions {
			t, ok := targets[q.DB]
			if !ok {
				b.Fatalf("%s: no schema for %s", q.ID, q.DB)
			}
			runs = append(runs, questionRun{t.p, t.ix, q.Question})
			tables += len(t.p.Snapshot().Tables)
			values += t.ix.Len()
		}
		b.Run(ds.name, func(b *testing.B) {
			benchQuestions(b, runs)
			b.ReportMetric(float64(tables)/float64(len(runs)), "tables")
			b.ReportMetric(float64(values)/float64(len(runs)), "values")
		})
	}

	questions := append(slices.Clone(spider), bird...)
	base := len(mergedCatalog(b, dir, 0).Tables) // every Spider and BIRD table
	for _, snap := range []*Snapshot{
		askedCatalog(b, dir, questions, 250),
		mergedCatalog(b, dir, max(1000-base, 0)),
		mergedCatalog(b, dir, max(2000-base, 0)),
		mergedCatalog(b, dir, max(10000-base, 0)),
		mergedCatalog(b, dir, max(30000-base, 0)),
	} {
		p := Prepare(snap)
		ix := NewValueIndex(questionValues(snap), ValueIndexOptions{})
		runs := make([]questionRun, len(questions))
		for i, q := range questions {
			runs[i] = questionRun{p, ix, q.Question}
		}
		b.Run(fmt.Sprintf("catalog/tables=%d", len(snap.Tables)), func(b *testing.B) {
			benchQuestions(b, runs)
			b.ReportMetric(float64(len(snap.Tables)), "tables")
			b.ReportMetric(float64(ix.Len()), "values")
		})
	}
}

// questionSink keeps the benchmarked results alive.
var questionSink int

// questionRun is one question and what it is asked on.
type questionRun struct {
	p        *Prepared
	ix       *ValueIndex
	question string
}

// benchQuestions runs one question per iteration, cycling over runs, and
// reports the per-question times (median and 95th percentile, µs).
func benchQuestions(b *testing.B, runs []questionRun) {
	var total, sel, match []time.Duration
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := runs[i%len(runs)]
		t0 := time.Now()
		s := r.p.Select(r.question, DefaultTokenBudget)
		t1 := time.Now()
		hints := r.ix.Hints(r.ix.Match(r.question, 10))
		t2 := time.Now()
		total = append(total, t2.Sub(t0))
		sel = append(sel, t1.Sub(t0))
		match = append(match, t2.Sub(t1))
		questionSink += len(s.Tables) + len(hints)
	}
	reportPercentiles(b, total, "")
	reportPercentiles(b, sel, "select-")
	reportPercentiles(b, match, "match-")
}

// reportPercentiles reports the median and 95th percentile of times in
// microseconds, the units prefixed with prefix.
func reportPercentiles(b *testing.B, times []time.Duration, prefix string) {
	if len(times) == 0 {
		return
	}
	s := slices.Clone(times)
	slices.Sort(s)
	us := func(p int) float64 { return float64(s[(len(s)-1)*p/100]) / float64(time.Microsecond) }
	b.ReportMetric(us(50), prefix+"p50-us/q")
	b.ReportMetric(us(95), prefix+"p95-us/q")
}

// askedCatalog is mergedCatalog restricted to the databases questions are
// asked on (Spider's in schema spider, BIRD's in schema bird, table names
// prefixed "<db>__"), plus generated tables up to n tables in all.
func askedCatalog(tb testing.TB, dir string, questions []goldQuestion, n int) *Snapshot {
	tb.Helper()
	asked := map[string]bool{}
	for _, q := range questions {
		asked[q.DB] = true
	}
	s := &Snapshot{Database: "asked"}
	for _, src := range []struct{ file, schema string }{
		{filepath.Join(dir, "spider", "tables.json"), "spider"},
		{filepath.Join(dir, "bird", "mini_dev_tables.json"), "bird"},
	} {
		for _, db := range loadBenchDBs(tb, src.file) {
			if asked[db.DBID] {
				s.Tables = append(s.Tables, snapshotOf(db, src.schema, db.DBID+"__").Tables...)
			}
		}
	}
	s.Tables = append(s.Tables, generatedTables(max(n-len(s.Tables), 0))...)
	s.normalize()
	return s
}

// questionValues makes deterministic synthetic values for a value index:
// for each table's first 3 text-like columns, 50 values — a third the
// column's name words with a number ("first name 12"), a third pseudo-words
// of 2 to 4 syllables, some two-word ("Kalomi Borvel"), and a third
// everyday words (countries, colours, statuses, first names) with a
// number now and then. The seed is fixed per table name, so a table has
// the same values in every catalog.
func questionValues(s *Snapshot) []ColumnValues {
	syll := []string{"ka", "lo", "mi", "ra", "ten", "bor", "us", "vel", "an", "dre", "si", "mon", "pa", "ri", "sto", "lin", "gu", "ez", "ha", "no"}
	common := strings.Fields(`France Germany Japan Brazil Canada Italy Spain China India Mexico
		red blue green black white yellow active closed pending shipped cancelled approved
		John Mary James Linda Robert Susan Michael Karen David Anna Paris London Boston Tokyo
		Dog Cat Bird Rock Pop Jazz Economy Business Summer Winter Male Female`)
	var out []ColumnValues
	for i := range s.Tables {
		t := &s.Tables[i]
		var seed uint64
		for _, c := range t.QualifiedName() {
			seed = seed*31 + uint64(c)
		}
		rng := rand.New(rand.NewPCG(seed, 99))
		word := func() string {
			var w strings.Builder
			for range 2 + rng.IntN(3) {
				w.WriteString(syll[rng.IntN(len(syll))])
			}
			v := w.String()
			return strings.ToUpper(v[:1]) + v[1:]
		}
		cols := 0
		for _, c := range t.Columns {
			if cols == 3 {
				break
			}
			if !TextLike(c.Type) {
				continue
			}
			cols++
			name := strings.ReplaceAll(strings.ReplaceAll(c.Name, "_", " "), "-", " ")
			vals := make([]string, 0, 50)
			for k := range 50 {
				var v string
				switch k % 3 {
				case 0:
					v = fmt.Sprintf("%s %d", name, k)
				case 1:
					v = word()
					if rng.IntN(3) == 0 {
						v += " " + word()
					}
				default:
					v = common[rng.IntN(len(common))]
					if rng.IntN(4) == 0 {
						v += fmt.Sprintf(" %d", rng.IntN(100))
					}
				}
				vals = append(vals, v)
			}
			out = append(out, ColumnValues{Table: t.QualifiedName(), Column: c.Name, Values: vals})
		}
	}
	return out
}
