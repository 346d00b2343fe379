package pgexec

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

var updateDocs = flag.Bool("update", false, "rewrite the hardening SQL blocks of docs/ROLES.md")

// docBlocks are the generated SQL blocks of docs/ROLES.md, by marker.
func docBlocks() map[string]string {
	return map[string]string{
		"hardening-sql":        HardeningSQL("pgmcp_reader"),
		"hardening-sql-dblink": DblinkHardeningSQL("public"),
	}
}

// TestHardeningSQLInDocs checks docs/ROLES.md shows exactly the SQL
// HardeningSQL and DblinkHardeningSQL return, which is what doctor's fixes
// and tests/hardened_test.go use.
func TestHardeningSQLInDocs(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "ROLES.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for marker, sql := range docBlocks() {
		start := "<!-- " + marker + ":start"
		end := "<!-- " + marker + ":end -->"
		i := strings.Index(doc, start)
		j := strings.Index(doc, end)
		if i < 0 || j < i {
			t.Fatalf("docs/ROLES.md lacks the %s markers", marker)
		}
		i += strings.Index(doc[i:], "-->") + len("-->\n")
		want := "```sql\n" + sql + "```\n"
		if doc[i:j] == want {
			continue
		}
		if *updateDocs {
			doc = doc[:i] + want + doc[j:]
			continue
		}
		t.Errorf("docs/ROLES.md's %s block is stale; run: go test ./tools/pgexec -run TestHardeningSQLInDocs -update\nwant:\n%s", marker, want)
	}
	if *updateDocs {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFunctionGroupsMatchServer checks the groups against the server's
// pg_proc: every signature of a pg_catalog group exists (adminpack's
// excepted), a role with no grants may execute exactly the Public groups,
// and the dblink group matches the installed extension.
func TestFunctionGroupsMatchServer(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Empty)
	role, url := db.PrivateReader(t)
	admin := db.Pool(t)
	ctx := t.Context()
	var dblinkAvailable bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'dblink')").Scan(&dblinkAvailable); err != nil {
		t.Fatal(err)
	}
	if dblinkAvailable {
		db.Exec(t, "CREATE EXTENSION dblink")
	} else {
		t.Log("dblink is not available on this server: its group is checked for absence only")
	}
	pool, err := NewPool(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, g := range FunctionGroups {
		schema := "pg_catalog"
		if g.Extension != "" {
			schema = "public"
		}
		for _, f := range g.Functions {
			sig := schema + "." + f
			var exists, executable bool
			err := pool.QueryRow(ctx, `SELECT to_regprocedure($1) IS NOT NULL,
				coalesce(has_function_privilege($2, to_regprocedure($1), 'EXECUTE'), false)`, sig, role).Scan(&exists, &executable)
			if err != nil {
				t.Fatalf("%s: %v", sig, err)
			}
			switch {
			case g.Extension != "" && !dblinkAvailable:
				if exists {
					t.Errorf("%s exists without the extension", sig)
				}
				continue
			case strings.HasPrefix(f, "pg_file_"): // adminpack, not installed
				if exists {
					t.Errorf("%s exists without adminpack", sig)
				}
				continue
			case !exists:
				t.Errorf("%s does not exist on this server", sig)
				continue
			}
			if executable != g.Public {
				t.Errorf("%s: a role without grants may execute it: %v, want %v (group %s)", sig, executable, g.Public, g.Key)
			}
		}
	}
}

// hardenedFixture is a demo database with a private login role (NOINHERIT,
// as docs/ROLES.md makes it), a caller role it may switch to that belongs
// to a group role, and a pool as the login role.
type hardenedFixture struct {
	db                  *pgtest.DB
	login, url          string
	caller, group, peer string
	pool                *pgxpool.Pool
}

func newHardenedFixture(t *testing.T) *hardenedFixture {
	t.Helper()
	db := pgtest.NewDB(t, pgtest.Demo)
	login, url := db.PrivateReader(t)
	f := &hardenedFixture{db: db, login: login, url: url, caller: login + "_caller", group: login + "_group", peer: login + "_peer"}
	db.Exec(t, fmt.Sprintf(`ALTER ROLE %[1]s NOINHERIT;
		CREATE ROLE %[2]s NOLOGIN; CREATE ROLE %[3]s NOLOGIN IN ROLE %[2]s; CREATE ROLE %[4]s NOLOGIN;
		GRANT %[3]s, %[4]s TO %[1]s;
		GRANT USAGE ON SCHEMA public TO %[2]s, %[4]s; GRANT SELECT ON ALL TABLES IN SCHEMA public TO %[2]s, %[4]s;`,
		login, f.group, f.caller, f.peer))
	t.Cleanup(func() {
		db.Exec(t, fmt.Sprintf(`DROP OWNED BY %[1]s, %[2]s, %[3]s; DROP ROLE %[1]s; DROP ROLE %[2]s; DROP ROLE %[3]s;`, f.caller, f.group, f.peer))
	})
	pool, err := NewPool(t.Context(), url, Options{SearchPath: []string{"public"}, StatementTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f.pool = pool
	return f
}

func (f *hardenedFixture) check(t *testing.T, roles ...string) FunctionReport {
	t.Helper()
	rep, err := CheckFunctions(t.Context(), f.pool, roles)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func group(rep FunctionReport, key string) (FunctionCheck, bool) {
	for _, c := range rep.Groups {
		if c.Group.Key == key {
			return c, true
		}
	}
	return FunctionCheck{}, false
}

// executors lists, per role, the functions of a check it may execute.
func executors(c FunctionCheck) map[string][]string {
	out := map[string][]string{}
	for _, g := range c.Grants {
		out[g.Role] = append(out[g.Role], g.Function)
	}
	return out
}

// TestCheckFunctions runs CheckFunctions on PostgreSQL's defaults, after
// HardeningSQL, with grants made to the login role and to a group a caller
// role inherits from, and after running the revokes it prints.
func TestCheckFunctions(t *testing.T) {
	f := newHardenedFixture(t)

	// PostgreSQL's defaults (the demo template already revoked the large
	// object creators; see cmd/pgmcp/demodb/reader_role.sql).
	rep := f.check(t, f.login, f.caller, "pgmcp_no_such_role")
	if !slices.Equal(rep.Roles, []string{f.login, f.caller}) || !slices.Equal(rep.Missing, []string{"pgmcp_no_such_role"}) {
		t.Errorf("roles %v, missing %v", rep.Roles, rep.Missing)
	}
	if _, ok := group(rep, "dblink"); ok {
		t.Error("the dblink group is reported without the extension")
	}
	for _, key := range []string{"set_config", "sql_text", "whole_tables", "other_sessions", "session_state", "sleep"} {
		c, ok := group(rep, key)
		if !ok {
			t.Fatalf("group %s missing from %+v", key, rep.Groups)
		}
		by := executors(c)
		if len(by[f.login]) != c.Present || len(by[f.caller]) != c.Present || c.Present != len(c.Group.Functions) || c.Explicit() {
			t.Errorf("%s: %d of %d present, executable %v, explicit %v", key, c.Present, len(c.Group.Functions), by, c.Explicit())
		}
		for _, g := range c.Grants {
			if !g.Public || len(g.Grantees) > 0 {
				t.Errorf("%s: %+v, want through PUBLIC only", key, g)
			}
		}
		if rv := c.Revokes(); len(rv) != c.Present || rv[0] != RevokeSQL("pg_catalog."+c.Group.Functions[0], "PUBLIC") {
			t.Errorf("%s revokes: %v", key, rv)
		}
	}
	if c, _ := group(rep, "large_objects"); len(c.Grants) != 0 {
		t.Errorf("large objects: %+v, want none (the demo template revokes them)", c.Grants)
	}
	if c, ok := group(rep, "server"); !ok || len(c.Grants) != 0 || c.Present < 30 {
		t.Errorf("server functions: %+v", c)
	}

	// Hardened as docs/ROLES.md says.
	f.db.Exec(t, HardeningSQL(pgx.Identifier{f.login}.Sanitize()))
	rep = f.check(t, f.login, f.caller)
	for _, c := range rep.Groups {
		if len(c.Grants) != 0 {
			t.Errorf("after HardeningSQL, %s: %+v", c.Group.Key, c.Grants)
		}
	}

	// Grants someone made: to a group the caller inherits from, to the
	// login role itself, a server function. A NOINHERIT login role does not
	// get its memberships' grants.
	f.db.Exec(t, fmt.Sprintf(`GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO %[1]s;
		GRANT EXECUTE ON FUNCTION pg_catalog.pg_sleep(double precision) TO %[2]s;
		GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_file(text) TO %[2]s;
		GRANT EXECUTE ON FUNCTION pg_catalog.query_to_xml(text, boolean, boolean, text) TO %[3]s;`, f.group, f.login, f.caller))
	rep = f.check(t, f.login, f.caller)
	c, _ := group(rep, "set_config")
	if len(c.Grants) != 1 || c.Grants[0].Role != f.caller || c.Grants[0].Public || !slices.Equal(c.Grants[0].Grantees, []string{f.group}) || !c.Explicit() {
		t.Errorf("set_config through a group: %+v", c.Grants)
	}
	if rv := c.Revokes(); len(rv) != 1 || rv[0] != RevokeSQL("pg_catalog.set_config(text, text, boolean)", f.group)+"  -- "+f.caller+" holds it through "+f.group {
		t.Errorf("set_config revokes: %q", rv)
	}
	c, _ = group(rep, "sleep")
	if by := executors(c); !slices.Equal(by[f.login], []string{"pg_catalog.pg_sleep(double precision)"}) || len(by) != 1 {
		t.Errorf("pg_sleep granted to the login role: %v", by)
	}
	if rv := c.Revokes(); len(rv) != 1 || !strings.HasSuffix(rv[0], "FROM "+f.login+";  -- granted to "+f.login+" directly") {
		t.Errorf("pg_sleep revokes: %q", rv)
	}
	c, _ = group(rep, "server")
	if by := executors(c); !slices.Equal(by[f.login], []string{"pg_catalog.pg_read_file(text)"}) || len(by) != 1 || !c.Explicit() {
		t.Errorf("pg_read_file: %v", by)
	}
	c, _ = group(rep, "sql_text")
	if by := executors(c); !slices.Equal(by[f.caller], []string{"pg_catalog.query_to_xml(text, boolean, boolean, text)"}) || len(by) != 1 {
		t.Errorf("query_to_xml granted to the caller: %v", by)
	}

	// The printed revokes close what they report.
	var all []string
	for _, c := range rep.Groups {
		all = append(all, c.Revokes()...)
	}
	f.db.Exec(t, strings.Join(all, "\n"))
	for _, c := range f.check(t, f.login, f.caller).Groups {
		if len(c.Grants) != 0 {
			t.Errorf("after the printed revokes, %s: %+v", c.Group.Key, c.Grants)
		}
	}
}

// TestCheckFunctionsDblink installs dblink: its group appears, qualified
// by the extension's schema, and DblinkHardeningSQL closes it while leaving
// dblink_get_connections (the executor's session check uses it).
func TestCheckFunctionsDblink(t *testing.T) {
	f := newHardenedFixture(t)
	var available bool
	if err := f.pool.QueryRow(t.Context(), "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'dblink')").Scan(&available); err != nil {
		t.Fatal(err)
	}
	if !available {
		t.Skip("dblink is not installed on this server (PostgreSQL's contrib package)")
	}
	f.db.Exec(t, `CREATE SCHEMA "Links"; CREATE EXTENSION dblink SCHEMA "Links"`)
	c, ok := group(f.check(t, f.login), "dblink")
	if !ok || c.Present != len(c.Group.Functions) || len(c.Grants) != c.Present {
		t.Fatalf("dblink group: %+v", c)
	}
	if c.Grants[0].Function != `"Links".dblink_connect(text)` || c.Explicit() {
		t.Errorf("first dblink grant: %+v", c.Grants[0])
	}
	f.db.Exec(t, DblinkHardeningSQL(`"Links"`))
	if c, _ := group(f.check(t, f.login), "dblink"); len(c.Grants) != 0 {
		t.Errorf("after DblinkHardeningSQL: %+v", c.Grants)
	}
	var getConnections bool
	if err := f.pool.QueryRow(t.Context(), `SELECT has_function_privilege(p.oid, 'EXECUTE') FROM pg_proc p
		WHERE p.pronamespace = '"Links"'::regnamespace AND p.proname = 'dblink_get_connections'`).Scan(&getConnections); err != nil || !getConnections {
		t.Errorf("dblink_get_connections executable: %v (%v), want true", getConnections, err)
	}
}

// deniedAs runs each statement as the login role, in a transaction
// switched to role (none: the login role itself) the way the executor
// does, and wants permission denied (42501) for the function. The
// transaction is READ WRITE on purpose: the role must hold without the
// read-only layer.
func deniedAs(t *testing.T, pool *pgxpool.Pool, role string, stmts []string) {
	t.Helper()
	for _, sql := range stmts {
		tx, err := pool.BeginTx(t.Context(), pgx.TxOptions{AccessMode: pgx.ReadWrite})
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
			t.Errorf("as %q: %s: %v, want permission denied for the function", role, sql, err)
		}
	}
}

// attacks are calls SQL past the guard would make, one per group of
// HardeningSQL.
func attacks(peer string) []string {
	return []string{
		"SELECT set_config('role', '" + peer + "', true)",
		"UPDATE pg_settings SET setting = '" + peer + "' WHERE name = 'role'", // the view's rule calls set_config
		"SELECT query_to_xml('SELECT * FROM public.customers', true, false, '')",
		"SELECT * FROM ts_stat('SELECT to_tsvector(email) FROM public.customers')",
		"SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery')",
		"SELECT table_to_xml('public.customers', true, false, '')",
		"SELECT database_to_xml(true, false, '')",
		"SELECT pg_terminate_backend(pg_backend_pid(), 0)",
		"SELECT pg_cancel_backend(pg_backend_pid())",
		"SELECT pg_notify('pgmcp', 'data')",
		"SELECT count(pg_advisory_xact_lock(i)) FROM generate_series(1, 100) AS i",
		"SELECT pg_try_advisory_lock(1)",
		"SELECT setseed(0.5)",
		"SELECT lo_from_bytea(0, 'x')",
		"SELECT pg_sleep(0.01)",
	}
}

// TestHardenedRoleAtDatabaseLevel applies HardeningSQL and checks, with
// pgx and no guard, that every attack fails with permission denied as the
// login role and as a caller role it switches to; and that a grant of
// set_config to the caller's group would reopen the role switch.
func TestHardenedRoleAtDatabaseLevel(t *testing.T) {
	f := newHardenedFixture(t)
	// Before: the attacks work (the role switch reaches the peer's role).
	var who string
	if err := f.pool.QueryRow(t.Context(), "SELECT set_config('role', $1, true), current_user::text", f.peer).Scan(new(string), &who); err != nil || who != f.peer {
		t.Fatalf("unhardened: set_config('role') as the login role gave %q, %v", who, err)
	}
	f.db.Exec(t, HardeningSQL(pgx.Identifier{f.login}.Sanitize()))
	deniedAs(t, f.pool, "", attacks(f.peer))
	deniedAs(t, f.pool, f.caller, attacks(f.peer))
	// What pgmcp uses itself still works.
	var n int
	if err := f.pool.QueryRow(t.Context(), "SELECT count(*) FROM pg_listening_channels()").Scan(&n); err != nil {
		t.Errorf("pg_listening_channels: %v", err)
	}
	if err := f.pool.QueryRow(t.Context(), "SELECT length(current_setting('work_mem'))").Scan(&n); err != nil {
		t.Errorf("current_setting: %v", err)
	}
}

// TestHardeningIsPerDatabase: function privileges live in each database's
// pg_proc, so the revokes apply in the database they run in only.
func TestHardeningIsPerDatabase(t *testing.T) {
	f := newHardenedFixture(t)
	other := pgtest.NewDB(t, pgtest.Empty)
	other.Exec(t, "GRANT CONNECT ON DATABASE "+pgx.Identifier{other.Name}.Sanitize()+" TO "+f.login)
	f.db.Exec(t, HardeningSQL(pgx.Identifier{f.login}.Sanitize()))
	otherURL := strings.Replace(f.url, "/"+f.db.Name, "/"+other.Name, 1)
	pool, err := NewPool(t.Context(), otherURL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c, _ := group(f.check(t, f.login), "set_config")
	rep, err := CheckFunctions(t.Context(), pool, []string{f.login})
	if err != nil {
		t.Fatal(err)
	}
	o, _ := group(rep, "set_config")
	if len(c.Grants) != 0 || len(o.Grants) != 1 {
		t.Errorf("set_config executable in the hardened database: %d, in another: %d; want 0 and 1", len(c.Grants), len(o.Grants))
	}
}

// TestCallerRoles lists the roles the login role may switch to: direct and
// indirect memberships, not itself.
func TestCallerRoles(t *testing.T) {
	f := newHardenedFixture(t)
	got, err := CallerRoles(t.Context(), f.pool, f.login)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{f.caller, f.group, f.peer}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("CallerRoles = %v, want %v", got, want)
	}
	if got, err := CallerRoles(t.Context(), f.pool, "pgmcp_no_such_role"); err != nil || len(got) != 0 {
		t.Errorf("CallerRoles of a missing role = %v, %v", got, err)
	}
}

// TestTempFileLimit reads temp_file_limit: -1 by default, the login role's
// setting once a superuser sets it, and a caller role's own setting does
// not apply after SET ROLE.
func TestTempFileLimit(t *testing.T) {
	f := newHardenedFixture(t)
	if v, err := TempFileLimit(t.Context(), f.pool); err != nil || v != "-1" {
		t.Fatalf("default temp_file_limit = %q, %v", v, err)
	}
	f.db.Exec(t, TempFileLimitSQL(pgx.Identifier{f.login}.Sanitize())+" ALTER ROLE "+f.caller+" SET temp_file_limit = '5MB';")
	pool, err := NewPool(t.Context(), f.url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if v, err := TempFileLimit(t.Context(), pool); err != nil || v != TempFileLimitExample {
		t.Errorf("temp_file_limit after ALTER ROLE = %q, %v, want %s", v, err, TempFileLimitExample)
	}
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	if _, err := tx.Exec(t.Context(), "SET LOCAL ROLE "+f.caller); err != nil {
		t.Fatal(err)
	}
	if v, err := TempFileLimit(t.Context(), tx); err != nil || v != TempFileLimitExample {
		t.Errorf("temp_file_limit as the caller role = %q, %v, want the login role's %s", v, err, TempFileLimitExample)
	}
	// The caller role cannot raise it either.
	if _, err := tx.Exec(t.Context(), "SET LOCAL temp_file_limit = -1"); err == nil {
		t.Error("a caller role could lift temp_file_limit")
	}
}

// TestPgmcpRunsOnHardenedRole runs what pgmcp does on a database (role
// inspection, the shadowing check, the catalog, queries and EXPLAIN, with
// and without a caller role) as a login role hardened with HardeningSQL:
// pgmcp needs EXECUTE on none of the revoked functions.
func TestPgmcpRunsOnHardenedRole(t *testing.T) {
	f := newHardenedFixture(t)
	f.db.Exec(t, HardeningSQL(pgx.Identifier{f.login}.Sanitize())+`
		CREATE TABLE public.caller_notes (body text); INSERT INTO public.caller_notes VALUES ('for the caller');
		GRANT SELECT ON public.caller_notes TO `+f.group)
	ctx := t.Context()
	if _, err := InspectRole(ctx, f.pool, []string{"public"}); err != nil {
		t.Errorf("InspectRole: %v", err)
	}
	if _, err := Shadowing(ctx, f.pool, sqlguard.AllowedFunctions(), sqlguard.AllowedOperators(), []string{"public"}); err != nil {
		t.Errorf("Shadowing: %v", err)
	}
	cat, err := LoadCatalog(ctx, f.pool, []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	pol := &sqlguard.Policy{Database: f.db.Name, SearchPath: []string{"public"}, AllowedSchemas: []string{"public"}, Catalog: cat}
	ex := NewExecutor(f.pool)
	for _, role := range []string{"", f.caller} {
		lim := Limits{MaxRows: 5, Role: role, StatementTimeout: 3 * time.Second}
		q, err := sqlguard.Check("SELECT count(*) AS n FROM products", pol)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := ex.Run(ctx, q, lim); err != nil || len(res.Rows) != 1 {
			t.Fatalf("Run as %q: %v, %v", role, res, err)
		}
		if _, err := ex.Explain(ctx, q, lim); err != nil {
			t.Errorf("Explain as %q: %v", role, err)
		}
		// Only the caller role may read caller_notes: the switch happened.
		q, err = sqlguard.Check("SELECT body FROM caller_notes", pol)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ex.Run(ctx, q, lim)
		var pe *Error
		switch {
		case role == "" && (!errors.As(err, &pe) || pe.PG == nil || pe.PG.SQLState != "42501"):
			t.Errorf("caller_notes as the login role: %v, want permission denied", err)
		case role != "" && (err != nil || len(res.Rows) != 1 || res.Rows[0][0] != "for the caller"):
			t.Errorf("caller_notes as %s: %v, %v", role, res, err)
		}
	}
	if s := ex.SessionStats(); len(s.Discards) != 0 || len(s.Resets) != 0 {
		t.Errorf("session resets %v, discards %v: the hardened role should leave nothing to clean", s.Resets, s.Discards)
	}
}
