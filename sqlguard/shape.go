package sqlguard

import (
	"strconv"
	"strings"
	"unicode/utf8"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Shape describes what a checked query does, from its parse tree, so that a
// plain-English summary can be written without a model (Summary).
// Expressions are deparsed by pg_query (so they read as normalised SQL:
// DATE '2024-01-01' becomes '2024-01-01'::date) and shortened with "…".
//
// For a set operation (UNION, INTERSECT, EXCEPT) at the top level, SetOp
// and Branches describe it, the clause fields (From, Filters, GroupBy,
// Having, Aggregates, Windowed, Distinct, DistinctOn, Select, Values)
// describe its first branch, and OrderBy, Limit, Offset and WithTies belong
// to the whole set operation.
type Shape struct {
	CTEs      []string // names of the top-level WITH queries, in order
	Recursive bool     // WITH RECURSIVE

	SetOp    string // "UNION", "UNION ALL", "INTERSECT", "INTERSECT ALL", "EXCEPT", "EXCEPT ALL"; "" for a plain SELECT
	Branches int    // the number of SELECTs the set operation combines (0 for a plain SELECT)

	From   []ShapeSource // top-level FROM items in order, joins flattened left to right
	Values int           // rows of a VALUES list (VALUES (…), (…) is a SELECT)

	Filters    []string // WHERE split on its top-level ANDs; an OR among several is parenthesised
	GroupBy    []string // grouping expressions (ROLLUP (a, b) and GROUPING SETS as written)
	Having     []string // HAVING split like WHERE
	Aggregates []string // aggregate and window functions of the select list, HAVING and ORDER BY (not of subqueries), first use first
	Windowed   bool     // one of them has OVER
	Distinct   bool     // SELECT DISTINCT (also DISTINCT ON)
	DistinctOn []string // the DISTINCT ON expressions
	Select     []string // output columns: the alias, else the deparsed expression ("*", "t.*")

	OrderBy  []string // sort items as deparsed: "revenue DESC", "name", "x NULLS FIRST"
	Limit    string   // the LIMIT / FETCH FIRST count ("10"); "" without one, or for LIMIT ALL / LIMIT NULL
	Offset   string   // the OFFSET expression; "" without one
	WithTies bool     // FETCH FIRST … WITH TIES
}

// ShapeSource is one relation of a FROM clause.
type ShapeSource struct {
	// Name is the canonical schema.table for a table (resolved like Check
	// does: an unqualified name through the policy's search path), the name
	// of a WITH query, the deparsed call of a function ("generate_series(1,
	// 10)"), and "" for a subquery.
	Name  string
	Alias string // the alias written in the query, "" without one
	Kind  string // "table", "cte", "subquery", "function" (or "other")
	// Join says how the source is combined with the ones before it: "" for
	// the first, "inner", "left", "right", "full", "cross", "natural",
	// "natural left", "natural right", "natural full", or "comma" for an
	// item after a comma (a cross join, usually restricted in WHERE).
	Join    string
	On      string   // the deparsed ON condition, shortened
	Using   []string // the USING columns
	Lateral bool     // LATERAL subquery or function
	// Reads lists, for a WITH query or a subquery, the tables its body
	// reads (canonical names, sorted, best effort).
	Reads []string
}

// Lengths (in characters) beyond which deparsed parts are shortened.
const (
	shapeCondLen = 80
	shapeExprLen = 60
)

// Shape describes the query (see Shape). It deparses the parts it shows
// with one pg_query call; it performs no I/O.
func (q *Query) Shape() Shape {
	var s Shape
	if q == nil || len(q.tree.GetStmts()) == 0 || q.tree.Stmts[0].GetStmt().GetSelectStmt() == nil {
		return s
	}
	top := q.tree.Stmts[0].Stmt.GetSelectStmt()
	b := &shapeBuilder{q: q, d: &fragments{}, ctes: map[string]cteDef{}}
	if w := top.GetWithClause(); w != nil {
		s.Recursive = w.Recursive
		for _, c := range w.Ctes {
			if cte := c.GetCommonTableExpr(); cte != nil {
				s.CTEs = append(s.CTEs, cte.Ctename)
			}
		}
	}
	leaf := top
	if top.Op != pg.SetOperation_SETOP_NONE {
		s.SetOp = setOpName(top)
		s.Branches = countBranches(top)
		for leaf.Op != pg.SetOperation_SETOP_NONE && leaf.Larg != nil {
			leaf = leaf.Larg
		}
	}
	// The WITH queries the first branch's FROM can name: the statement's,
	// and those of a parenthesised first branch.
	b.addCTEs(top.GetWithClause())
	if leaf != top {
		b.addCTEs(leaf.GetWithClause())
	}

	// The first (or only) branch.
	for i, item := range leaf.FromClause {
		join := ""
		if i > 0 {
			join = "comma"
		}
		b.source(item, join, nil, nil)
	}
	s.Values = len(leaf.ValuesLists)
	filters := b.conds(leaf.WhereClause)
	var groups []func() string
	for _, g := range leaf.GroupClause {
		groups = append(groups, b.d.add(selectWith(func(st *pg.SelectStmt) { st.GroupClause = []*pg.Node{g} }), "SELECT GROUP BY "))
	}
	having := b.conds(leaf.HavingClause)
	var distinctOn []func() string
	for _, d := range leaf.DistinctClause {
		s.Distinct = true
		if d.GetNode() != nil {
			distinctOn = append(distinctOn, b.d.expr(d))
		}
	}
	var outputs []func() string
	for _, t := range leaf.TargetList {
		rt := t.GetResTarget()
		switch {
		case rt == nil:
			outputs = append(outputs, b.d.expr(t))
		case rt.Name != "":
			name := quoteIdentIfNeeded(rt.Name)
			outputs = append(outputs, func() string { return name })
		default:
			outputs = append(outputs, b.d.expr(rt.Val))
		}
	}
	funcs := &aggScan{seen: map[string]bool{}}
	for _, t := range leaf.TargetList {
		funcs.scan(t)
	}
	funcs.scan(leaf.HavingClause)
	for _, o := range top.SortClause {
		funcs.scan(o)
	}
	s.Aggregates, s.Windowed = funcs.names, funcs.windowed

	// The whole statement.
	var order []func() string
	for _, o := range top.SortClause {
		order = append(order, b.d.add(selectWith(func(st *pg.SelectStmt) { st.SortClause = []*pg.Node{o} }), "SELECT ORDER BY "))
	}
	var limit, offset func() string
	if c := top.LimitCount; c != nil && !(c.GetAConst() != nil && c.GetAConst().Isnull) {
		limit = b.d.expr(c)
	}
	if top.LimitOffset != nil {
		offset = b.d.expr(top.LimitOffset)
	}
	s.WithTies = top.LimitOption == pg.LimitOption_LIMIT_OPTION_WITH_TIES

	b.d.run()
	for _, src := range b.srcs {
		s.From = append(s.From, src.resolve())
	}
	s.Filters = condStrings(filters)
	s.Having = condStrings(having)
	s.GroupBy = strs(groups, shapeExprLen)
	s.DistinctOn = strs(distinctOn, shapeExprLen)
	s.Select = strs(outputs, shapeExprLen)
	s.OrderBy = strs(order, shapeExprLen)
	if limit != nil {
		s.Limit = shorten(limit(), shapeExprLen)
	}
	if offset != nil {
		s.Offset = shorten(offset(), shapeExprLen)
	}
	return s
}

func setOpName(n *pg.SelectStmt) string {
	name := ""
	switch n.Op {
	case pg.SetOperation_SETOP_UNION:
		name = "UNION"
	case pg.SetOperation_SETOP_INTERSECT:
		name = "INTERSECT"
	case pg.SetOperation_SETOP_EXCEPT:
		name = "EXCEPT"
	}
	if n.All {
		name += " ALL"
	}
	return name
}

func countBranches(n *pg.SelectStmt) int {
	if n == nil {
		return 0
	}
	if n.Op == pg.SetOperation_SETOP_NONE {
		return 1
	}
	return countBranches(n.Larg) + countBranches(n.Rarg)
}

func selectWith(set func(*pg.SelectStmt)) *pg.SelectStmt {
	st := &pg.SelectStmt{}
	set(st)
	return st
}

type shapeBuilder struct {
	q    *Query
	d    *fragments
	ctes map[string]cteDef // the WITH queries the first branch's FROM can name
	srcs []*pendingSource
}

// cteDef is a WITH query: its body and the WITH queries its body can name
// (without RECURSIVE, those before it; with it, all of its clause; and
// those of enclosing clauses).
type cteDef struct {
	body    *pg.Node
	visible map[string]cteDef
}

// addCTEs defines the WITH queries of w on top of those already defined.
func (b *shapeBuilder) addCTEs(w *pg.WithClause) {
	if w == nil {
		return
	}
	snapshot := func() map[string]cteDef {
		m := make(map[string]cteDef, len(b.ctes))
		for k, v := range b.ctes {
			m[k] = v
		}
		return m
	}
	if w.Recursive {
		vis := snapshot() // shared: every body sees every sibling
		for _, c := range w.Ctes {
			if cte := c.GetCommonTableExpr(); cte != nil {
				vis[cte.Ctename] = cteDef{body: cte.Ctequery, visible: vis}
			}
		}
		for k, v := range vis {
			b.ctes[k] = v
		}
		return
	}
	for _, c := range w.Ctes {
		if cte := c.GetCommonTableExpr(); cte != nil {
			b.ctes[cte.Ctename] = cteDef{body: cte.Ctequery, visible: snapshot()}
		}
	}
}

func unqualified(rv *pg.RangeVar) bool { return rv.Catalogname == "" && rv.Schemaname == "" }

// pendingSource is a ShapeSource whose deparsed parts are not known yet.
type pendingSource struct {
	ShapeSource
	name func() string
	on   func() string
}

func (p *pendingSource) resolve() ShapeSource {
	s := p.ShapeSource
	if p.name != nil {
		s.Name = shorten(p.name(), shapeExprLen)
	}
	if p.on != nil {
		s.On = shorten(p.on(), shapeCondLen)
	}
	return s
}

// source flattens a FROM item: the first relation it yields gets join, on
// and using; a join's right side gets the join's own.
func (b *shapeBuilder) source(n *pg.Node, join string, on *pg.Node, using []*pg.Node) {
	if je := n.GetJoinExpr(); je != nil {
		b.source(je.Larg, join, on, using)
		b.source(je.Rarg, joinKind(je), je.Quals, je.UsingClause)
		return
	}
	p := &pendingSource{ShapeSource: ShapeSource{Join: join}}
	if on != nil {
		p.on = b.d.add(selectWith(func(st *pg.SelectStmt) { st.WhereClause = on }), "SELECT WHERE ")
	}
	for _, u := range using {
		p.Using = append(p.Using, quoteIdentIfNeeded(u.GetString_().GetSval()))
	}
	switch x := n.GetNode().(type) {
	case *pg.Node_RangeVar:
		b.rangeVar(p, x.RangeVar)
	case *pg.Node_RangeTableSample:
		if rv := x.RangeTableSample.GetRelation().GetRangeVar(); rv != nil {
			b.rangeVar(p, rv)
		} else {
			p.Kind = "other"
		}
	case *pg.Node_RangeSubselect:
		p.Kind = "subquery"
		p.Lateral = x.RangeSubselect.Lateral
		p.Alias = aliasName(x.RangeSubselect.Alias)
		p.Reads = b.reads(x.RangeSubselect.Subquery, b.ctes)
	case *pg.Node_RangeFunction:
		rf := x.RangeFunction
		p.Kind = "function"
		p.Lateral = rf.Lateral
		p.Alias = aliasName(rf.Alias)
		var calls []func() string
		for _, f := range rf.Functions {
			if items := f.GetList().GetItems(); len(items) > 0 && items[0] != nil {
				calls = append(calls, b.d.expr(items[0]))
			}
		}
		rowsFrom := rf.IsRowsfrom
		p.name = func() string {
			parts := make([]string, len(calls))
			for i, c := range calls {
				parts[i] = c()
			}
			if rowsFrom {
				return "ROWS FROM (" + strings.Join(parts, ", ") + ")"
			}
			return strings.Join(parts, ", ")
		}
	default:
		p.Kind = "other"
	}
	b.srcs = append(b.srcs, p)
}

func (b *shapeBuilder) rangeVar(p *pendingSource, rv *pg.RangeVar) {
	p.Alias = aliasName(rv.Alias)
	if def, ok := b.ctes[rv.Relname]; ok && unqualified(rv) {
		p.Kind = "cte"
		p.Name = quoteIdentIfNeeded(rv.Relname)
		p.Reads = b.reads(def.body, def.visible)
		return
	}
	p.Kind = "table"
	p.Name = b.tableName(rv)
}

// tableName resolves a relation like Check does (the query passed Check
// with the same compiled policy, so this does not fail).
func (b *shapeBuilder) tableName(rv *pg.RangeVar) string {
	w := &walker{c: b.q.c, sql: b.q.sql}
	if r := w.resolve(rv); r != nil {
		return r.key
	}
	if rv.Schemaname != "" {
		return rv.Schemaname + "." + rv.Relname
	}
	return rv.Relname
}

// reads lists the tables a subquery or WITH query body reads, best effort:
// the relations named in it, through the WITH queries it names (visible
// ones, followed once each); a name that a WITH inside the body defines
// anywhere is taken for that WITH query.
func (b *shapeBuilder) reads(body *pg.Node, visible map[string]cteDef) []string {
	var out []string
	seen := map[*pg.Node]bool{}
	var walk func(body *pg.Node, visible map[string]cteDef)
	walk = func(body *pg.Node, visible map[string]cteDef) {
		if body == nil || seen[body] {
			return
		}
		seen[body] = true
		inner := map[string]bool{}
		var rvs []*pg.RangeVar
		eachMessage(body.ProtoReflect(), func(m protoreflect.Message) bool {
			switch x := m.Interface().(type) {
			case *pg.CommonTableExpr:
				inner[x.Ctename] = true
			case *pg.RangeVar:
				rvs = append(rvs, x)
			}
			return true
		})
		for _, rv := range rvs {
			switch def, ok := visible[rv.Relname]; {
			case unqualified(rv) && inner[rv.Relname]:
			case unqualified(rv) && ok:
				walk(def.body, def.visible)
			default:
				out = append(out, b.tableName(rv))
			}
		}
	}
	walk(body, visible)
	return sortedUnique(out)
}

func aliasName(a *pg.Alias) string {
	if a == nil {
		return ""
	}
	return quoteIdentIfNeeded(a.Aliasname)
}

func joinKind(je *pg.JoinExpr) string {
	k := "inner"
	switch je.Jointype {
	case pg.JoinType_JOIN_LEFT:
		k = "left"
	case pg.JoinType_JOIN_RIGHT:
		k = "right"
	case pg.JoinType_JOIN_FULL:
		k = "full"
	case pg.JoinType_JOIN_INNER:
		if je.Quals == nil && len(je.UsingClause) == 0 && !je.IsNatural {
			k = "cross"
		}
	}
	if je.IsNatural {
		if k == "inner" {
			return "natural"
		}
		return "natural " + k
	}
	return k
}

// cond is a conjunct of WHERE or HAVING, deparsed later.
type cond struct {
	text func() string
	or   bool // an OR expression
}

// conds splits a condition on its top-level ANDs.
func (b *shapeBuilder) conds(n *pg.Node) []cond {
	if n == nil {
		return nil
	}
	var out []cond
	var split func(n *pg.Node)
	split = func(n *pg.Node) {
		if be := n.GetBoolExpr(); be != nil && be.Boolop == pg.BoolExprType_AND_EXPR {
			for _, a := range be.Args {
				split(a)
			}
			return
		}
		be := n.GetBoolExpr()
		out = append(out, cond{
			text: b.d.add(selectWith(func(st *pg.SelectStmt) { st.WhereClause = n }), "SELECT WHERE "),
			or:   be != nil && be.Boolop == pg.BoolExprType_OR_EXPR,
		})
	}
	split(n)
	return out
}

func condStrings(cs []cond) []string {
	var out []string
	for _, c := range cs {
		s := c.text()
		if c.or && len(cs) > 1 {
			s = "(" + s + ")"
		}
		out = append(out, shorten(s, shapeCondLen))
	}
	return out
}

func strs(fs []func() string, n int) []string {
	var out []string
	for _, f := range fs {
		out = append(out, shorten(f(), n))
	}
	return out
}

// --- aggregates ---------------------------------------------------------------

// aggregateNames are the builtin aggregate and window functions (those of
// funcs.go's allowlist).
var aggregateNames = map[string]bool{}

func init() {
	for _, n := range []string{"count", "sum", "avg", "min", "max", "string_agg", "array_agg",
		"json_agg", "jsonb_agg", "json_agg_strict", "jsonb_agg_strict",
		"json_object_agg", "jsonb_object_agg", "json_object_agg_strict", "jsonb_object_agg_strict",
		"json_object_agg_unique", "jsonb_object_agg_unique", "json_object_agg_unique_strict", "jsonb_object_agg_unique_strict",
		"bool_and", "bool_or", "every", "bit_and", "bit_or", "bit_xor", "any_value",
		"stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
		"corr", "covar_pop", "covar_samp", "regr_avgx", "regr_avgy", "regr_count", "regr_intercept",
		"regr_r2", "regr_slope", "regr_sxx", "regr_sxy", "regr_syy",
		"percentile_cont", "percentile_disc", "mode", "range_agg", "range_intersect_agg", "xmlagg",
		"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
		"lag", "lead", "first_value", "last_value", "nth_value"} {
		aggregateNames[n] = true
	}
}

// aggScan collects aggregate and window function calls outside subqueries.
type aggScan struct {
	names    []string
	seen     map[string]bool
	windowed bool
}

func (a *aggScan) scan(n *pg.Node) {
	if n == nil {
		return
	}
	eachMessage(n.ProtoReflect(), func(m protoreflect.Message) bool {
		switch x := m.Interface().(type) {
		case *pg.SubLink, *pg.SelectStmt:
			return false
		case *pg.FuncCall:
			name, ok := funcName(x)
			if !ok {
				name = joinNames(x.Funcname)
			}
			if x.Over != nil {
				a.windowed = true
			}
			agg := x.Over != nil || x.AggStar || x.AggDistinct || x.AggWithinGroup || x.AggFilter != nil ||
				len(x.AggOrder) > 0 || (ok && aggregateNames[name])
			if agg && !a.seen[name] {
				a.seen[name] = true
				a.names = append(a.names, name)
			}
		}
		return true
	})
}

// eachMessage calls fn for m and every message below it, depth first;
// fn returns false to skip what is below a message.
func eachMessage(m protoreflect.Message, fn func(protoreflect.Message) bool) {
	if !m.IsValid() {
		return
	}
	if od := m.Descriptor().Oneofs().ByName("node"); od != nil {
		// A Node: visit the message it holds.
		if fd := m.WhichOneof(od); fd != nil {
			eachMessage(m.Get(fd).Message(), fn)
		}
		return
	}
	if !fn(m) {
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				eachMessage(l.Get(i).Message(), fn)
			}
			return true
		}
		eachMessage(v.Message(), fn)
		return true
	})
}

// --- deparsing ------------------------------------------------------------------

// fragments deparses many parse-tree fragments with one pg_query call: each
// is a SELECT statement holding the fragment in its natural place (SELECT
// expr, SELECT WHERE cond, SELECT GROUP BY item, SELECT ORDER BY item), and
// the text after the statement's known prefix is the fragment.
type fragments struct {
	stmts    []*pg.RawStmt
	prefixes []string
	out      []string
	calls    int // pg_query.Deparse calls made (for tests)
}

// add queues a statement and returns a function giving its deparsed
// fragment once run has been called.
func (d *fragments) add(st *pg.SelectStmt, prefix string) func() string {
	i := len(d.stmts)
	d.stmts = append(d.stmts, &pg.RawStmt{Stmt: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: st}}})
	d.prefixes = append(d.prefixes, prefix)
	return func() string {
		if i < len(d.out) {
			return d.out[i]
		}
		return "…"
	}
}

// expr queues an expression (SELECT expr).
func (d *fragments) expr(n *pg.Node) func() string {
	return d.add(selectWith(func(st *pg.SelectStmt) {
		st.TargetList = []*pg.Node{{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Val: n, Location: -1}}}}
	}), "SELECT ")
}

// run deparses all fragments: in one call, split on the semicolons the
// deparser puts between statements; if that fails, one by one.
func (d *fragments) run() {
	if len(d.stmts) == 0 {
		return
	}
	d.calls++
	if out, err := pg.Deparse(&pg.ParseResult{Stmts: d.stmts}); err == nil {
		if parts := splitStatements(out); len(parts) == len(d.stmts) {
			d.out = make([]string, len(parts))
			for i, p := range parts {
				d.out[i] = strings.TrimPrefix(p, d.prefixes[i])
			}
			return
		}
	}
	d.out = make([]string, len(d.stmts))
	for i, st := range d.stmts {
		d.calls++
		out, err := pg.Deparse(&pg.ParseResult{Stmts: []*pg.RawStmt{st}})
		if err != nil {
			d.out[i] = "…"
			continue
		}
		d.out[i] = strings.TrimPrefix(strings.TrimSpace(out), d.prefixes[i])
	}
}

// splitStatements splits deparsed SQL at its semicolon tokens.
func splitStatements(sql string) []string {
	res, err := pg.Scan(sql)
	if err != nil {
		return nil
	}
	var parts []string
	start := 0
	for _, t := range res.Tokens {
		if t.Token == pg.Token_ASCII_59 { // ";"
			parts = append(parts, strings.TrimSpace(sql[start:t.Start]))
			start = int(t.End)
		}
	}
	return append(parts, strings.TrimSpace(sql[start:]))
}

// --- text helpers -----------------------------------------------------------------

// shorten cuts s to at most n characters, ending it with "…".
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-1]
	// Prefer to cut at a space when one is near the end.
	for i := len(r) - 1; i > n*2/3; i-- {
		if r[i] == ' ' {
			r = r[:i]
			break
		}
	}
	return strings.TrimRight(string(r), " ") + "…"
}

// quoteIdentIfNeeded double-quotes a name unless it is a plain lower-case
// identifier.
func quoteIdentIfNeeded(s string) string {
	plain := s != ""
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c == '_' || c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '$')
	}
	if plain {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// --- summary ------------------------------------------------------------------------

// Summary describes the shape in one to three plain-English sentences, e.g.
// "Reads public.orders (o) joined to public.customers (c) on o.customer_id =
// c.id; keeps rows where o.ordered_at >= '2024-01-01'::date; groups by
// c.country_code; computes sum and count; outputs c.country_code, revenue
// and orders; orders by revenue descending; returns at most 10 rows." It
// depends only on the shape, so it is deterministic.
func (s Shape) Summary() string {
	var sentences []string
	if len(s.CTEs) > 0 {
		kind := "WITH query "
		if len(s.CTEs) > 1 {
			kind = "WITH queries "
		}
		if s.Recursive {
			kind = "recursive " + kind
		}
		sentences = append(sentences, "Defines "+kind+andList(quoteAll(s.CTEs), 6, "")+".")
	}
	branch := s.branchClauses()
	whole := s.wholeClauses()
	if s.SetOp != "" {
		sentences = append(sentences, "Combines "+strconv.Itoa(s.Branches)+" queries with "+s.SetOp+".")
		sentences = append(sentences, sentence("the first "+strings.Join(branch, "; ")))
		if len(whole) > 0 {
			whole[0] = strings.Replace(whole[0], "orders by", "orders the combined rows by", 1)
			sentences = append(sentences, sentence(strings.Join(whole, "; ")))
		}
	} else {
		sentences = append(sentences, sentence(strings.Join(append(branch, whole...), "; ")))
	}
	return strings.Join(sentences, " ")
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = quoteIdentIfNeeded(n)
	}
	return out
}

func sentence(s string) string {
	if s == "" {
		return ""
	}
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:] + "."
}

// branchClauses are the phrases of the (first) SELECT: what it reads,
// keeps, groups, computes and outputs.
func (s Shape) branchClauses() []string {
	var c []string
	switch {
	case len(s.From) > 0:
		c = append(c, "reads "+s.sources())
	case s.Values > 0:
		c = append(c, "lists "+plural(s.Values, "literal row", "literal rows")+" (VALUES)")
	default:
		c = append(c, "reads no table")
	}
	if len(s.Filters) > 0 {
		c = append(c, "keeps rows where "+andList(s.Filters, 5, "conditions"))
	}
	if len(s.GroupBy) > 0 {
		c = append(c, "groups by "+andList(columnNumbers(s.GroupBy), 6, "expressions"))
	}
	if len(s.Having) > 0 {
		c = append(c, "keeps groups where "+andList(s.Having, 5, "conditions"))
	}
	if len(s.Aggregates) > 0 {
		p := "computes " + andList(s.Aggregates, 8, "functions")
		if s.Windowed {
			p += " (with window functions)"
		}
		c = append(c, p)
	}
	switch {
	case len(s.DistinctOn) > 0:
		c = append(c, "keeps the first row for each "+andList(s.DistinctOn, 4, "expressions"))
	case s.Distinct:
		c = append(c, "removes duplicate rows")
	}
	if len(s.Select) > 0 {
		if len(s.Select) > 8 {
			c = append(c, "outputs "+strconv.Itoa(len(s.Select))+" columns ("+strings.Join(outputs(s.Select[:6]), ", ")+", …)")
		} else {
			c = append(c, "outputs "+andList(outputs(s.Select), 8, ""))
		}
	}
	return c
}

// wholeClauses are the phrases of the whole statement: order and limits.
func (s Shape) wholeClauses() []string {
	var c []string
	if len(s.OrderBy) > 0 {
		items := columnNumbers(s.OrderBy)
		for i, o := range items {
			items[i] = describeSort(o)
		}
		c = append(c, "orders by "+andList(items, 6, "expressions"))
	}
	if s.Offset != "" {
		if n, err := strconv.Atoi(s.Offset); err == nil {
			c = append(c, "skips the first "+plural(n, "row", "rows"))
		} else {
			c = append(c, "skips "+s.Offset+" rows")
		}
	}
	if s.Limit != "" {
		p := "returns at most " + s.Limit + " rows"
		if s.Limit == "1" {
			p = "returns at most 1 row"
		}
		if s.WithTies {
			p += " (more when the last ones tie)"
		}
		c = append(c, p)
	}
	return c
}

// columnNumbers spells GROUP BY and ORDER BY positions: "2 DESC" is
// "column 2 DESC".
func columnNumbers(items []string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		num, _, _ := strings.Cut(it, " ")
		if _, err := strconv.Atoi(num); err == nil {
			it = "column " + it
		}
		out[i] = it
	}
	return out
}

// describeSort turns "x DESC NULLS LAST" into "x descending (nulls last)".
func describeSort(o string) string {
	nulls := ""
	for _, n := range []string{" NULLS FIRST", " NULLS LAST"} {
		if strings.HasSuffix(o, n) {
			o, nulls = strings.TrimSuffix(o, n), " ("+strings.ToLower(n[1:])+")"
		}
	}
	switch {
	case strings.HasSuffix(o, " DESC"):
		o = strings.TrimSuffix(o, " DESC") + " descending"
	case strings.HasSuffix(o, " ASC"):
		o = strings.TrimSuffix(o, " ASC") + " ascending"
	}
	return o + nulls
}

// sources describes the FROM list with its joins.
func (s Shape) sources() string {
	var b strings.Builder
	for i, src := range s.From {
		switch src.Join {
		case "":
			if i > 0 {
				b.WriteString(", ")
			}
		case "comma":
			if i == len(s.From)-1 && allComma(s.From[1:]) {
				b.WriteString(" and ")
			} else {
				b.WriteString(", ")
			}
		}
		if src.Join != "" && src.Join != "comma" && i > 1 {
			b.WriteString(",")
		}
		switch src.Join {
		case "", "comma":
		case "inner":
			b.WriteString(" joined to ")
		case "cross":
			b.WriteString(" cross-joined with ")
		case "natural":
			b.WriteString(" natural-joined to ")
		default:
			if rest, ok := strings.CutPrefix(src.Join, "natural "); ok {
				b.WriteString(" natural " + rest + "-joined to ")
			} else {
				b.WriteString(" " + src.Join + "-joined to ")
			}
		}
		b.WriteString(src.describe())
		switch {
		case src.On != "":
			b.WriteString(" on " + src.On)
		case len(src.Using) > 0:
			b.WriteString(" using (" + strings.Join(src.Using, ", ") + ")")
		}
	}
	return b.String()
}

func allComma(ss []ShapeSource) bool {
	for _, s := range ss {
		if s.Join != "comma" {
			return false
		}
	}
	return true
}

// describe names one source: "public.orders (o)", "WITH query recent (r,
// reading public.orders)", "a subquery (t, reading public.orders)",
// "generate_series(1, 10) (g)".
func (src ShapeSource) describe() string {
	var notes []string
	if src.Alias != "" && src.Alias != src.Name && !strings.HasSuffix(src.Name, "."+src.Alias) {
		notes = append(notes, src.Alias)
	}
	if len(src.Reads) > 0 {
		notes = append(notes, "reading "+andList(src.Reads, 4, "tables"))
	}
	var name string
	switch src.Kind {
	case "cte":
		name = "WITH query " + src.Name
	case "subquery":
		name = "a subquery"
		if src.Lateral {
			name = "a lateral subquery"
		}
	case "function":
		name = src.Name
		if src.Lateral {
			name = "lateral " + name
		}
	case "table":
		name = src.Name
	default:
		name = "a table expression"
	}
	if len(notes) > 0 {
		name += " (" + strings.Join(notes, ", ") + ")"
	}
	return name
}

// andList joins items as "a, b and c", listing at most max of them and
// counting the rest as "n more <what>".
func andList(items []string, max int, what string) string {
	if len(items) > max {
		more := " and " + strconv.Itoa(len(items)-max) + " more"
		if what != "" {
			more += " " + what
		}
		return strings.Join(items[:max], ", ") + more
	}
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// outputs spells * and t.* in output lists.
func outputs(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		switch {
		case c == "*":
			c = "all columns"
		case strings.HasSuffix(c, ".*"):
			c = "all columns of " + strings.TrimSuffix(c, ".*")
		}
		out[i] = c
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
