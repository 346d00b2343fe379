package schema

import (
	"strings"
)

// Filter says what may be shown. The server builds it from the sqlguard
// policy.
//
// Allowed names ([Filter.Schemas], [Filter.Relations]) are compared as
// PostgreSQL stores them, as sqlguard does. Blocked names are compared
// case-insensitively after canonicalisation (surrounding space and double
// quotes removed, lower case), so a block also catches quoted spellings. A
// blocked name without a schema ("api_keys") blocks that name in every
// schema.
type Filter struct {
	// Schemas are the schemas to read. Empty means none.
	Schemas []string
	// Relations, when not empty, are the only "schema.table" names shown.
	Relations []string
	// BlockedTables are "schema.table" names never shown. A partition of a
	// blocked table is blocked too (partitions are folded into their parent
	// and never shown on their own).
	BlockedTables []string
	// BlockedColumns maps "schema.table" to column names never shown.
	BlockedColumns map[string][]string
}

// policy is a compiled Filter.
type policy struct {
	schemas       []string            // as given, for SQL
	relations     map[string]bool     // exact "schema.table"; nil: all
	blockedTables map[string]bool     // canonical "schema.table" or bare "table"
	blockedCols   map[string][]string // canonical "schema.table" or bare "table" → canonical columns
}

func compile(f Filter) *policy {
	p := &policy{schemas: append([]string(nil), f.Schemas...), blockedTables: map[string]bool{}, blockedCols: map[string][]string{}}
	if len(f.Relations) > 0 {
		p.relations = make(map[string]bool, len(f.Relations))
		for _, r := range f.Relations {
			p.relations[unquoteName(r)] = true
		}
	}
	for _, b := range f.BlockedTables {
		p.blockedTables[canonical(b)] = true
	}
	for t, cols := range f.BlockedColumns {
		key := canonical(t)
		for _, c := range cols {
			p.blockedCols[key] = append(p.blockedCols[key], canonical(c))
		}
	}
	return p
}

// canonical folds a possibly quoted, possibly qualified name for comparison
// with a block: each part unquoted, lower case, joined with ".".
func canonical(name string) string { return strings.ToLower(unquoteName(name)) }

// unquoteName removes surrounding space and double quotes from each part of
// a dotted name ("Sales"."Orders" → Sales.Orders).
func unquoteName(name string) string {
	parts := splitName(strings.TrimSpace(name))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			p = strings.ReplaceAll(p[1:len(p)-1], `""`, `"`)
		}
		parts[i] = p
	}
	return strings.Join(parts, ".")
}

// splitName splits on dots outside double quotes.
func splitName(s string) []string {
	var parts []string
	var b strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			b.WriteRune(r)
		case r == '.' && !quoted:
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteRune(r)
		}
	}
	return append(parts, b.String())
}

// tableBlocked reports whether schema.table may not be shown: blocked, or
// not in the explicit relation list.
func (p *policy) tableBlocked(schema, table string) bool {
	if p.blockedTables[strings.ToLower(schema+"."+table)] || p.blockedTables[strings.ToLower(table)] {
		return true
	}
	return p.relations != nil && !p.relations[schema+"."+table]
}

// blockedColumns returns the canonical blocked column names of a table.
func (p *policy) blockedColumns(schema, table string) []string {
	q := p.blockedCols[strings.ToLower(schema+"."+table)]
	if b := p.blockedCols[strings.ToLower(table)]; len(b) > 0 {
		q = append(append([]string(nil), q...), b...)
	}
	return q
}

func (p *policy) columnBlocked(schema, table, column string) bool {
	c := strings.ToLower(column)
	for _, b := range p.blockedColumns(schema, table) {
		if b == c {
			return true
		}
	}
	return false
}

// sqlBlocks returns the blocks as lists for SQL: canonical tables
// ("schema.table" and bare "table") and canonical columns
// ("schema.table.column" and bare "table.column").
func (p *policy) sqlBlocks() (tables, columns []string) {
	tables = []string{}
	columns = []string{}
	for t := range p.blockedTables {
		tables = append(tables, t)
	}
	for t, cols := range p.blockedCols {
		for _, c := range cols {
			columns = append(columns, t+"."+c)
		}
	}
	return tables, columns
}

// relationList returns the explicit relation list for SQL (nil: all).
func (p *policy) relationList() []string {
	if p.relations == nil {
		return nil
	}
	out := make([]string, 0, len(p.relations))
	for r := range p.relations {
		out = append(out, r)
	}
	return out
}
