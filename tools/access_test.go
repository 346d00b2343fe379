package tools

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// TestRowLevelSecurityPerIdentity checks that each caller's queries run as
// the caller's role: two identities read the same table under a row-level
// security policy and see different rows, and the role is gone after each
// call (the pool's connections are shared).
func TestRowLevelSecurityPerIdentity(t *testing.T) {
	var alice, bob string
	f := newQueryFixture(t, fixtureOpts{setup: func(db *pgtest.DB) {
		suffix := db.Name[len(db.Name)-8:]
		alice, bob = "alice_"+suffix, "bob_"+suffix
		var login string
		login, db.ReaderURL = db.PrivateReader(t)
		db.Exec(t, `CREATE TABLE public.notes (owner name NOT NULL, body text NOT NULL);
			INSERT INTO public.notes VALUES ('`+alice+`', 'alice 1'), ('`+alice+`', 'alice 2'), ('`+bob+`', 'bob 1');
			ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
			CREATE POLICY own_notes ON public.notes USING (owner = current_user);
			CREATE ROLE `+alice+` NOLOGIN; CREATE ROLE `+bob+` NOLOGIN;
			GRANT `+alice+`, `+bob+` TO `+login+`;
			GRANT USAGE ON SCHEMA public TO `+alice+`, `+bob+`;
			GRANT SELECT ON public.notes TO `+alice+`;
			GRANT SELECT (body) ON public.notes TO `+bob+`;`)
		t.Cleanup(func() {
			db.Exec(t, `DROP TABLE public.notes; DROP OWNED BY `+alice+`, `+bob+`; DROP ROLE `+alice+`; DROP ROLE `+bob+`;`)
		})
	}})
	// The demo policy lists its relations: allow the new table through a
	// policy by schema for this test.
	f.setPolicy(t, `{"allowed_schemas": ["public"], "search_path": ["public"]}`)
	bodies := func(id Identity) []string {
		ctx := WithIdentity(t.Context(), id)
		o := f.queryCtx(t, ctx, map[string]any{"sql": "SELECT body FROM notes ORDER BY body"})
		if o.isError {
			t.Fatalf("%s: %s", id.Name, o.text)
		}
		var out []string
		for _, r := range o.out.Rows {
			out = append(out, r[0].(string))
		}
		return out
	}
	for range 3 { // interleaved, so a leaked role would show
		if got := strings.Join(bodies(Identity{Name: "alice", Role: alice}), ","); got != "alice 1,alice 2" {
			t.Errorf("alice sees %q", got)
		}
		if got := strings.Join(bodies(Identity{Name: "bob", Role: bob}), ","); got != "bob 1" {
			t.Errorf("bob sees %q", got)
		}
		// Without a role, the login role's own rows: none.
		if o := f.query(t, map[string]any{"sql": "SELECT body FROM notes"}); o.isError || o.out.RowCount != 0 {
			t.Errorf("the login role itself: %+v", o)
		}
	}
	// What a role may not read is blocked for its callers, and hidden from
	// their schema: alice reads notes and nothing else; bob reads only
	// notes.body.
	for _, tc := range []struct {
		who  Identity
		sql  string
		code string
	}{
		{Identity{Name: "alice", Role: alice}, "SELECT id FROM customers", string(sqlguard.CodeBlockedTable)},
		{Identity{Name: "alice", Role: alice}, "SELECT owner, body FROM notes", ""},
		{Identity{Name: "bob", Role: bob}, "SELECT owner FROM notes", string(sqlguard.CodeBlockedColumn)},
		{Identity{Name: "bob", Role: bob}, "SELECT * FROM notes", string(sqlguard.CodeStarOnBlockedTable)},
	} {
		o := f.queryCtx(t, WithIdentity(t.Context(), tc.who), map[string]any{"sql": tc.sql})
		if (tc.code == "") == o.isError || (tc.code != "" && o.err.Code != tc.code) {
			t.Errorf("%s: %s → %+v, want %q", tc.who.Name, tc.sql, o.err, tc.code)
		}
	}
	for _, tc := range []struct {
		who  Identity
		want string
	}{{Identity{Name: "alice", Role: alice}, "notes(owner,body)"}, {Identity{Name: "bob", Role: bob}, "notes(body)"}} {
		got := f.call(t, WithIdentity(t.Context(), tc.who), "get_schema", map[string]any{})
		var sch SchemaResult
		if err := json.Unmarshal(got.structured, &sch); got.isError || err != nil {
			t.Fatalf("%s: %s %v", tc.who.Name, got.text, err)
		}
		var tables []string
		for _, tb := range sch.Tables {
			var cols []string
			for _, c := range tb.Columns {
				cols = append(cols, c.Name)
			}
			tables = append(tables, tb.Name+"("+strings.Join(cols, ",")+")")
		}
		if strings.Join(tables, " ") != tc.want {
			t.Errorf("%s's schema: %v, want %s", tc.who.Name, tables, tc.want)
		}
	}
	// A role that does not exist is refused with a clear code.
	if o := f.queryCtx(t, WithIdentity(t.Context(), Identity{Name: "ghost", Role: "no_such_role_x"}), map[string]any{"sql": "SELECT 1 AS one"}); !o.isError || o.err.Code != string(CodeForbidden) {
		t.Errorf("a role that does not exist: %+v", o)
	}

	// An identity with a role pgmcp cannot take gets a clear error.
	o := f.queryCtx(t, WithIdentity(t.Context(), Identity{Name: "mallory", Role: "postgres"}), map[string]any{"sql": "SELECT 1 AS one"})
	if !o.isError || o.err.SQLState != "42501" {
		t.Errorf("a role the login role is not a member of: %+v", o)
	}
}

// setPolicy replaces the fixture database's policy.
func (f *queryFixture) setPolicy(t *testing.T, js string) {
	t.Helper()
	p, err := sqlguard.ParsePolicyJSON([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	p.Database = f.db.Name
	withCatalog(t, f.pool, p)
	f.dbs[0].live.Store(p)
	f.dbs[0].Schema.SetFilter(SchemaFilter(p))
}

func TestIdentityDatabasesAndPolicy(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{})
	// A caller limited to other databases is refused this one.
	ctx := WithIdentity(t.Context(), Identity{Name: "carol", Databases: []string{"crm"}})
	if o := f.queryCtx(t, ctx, map[string]any{"sql": "SELECT 1 AS one"}); !o.isError || o.err.Code != string(CodeForbidden) {
		t.Errorf("a database outside the identity's list: %+v", o)
	}
	// A caller with a narrowing policy: no billing schema, no customer emails.
	narrow := json.RawMessage(`{"allowed_schemas": ["public"], "blocked_columns": {"public.customers": ["email"]}}`)
	ctx = WithIdentity(t.Context(), Identity{Name: "dave", Policy: narrow})
	for sql, code := range map[string]string{
		"SELECT email FROM customers":              string(sqlguard.CodeBlockedColumn),
		"SELECT id FROM billing.plans":             string(sqlguard.CodeRelationNotAllowed),
		"SELECT phone FROM customers":              string(sqlguard.CodeBlockedColumn), // the database's own block stays
		"SELECT first_name FROM customers LIMIT 1": "",
	} {
		o := f.queryCtx(t, ctx, map[string]any{"sql": sql})
		if (code == "") != !o.isError || (code != "" && o.err.Code != code) {
			t.Errorf("dave: %s → %+v, want %q", sql, o.err, code)
		}
	}
	// Everyone else still reads billing and emails.
	if o := f.query(t, map[string]any{"sql": "SELECT email FROM customers LIMIT 1"}); o.isError {
		t.Errorf("without the narrowing: %s", o.text)
	}
	// dave's schema hides what his policy hides.
	got := f.call(t, ctx, "get_schema", map[string]any{})
	if got.isError {
		t.Fatal(got.text)
	}
	var sch SchemaResult
	if err := json.Unmarshal(got.structured, &sch); err != nil {
		t.Fatal(err)
	}
	for _, tb := range sch.Tables {
		if tb.Schema == "billing" || tb.Schema == "analytics" {
			t.Errorf("dave sees %s.%s", tb.Schema, tb.Name)
		}
		if tb.Name == "customers" {
			for _, c := range tb.Columns {
				if c.Name == "email" {
					t.Error("dave sees customers.email")
				}
			}
		}
	}
	if !strings.Contains(got.text, "customers") || strings.Contains(got.text, "  email text") {
		t.Errorf("dave's schema text: %s", got.text)
	}
}

func TestNarrow(t *testing.T) {
	cat, err := sqlguard.CatalogFromDDL(`CREATE TABLE a (x int, y int); CREATE TABLE b (id int);
		CREATE SCHEMA sales; CREATE TABLE sales.c (id int);`, []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	base := &sqlguard.Policy{SearchPath: []string{"public"}, AllowedRelations: []string{"public.a", "public.b", "sales.c"},
		BlockedColumns: map[string][]string{"public.a": {"x"}}, Catalog: cat}
	cases := []struct {
		extra     string
		allowed   string
		schemas   string
		blockCols int
	}{
		{`{"blocked_columns": {"public.a": ["y"]}}`, "public.a,public.b,sales.c", "", 2},
		{`{"allowed_schemas": ["public"]}`, "public.a,public.b", "", 1},
		{`{"allowed_relations": ["public.b", "public.z"]}`, "public.b", "", 1},
		{`{"allowed_relations": ["public.z"]}`, "", "", 1},
	}
	for _, tc := range cases {
		extra, err := sqlguard.ParseNarrowingJSON([]byte(tc.extra))
		if err != nil {
			t.Fatal(err)
		}
		p := Narrow(base, extra)
		if p.Catalog != cat {
			t.Errorf("Narrow(%s) does not keep the catalog", tc.extra)
		}
		cols := 0
		for _, c := range p.BlockedColumns {
			cols += len(c)
		}
		if strings.Join(p.AllowedRelations, ",") != tc.allowed || strings.Join(p.AllowedSchemas, ",") != tc.schemas || cols != tc.blockCols {
			t.Errorf("Narrow(%s) = allowed %v schemas %v blocked columns %v", tc.extra, p.AllowedRelations, p.AllowedSchemas, p.BlockedColumns)
		}
	}
	// A base by schema is never widened.
	byschema := &sqlguard.Policy{SearchPath: []string{"public"}, AllowedSchemas: []string{"public"}, Catalog: cat}
	extra, _ := sqlguard.ParseNarrowingJSON([]byte(`{"allowed_relations": ["sales.c", "public.a"]}`))
	if p := Narrow(byschema, extra); strings.Join(p.AllowedRelations, ",") != "public.a" || len(p.AllowedSchemas) != 0 {
		t.Errorf("by schema: %+v", p)
	}
	extra, _ = sqlguard.ParseNarrowingJSON([]byte(`{"allowed_schemas": ["sales"]}`))
	if p := Narrow(byschema, extra); len(p.AllowedRelations) != 0 || len(p.AllowedSchemas) != 0 {
		t.Errorf("disjoint schemas must allow nothing: %+v", p)
	}
	var ge *sqlguard.Error
	if _, err := sqlguard.Check("SELECT 1 FROM public.a", Narrow(byschema, extra)); !errors.As(err, &ge) || ge.Code == sqlguard.CodeInvalidPolicy {
		t.Errorf("a policy narrowed to nothing: %v, want a refusal of the relation", err)
	}
	if _, err := sqlguard.Check("SELECT y FROM public.a", Narrow(byschema, &sqlguard.Policy{})); err != nil {
		t.Errorf("a narrowed policy resolves against the base's catalog: %v", err)
	}
}
