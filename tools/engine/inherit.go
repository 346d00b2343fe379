package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pgmcp/pgmcp/sqlguard"
)

// Inheritance is what a policy's blocks imply through table inheritance
// and partitioning, as the guard applies them: PostgreSQL reads every
// partition and child of a parent read without ONLY, so such a read is
// refused (blocked_descendant) when a descendant is blocked, not allowed,
// or has a blocked column; and a partition or child of a blocked table is
// blocked too.
type Inheritance struct {
	// Parents are the readable parents a read of which without ONLY is
	// refused, each with why: "public.m (partition or child public.m_2024
	// blocked)".
	Parents []string
	// Children are the blocked tables with partitions or children, each
	// with the descendants blocked with it: "public.m: public.m_2024,
	// public.m_2025".
	Children []string
	// ParentNames are the bare names of Parents.
	ParentNames []string
	// Parented counts the catalog's relations that have a parent.
	Parented int
}

// InheritanceOf computes what p's blocks imply through the parents of its
// catalog (nothing without a catalog).
func InheritanceOf(p *sqlguard.Policy) Inheritance {
	var out Inheritance
	if p == nil || p.Catalog == nil {
		return out
	}
	rels := map[string]*sqlguard.Relation{}
	for i := range p.Catalog.Relations {
		r := &p.Catalog.Relations[i]
		key := r.Schema + "." + r.Name
		rels[key] = r
		if len(r.Parents) > 0 {
			out.Parented++
		}
	}
	blocked := map[string]bool{}
	for _, b := range p.BlockedRelations {
		blocked[strings.ToLower(b)] = true
	}
	blockedCols := map[string][]string{}
	for t, cols := range p.BlockedColumns {
		blockedCols[strings.ToLower(t)] = append(blockedCols[strings.ToLower(t)], cols...)
	}
	allowedRel := map[string]bool{}
	for _, r := range p.AllowedRelations {
		allowedRel[r] = true
	}
	allowedSchema := map[string]bool{}
	for _, s := range p.AllowedSchemas {
		allowedSchema[s] = true
	}
	allowed := func(key string) bool {
		if len(p.AllowedRelations) > 0 {
			return allowedRel[key]
		}
		return rels[key] != nil && allowedSchema[rels[key].Schema]
	}
	denied := func(key string) bool {
		if blocked[strings.ToLower(key)] {
			return true
		}
		for _, a := range p.Catalog.Ancestors(key) {
			if blocked[strings.ToLower(a)] {
				return true
			}
		}
		return false
	}

	keys := make([]string, 0, len(rels))
	for k := range rels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		desc := p.Catalog.Descendants(key)
		if len(desc) == 0 {
			continue
		}
		if blocked[strings.ToLower(key)] {
			// Name a blocked table once, at the top of its blocked tree.
			top := true
			for _, a := range p.Catalog.Ancestors(key) {
				if blocked[strings.ToLower(a)] {
					top = false
				}
			}
			if top {
				out.Children = append(out.Children, key+": "+listUpTo(desc, 5, ", "))
			}
			continue
		}
		if !allowed(key) || denied(key) {
			continue
		}
		// The columns blocked on key, directly or through its ancestors.
		own := blockedCols[strings.ToLower(key)]
		for _, a := range p.Catalog.Ancestors(key) {
			own = append(own, blockedCols[strings.ToLower(a)]...)
		}
		var notAllowed, cols, blockedDesc []string
		for _, d := range desc {
			switch {
			case denied(d):
				blockedDesc = append(blockedDesc, d)
			case !allowed(d):
				notAllowed = append(notAllowed, d)
			default:
				for _, c := range blockedCols[strings.ToLower(d)] {
					if !slices.ContainsFunc(own, func(s string) bool { return strings.EqualFold(s, c) }) {
						cols = append(cols, d+"."+c)
					}
				}
			}
		}
		var why []string
		if len(blockedDesc) > 0 {
			why = append(why, "partition or child blocked: "+listUpTo(blockedDesc, 3, ", "))
		}
		if len(notAllowed) > 0 {
			why = append(why, "partition or child not allowed: "+listUpTo(notAllowed, 3, ", "))
		}
		if len(cols) > 0 {
			why = append(why, "column blocked on a partition or child: "+listUpTo(cols, 3, ", "))
		}
		if len(why) > 0 {
			out.ParentNames = append(out.ParentNames, key)
			out.Parents = append(out.Parents, fmt.Sprintf("%s (%s)", key, strings.Join(why, "; ")))
		}
	}
	return out
}

// Empty reports whether the policy's blocks imply nothing through
// inheritance.
func (in Inheritance) Empty() bool { return len(in.Parents) == 0 && len(in.Children) == 0 }

// String says it in one line.
func (in Inheritance) String() string {
	var parts []string
	if len(in.Parents) > 0 {
		parts = append(parts, fmt.Sprintf("reading %s without ONLY is refused (blocked_descendant): %s",
			pick(len(in.Parents), "this parent", "these parents"), listUpTo(in.Parents, 5, "; ")))
	}
	if len(in.Children) > 0 {
		parts = append(parts, "the partitions and children of a blocked table are blocked too: "+listUpTo(in.Children, 5, "; "))
	}
	return strings.Join(parts, "; ")
}

// listUpTo lists at most n items, joined by sep, and says how many more
// there are.
func listUpTo(items []string, n int, sep string) string {
	if len(items) <= n {
		return strings.Join(items, sep)
	}
	more := fmt.Sprintf(" and %d more", len(items)-n)
	if sep != ", " {
		more = sep + more[1:] // "a; b; and 3 more"
	}
	return strings.Join(items[:n], sep) + more
}
