package engine

import (
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/sqlguard"
)

// inheritCatalog: public.m is partitioned (m_2024, m_2025, and m_2025 into
// m_2025_a), public.p has an inheritance child public.c and a grandchild
// other.g (outside the allowed schemas), public.q has a child public.q1.
func inheritCatalog() *sqlguard.Catalog {
	rel := func(schema, name string, kind sqlguard.RelKind, parents ...string) sqlguard.Relation {
		return sqlguard.Relation{Schema: schema, Name: name, Kind: kind, Parents: parents,
			Columns: []sqlguard.Column{{Name: "id"}, {Name: "secret"}}, SystemColumns: sqlguard.SystemColumnNames}
	}
	return &sqlguard.Catalog{Schemas: []string{"public"}, Relations: []sqlguard.Relation{
		rel("public", "m", sqlguard.KindPartitioned),
		rel("public", "m_2024", sqlguard.KindTable, "public.m"),
		rel("public", "m_2025", sqlguard.KindPartitioned, "public.m"),
		rel("public", "m_2025_a", sqlguard.KindTable, "public.m_2025"),
		rel("public", "p", sqlguard.KindTable),
		rel("public", "c", sqlguard.KindTable, "public.p"),
		rel("other", "g", sqlguard.KindTable, "public.c"),
		rel("public", "q", sqlguard.KindTable),
		rel("public", "q1", sqlguard.KindTable, "public.q"),
		rel("public", "plain", sqlguard.KindTable),
	}}
}

func TestInheritanceOf(t *testing.T) {
	for _, tc := range []struct {
		name              string
		policy            sqlguard.Policy
		parents, children []string
	}{
		{name: "nothing blocked, but a grandchild outside the allowed schemas",
			policy:  sqlguard.Policy{AllowedSchemas: []string{"public"}},
			parents: []string{"public.c (partition or child not allowed: other.g)", "public.p (partition or child not allowed: other.g)"}},
		{name: "a blocked partition",
			policy: sqlguard.Policy{AllowedSchemas: []string{"public", "other"}, BlockedRelations: []string{"public.m_2025_a"}},
			parents: []string{"public.m (partition or child blocked: public.m_2025_a)",
				"public.m_2025 (partition or child blocked: public.m_2025_a)"}},
		{name: "a blocked parent",
			policy:   sqlguard.Policy{AllowedSchemas: []string{"public", "other"}, BlockedRelations: []string{"public.m", "PUBLIC.M_2024"}},
			children: []string{"public.m: public.m_2024, public.m_2025, public.m_2025_a"}},
		{name: "a blocked column on a child",
			policy: sqlguard.Policy{AllowedSchemas: []string{"public", "other"}, BlockedColumns: map[string][]string{
				"public.q1": {"secret"}, "public.c": {"secret"}, "public.p": {"secret"}}},
			parents: []string{"public.q (column blocked on a partition or child: public.q1.secret)"}},
		{name: "an exact list",
			policy: sqlguard.Policy{AllowedRelations: []string{"public.q", "public.q1", "public.m", "public.m_2024", "public.m_2025"},
				BlockedRelations: []string{"public.p"}},
			parents:  []string{"public.m (partition or child not allowed: public.m_2025_a)", "public.m_2025 (partition or child not allowed: public.m_2025_a)"},
			children: []string{"public.p: other.g, public.c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			p.Catalog = inheritCatalog()
			in := InheritanceOf(&p)
			if strings.Join(in.Parents, "\n") != strings.Join(tc.parents, "\n") {
				t.Errorf("parents:\n%s\nwant\n%s", strings.Join(in.Parents, "\n"), strings.Join(tc.parents, "\n"))
			}
			if strings.Join(in.Children, "\n") != strings.Join(tc.children, "\n") {
				t.Errorf("children:\n%s\nwant\n%s", strings.Join(in.Children, "\n"), strings.Join(tc.children, "\n"))
			}
			if in.Empty() != (len(tc.parents)+len(tc.children) == 0) {
				t.Errorf("Empty() = %v", in.Empty())
			}
			s := in.String()
			if len(tc.parents) > 0 && (!strings.Contains(s, "without ONLY is refused (blocked_descendant)") || !strings.Contains(s, tc.parents[0])) {
				t.Errorf("String() = %q", s)
			}
			if len(tc.children) > 0 && !strings.Contains(s, "blocked too: "+tc.children[0]) {
				t.Errorf("String() = %q", s)
			}
		})
	}
	if in := InheritanceOf(&sqlguard.Policy{AllowedSchemas: []string{"public"}}); !in.Empty() || in.String() != "" {
		t.Errorf("no catalog: %+v", in)
	}
}
