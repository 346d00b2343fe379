package oracle

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// EXPLAIN names a relation's columns as the query's range table does, not
// as the catalog does: a column alias list renames them
// (FROM country AS s(a, x) prints the column country as s.x), inheritance
// children take their parent's (possibly renamed) names, and names made
// duplicate by a list get a suffix (_1, _2…, ruleutils'
// make_colname_unique). The plan does not carry the lists, so they are
// read from the query (pg_query), and the printed names are mapped back
// to the catalog's.

// errUnmappable is returned when the column names of a scan cannot be told
// (the same alias on the same relation with different column alias lists
// at several places of the query). Such queries are counted, not judged.
var errUnmappable = errors.New("the oracle cannot map the column alias lists of the query to the plan")

// rangeVar is a relation reference of the query with its alias.
type rangeVar struct {
	relname string   // as parsed (folded)
	name    string   // the alias, or the relation name without one
	cols    []string // the column alias list, or nil
}

// rangeVars lists every relation reference of sql, at every level.
func rangeVars(sql string) ([]rangeVar, error) {
	tree, err := pg.Parse(sql)
	if err != nil {
		return nil, err
	}
	var out []rangeVar
	var visit func(m protoreflect.Message)
	visit = func(m protoreflect.Message) {
		if rv, ok := m.Interface().(*pg.RangeVar); ok {
			r := rangeVar{relname: rv.Relname, name: rv.Relname}
			if a := rv.GetAlias(); a != nil {
				r.name = a.Aliasname
				for _, c := range a.Colnames {
					r.cols = append(r.cols, c.GetString_().GetSval())
				}
			}
			out = append(out, r)
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					visit(l.Get(i).Message())
				}
			case fd.Message() != nil && !fd.IsMap():
				visit(v.Message())
			}
			return true
		})
	}
	for _, s := range tree.Stmts {
		visit(s.ProtoReflect())
	}
	return out, nil
}

var uniqueSuffix = regexp.MustCompile(`^(.*)_[0-9]+$`)

// printedColumns returns the names EXPLAIN prints for the columns of rel
// (in attnum order) when it is scanned under plan alias alias.
func printedColumns(meta *dbMeta, rvs []rangeVar, alias, rel string) ([]string, error) {
	rm := meta.rels[rel]
	if rm == nil {
		return nil, nil
	}
	tableName := func(key string) string { _, t, _ := strings.Cut(key, "."); return t }
	// The reference the scan comes from: its alias is the plan alias, or
	// the plan alias without the suffix EXPLAIN added to make it unique;
	// its relation is rel or an ancestor (an inheritance child's scan).
	var lists [][]string
	var from []string
	for _, try := range []string{alias, uniqueSuffix.ReplaceAllString(alias, "$1")} {
		for _, rv := range rvs {
			if rv.name != try {
				continue
			}
			target := ""
			if rv.relname == tableName(rel) {
				target = rel
			} else {
				for _, a := range rm.ancestors {
					if tableName(a) == rv.relname {
						target = a
						break
					}
				}
			}
			if target == "" {
				continue
			}
			lists = append(lists, rv.cols)
			from = append(from, target)
		}
		if len(lists) > 0 {
			break
		}
	}
	var aliasCols []string
	source := rel
	if len(lists) > 0 {
		aliasCols, source = lists[0], from[0]
	}
	for i := 1; i < len(lists); i++ {
		if strings.Join(lists[i], "\x00") != strings.Join(aliasCols, "\x00") || (len(aliasCols) > 0 && from[i] != source) {
			return nil, fmt.Errorf("%w: %s (alias %s)", errUnmappable, rel, alias)
		}
	}
	names := make([]string, len(rm.columns))
	if len(aliasCols) == 0 {
		copy(names, rm.columns)
	} else {
		// The source relation's names after the list…
		sm := meta.rels[source]
		eref := map[string]string{}
		for j, c := range sm.columns {
			if j < len(aliasCols) {
				eref[c] = aliasCols[j]
			} else {
				eref[c] = c
			}
		}
		// …carried to rel's columns by name (inherited columns keep their
		// names), rel's own columns keeping theirs.
		for i, c := range rm.columns {
			if n, ok := eref[c]; ok {
				names[i] = n
			} else {
				names[i] = c
			}
		}
	}
	used := map[string]bool{}
	for i, n := range names {
		if used[n] {
			for k := 1; ; k++ {
				m := fmt.Sprintf("%s_%d", n, k)
				if !used[m] {
					n = m
					break
				}
			}
		}
		used[n] = true
		names[i] = n
	}
	return names, nil
}
