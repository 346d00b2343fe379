package sqlguard

import (
	"fmt"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"
)

// CatalogFromDDL builds a Catalog from DDL text, as a database that ran it
// would hold it: CREATE SCHEMA (with its elements), TABLE (columns in
// order, INHERITS with the inherited columns first and merged by name,
// PARTITION OF, LIKE, OF type), FOREIGN TABLE, VIEW, MATERIALIZED VIEW and
// CREATE TABLE AS, TYPE … AS (…), DOMAIN and ENUM/RANGE types (which only
// matter as type names); ALTER TABLE ADD/DROP/ALTER COLUMN, ATTACH/DETACH
// PARTITION, [NO] INHERIT; ALTER TYPE ADD/DROP ATTRIBUTE; renames, SET
// SCHEMA and DROP of those objects; SET search_path and
// set_config('search_path', …). Every other statement (INSERT, COPY, CREATE
// INDEX, GRANT, COMMENT, functions…) is ignored, and so are the data lines
// of COPY … FROM stdin and psql meta-commands, so a pg_dump file can be
// given as it is. Nothing is executed: what a DO block or a function would
// create is not in the catalog.
//
// Unqualified names are created in the first schema of searchPath (public
// when empty), or of the search_path the text sets, and are looked up
// through it. A column whose type is a composite type or a row type defined
// earlier in the text gets Type "schema.name" ("schema.name[]" for an
// array); other columns get the type's name. The columns of a view without
// a column list are those viewColumns resolves (none when it cannot).
//
// The text must parse as a whole (the error is returned otherwise), and a
// statement that refers to a relation the text has not created (INHERITS,
// PARTITION OF, LIKE, OF, ATTACH PARTITION, ALTER TABLE … ADD COLUMN…) is
// an error too, since the catalog would not be what the database holds.
// Statements PostgreSQL would refuse for other reasons (a name created
// twice, a drop with dependents and no CASCADE) are ignored, as psql
// without ON_ERROR_STOP would.
func CatalogFromDDL(ddl string, searchPath []string) (*Catalog, error) {
	tree, err := pg.Parse(stripPsqlData(ddl))
	if err != nil {
		return nil, fmt.Errorf("schema DDL: %w", err)
	}
	b := newDDLBuilder(searchPath)
	for _, raw := range tree.Stmts {
		if err := b.stmt(raw.Stmt, ""); err != nil {
			// StmtLocation is where the previous statement ended: count
			// lines up to the statement's first non-blank character.
			loc := min(int(raw.StmtLocation), len(ddl))
			rest := ddl[loc:]
			loc += len(rest) - len(strings.TrimLeft(rest, " \t\r\n"))
			return nil, fmt.Errorf("schema DDL, statement at line %d: %w", 1+strings.Count(ddl[:loc], "\n"), err)
		}
	}
	return b.catalog(), nil
}

// ddlObj is one object of the type namespace: a relation (its row type), a
// composite type, a domain or another type. They share one namespace per
// schema in PostgreSQL (pg_type, and pg_class for relations and composite
// types), so a name is created once.
type ddlObj struct {
	schema, name string
	kind         ddlKind
	cols         []*ddlCol // relations and composite types
	parents      []*ddlObj // inheritance parents / partitioned parent
	partOf       bool      // a partition (of parents[0])
	ofType       *ddlObj   // typed table: CREATE TABLE … OF type
	base         typeRef   // domain: the base type
	typedTables  []*ddlObj // composite type: the typed tables of it
	dropped      bool
}

type ddlKind byte

const (
	objTable       = ddlKind('r') // the relation kinds are RelKind's letters
	objPartitioned = ddlKind('p')
	objView        = ddlKind('v')
	objMatView     = ddlKind('m')
	objForeign     = ddlKind('f')
	objComposite   = ddlKind('c')
	objSequence    = ddlKind('S')
	objDomain      = ddlKind('d')
	objOtherType   = ddlKind('o') // enum, range, base or shell type
)

func (o *ddlObj) key() string { return o.schema + "." + o.name }

// isRelation: a relation of the catalog (it has columns and is readable).
func (o *ddlObj) isRelation() bool {
	switch o.kind {
	case objTable, objPartitioned, objView, objMatView, objForeign:
		return true
	}
	return false
}

// hasColumns: a relation or a composite type.
func (o *ddlObj) hasColumns() bool { return o.isRelation() || o.kind == objComposite }

func (o *ddlObj) col(name string) (int, *ddlCol) {
	for i, c := range o.cols {
		if c.name == name {
			return i, c
		}
	}
	return -1, nil
}

// ddlCol is a column with PostgreSQL's inheritance bookkeeping (attislocal,
// attinhcount), which decides what DROP COLUMN does to children.
type ddlCol struct {
	name  string
	typ   typeRef
	local bool
	inh   int
}

// typeRef is a column type: a composite type or row type of the text (obj),
// or a type known by name only.
type typeRef struct {
	obj   *ddlObj
	name  string
	array bool
}

func (t typeRef) String() string {
	s := t.name
	if t.obj != nil {
		s = t.obj.key()
	}
	if t.array && s != "" {
		s += "[]"
	}
	return s
}

type ddlBuilder struct {
	defaultPath []string
	path        []string        // the current search_path
	known       map[string]bool // schemas that exist
	seen        []string        // schemas in order of appearance
	seenSet     map[string]bool
	objs        map[string]*ddlObj
	all         []*ddlObj
}

func newDDLBuilder(searchPath []string) *ddlBuilder {
	path := append([]string(nil), searchPath...)
	if len(path) == 0 {
		path = []string{"public"}
	}
	b := &ddlBuilder{defaultPath: path, path: path, known: map[string]bool{"public": true},
		seenSet: map[string]bool{}, objs: map[string]*ddlObj{}}
	for _, s := range path {
		b.known[s] = true
	}
	return b
}

func (b *ddlBuilder) see(schema string) {
	b.known[schema] = true
	if !b.seenSet[schema] {
		b.seenSet[schema] = true
		b.seen = append(b.seen, schema)
	}
}

// forget a schema that was dropped or renamed.
func (b *ddlBuilder) forget(schema string) {
	delete(b.known, schema)
	delete(b.seenSet, schema)
	b.seen = slices.DeleteFunc(b.seen, func(s string) bool { return s == schema })
}

// lookupPath: the schemas an unqualified name is looked up in.
func (b *ddlBuilder) lookupPath() []string {
	var out []string
	for _, s := range b.path {
		if strings.HasPrefix(s, "$") || isTempSchema(s) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// creationSchema: where an unqualified name is created (the first existing
// schema of the path, as PostgreSQL does).
func (b *ddlBuilder) creationSchema(override string) (string, error) {
	if override != "" {
		return override, nil
	}
	for _, s := range b.lookupPath() {
		if b.known[s] && !isSystemSchema(s) {
			return s, nil
		}
	}
	return "", fmt.Errorf("no schema has been selected to create in (search_path is %q)", strings.Join(b.path, ", "))
}

// newName gives the schema and name a created object gets, or ok=false when
// the name is taken (PostgreSQL would refuse the statement).
func (b *ddlBuilder) newName(rv *pg.RangeVar, override string) (schema string, ok bool, err error) {
	schema = rv.Schemaname
	if schema == "" {
		if schema, err = b.creationSchema(override); err != nil {
			return "", false, err
		}
	}
	if rv.Relpersistence == "t" || isTempSchema(schema) {
		return "", false, nil // a temporary object is not part of the catalog
	}
	return schema, b.objs[schema+"."+rv.Relname] == nil, nil
}

func (b *ddlBuilder) add(o *ddlObj) {
	b.see(o.schema)
	b.all = append(b.all, o)
	b.objs[o.key()] = o
}

// inNamespace: o is in the namespace a lookup searches, pg_type (typeNS)
// or pg_class. Relations and composite types are in both, domains and
// other types only in pg_type, sequences only in pg_class.
func (o *ddlObj) inNamespace(typeNS bool) bool {
	if typeNS {
		return o.kind != objSequence
	}
	return o.kind != objDomain && o.kind != objOtherType
}

// lookup finds an object by (possibly unqualified) name in a namespace, or
// nil when there is none or it is not of a kind ok accepts.
func (b *ddlBuilder) lookup(schema, name string, typeNS bool, ok func(*ddlObj) bool) *ddlObj {
	if schema != "" {
		if o := b.objs[schema+"."+name]; o != nil && o.inNamespace(typeNS) && ok(o) {
			return o
		}
		return nil
	}
	for _, s := range b.lookupPath() {
		if o := b.objs[s+"."+name]; o != nil && o.inNamespace(typeNS) {
			// The first schema that has the name wins, even when the
			// object is of the wrong kind (PostgreSQL then fails).
			if ok(o) {
				return o
			}
			return nil
		}
	}
	return nil
}

// lookupRV finds a relation (or composite type) by name.
func (b *ddlBuilder) lookupRV(rv *pg.RangeVar, ok func(*ddlObj) bool) *ddlObj {
	return b.lookup(rv.Schemaname, rv.Relname, false, ok)
}

func isRel(o *ddlObj) bool { return o.isRelation() }
func isTable(o *ddlObj) bool {
	return o.kind == objTable || o.kind == objPartitioned || o.kind == objForeign
}
func hasColumns(o *ddlObj) bool  { return o.hasColumns() }
func isAnyObj(*ddlObj) bool      { return true }
func isComposite(o *ddlObj) bool { return o.kind == objComposite }

func rvName(rv *pg.RangeVar) string {
	if rv.Schemaname != "" {
		return rv.Schemaname + "." + rv.Relname
	}
	return rv.Relname
}

// stmt applies one statement; schema is the schema of an enclosing CREATE
// SCHEMA (its elements are created there).
func (b *ddlBuilder) stmt(n *pg.Node, schema string) error {
	switch {
	case n.GetCreateSchemaStmt() != nil:
		s := n.GetCreateSchemaStmt()
		name := s.Schemaname
		if name == "" && s.Authrole != nil {
			name = s.Authrole.Rolename
		}
		if name == "" {
			return nil
		}
		b.see(name)
		// PostgreSQL runs the elements with the new schema first in the
		// search path.
		saved := b.path
		b.path = append([]string{name}, saved...)
		defer func() { b.path = saved }()
		for _, e := range s.SchemaElts {
			if err := b.stmt(e, name); err != nil {
				return err
			}
		}
	case n.GetCreateStmt() != nil:
		return b.createTable(n.GetCreateStmt(), objTable, schema)
	case n.GetCreateForeignTableStmt() != nil:
		if base := n.GetCreateForeignTableStmt().BaseStmt; base != nil {
			return b.createTable(base, objForeign, schema)
		}
	case n.GetCompositeTypeStmt() != nil:
		return b.createComposite(n.GetCompositeTypeStmt(), schema)
	case n.GetViewStmt() != nil:
		v := n.GetViewStmt()
		return b.createView(v.View, v.Aliases, v.Query.GetSelectStmt(), objView, v.Replace, schema)
	case n.GetCreateTableAsStmt() != nil:
		c := n.GetCreateTableAsStmt()
		if c.Into == nil || c.Into.Rel == nil || c.Query.GetSelectStmt() == nil {
			return nil
		}
		kind := objTable
		if c.Objtype == pg.ObjectType_OBJECT_MATVIEW {
			kind = objMatView
		}
		return b.createView(c.Into.Rel, c.Into.ColNames, c.Query.GetSelectStmt(), kind, false, schema)
	case n.GetSelectStmt() != nil:
		sel := n.GetSelectStmt()
		if sel.IntoClause != nil && sel.IntoClause.Rel != nil { // SELECT … INTO creates a table
			q := proto.Clone(sel).(*pg.SelectStmt)
			q.IntoClause = nil
			return b.createView(sel.IntoClause.Rel, sel.IntoClause.ColNames, q, objTable, false, schema)
		}
		b.setConfig(sel)
	case n.GetCreateDomainStmt() != nil:
		d := n.GetCreateDomainStmt()
		return b.createType(d.Domainname, objDomain, b.typeRef(d.TypeName), schema)
	case n.GetCreateEnumStmt() != nil:
		return b.createType(n.GetCreateEnumStmt().TypeName, objOtherType, typeRef{}, schema)
	case n.GetCreateRangeStmt() != nil:
		return b.createType(n.GetCreateRangeStmt().TypeName, objOtherType, typeRef{}, schema)
	case n.GetDefineStmt() != nil && n.GetDefineStmt().Kind == pg.ObjectType_OBJECT_TYPE:
		return b.createType(n.GetDefineStmt().Defnames, objOtherType, typeRef{}, schema)
	case n.GetCreateSeqStmt() != nil:
		s := n.GetCreateSeqStmt()
		if s.Sequence == nil {
			return nil
		}
		sch, ok, err := b.newName(s.Sequence, schema)
		if err != nil || !ok {
			return err
		}
		b.add(&ddlObj{schema: sch, name: s.Sequence.Relname, kind: objSequence})
	case n.GetVariableSetStmt() != nil:
		b.setVariable(n.GetVariableSetStmt())
	case n.GetAlterTableStmt() != nil:
		return b.alterTable(n.GetAlterTableStmt())
	case n.GetRenameStmt() != nil:
		b.rename(n.GetRenameStmt())
	case n.GetAlterObjectSchemaStmt() != nil:
		b.setSchema(n.GetAlterObjectSchemaStmt())
	case n.GetDropStmt() != nil:
		b.drop(n.GetDropStmt())
	}
	return nil
}

func nodeStrings(ns []*pg.Node) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, n.GetString_().GetSval())
	}
	return out
}

// qualified splits a type or object name list (name, schema.name or
// db.schema.name).
func qualified(names []string) (schema, name string) {
	switch len(names) {
	case 0:
		return "", ""
	case 1:
		return "", names[0]
	default:
		return names[len(names)-2], names[len(names)-1]
	}
}

// --- types -------------------------------------------------------------------

// pgCatalogTypes are the type names of pg_catalog in PostgreSQL 15 other
// than array types and the row types of catalogs (all named pg_…), plus the
// serial pseudo-types CREATE TABLE knows. pg_catalog is searched before the
// search path, so an unqualified type of these names is always the builtin
// one, whatever the text creates.
var pgCatalogTypes = map[string]bool{}

func init() {
	for _, t := range strings.Fields(`aclitem any anyarray anycompatible anycompatiblearray anycompatiblemultirange
		anycompatiblenonarray anycompatiblerange anyelement anyenum anymultirange anynonarray anyrange bit bool box
		bpchar bytea char cid cidr circle cstring date datemultirange daterange event_trigger fdw_handler float4
		float8 gtsvector index_am_handler inet int2 int2vector int4 int4multirange int4range int8 int8multirange
		int8range internal interval json jsonb jsonpath language_handler line lseg macaddr macaddr8 money name
		numeric nummultirange numrange oid oidvector path point polygon record refcursor regclass regcollation
		regconfig regdictionary regnamespace regoper regoperator regproc regprocedure regrole regtype
		table_am_handler text tid time timestamp timestamptz timetz trigger tsm_handler tsmultirange tsquery
		tsrange tstzmultirange tstzrange tsvector txid_snapshot unknown uuid varbit varchar void xid xid8 xml
		serial serial2 serial4 serial8 smallserial bigserial`) {
		pgCatalogTypes[t] = true
	}
}

// serialTypes are CREATE TABLE's serial pseudo-types and the column types
// they stand for.
var serialTypes = map[string]string{"serial": "int4", "serial4": "int4", "bigserial": "int8", "serial8": "int8",
	"smallserial": "int2", "serial2": "int2"}

func isBuiltinTypeName(name string) bool {
	return pgCatalogTypes[name] || strings.HasPrefix(name, "pg_") ||
		(strings.HasPrefix(name, "_") && pgCatalogTypes[name[1:]])
}

// typeRef resolves a column's type name.
func (b *ddlBuilder) typeRef(tn *pg.TypeName) typeRef {
	if tn == nil {
		return typeRef{}
	}
	schema, name := qualified(nodeStrings(tn.Names))
	arr := len(tn.ArrayBounds) > 0
	if tn.PctType || schema == "pg_catalog" || (schema == "" && isBuiltinTypeName(name)) {
		if t, ok := serialTypes[name]; ok && schema == "" {
			name = t
		}
		return typeRef{name: name, array: arr}
	}
	o := b.lookup(schema, name, true, isAnyObj)
	switch {
	case o == nil:
		return typeRef{name: name, array: arr}
	case o.kind == objDomain && o.base.obj != nil:
		// A domain over a composite type selects its fields.
		t := o.base
		t.array = t.array || arr
		return t
	case o.hasColumns():
		return typeRef{obj: o, array: arr}
	default:
		return typeRef{name: name, array: arr}
	}
}

// typeFromString maps a Column.Type that viewColumns gave back to the
// object it names, when there is one.
func (b *ddlBuilder) typeFromString(s string) typeRef {
	arr := strings.HasSuffix(s, "[]")
	base := strings.TrimSuffix(s, "[]")
	if o := b.objs[base]; o != nil && o.hasColumns() {
		return typeRef{obj: o, array: arr}
	}
	return typeRef{name: base, array: arr}
}

func (b *ddlBuilder) createType(names []*pg.Node, kind ddlKind, base typeRef, override string) error {
	schema, name := qualified(nodeStrings(names))
	if name == "" {
		return nil
	}
	if schema == "" {
		var err error
		if schema, err = b.creationSchema(override); err != nil {
			return err
		}
	}
	if o := b.objs[schema+"."+name]; o != nil {
		return nil
	}
	b.add(&ddlObj{schema: schema, name: name, kind: kind, base: base})
	return nil
}

func (b *ddlBuilder) createComposite(s *pg.CompositeTypeStmt, override string) error {
	if s.Typevar == nil {
		return nil
	}
	schema, ok, err := b.newName(s.Typevar, override)
	if err != nil || !ok {
		return err
	}
	o := &ddlObj{schema: schema, name: s.Typevar.Relname, kind: objComposite}
	for _, e := range s.Coldeflist {
		if cd := e.GetColumnDef(); cd != nil {
			if _, c := o.col(cd.Colname); c == nil {
				o.cols = append(o.cols, &ddlCol{name: cd.Colname, typ: b.typeRef(cd.TypeName), local: true})
			}
		}
	}
	b.add(o)
	return nil
}

// --- tables --------------------------------------------------------------------

func (b *ddlBuilder) createTable(s *pg.CreateStmt, kind ddlKind, override string) error {
	if s.Relation == nil {
		return nil
	}
	schema, ok, err := b.newName(s.Relation, override)
	if err != nil || !ok {
		return err
	}
	if s.Partspec != nil {
		kind = objPartitioned
	}
	o := &ddlObj{schema: schema, name: s.Relation.Relname, kind: kind}
	// Inherited columns come first, merged by name across parents.
	for _, p := range s.InhRelations {
		rv := p.GetRangeVar()
		if rv == nil {
			continue
		}
		parent := b.lookupRV(rv, isTable)
		if parent == nil {
			clause := "INHERITS"
			if s.Partbound != nil {
				clause = "PARTITION OF"
			}
			return fmt.Errorf("unknown table %s in %s", ident(rvName(rv)), clause)
		}
		o.parents = append(o.parents, parent)
		for _, pc := range parent.cols {
			if _, c := o.col(pc.name); c != nil {
				c.inh++
			} else {
				o.cols = append(o.cols, &ddlCol{name: pc.name, typ: pc.typ, inh: 1})
			}
		}
	}
	o.partOf = s.Partbound != nil
	if s.OfTypename != nil {
		sch, name := qualified(nodeStrings(s.OfTypename.Names))
		t := b.lookup(sch, name, true, isComposite)
		if t == nil {
			return fmt.Errorf("unknown composite type %s in OF", ident(strings.Join(nodeStrings(s.OfTypename.Names), ".")))
		}
		o.ofType = t
		t.typedTables = append(t.typedTables, o)
		for _, f := range t.cols {
			o.cols = append(o.cols, &ddlCol{name: f.name, typ: f.typ, local: true})
		}
	}
	for _, e := range s.TableElts {
		switch {
		case e.GetColumnDef() != nil:
			cd := e.GetColumnDef()
			if o.partOf || o.ofType != nil {
				continue // options of an existing column
			}
			if _, c := o.col(cd.Colname); c != nil {
				c.local = true // merged with an inherited column
				continue
			}
			o.cols = append(o.cols, &ddlCol{name: cd.Colname, typ: b.typeRef(cd.TypeName), local: true})
		case e.GetTableLikeClause() != nil:
			rv := e.GetTableLikeClause().Relation
			if rv == nil {
				continue
			}
			src := b.lookupRV(rv, hasColumns)
			if src == nil {
				return fmt.Errorf("unknown relation %s in LIKE", ident(rvName(rv)))
			}
			for _, sc := range src.cols {
				if _, c := o.col(sc.name); c != nil {
					c.local = true
				} else {
					o.cols = append(o.cols, &ddlCol{name: sc.name, typ: sc.typ, local: true})
				}
			}
		}
	}
	b.add(o)
	return nil
}

// createView creates a view, materialized view or CREATE TABLE AS table
// from its query (a name taken is skipped, unless it is a view replaced by
// CREATE OR REPLACE VIEW).
func (b *ddlBuilder) createView(rv *pg.RangeVar, aliases []*pg.Node, sel *pg.SelectStmt, kind ddlKind, replace bool, override string) error {
	if rv == nil {
		return nil
	}
	schema, ok, err := b.newName(rv, override)
	if err != nil {
		return err
	}
	if !ok {
		old := b.objs[schema+"."+rv.Relname]
		if !replace || old == nil || old.kind != objView {
			return nil
		}
		b.remove(old)
	}
	o := &ddlObj{schema: schema, name: rv.Relname, kind: kind}
	var cols []Column
	if sel != nil {
		if vc, err := viewColumns(b.catalog(), b.lookupPath(), sel); err == nil {
			cols = vc
		}
	}
	names := nodeStrings(aliases)
	for i, name := range names {
		if i < len(cols) {
			cols[i].Name = name
		} else {
			cols = append(cols, Column{Name: name})
		}
	}
	for _, c := range cols {
		o.cols = append(o.cols, &ddlCol{name: c.Name, typ: b.typeFromString(c.Type), local: true})
	}
	b.add(o)
	return nil
}

// --- search_path -----------------------------------------------------------------

func (b *ddlBuilder) setVariable(s *pg.VariableSetStmt) {
	if !strings.EqualFold(s.Name, "search_path") && s.Kind != pg.VariableSetKind_VAR_RESET_ALL {
		return
	}
	switch s.Kind {
	case pg.VariableSetKind_VAR_SET_VALUE:
		// Each argument is one schema name, already folded by the parser.
		var path []string
		for _, a := range s.Args {
			c := a.GetAConst()
			if c == nil || c.GetSval() == nil {
				return
			}
			path = append(path, c.GetSval().Sval)
		}
		b.path = path
	case pg.VariableSetKind_VAR_SET_DEFAULT, pg.VariableSetKind_VAR_RESET, pg.VariableSetKind_VAR_RESET_ALL:
		b.path = b.defaultPath
	}
}

// setConfig applies SELECT [pg_catalog.]set_config('search_path', 'v',
// false), the way pg_dump sets the path.
func (b *ddlBuilder) setConfig(sel *pg.SelectStmt) {
	if len(sel.TargetList) != 1 || len(sel.FromClause) != 0 {
		return
	}
	fc := sel.TargetList[0].GetResTarget().GetVal().GetFuncCall()
	if fc == nil || len(fc.Args) != 3 {
		return
	}
	if schema, name := qualified(nodeStrings(fc.Funcname)); name != "set_config" || (schema != "" && schema != "pg_catalog") {
		return
	}
	arg := func(i int) (string, bool) {
		c := fc.Args[i].GetAConst()
		if c == nil || c.GetSval() == nil {
			return "", false
		}
		return c.GetSval().Sval, true
	}
	guc, ok1 := arg(0)
	val, ok2 := arg(1)
	local := fc.Args[2].GetAConst().GetBoolval()
	if !ok1 || !ok2 || !strings.EqualFold(guc, "search_path") || (local != nil && local.Boolval) {
		return
	}
	if path, ok := splitIdentifierList(val); ok {
		b.path = path
	}
}

// splitIdentifierList parses a list GUC value as PostgreSQL's
// SplitIdentifierString does: comma-separated names, double-quoted ones
// kept exactly, others lower-cased.
func splitIdentifierList(s string) ([]string, bool) {
	var out []string
	s = strings.TrimLeft(s, " \t\n\r\f\v")
	if s == "" {
		return out, true
	}
	for {
		var name string
		if strings.HasPrefix(s, `"`) {
			var sb strings.Builder
			i := 1
			for ; ; i++ {
				if i >= len(s) {
					return nil, false
				}
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						sb.WriteByte('"')
						i++
						continue
					}
					break
				}
				sb.WriteByte(s[i])
			}
			name, s = sb.String(), s[i+1:]
		} else {
			i := strings.IndexAny(s, ", \t\n\r\f\v")
			if i < 0 {
				i = len(s)
			}
			name, s = strings.ToLower(s[:i]), s[i:]
			if name == "" {
				return nil, false
			}
		}
		if len(name) > 63 {
			name = name[:63]
		}
		out = append(out, name)
		s = strings.TrimLeft(s, " \t\n\r\f\v")
		if s == "" {
			return out, true
		}
		if s[0] != ',' {
			return nil, false
		}
		s = strings.TrimLeft(s[1:], " \t\n\r\f\v")
	}
}

// --- ALTER --------------------------------------------------------------------------

// descendants of o (inheritance children and partitions), transitively.
func (b *ddlBuilder) children(o *ddlObj) []*ddlObj {
	var out []*ddlObj
	for _, c := range b.all {
		if c.dropped {
			continue
		}
		for _, p := range c.parents {
			if p == o {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

func (b *ddlBuilder) alterTable(s *pg.AlterTableStmt) error {
	if s.Relation == nil {
		return nil
	}
	var o *ddlObj
	find := func() (*ddlObj, error) {
		if o != nil {
			return o, nil
		}
		if s.Objtype == pg.ObjectType_OBJECT_TYPE { // ALTER TYPE … ATTRIBUTE
			o = b.lookup(s.Relation.Schemaname, s.Relation.Relname, true, isComposite)
		} else {
			o = b.lookupRV(s.Relation, isRel)
		}
		if o == nil && !s.MissingOk {
			return nil, fmt.Errorf("unknown relation %s in ALTER", ident(rvName(s.Relation)))
		}
		return o, nil
	}
	recurse := s.Relation.Inh
	for _, cn := range s.Cmds {
		cmd := cn.GetAlterTableCmd()
		if cmd == nil {
			continue
		}
		switch cmd.Subtype {
		case pg.AlterTableType_AT_AddColumn, pg.AlterTableType_AT_DropColumn, pg.AlterTableType_AT_AlterColumnType,
			pg.AlterTableType_AT_AttachPartition, pg.AlterTableType_AT_DetachPartition,
			pg.AlterTableType_AT_AddInherit, pg.AlterTableType_AT_DropInherit:
		default:
			continue
		}
		rel, err := find()
		if err != nil {
			return err
		}
		if rel == nil {
			return nil
		}
		cascade := cmd.Behavior == pg.DropBehavior_DROP_CASCADE
		switch cmd.Subtype {
		case pg.AlterTableType_AT_AddColumn:
			if cd := cmd.Def.GetColumnDef(); cd != nil {
				b.addColumn(rel, &ddlCol{name: cd.Colname, typ: b.typeRef(cd.TypeName), local: true}, recurse, cascade)
			}
		case pg.AlterTableType_AT_DropColumn:
			b.dropColumn(rel, cmd.Name, recurse, cascade)
		case pg.AlterTableType_AT_AlterColumnType:
			if cd := cmd.Def.GetColumnDef(); cd != nil {
				b.alterColumnType(rel, cmd.Name, b.typeRef(cd.TypeName))
			}
		case pg.AlterTableType_AT_AttachPartition:
			rv := cmd.Def.GetPartitionCmd().GetName()
			if rv == nil {
				continue
			}
			child := b.lookupRV(rv, isTable)
			if child == nil {
				return fmt.Errorf("unknown table %s in ATTACH PARTITION", ident(rvName(rv)))
			}
			b.attach(rel, child, true)
		case pg.AlterTableType_AT_DetachPartition:
			rv := cmd.Def.GetPartitionCmd().GetName()
			if rv == nil {
				continue
			}
			if child := b.lookupRV(rv, isTable); child != nil {
				b.detach(rel, child)
			}
		case pg.AlterTableType_AT_AddInherit:
			rv := cmd.Def.GetRangeVar()
			if rv == nil {
				continue
			}
			parent := b.lookupRV(rv, isTable)
			if parent == nil {
				return fmt.Errorf("unknown table %s in INHERIT", ident(rvName(rv)))
			}
			b.attach(parent, rel, false)
		case pg.AlterTableType_AT_DropInherit:
			if rv := cmd.Def.GetRangeVar(); rv != nil {
				if parent := b.lookupRV(rv, isTable); parent != nil {
					b.detach(parent, rel)
				}
			}
		}
	}
	return nil
}

// addColumn adds a column to a relation or composite type and, as
// PostgreSQL does, to its descendants (or typed tables, with CASCADE).
func (b *ddlBuilder) addColumn(o *ddlObj, c *ddlCol, recurse, cascade bool) {
	if _, old := o.col(c.name); old != nil {
		return // already there: PostgreSQL refuses (or IF NOT EXISTS skips)
	}
	kids := b.children(o)
	if o.kind == objComposite {
		if len(o.typedTables) > 0 && !cascade {
			return
		}
		kids = o.typedTables
	} else if !recurse && len(kids) > 0 {
		return // "column must be added to child tables too"
	}
	o.cols = append(o.cols, c)
	for _, k := range kids {
		if k.dropped {
			continue
		}
		if _, kc := k.col(c.name); kc != nil {
			kc.inh++
			continue
		}
		b.addColumn(k, &ddlCol{name: c.name, typ: c.typ, inh: 1, local: o.kind == objComposite}, true, cascade)
	}
}

// dropColumn drops a column and, as PostgreSQL does, the children's copies
// that are inherited only.
func (b *ddlBuilder) dropColumn(o *ddlObj, name string, recurse, cascade bool) {
	i, c := o.col(name)
	if c == nil {
		return
	}
	if o.kind == objComposite {
		if len(o.typedTables) > 0 && !cascade {
			return
		}
		for _, t := range o.typedTables {
			b.dropColumn(t, name, true, cascade)
		}
	}
	o.cols = append(o.cols[:i:i], o.cols[i+1:]...)
	for _, k := range b.children(o) {
		_, kc := k.col(name)
		if kc == nil {
			continue
		}
		kc.inh--
		switch {
		case recurse && kc.inh <= 0 && !kc.local:
			b.dropColumn(k, name, true, cascade)
		case !recurse:
			kc.local = true
		}
	}
}

func (b *ddlBuilder) alterColumnType(o *ddlObj, name string, t typeRef) {
	_, c := o.col(name)
	if c == nil {
		return
	}
	c.typ = t
	for _, k := range b.children(o) {
		b.alterColumnType(k, name, t)
	}
	if o.kind == objComposite {
		for _, k := range o.typedTables {
			b.alterColumnType(k, name, t)
		}
	}
}

func (b *ddlBuilder) attach(parent, child *ddlObj, partition bool) {
	for _, p := range child.parents {
		if p == parent {
			return
		}
	}
	if partition && len(child.parents) > 0 {
		return // already a partition (or an inheritance child): refused
	}
	child.parents = append(child.parents, parent)
	child.partOf = partition
	for _, pc := range parent.cols {
		if _, c := child.col(pc.name); c != nil {
			c.inh++
			if partition {
				c.local = false
			}
		}
	}
}

func (b *ddlBuilder) detach(parent, child *ddlObj) {
	for i, p := range child.parents {
		if p != parent {
			continue
		}
		child.parents = append(child.parents[:i:i], child.parents[i+1:]...)
		child.partOf = false
		for _, pc := range parent.cols {
			if _, c := child.col(pc.name); c != nil {
				if c.inh--; c.inh <= 0 {
					c.inh, c.local = 0, true
				}
			}
		}
		return
	}
}

// --- renames, SET SCHEMA, DROP ---------------------------------------------------------

func (b *ddlBuilder) move(o *ddlObj, schema, name string) {
	if o == nil || (o.schema == schema && o.name == name) || b.objs[schema+"."+name] != nil {
		return
	}
	delete(b.objs, o.key())
	o.schema, o.name = schema, name
	b.objs[o.key()] = o
	b.see(schema)
}

func (b *ddlBuilder) objectByNames(n *pg.Node, typeNS bool, ok func(*ddlObj) bool) *ddlObj {
	var names []string
	switch {
	case n.GetList() != nil:
		names = nodeStrings(n.GetList().Items)
	case n.GetTypeName() != nil:
		names = nodeStrings(n.GetTypeName().Names)
	case n.GetString_() != nil:
		names = []string{n.GetString_().Sval}
	}
	schema, name := qualified(names)
	if name == "" {
		return nil
	}
	return b.lookup(schema, name, typeNS, ok)
}

func relKindOK(t pg.ObjectType) func(*ddlObj) bool {
	switch t {
	case pg.ObjectType_OBJECT_TABLE:
		return func(o *ddlObj) bool { return o.kind == objTable || o.kind == objPartitioned }
	case pg.ObjectType_OBJECT_VIEW:
		return func(o *ddlObj) bool { return o.kind == objView }
	case pg.ObjectType_OBJECT_MATVIEW:
		return func(o *ddlObj) bool { return o.kind == objMatView }
	case pg.ObjectType_OBJECT_FOREIGN_TABLE:
		return func(o *ddlObj) bool { return o.kind == objForeign }
	case pg.ObjectType_OBJECT_SEQUENCE:
		return func(o *ddlObj) bool { return o.kind == objSequence }
	case pg.ObjectType_OBJECT_TYPE:
		return func(o *ddlObj) bool { return o.kind == objComposite || o.kind == objOtherType }
	case pg.ObjectType_OBJECT_DOMAIN:
		return func(o *ddlObj) bool { return o.kind == objDomain }
	}
	return nil
}

func (b *ddlBuilder) rename(s *pg.RenameStmt) {
	switch s.RenameType {
	case pg.ObjectType_OBJECT_SCHEMA:
		if s.Subname == "" || s.Newname == "" || b.known[s.Newname] {
			return
		}
		for _, o := range b.all {
			if !o.dropped && o.schema == s.Subname {
				b.move(o, s.Newname, o.name)
			}
		}
		b.forget(s.Subname)
		b.see(s.Newname)
	case pg.ObjectType_OBJECT_COLUMN, pg.ObjectType_OBJECT_ATTRIBUTE:
		var o *ddlObj
		if s.Relation != nil {
			o = b.lookupRV(s.Relation, hasColumns)
		}
		if o == nil {
			return
		}
		b.renameColumn(o, s.Subname, s.Newname)
	case pg.ObjectType_OBJECT_TABLE, pg.ObjectType_OBJECT_VIEW, pg.ObjectType_OBJECT_MATVIEW,
		pg.ObjectType_OBJECT_FOREIGN_TABLE, pg.ObjectType_OBJECT_SEQUENCE:
		if s.Relation != nil {
			// ALTER TABLE may rename any relation; the others are checked
			// by PostgreSQL, but the name is what counts here.
			if o := b.lookupRV(s.Relation, isAnyObj); o != nil {
				b.move(o, o.schema, s.Newname)
			}
		}
	case pg.ObjectType_OBJECT_TYPE, pg.ObjectType_OBJECT_DOMAIN:
		if s.Object != nil {
			if o := b.objectByNames(s.Object, true, relKindOK(s.RenameType)); o != nil {
				b.move(o, o.schema, s.Newname)
			}
		}
	}
}

func (b *ddlBuilder) renameColumn(o *ddlObj, from, to string) {
	_, c := o.col(from)
	if c == nil {
		return
	}
	if _, clash := o.col(to); clash != nil {
		return
	}
	c.name = to
	for _, k := range b.children(o) {
		b.renameColumn(k, from, to)
	}
	if o.kind == objComposite {
		for _, k := range o.typedTables {
			b.renameColumn(k, from, to)
		}
	}
}

func (b *ddlBuilder) setSchema(s *pg.AlterObjectSchemaStmt) {
	var o *ddlObj
	switch s.ObjectType {
	case pg.ObjectType_OBJECT_TABLE, pg.ObjectType_OBJECT_VIEW, pg.ObjectType_OBJECT_MATVIEW,
		pg.ObjectType_OBJECT_FOREIGN_TABLE, pg.ObjectType_OBJECT_SEQUENCE:
		if s.Relation != nil {
			o = b.lookupRV(s.Relation, isAnyObj)
		}
	case pg.ObjectType_OBJECT_TYPE, pg.ObjectType_OBJECT_DOMAIN:
		if s.Object != nil {
			o = b.objectByNames(s.Object, true, relKindOK(s.ObjectType))
		}
	}
	if o != nil && s.Newschema != "" {
		b.move(o, s.Newschema, o.name)
	}
}

// remove takes an object out of the catalog.
func (b *ddlBuilder) remove(o *ddlObj) {
	o.dropped = true
	if b.objs[o.key()] == o {
		delete(b.objs, o.key())
	}
}

// dependents are what DROP without CASCADE refuses to drop: inheritance
// children, columns and domains of the type, typed tables. Partitions go
// with their table.
func (b *ddlBuilder) dependents(o *ddlObj) bool {
	for _, x := range b.all {
		if x.dropped || x == o {
			continue
		}
		if x.kind == objDomain && x.base.obj == o {
			return true
		}
		if x.ofType == o {
			return true
		}
		for _, p := range x.parents {
			if p == o && !x.partOf {
				return true
			}
		}
		for _, c := range x.cols {
			if c.typ.obj == o {
				return true
			}
		}
	}
	return false
}

// dropObject drops o and what depends on it.
func (b *ddlBuilder) dropObject(o *ddlObj) {
	if o.dropped {
		return
	}
	b.remove(o)
	for _, x := range b.all {
		if x.dropped {
			continue
		}
		switch {
		case x.kind == objDomain && x.base.obj == o, x.ofType == o:
			b.dropObject(x)
			continue
		}
		// Partitions go with their table; inheritance children too (there
		// were none, or the DROP has CASCADE).
		if slices.Contains(x.parents, o) {
			b.dropObject(x)
			continue
		}
		kept := x.cols[:0]
		for _, c := range x.cols {
			if c.typ.obj != o {
				kept = append(kept, c)
			}
		}
		x.cols = kept
	}
}

func (b *ddlBuilder) drop(s *pg.DropStmt) {
	cascade := s.Behavior == pg.DropBehavior_DROP_CASCADE
	if s.RemoveType == pg.ObjectType_OBJECT_SCHEMA {
		for _, n := range s.Objects {
			name := n.GetString_().GetSval()
			if name == "" {
				continue
			}
			var in []*ddlObj
			for _, o := range b.all {
				if !o.dropped && o.schema == name {
					in = append(in, o)
				}
			}
			if len(in) > 0 && !cascade {
				continue
			}
			for _, o := range in {
				b.dropObject(o)
			}
			b.forget(name)
		}
		return
	}
	ok := relKindOK(s.RemoveType)
	if ok == nil {
		return
	}
	for _, n := range s.Objects {
		typeNS := s.RemoveType == pg.ObjectType_OBJECT_TYPE || s.RemoveType == pg.ObjectType_OBJECT_DOMAIN
		o := b.objectByNames(n, typeNS, ok)
		if o == nil || (!cascade && b.dependents(o)) {
			continue
		}
		b.dropObject(o)
	}
}

// --- result ---------------------------------------------------------------------------------

// catalog builds the Catalog of the objects created so far.
func (b *ddlBuilder) catalog() *Catalog {
	c := &Catalog{}
	seen := map[string]bool{}
	for _, s := range append(append([]string(nil), b.seen...), b.defaultPath...) {
		if !seen[s] && b.known[s] && !strings.HasPrefix(s, "$") && !isTempSchema(s) {
			seen[s] = true
			c.Schemas = append(c.Schemas, s)
		}
	}
	cols := func(o *ddlObj) []Column {
		out := make([]Column, 0, len(o.cols))
		for _, col := range o.cols {
			out = append(out, Column{Name: col.name, Type: col.typ.String()})
		}
		return out
	}
	for _, o := range b.all {
		if o.dropped {
			continue
		}
		switch {
		case o.isRelation():
			r := Relation{Schema: o.schema, Name: o.name, Kind: RelKind(string(rune(o.kind))), Columns: cols(o)}
			if o.kind != objView {
				r.SystemColumns = append([]string(nil), SystemColumnNames...)
			}
			for _, p := range o.parents {
				r.Parents = append(r.Parents, p.key())
			}
			c.Relations = append(c.Relations, r)
		case o.kind == objComposite:
			c.Types = append(c.Types, CompositeType{Schema: o.schema, Name: o.name, Fields: cols(o)})
		}
	}
	return c
}

// --- psql input ----------------------------------------------------------------------------

// stripPsqlData blanks what psql, not the server, reads in a script: the
// data lines after COPY … FROM stdin (up to the line "\."), and
// meta-commands (a backslash outside quotes, to the end of the line).
// Everything else keeps its byte offset, so parser positions stay right.
func stripPsqlData(s string) string {
	var out []byte // copy on first change
	blank := func(from, to int) {
		if out == nil {
			out = []byte(s)
		}
		for i := from; i < to; i++ {
			if out[i] != '\n' {
				out[i] = ' '
			}
		}
	}
	stmtStart := 0
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '-' && strings.HasPrefix(s[i:], "--"):
			i = lineEnd(s, i)
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			depth := 0
			for i < len(s) {
				if strings.HasPrefix(s[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(s[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
		case c == '\'':
			escapes := i > 0 && (s[i-1] == 'e' || s[i-1] == 'E') && (i < 2 || !isIdentByte(s[i-2]))
			i++
			for i < len(s) {
				if escapes && s[i] == '\\' {
					i += 2
					continue
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						i += 2
						continue
					}
					i++
					break
				}
				i++
			}
		case c == '"':
			i++
			for i < len(s) {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						i += 2
						continue
					}
					i++
					break
				}
				i++
			}
		case c == '$' && (i == 0 || !isIdentByte(s[i-1])):
			j := i + 1
			for j < len(s) && isIdentByte(s[j]) && s[j] != '$' {
				j++
			}
			if j < len(s) && s[j] == '$' && (j == i+1 || !(s[i+1] >= '0' && s[i+1] <= '9')) {
				tag := s[i : j+1]
				if k := strings.Index(s[j+1:], tag); k >= 0 {
					i = j + 1 + k + len(tag)
				} else {
					i = len(s)
				}
			} else {
				i++
			}
		case c == '\\':
			e := lineEnd(s, i)
			blank(i, e)
			i = e
		case c == ';':
			stmt := s[stmtStart:i]
			if out != nil {
				stmt = string(out[stmtStart:i]) // without the meta-commands
			}
			i++
			stmtStart = i
			if !isCopyFromStdin(stmt) {
				continue
			}
			// The data starts on the next line and ends with a line "\.".
			dataStart := lineEnd(s, i)
			if dataStart < len(s) {
				dataStart++
			}
			end := dataStart
			for end < len(s) {
				le := lineEnd(s, end)
				if strings.TrimRight(s[end:le], "\r") == `\.` {
					end = le
					break
				}
				end = le
				if end < len(s) {
					end++
				}
			}
			blank(dataStart, end)
			i, stmtStart = end, end
		default:
			i++
		}
	}
	if out == nil {
		return s
	}
	return string(out)
}

func lineEnd(s string, i int) int {
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(s)
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// isCopyFromStdin: the statement text is COPY … FROM STDIN.
func isCopyFromStdin(stmt string) bool {
	t := strings.TrimLeft(stmt, " \t\r\n")
	for strings.HasPrefix(t, "--") || strings.HasPrefix(t, "/*") {
		if strings.HasPrefix(t, "--") {
			t = t[lineEnd(t, 0):]
		} else if k := strings.Index(t, "*/"); k >= 0 {
			t = t[k+2:]
		} else {
			return false
		}
		t = strings.TrimLeft(t, " \t\r\n")
	}
	if len(t) < 4 || !strings.EqualFold(t[:4], "copy") {
		return false
	}
	tree, err := pg.Parse(stmt)
	if err != nil || len(tree.Stmts) != 1 {
		return false
	}
	cp := tree.Stmts[0].Stmt.GetCopyStmt()
	return cp != nil && cp.IsFrom && cp.Filename == "" && !cp.IsProgram
}
