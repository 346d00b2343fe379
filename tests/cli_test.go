package tests

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// TestAsk runs pgmcp ask on the demo database with the scripted model:
// every format, --sql, --explain, refusals and usage errors, with their
// exit codes. Run with -v to see the transcript.
func TestAsk(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	const modelSQL = "SELECT c.country_code, count(*) AS orders FROM orders o JOIN customers c ON c.id = o.customer_id " +
		"GROUP BY c.country_code ORDER BY orders DESC, c.country_code LIMIT 5"
	fake := fakellm.New(t, fakellm.Sequence(fakellm.SQL(modelSQL)))
	env := baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=fake-model", "PGMCP_MAX_ROWS=100")
	ask := func(args ...string) (int, string, string) {
		t.Helper()
		code, stdout, stderr, _ := runPgmcp(t, 60*time.Second, env, append([]string{"ask"}, args...)...)
		t.Logf("$ pgmcp ask %s\n%s%s[exit %d]", quoteArgs(args), stdout, stderr, code)
		return code, stdout, stderr
	}

	// A question, as an aligned table.
	code, out, errOut := ask("Which 5 countries have the most orders?")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if !strings.HasPrefix(out, "SELECT c.country_code, count(*) AS orders\nFROM orders o") {
		t.Errorf("the SQL does not come first, pretty-printed:\n%s", out)
	}
	header := regexp.MustCompile(`(?m)^country_code \| +orders$`)
	rule := regexp.MustCompile(`(?m)^-+\+-+$`)
	row := regexp.MustCompile(`(?m)^[A-Z]{2} +\| +\d+$`)
	if !header.MatchString(out) || !rule.MatchString(out) || len(row.FindAllString(out, -1)) != 5 {
		t.Errorf("not an aligned table of 5 rows:\n%s", out)
	}
	if last := lines[len(lines)-1]; !regexp.MustCompile(`^\(5 rows, [\d.]+ ms, 1 model call\)$`).MatchString(last) {
		t.Errorf("footer %q", last)
	}
	if strings.Contains(errOut, "level=INFO") {
		t.Errorf("info logs on a terminal command's stderr:\n%s", errOut)
	}

	// JSON: the whole result.
	code, out, _ = ask("--format", "json", "Which 5 countries have the most orders?")
	var res struct {
		SQL      string
		Rows     [][]any
		RowCount int `json:"row_count"`
		Attempts int
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.RowCount != 5 || len(res.Rows) != 5 || res.Attempts != 1 || res.SQL == "" {
		t.Errorf("json: exit %d, %v, %+v", code, err, res)
	}

	// CSV: only the rows on stdout, NULL as an empty field; the SQL on stderr.
	code, out, errOut = ask("--sql", "--format", "csv", "SELECT 1 AS n, 'a,b' AS s, NULL::text AS z, '\"q\"' AS q")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || fmt.Sprint(recs) != `[[n s z q] [1 a,b  "q"]]` || !strings.Contains(errOut, "1 AS n,") {
		t.Errorf("csv: exit %d, %v, %q, stderr %q", code, err, recs, errOut)
	}

	// Markdown.
	code, out, _ = ask("--sql", "--format", "markdown", "SELECT status, count(*) AS n FROM orders GROUP BY status ORDER BY status")
	if code != 0 || !strings.Contains(out, "```sql\n") || !strings.Contains(out, "| status | n |\n|---|---:|\n| pending |") {
		t.Errorf("markdown: exit %d\n%s", code, out)
	}

	// Truncation is said.
	code, out, _ = ask("--sql", "--max-rows", "3", "SELECT id FROM customers ORDER BY id")
	if code != 0 || !strings.Contains(out, "(3 rows, truncated by the row cap (more rows exist)") {
		t.Errorf("truncation: exit %d\n%s", code, out)
	}

	// Refused SQL: exit 1 with the reason code; nothing on stdout.
	code, out, errOut = ask("--sql", "DELETE FROM orders")
	if code != 1 || out != "" || !strings.Contains(errOut, "not_select") {
		t.Errorf("refused: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = ask("--sql", "SELECT phone FROM customers")
	if code != 1 || !strings.Contains(errOut, "blocked_column") {
		t.Errorf("blocked column: exit %d, %q", code, errOut)
	}

	// --explain reviews without running.
	code, out, _ = ask("--explain", "--sql", "SELECT * FROM orders o CROSS JOIN order_items i")
	if code != 1 || !strings.Contains(out, "REFUSED") {
		t.Errorf("explain of a refused query: exit %d\n%s", code, out)
	}
	code, out, _ = ask("--explain", "Which 5 countries have the most orders?")
	if code != 0 || !strings.Contains(out, "allowed") || !strings.Contains(strings.ToLower(out), "cost") {
		t.Errorf("explain of a question: exit %d\n%s", code, out)
	}

	// Usage errors: exit 2.
	for _, args := range [][]string{{}, {"--format", "xml", "how many?"}, {"--database", "nope", "--sql", "SELECT 1"}} {
		if code, _, _ := ask(args...); code != 2 {
			t.Errorf("ask %q: exit %d, want 2", args, code)
		}
	}
	// No model: a question is a configuration problem (2), SQL still works.
	noModel := baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t))
	if code, _, errOut, _ := runPgmcp(t, 60*time.Second, noModel, "ask", "how many orders?"); code != 2 || !strings.Contains(errOut, "llm_not_configured") {
		t.Errorf("no model: exit %d, %q", code, errOut)
	}
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " *'\"?,") || a == "" {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			q[i] = a
		}
	}
	return strings.Join(q, " ")
}

// TestSchemaCommand checks pgmcp schema prints what the model sees, and
// the relevance selection for a question, never a blocked table.
func TestSchemaCommand(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	env := baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t))
	code, out, errOut, _ := runPgmcp(t, 60*time.Second, env, "schema")
	if code != 0 || !strings.Contains(out, "TABLE public.orders") || strings.Contains(out, "payment_cards") ||
		!strings.Contains(errOut, "tables, ~") {
		t.Errorf("schema: exit %d\n%s\n%s", code, out, errOut)
	}
	full := out
	small := append(env, "PGMCP_SCHEMA_TOKEN_BUDGET=600")
	code, out, errOut, _ = runPgmcp(t, 60*time.Second, small, "schema", "--question", "invoices paid late by plan")
	t.Logf("$ pgmcp schema --question 'invoices paid late by plan'\n%s%s", out, errOut)
	if code != 0 || !strings.Contains(out, "billing.invoices") || len(out) >= len(full) || !strings.Contains(errOut, "billing.invoices:") {
		t.Errorf("schema --question: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestDoctor runs pgmcp doctor on a good setup, then on bad ones: a
// superuser, a role that can write, a model that is not there.
func TestDoctor(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	// The role hardened as docs/ROLES.md says: doctor's function checks
	// pass (TestHardenedDoctor shows them failing on an unhardened role).
	db.Exec(t, pgexec.HardeningSQL(pgtest.Reader))
	fake := fakellm.New(t, fakellm.Sequence(fakellm.Text("OK")))
	policy := "PGMCP_POLICY_FILE=" + demoPolicyFile(t)
	model := []string{"PGMCP_LLM_BASE_URL=" + fake.URL(), "PGMCP_LLM_MODEL=fake-model"}
	doctor := func(name string, env ...string) (int, string) {
		t.Helper()
		code, out, errOut, _ := runPgmcp(t, 90*time.Second, baseEnv(env...), "doctor")
		t.Logf("$ pgmcp doctor   # %s\n%s%s[exit %d]", name, out, errOut, code)
		return code, out
	}

	code, out := doctor("the demo's read-only role", append(model, "PGMCP_DATABASE_URL="+db.ReaderURL, policy)...)
	if code != 0 || strings.Contains(out, "[FAIL]") || strings.Count(out, "[ok]") < 8 || !strings.Contains(out, "All checks passed.") ||
		!strings.Contains(out, "serves model fake-model") || !regexp.MustCompile(`PostgreSQL 1\d`).MatchString(out) {
		t.Errorf("good setup: exit %d\n%s", code, out)
	}

	// A blocked partition: its parent is readable only with ONLY.
	code, out = doctor("a blocked partition", append(model, "PGMCP_DATABASE_URL="+db.ReaderURL, policy, "PGMCP_BLOCKED_TABLES=analytics.events_2025")...)
	if code != 0 || !strings.Contains(out, "[warn] partitions and inheritance: reading this parent without ONLY is refused (blocked_descendant): "+
		"analytics.events (partition or child blocked: analytics.events_2025)") || !strings.Contains(out, "FROM ONLY") || !strings.Contains(out, "1 warning") {
		t.Errorf("blocked partition: exit %d\n%s", code, out)
	}

	// A superuser, and no model.
	code, out = doctor("a superuser", "PGMCP_DATABASE_URL="+db.URL, policy)
	if code != 1 || !strings.Contains(out, "[FAIL] role postgres is a superuser") || !strings.Contains(out, "CREATE ROLE pgmcp_reader LOGIN") ||
		!strings.Contains(out, "[skip] no model configured") {
		t.Errorf("superuser: exit %d\n%s", code, out)
	}

	// A role that can write and create, and is in pg_read_server_files.
	writer, writerURL := db.PrivateReader(t)
	db.Exec(t, fmt.Sprintf(`GRANT INSERT, UPDATE ON public.orders TO %[1]s; GRANT CREATE ON SCHEMA public TO %[1]s;
		GRANT pg_read_server_files TO %[1]s;`, writer))
	code, out = doctor("a role that can write", append(model, "PGMCP_DATABASE_URL="+writerURL, policy)...)
	if code != 1 || !strings.Contains(out, "can write or create: CREATE on schema public; public.orders: INSERT, UPDATE") ||
		!strings.Contains(out, "member of pg_read_server_files") || !strings.Contains(out, "REVOKE pg_read_server_files FROM") ||
		!strings.Contains(out, "GRANT SELECT ON ALL TABLES IN SCHEMA") {
		t.Errorf("writer: exit %d\n%s", code, out)
	}

	// A role missing a grant the policy assumes: a warning with the GRANT;
	// an examples file reading a blocked column: a failure.
	narrow, narrowURL := db.PrivateReader(t)
	db.Exec(t, "REVOKE SELECT ON public.products FROM "+narrow)
	examples := filepath.Join(t.TempDir(), "examples.jsonl")
	if err := os.WriteFile(examples, []byte(`{"question": "phones", "sql": "SELECT phone FROM customers"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = doctor("a missing grant, a bad example", "PGMCP_DATABASE_URL="+narrowURL, policy, "PGMCP_EXAMPLES_FILE="+examples)
	// (PrivateReader may read schema public only.)
	if code != 1 || !strings.Contains(out, "[warn] role "+narrow+" cannot read 8 relations the policy allows") ||
		!regexp.MustCompile(`fix: GRANT SELECT ON analytics\.events, .*public\.products TO "`+narrow).MatchString(out) ||
		!strings.Contains(out, "[FAIL] examples file") {
		t.Errorf("missing grant: exit %d\n%s", code, out)
	}

	// A model the endpoint does not serve and cannot answer with.
	fake.SetScript(fakellm.Sequence(fakellm.Status(404)))
	code, out = doctor("a wrong model name", "PGMCP_DATABASE_URL="+db.ReaderURL, policy, "PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=gpt-9")
	if code != 1 || !strings.Contains(out, "[FAIL] model gpt-9") || !strings.Contains(out, "fake-model") {
		t.Errorf("wrong model: exit %d\n%s", code, out)
	}

	// A database that is not there, and a bad variable.
	code, out = doctor("bad configuration", "PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_MAX_ROWS=0")
	if code != 1 || !strings.Contains(out, "[FAIL] PGMCP_MAX_ROWS") {
		t.Errorf("bad configuration: exit %d\n%s", code, out)
	}
	code, out = doctor("database down", "PGMCP_DATABASE_URL=postgres://nobody:secret-pw@127.0.0.1:1/none", "PGMCP_CONNECT_TIMEOUT=2s")
	if code != 1 || !strings.Contains(out, "[FAIL] cannot connect") || strings.Contains(out, "secret-pw") {
		t.Errorf("database down: exit %d\n%s", code, out)
	}
}
