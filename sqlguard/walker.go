package sqlguard

import (
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

//go:generate go run gen_nodes.go

// walker validates one parse tree. The traversal itself is generated
// (nodes_gen.go): node() dispatches each Node by type, rejecting types
// outside the allowlist, and walkT visits every message-valued field of a T.
// The visit methods below add the semantic checks of the types that need
// them; each either visits its fields itself or passes them, via the skip
// mask, to the generated walk.
type walker struct {
	c        *compiled
	sql      string
	err      *Error
	depth    int
	maxDepth int
	slow     bool // walk by protoreflect (schema drift, or forced by a test)
	scope    *scope
	// existsSel is the subquery of the EXISTS being entered: its select
	// list is never output, so * there does not expose blocked columns.
	existsSel *pg.SelectStmt

	// params are the parameters the query may use ($1 is params[0]),
	// marked when used; none for Check.
	params []bool

	rels  []*relRule
	funcs []string
	cols  []colRef
	reads []string // base columns read, "schema.table.column" or "schema.table.*"
}

type colRef struct {
	rel string // canonical schema.table
	col string
}

func (w *walker) fail(code Code, loc int32, msg string) {
	if w.err == nil {
		w.err = newError(code, w.sql, loc, msg)
	}
}

func (w *walker) tooDeep(n *pg.Node) {
	w.fail(CodeResourceLimit, nodeLocation(n.ProtoReflect()),
		"the query is nested too deeply (more than "+strconv.Itoa(w.maxDepth)+" levels)")
}

// nodeLocation finds the location field of a Node's message, if any.
func nodeLocation(m protoreflect.Message) int32 {
	if m == nil {
		return -1
	}
	if od := m.Descriptor().Oneofs().ByName("node"); od != nil {
		fd := m.WhichOneof(od)
		if fd == nil {
			return -1
		}
		m = m.Get(fd).Message()
	}
	if fd := m.Descriptor().Fields().ByName("location"); fd != nil && fd.Kind() == protoreflect.Int32Kind {
		return int32(m.Get(fd).Int())
	}
	return -1
}

// rejectNode rejects a Node whose type is not allowlisted.
func (w *walker) rejectNode(n *pg.Node) {
	m := n.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("node")
	fd := m.WhichOneof(od)
	if fd == nil {
		return
	}
	w.rejectMsg(m.Get(fd).Message().Interface())
}

// rejectMsg rejects a message whose type is not allowlisted, with the most
// specific code the type allows.
func (w *walker) rejectMsg(m proto.Message) {
	if w.err != nil {
		return
	}
	r := m.ProtoReflect()
	name := string(r.Descriptor().Name())
	loc := nodeLocation(r)
	switch {
	case name == "IntoClause":
		if rel := m.(*pg.IntoClause).GetRel(); rel != nil {
			loc = rel.Location
		}
		w.fail(CodeSelectInto, loc, "SELECT … INTO creates a table and is not allowed")
	case name == "LockingClause":
		w.fail(CodeLockingClause, loc, "FOR UPDATE/SHARE locking clauses are not allowed")
	case name == "ParamRef":
		w.fail(CodeParameterNotAllowed, loc, "parameters ($n) are not allowed: write the values into the query")
	case name == "InsertStmt" || name == "UpdateStmt" || name == "DeleteStmt" || name == "MergeStmt":
		w.fail(CodeDataModifyingCTE, loc, "a data-modifying statement ("+stmtKind(name)+") inside a query is not allowed")
	case strings.HasSuffix(name, "Stmt"):
		w.fail(CodeNotSelect, loc, "a "+stmtKind(name)+" statement inside a query is not allowed")
	default:
		w.fail(CodeUnsupportedNode, loc, "unsupported construct "+name)
	}
}

// stmtKind turns a statement node name into a user-facing kind.
func stmtKind(name string) string {
	switch name {
	case "InsertStmt":
		return "INSERT"
	case "UpdateStmt":
		return "UPDATE"
	case "DeleteStmt":
		return "DELETE"
	case "MergeStmt":
		return "MERGE"
	case "ExplainStmt":
		return "EXPLAIN"
	case "CopyStmt":
		return "COPY"
	case "VariableSetStmt":
		return "SET"
	case "VariableShowStmt":
		return "SHOW"
	case "TransactionStmt":
		return "transaction control"
	case "CreateTableAsStmt":
		return "CREATE TABLE AS"
	case "DoStmt":
		return "DO"
	case "CallStmt":
		return "CALL"
	}
	return strings.TrimSuffix(name, "Stmt")
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// resolve canonicalises a relation reference the way the server resolves
// it, against the catalog, and applies the policy. It returns nil after
// failing.
func (w *walker) resolve(n *pg.RangeVar) *relRule {
	c := w.c
	if n.Catalogname != "" && n.Catalogname != c.database {
		w.fail(CodeRelationNotAllowed, n.Location, "relation "+ident(n.Catalogname+"."+n.Schemaname+"."+n.Relname)+
			" is in another database")
		return nil
	}
	if n.Schemaname != "" {
		key := n.Schemaname + "." + n.Relname
		if isSystemSchema(n.Schemaname) {
			w.fail(CodeSystemCatalog, n.Location, "relation "+ident(key)+" is a system catalog")
			return nil
		}
		return w.relRule(n, n.Schemaname, key)
	}
	// Unqualified: pg_temp is never searched (the server's role cannot
	// create temporary tables in a read-only transaction), pg_catalog comes
	// first, and every catalog relation's name starts with pg_.
	if hasPrefixFold(n.Relname, "pg_") {
		w.fail(CodeSystemCatalog, n.Location, "relation "+ident("pg_catalog."+n.Relname)+" is a system catalog")
		return nil
	}
	for _, sp := range c.searchPath {
		if strings.EqualFold(sp, "pg_catalog") {
			continue // searched first anyway; all its relations are pg_*
		}
		key := sp + "." + n.Relname
		if c.rules[key] != nil || c.blockedRel[lower(key)] {
			return w.relRule(n, sp, key)
		}
		if !c.cat.schemas[sp] {
			w.fail(CodeUnresolvedName, n.Location, "cannot tell which relation "+ident(n.Relname)+
				" is: schema "+ident(sp)+" of the search path is not in the catalog snapshot")
			return nil
		}
	}
	w.failInvalid(CodeRelationNotAllowed, n.Location, "relation "+ident(n.Relname)+" is not allowed (no such relation in the search path)")
	return nil
}

// relRule applies the policy to relation key.
func (w *walker) relRule(n *pg.RangeVar, schema, key string) *relRule {
	c := w.c
	r := c.rules[key]
	if c.blockedRel[lower(key)] || (r != nil && r.denied) {
		w.fail(CodeBlockedTable, n.Location, "relation "+ident(key)+" is blocked")
		return nil
	}
	if r == nil {
		if c.allows(schema, key) {
			w.fail(CodeUnresolvedName, n.Location, "relation "+ident(key)+
				" is not in the catalog snapshot, so its columns cannot be resolved (refresh the schema)")
			return nil
		}
		w.fail(CodeRelationNotAllowed, n.Location, "relation "+ident(key)+" is not allowed")
		return nil
	}
	if !r.allowed {
		w.fail(CodeRelationNotAllowed, n.Location, "relation "+ident(key)+" is not allowed")
		return nil
	}
	return r
}

// funcName returns the lower-level name of a function call when it is
// unqualified or qualified with pg_catalog.
func funcName(n *pg.FuncCall) (string, bool) {
	return qualifiedName(n.Funcname)
}

func qualifiedName(names []*pg.Node) (string, bool) {
	switch len(names) {
	case 1:
		s := names[0].GetString_()
		return s.GetSval(), s != nil
	case 2:
		q, s := names[0].GetString_(), names[1].GetString_()
		if q == nil || s == nil || q.Sval != "pg_catalog" {
			return "", false
		}
		return s.Sval, true
	}
	return "", false
}

func joinNames(names []*pg.Node) string {
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n.GetString_().GetSval())
	}
	return strings.Join(parts, ".")
}

func (w *walker) visitFuncCall(n *pg.FuncCall) {
	name, ok := funcName(n)
	if !ok {
		w.fail(CodeFunctionNotAllowed, n.Location, "function "+ident(joinNames(n.Funcname))+
			" is not allowed (only builtin functions, unqualified or in pg_catalog)")
		return
	}
	check, ok := allowedFuncs[name]
	if !ok {
		w.fail(CodeFunctionNotAllowed, n.Location, "function "+ident(name)+" is not allowed")
		return
	}
	if check != nil {
		check(w, n)
		if w.err != nil {
			return
		}
	}
	w.funcs = append(w.funcs, name)
	w.walkFuncCall(n, fFuncCall_Funcname)
}

// checkOperator applies the operator-symbol allowlist.
func (w *walker) checkOperator(names []*pg.Node, loc int32) {
	if len(names) == 0 {
		return
	}
	op, ok := qualifiedName(names)
	if !ok {
		w.fail(CodeOperatorNotAllowed, loc, "operator "+ident(joinNames(names))+
			" is not allowed (only builtin operators, unqualified or in pg_catalog)")
		return
	}
	if !allowedOperators[op] {
		w.fail(CodeOperatorNotAllowed, loc, "operator "+ident(op)+" is not allowed")
	}
}

//lint:ignore ST1003 visit methods are named after the pg_query node type
func (w *walker) visitA_Expr(n *pg.A_Expr) {
	switch n.Kind {
	case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		// The name is the keyword (BETWEEN …); the server uses >= and <=.
	default:
		w.checkOperator(n.Name, n.Location)
	}
	w.walkA_Expr(n, fA_Expr_Name)
}

func (w *walker) visitSubLink(n *pg.SubLink) {
	w.checkOperator(n.OperName, n.Location)
	if n.SubLinkType == pg.SubLinkType_EXISTS_SUBLINK && n.Testexpr == nil {
		if sel := n.Subselect.GetSelectStmt(); sel != nil && sel.Op == pg.SetOperation_SETOP_NONE {
			w.existsSel = sel
		}
	}
	w.walkSubLink(n, fSubLink_OperName)
	w.existsSel = nil
}

func (w *walker) visitSortBy(n *pg.SortBy) {
	w.checkOperator(n.UseOp, n.Location)
	w.walkSortBy(n, fSortBy_UseOp)
}

func (w *walker) visitSQLValueFunction(n *pg.SQLValueFunction) {
	if !allowedValueFunctions[n.Op] {
		name := valueFunctionNames[n.Op]
		if name == "" {
			name = n.Op.String()
		}
		w.fail(CodeFunctionNotAllowed, n.Location, name+" is not allowed")
		return
	}
	w.walkSQLValueFunction(n, 0)
}

// visitTypeCast accepts a parameter as the operand of a cast when the
// query may use it (CheckParams): its type is the cast's, which the
// cast-target allowlist checks. Any other parameter is refused where it is
// met (rejectMsg).
func (w *walker) visitTypeCast(n *pg.TypeCast) {
	if p := n.Arg.GetParamRef(); p != nil && len(w.params) > 0 {
		if p.Number < 1 || int(p.Number) > len(w.params) {
			w.fail(CodeParameterNotAllowed, p.Location, "parameter $"+strconv.Itoa(int(p.Number))+" is not one of the query's "+strconv.Itoa(len(w.params)))
			return
		}
		w.params[p.Number-1] = true
		if n.TypeName == nil {
			w.fail(CodeParameterNotAllowed, p.Location, "a parameter needs a type")
			return
		}
		w.visitTypeName(n.TypeName)
		return
	}
	w.walkTypeCast(n, 0)
}

// visitTypeName applies the cast-target allowlist (to every TypeName: casts,
// typed literals and column definition lists).
func (w *walker) visitTypeName(n *pg.TypeName) {
	name, ok := qualifiedName(n.Names)
	switch {
	case !ok:
		w.fail(CodeCastNotAllowed, n.Location, "type "+ident(joinNames(n.Names))+
			" is not allowed (only builtin types, unqualified or in pg_catalog)")
		return
	case n.PctType || n.Setof:
		w.fail(CodeCastNotAllowed, n.Location, "type "+ident(name)+" with %TYPE or SETOF is not allowed")
		return
	case !allowedTypes[name]:
		w.fail(CodeCastNotAllowed, n.Location, "type "+ident(name)+" is not allowed")
		return
	}
	w.walkTypeName(n, fTypeName_Names)
}
