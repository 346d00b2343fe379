package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedCorpus is the sqlguard corpus, relative to this package directory.
const sharedCorpus = "../../../shared/corpus"

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

func TestRunCheck(t *testing.T) {
	shopLike := writePolicy(t, `{"database": "shop", "search_path": ["public"],
		"allowed_relations": ["public.orders", "public.users"], "blocked_relations": ["public.api_keys"],
		"blocked_columns": {"public.users": ["ssn"]}}`)
	badPolicy := writePolicy(t, `{"allowed_relations": ["orders"], "unknown": 1}`)
	for _, tc := range []struct {
		name     string
		args     []string
		stdin    string
		code     int
		verdicts []checkVerdict // Message is not compared
		stderr   string         // substring expected on stderr
	}{
		{name: "one allowed query", stdin: "SELECT id FROM orders;\n", code: 0,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT id FROM orders;\n"}}},
		{name: "one rejected query", stdin: "SELECT pg_sleep(1)", code: 1,
			verdicts: []checkVerdict{{Code: "function_not_allowed", SQL: "SELECT pg_sleep(1)"}}},
		{name: "multi-line query", stdin: "SELECT id\nFROM orders\nWHERE id < 3", code: 0,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT id\nFROM orders\nWHERE id < 3"}}},
		{name: "empty stdin", stdin: "", code: 1,
			verdicts: []checkVerdict{{Code: "empty", SQL: ""}}},
		{name: "default policy rejects other schemas", stdin: "SELECT * FROM sales.orders", code: 1,
			verdicts: []checkVerdict{{Code: "relation_not_allowed", SQL: "SELECT * FROM sales.orders"}}},
		{name: "policy file", args: []string{"--policy", shopLike}, stdin: "SELECT ssn FROM users", code: 1,
			verdicts: []checkVerdict{{Code: "blocked_column", SQL: "SELECT ssn FROM users"}}},
		{name: "jsonl blank lines skipped", args: []string{"--jsonl"},
			stdin:    `{"sql": "SELECT 1", "category": "x"}` + "\n\n" + `{"sql": "SELECT <1>", "id": 7}` + "\n   \n",
			code:     1,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT 1"}, {Code: "syntax_error", SQL: "SELECT <1>"}}},
		{name: "jsonl mixed", args: []string{"-jsonl", "-policy=" + shopLike},
			stdin:    `{"sql": "SELECT id FROM orders"}` + "\n" + `{"sql": "TABLE api_keys"}` + "\n",
			code:     1,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT id FROM orders"}, {Code: "blocked_table", SQL: "TABLE api_keys"}}},
		{name: "jsonl only allowed", args: []string{"--jsonl"},
			stdin:    `{"sql": "SELECT 1"}` + "\n" + `{"sql": "SELECT 2"}`,
			code:     0,
			verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT 1"}, {Allowed: true, SQL: "SELECT 2"}}},
		{name: "jsonl empty input", args: []string{"--jsonl"}, stdin: "", code: 0},
		{name: "jsonl malformed line", args: []string{"--jsonl"},
			stdin: `{"sql": "SELECT 1"}` + "\n" + `not json` + "\n",
			code:  2, verdicts: []checkVerdict{{Allowed: true, SQL: "SELECT 1"}}, stderr: "line 2"},
		{name: "jsonl line without sql", args: []string{"--jsonl"}, stdin: `{"query": "SELECT 1"}`, code: 2, stderr: `no "sql" field`},
		{name: "jsonl sql not a string", args: []string{"--jsonl"}, stdin: `{"sql": 5}`, code: 2, stderr: "line 1"},
		{name: "unknown flag", args: []string{"--nope"}, stdin: "SELECT 1", code: 2, stderr: "Usage"},
		{name: "stray argument", args: []string{"SELECT 1"}, stdin: "", code: 2, stderr: "unexpected argument"},
		{name: "missing policy file", args: []string{"--policy", filepath.Join(t.TempDir(), "nope.json")}, stdin: "SELECT 1", code: 2, stderr: "cannot read the policy"},
		{name: "invalid policy", args: []string{"--policy", badPolicy}, stdin: "SELECT 1", code: 2, stderr: "unknown"},
		{name: "help", args: []string{"-h"}, code: 0, stderr: "Usage: pgmcp check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runCheck(tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
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
		})
	}
}

// TestRunCheckCorpus runs both sqlguard corpora through `pgmcp check
// --jsonl --policy shop_policy.json`.
func TestRunCheckCorpus(t *testing.T) {
	policy := filepath.Join(sharedCorpus, "shop_policy.json")
	if _, err := os.Stat(policy); errors.Is(err, os.ErrNotExist) {
		t.Skip("shared corpus not found")
	}
	for _, tc := range []struct {
		file    string
		code    int
		allowed bool
	}{
		{"guard_accept.jsonl", 0, true},
		{"guard_reject.jsonl", 1, false},
	} {
		in, err := os.ReadFile(filepath.Join(sharedCorpus, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := runCheck([]string{"--jsonl", "--policy", policy}, bytes.NewReader(in), &stdout, &stderr)
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
