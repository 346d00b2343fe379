package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/httpauth"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// doctorRun runs pgmcp doctor in-process and returns its exit code and
// output.
func doctorRun(t *testing.T, env ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runDoctor(t.Context(), nil, env, &out, &errOut)
	t.Logf("$ pgmcp doctor\n%s%s[exit %d]", out.String(), errOut.String(), code)
	return code, out.String()
}

// tokensFile writes a tokens file with one entry per role.
func tokensFile(t *testing.T, roles ...string) string {
	t.Helper()
	var entries []httpauth.TokenEntry
	for i, r := range roles {
		entries = append(entries, httpauth.TokenEntry{Name: fmt.Sprintf("caller%d", i), TokenSHA256: httpauth.HashToken(fmt.Sprintf("pgmcp_token_%d", i)), Role: r})
	}
	b, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// line returns the doctor line that starts with prefix and contains what,
// and the fix lines under it.
func line(out, prefix, what string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "  "+prefix) && strings.Contains(l, what) {
			block := l
			for _, next := range lines[i+1:] {
				if !strings.HasPrefix(next, "         ") {
					break
				}
				block += "\n" + next
			}
			return block
		}
	}
	return ""
}

// publicGroups are the titles of the groups PostgreSQL grants to PUBLIC
// (dblink aside).
func publicGroups() []pgexec.FunctionGroup {
	var out []pgexec.FunctionGroup
	for _, g := range pgexec.FunctionGroups {
		if g.Public && g.Extension == "" {
			out = append(out, g)
		}
	}
	return out
}

// TestDoctorFunctions runs doctor on a login role with PostgreSQL's
// default function privileges and a tokens file naming a caller role (and
// one that does not exist); then hardened with pgexec.HardeningSQL; then
// with set_config granted to a group the caller inherits from, and with
// dblink installed.
func TestDoctorFunctions(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Empty)
	db.Exec(t, "CREATE TABLE public.notes (id int PRIMARY KEY, body text)")
	login, url := db.PrivateReader(t)
	caller, group := login+"_alice", login+"_analysts"
	db.Exec(t, fmt.Sprintf(`ALTER ROLE %[1]s NOINHERIT; CREATE ROLE %[2]s NOLOGIN; CREATE ROLE %[3]s NOLOGIN IN ROLE %[2]s;
		GRANT %[3]s TO %[1]s; GRANT USAGE ON SCHEMA public TO %[2]s; GRANT SELECT ON public.notes TO %[2]s;`, login, group, caller))
	t.Cleanup(func() {
		db.Exec(t, fmt.Sprintf("DROP OWNED BY %[1]s, %[2]s; DROP ROLE %[1]s; DROP ROLE %[2]s;", caller, group))
	})
	env := []string{"PGMCP_DATABASE_URL=" + url, "PGMCP_ALLOWED_SCHEMAS=public", "PGMCP_AUTH_TOKENS_FILE=" + tokensFile(t, caller, "pgmcp_ghost")}

	// PostgreSQL's defaults: a warning per group, with its revokes, and
	// the caveat once; temp_file_limit unset.
	code, out := doctorRun(t, env...)
	if code != 0 || strings.Contains(out, "[FAIL]") {
		t.Errorf("defaults: exit %d, want 0 without failures", code)
	}
	who := login + ", " + caller + " may execute "
	for _, g := range publicGroups() {
		l := line(out, "[warn]", g.Title+" ("+g.Risk+" risk): ")
		if l == "" || !strings.Contains(l, who) || !strings.Contains(l, "through PUBLIC") {
			t.Errorf("no warning for %s naming both roles:\n%s", g.Title, l)
			continue
		}
		for _, f := range g.Functions {
			if !strings.Contains(l, pgexec.RevokeSQL("pg_catalog."+f, "PUBLIC")) {
				t.Errorf("%s: no revoke of %s:\n%s", g.Title, f, l)
			}
		}
	}
	if n := strings.Count(out, "FROM PUBLIC takes EXECUTE from every role of this database"); n != 1 {
		t.Errorf("the FROM PUBLIC caveat appears %d times, want once", n)
	}
	if line(out, "[ok]", "may not execute server file and administration functions") == "" {
		t.Error("no ok line for the server functions")
	}
	if strings.Contains(out, "dblink") {
		t.Error("dblink is reported without the extension")
	}
	if l := line(out, "[warn]", "temp_file_limit is unset (-1) for role "+login); !strings.Contains(l, `ALTER ROLE "`+login+`" SET temp_file_limit = '1GB';`) ||
		!strings.Contains(l, "as a superuser (1GB is an example") {
		t.Errorf("temp_file_limit warning:\n%s", l)
	}
	if l := line(out, "[warn]", "the tokens file names a role that does not exist"); !strings.Contains(l, "pgmcp_ghost") {
		t.Errorf("missing role warning:\n%s", l)
	}
	if want := fmt.Sprintf("No problem; %d warnings.", len(publicGroups())+2); !strings.Contains(out, want) {
		t.Errorf("want %q", want)
	}

	// Hardened as docs/ROLES.md says: every group ok.
	db.Exec(t, pgexec.HardeningSQL(pgx.Identifier{login}.Sanitize()))
	_, out = doctorRun(t, env...)
	for _, g := range publicGroups() {
		if line(out, "[ok]", login+" and the role of the tokens file ("+caller+") may not execute "+g.Title) == "" {
			t.Errorf("hardened: no ok line for %s", g.Title)
		}
	}
	if line(out, "[ok]", "temp_file_limit is 1GB for role "+login) == "" || strings.Contains(out, "REVOKE EXECUTE") {
		t.Errorf("hardened: temp_file_limit not ok, or revokes printed")
	}

	// A grant someone made, to the caller's group: a failure, with the
	// revoke from that group. dblink installed: a warning, qualified by
	// its schema.
	db.Exec(t, "GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO "+group)
	var dblink bool
	if err := db.Pool(t).QueryRow(t.Context(), "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'dblink')").Scan(&dblink); err != nil {
		t.Fatal(err)
	}
	if dblink {
		db.Exec(t, "CREATE EXTENSION dblink")
	}
	code, out = doctorRun(t, env...)
	l := line(out, "[FAIL]", "set_config (high risk): "+caller+" may execute set_config, granted to "+group)
	if code != 1 || !strings.Contains(l, "REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM "+group+";  -- "+caller+" holds it through "+group) ||
		strings.Contains(l, "FROM PUBLIC;") {
		t.Errorf("set_config granted to a group: exit %d\n%s", code, l)
	}
	if dblink {
		if l := line(out, "[warn]", "dblink (high risk): "+login+", "+caller+" may execute dblink_connect, dblink, dblink_exec"); !strings.Contains(l, "REVOKE EXECUTE ON FUNCTION public.dblink_exec(text, text) FROM PUBLIC;") {
			t.Errorf("dblink warning:\n%s", l)
		}
	} else {
		t.Log("dblink is not available on this server: its doctor line is not checked")
	}
}

// TestDoctorFunctionsJWT: with a JWT role claim, a claim may name any role
// the login role may switch to that PGMCP_AUTH_ALLOWED_ROLES matches, so
// doctor checks those, and only those.
func TestDoctorFunctionsJWT(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Empty)
	login, url := db.PrivateReader(t)
	a, b, other := login+"_a", login+"_b", login+"other"
	db.Exec(t, fmt.Sprintf("ALTER ROLE %[4]s NOINHERIT; CREATE ROLE %[1]s NOLOGIN; CREATE ROLE %[2]s NOLOGIN; CREATE ROLE %[3]s NOLOGIN; GRANT %[1]s, %[2]s, %[3]s TO %[4]s;", a, b, other, login))
	t.Cleanup(func() {
		db.Exec(t, fmt.Sprintf("DROP OWNED BY %[1]s, %[2]s, %[3]s; DROP ROLE %[1]s; DROP ROLE %[2]s; DROP ROLE %[3]s;", a, b, other))
	})
	db.Exec(t, pgexec.HardeningSQL(pgx.Identifier{login}.Sanitize()))
	// A member role the allowed list does not match is not a caller's.
	db.Exec(t, "GRANT EXECUTE ON FUNCTION pg_catalog.pg_sleep(double precision) TO "+b+", "+other)
	code, out := doctorRun(t, "PGMCP_DATABASE_URL="+url, "PGMCP_ALLOWED_SCHEMAS=public",
		"PGMCP_AUTH_JWKS_URL=https://idp.example.test/jwks.json", "PGMCP_AUTH_ISSUER=https://idp.example.test/",
		"PGMCP_AUTH_AUDIENCE=pgmcp", "PGMCP_AUTH_RESOURCE_URL=https://pgmcp.example.test/mcp", "PGMCP_AUTH_ROLE_CLAIM=pg_role", "PGMCP_AUTH_ALLOWED_ROLES="+login+"_*")
	if line(out, "[ok]", login+" and the roles of the JWT role claim ("+a+", "+b+") may not execute set_config") == "" {
		t.Errorf("no ok line naming the member roles")
	}
	if l := line(out, "[FAIL]", "pg_sleep (low risk): "+b+" may execute pg_sleep, granted to "+b); code != 1 ||
		!regexp.MustCompile(`REVOKE EXECUTE ON FUNCTION pg_catalog\.pg_sleep\(double precision\) FROM `+b+`;  -- granted to `+b+` directly`).MatchString(l) {
		t.Errorf("pg_sleep granted to a member role: exit %d\n%s", code, l)
	}
	if strings.Contains(out, other) {
		t.Errorf("doctor checked %s, which the allowed roles do not match", other)
	}
}

// TestDoctorSuperuserSkipsFunctions: a superuser may execute everything;
// doctor fails on the role and does not list functions, but still checks
// temp_file_limit.
func TestDoctorSuperuserSkipsFunctions(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Empty)
	code, out := doctorRun(t, "PGMCP_DATABASE_URL="+db.URL, "PGMCP_ALLOWED_SCHEMAS=public")
	if code != 1 || !strings.Contains(out, "is a superuser") || strings.Contains(out, "may execute") || strings.Contains(out, "may not execute") ||
		!strings.Contains(out, "temp_file_limit is unset (-1)") {
		t.Errorf("superuser: exit %d", code)
	}
}
