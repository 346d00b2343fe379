package sqlguard

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"

	pg "github.com/pganalyze/pg_query_go/v5"
)

// Catalog is a snapshot of what a database holds, as plain data: the
// relations of some schemas with their columns, the composite types, and
// how tables inherit from each other. sqlguard resolves every name of a
// query against it, as PostgreSQL does, so that it can tell a column from a
// function call (t.f is f(t) when f is not a column of t) and a column from
// a whole-row reference.
//
// The code that introspects the database (tools/pgexec.LoadCatalog) or that
// reads DDL (CatalogFromDDL) builds it; sqlguard never does I/O. A Catalog
// must not be changed once a Policy that holds it has been used.
type Catalog struct {
	// Schemas are the schemas whose relations are all listed. An
	// unqualified name is resolved only through search-path schemas listed
	// here; a name in another schema is refused as unresolved.
	Schemas []string
	// Relations are the tables, partitioned tables, views, materialized
	// views and foreign tables of Schemas (and of any other schema the
	// snapshot chose to include).
	Relations []Relation
	// Types are the composite types (CREATE TYPE … AS (…)) of Schemas.
	// The row type of a relation need not be listed: it is the relation's
	// own name and columns.
	Types []CompositeType

	once sync.Once
	idx  *catalogIndex
}

// RelKind is a relation kind, as pg_class.relkind spells it.
type RelKind string

// Relation kinds.
const (
	KindTable       RelKind = "r"
	KindPartitioned RelKind = "p"
	KindView        RelKind = "v"
	KindMatView     RelKind = "m"
	KindForeign     RelKind = "f"
)

// Relation is one relation of the catalog.
type Relation struct {
	Schema string
	Name   string
	Kind   RelKind
	// Columns in attnum order, dropped columns left out.
	Columns []Column
	// SystemColumns are the system columns the relation has (tableoid,
	// ctid, xmin, cmin, xmax, cmax for a table; none for a view).
	SystemColumns []string
	// Parents are the tables this one inherits from or is a partition of,
	// as "schema.name".
	Parents []string
}

// Column is a column of a relation or a field of a composite type.
type Column struct {
	Name string
	// Type names the column's type when it is a composite type (or an array
	// of one, with a "[]" suffix), as "schema.name"; other types may be
	// named or left empty: only composite types matter to the guard.
	Type string
}

// CompositeType is a standalone composite type.
type CompositeType struct {
	Schema string
	Name   string
	Fields []Column
}

// SystemColumnNames are the system columns of a table in PostgreSQL 12 and
// later.
var SystemColumnNames = []string{"tableoid", "ctid", "xmin", "cmin", "xmax", "cmax"}

// catalogIndex is the lookup form of a Catalog.
type catalogIndex struct {
	schemas  map[string]bool
	rels     map[string]*relInfo // "schema.name" -> relation
	types    map[string][]Column // "schema.name" -> fields (types and row types)
	children map[string][]string // "schema.name" -> direct children
}

// relInfo is one catalog relation with its derived facts.
type relInfo struct {
	key  string // schema.name
	rel  *Relation
	desc []string // every descendant (inheritance children, partitions), transitively
}

func (c *Catalog) index() *catalogIndex {
	c.once.Do(func() {
		x := &catalogIndex{schemas: map[string]bool{}, rels: map[string]*relInfo{},
			types: map[string][]Column{}, children: map[string][]string{}}
		for _, s := range c.Schemas {
			x.schemas[s] = true
		}
		for i := range c.Relations {
			r := &c.Relations[i]
			key := r.Schema + "." + r.Name
			x.rels[key] = &relInfo{key: key, rel: r}
			x.types[key] = r.Columns
			for _, p := range r.Parents {
				x.children[p] = append(x.children[p], key)
			}
		}
		for _, t := range c.Types {
			x.types[t.Schema+"."+t.Name] = t.Fields
		}
		for key, ri := range x.rels {
			seen := map[string]bool{key: true}
			stack := append([]string(nil), x.children[key]...)
			for len(stack) > 0 {
				k := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if seen[k] {
					continue
				}
				seen[k] = true
				ri.desc = append(ri.desc, k)
				stack = append(stack, x.children[k]...)
			}
		}
		c.idx = x
	})
	return c.idx
}

// Ancestors returns the tables relation key ("schema.name") inherits from
// or is a partition of, transitively, sorted.
func (c *Catalog) Ancestors(key string) []string {
	a := c.index().ancestors(key)
	sort.Strings(a)
	return a
}

// Descendants returns the inheritance children and partitions of relation
// key, transitively, sorted: what reading it without ONLY also reads.
func (c *Catalog) Descendants(key string) []string {
	ri := c.index().rels[key]
	if ri == nil {
		return nil
	}
	d := append([]string(nil), ri.desc...)
	sort.Strings(d)
	return d
}

// ancestors returns every ancestor of key, transitively.
func (x *catalogIndex) ancestors(key string) []string {
	var out []string
	seen := map[string]bool{key: true}
	stack := []string{key}
	for len(stack) > 0 {
		k := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		ri := x.rels[k]
		if ri == nil {
			continue
		}
		for _, p := range ri.rel.Parents {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
				stack = append(stack, p)
			}
		}
	}
	return out
}

// fields returns the fields of the composite type a column's Type names
// (nil when it is not a known composite type).
func (x *catalogIndex) fields(typ string) ([]Column, bool) {
	if typ == "" || strings.HasSuffix(typ, "[]") {
		return nil, false
	}
	f, ok := x.types[typ]
	return f, ok
}

// viewColumns returns the output columns of a view's query resolved against
// c (used by CatalogFromDDL for CREATE VIEW without a column list). Every
// relation of c may be read; the rest of the guard's rules apply.
func viewColumns(c *Catalog, searchPath []string, sel *pg.SelectStmt) ([]Column, error) {
	if len(searchPath) == 0 {
		searchPath = []string{"public"}
	}
	schemas := map[string]bool{}
	for _, r := range c.Relations {
		schemas[r.Schema] = true
	}
	p := &Policy{SearchPath: searchPath, Catalog: c}
	for s := range schemas {
		if !isSystemSchema(s) {
			p.AllowedSchemas = append(p.AllowedSchemas, s)
		}
	}
	// The catalog is still being built: index a copy, not c itself.
	snap := &Catalog{Schemas: c.Schemas, Relations: c.Relations, Types: c.Types}
	p.Catalog = snap
	cp := compilePolicy(p)
	if cp.err != nil {
		return nil, cp.err
	}
	w := walker{c: cp, maxDepth: cp.maxDepth}
	out := w.selectStmt(sel)
	if w.err != nil {
		return nil, w.err
	}
	cols := make([]Column, len(out))
	for i, o := range out {
		if !o.certain {
			return nil, errors.New("view column " + strconv.Itoa(i+1) + " has no name the guard is sure of")
		}
		cols[i] = Column{Name: o.name, Type: o.typ}
	}
	return cols, nil
}
