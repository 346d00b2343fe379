package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/tests/nodetest"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// hardeningSQL is the SQL docs/ROLES.md gives to harden the login role
// role. The test first checks the document shows exactly this SQL (for
// pgmcp_reader): what these tests apply is what the document says.
func hardeningSQL(t *testing.T, role string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(pgtest.RepoRoot(), "docs", "ROLES.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```sql\n"+pgexec.HardeningSQL("pgmcp_reader")+"```") {
		t.Fatal("docs/ROLES.md does not show pgexec.HardeningSQL's SQL (go test ./tools/pgexec -run TestHardeningSQLInDocs)")
	}
	return pgexec.HardeningSQL(pgx.Identifier{role}.Sanitize())
}

// hardenedDatabase is a demo database with a notes table under row-level
// security (each caller role reads its own rows), a NOINHERIT login role of
// its own as docs/ROLES.md makes it, and two caller roles it may switch to,
// both in a group role that holds their grants.
func hardenedDatabase(t *testing.T) (db *pgtest.DB, login, loginURL, alice, bob string) {
	t.Helper()
	db = pgtest.NewDB(t, pgtest.Demo)
	login, loginURL = db.PrivateReader(t)
	alice, bob = login+"_alice", login+"_bob"
	group := login + "_analysts"
	db.Exec(t, fmt.Sprintf(`ALTER ROLE %[4]s NOINHERIT;
		CREATE TABLE public.notes (owner name NOT NULL, body text NOT NULL);
		INSERT INTO public.notes VALUES ('%[1]s', 'alice 1'), ('%[1]s', 'alice 2'), ('%[2]s', 'bob 1');
		ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
		CREATE POLICY own_notes ON public.notes USING (owner = current_user);
		CREATE ROLE %[3]s NOLOGIN; CREATE ROLE %[1]s NOLOGIN IN ROLE %[3]s; CREATE ROLE %[2]s NOLOGIN IN ROLE %[3]s;
		GRANT %[1]s, %[2]s TO %[4]s;
		GRANT USAGE ON SCHEMA public TO %[3]s;
		GRANT SELECT ON ALL TABLES IN SCHEMA public TO %[3]s;
		GRANT SELECT ON public.notes TO %[4]s;`, alice, bob, group, login))
	t.Cleanup(func() {
		db.Exec(t, fmt.Sprintf(`DROP TABLE public.notes; DROP OWNED BY %[1]s, %[2]s, %[3]s; DROP ROLE %[1]s; DROP ROLE %[2]s; DROP ROLE %[3]s;`,
			alice, bob, group))
	})
	return db, login, loginURL, alice, bob
}

// functionAttacks are calls SQL past the guard would make, at least one
// per revoked group; target is a role the login role may switch to.
func functionAttacks(target string) []string {
	return []string{
		"SELECT set_config('role', '" + target + "', true)",
		"UPDATE pg_settings SET setting = '" + target + "' WHERE name = 'role'",
		"SELECT query_to_xml('SELECT * FROM public.notes', true, false, '')",
		"SELECT * FROM ts_stat('SELECT to_tsvector(body) FROM public.notes')",
		"SELECT table_to_xml('public.notes', true, false, '')",
		"SELECT schema_to_xml('public', true, false, '')",
		"SELECT pg_terminate_backend(pg_backend_pid(), 0)",
		"SELECT pg_cancel_backend(pg_backend_pid())",
		"SELECT pg_notify('pgmcp', 'data')",
		"SELECT count(pg_advisory_lock(i)) FROM generate_series(1, 1000) AS i",
		"SELECT pg_try_advisory_xact_lock(1)",
		"SELECT setseed(0.5)",
		"SELECT lo_creat(-1)",
		"SELECT pg_sleep(0.01)",
	}
}

// checkDenied runs each attack with pgx, no guard in the way, as the login
// role switched to role ("" for none) inside a transaction as pgmcp does,
// and wants PostgreSQL's permission denied for the function. The
// transaction is READ WRITE: the role must hold without the read-only
// layer.
func checkDenied(t *testing.T, url, role string, attacks []string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	for _, sql := range attacks {
		tx, err := conn.BeginTx(t.Context(), pgx.TxOptions{AccessMode: pgx.ReadWrite})
		if err != nil {
			t.Fatal(err)
		}
		if role != "" {
			if _, err := tx.Exec(t.Context(), "SET LOCAL ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
				t.Fatal(err)
			}
		}
		_, err = tx.Exec(t.Context(), sql)
		_ = tx.Rollback(t.Context())
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" || !strings.Contains(pe.Message, "permission denied for function") {
			t.Errorf("as %s: %s: %v, want permission denied for the function", roleLabel(role), sql, err)
		}
	}
}

// roleLabel names role in a message ("" is the login role itself).
func roleLabel(role string) string {
	if role == "" {
		return "the login role"
	}
	return role
}

// callExplain calls explain and checks the query was planned.
func callExplain(t *testing.T, c *client.Client, sql string) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = "explain"
	req.Params.Arguments = map[string]any{"sql": sql}
	res, err := c.CallTool(t.Context(), req)
	if err != nil || res.IsError {
		t.Fatalf("explain %q: %v %+v", sql, err, res)
	}
	b, _ := json.Marshal(res.StructuredContent)
	var out struct {
		Verdict struct{ Allowed bool }
		Plan    *struct {
			TotalCost float64 `json:"total_cost"`
			Tree      []string
		}
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Verdict.Allowed || out.Plan == nil || out.Plan.TotalCost <= 0 || len(out.Plan.Tree) == 0 {
		t.Errorf("explain %q: %s", sql, b)
	}
}

// rowsOf returns the first column of a query result, joined by commas.
func rowsOf(out map[string]any) string {
	var got []string
	for _, r := range out["rows"].([]any) {
		got = append(got, fmt.Sprint(r.([]any)[0]))
	}
	return strings.Join(got, ",")
}

// TestHardenedServe hardens a login role with the SQL of docs/ROLES.md and
// runs pgmcp serve against it: query, explain and get_schema work over
// stdio (the login role's own privileges) and over HTTP with per-caller
// roles (row-level security shows each caller their rows), while the
// functions an attack would use fail with permission denied at the
// database level, for the login role and for the callers' roles.
func TestHardenedServe(t *testing.T) {
	t.Parallel()
	db, login, loginURL, alice, bob := hardenedDatabase(t)
	attacks := functionAttacks(bob)

	// Unhardened, the role switch past RLS works: the hole being closed.
	conn, err := pgx.Connect(t.Context(), loginURL)
	if err != nil {
		t.Fatal(err)
	}
	var notes string
	err = conn.QueryRow(t.Context(), "SELECT set_config('role', $1, true), (SELECT string_agg(body, ',' ORDER BY body) FROM public.notes)", bob).Scan(new(string), &notes)
	conn.Close(t.Context())
	if err != nil || notes != "bob 1" {
		t.Fatalf("before hardening: set_config('role') gave %q, %v; want bob's rows", notes, err)
	}

	db.Exec(t, hardeningSQL(t, login))
	checkDenied(t, loginURL, "", attacks)
	checkDenied(t, loginURL, alice, attacks)

	env := []string{"PGMCP_DATABASE_URL=" + loginURL, "PGMCP_ALLOWED_SCHEMAS=public", "PGMCP_STATEMENT_TIMEOUT=5s"}

	// stdio: no caller role; the login role reads the demo's tables, and no
	// row of notes (RLS applies to it, and no policy row is its own).
	t.Run("stdio", func(t *testing.T) {
		var stderr nodetest.SyncBuffer
		tr := transport.NewStdioWithOptions(binary, baseEnv(env...), []string{"serve"}, transport.WithCommandStderrWriter(&stderr))
		if err := tr.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		c := client.NewClient(tr)
		defer c.Close()
		initialize(t, c)
		out := callQuery(t, c, map[string]any{"sql": "SELECT count(*) AS n FROM products"})
		if out["row_count"] != float64(1) {
			t.Errorf("count of products: %v", out)
		}
		if got := rowsOf(callQuery(t, c, map[string]any{"sql": "SELECT body FROM notes ORDER BY body"})); got != "" {
			t.Errorf("the login role sees notes %q, want none", got)
		}
		callExplain(t, c, "SELECT p.name, count(*) FROM products p JOIN order_items i ON i.product_id = p.id GROUP BY p.name")
		s := callGetSchemaArgs(t, c, map[string]any{"tables": []string{"public.notes", "public.products"}})
		if len(s.Tables) != 2 {
			t.Errorf("get_schema shows %d tables, want notes and products: %+v", len(s.Tables), s.Tables)
		}
		// The guard refuses the attacks before PostgreSQL would.
		if code, _ := callCode(t, c, "query", map[string]any{"sql": attacks[0]}); code != "function_not_allowed" {
			t.Errorf("set_config through pgmcp: %q, want function_not_allowed", code)
		}
		if strings.Contains(stderr.String(), "permission denied") {
			t.Errorf("pgmcp logged a permission error:\n%s", stderr.String())
		}
	})

	// HTTP with a token per caller, each with its role.
	t.Run("http", func(t *testing.T) {
		tokensFile := filepath.Join(t.TempDir(), "tokens.json")
		newToken := func(name, role string) string {
			t.Helper()
			code, stdout, stderr, _ := runPgmcp(t, 30*time.Second, baseEnv(), "token", "new", name, "--role", role, "--add", tokensFile)
			if code != 0 {
				t.Fatalf("pgmcp token new %s: exit %d\n%s", name, code, stderr)
			}
			return strings.TrimSpace(stdout)
		}
		aliceToken, bobToken := newToken("alice", alice), newToken("bob", bob)
		srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(append(env, "PGMCP_AUTH_TOKENS_FILE="+tokensFile)...))
		for range 2 { // interleaved on the pool's connections
			for _, caller := range []struct{ name, token, want string }{{"alice", aliceToken, "alice 1,alice 2"}, {"bob", bobToken, "bob 1"}} {
				c, err := bearerClient(t, srv.base+"/mcp", caller.token)
				if err != nil {
					t.Fatalf("%s: %v", caller.name, err)
				}
				if got := rowsOf(callQuery(t, c, map[string]any{"sql": "SELECT body FROM notes ORDER BY body"})); got != caller.want {
					t.Errorf("%s sees %q, want %q", caller.name, got, caller.want)
				}
				callExplain(t, c, "SELECT owner, count(*) FROM notes GROUP BY owner")
				if s := callGetSchemaArgs(t, c, map[string]any{"tables": []string{"public.notes"}}); len(s.Tables) != 1 {
					t.Errorf("%s: get_schema of notes: %+v", caller.name, s.Tables)
				}
				c.Close()
			}
		}
		srv.stop(t)
		if strings.Contains(srv.stderr.String(), "permission denied") {
			t.Errorf("pgmcp logged a permission error:\n%s", srv.stderr.String())
		}
	})
}

// TestHardenedDoctor runs pgmcp doctor against a login role with
// PostgreSQL's default function privileges (a warning and its REVOKE
// statements per group, and temp_file_limit unset), then against the same
// role hardened with the SQL of docs/ROLES.md (all of them gone). The
// configuration names a caller role through a tokens file, which doctor
// checks too.
func TestHardenedDoctor(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Empty)
	db.Exec(t, "CREATE TABLE public.notes (id int PRIMARY KEY, body text)")
	login, loginURL := db.PrivateReader(t)
	alice := login + "_alice"
	db.Exec(t, fmt.Sprintf(`ALTER ROLE %[1]s NOINHERIT; CREATE ROLE %[2]s NOLOGIN; GRANT %[2]s TO %[1]s;
		GRANT USAGE ON SCHEMA public TO %[2]s; GRANT SELECT ON public.notes TO %[2]s;`, login, alice))
	t.Cleanup(func() { db.Exec(t, fmt.Sprintf("DROP OWNED BY %[1]s; DROP ROLE %[1]s;", alice)) })
	tokensFile := filepath.Join(t.TempDir(), "tokens.json")
	if code, _, stderr, _ := runPgmcp(t, 30*time.Second, baseEnv(), "token", "new", "alice", "--role", alice, "--add", tokensFile); code != 0 {
		t.Fatalf("pgmcp token new: exit %d\n%s", code, stderr)
	}
	env := baseEnv("PGMCP_DATABASE_URL="+loginURL, "PGMCP_ALLOWED_SCHEMAS=public", "PGMCP_AUTH_TOKENS_FILE="+tokensFile)
	doctor := func(name string) (int, string) {
		t.Helper()
		code, out, errOut, _ := runPgmcp(t, 90*time.Second, env, "doctor")
		t.Logf("$ pgmcp doctor   # %s\n%s%s[exit %d]", name, out, errOut, code)
		return code, out
	}
	var public []pgexec.FunctionGroup
	for _, g := range pgexec.FunctionGroups {
		if g.Public && g.Extension == "" {
			public = append(public, g)
		}
	}

	code, out := doctor("unhardened")
	if code != 0 || strings.Contains(out, "[FAIL]") || !strings.Contains(out, fmt.Sprintf("No problem; %d warnings.", len(public)+1)) {
		t.Errorf("unhardened: exit %d, want 0 with %d warnings", code, len(public)+1)
	}
	for _, g := range public {
		if !strings.Contains(out, "  [warn] "+g.Title+" ("+g.Risk+" risk): "+login+", "+alice+" may execute ") {
			t.Errorf("unhardened: no warning for %s", g.Title)
		}
		for _, f := range g.Functions {
			if !strings.Contains(out, pgexec.RevokeSQL("pg_catalog."+f, "PUBLIC")) {
				t.Errorf("unhardened: no REVOKE for %s", f)
			}
		}
	}
	if !strings.Contains(out, "[warn] temp_file_limit is unset (-1) for role "+login) ||
		!strings.Contains(out, `ALTER ROLE "`+login+`" SET temp_file_limit = '1GB';`) ||
		!strings.Contains(out, "FROM PUBLIC takes EXECUTE from every role of this database") {
		t.Error("unhardened: the temp_file_limit warning or the FROM PUBLIC caveat is missing")
	}

	db.Exec(t, hardeningSQL(t, login))
	code, out = doctor("hardened")
	if code != 0 || strings.Contains(out, "[warn]") || strings.Contains(out, "[FAIL]") || strings.Contains(out, "REVOKE") ||
		!strings.Contains(out, "All checks passed.") {
		t.Errorf("hardened: exit %d, want every check passed", code)
	}
	for _, g := range public {
		if !strings.Contains(out, "  [ok]   "+login+" and the role of the tokens file ("+alice+") may not execute "+g.Title+"\n") {
			t.Errorf("hardened: no ok line for %s", g.Title)
		}
	}
	if !strings.Contains(out, "[ok]   temp_file_limit is 1GB for role "+login) {
		t.Error("hardened: temp_file_limit is not reported as set")
	}
}
