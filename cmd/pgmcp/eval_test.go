package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// TestRunEval runs `pgmcp eval` on the demo database with a scripted model
// that answers three questions right and one wrong: EX is exactly 3/4, a
// case whose gold SQL cannot run is left out, --out has one object per
// question, the table groups by difficulty, and --min-ex turns a low score
// into exit status 1.
func TestRunEval(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	answers := map[string]string{
		"How many customers are there?":          "SELECT count(*) FROM customers",
		"What are the three first customer ids?": "SELECT id FROM customers ORDER BY id LIMIT 3",
		"How many orders are there?":             "SELECT count(*) FROM orders",
		"How many products are there?":           "SELECT count(*) FROM customers", // wrong
		"What is in the missing table?":          "SELECT 1",
	}
	fake := fakellm.New(t, func(_ int, req fakellm.Request) fakellm.Reply {
		for q, sql := range answers {
			if strings.Contains(req.Last(), q) {
				return fakellm.SQL(sql)
			}
		}
		return fakellm.SQL("SELECT 0")
	})
	lines := []map[string]any{
		{"id": "c", "question": "How many customers are there?", "gold_sql": "SELECT count(*) AS n FROM customers", "difficulty": "easy"},
		{"id": "i", "question": "What are the three first customer ids?", "gold_sql": "SELECT id FROM customers ORDER BY id LIMIT 3", "difficulty": "medium"},
		{"id": "o", "question": "How many orders are there?", "gold_rows": [][]any{{countOf(t, db, "orders")}}, "difficulty": "easy"},
		{"id": "p", "question": "How many products are there?", "gold_sql": "SELECT count(*) FROM products", "difficulty": "medium"},
		{"id": "x", "question": "What is in the missing table?", "gold_sql": "SELECT * FROM no_such_table", "difficulty": "hard"},
	}
	var in bytes.Buffer
	for _, l := range lines {
		b, _ := json.Marshal(l)
		in.Write(append(b, '\n'))
	}
	dir := t.TempDir()
	file, out := filepath.Join(dir, "q.jsonl"), filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(file, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	policy := writePolicy(t, string(demodb.PolicyJSON))
	env := []string{"PGMCP_DATABASE_URL=" + db.ReaderURL, "PGMCP_POLICY_FILE=" + policy,
		"PGMCP_LLM_BASE_URL=" + fake.URL(), "PGMCP_LLM_MODEL=fake", "PGMCP_LLM_MAX_ATTEMPTS=1"}
	var stdout, stderr bytes.Buffer
	if code := runEval(t.Context(), []string{"--out", out, file}, env, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d; stderr: %s", code, stderr.String())
	}
	t.Logf("\n%s", stdout.String())
	table := stdout.String()
	var all []string
	for _, l := range strings.Split(table, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "all" {
			all = f
		}
	}
	// difficulty cases scored EX soft-F1 …
	if len(all) < 5 || all[1] != "5" || all[2] != "4" || all[3] != "0.7500" {
		t.Errorf("the all row %v, want 5 cases, 4 scored, EX 0.7500:\n%s", all, table)
	}
	for _, want := range []string{"easy", "medium", "hard", "1 case(s) left out"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("--out line %q: %v", l, err)
		}
		for _, k := range []string{"id", "database", "question", "sql", "correct", "soft_f1", "attempts"} {
			if _, ok := m[k]; !ok {
				t.Errorf("--out line lacks %s: %s", k, l)
			}
		}
		got[m["id"].(string)] = m
	}
	for id, correct := range map[string]bool{"c": true, "i": true, "o": true, "p": false} {
		if got[id]["correct"] != correct {
			t.Errorf("case %s: correct %v, want %v (%v)", id, got[id]["correct"], correct, got[id])
		}
	}
	if got["x"]["gold_error"] == nil || got["x"]["correct"] != false {
		t.Errorf("the case with a failing gold: %v", got["x"])
	}

	stdout.Reset()
	stderr.Reset()
	if code := runEval(t.Context(), []string{"--min-ex", "0.8", file}, env, &stdout, &stderr); code != exitFailure || !strings.Contains(stderr.String(), "below --min-ex") {
		t.Errorf("--min-ex 0.8 with EX 0.75: exit %d, stderr %q", code, stderr.String())
	}
	if code := runEval(t.Context(), []string{"--min-ex", "2", file}, env, &stdout, &stderr); code != exitUsage {
		t.Errorf("--min-ex 2: exit %d, want %d", code, exitUsage)
	}
}

// countOf counts a demo table's rows.
func countOf(t *testing.T, db *pgtest.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.Pool(t).QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRunEvalSpider runs `pgmcp eval --spider DIR` on a made-up Spider
// release: questions go to the configured database their db_id names
// (letter case aside), the others are skipped and said so, the gold SQL's
// "double-quoted" strings are read as strings, and the table groups by
// Spider's difficulty.
func TestRunEvalSpider(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	fake := fakellm.New(t, func(_ int, req fakellm.Request) fakellm.Reply {
		switch {
		case strings.Contains(req.Last(), "How many customers"):
			return fakellm.SQL("SELECT count(*) FROM customers")
		case strings.Contains(req.Last(), "German customers"):
			return fakellm.SQL("SELECT count(*) FROM customers WHERE country_code = 'FR'") // wrong
		}
		return fakellm.SQL("SELECT 0")
	})
	easy := `{"select": [false, [[3, [0, [0, 0, false], null]]]], "from": {"table_units": [["table_unit", 0]], "conds": []},
		"where": [], "groupBy": [], "having": [], "orderBy": [], "limit": null, "intersect": null, "union": null, "except": null}`
	hard := `{"select": [false, [[3, [0, [0, 0, false], null]]]], "from": {"table_units": [["table_unit", 0]], "conds": []},
		"where": [[false, 2, [0, [0, 1, false], null], "\"DE\"", null]], "groupBy": [], "having": [],
		"orderBy": ["desc", [[0, [0, 1, false], null]]], "limit": 1, "intersect": null, "union": null, "except": null}`
	dev := `[
{"db_id": "SHOP", "question": "How many customers are there?", "query": "SELECT count(*) FROM customers", "sql": ` + easy + `},
{"db_id": "shop", "question": "How many German customers are there?", "query": "SELECT count(*) FROM customers WHERE country_code = \"DE\"", "sql": ` + hard + `},
{"db_id": "elsewhere", "question": "How many singers?", "query": "SELECT count(*) FROM singer", "sql": ` + easy + `}
]`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dev.json"), []byte(dev), 0o644); err != nil {
		t.Fatal(err)
	}
	dbs, _ := json.Marshal([]map[string]string{{"name": "shop", "url": db.ReaderURL, "policy_file": writePolicy(t, string(demodb.PolicyJSON))}})
	env := []string{"PGMCP_DATABASES=" + string(dbs), "PGMCP_LLM_BASE_URL=" + fake.URL(), "PGMCP_LLM_MODEL=fake", "PGMCP_LLM_MAX_ATTEMPTS=1"}
	var stdout, stderr bytes.Buffer
	if code := runEval(t.Context(), []string{"--spider", dir}, env, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d; stderr: %s", code, stderr.String())
	}
	t.Logf("\n%s", stdout.String())
	if !strings.Contains(stderr.String(), "elsewhere (1)") {
		t.Errorf("the skipped database is not reported: %s", stderr.String())
	}
	rows := map[string][]string{}
	for _, l := range strings.Split(stdout.String(), "\n") {
		if f := strings.Fields(l); len(f) > 3 {
			rows[f[0]] = f
		}
	}
	for name, want := range map[string][]string{"easy": {"1", "1", "1.0000"}, "hard": {"1", "1", "0.0000"}, "all": {"2", "2", "0.5000"}} {
		if got := rows[name]; len(got) < 4 || !slices.Equal(got[1:4], want) {
			t.Errorf("row %s: %v, want cases, scored, EX %v:\n%s", name, got, want, stdout.String())
		}
	}
	if code := runEval(t.Context(), []string{"--spider", dir, "extra.jsonl"}, env, &stdout, &stderr); code != exitUsage {
		t.Errorf("--spider with a file: exit %d, want %d", code, exitUsage)
	}
}
