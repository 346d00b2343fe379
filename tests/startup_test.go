package tests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/pgmcp/pgmcp/tests/nodetest"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// runPgmcp runs the binary to completion (stdin closed) and returns its exit
// code, stdout, stderr and how long it took.
func runPgmcp(t *testing.T, timeout time.Duration, env []string, args ...string) (int, string, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("pgmcp %v did not finish within %s\nstderr: %s", args, timeout, stderr.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String(), took
}

// TestStartupFailures checks each start-up failure gives one clear line on
// stderr, nothing on stdout, a non-zero exit, and never a password.
func TestStartupFailures(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	hang := silentListener(t)
	const secret = "s3cr3t-pw-XYZ"
	cases := []struct {
		name     string
		env      []string
		wantCode int
		want     []string // substrings of the error line
		maxTime  time.Duration
	}{
		{"no database", nil, 2, []string{"PGMCP_DATABASE_URL", "not set"}, 0},
		{"nothing listening", []string{"PGMCP_DATABASE_URL=postgres://u:" + secret + "@127.0.0.1:1/db?sslmode=disable"},
			1, []string{"cannot connect", "xxxxx", "refused"}, 10 * time.Second},
		{"database hangs", []string{"PGMCP_DATABASE_URL=postgres://u:" + secret + "@" + hang + "/db?sslmode=disable"},
			1, []string{"cannot connect", "connect timeout"}, 10 * time.Second},
		{"wrong password", []string{"PGMCP_DATABASE_URL=" + strings.Replace(db.ReaderURL, pgtest.ReaderPassword, secret, 1)},
			1, []string{"cannot connect"}, 10 * time.Second},
		{"unknown database", []string{"PGMCP_DATABASE_URL=" + db.Server.URL("no_such_db_here")},
			1, []string{"cannot connect", "no_such_db_here", "does not exist"}, 10 * time.Second},
		{"malformed URL", []string{"PGMCP_DATABASE_URL=postgres://u:" + secret + "@host:port:x/db"},
			2, []string{"PGMCP_DATABASE_URL", "not a valid connection string"}, 0},
		{"bad URL option", []string{"PGMCP_DATABASE_URL=postgres://u:" + secret + "@localhost/db?sslmode=sometimes"},
			2, []string{"PGMCP_DATABASE_URL", "sslmode"}, 0},
		{"not a URL", []string{"PGMCP_DATABASE_URL=just-some-text"}, 2, []string{"PGMCP_DATABASE_URL", "postgres:// URL"}, 0},
		{"superuser", []string{"PGMCP_DATABASE_URL=" + db.URL}, 1, []string{"refusing to run as a superuser", "PGMCP_ALLOW_PRIVILEGED_ROLE"}, 10 * time.Second},
		{"max rows too high", []string{"PGMCP_DATABASE_URL=" + db.ReaderURL, "PGMCP_MAX_ROWS=20000"}, 2, []string{"PGMCP_MAX_ROWS", "ceiling of 10000"}, 0},
		{"max rows not a number", []string{"PGMCP_DATABASE_URL=" + db.ReaderURL, "PGMCP_MAX_ROWS=lots"}, 2, []string{"PGMCP_MAX_ROWS", "whole number"}, 0},
		{"timeout not a duration", []string{"PGMCP_DATABASE_URL=" + db.ReaderURL, "PGMCP_STATEMENT_TIMEOUT=soon"}, 2, []string{"PGMCP_STATEMENT_TIMEOUT", "duration"}, 0},
		{"bad log level", []string{"PGMCP_DATABASE_URL=" + db.ReaderURL, "PGMCP_LOG_LEVEL=loud"}, 2, []string{"PGMCP_LOG_LEVEL", "debug, info, warn or error"}, 0},
		{"bad databases JSON", []string{"PGMCP_DATABASES=[{\"name\":"}, 2, []string{"PGMCP_DATABASES", "JSON"}, 0},
		{"both database settings", []string{"PGMCP_DATABASE_URL=" + db.ReaderURL, "PGMCP_DATABASES=[]"}, 2, []string{"PGMCP_DATABASES", "not both"}, 0},
		{"bad blocked column", []string{"PGMCP_DATABASE_URL=" + db.ReaderURL, "PGMCP_BLOCKED_COLUMNS=users.ssn"}, 2, []string{"PGMCP_BLOCKED_COLUMNS", "schema.table.column"}, 0},
		{"missing policy file", []string{"PGMCP_DATABASE_URL=" + db.ReaderURL, "PGMCP_POLICY_FILE=/no/such/policy.json"}, 2, []string{"PGMCP_POLICY_FILE", "cannot read"}, 0},
		{"bad LLM URL", []string{"PGMCP_DATABASE_URL=" + db.ReaderURL, "PGMCP_LLM_BASE_URL=ftp://models"}, 2, []string{"PGMCP_LLM_BASE_URL", "http(s) URL"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr, took := runPgmcp(t, 30*time.Second, baseEnv(tc.env...), "serve")
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout (the protocol's) got %q", stdout)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "pgmcp: error: ") {
				t.Errorf("stderr should be one 'pgmcp: error:' line, got:\n%s", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, secret) || strings.Contains(stderr, pgtest.ReaderPassword) {
				t.Errorf("a password appears in the error:\n%s", stderr)
			}
			if tc.maxTime > 0 && took > tc.maxTime {
				t.Errorf("start-up failed after %s, want within %s", took, tc.maxTime)
			}
		})
	}
}

// TestPrivilegedRoleAllowed checks the override: a superuser is accepted,
// with a warning at start.
func TestPrivilegedRoleAllowed(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	var stderr nodetest.SyncBuffer
	tr := transport.NewStdioWithOptions(binary, baseEnv("PGMCP_DATABASE_URL="+db.URL, "PGMCP_ALLOW_PRIVILEGED_ROLE=true"),
		[]string{"serve"}, transport.WithCommandStderrWriter(&stderr))
	if err := tr.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	defer c.Close()
	initialize(t, c)
	checkTools(t, c)
	if !strings.Contains(stderr.String(), "level=WARN") || !strings.Contains(stderr.String(), "privileged role") {
		t.Errorf("no warning about the privileged role:\n%s", stderr.String())
	}
}

// TestWritableRoleWarns checks a role that can write is served, with one
// warning naming the grants and showing the SQL of a read-only role.
func TestWritableRoleWarns(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	role := "writer_" + strings.ReplaceAll(db.Name[len(db.Name)-8:], "-", "")
	db.Exec(t, `CREATE ROLE `+role+` LOGIN PASSWORD 'w';
		GRANT USAGE, CREATE ON SCHEMA public TO `+role+`;
		GRANT SELECT ON ALL TABLES IN SCHEMA public TO `+role+`;
		GRANT INSERT, UPDATE ON public.products TO `+role)
	t.Cleanup(func() {
		db.Exec(t, `DROP OWNED BY `+role+`; DROP ROLE `+role)
	})
	url := strings.Replace(db.ReaderURL, pgtest.Reader+":"+pgtest.ReaderPassword, role+":w", 1)
	var stderr nodetest.SyncBuffer
	tr := transport.NewStdioWithOptions(binary, baseEnv("PGMCP_DATABASE_URL="+url),
		[]string{"serve"}, transport.WithCommandStderrWriter(&stderr))
	if err := tr.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	defer c.Close()
	initialize(t, c)
	checkTools(t, c)
	out := stderr.String()
	if n := strings.Count(out, "the database role can write"); n != 1 {
		t.Errorf("want exactly one write warning, got %d:\n%s", n, out)
	}
	for _, want := range []string{"CREATE on schema public", "public.products: INSERT, UPDATE", "CREATE ROLE pgmcp_reader"} {
		if !strings.Contains(out, want) {
			t.Errorf("the warning lacks %q:\n%s", want, out)
		}
	}
}

// TestShadowedFunctionRefused checks the start-up check of the function
// allowlist against pg_proc: a same-named function in a schema of the
// search path (the CVE-2018-1058 class) stops the server, named.
func TestShadowedFunctionRefused(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	db.Exec(t, `CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql AS 'SELECT ''pwned''::text'`)
	code, stdout, stderr, _ := runPgmcp(t, 30*time.Second, baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL), "serve")
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	for _, want := range []string{"public.lower(character varying)", "CVE-2018-1058"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestShadowedOperatorRefused is the same for an operator: a user-defined
// = on (text, varchar) in the search path would be chosen over the builtin
// for such operands, and runs its function.
func TestShadowedOperatorRefused(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	db.Exec(t, `CREATE FUNCTION public.sneaky_eq(text, varchar) RETURNS boolean LANGUAGE sql AS 'SELECT true';
		CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = varchar, FUNCTION = public.sneaky_eq);`)
	code, stdout, stderr, _ := runPgmcp(t, 30*time.Second, baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL), "serve")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "public.=(text, character varying)") || !strings.Contains(stderr, "function_shadowed") && !strings.Contains(stderr, "CVE-2018-1058") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	code, out, _, _ := runPgmcp(t, 30*time.Second, baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL), "doctor")
	if code != 1 || !strings.Contains(out, "[FAIL] 1 function or operator outside pg_catalog") || !strings.Contains(out, "public.=(text, character varying)") {
		t.Errorf("doctor: exit %d\n%s", code, out)
	}
}

// TestBadExamplesFileRefused checks few-shot examples go through the guard
// at start: one that reads a blocked column stops the server.
func TestBadExamplesFileRefused(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	dir := t.TempDir()
	ex := filepath.Join(dir, "examples.jsonl")
	if err := os.WriteFile(ex, []byte(`{"question": "phones", "sql": "SELECT phone FROM customers"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr, _ := runPgmcp(t, 30*time.Second, baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL,
		"PGMCP_POLICY_FILE="+demoPolicyFile(t), "PGMCP_EXAMPLES_FILE="+ex), "serve")
	if code != 2 || !strings.Contains(stderr, "example 1") || !strings.Contains(stderr, "blocked") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}
