package tools

import (
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/tools/engine"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// TestShadowStopsQueries: a function or operator that shadows an allowed
// builtin, created while pgmcp serves, stops the database's queries and
// plans within ShadowInterval, until it is dropped.
func TestShadowStopsQueries(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{})
	ok := func(when string) {
		t.Helper()
		if o := f.query(t, map[string]any{"sql": "SELECT upper(first_name) AS u FROM customers ORDER BY id LIMIT 1"}); o.isError {
			t.Fatalf("%s: %s", when, o.text)
		}
	}
	ok("before")
	for _, shadow := range []struct{ create, drop string }{
		{`CREATE FUNCTION public.upper(varchar) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'shadowed' $$;
		  GRANT EXECUTE ON FUNCTION public.upper(varchar) TO PUBLIC`, "DROP FUNCTION public.upper(varchar)"},
		{`CREATE FUNCTION public.eq_shadow(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
		  CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.eq_shadow)`,
			"DROP OPERATOR public.= (text, text); DROP FUNCTION public.eq_shadow(text, text)"},
	} {
		f.db.Exec(t, shadow.create)
		time.Sleep(engine.ShadowInterval)
		for _, args := range []map[string]any{
			{"sql": "SELECT upper(first_name) AS u FROM customers ORDER BY id LIMIT 1"},
			{"sql": "SELECT 1 AS one"}, // stops every query, not only those calling the name
		} {
			o := f.query(t, args)
			if !o.isError || o.err.Code != string(pgexec.CodeFunctionShadowed) {
				t.Errorf("after %q, query %v: %s, want %s", shadow.create, args, o.text, pgexec.CodeFunctionShadowed)
			}
		}
		if o, _ := f.explain(t, map[string]any{"sql": "SELECT 1 AS one"}); !o.isError || o.err.Code != string(pgexec.CodeFunctionShadowed) {
			t.Errorf("after %q, explain: %s, want %s", shadow.create, o.text, pgexec.CodeFunctionShadowed)
		}
		f.db.Exec(t, shadow.drop)
		time.Sleep(engine.ShadowInterval)
		ok("after " + shadow.drop)
	}
}
