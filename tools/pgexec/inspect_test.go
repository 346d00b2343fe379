package pgexec

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// inspectRole creates a NOLOGIN role of the test's own, named prefix and a
// random suffix, dropped (with its privileges in db) when the test ends.
func inspectRole(t *testing.T, db *pgtest.DB, prefix string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	role := prefix + "_" + hex.EncodeToString(b[:])
	db.Exec(t, "CREATE ROLE "+role+" NOLOGIN")
	t.Cleanup(func() { db.Exec(t, fmt.Sprintf("DROP OWNED BY %[1]s; DROP ROLE %[1]s", role)) })
	return role
}

func codeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Code("not a pgexec error: " + errorText(err))
}

// TestRoleAccess reads a role's privileges on a schema of every kind of
// grant: on the table, on some columns, through a group role, none, and on
// a table of a schema the role has no USAGE on.
func TestRoleAccess(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Empty)
	role := inspectRole(t, db, "acc")
	group := inspectRole(t, db, "accgrp")
	db.Exec(t, fmt.Sprintf(`
		CREATE SCHEMA acc;
		CREATE TABLE acc.whole (id int, name text);
		CREATE INDEX whole_id ON acc.whole (id);
		CREATE SEQUENCE acc.seq;
		CREATE VIEW acc.v AS SELECT id FROM acc.whole;
		CREATE TABLE acc.part (id int, name text, gone int, secret text, ssn text);
		ALTER TABLE acc.part DROP COLUMN gone;
		CREATE TABLE acc.none (id int, note text);
		CREATE TABLE acc.inherited (id int);
		CREATE TABLE acc.parted (id int) PARTITION BY RANGE (id);
		CREATE SCHEMA hidden;
		CREATE TABLE hidden.t (id int);
		CREATE TABLE other_schema_table (id int);
		GRANT %[2]s TO %[1]s;
		GRANT USAGE ON SCHEMA acc TO %[1]s;
		GRANT SELECT ON acc.whole, acc.v, acc.parted, hidden.t, other_schema_table TO %[1]s;
		GRANT SELECT (id, name) ON acc.part TO %[1]s;
		GRANT SELECT ON acc.inherited TO %[2]s;`, role, group))
	pool, err := NewPool(t.Context(), db.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	got, err := RoleAccess(t.Context(), pool, role, nil, []string{"acc", "hidden"})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]RelationAccess{}
	for _, r := range got {
		slices.Sort(r.DeniedColumns)
		byName[r.Name] = r
	}
	want := map[string]RelationAccess{
		"acc.whole":     {Name: "acc.whole", Whole: true, Some: true, DeniedColumns: []string{}},
		"acc.v":         {Name: "acc.v", Whole: true, Some: true, DeniedColumns: []string{}},
		"acc.parted":    {Name: "acc.parted", Whole: true, Some: true, DeniedColumns: []string{}},
		"acc.inherited": {Name: "acc.inherited", Whole: true, Some: true, DeniedColumns: []string{}},
		"acc.part":      {Name: "acc.part", Whole: false, Some: true, DeniedColumns: []string{"secret", "ssn"}},
		"acc.none":      {Name: "acc.none", Whole: false, Some: false, DeniedColumns: []string{"id", "note"}},
		// SELECT on the table but no USAGE on its schema: nothing is
		// readable, though no column privilege is missing.
		"hidden.t": {Name: "hidden.t", Whole: false, Some: false, DeniedColumns: []string{}},
	}
	if len(byName) != len(got) || len(got) != len(want) {
		t.Errorf("RoleAccess returned %d relations %v, want %d (no index, sequence nor relation of another schema)", len(got), got, len(want))
	}
	for name, w := range want {
		g, ok := byName[name]
		if !ok {
			t.Errorf("%s: missing", name)
			continue
		}
		if g.Whole != w.Whole || g.Some != w.Some || !slices.Equal(g.DeniedColumns, w.DeniedColumns) {
			t.Errorf("%s = %+v, want %+v", name, g, w)
		}
	}

	// A relation list wins over the schemas; unknown relations are left out.
	got, err = RoleAccess(t.Context(), pool, role, []string{"acc.part", "hidden.t", "acc.missing", "acc.seq"}, []string{"acc"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"acc.part", "hidden.t"}) {
		t.Errorf("RoleAccess of a relation list = %v, want [acc.part hidden.t]", names)
	}

	// Nothing to look at: no rows, no error.
	if got, err := RoleAccess(t.Context(), pool, role, nil, nil); err != nil || len(got) != 0 {
		t.Errorf("RoleAccess of nothing = %v, %v", got, err)
	}
}

// TestRoleAccessErrors: a role that does not exist and a failed query are
// CodeRoleUnusable (the PostgreSQL error in the cause), a row that cannot
// be read is CodeCatalogUnreadable.
func TestRoleAccessErrors(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Empty)
	db.Exec(t, "CREATE SCHEMA acc; CREATE TABLE acc.t (id int)")
	pool, err := NewPool(t.Context(), db.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	_, err = RoleAccess(t.Context(), pool, "pgmcp_no_such_role", nil, []string{"acc"})
	var pe *pgconn.PgError
	if codeOf(err) != CodeRoleUnusable || !errors.As(err, &pe) || pe.Code != "42704" {
		t.Errorf("missing role: %v, want %s caused by SQLSTATE 42704", err, CodeRoleUnusable)
	}
	if want := `role_unusable: cannot read the privileges of role "pgmcp_no_such_role": role "pgmcp_no_such_role" does not exist (SQLSTATE 42704)`; err == nil || err.Error() != want {
		t.Errorf("missing role: %q, want %q", err, want)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := RoleAccess(ctx, pool, "postgres", nil, []string{"acc"}); codeOf(err) != CodeRoleUnusable || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want %s caused by the cancellation", err, CodeRoleUnusable)
	}

	if _, err := RoleAccess(t.Context(), badReader{}, "r", nil, []string{"acc"}); codeOf(err) != CodeCatalogUnreadable || !errors.Is(err, errBadScan) {
		t.Errorf("scan failure: %v, want %s", err, CodeCatalogUnreadable)
	}
}

// badReader answers every query with one row that cannot be scanned.
type badReader struct{}

var errBadScan = errors.New("cannot scan this row")

func (badReader) Query(context.Context, string, ...any) (pgx.Rows, error) { return &badRows{}, nil }
func (badReader) QueryRow(context.Context, string, ...any) pgx.Row        { return &badRows{} }

// badRows implements what RoleAccess uses of pgx.Rows (the embedded nil
// interface stands for the rest).
type badRows struct {
	pgx.Rows
	n int
}

func (r *badRows) Close()            {}
func (r *badRows) Err() error        { return nil }
func (r *badRows) Next() bool        { r.n++; return r.n == 1 }
func (r *badRows) Scan(...any) error { return errBadScan }

// TestServerSettings reads the major version and the time zone the
// database sets for its sessions.
func TestServerSettings(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Empty)
	db.Exec(t, "ALTER DATABASE "+pgx.Identifier{db.Name}.Sanitize()+" SET TimeZone = 'America/New_York'")
	pool, err := NewPool(t.Context(), db.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	major, tz, err := ServerSettings(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	var version string
	if err := pool.QueryRow(t.Context(), "SHOW server_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	// "15.8", "15.8 (Debian 15.8-1)", "17devel": the leading digits.
	wantMajor := version[:strings.IndexFunc(version+"x", func(r rune) bool { return r < '0' || r > '9' })]
	if major != wantMajor || major == "" {
		t.Errorf("major = %q, want %q (server_version %q)", major, wantMajor, version)
	}
	if tz != "America/New_York" {
		t.Errorf("time zone = %q, want America/New_York", tz)
	}
	t.Logf("server %s: major %s, time zone %s", version, major, tz)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := ServerSettings(ctx, pool); codeOf(err) != CodeCancelled {
		t.Errorf("cancelled: %v, want %s", err, CodeCancelled)
	}
}

// TestSessionRoles reads session_user and current_user, which differ when
// a role setting switches the login role to another at connection.
func TestSessionRoles(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Empty)
	login, url := db.PrivateReader(t)
	pool, err := NewPool(t.Context(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	session, current, err := SessionRoles(t.Context(), pool)
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	if session != login || current != login {
		t.Errorf("SessionRoles = %q, %q, want %q twice", session, current, login)
	}

	other := inspectRole(t, db, "switched")
	db.Exec(t, fmt.Sprintf("GRANT %[2]s TO %[1]s; ALTER ROLE %[1]s IN DATABASE %[3]s SET role = %[2]s",
		login, other, pgx.Identifier{db.Name}.Sanitize()))
	pool, err = NewPool(t.Context(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	session, current, err = SessionRoles(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if session != login || current != other {
		t.Errorf("SessionRoles with a role setting = %q, %q, want %q, %q", session, current, login, other)
	}
}

// TestCurrentDatabase reads the database name through a pool, a
// connection and a transaction.
func TestCurrentDatabase(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	pool, err := NewPool(t.Context(), db.ReaderURL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pgx.Connect(t.Context(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	for what, q := range map[string]catalogReader{"pool": pool, "tx": tx} {
		name, err := CurrentDatabase(t.Context(), q)
		if err != nil || name != db.Name {
			t.Errorf("CurrentDatabase through a %s = %q, %v, want %q", what, name, err, db.Name)
		}
	}
	if _, err := tx.Exec(t.Context(), "SELECT 1/0"); err == nil {
		t.Fatal("1/0 did not fail")
	}
	// The transaction is aborted: PostgreSQL's error, with its SQLSTATE.
	_, err = CurrentDatabase(t.Context(), tx)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeQueryFailed || e.PG == nil || e.PG.SQLState != "25P02" ||
		!strings.HasPrefix(e.Message, "cannot read the database name: ") {
		t.Errorf("in an aborted transaction: %v (%+v), want %s with SQLSTATE 25P02", err, e, CodeQueryFailed)
	}
}

// TestUnreadableRelations lists the relations the login role may read
// nothing of: no grant, no USAGE on the schema; a column grant is enough to
// be readable.
func TestUnreadableRelations(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Empty)
	db.Exec(t, `CREATE TABLE public.open (id int); CREATE TABLE public.secret (id int);
		CREATE TABLE public.cols (id int, pw text); CREATE SCHEMA nousage; CREATE TABLE nousage.t (id int)`)
	login, url := db.PrivateReader(t) // SELECT on every table of public, USAGE on public
	db.Exec(t, fmt.Sprintf(`REVOKE SELECT ON public.secret, public.cols FROM %[1]s;
		GRANT SELECT (id) ON public.cols TO %[1]s; GRANT SELECT ON nousage.t TO %[1]s`, login))
	pool, err := NewPool(t.Context(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	got, err := UnreadableRelations(t.Context(), pool, []string{"public.open", "public.secret", "public.cols", "nousage.t", "public.missing"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"nousage.t", "public.secret"}; !slices.Equal(got, want) {
		t.Errorf("UnreadableRelations = %v, want %v", got, want)
	}
	if got, err := UnreadableRelations(t.Context(), pool, nil); err != nil || len(got) != 0 {
		t.Errorf("UnreadableRelations(nil) = %v, %v", got, err)
	}
}

// TestPlainSetting reads a setting on a connection that pins nothing:
// what the database gives a client, not what NewPool pins.
func TestPlainSetting(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Empty)
	db.Exec(t, "ALTER DATABASE "+pgx.Identifier{db.Name}.Sanitize()+" SET standard_conforming_strings = off")
	_, url := db.PrivateReader(t)
	v, err := PlainSetting(t.Context(), url, 5*time.Second, "standard_conforming_strings")
	if err != nil || v != "off" {
		t.Errorf("PlainSetting(standard_conforming_strings) = %q, %v, want off (the database's setting)", v, err)
	}
	if v, err := PlainSetting(t.Context(), url, 5*time.Second, "default_transaction_read_only"); err != nil || v != "off" {
		t.Errorf("PlainSetting(default_transaction_read_only) = %q, %v, want off (nothing pinned)", v, err)
	}

	// An unknown setting: PostgreSQL's error.
	_, err = PlainSetting(t.Context(), url, 5*time.Second, "pgmcp_no_such_setting")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeQueryFailed || e.PG == nil || e.PG.SQLState != "42704" ||
		e.Message != `cannot read setting pgmcp_no_such_setting: unrecognized configuration parameter "pgmcp_no_such_setting" (SQLSTATE 42704)` {
		t.Errorf("unknown setting: %v, want %s with SQLSTATE 42704 naming the setting", err, CodeQueryFailed)
	}

	// A bad password, a bad URL, a server that is not there: NewPool's
	// codes, no password in the message, within the connect timeout.
	bad := strings.Replace(url, "private-reader", "wrong-pw-123", 1)
	if _, err := PlainSetting(t.Context(), bad, 5*time.Second, "TimeZone"); codeOf(err) != CodeAuthFailed || strings.Contains(err.Error(), "wrong-pw-123") {
		t.Errorf("bad password: %v, want %s without the password", err, CodeAuthFailed)
	}
	if _, err := PlainSetting(t.Context(), "postgres://u:pw12345@host:notaport/db", time.Second, "TimeZone"); codeOf(err) != CodeBadURL || strings.Contains(err.Error(), "pw12345") {
		t.Errorf("bad URL: %v, want %s without the password", err, CodeBadURL)
	}
	start := time.Now()
	_, err = PlainSetting(t.Context(), "postgres://u:pw12345@127.0.0.1:1/db?sslmode=disable", 2*time.Second, "TimeZone")
	if codeOf(err) != CodeUnreachable || strings.Contains(err.Error(), "pw12345") {
		t.Errorf("unreachable: %v, want %s without the password", err, CodeUnreachable)
	}
	if time.Since(start) > 4*time.Second {
		t.Errorf("unreachable: took %s, past the 2s connect timeout", time.Since(start))
	}
}
