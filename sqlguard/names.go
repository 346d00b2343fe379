package sqlguard

import "sync"

// Mentionable reports whether name may appear in a message a caller under
// this policy sees (an error PostgreSQL raised, say): a schema the policy
// allows, a relation it lets be read, bare or schema-qualified, or a
// column of one that is not blocked, bare or qualified by its relation.
// Names compare as PostgreSQL prints them, case-sensitively. A bare column
// name that is blocked on any relation is never mentionable: the message
// could be about that relation. Without a catalog nothing is.
func (p *Policy) Mentionable(name string) bool {
	if p == nil || p.Catalog == nil {
		return false
	}
	c := p.compiled()
	if c.err != nil || c.rules == nil {
		return false
	}
	c.namesOnce.Do(c.buildNames)
	return c.names[name]
}

// buildNames fills c.names for Mentionable.
func (c *compiled) buildNames() {
	names := map[string]bool{}
	for s := range c.allowedSchema {
		names[s] = true
	}
	for _, r := range c.rules {
		if !r.allowed || r.denied || r.info == nil {
			continue
		}
		rel := r.info.rel
		names[rel.Name] = true
		names[rel.Schema+"."+rel.Name] = true
		for _, col := range rel.Columns {
			if containsFold(r.blocked, col.Name) {
				continue
			}
			if _, onDesc := r.descCols[lower(col.Name)]; onDesc {
				continue
			}
			names[rel.Name+"."+col.Name] = true
			if !c.blockedNames[lower(col.Name)] {
				names[col.Name] = true
			}
		}
	}
	c.names = names
}

// namesCache is the part of compiled that Mentionable fills on first use.
type namesCache struct {
	namesOnce sync.Once
	names     map[string]bool
}

// HidesColumn reports whether name (compared case-insensitively) is a
// column the policy blocks on some relation: text that mentions it, a plan's
// filter say, may be about blocked data.
func (p *Policy) HidesColumn(name string) bool {
	if p == nil {
		return false
	}
	c := p.compiled()
	if c.err != nil {
		return true
	}
	return c.blockedNames[lower(name)]
}
