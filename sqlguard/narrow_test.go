package sqlguard

import (
	"errors"
	"strings"
	"testing"
)

func TestNarrow(t *testing.T) {
	cat, err := CatalogFromDDL(`CREATE TABLE a (x int, y int); CREATE TABLE b (id int);
		CREATE SCHEMA sales; CREATE TABLE sales.c (id int);`, []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	base := &Policy{SearchPath: []string{"public"}, AllowedRelations: []string{"public.a", "public.b", "sales.c"},
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
		extra, err := ParseNarrowingJSON([]byte(tc.extra))
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
	byschema := &Policy{SearchPath: []string{"public"}, AllowedSchemas: []string{"public"}, Catalog: cat}
	extra, _ := ParseNarrowingJSON([]byte(`{"allowed_relations": ["sales.c", "public.a"]}`))
	if p := Narrow(byschema, extra); strings.Join(p.AllowedRelations, ",") != "public.a" || len(p.AllowedSchemas) != 0 {
		t.Errorf("by schema: %+v", p)
	}
	extra, _ = ParseNarrowingJSON([]byte(`{"allowed_schemas": ["sales"]}`))
	if p := Narrow(byschema, extra); len(p.AllowedRelations) != 0 || len(p.AllowedSchemas) != 0 {
		t.Errorf("disjoint schemas must allow nothing: %+v", p)
	}
	var ge *Error
	if _, err := Check("SELECT 1 FROM public.a", Narrow(byschema, extra)); !errors.As(err, &ge) || ge.Code == CodeInvalidPolicy {
		t.Errorf("a policy narrowed to nothing: %v, want a refusal of the relation", err)
	}
	if _, err := Check("SELECT y FROM public.a", Narrow(byschema, &Policy{})); err != nil {
		t.Errorf("a narrowed policy resolves against the base's catalog: %v", err)
	}
}
