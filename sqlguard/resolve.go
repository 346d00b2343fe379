package sqlguard

import (
	"slices"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Name resolution, as PostgreSQL's parser does it (parse_relation.c,
// parse_expr.c, parse_clause.c, parse_target.c), against the catalog.
//
// A query level is a scope: its CTEs and its namespace, the range items of
// its FROM. Each item has a name (the alias, or the relation's, CTE's or
// function's name), flags saying whether that name and its columns can be
// seen, and its columns in order. Columns carry what they read (the base
// column) and whether they carry a blocked column, through every rename.

// column is one column of a range item or one output column of a query.
type column struct {
	name string
	// certain: the name is known exactly. The output name of an expression
	// the guard cannot name for sure is uncertain: it never matches, and a
	// lookup that might have matched it is refused.
	certain bool
	typ     string // composite type key ("schema.name", "…[]" for arrays) when known
	// blocked is the blocked base column this column carries
	// ("schema.table.column"); blockedDesc is set when the block is on a
	// descendant read through its parent.
	blocked     string
	blockedDesc bool
	reads       []string // base columns read when this column is referenced
	base        colRef   // for Columns(): the base column, when it is one
}

// item is a range item of a query level's namespace (PostgreSQL's
// ParseNamespaceItem).
type item struct {
	name        string
	relVisible  bool // the name can qualify columns
	colsVisible bool // its columns can be named unqualified
	lateralOnly bool // a FROM item to the left: visible only inside LATERAL
	lateralOK   bool // a LATERAL reference to it is legal (not the left side of RIGHT/FULL JOIN)
	rule        *relRule
	aliased     bool // a relation with an alias (schema.table.col cannot name it)
	cols        []column
	sys         []string // system columns
	relKeys     []string // base relations read (the relation, and its descendants without ONLY)
	complete    bool     // every column name is certain
	kind        string   // for messages: "table", "join", "subquery", "WITH query", "function", "VALUES"
	wholeReads  []string // what a whole-row reference reads (base relations: "schema.table.*")
}

// cte is a WITH query visible at a level.
type cte struct {
	name     string
	cols     []column
	complete bool
	pending  bool // WITH RECURSIVE: columns not known yet
}

// scope is one query level.
type scope struct {
	parent        *scope
	ctes          []*cte
	items         []*item
	lateralActive bool
}

func (it *item) describe() string {
	switch {
	case it.rule != nil:
		return ident(it.rule.key)
	case it.name != "":
		return it.kind + " " + ident(it.name)
	}
	return "an unnamed " + it.kind
}

// tainted returns a blocked column the item carries, or "".
func (it *item) tainted() string {
	for _, c := range it.cols {
		if c.blocked != "" {
			return c.blocked
		}
	}
	return ""
}

func (w *walker) lookupCTE(name string) *cte {
	for s := w.scope; s != nil; s = s.parent {
		for i := len(s.ctes) - 1; i >= 0; i-- {
			if s.ctes[i].name == name {
				return s.ctes[i]
			}
		}
	}
	return nil
}

// --- query levels ------------------------------------------------------------

func (w *walker) visitSelectStmt(n *pg.SelectStmt) { w.selectStmt(n) }

// selectStmt validates one query level and returns its output columns.
func (w *walker) selectStmt(n *pg.SelectStmt) []column {
	if w.err != nil || n == nil {
		return nil
	}
	if w.depth++; w.depth > w.maxDepth {
		w.fail(CodeResourceLimit, -1, "the query is nested too deeply (more than "+strconv.Itoa(w.maxDepth)+" levels)")
		w.depth--
		return nil
	}
	defer func() { w.depth-- }()
	inExists := w.existsSel == n
	w.existsSel = nil
	if n.IntoClause != nil {
		w.rejectMsg(n.IntoClause)
		return nil
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
		return nil
	}
	outer := w.scope
	s := &scope{parent: outer}
	w.scope = s
	defer func() { w.scope = outer }()

	if n.WithClause != nil {
		w.withClause(n.WithClause)
	}
	skip := fSelectStmt_IntoClause | fSelectStmt_LockingClause | fSelectStmt_WithClause |
		fSelectStmt_FromClause | fSelectStmt_Larg | fSelectStmt_Rarg | fSelectStmt_TargetList |
		fSelectStmt_GroupClause | fSelectStmt_SortClause | fSelectStmt_DistinctClause | fSelectStmt_ValuesLists

	var out []column
	// Op is SETOP_NONE (or unset, in a tree built by hand) for a plain
	// SELECT or VALUES.
	setop := n.Op > pg.SetOperation_SETOP_NONE || n.Larg != nil || n.Rarg != nil
	if setop && (n.Larg == nil || n.Rarg == nil) || (setop || len(n.ValuesLists) > 0) && (len(n.FromClause) > 0 ||
		len(n.TargetList) > 0 || len(n.GroupClause) > 0 || len(n.DistinctClause) > 0 || n.WhereClause != nil ||
		n.HavingClause != nil || len(n.WindowClause) > 0) || setop && len(n.ValuesLists) > 0 {
		w.fail(CodeUnsupportedNode, -1, "malformed SELECT")
		return nil
	}
	switch {
	case setop:
		l := w.selectStmt(n.Larg)
		r := w.selectStmt(n.Rarg)
		if w.err != nil {
			return nil
		}
		if len(l) != len(r) {
			w.failInvalid(CodeUnresolvedName, -1, "each branch of UNION, INTERSECT or EXCEPT must have the same number of columns")
			return nil
		}
		for i, c := range l {
			typ := ""
			if c.typ == r[i].typ {
				typ = c.typ
			}
			out = append(out, column{name: c.name, certain: c.certain, typ: typ})
		}
		// ORDER BY and LIMIT of a set operation see only its output
		// columns, by name.
		s.items = []*item{{colsVisible: true, cols: out, complete: allCertain(out), kind: "set operation"}}
		for _, sb := range n.SortClause {
			w.node(sb)
		}
	case len(n.ValuesLists) > 0:
		width := -1
		for _, row := range n.ValuesLists {
			items := row.GetList().GetItems()
			if width >= 0 && len(items) != width {
				w.failInvalid(CodeUnresolvedName, -1, "VALUES lists must all be the same length")
				return nil
			}
			width = len(items)
			w.node(row)
		}
		for i := 0; i < width; i++ {
			out = append(out, column{name: "column" + strconv.Itoa(i+1), certain: true})
		}
		s.items = []*item{{colsVisible: true, cols: out, complete: true, kind: "VALUES"}}
		for _, sb := range n.SortClause {
			w.node(sb)
		}
	default:
		w.fromClause(n.FromClause)
		if w.err != nil {
			return nil
		}
		w.checkFromCost(n)
		targets := w.targetList(n.TargetList, inExists)
		if w.err != nil {
			return nil
		}
		for _, g := range n.GroupClause {
			w.groupItem(g, targets)
		}
		for _, d := range n.DistinctClause {
			if d != nil && d.Node != nil {
				w.orderItem(d, targets)
			}
		}
		for _, sb := range n.SortClause {
			if x := sb.GetSortBy(); x != nil {
				w.checkOperator(x.UseOp, x.Location)
				w.orderItem(x.Node, targets)
				w.walkSortBy(x, fSortBy_UseOp|fSortBy_Node)
			} else {
				w.node(sb)
			}
		}
		out = targets
	}
	if w.err != nil {
		return nil
	}
	w.walkSelectStmt(n, skip)
	return out
}

func allCertain(cols []column) bool {
	for _, c := range cols {
		if !c.certain {
			return false
		}
	}
	return true
}

// targetList resolves the select list and returns the output columns.
func (w *walker) targetList(list []*pg.Node, inExists bool) []column {
	var out []column
	for _, t := range list {
		if w.err != nil {
			return nil
		}
		rt := t.GetResTarget()
		if rt == nil {
			w.node(t) // rejected: not a ResTarget
			continue
		}
		if cr := rt.GetVal().GetColumnRef(); cr != nil && isStar(cr) {
			if inExists {
				// EXISTS (SELECT * …) only tests for a row: its * is never
				// output, so it exposes nothing.
				continue
			}
			out = append(out, w.expandStar(cr)...)
			w.walkResTarget(rt, fResTarget_Val)
			continue
		}
		c := column{}
		if cr := rt.GetVal().GetColumnRef(); cr != nil {
			// A bare column keeps its type (for (x).f on the output).
			if r := w.columnRef(cr); r.err == nil && r.col != nil {
				c.typ = r.col.typ
			}
		} else {
			w.node(rt.Val)
		}
		w.walkResTarget(rt, fResTarget_Val)
		if rt.Name != "" {
			c.name, c.certain = rt.Name, true
		} else {
			c.name, c.certain = figureColname(rt.Val)
		}
		out = append(out, c)
	}
	return out
}

func isStar(cr *pg.ColumnRef) bool {
	if len(cr.Fields) == 0 {
		return false
	}
	_, ok := cr.Fields[len(cr.Fields)-1].Node.(*pg.Node_AStar)
	return ok
}

// bareName returns the name of an expression that is a one-part column
// reference.
func bareName(n *pg.Node) (string, bool) {
	cr := n.GetColumnRef()
	if cr == nil || len(cr.Fields) != 1 {
		return "", false
	}
	s := cr.Fields[0].GetString_()
	if s == nil {
		return "", false
	}
	return s.Sval, true
}

// matchTarget reports whether name matches an output column for certain,
// and whether it might match one whose name is uncertain.
func matchTarget(name string, targets []column) (match, maybe bool) {
	for _, t := range targets {
		switch {
		case !t.certain:
			maybe = true
		case t.name == name:
			match = true
		}
	}
	return match, maybe
}

// orderItem resolves an ORDER BY or DISTINCT ON item: a bare name is an
// output column first (SQL92), then an input column or expression (SQL99).
func (w *walker) orderItem(n *pg.Node, targets []column) {
	if name, ok := bareName(n); ok {
		// A certain match is what PostgreSQL takes. A name that might match
		// an output column whose name is uncertain must also pass as an
		// input reference.
		if match, _ := matchTarget(name, targets); match {
			return
		}
	}
	w.node(n)
}

// groupItem resolves a GROUP BY item: a bare name is an input column of this
// level first, then an output column, then an outer reference.
func (w *walker) groupItem(n *pg.Node, targets []column) {
	if gs := n.GetGroupingSet(); gs != nil {
		for _, c := range gs.Content {
			w.groupItem(c, targets)
		}
		return
	}
	if name, ok := bareName(n); ok {
		local, unsure := w.localColumn(name)
		if !local && !unsure {
			match, maybe := matchTarget(name, targets)
			if match && !maybe {
				return
			}
		}
	}
	w.node(n)
}

// localColumn reports whether name is a column of the current level's
// namespace (unsure when an item's column names are not all known).
func (w *walker) localColumn(name string) (found, unsure bool) {
	s := w.scope
	for _, it := range s.items {
		if !it.colsVisible || (it.lateralOnly && !s.lateralActive) {
			continue
		}
		if c, _ := it.column(name); c != nil {
			return true, false
		}
		if !it.complete {
			unsure = true
		}
	}
	return false, unsure
}

// --- WITH --------------------------------------------------------------------

func (w *walker) visitWithClause(n *pg.WithClause) {
	w.fail(CodeUnsupportedNode, n.Location, "a WITH clause in this position is not supported")
}

func (w *walker) visitCommonTableExpr(n *pg.CommonTableExpr) {
	w.fail(CodeUnsupportedNode, n.Location, "a WITH query in this position is not supported")
}

// withClause defines the CTEs of the current level. Without RECURSIVE a CTE
// sees only the CTEs before it; with RECURSIVE all of them, so they are
// defined in the order of their references.
func (w *walker) withClause(n *pg.WithClause) {
	s := w.scope
	var list []*pg.CommonTableExpr
	for _, c := range n.Ctes {
		x := c.GetCommonTableExpr()
		if x == nil {
			w.node(c) // rejected: not a CTE
			return
		}
		list = append(list, x)
	}
	if !n.Recursive {
		for _, x := range list {
			if w.err != nil {
				return
			}
			cols := w.cteQuery(x, nil)
			s.ctes = append(s.ctes, &cte{name: x.Ctename, cols: cols, complete: allCertain(cols)})
		}
		w.walkWithClause(n, fWithClause_Ctes)
		return
	}
	defs := make([]*cte, len(list))
	for i, x := range list {
		defs[i] = &cte{name: x.Ctename, pending: true}
		s.ctes = append(s.ctes, defs[i])
	}
	// Define each CTE once every sibling it reads is defined.
	done := make([]bool, len(list))
	for progress := true; progress; {
		progress = false
		for i, x := range list {
			if done[i] || w.err != nil {
				continue
			}
			ready := true
			for _, name := range rangeVarNames(x.Ctequery) {
				for j, d := range defs {
					if j != i && d.name == name && d.pending {
						ready = false
					}
				}
			}
			if !ready {
				continue
			}
			cols := w.cteQuery(x, defs[i])
			defs[i].cols, defs[i].complete, defs[i].pending = cols, allCertain(cols), false
			w.checkRecursiveCTE(x)
			done[i], progress = true, true
		}
	}
	if w.err != nil {
		return
	}
	for i, x := range list {
		if !done[i] {
			w.fail(CodeUnresolvedName, x.Location, "WITH query "+ident(x.Ctename)+
				" depends on another WITH query that depends on it (mutual recursion is not supported)")
			return
		}
	}
	w.walkWithClause(n, fWithClause_Ctes)
}

// cteQuery validates a CTE's body and returns its columns (after its
// column list, SEARCH and CYCLE columns). self is the CTE being defined
// under RECURSIVE: its columns come from the non-recursive term.
func (w *walker) cteQuery(n *pg.CommonTableExpr, self *cte) []column {
	if n.Ctequery == nil {
		w.fail(CodeUnsupportedNode, n.Location, "a WITH query without a body")
		return nil
	}
	sel := n.Ctequery.GetSelectStmt()
	if sel == nil {
		w.node(n.Ctequery) // rejected by type: data_modifying_cte, not_select…
		if w.err == nil {
			w.fail(CodeNotSelect, n.Location, "the body of WITH query "+ident(n.Ctename)+" must be a SELECT")
		}
		return nil
	}
	if self != nil && sel.Op != pg.SetOperation_SETOP_NONE && sel.Larg != nil && readsName(n.Ctequery, n.Ctename) {
		// The non-recursive term gives the columns; then the whole body is
		// checked with the CTE defined.
		cols := w.selectStmt(sel.Larg)
		if w.err != nil {
			return nil
		}
		self.cols = w.aliasColumns(cols, n.Aliascolnames, n.Location, "WITH query "+ident(n.Ctename))
		self.complete, self.pending = allCertain(self.cols), false
	}
	cols := w.selectStmt(sel)
	if w.err != nil {
		return nil
	}
	cols = w.aliasColumns(cols, n.Aliascolnames, n.Location, "WITH query "+ident(n.Ctename))
	if sc := n.SearchClause; sc != nil && sc.SearchSeqColumn != "" {
		cols = append(cols, column{name: sc.SearchSeqColumn, certain: true})
	}
	if cc := n.CycleClause; cc != nil {
		if cc.CycleMarkColumn != "" {
			cols = append(cols, column{name: cc.CycleMarkColumn, certain: true})
		}
		if cc.CyclePathColumn != "" {
			cols = append(cols, column{name: cc.CyclePathColumn, certain: true})
		}
	}
	w.walkCommonTableExpr(n, fCommonTableExpr_Ctequery)
	return cols
}

// rangeVarNames lists the unqualified relation names a query mentions
// anywhere (for the definition order of recursive CTEs).
func rangeVarNames(n *pg.Node) []string {
	var out []string
	eachRangeVar(n, func(rv *pg.RangeVar) {
		if rv.Schemaname == "" && rv.Catalogname == "" {
			out = append(out, rv.Relname)
		}
	})
	return out
}

func readsName(n *pg.Node, name string) bool {
	for _, r := range rangeVarNames(n) {
		if r == name {
			return true
		}
	}
	return false
}

// aliasColumns renames the first columns by an alias column list.
func (w *walker) aliasColumns(cols []column, names []*pg.Node, loc int32, what string) []column {
	if len(names) == 0 {
		return cols
	}
	if len(names) > len(cols) {
		w.failInvalid(CodeUnresolvedName, loc, what+" has "+strconv.Itoa(len(cols))+" columns but "+
			strconv.Itoa(len(names))+" column names were given")
		return cols
	}
	out := append([]column(nil), cols...)
	for i, nm := range names {
		s := nm.GetString_()
		if s == nil {
			w.node(nm)
			return cols
		}
		out[i].name, out[i].certain = s.Sval, true
	}
	return out
}

// relColumns are the columns of a relation as a range item shows them,
// read with or without its descendants.
type relColumns struct {
	cols  []column
	keys  []string // the relations read
	whole []string // "schema.table.*" of each
}

// columns returns the relation's columns (inh 1: with its descendants, as
// without ONLY), built once.
func (r *relRule) columns(inh int) *relColumns {
	r.colsOnce[inh].Do(func() {
		rc := &relColumns{keys: []string{r.key}}
		if inh == 1 {
			rc.keys = append(rc.keys, r.info.desc...)
		}
		for _, k := range rc.keys {
			rc.whole = append(rc.whole, k+".*")
		}
		for _, c := range r.info.rel.Columns {
			col := column{name: c.Name, certain: true, typ: c.Type, base: colRef{rel: r.key, col: c.Name}}
			for _, k := range rc.keys {
				col.reads = append(col.reads, k+"."+c.Name)
			}
			if containsFold(r.blocked, c.Name) {
				col.blocked = r.key + "." + c.Name
			} else if d, ok := r.descCols[lower(c.Name)]; ok && inh == 1 {
				col.blocked, col.blockedDesc = d+"."+c.Name, true
			}
			rc.cols = append(rc.cols, col)
		}
		r.colsCache[inh] = rc
	})
	return r.colsCache[inh]
}

// --- FROM --------------------------------------------------------------------

// fromClause adds the items of a FROM list to the current level. Each item
// sees the ones to its left only through LATERAL.
func (w *walker) fromClause(list []*pg.Node) {
	s := w.scope
	for _, n := range list {
		ns := w.fromItem(n)
		if w.err != nil {
			return
		}
		for _, it := range ns {
			it.lateralOnly, it.lateralOK = true, true
		}
		s.items = append(s.items, ns...)
	}
	for _, it := range s.items {
		it.lateralOnly = false
	}
}

// fromItem validates one FROM item and returns the namespace items it adds.
func (w *walker) fromItem(n *pg.Node) []*item {
	if w.err != nil || n == nil {
		return nil
	}
	if w.depth++; w.depth > w.maxDepth {
		w.tooDeep(n)
		w.depth--
		return nil
	}
	defer func() { w.depth-- }()
	switch x := n.Node.(type) {
	case *pg.Node_RangeVar:
		if it := w.rangeVar(x.RangeVar); it != nil {
			return []*item{it}
		}
	case *pg.Node_RangeSubselect:
		return w.rangeSubselect(x.RangeSubselect)
	case *pg.Node_RangeFunction:
		return w.rangeFunction(x.RangeFunction)
	case *pg.Node_JoinExpr:
		return w.joinExpr(x.JoinExpr)
	case *pg.Node_RangeTableSample:
		return w.rangeTableSample(x.RangeTableSample)
	default:
		w.node(n)
		if w.err == nil {
			w.fail(CodeUnsupportedNode, nodeLocation(n.ProtoReflect()), "unsupported FROM item")
		}
	}
	return nil
}

// visitRangeVar: a relation outside FROM.
func (w *walker) visitRangeVar(n *pg.RangeVar) {
	w.fail(CodeUnsupportedNode, n.Location, "a relation in this position is not supported")
}

func (w *walker) visitRangeSubselect(n *pg.RangeSubselect) {
	w.fail(CodeUnsupportedNode, -1, "a subquery in FROM in this position is not supported")
}

func (w *walker) visitRangeFunction(n *pg.RangeFunction) {
	w.fail(CodeUnsupportedNode, -1, "a function in FROM in this position is not supported")
}

func (w *walker) visitRangeTableSample(n *pg.RangeTableSample) {
	w.fail(CodeUnsupportedNode, n.Location, "TABLESAMPLE in this position is not supported")
}

func (w *walker) visitJoinExpr(n *pg.JoinExpr) {
	w.fail(CodeUnsupportedNode, -1, "a JOIN in this position is not supported")
}

// rangeVar resolves a relation or CTE reference in FROM.
func (w *walker) rangeVar(n *pg.RangeVar) *item {
	alias := ""
	var colnames []*pg.Node
	if n.Alias != nil {
		alias, colnames = n.Alias.Aliasname, n.Alias.Colnames
	}
	if n.Catalogname == "" && n.Schemaname == "" {
		if c := w.lookupCTE(n.Relname); c != nil {
			if c.pending {
				w.fail(CodeUnresolvedName, n.Location, "WITH query "+ident(n.Relname)+
					" is read before its columns are known (a recursive reference outside the recursive term)")
				return nil
			}
			it := &item{name: or(alias, n.Relname), relVisible: true, colsVisible: true, kind: "WITH query"}
			it.cols = w.aliasColumns(c.cols, colnames, n.Location, "WITH query "+ident(n.Relname))
			it.complete = allCertain(it.cols)
			w.walkRangeVar(n, 0)
			return it
		}
	}
	rule := w.resolve(n)
	if rule == nil {
		return nil
	}
	if rule.info == nil {
		w.fail(CodeUnresolvedName, n.Location, "relation "+ident(rule.key)+
			" is not in the catalog snapshot, so its columns cannot be resolved (refresh the schema)")
		return nil
	}
	if n.Inh && rule.blockedDesc != "" {
		w.fail(CodeBlockedDescendant, n.Location, "reading "+ident(rule.key)+" also reads "+ident(rule.blockedDesc)+
			", which is blocked (a partition or inheritance child): read ONLY "+ident(rule.key)+" or a permitted partition")
		return nil
	}
	w.rels = append(w.rels, rule)
	inh := 0
	if n.Inh {
		inh = 1
	}
	rc := rule.columns(inh)
	it := &item{name: or(alias, n.Relname), relVisible: true, colsVisible: true, rule: rule,
		aliased: n.Alias != nil, sys: rule.info.rel.SystemColumns, complete: true, kind: "table",
		relKeys: rc.keys, wholeReads: rc.whole, cols: rc.cols}
	it.cols = w.aliasColumns(it.cols, colnames, n.Location, "relation "+ident(rule.key))
	w.walkRangeVar(n, 0)
	return it
}

func (w *walker) rangeSubselect(n *pg.RangeSubselect) []*item {
	sel := n.Subquery.GetSelectStmt()
	if sel == nil {
		w.node(n.Subquery)
		if w.err == nil {
			w.fail(CodeUnsupportedNode, -1, "a subquery in FROM must be a SELECT")
		}
		return nil
	}
	s := w.scope
	saved := s.lateralActive
	s.lateralActive = n.Lateral
	cols := w.selectStmt(sel)
	s.lateralActive = saved
	if w.err != nil {
		return nil
	}
	it := &item{colsVisible: true, kind: "subquery"}
	if n.Alias != nil {
		it.name, it.relVisible = n.Alias.Aliasname, true
		cols = w.aliasColumns(cols, n.Alias.Colnames, -1, "subquery "+ident(n.Alias.Aliasname))
	}
	it.cols, it.complete = cols, allCertain(cols)
	w.walkRangeSubselect(n, fRangeSubselect_Subquery)
	return []*item{it}
}

// funcOutputs are the output columns of the allowlisted functions that
// return more than one column (their OUT parameters), and the name of the
// single OUT parameter of those that return one named column.
var funcOutputs = map[string][]string{
	"json_each": {"key", "value"}, "json_each_text": {"key", "value"},
	"jsonb_each": {"key", "value"}, "jsonb_each_text": {"key", "value"},
}

var funcOutName = map[string]string{
	"json_array_elements": "value", "json_array_elements_text": "value",
	"jsonb_array_elements": "value", "jsonb_array_elements_text": "value",
}

// recordFuncs return "record": their columns come from a column
// definition list.
var recordFuncs = map[string]bool{
	"json_to_record": true, "json_to_recordset": true, "jsonb_to_record": true, "jsonb_to_recordset": true,
}

// rangeFunction validates a function in FROM (always able to see the items
// to its left, as if LATERAL) and returns its item.
func (w *walker) rangeFunction(n *pg.RangeFunction) []*item {
	s := w.scope
	saved := s.lateralActive
	s.lateralActive = true
	w.walkRangeFunction(n, 0)
	s.lateralActive = saved
	if w.err != nil {
		return nil
	}
	it := &item{relVisible: true, colsVisible: true, kind: "function", complete: true}
	var names []string
	nf := len(n.Functions)
	for i, f := range n.Functions {
		var expr *pg.Node
		var coldefs []*pg.Node
		if l := f.GetList(); l != nil && len(l.Items) > 0 {
			expr = l.Items[0]
			if len(l.Items) > 1 {
				coldefs = l.Items[1].GetList().GetItems()
			}
		} else {
			expr = f
		}
		if nf == 1 && len(n.Coldeflist) > 0 {
			coldefs = n.Coldeflist
		}
		fname, certain := figureColname(expr)
		if i == 0 {
			names = append(names, fname)
			if !certain {
				it.complete = false
			}
		}
		fc := expr.GetFuncCall()
		key := ""
		if fc != nil {
			key, _ = funcName(fc)
		}
		switch {
		case len(coldefs) > 0:
			for _, cd := range coldefs {
				if d := cd.GetColumnDef(); d != nil {
					it.cols = append(it.cols, column{name: d.Colname, certain: true})
				}
			}
		case funcOutputs[key] != nil:
			for _, o := range funcOutputs[key] {
				it.cols = append(it.cols, column{name: o, certain: true})
			}
		case recordFuncs[key]:
			w.fail(CodeUnresolvedName, fc.GetLocation(), "function "+ident(key)+" in FROM needs a column definition list")
			return nil
		case fc != nil && key == "unnest" && len(fc.Args) > 1:
			for range fc.Args {
				it.cols = append(it.cols, column{name: "unnest", certain: true})
			}
		default:
			// A scalar result: one column, named after its OUT parameter,
			// else the alias (one function), else the function.
			name, ok := funcOutName[key], true
			if name == "" {
				name, ok = fname, certain
				if nf == 1 && n.Alias != nil {
					name, ok = n.Alias.Aliasname, true
				}
			}
			it.cols = append(it.cols, column{name: name, certain: ok})
		}
	}
	if n.Ordinality {
		it.cols = append(it.cols, column{name: "ordinality", certain: true})
	}
	if n.Alias != nil {
		it.name = n.Alias.Aliasname
		it.cols = w.aliasColumns(it.cols, n.Alias.Colnames, -1, "function "+ident(n.Alias.Aliasname))
	} else if len(names) > 0 {
		it.name = names[0]
	}
	if !it.complete && n.Alias == nil {
		it.relVisible = false
	}
	it.complete = it.complete && allCertain(it.cols)
	return []*item{it}
}

func (w *walker) rangeTableSample(n *pg.RangeTableSample) []*item {
	method, ok := qualifiedName(n.Method)
	if !ok || !tableSampleMethods[method] {
		w.fail(CodeFunctionNotAllowed, n.Location, "TABLESAMPLE method "+ident(joinNames(n.Method))+" is not allowed")
		return nil
	}
	rv := n.Relation.GetRangeVar()
	if rv == nil {
		w.fail(CodeUnsupportedNode, n.Location, "TABLESAMPLE applies to a table only")
		return nil
	}
	if w.lookupCTE(rv.Relname) != nil && rv.Schemaname == "" && rv.Catalogname == "" {
		w.fail(CodeUnsupportedNode, n.Location, "TABLESAMPLE applies to a table only")
		return nil
	}
	it := w.rangeVar(rv)
	if it == nil {
		return nil
	}
	w.walkRangeTableSample(n, fRangeTableSample_Method|fRangeTableSample_Relation)
	return []*item{it}
}

// joinExpr validates a JOIN: its left side is visible to LATERAL items of
// its right side, its ON clause sees only the two sides, and its result
// columns are the merged (USING, NATURAL) ones, then the others in order.
func (w *walker) joinExpr(j *pg.JoinExpr) []*item {
	s := w.scope
	lns := w.fromItem(j.Larg)
	if w.err != nil {
		return nil
	}
	lateralOK := j.Jointype == pg.JoinType_JOIN_INNER || j.Jointype == pg.JoinType_JOIN_LEFT
	saved := s.items
	for _, it := range lns {
		it.lateralOnly, it.lateralOK = true, lateralOK
	}
	s.items = append(append([]*item(nil), saved...), lns...)
	rns := w.fromItem(j.Rarg)
	s.items = saved
	if w.err != nil {
		return nil
	}
	my := append(append([]*item(nil), lns...), rns...)
	lcols, lok := visibleCols(lns)
	rcols, rok := visibleCols(rns)

	// Merged columns.
	var using []string
	if j.IsNatural {
		if !lok || !rok {
			w.fail(CodeUnresolvedName, -1, "NATURAL JOIN over a side whose column names are not all known")
			return nil
		}
		for _, l := range lcols {
			for _, r := range rcols {
				if l.name == r.name && !slices.Contains(using, l.name) {
					using = append(using, l.name)
				}
			}
		}
	}
	for _, u := range j.UsingClause {
		using = append(using, u.GetString_().GetSval())
	}
	var merged []column
	lused, rused := map[int]bool{}, map[int]bool{}
	for _, name := range using {
		li, lerr := findCol(lcols, name, lok)
		ri, rerr := findCol(rcols, name, rok)
		if lerr != "" || rerr != "" {
			w.fail(CodeUnresolvedName, -1, "column "+ident(name)+" of JOIN USING "+or(lerr, rerr))
			return nil
		}
		l, r := lcols[li], rcols[ri]
		for _, c := range []column{l, r} {
			if c.blocked != "" {
				w.fail(CodeBlockedColumn, -1, "column "+ident(name)+" ("+ident(c.blocked)+") is blocked: it cannot join tables (JOIN USING or NATURAL)")
				return nil
			}
		}
		lused[li], rused[ri] = true, true
		w.readCol(l)
		w.readCol(r)
		m := column{name: name, certain: true, reads: append(append([]string(nil), l.reads...), r.reads...)}
		if l.typ == r.typ {
			m.typ = l.typ
		}
		merged = append(merged, m)
	}
	res := append([]column(nil), merged...)
	for i, c := range lcols {
		if !lused[i] {
			res = append(res, c)
		}
	}
	for i, c := range rcols {
		if !rused[i] {
			res = append(res, c)
		}
	}

	if j.Quals != nil {
		saved := s.items
		for _, it := range my {
			it.lateralOnly = false
		}
		s.items = my
		w.node(j.Quals)
		s.items = saved
		if w.err != nil {
			return nil
		}
	}
	w.walkJoinExpr(j, fJoinExpr_Larg|fJoinExpr_Rarg|fJoinExpr_Quals)

	jit := &item{cols: res, complete: lok && rok, kind: "join"}
	jit.wholeReads = readsOf(res)
	if j.Alias != nil {
		jit.name, jit.relVisible, jit.colsVisible = j.Alias.Aliasname, true, true
		jit.cols = w.aliasColumns(jit.cols, j.Alias.Colnames, -1, "join "+ident(j.Alias.Aliasname))
		return []*item{jit}
	}
	var out []*item
	for _, it := range my {
		it.colsVisible = false
		out = append(out, it)
	}
	if j.JoinUsingAlias != nil {
		out = append(out, &item{name: j.JoinUsingAlias.Aliasname, relVisible: true, cols: merged,
			complete: true, kind: "join", wholeReads: readsOf(merged)})
	}
	jit.colsVisible = true
	return append(out, jit)
}

func readsOf(cols []column) []string {
	var out []string
	for _, c := range cols {
		out = append(out, c.reads...)
	}
	return out
}

// visibleCols are the columns a JOIN side contributes: those of its items
// whose columns are visible, in order.
func visibleCols(ns []*item) ([]column, bool) {
	var cols []column
	ok := true
	for _, it := range ns {
		if it.colsVisible {
			cols = append(cols, it.cols...)
			ok = ok && it.complete
		}
	}
	return cols, ok
}

// findCol finds exactly one column named name, or says why not.
func findCol(cols []column, name string, complete bool) (int, string) {
	at := -1
	for i, c := range cols {
		if c.certain && c.name == name {
			if at >= 0 {
				return -1, "is ambiguous"
			}
			at = i
		}
	}
	switch {
	case at < 0 && !complete:
		return -1, "cannot be resolved (a column name is not known)"
	case at < 0:
		return -1, "does not exist on both sides"
	}
	return at, ""
}

// --- column references ---------------------------------------------------------

type refKind int

const (
	refColumn   refKind = iota + 1
	refWholeRow         // a bare range name
	refStar             // name.* : every column of the range
)

type resolved struct {
	kind refKind
	it   *item
	col  *column // refColumn
	err  *Error
}

// column finds a column (or system column) of the item by exact name; n
// counts the matches (more than one is ambiguous).
func (it *item) column(name string) (c *column, n int) {
	for i := range it.cols {
		if it.cols[i].certain && it.cols[i].name == name {
			if c == nil {
				c = &it.cols[i]
			}
			n++
		}
	}
	if c == nil {
		for _, s := range it.sys {
			if s == name {
				c = &column{name: name, certain: true}
				for _, k := range it.relKeys {
					c.reads = append(c.reads, k+"."+name)
				}
				return c, 1
			}
		}
	}
	return c, n
}

func (w *walker) refErr(code Code, n *pg.ColumnRef, msg string) resolved {
	return resolved{err: newError(code, w.sql, n.Location, msg)}
}

// resolveColumnRef resolves a column reference as PostgreSQL does, without
// side effects.
func (w *walker) resolveColumnRef(n *pg.ColumnRef) resolved {
	f := n.Fields
	parts := make([]string, 0, len(f))
	star := false
	for i, x := range f {
		switch v := x.Node.(type) {
		case *pg.Node_String_:
			parts = append(parts, v.String_.Sval)
		case *pg.Node_AStar:
			if i != len(f)-1 {
				return w.refErr(CodeUnresolvedName, n, "* must come last in a column reference")
			}
			star = true
		default:
			return w.refErr(CodeUnsupportedNode, n, "unsupported column reference")
		}
	}
	text := strings.Join(parts, ".")
	if star {
		text += ".*"
	}
	switch {
	case len(f) == 0:
		return w.refErr(CodeUnsupportedNode, n, "an empty column reference")
	case len(parts) == 0:
		return resolved{kind: refStar}
	case len(parts) == 1 && !star:
		return w.resolveName(n, parts[0])
	case len(parts) > 4 || (len(parts) == 4 && star):
		return w.refErr(CodeUnresolvedName, n, "improper qualified name "+ident(text)+" (too many dotted names)")
	}
	var it *item
	var err *Error
	if star {
		parts = append(parts, "*")
	}
	switch len(parts) {
	case 2:
		it, err = w.findRange(n, parts[0])
	case 3:
		it, err = w.findRelation(n, parts[0], parts[1])
	case 4:
		if parts[0] != w.c.database {
			return w.refErr(CodeUnresolvedName, n, "the column reference "+ident(text)+" names another database")
		}
		it, err = w.findRelation(n, parts[1], parts[2])
	}
	if err != nil {
		return resolved{err: err}
	}
	last := parts[len(parts)-1]
	if star {
		return resolved{kind: refStar, it: it}
	}
	c, cnt := it.column(last)
	switch {
	case cnt > 1:
		return invalidRef(w.refErr(CodeUnresolvedName, n, "column reference "+ident(text)+" is ambiguous"))
	case c != nil:
		return resolved{kind: refColumn, it: it, col: c}
	case !it.complete:
		return w.refErr(CodeUnresolvedName, n, "cannot tell whether "+ident(last)+" is a column of "+it.describe()+
			": its column names are not all known")
	}
	r := w.refErr(CodeFunctionNotation, n, ident(last)+" is not a column of "+it.describe()+
		", so PostgreSQL would read "+ident(text)+" as a call of a function "+ident(last)+
		" on the whole row: name a column of it, or call the function explicitly")
	r.err.absent = !maybeFunction(last)
	return r
}

// maybeFunction reports whether PostgreSQL could take name for a function
// or type applied to a row (so t.name might run rather than fail).
func maybeFunction(name string) bool {
	_, f := allowedFuncs[name]
	return f || allowedTypes[name] || strings.HasPrefix(name, "pg_")
}

// visible reports whether an item of level s can be seen from here.
func visible(s *scope, it *item) bool {
	return !it.lateralOnly || s.lateralActive
}

// resolveName resolves a one-part name: a column of the innermost level
// that has one, else a whole-row reference to a range of that name.
func (w *walker) resolveName(n *pg.ColumnRef, name string) resolved {
	for s := w.scope; s != nil; s = s.parent {
		var found *resolved
		unsure := false
		for _, it := range s.items {
			if !it.colsVisible || !visible(s, it) {
				continue
			}
			c, cnt := it.column(name)
			if c == nil {
				if !it.complete {
					unsure = true
				}
				continue
			}
			if cnt > 1 || found != nil {
				return invalidRef(w.refErr(CodeUnresolvedName, n, "column reference "+ident(name)+" is ambiguous"))
			}
			if it.lateralOnly && !it.lateralOK {
				return w.refErr(CodeUnresolvedName, n, "column "+ident(name)+" cannot be referenced from this part of the query")
			}
			found = &resolved{kind: refColumn, it: it, col: c}
		}
		if found != nil {
			if unsure {
				return w.refErr(CodeUnresolvedName, n, "cannot resolve "+ident(name)+
					" for certain: a range of this query level has a column whose name is not known")
			}
			return *found
		}
		if unsure {
			return w.refErr(CodeUnresolvedName, n, "cannot resolve "+ident(name)+
				" for certain: a range of this query level has a column whose name is not known")
		}
	}
	it, err := w.findRange(n, name)
	if err != nil {
		if err.Code == CodeUnresolvedName && strings.HasPrefix(err.Message, "missing") {
			msg := "column " + ident(name) + " does not exist"
			if loc := int(n.Location); loc >= 0 && loc < len(w.sql) && w.sql[loc] == '"' {
				msg += ` (double quotes make a name; write a string with single quotes)`
			}
			return invalidRef(w.refErr(CodeUnresolvedName, n, msg))
		}
		return resolved{err: err}
	}
	return resolved{kind: refWholeRow, it: it}
}

// findRange finds the range item a qualifier names: the innermost level
// with an item of exactly that name.
func (w *walker) findRange(n *pg.ColumnRef, name string) (*item, *Error) {
	for s := w.scope; s != nil; s = s.parent {
		var found *item
		for _, it := range s.items {
			if !it.relVisible || !visible(s, it) || it.name != name {
				continue
			}
			if found != nil {
				return nil, invalid(newError(CodeUnresolvedName, w.sql, n.Location, "table reference "+ident(name)+" is ambiguous"))
			}
			if it.lateralOnly && !it.lateralOK {
				return nil, newError(CodeUnresolvedName, w.sql, n.Location, ident(name)+" cannot be referenced from this part of the query")
			}
			found = it
		}
		if found != nil {
			return found, nil
		}
	}
	e := newError(CodeUnresolvedName, w.sql, n.Location, "missing FROM-clause entry for "+ident(name))
	e.absent = true
	return nil, e
}

// findRelation finds the range item of relation schema.name that has no
// alias (what schema.table.column can name).
func (w *walker) findRelation(n *pg.ColumnRef, schema, name string) (*item, *Error) {
	key := schema + "." + name
	for s := w.scope; s != nil; s = s.parent {
		var found *item
		for _, it := range s.items {
			if it.rule == nil || it.aliased || it.rule.key != key || !visible(s, it) {
				continue
			}
			if found != nil {
				return nil, invalid(newError(CodeUnresolvedName, w.sql, n.Location, "table reference "+ident(key)+" is ambiguous"))
			}
			found = it
		}
		if found != nil {
			return found, nil
		}
	}
	e := newError(CodeUnresolvedName, w.sql, n.Location, "missing FROM-clause entry for "+ident(key)+
		" (a schema-qualified column names a relation read without an alias)")
	e.absent = true
	return nil, e
}

// visitColumnRef applies the column, whole-row and star rules.
func (w *walker) visitColumnRef(n *pg.ColumnRef) { w.columnRef(n) }

// columnRef resolves and checks a column reference, and returns what it
// resolved to.
func (w *walker) columnRef(n *pg.ColumnRef) resolved {
	w.walkColumnRef(n, 0)
	if w.err != nil {
		return resolved{err: w.err}
	}
	r := w.resolveColumnRef(n)
	w.useRef(n, r)
	return r
}

// useRef checks what a resolved reference reads and records it.
func (w *walker) useRef(n *pg.ColumnRef, r resolved) {
	if r.err != nil {
		if w.err == nil {
			w.err = r.err
		}
		return
	}
	switch r.kind {
	case refColumn:
		w.useColumn(r.col, n.Location)
	case refWholeRow:
		if b := r.it.tainted(); b != "" {
			w.fail(CodeWholeRowReference, n.Location, "the whole-row reference "+ident(r.it.name)+" to "+r.it.describe()+
				" reads the blocked column "+ident(b)+": list the columns")
			return
		}
		w.reads = append(w.reads, r.it.wholeReads...)
	case refStar:
		w.expandStar(n)
	}
}

// failInvalid fails for a reason PostgreSQL would refuse the query for too.
func (w *walker) failInvalid(code Code, loc int32, msg string) {
	if w.err == nil {
		w.fail(code, loc, msg)
		w.err.absent = true
	}
}

func invalid(e *Error) *Error { e.absent = true; return e }

func invalidRef(r resolved) resolved { r.err.absent = true; return r }

// splitBlocked splits "schema.table.column".
func splitBlocked(s string) (rel, col string) {
	i := strings.LastIndexByte(s, '.')
	return s[:i], s[i+1:]
}

// useColumn refuses a blocked column and records the read.
func (w *walker) useColumn(c *column, loc int32) {
	if c.blocked != "" {
		if c.blockedDesc {
			w.fail(CodeBlockedDescendant, loc, "column "+ident(c.name)+" is blocked on "+ident(c.blocked)+
				", which reading the parent without ONLY would read")
			return
		}
		rel, col := splitBlocked(c.blocked)
		if col != c.name {
			w.fail(CodeBlockedColumn, loc, "column "+ident(c.name)+" is column "+ident(col)+" of "+ident(rel)+
				" renamed, which is blocked")
			return
		}
		w.fail(CodeBlockedColumn, loc, "column "+ident(col)+" of "+ident(rel)+" is blocked")
		return
	}
	w.readCol(*c)
}

func (w *walker) readCol(c column) {
	w.reads = append(w.reads, c.reads...)
	if c.base.col != "" {
		w.cols = append(w.cols, c.base)
	}
}

// expandStar expands * or name.* (in a select list, ROW(…), a function
// argument): every column must be readable.
func (w *walker) expandStar(n *pg.ColumnRef) []column {
	var its []*item
	if len(n.Fields) == 1 {
		s := w.scope
		for _, it := range s.items {
			if it.colsVisible && visible(s, it) {
				its = append(its, it)
			}
		}
		if len(its) == 0 {
			w.fail(CodeUnresolvedName, n.Location, "SELECT * with no tables")
			return nil
		}
	} else {
		r := w.resolveColumnRef(n)
		if r.err != nil {
			if w.err == nil {
				w.err = r.err
			}
			return nil
		}
		its = []*item{r.it}
	}
	var out []column
	for _, it := range its {
		for i := range it.cols {
			c := it.cols[i]
			if c.blocked != "" {
				what := "*"
				if len(n.Fields) > 1 {
					what = ident(it.name) + ".*"
				}
				code := CodeStarOnBlockedTable
				if c.blockedDesc {
					code = CodeBlockedDescendant
				}
				w.fail(code, n.Location, what+" over "+it.describe()+" would read the blocked column "+
					ident(c.blocked)+": list the columns")
				return nil
			}
			w.readCol(c)
			out = append(out, column{name: c.name, certain: c.certain, typ: c.typ})
		}
	}
	return out
}

// --- field selection -------------------------------------------------------

// visitA_Indirection: (expr).field, (expr)[i], (expr).*. A field is
// accepted only where the composite type of expr is known and has it;
// otherwise PostgreSQL would call a function (or cast to a type) named
// like the field.
//
//lint:ignore ST1003 visit methods are named after the pg_query node type
func (w *walker) visitA_Indirection(n *pg.A_Indirection) { w.indirection(n) }

// indirection validates (expr)… and returns the composite type key of the
// result, when known.
func (w *walker) indirection(n *pg.A_Indirection) string {
	loc := nodeLocation(n.Arg.ProtoReflect())
	var whole *item // the range whose whole row the expression is so far
	typ := ""       // the composite type key of the expression so far, when known
	if cr := n.Arg.GetColumnRef(); cr != nil {
		w.walkColumnRef(cr, 0)
		r := w.resolveColumnRef(cr)
		switch {
		case r.err == nil && (r.kind == refWholeRow || r.kind == refStar) && selectsField(n):
			whole = r.it // (t).f and (t.*).f read the column f of t
		default:
			w.useRef(cr, r)
			if r.kind == refColumn && r.col != nil {
				typ = r.col.typ
			}
		}
	} else if inner := n.Arg.GetAIndirection(); inner != nil {
		typ = w.indirection(inner)
	} else {
		w.node(n.Arg)
	}
	for _, ind := range n.Indirection {
		if w.err != nil {
			return ""
		}
		switch x := ind.Node.(type) {
		case *pg.Node_AIndices:
			w.node(ind)
			if strings.HasSuffix(typ, "[]") && !x.AIndices.IsSlice {
				typ = strings.TrimSuffix(typ, "[]")
			} else {
				typ = ""
			}
		case *pg.Node_String_:
			f := x.String_.Sval
			if whole != nil {
				c, cnt := whole.column(f)
				switch {
				case cnt > 1:
					w.failInvalid(CodeUnresolvedName, loc, "field "+ident(f)+" of "+whole.describe()+" is ambiguous")
				case c == nil && !whole.complete:
					w.fail(CodeUnresolvedName, loc, "cannot tell whether "+ident(f)+" is a column of "+whole.describe()+
						": its column names are not all known")
				case c == nil:
					w.fail(CodeFunctionNotation, loc, ident(f)+" is not a column of "+whole.describe()+
						", so PostgreSQL would call a function "+ident(f)+" on the whole row: name a column, or call the function explicitly")
				default:
					w.useColumn(c, loc)
					typ = c.typ
				}
				whole = nil
				continue
			}
			fields, known := w.c.cat.fields(typ)
			if !known {
				w.fail(CodeFunctionNotation, loc, "cannot tell whether ."+ident(f)+" selects a field: the expression is not "+
					"of a known composite type, and PostgreSQL would otherwise call a function or cast named "+ident(f))
				return ""
			}
			next := -1
			for i := range fields {
				if fields[i].Name == f {
					next = i
					break
				}
			}
			if next < 0 {
				w.fail(CodeFunctionNotation, loc, ident(f)+" is not a field of the composite type "+ident(typ)+
					", so PostgreSQL would call a function "+ident(f)+" on it")
				return ""
			}
			typ = fields[next].Type
		case *pg.Node_AStar:
			if whole != nil {
				if b := whole.tainted(); b != "" {
					w.fail(CodeStarOnBlockedTable, loc, "(…).* over "+whole.describe()+" would read the blocked column "+
						ident(b)+": list the columns")
					return ""
				}
				w.reads = append(w.reads, whole.wholeReads...)
				whole = nil
			}
			typ = ""
		default:
			w.node(ind)
		}
	}
	if whole != nil {
		return ""
	}
	return typ
}

// selectsField reports whether the first indirection selects a field or
// .* (rather than a subscript).
func selectsField(n *pg.A_Indirection) bool {
	if len(n.Indirection) == 0 {
		return false
	}
	switch n.Indirection[0].Node.(type) {
	case *pg.Node_String_, *pg.Node_AStar:
		return true
	}
	return false
}

// --- output names ----------------------------------------------------------

// figureColname is the name PostgreSQL gives an unnamed select-list item
// (FigureColname), and whether the guard is sure of it.
func figureColname(n *pg.Node) (string, bool) {
	name, strength := figure(n)
	if strength == 0 {
		return "?column?", true
	}
	return name, strength > 0
}

// figure returns a name and its strength: 2 a real name, 1 a type name
// (weaker), 0 none, -1 unsure.
func figure(n *pg.Node) (string, int) {
	if n == nil {
		return "", 0
	}
	switch x := n.Node.(type) {
	case *pg.Node_ColumnRef:
		name := ""
		for _, f := range x.ColumnRef.Fields {
			if s := f.GetString_(); s != nil {
				name = s.Sval
			}
		}
		if name != "" {
			return name, 2
		}
		return "", 0
	case *pg.Node_AIndirection:
		ind := x.AIndirection.Indirection
		for i := len(ind) - 1; i >= 0; i-- {
			if s := ind[i].GetString_(); s != nil {
				return s.Sval, 2
			}
		}
		return figure(x.AIndirection.Arg)
	case *pg.Node_FuncCall:
		fn := x.FuncCall.Funcname
		if len(fn) > 0 {
			if s := fn[len(fn)-1].GetString_(); s != nil {
				return s.Sval, 2
			}
		}
		return "", -1
	case *pg.Node_AExpr:
		if x.AExpr.Kind == pg.A_Expr_Kind_AEXPR_NULLIF {
			return "nullif", 2
		}
		return "", 0
	case *pg.Node_TypeCast:
		if name, st := figure(x.TypeCast.Arg); st == 2 || st < 0 {
			return name, st
		}
		if tn := x.TypeCast.TypeName; tn != nil && len(tn.Names) > 0 {
			if s := tn.Names[len(tn.Names)-1].GetString_(); s != nil {
				return s.Sval, 1
			}
		}
		return "", -1
	case *pg.Node_CollateClause:
		return figure(x.CollateClause.Arg)
	case *pg.Node_GroupingFunc:
		return "grouping", 2
	case *pg.Node_SubLink:
		switch x.SubLink.SubLinkType {
		case pg.SubLinkType_EXISTS_SUBLINK:
			return "exists", 2
		case pg.SubLinkType_ARRAY_SUBLINK:
			return "array", 2
		case pg.SubLinkType_EXPR_SUBLINK:
			sel := x.SubLink.Subselect.GetSelectStmt()
			if sel == nil || sel.Op != pg.SetOperation_SETOP_NONE || len(sel.TargetList) == 0 {
				return "", -1
			}
			rt := sel.TargetList[0].GetResTarget()
			if rt == nil {
				return "", -1
			}
			if rt.Name != "" {
				return rt.Name, 2
			}
			if cr := rt.GetVal().GetColumnRef(); cr != nil && isStar(cr) {
				return "", -1
			}
			name, st := figure(rt.Val)
			if st == 0 {
				return "?column?", 2
			}
			return name, st
		}
		return "", 0
	case *pg.Node_CaseExpr:
		if name, st := figure(x.CaseExpr.Defresult); st == 2 || st < 0 {
			return name, st
		}
		return "case", 1
	case *pg.Node_AArrayExpr:
		return "array", 2
	case *pg.Node_RowExpr:
		return "row", 2
	case *pg.Node_CoalesceExpr:
		return "coalesce", 2
	case *pg.Node_MinMaxExpr:
		if x.MinMaxExpr.Op == pg.MinMaxOp_IS_GREATEST {
			return "greatest", 2
		}
		return "least", 2
	case *pg.Node_SqlvalueFunction:
		if name := sqlValueFunctionColname[x.SqlvalueFunction.Op]; name != "" {
			return name, 2
		}
		return "", -1
	case *pg.Node_AConst, *pg.Node_BoolExpr, *pg.Node_NullTest, *pg.Node_BooleanTest:
		return "", 0
	}
	return "", -1
}

var sqlValueFunctionColname = map[pg.SQLValueFunctionOp]string{
	pg.SQLValueFunctionOp_SVFOP_CURRENT_DATE:        "current_date",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_TIME:        "current_time",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_TIME_N:      "current_time",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP:   "current_timestamp",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N: "current_timestamp",
	pg.SQLValueFunctionOp_SVFOP_LOCALTIME:           "localtime",
	pg.SQLValueFunctionOp_SVFOP_LOCALTIME_N:         "localtime",
	pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP:      "localtimestamp",
	pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:    "localtimestamp",
}

// eachRangeVar calls f for every RangeVar in the tree below n.
func eachRangeVar(n *pg.Node, f func(*pg.RangeVar)) {
	if n == nil {
		return
	}
	var visit func(m protoreflect.Message)
	visit = func(m protoreflect.Message) {
		if rv, ok := m.Interface().(*pg.RangeVar); ok {
			f(rv)
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() != protoreflect.MessageKind {
				return true
			}
			if fd.IsList() {
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					visit(l.Get(i).Message())
				}
			} else {
				visit(v.Message())
			}
			return true
		})
	}
	visit(n.ProtoReflect())
}
