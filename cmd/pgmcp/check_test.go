package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

func writePolicy(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeVerdicts(t *testing.T, out string) []checkVerdict {
	t.Helper()
	var vs []checkVerdict
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"allowed", "code", "message", "sql"} {
			if _, ok := raw[k]; !ok {
				t.Fatalf("output line %q lacks %q", sc.Text(), k)
			}
		}
		var v checkVerdict
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

// checkDDL is the schema TestRunCheck resolves names against (through
// --schema): the tables its policies name, one in another schema, and a
// partitioned table.
const checkDDL = `
CREATE TABLE orders (id int PRIMARY KEY, user_id int, total numeric(10,2));
CREATE TABLE users (id int PRIMARY KEY, name text, ssn text);
CREATE TABLE api_keys (id int, secret text);
CREATE SCHEMA sales;
CREATE TABLE sales.orders (id int);
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
`

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkCase is one run of `pgmcp check`.
type checkCase struct {
	name     string
	args     []string
	env      []string
	stdin    string
	code     int
	verdicts []checkVerdict // Message is not compared
	stderr   string         // substring expected on stderr
}

func (tc checkCase) run(t *testing.T) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runCheck(t.Context(), tc.args, tc.env, strings.NewReader(tc.stdin), &stdout, &stderr)
	if code != tc.code {
		t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
	}
	got := decodeVerdicts(t, stdout.String())
	if len(got) != len(tc.verdicts) {
		t.Fatalf("%d verdicts, want %d:\n%s", len(got), len(tc.verdicts), stdout.String())
	}
	for i, want := range tc.verdicts {
		g := got[i]
		if g.Allowed != want.Allowed || g.Code != want.Code || g.SQL != want.SQL {
			t.Errorf("verdict %d = %+v, want %+v", i, g, want)
		}
		if g.Allowed != (g.Message == "") {
			t.Errorf("verdict %d: message %q for allowed=%v", i, g.Message, g.Allowed)
		}
	}
	if tc.stderr != "" && !strings.Contains(stderr.String(), tc.stderr) {
		t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderr)
	}
}

// TestRunCheck runs check against a catalog read from DDL (--schema).
func TestRunCheck(t *testing.T) {
	ddl := writeFile(t, "schema.sql", checkDDL)
	shopLike := writePolicy(t, `{"database": "shop", "search_path": ["public"],
		"allowed_relations": ["public.orders", "public.users", "public.events", "public.events_2024", "public.events_2025"],
		"blocked_relations": ["public.api_keys"],
		"blocked_columns": {"public.users": ["ssn"]}}`)
	partBlocked := writePolicy(t, `{"search_path": ["public"], "allowed_schemas": ["public"], "blocked_relations": ["public.events_2024"]}`)
	badPolicy := writePolicy(t, `{"allowed_relations": ["orders"], "unknown": 1}`)
	s := []string{"--schema", ddl}
	for _, tc := range []checkCase{
		{name: "one allowed query", args: s, stdin: "SELECT id FROM orders;\n", code: 0,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT id FROM orders;\n"}}},
		{name: "one rejected query", args: s, stdin: "SELECT pg_sleep(1)", code: 1,
			verdicts: []checkVerdict{{Code: "function_not_allowed", SQL: "SELECT pg_sleep(1)"}}},
		{name: "multi-line query", args: s, stdin: "SELECT id\nFROM orders\nWHERE id < 3", code: 0,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT id\nFROM orders\nWHERE id < 3"}}},
		{name: "empty stdin", args: s, stdin: "", code: 1,
			verdicts: []checkVerdict{{Code: "empty", SQL: ""}}},
		{name: "default policy rejects other schemas", args: s, stdin: "SELECT * FROM sales.orders", code: 1,
			verdicts: []checkVerdict{{Code: "relation_not_allowed", SQL: "SELECT * FROM sales.orders"}}},
		{name: "policy file", args: append([]string{"--policy", shopLike}, s...), stdin: "SELECT ssn FROM users", code: 1,
			verdicts: []checkVerdict{{Code: "blocked_column", SQL: "SELECT ssn FROM users"}}},
		{name: "attribute notation is a function call", args: append([]string{"--policy", shopLike}, s...),
			stdin: "SELECT u.to_json FROM users u", code: 1,
			verdicts: []checkVerdict{{Code: "function_notation", SQL: "SELECT u.to_json FROM users u"}}},
		{name: "an output alias named like a table", args: append([]string{"--policy", shopLike}, s...),
			stdin: "SELECT name, count(*) AS users FROM users GROUP BY name ORDER BY users", code: 0,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT name, count(*) AS users FROM users GROUP BY name ORDER BY users"}}},
		{name: "a blocked partition", args: append([]string{"--jsonl", "--policy", partBlocked}, s...),
			stdin: `{"sql": "SELECT id FROM events"}` + "\n" + `{"sql": "SELECT id FROM ONLY events"}` + "\n" + `{"sql": "SELECT id FROM events_2025"}` + "\n",
			code:  1,
			verdicts: []checkVerdict{{Code: "blocked_descendant", SQL: "SELECT id FROM events"},
				{Allowed: true, SQL: "SELECT id FROM ONLY events"}, {Allowed: true, SQL: "SELECT id FROM events_2025"}}},
		{name: "jsonl blank lines skipped", args: append([]string{"--jsonl"}, s...),
			stdin:    `{"sql": "SELECT 1", "category": "x"}` + "\n\n" + `{"sql": "SELECT <1>", "id": 7}` + "\n   \n",
			code:     1,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT 1"}, {Code: "syntax_error", SQL: "SELECT <1>"}}},
		{name: "jsonl mixed", args: []string{"-jsonl", "-policy=" + shopLike, "-schema=" + ddl},
			stdin:    `{"sql": "SELECT id FROM orders"}` + "\n" + `{"sql": "TABLE api_keys"}` + "\n",
			code:     1,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT id FROM orders"}, {Code: "blocked_table", SQL: "TABLE api_keys"}}},
		{name: "jsonl only allowed", args: append([]string{"--jsonl"}, s...),
			stdin:    `{"sql": "SELECT 1"}` + "\n" + `{"sql": "SELECT 2"}`,
			code:     0,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT 1"}, {Allowed: true, SQL: "SELECT 2"}}},
		{name: "jsonl empty input", args: append([]string{"--jsonl"}, s...), stdin: "", code: 0},
		{name: "jsonl malformed line", args: append([]string{"--jsonl"}, s...),
			stdin: `{"sql": "SELECT 1"}` + "\n" + `not json` + "\n",
			code:  2, verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT 1"}}, stderr: "line 2"},
		{name: "jsonl line without sql", args: append([]string{"--jsonl"}, s...), stdin: `{"query": "SELECT 1"}`, code: 2, stderr: `no "sql" field`},
		{name: "jsonl sql not a string", args: append([]string{"--jsonl"}, s...), stdin: `{"sql": 5}`, code: 2, stderr: "line 1"},
		{name: "unknown flag", args: []string{"--nope"}, stdin: "SELECT 1", code: 2, stderr: "Usage"},
		{name: "stray argument", args: []string{"SELECT 1"}, stdin: "", code: 2, stderr: "unexpected argument"},
		{name: "missing policy file", args: append([]string{"--policy", filepath.Join(t.TempDir(), "nope.json")}, s...), stdin: "SELECT 1", code: 2, stderr: "cannot read the policy"},
		{name: "invalid policy", args: append([]string{"--policy", badPolicy}, s...), stdin: "SELECT 1", code: 2, stderr: "unknown"},
		{name: "missing schema file", args: []string{"--schema", filepath.Join(t.TempDir(), "nope.sql")}, stdin: "SELECT 1", code: 2, stderr: "cannot read the schema"},
		{name: "malformed schema file", args: []string{"--schema", writeFile(t, "bad.sql", "CREATE TABLE (")}, stdin: "SELECT 1", code: 2, stderr: "bad.sql"},
		{name: "both catalogs", args: []string{"--schema", ddl, "--database-url", "postgres://localhost/x"}, stdin: "SELECT 1", code: 2, stderr: "not both"},
		{name: "--schema wins over the environment", args: s, env: []string{"PGMCP_DATABASE_URL=postgres://u:pw@127.0.0.1:1/none"}, stdin: "SELECT 1", code: 0,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT 1"}}},
		{name: "help", args: []string{"-h"}, code: 0, stderr: "Usage: pgmcp check"},
	} {
		t.Run(tc.name, tc.run)
	}
}

// TestRunCheckNoCatalog: without a catalog check refuses to run, with one
// line saying how to give one.
func TestRunCheckNoCatalog(t *testing.T) {
	for _, args := range [][]string{nil, {"--jsonl"}, {"--policy", writePolicy(t, `{"allowed_schemas": ["public"]}`)}} {
		var stdout, stderr bytes.Buffer
		code := runCheck(t.Context(), args, []string{"PGMCP_DATABASE_URL=", "HOME=/root"}, strings.NewReader("SELECT 1"), &stdout, &stderr)
		if code != checkUsage || stdout.Len() != 0 || stderr.String() != checkNoCatalog+"\n" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
	if !strings.Contains(checkNoCatalog, "--database-url URL") || !strings.Contains(checkNoCatalog, "PGMCP_DATABASE_URL") ||
		!strings.Contains(checkNoCatalog, "--schema FILE.sql") || strings.Contains(checkNoCatalog, "\n") {
		t.Errorf("the message does not say how to give a catalog in one line: %q", checkNoCatalog)
	}
}

// TestRunCheckCorpus runs both sqlguard corpora through `pgmcp check
// --jsonl --policy shop_policy.json`, resolved against shop_schema.sql
// (--schema) and against a database that holds it (--database-url, as the
// corpus's read-only role).
func TestRunCheckCorpus(t *testing.T) {
	policy := pgtest.SharedPath(t, "corpus/shop_policy.json")
	t.Run("schema", func(t *testing.T) {
		checkCorpus(t, "--schema", pgtest.SharedPath(t, "corpus/shop_schema.sql"), "--policy", policy)
	})
	t.Run("database", func(t *testing.T) {
		db := pgtest.NewDB(t, pgtest.Shop)
		checkCorpus(t, "--database-url", db.ReaderURL, "--policy", policy)
	})
}

func checkCorpus(t *testing.T, args ...string) {
	for _, tc := range []struct {
		file    string
		code    int
		allowed bool
	}{
		{"guard_accept.jsonl", 0, true},
		{"guard_reject.jsonl", 1, false},
	} {
		in, err := os.ReadFile(pgtest.SharedPath(t, "corpus/"+tc.file))
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := runCheck(t.Context(), append([]string{"--jsonl"}, args...), nil, bytes.NewReader(in), &stdout, &stderr)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d; stderr: %s", tc.file, code, tc.code, stderr.String())
		}
		lines := 0
		for _, l := range strings.Split(string(in), "\n") {
			if strings.TrimSpace(l) != "" {
				lines++
			}
		}
		vs := decodeVerdicts(t, stdout.String())
		if len(vs) != lines {
			t.Fatalf("%s: %d verdicts for %d lines", tc.file, len(vs), lines)
		}
		codes := map[string]int{}
		for _, v := range vs {
			if v.Allowed != tc.allowed {
				t.Errorf("%s: %+v", tc.file, v)
			}
			codes[v.Code]++
		}
		t.Logf("%s: %d queries, codes %v", tc.file, len(vs), codes)
	}
}

// TestRunCheckDatabase resolves against a database's catalog: given by
// --database-url or PGMCP_DATABASE_URL, the database name taken from it
// when the policy has none, the policy's blocks applied through the
// catalog's partitions.
func TestRunCheckDatabase(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	demo := writePolicy(t, string(demodb.PolicyJSON))
	partBlocked := writePolicy(t, `{"search_path": ["public"], "allowed_schemas": ["public", "analytics"], "blocked_relations": ["analytics.events_2025"]}`)
	u := []string{"--database-url", db.ReaderURL}
	for _, tc := range []checkCase{
		{name: "default policy", args: u, stdin: "SELECT id, email FROM customers", code: 0,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT id, email FROM customers"}}},
		{name: "from the environment", env: []string{"PGMCP_DATABASE_URL=" + db.ReaderURL}, stdin: "SELECT id FROM customers", code: 0,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT id FROM customers"}}},
		{name: "the flag wins over the environment", args: u, env: []string{"PGMCP_DATABASE_URL=postgres://u:pw@127.0.0.1:1/none"},
			stdin: "SELECT id FROM customers", code: 0, verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT id FROM customers"}}},
		{name: "the database name", args: append([]string{"--policy", demo}, u...), stdin: "SELECT id FROM " + db.Name + ".public.customers", code: 0,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT id FROM " + db.Name + ".public.customers"}}},
		{name: "another database name", args: append([]string{"--policy", demo}, u...), stdin: "SELECT id FROM other.public.customers", code: 1,
			verdicts: []checkVerdict{{Code: "relation_not_allowed", SQL: "SELECT id FROM other.public.customers"}}},
		{name: "a blocked column", args: append([]string{"--policy", demo}, u...), stdin: "SELECT phone FROM customers", code: 1,
			verdicts: []checkVerdict{{Code: "blocked_column", SQL: "SELECT phone FROM customers"}}},
		{name: "attribute notation", args: append([]string{"--policy", demo}, u...), stdin: "SELECT c.to_json FROM customers c", code: 1,
			verdicts: []checkVerdict{{Code: "function_notation", SQL: "SELECT c.to_json FROM customers c"}}},
		{name: "an allowed schema off the search path", args: append([]string{"--policy", demo}, u...), stdin: "SELECT id FROM billing.plans", code: 0,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT id FROM billing.plans"}}},
		{name: "a blocked partition", args: append([]string{"--jsonl", "--policy", partBlocked}, u...),
			stdin: `{"sql": "SELECT count(*) FROM analytics.events"}` + "\n" + `{"sql": "SELECT count(*) FROM ONLY analytics.events"}` + "\n" +
				`{"sql": "SELECT count(*) FROM analytics.events_2026"}` + "\n",
			code: 1,
			verdicts: []checkVerdict{{Code: "blocked_descendant", SQL: "SELECT count(*) FROM analytics.events"},
				{Allowed: true, SQL: "SELECT count(*) FROM ONLY analytics.events"}, {Allowed: true, SQL: "SELECT count(*) FROM analytics.events_2026"}}},
		{name: "unreachable", args: []string{"--database-url", "postgres://nobody:secret-pw@127.0.0.1:1/none"}, stdin: "SELECT 1", code: 2,
			stderr: "pgmcp check: cannot connect"},
	} {
		t.Run(tc.name, tc.run)
	}
	var stderr bytes.Buffer
	runCheck(t.Context(), []string{"--database-url", "postgres://nobody:secret-pw@127.0.0.1:1/none"}, nil, strings.NewReader("SELECT 1"), io.Discard, &stderr)
	if strings.Contains(stderr.String(), "secret-pw") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("unreachable database: %q", stderr.String())
	}
}
