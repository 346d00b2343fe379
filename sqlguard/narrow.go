package sqlguard

import (
	"slices"
	"strings"
)

// Narrow returns base restricted by extra: extra's blocked relations and
// columns are added, and when extra lists allowed relations or schemas,
// only what both allow stays allowed. It never widens base. The result
// resolves names against base's Catalog.
func Narrow(base, extra *Policy) *Policy {
	p := &Policy{
		Database:         base.Database,
		SearchPath:       base.SearchPath,
		AllowedSchemas:   append([]string(nil), base.AllowedSchemas...),
		AllowedRelations: append([]string(nil), base.AllowedRelations...),
		BlockedRelations: append(append([]string(nil), base.BlockedRelations...), extra.BlockedRelations...),
		BlockedColumns:   map[string][]string{},
		MaxSQLBytes:      base.MaxSQLBytes, MaxSeriesRows: base.MaxSeriesRows, MaxStringBytes: base.MaxStringBytes,
		MaxArrayElements: base.MaxArrayElements, MaxDepth: base.MaxDepth,
		// The same snapshot: narrowing only takes away.
		Catalog: base.Catalog,
	}
	for _, m := range []map[string][]string{base.BlockedColumns, extra.BlockedColumns} {
		for t, cols := range m {
			p.BlockedColumns[t] = append(p.BlockedColumns[t], cols...)
		}
	}
	fold := func(list []string) map[string]bool {
		set := map[string]bool{}
		for _, s := range list {
			set[strings.ToLower(s)] = true
		}
		return set
	}
	keep := func(rel string) bool {
		if len(extra.AllowedRelations) > 0 && !fold(extra.AllowedRelations)[strings.ToLower(rel)] {
			return false
		}
		if len(extra.AllowedSchemas) > 0 {
			s, _, _ := strings.Cut(rel, ".")
			return fold(extra.AllowedSchemas)[strings.ToLower(s)]
		}
		return true
	}
	if len(extra.AllowedRelations) == 0 && len(extra.AllowedSchemas) == 0 {
		return p
	}
	if len(p.AllowedRelations) == 0 {
		// A base by schema: intersect the schemas first.
		inBase := fold(base.AllowedSchemas)
		if len(extra.AllowedSchemas) > 0 {
			p.AllowedSchemas = slices.DeleteFunc(p.AllowedSchemas, func(s string) bool { return !fold(extra.AllowedSchemas)[strings.ToLower(s)] })
		}
		if len(extra.AllowedRelations) == 0 {
			if len(p.AllowedSchemas) == 0 {
				p.AllowedSchemas = nil // nothing both allow
			}
			return p
		}
		p.AllowedRelations = slices.DeleteFunc(append([]string(nil), extra.AllowedRelations...), func(r string) bool {
			s, _, _ := strings.Cut(r, ".")
			return !inBase[strings.ToLower(s)] || !keep(r)
		})
	} else {
		p.AllowedRelations = slices.DeleteFunc(p.AllowedRelations, func(r string) bool { return !keep(r) })
	}
	// An exact list now decides; when it is empty nothing is allowed, and
	// the schemas must not take over.
	p.AllowedSchemas = nil
	if len(p.AllowedRelations) == 0 {
		p.AllowedRelations = nil
	}
	return p
}
