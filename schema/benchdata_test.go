package schema

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// This file turns the text-to-SQL benchmarks under ../shared/data into
// Snapshots (no database needed): Spider's and BIRD's tables.json give
// table and column names, types, primary and foreign keys.

// sharedData returns ../shared/data; when it is absent the test is
// skipped, or fails if PGMCP_REQUIRE_CORPUS=1 (pgtest.SharedPath).
func sharedData(tb testing.TB) string {
	tb.Helper()
	return pgtest.SharedPath(tb, "data")
}

// benchmarkDB is one database of tables.json.
type benchmarkDB struct {
	DBID                string            `json:"db_id"`
	TableNamesOriginal  []string          `json:"table_names_original"`
	ColumnNamesOriginal [][2]any          `json:"column_names_original"`
	ColumnTypes         []string          `json:"column_types"`
	PrimaryKeys         []json.RawMessage `json:"primary_keys"`
	ForeignKeys         [][2]int          `json:"foreign_keys"`
}

func loadBenchDBs(tb testing.TB, path string) []benchmarkDB {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var dbs []benchmarkDB
	if err := json.Unmarshal(b, &dbs); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return dbs
}

var benchTypes = map[string]string{"text": "text", "number": "numeric", "time": "timestamp", "boolean": "boolean", "others": "text"}

// snapshotOf builds a Snapshot of one benchmark database: every table in
// schema, its name prefixed with prefix.
func snapshotOf(db benchmarkDB, schema, prefix string) *Snapshot {
	s := &Snapshot{Database: db.DBID}
	type colRef struct{ table, col int }
	refs := make([]colRef, len(db.ColumnNamesOriginal))
	for i, tn := range db.TableNamesOriginal {
		s.Tables = append(s.Tables, Table{Schema: schema, Name: prefix + tn, Kind: KindTable, Rows: -1})
		_ = i
	}
	for i, c := range db.ColumnNamesOriginal {
		ti := int(c[0].(float64))
		if ti < 0 {
			refs[i] = colRef{-1, -1}
			continue
		}
		t := &s.Tables[ti]
		refs[i] = colRef{ti, len(t.Columns)}
		t.Columns = append(t.Columns, Column{Name: c[1].(string), Type: benchTypes[db.ColumnTypes[i]], Nullable: true})
	}
	var pks []int
	for _, raw := range db.PrimaryKeys {
		var one int
		if json.Unmarshal(raw, &one) == nil {
			pks = append(pks, one)
			continue
		}
		var many []int
		if json.Unmarshal(raw, &many) == nil {
			pks = append(pks, many...)
		}
	}
	for _, p := range pks {
		r := refs[p]
		t := &s.Tables[r.table]
		t.PrimaryKey = append(t.PrimaryKey, t.Columns[r.col].Name)
		t.Columns[r.col].Nullable = false
	}
	// Foreign keys: pairs grouped per (table, target table) into
	// multi-column keys.
	type fkKey struct{ from, to int }
	group := map[fkKey]*ForeignKey{}
	var keys []fkKey
	for _, fk := range db.ForeignKeys {
		a, b := refs[fk[0]], refs[fk[1]]
		if a.table < 0 || b.table < 0 {
			continue
		}
		k := fkKey{a.table, b.table}
		g := group[k]
		if g != nil && slices.Contains(g.RefColumns, s.Tables[b.table].Columns[b.col].Name) {
			// Another key to the same table (two separate foreign keys).
			s.Tables[k.from].ForeignKeys = append(s.Tables[k.from].ForeignKeys, *g)
			g = nil
		}
		if g == nil {
			to := &s.Tables[b.table]
			g = &ForeignKey{RefSchema: schema, RefTable: to.Name}
			if group[k] == nil {
				keys = append(keys, k)
			}
			group[k] = g
		}
		g.Columns = append(g.Columns, s.Tables[a.table].Columns[a.col].Name)
		g.RefColumns = append(g.RefColumns, s.Tables[b.table].Columns[b.col].Name)
	}
	for _, k := range keys {
		s.Tables[k.from].ForeignKeys = append(s.Tables[k.from].ForeignKeys, *group[k])
	}
	s.normalize()
	return s
}

// goldQuestion is a benchmark question with the tables its gold SQL reads.
type goldQuestion struct {
	ID       string
	DB       string
	Question string // the question (BIRD: with its evidence appended)
	Bare     string // the question alone
	Tables   []string
}

type goldLine struct {
	DB     string   `json:"db"`
	ID     string   `json:"id"`
	Tables []string `json:"tables"`
	Error  string   `json:"error"`
}

func loadGold(tb testing.TB, dir string) map[string]goldLine {
	tb.Helper()
	f, err := os.Open(filepath.Join(dir, "results", "gold_tables_per_question.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	out := map[string]goldLine{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var g goldLine
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			tb.Fatal(err)
		}
		if g.Error == "" && len(g.Tables) > 0 {
			out[g.ID] = g
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// spiderQuestions returns Spider dev's questions that have gold tables.
func spiderQuestions(tb testing.TB, dir string, gold map[string]goldLine) []goldQuestion {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "spider", "dev.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var dev []struct {
		DBID     string `json:"db_id"`
		Question string `json:"question"`
	}
	if err := json.Unmarshal(b, &dev); err != nil {
		tb.Fatal(err)
	}
	var out []goldQuestion
	for i, q := range dev {
		g, ok := gold[fmt.Sprintf("spider:%d", i)]
		if !ok {
			continue
		}
		if g.DB != q.DBID {
			tb.Fatalf("spider:%d: gold db %s, question db %s", i, g.DB, q.DBID)
		}
		out = append(out, goldQuestion{ID: g.ID, DB: q.DBID, Question: q.Question, Bare: q.Question, Tables: g.Tables})
	}
	return out
}

// birdQuestions returns BIRD mini-dev's questions that have gold tables.
func birdQuestions(tb testing.TB, dir string, gold map[string]goldLine) []goldQuestion {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "bird", "mini_dev_sqlite.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var dev []struct {
		QuestionID int    `json:"question_id"`
		DBID       string `json:"db_id"`
		Question   string `json:"question"`
		Evidence   string `json:"evidence"`
	}
	if err := json.Unmarshal(b, &dev); err != nil {
		tb.Fatal(err)
	}
	var out []goldQuestion
	for _, q := range dev {
		g, ok := gold[fmt.Sprintf("minidev:%d", q.QuestionID)]
		if !ok {
			continue
		}
		out = append(out, goldQuestion{ID: g.ID, DB: q.DBID, Question: q.Question + " " + q.Evidence, Bare: q.Question, Tables: g.Tables})
	}
	return out
}

// mergedCatalog builds one large catalog: every Spider and BIRD database's
// tables (names prefixed "<db>__", in schemas spider and bird) plus
// generated tables (schema gen) to pass 1,000 tables.
func mergedCatalog(tb testing.TB, dir string, generated int) *Snapshot {
	tb.Helper()
	s := &Snapshot{Database: "merged"}
	for _, src := range []struct{ file, schema string }{
		{filepath.Join(dir, "spider", "tables.json"), "spider"},
		{filepath.Join(dir, "bird", "mini_dev_tables.json"), "bird"},
	} {
		for _, db := range loadBenchDBs(tb, src.file) {
			one := snapshotOf(db, src.schema, db.DBID+"__")
			s.Tables = append(s.Tables, one.Tables...)
		}
	}
	s.Tables = append(s.Tables, generatedTables(generated)...)
	s.normalize()
	return s
}

// generatedTables makes n plausible business tables (deterministic): names
// and columns drawn from a vocabulary, each with a primary key, a few
// foreign keys to earlier ones and comments.
func generatedTables(n int) []Table {
	rng := rand.New(rand.NewPCG(42, 4242))
	nouns := strings.Fields(`account address agent asset audit batch branch budget campaign carrier case
		category certificate channel claim client contract coupon course currency customer delivery
		department device discount document driver employee equipment event expense facility feedback
		fleet grant incident inspection invoice item job ledger lesson license location machine
		maintenance member message milestone note offer order package partner patient payment payroll
		permit plan policy portfolio position price product project promotion property provider purchase
		quote receipt region registration rental report request reservation resource review route sale
		schedule segment sensor service session shift shipment site skill sponsor store subscription
		supplier survey task team tenant ticket timesheet training transaction trip unit vehicle vendor
		visit warehouse warranty workflow`)
	qualifiers := strings.Fields(`daily archived pending internal external legacy monthly annual regional
		global draft approved staging history snapshot summary detail queue log`)
	attrs := strings.Fields(`status amount total quantity code title description created_at updated_at
		start_date end_date priority score rating level label notes email phone city country
		currency_code balance weight volume duration category_code external_ref version flag`)
	var out []Table
	seen := map[string]bool{}
	for len(out) < n {
		name := qualifiers[rng.IntN(len(qualifiers))] + "_" + nouns[rng.IntN(len(nouns))] + "_" + nouns[rng.IntN(len(nouns))]
		if seen[name] {
			continue
		}
		seen[name] = true
		t := Table{Schema: "gen", Name: name, Kind: KindTable, Rows: int64(rng.IntN(1_000_000)),
			Comment: "Generated table: " + strings.ReplaceAll(name, "_", " ") + " records."}
		t.Columns = append(t.Columns, Column{Name: "id", Type: "bigint"})
		t.PrimaryKey = []string{"id"}
		for k := 0; k < 2 && len(out) > 0; k++ {
			ref := out[rng.IntN(len(out))]
			col := ref.Name + "_id"
			if t.Column(col) != nil {
				continue
			}
			t.Columns = append(t.Columns, Column{Name: col, Type: "bigint", Nullable: true})
			t.ForeignKeys = append(t.ForeignKeys, ForeignKey{Columns: []string{col}, RefSchema: "gen", RefTable: ref.Name, RefColumns: []string{"id"}})
		}
		for len(t.Columns) < 12 {
			a := attrs[rng.IntN(len(attrs))]
			if t.Column(a) != nil {
				continue
			}
			t.Columns = append(t.Columns, Column{Name: a, Type: "text", Nullable: true, Comment: "The " + strings.ReplaceAll(a, "_", " ") + "."})
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
