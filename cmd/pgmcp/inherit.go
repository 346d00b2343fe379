package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pgmcp/pgmcp/sqlguard"
)

// inheritance is what a policy's blocks imply through table inheritance
// and partitioning, as the guard applies them: PostgreSQL reads every
// partition and child of a parent read without ONLY, so such a read is
// refused (blocked_descendant) when a descendant is blocked, not allowed,
// or has a blocked column; and a partition or child of a blocked table is
// blocked too.
type inheritance struct {
	// Parents are the readable parents a read of which without ONLY is
	// refused, each with why: "public.m (partition or child public.m_2024
	// blocked)".
	Parents []string
	// Children are the blocked tables with partitions or children, each
	// with the descendants blocked with it: "public.m: public.m_2024,
	// public.m_2025".
	Children []string
	// parents are the bare names of Parents.
	parents []string
	// parented counts the catalog's relations that have a parent.
	parented int
}

// inheritanceOf computes what p's blocks imply through the parents of its
// catalog (nothing without a catalog).
func inheritanceOf(p *sqlguard.Policy) inheritance {
	var out inheritance
	if p == nil || p.Catalog == nil {
		return out
	}
	rels := map[string]*sqlguard.Relation{}
	for i := range p.Catalog.Relations {
		r := &p.Catalog.Relations[i]
		key := r.Schema + "." + r.Name
		rels[key] = r
		if len(r.Parents) > 0 {
			out.parented++
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
				out.Children = append(out.Children, key+": "+listUpTo(desc, 5))
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
			why = append(why, "partition or child blocked: "+listUpTo(blockedDesc, 3))
		}
		if len(notAllowed) > 0 {
			why = append(why, "partition or child not allowed: "+listUpTo(notAllowed, 3))
		}
		if len(cols) > 0 {
			why = append(why, "column blocked on a partition or child: "+listUpTo(cols, 3))
		}
		if len(why) > 0 {
			out.parents = append(out.parents, key)
			out.Parents = append(out.Parents, fmt.Sprintf("%s (%s)", key, strings.Join(why, "; ")))
		}
	}
	return out
}

// empty reports whether the policy's blocks imply nothing through
// inheritance.
func (in inheritance) empty() bool { return len(in.Parents) == 0 && len(in.Children) == 0 }

// String says it in one line.
func (in inheritance) String() string {
	var parts []string
	if len(in.Parents) > 0 {
		parts = append(parts, fmt.Sprintf("reading %s without ONLY is refused (blocked_descendant): %s",
			plural(len(in.Parents), "this parent", "these parents"), summarize(in.Parents, 5)))
	}
	if len(in.Children) > 0 {
		parts = append(parts, "the partitions and children of a blocked table are blocked too: "+summarize(in.Children, 5))
	}
	return strings.Join(parts, "; ")
}

// listUpTo lists at most n items, comma-separated, and says how many more
// there are.
func listUpTo(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}
