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

	rels    []*relRule
	funcs   []string
	cols    []colRef
	pending []pendingRef // column names that some policy blocks; judged at the end
}

// scope is one query level: the CTEs its WITH defines (as far as they are
// visible yet) and the range entries of its FROM.
type scope struct {
	parent  *scope
	ctes    []string
	entries []entry
}

// entry is one name a query level can qualify columns with.
type entry struct {
	name    string
	base    *relRule // a permitted base relation; nil for CTEs, subqueries, functions, join aliases
	tainted bool     // a base relation with blocked columns, or a join alias wrapping one
}

type colRef struct {
	rel string // canonical schema.table, "?" when unresolved
	col string
}

type pendingRef struct {
	name string
	loc  int32
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

// --- scopes -----------------------------------------------------------------

func (w *walker) lookupCTE(name string) *scope {
	for s := w.scope; s != nil; s = s.parent {
		for _, c := range s.ctes {
			if c == name {
				return s
			}
		}
	}
	return nil
}

// lookupEntry finds the range entry a qualifier names: the nearest query
// level with an entry of that name (compared case-insensitively, which can
// only add matches); a tainted one wins among several.
func (w *walker) lookupEntry(name string) *entry {
	for s := w.scope; s != nil; s = s.parent {
		var found *entry
		for i := range s.entries {
			e := &s.entries[i]
			if strings.EqualFold(e.name, name) {
				if e.tainted {
					return e
				}
				if found == nil {
					found = e
				}
			}
		}
		if found != nil {
			return found
		}
	}
	return nil
}

func (w *walker) addEntry(e entry) {
	w.scope.entries = append(w.scope.entries, e)
}

// --- statements -------------------------------------------------------------

func (w *walker) visitSelectStmt(n *pg.SelectStmt) {
	if w.err != nil {
		return
	}
	if w.depth++; w.depth > w.maxDepth {
		w.fail(CodeResourceLimit, -1, "the query is nested too deeply (more than "+strconv.Itoa(w.maxDepth)+" levels)")
		w.depth--
		return
	}
	defer func() { w.depth-- }()
	inExists := w.existsSel == n
	w.existsSel = nil
	if n.IntoClause != nil {
		w.rejectMsg(n.IntoClause)
		return
	}
	if len(n.LockingClause) > 0 {
		loc := int32(-1)
		for _, l := range n.LockingClause {
			for _, r := range l.GetLockingClause().GetLockedRels() {
				if rv := r.GetRangeVar(); rv != nil {
					loc = rv.Location
				}
			}
		}
		w.fail(CodeLockingClause, loc, "FOR UPDATE/SHARE locking clauses are not allowed")
		return
	}
	outer := w.scope
	w.scope = &scope{parent: outer}
	defer func() { w.scope = outer }()

	if n.WithClause != nil {
		w.visitWithClause(n.WithClause)
	}
	if n.Larg != nil {
		w.visitSelectStmt(n.Larg)
	}
	if n.Rarg != nil {
		w.visitSelectStmt(n.Rarg)
	}
	for _, item := range n.FromClause {
		w.node(item)
	}
	if w.err != nil {
		return
	}
	w.checkFromCost(n)
	skip := fSelectStmt_IntoClause | fSelectStmt_LockingClause | fSelectStmt_WithClause |
		fSelectStmt_FromClause | fSelectStmt_Larg | fSelectStmt_Rarg
	if inExists {
		// EXISTS (SELECT * FROM users …) only tests for a row: its * is
		// never expanded into output. Everything else is checked as usual.
		skip |= fSelectStmt_TargetList
		for _, t := range n.TargetList {
			if !isStarTarget(t) {
				w.node(t)
			}
		}
	}
	w.walkSelectStmt(n, skip)
}

// isStarTarget reports whether a select-list item is * or x.*.
func isStarTarget(t *pg.Node) bool {
	f := t.GetResTarget().GetVal().GetColumnRef().GetFields()
	if len(f) == 0 {
		return false
	}
	_, star := f[len(f)-1].Node.(*pg.Node_AStar)
	return star
}

// visitWithClause defines the CTEs in the current scope. Without RECURSIVE a
// CTE sees only the CTEs before it; with RECURSIVE it sees all of them.
func (w *walker) visitWithClause(n *pg.WithClause) {
	s := w.scope
	if n.Recursive {
		for _, c := range n.Ctes {
			if cte := c.GetCommonTableExpr(); cte != nil {
				s.ctes = append(s.ctes, cte.Ctename)
			}
		}
	}
	for _, c := range n.Ctes {
		if w.err != nil {
			return
		}
		cte := c.GetCommonTableExpr()
		if cte == nil {
			w.node(c) // rejected: not a CTE
			continue
		}
		w.visitCommonTableExpr(cte)
		if n.Recursive {
			w.checkRecursiveCTE(cte)
		} else {
			s.ctes = append(s.ctes, cte.Ctename)
		}
	}
	w.walkWithClause(n, fWithClause_Ctes)
}

func (w *walker) visitCommonTableExpr(n *pg.CommonTableExpr) {
	if n.Ctequery == nil {
		w.fail(CodeUnsupportedNode, n.Location, "a WITH query without a body")
		return
	}
	if _, ok := n.Ctequery.Node.(*pg.Node_SelectStmt); !ok {
		w.node(n.Ctequery) // rejected by type: data_modifying_cte, not_select…
		if w.err == nil {
			w.fail(CodeNotSelect, n.Location, "the body of WITH query "+ident(n.Ctename)+" must be a SELECT")
		}
		return
	}
	w.walkCommonTableExpr(n, 0)
}

// --- FROM items -------------------------------------------------------------

// visitRangeVar resolves a relation (or CTE) reference in FROM and adds its
// range entry.
func (w *walker) visitRangeVar(n *pg.RangeVar) {
	alias := ""
	if n.Alias != nil {
		alias = n.Alias.Aliasname
	}
	if n.Catalogname == "" && n.Schemaname == "" && w.lookupCTE(n.Relname) != nil {
		w.addEntry(entry{name: or(alias, n.Relname)})
		w.walkRangeVar(n, 0)
		return
	}
	rule := w.resolve(n)
	if rule == nil {
		return
	}
	w.rels = append(w.rels, rule)
	tainted := len(rule.blocked) > 0
	if tainted && n.Alias != nil && len(n.Alias.Colnames) > 0 {
		w.fail(CodeBlockedColumn, n.Location, "a column alias list on "+ident(rule.key)+
			", which has blocked columns, is not allowed (it can rename them)")
		return
	}
	w.addEntry(entry{name: or(alias, n.Relname), base: rule, tainted: tainted})
	w.walkRangeVar(n, 0)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// resolve canonicalises a relation reference the way the server resolves
// it and applies the policy. It returns nil after failing.
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
		if c.blockedRel[lower(key)] {
			w.fail(CodeBlockedTable, n.Location, "relation "+ident(key)+" is blocked")
			return nil
		}
		if r := c.ruleFor(n.Schemaname, key); r != nil {
			return r
		}
		w.fail(CodeRelationNotAllowed, n.Location, "relation "+ident(key)+" is not allowed")
		return nil
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
		if c.blockedRel[lower(key)] {
			w.fail(CodeBlockedTable, n.Location, "relation "+ident(key)+" is blocked")
			return nil
		}
		if c.exact {
			if r := c.allowedRel[key]; r != nil {
				return r
			}
			continue // not in this schema: the server looks further
		}
		if !c.allowedSchema[sp] {
			break // it might exist here; cannot tell, so refuse
		}
		return c.ruleFor(sp, key)
	}
	w.fail(CodeRelationNotAllowed, n.Location, "relation "+ident(n.Relname)+" is not allowed")
	return nil
}

func (w *walker) visitRangeSubselect(n *pg.RangeSubselect) {
	if _, ok := n.Subquery.GetNode().(*pg.Node_SelectStmt); !ok {
		w.node(n.Subquery)
		if w.err == nil {
			w.fail(CodeUnsupportedNode, -1, "a subquery in FROM must be a SELECT")
		}
		return
	}
	w.node(n.Subquery)
	name := ""
	if n.Alias != nil {
		name = n.Alias.Aliasname
	}
	w.addEntry(entry{name: name})
	w.walkRangeSubselect(n, fRangeSubselect_Subquery)
}

func (w *walker) visitRangeFunction(n *pg.RangeFunction) {
	w.walkRangeFunction(n, 0)
	name := ""
	if n.Alias != nil {
		name = n.Alias.Aliasname
	} else if len(n.Functions) > 0 {
		if l := n.Functions[0].GetList(); l != nil && len(l.Items) > 0 {
			if fc := l.Items[0].GetFuncCall(); fc != nil {
				name, _ = funcName(fc)
			}
		}
	}
	w.addEntry(entry{name: name})
}

func (w *walker) visitRangeTableSample(n *pg.RangeTableSample) {
	method, ok := qualifiedName(n.Method)
	if !ok || !tableSampleMethods[method] {
		w.fail(CodeFunctionNotAllowed, n.Location, "TABLESAMPLE method "+ident(joinNames(n.Method))+" is not allowed")
		return
	}
	w.walkRangeTableSample(n, fRangeTableSample_Method)
}

// visitJoinExpr walks both sides (adding their entries to the current
// level), then applies the join rules for tables with blocked columns.
func (w *walker) visitJoinExpr(n *pg.JoinExpr) {
	s := w.scope
	start := len(s.entries)
	w.node(n.Larg)
	mid := len(s.entries)
	w.node(n.Rarg)
	if w.err != nil {
		return
	}
	left, right := s.entries[start:mid], s.entries[mid:]
	lt, rt := anyTainted(left), anyTainted(right)
	if n.IsNatural && (lt != nil || rt != nil) {
		t := lt
		if t == nil {
			t = rt
		}
		w.fail(CodeBlockedColumn, -1, "NATURAL JOIN with "+ident(t.base.key)+", which has blocked columns, is not allowed")
		return
	}
	for _, u := range n.UsingClause {
		col := u.GetString_().GetSval()
		for _, e := range s.entries[start:] {
			if e.base != nil && blocks(e.base, col) {
				w.fail(CodeBlockedColumn, -1, "column "+ident(col)+" of "+ident(e.base.key)+" is blocked (JOIN USING)")
				return
			}
		}
	}
	w.walkJoinExpr(n, fJoinExpr_Larg|fJoinExpr_Rarg)
	if n.Alias != nil {
		w.addEntry(entry{name: n.Alias.Aliasname, tainted: lt != nil || rt != nil})
	}
	if n.JoinUsingAlias != nil {
		w.addEntry(entry{name: n.JoinUsingAlias.Aliasname})
	}
}

func anyTainted(es []entry) *entry {
	for i := range es {
		if es[i].tainted {
			if es[i].base == nil {
				continue
			}
			return &es[i]
		}
	}
	for i := range es {
		if es[i].tainted {
			return &es[i]
		}
	}
	return nil
}

func blocks(r *relRule, col string) bool {
	for _, b := range r.blocked {
		if strings.EqualFold(b, col) {
			return true
		}
	}
	return false
}

// --- expressions ------------------------------------------------------------

// visitColumnRef applies the star, whole-row and blocked-column rules.
func (w *walker) visitColumnRef(n *pg.ColumnRef) {
	f := n.Fields
	if len(f) == 0 {
		return
	}
	w.walkColumnRef(n, 0)
	if len(w.c.blockedNames) > 0 {
		for _, x := range f {
			if s := x.GetString_(); s != nil && w.c.blockedNames[lower(s.Sval)] {
				w.pending = append(w.pending, pendingRef{name: s.Sval, loc: n.Location})
			}
		}
	}
	last := f[len(f)-1]
	if _, star := last.Node.(*pg.Node_AStar); star {
		if len(f) == 1 {
			for _, e := range w.scope.entries {
				if e.tainted {
					w.fail(CodeStarOnBlockedTable, n.Location, "* over "+taintName(e)+
						", which has blocked columns, is not allowed: list the columns")
					return
				}
			}
			return
		}
		qual := f[len(f)-2].GetString_().GetSval()
		if e := w.lookupEntry(qual); e != nil && e.tainted {
			w.fail(CodeStarOnBlockedTable, n.Location, ident(qual)+".* over "+taintName(*e)+
				", which has blocked columns, is not allowed: list the columns")
		}
		return
	}
	col := last.GetString_().GetSval()
	if len(f) == 1 {
		if e := w.lookupEntry(col); e != nil && e.tainted {
			w.fail(CodeWholeRowReference, n.Location, "the whole-row reference "+ident(col)+" to "+taintName(*e)+
				", which has blocked columns, is not allowed: list the columns")
			return
		}
		w.cols = append(w.cols, w.resolveUnqualified(col))
		return
	}
	qual := f[len(f)-2].GetString_().GetSval()
	switch e := w.lookupEntry(qual); {
	case e == nil:
		w.cols = append(w.cols, colRef{rel: "?", col: col})
	case e.base != nil:
		w.cols = append(w.cols, colRef{rel: e.base.key, col: col})
	}
}

func taintName(e entry) string {
	if e.base != nil {
		return ident(e.base.key)
	}
	return ident(e.name)
}

// resolveUnqualified attributes an unqualified column for Columns(): to the
// only relation of the current level when it has exactly one, else "?".
// Columns of a level reading only subqueries, CTEs or functions are not
// base columns and are skipped (colRef with empty col).
func (w *walker) resolveUnqualified(col string) colRef {
	var base *relRule
	bases, others := 0, 0
	for _, e := range w.scope.entries {
		if e.base != nil {
			bases++
			base = e.base
		} else {
			others++
		}
	}
	switch {
	case bases == 1 && others == 0:
		return colRef{rel: base.key, col: col}
	case bases == 0 && others > 0:
		return colRef{}
	}
	return colRef{rel: "?", col: col}
}

// visitA_Indirection: (expr).field — field names are judged like column
// names; the base expression (often a whole-row reference) is walked.
func (w *walker) visitA_Indirection(n *pg.A_Indirection) {
	if len(w.c.blockedNames) > 0 {
		for _, x := range n.Indirection {
			if s := x.GetString_(); s != nil && w.c.blockedNames[lower(s.Sval)] {
				loc := int32(-1)
				if n.Arg != nil {
					loc = nodeLocation(n.Arg.ProtoReflect())
				}
				w.pending = append(w.pending, pendingRef{name: s.Sval, loc: loc})
			}
		}
	}
	w.walkA_Indirection(n, 0)
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

// finish runs the checks that need the whole query: blocked column names
// against every relation read.
func (w *walker) finish() {
	if w.err != nil {
		return
	}
	for _, p := range w.pending {
		for _, r := range w.rels {
			if blocks(r, p.name) {
				w.fail(CodeBlockedColumn, p.loc, "column "+ident(p.name)+" of "+ident(r.key)+" is blocked")
				return
			}
		}
	}
}
