package tools

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/engine"
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
	bodies := func(id engine.Identity) []string {
		ctx := engine.WithIdentity(t.Context(), id)
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
		if got := strings.Join(bodies(engine.Identity{Name: "alice", Role: alice}), ","); got != "alice 1,alice 2" {
			t.Errorf("alice sees %q", got)
		}
		if got := strings.Join(bodies(engine.Identity{Name: "bob", Role: bob}), ","); got != "bob 1" {
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
		who  engine.Identity
		sql  string
		code string
	}{
		{engine.Identity{Name: "alice", Role: alice}, "SELECT id FROM customers", string(sqlguard.CodeBlockedTable)},
		{engine.Identity{Name: "alice", Role: alice}, "SELECT owner, body FROM notes", ""},
		{engine.Identity{Name: "bob", Role: bob}, "SELECT owner FROM notes", string(sqlguard.CodeBlockedColumn)},
		{engine.Identity{Name: "bob", Role: bob}, "SELECT * FROM notes", string(sqlguard.CodeStarOnBlockedTable)},
	} {
		o := f.queryCtx(t, engine.WithIdentity(t.Context(), tc.who), map[string]any{"sql": tc.sql})
		if (tc.code == "") == o.isError || (tc.code != "" && o.err.Code != tc.code) {
			t.Errorf("%s: %s → %+v, want %q", tc.who.Name, tc.sql, o.err, tc.code)
		}
	}
	for _, tc := range []struct {
		who  engine.Identity
		want string
	}{{engine.Identity{Name: "alice", Role: alice}, "notes(owner,body)"}, {engine.Identity{Name: "bob", Role: bob}, "notes(body)"}} {
		got := f.call(t, engine.WithIdentity(t.Context(), tc.who), "get_schema", map[string]any{})
		var sch engine.SchemaResult
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
	if o := f.queryCtx(t, engine.WithIdentity(t.Context(), engine.Identity{Name: "ghost", Role: "no_such_role_x"}), map[string]any{"sql": "SELECT 1 AS one"}); !o.isError || o.err.Code != string(engine.CodeForbidden) {
		t.Errorf("a role that does not exist: %+v", o)
	}

	// An identity with a role pgmcp cannot take gets a clear error.
	o := f.queryCtx(t, engine.WithIdentity(t.Context(), engine.Identity{Name: "mallory", Role: "postgres"}), map[string]any{"sql": "SELECT 1 AS one"})
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
	f.dbs[0].Resolve = func(context.Context) (*sqlguard.Policy, error) { return p, nil }
	if _, err := f.dbs[0].Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityDatabasesAndPolicy(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{})
	// A caller limited to other databases is refused this one.
	ctx := engine.WithIdentity(t.Context(), engine.Identity{Name: "carol", Databases: []string{"crm"}})
	if o := f.queryCtx(t, ctx, map[string]any{"sql": "SELECT 1 AS one"}); !o.isError || o.err.Code != string(engine.CodeForbidden) {
		t.Errorf("a database outside the identity's list: %+v", o)
	}
	// A caller with a narrowing policy: no billing schema, no customer emails.
	narrow := json.RawMessage(`{"allowed_schemas": ["public"], "blocked_columns": {"public.customers": ["email"]}}`)
	ctx = engine.WithIdentity(t.Context(), engine.Identity{Name: "dave", Policy: narrow})
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
	var sch engine.SchemaResult
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

// TestValueHintsNeverCrossRoles: with the schema's value index on, a
// caller without a role of its own is told the stored values matching its
// question, but a caller whose queries run as a database role under
// row-level security is not, since the index was read as the login role,
// which sees rows that role does not. find_values looks values up live as
// that role, and eval (its prompts, gold query and outcome) runs as it.
func TestValueHintsNeverCrossRoles(t *testing.T) {
	var alice string
	f := newQueryFixture(t, fixtureOpts{
		script: func(int, fakellm.Request) fakellm.Reply { return fakellm.SQL("SELECT body FROM notes") },
		setup: func(db *pgtest.DB) {
			alice = "alice_" + db.Name[len(db.Name)-8:]
			var login string
			login, db.ReaderURL = db.PrivateReader(t)
			db.Exec(t, `CREATE TABLE public.notes (owner name NOT NULL, body text NOT NULL);
				INSERT INTO public.notes VALUES ('`+alice+`', 'alice groceries'), ('someone', 'Zanzibar treasure map');
				ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
				CREATE POLICY own_notes ON public.notes USING (owner = current_user OR current_user = '`+login+`');
				CREATE ROLE `+alice+` NOLOGIN;
				GRANT `+alice+` TO `+login+`;
				GRANT USAGE ON SCHEMA public TO `+alice+`;
				GRANT SELECT ON public.notes TO `+alice+`;`)
			t.Cleanup(func() { db.Exec(t, `DROP TABLE public.notes; DROP OWNED BY `+alice+`; DROP ROLE `+alice+`;`) })
		},
		deps: func(d *engine.Config) {
			opts := schema.DefaultOptions()
			opts.Values = true
			d.Databases[0].SchemaOptions = &opts
		},
	})
	f.setPolicy(t, `{"allowed_schemas": ["public"], "search_path": ["public"]}`)
	// The value index is read in the background after a load.
	if prep, err := f.dbs[0].Schema.Get(t.Context()); err != nil || prep.WaitValues(t.Context()) == nil {
		t.Fatalf("no value index: %v", err)
	}
	const question = "Which note mentions the zanzibar treasure map?"
	prompt := func(ctx context.Context) string {
		t.Helper()
		before := len(f.fake.Requests())
		if o := f.queryCtx(t, ctx, map[string]any{"question": question, "dry_run": true}); o.isError {
			t.Fatalf("question: %s", o.text)
		}
		reqs := f.fake.Requests()
		if len(reqs) <= before {
			t.Fatal("the model was not asked")
		}
		var b strings.Builder
		for _, m := range reqs[len(reqs)-1].Messages {
			b.WriteString(m.Content)
		}
		return b.String()
	}
	// The control: the login role's index holds the value, and a caller
	// without a role is shown it.
	if p := prompt(t.Context()); !strings.Contains(p, "'Zanzibar treasure map'") {
		t.Fatalf("a caller without a role is not shown the matching value; prompt:\n%s", p)
	}
	ctx := engine.WithIdentity(t.Context(), engine.Identity{Name: "alice", Role: alice})
	if p := prompt(ctx); strings.Contains(p, "Zanzibar treasure map") || strings.Contains(p, "has '") {
		t.Errorf("alice, under row-level security, is shown values of rows she cannot read:\n%s", p)
	}
	// Her own query sees only her row, so the value is hers to find only
	// through SQL she may run.
	if o := f.queryCtx(t, ctx, map[string]any{"sql": "SELECT body FROM notes"}); o.isError || o.out.RowCount != 1 {
		t.Errorf("alice's own rows: %+v", o)
	}

	// find_values: from the index for a caller without a role, live as
	// alice's role (row-level security applies) for her.
	find := func(ctx context.Context, text string) engine.FindValuesResult {
		t.Helper()
		o := f.call(t, ctx, "find_values", map[string]any{"text": text})
		var r engine.FindValuesResult
		if o.isError || json.Unmarshal(o.structured, &r) != nil {
			t.Fatalf("find_values %q: %s", text, o.text)
		}
		return r
	}
	if r := find(t.Context(), "zanzibar treasure maps"); r.Mode != "index" || len(r.Matches) == 0 ||
		r.Matches[0].Value != "Zanzibar treasure map" || r.Matches[0].Table != "public.notes" || r.Matches[0].Column != "body" {
		t.Errorf("find_values without a role: %+v", r)
	}
	if r := find(ctx, "zanzibar"); r.Mode != "live" || len(r.Matches) != 0 {
		t.Errorf("find_values as alice reveals a row she cannot read: %+v", r)
	}
	if r := find(ctx, "GROCERIES"); r.Mode != "live" || len(r.Matches) != 1 || r.Matches[0].Value != "alice groceries" {
		t.Errorf("find_values as alice, her own row: %+v", r)
	}
	// eval as alice: the model's prompt has no hint from her hidden row,
	// and the outcome (what --out writes) holds nothing of it; the gold
	// query runs as her too, so it finds no such row.
	eng, err := engine.New(f.deps)
	if err != nil {
		t.Fatal(err)
	}
	before := len(f.fake.Requests())
	out := eng.Evaluate(ctx, engine.EvalCase{ID: "rls", Question: question, GoldSQL: "SELECT body FROM notes WHERE body LIKE 'Zanzibar%'"})
	line, _ := json.Marshal(out)
	reqs := f.fake.Requests()
	if len(reqs) <= before || out.GoldError != "" || out.Correct || strings.Contains(string(line), "Zanzibar") {
		t.Errorf("eval as alice: %s (model asked %d times)", line, len(reqs)-before)
	}
	for _, r := range reqs[before:] {
		for _, m := range r.Messages {
			if strings.Contains(m.Content, "Zanzibar treasure map") || strings.Contains(m.Content, "has '") {
				t.Errorf("eval as alice sent the model a value of a row she cannot read:\n%s", m.Content)
			}
		}
	}
	for _, args := range []map[string]any{{"text": ""}, {"text": strings.Repeat("x", 501)}, {"text": "a", "limit": 51}, {"text": "a", "tables": []any{"nope*"}}} {
		if o := f.call(t, t.Context(), "find_values", args); !o.isError {
			t.Errorf("find_values %v: %s, want an error", args, o.text)
		}
	}
}
