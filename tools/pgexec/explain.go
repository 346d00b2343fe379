package pgexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmcp/pgmcp/sqlguard"
)

// PlanNode is one node of a PostgreSQL plan (EXPLAIN FORMAT JSON), the
// fields a review needs.
type PlanNode struct {
	NodeType           string     `json:"Node Type"`
	Strategy           string     `json:"Strategy,omitempty"`
	ParentRelationship string     `json:"Parent Relationship,omitempty"`
	SubplanName        string     `json:"Subplan Name,omitempty"`
	RelationName       string     `json:"Relation Name,omitempty"`
	Schema             string     `json:"Schema,omitempty"`
	Alias              string     `json:"Alias,omitempty"`
	IndexName          string     `json:"Index Name,omitempty"`
	CTEName            string     `json:"CTE Name,omitempty"`
	FunctionName       string     `json:"Function Name,omitempty"`
	JoinType           string     `json:"Join Type,omitempty"`
	StartupCost        float64    `json:"Startup Cost"`
	TotalCost          float64    `json:"Total Cost"`
	PlanRows           float64    `json:"Plan Rows"`
	PlanWidth          int        `json:"Plan Width"`
	Filter             string     `json:"Filter,omitempty"`
	IndexCond          string     `json:"Index Cond,omitempty"`
	RecheckCond        string     `json:"Recheck Cond,omitempty"`
	HashCond           string     `json:"Hash Cond,omitempty"`
	MergeCond          string     `json:"Merge Cond,omitempty"`
	JoinFilter         string     `json:"Join Filter,omitempty"`
	SortKey            []string   `json:"Sort Key,omitempty"`
	GroupKey           []string   `json:"Group Key,omitempty"`
	Plans              []PlanNode `json:"Plans,omitempty"`
}

// Walk calls fn for n and every node below it, depth first, with its
// depth (0 for n).
func (n *PlanNode) Walk(fn func(node *PlanNode, depth int)) {
	var walk func(*PlanNode, int)
	walk = func(p *PlanNode, d int) {
		fn(p, d)
		for i := range p.Plans {
			walk(&p.Plans[i], d+1)
		}
	}
	walk(n, 0)
}

// Plan is the planner's view of a checked query.
type Plan struct {
	// Root is the plan of the query as written.
	Root PlanNode
	// AsRun is the plan of the query as it would run, with the row cap
	// (LIMIT max_rows+1) applied; its cost is what a cost ceiling compares.
	AsRun PlanNode
	// TableRows are the planner's row estimates (pg_class.reltuples) of
	// the tables the plan scans, by "schema.table".
	TableRows map[string]float64
	// WorkMemBytes is the transaction's work_mem, and HashMemBytes what a
	// hash may use (work_mem × hash_mem_multiplier).
	WorkMemBytes, HashMemBytes float64
	// Indexes are the indexes the plans use, by name: the table each is
	// on and every column it covers (key, expression and predicate
	// columns), for a caller's policy to hide names over blocked columns.
	Indexes map[string]IndexInfo
}

// IndexInfo is an index a plan uses.
type IndexInfo struct {
	Table string // "schema.table"
	// Tables are the other tables when indexes of this name exist in
	// several schemas; Columns are then the columns of them all.
	Tables  []string
	Columns []string
}

// Explain plans a checked query without running it: EXPLAIN (FORMAT JSON,
// VERBOSE) — never ANALYZE — of the query as written and as it would run,
// in a READ ONLY transaction with the same timeouts as Run, rolled back.
func (e *Executor) Explain(ctx context.Context, q *sqlguard.Query, lim Limits) (_ *Plan, err error) {
	return e.ExplainParams(ctx, q, nil, lim)
}

// ExplainParams is Explain of a query checked with parameters, planned
// with their values (as RunParams would run it).
func (e *Executor) ExplainParams(ctx context.Context, q *sqlguard.Query, params [][]byte, lim Limits) (_ *Plan, err error) {
	ctx, span := e.startSpan(ctx, opExplain, q.SQL(), lim)
	defer func() { endSpan(span, nil, err) }()
	if err := paramCount(q, params); err != nil {
		return nil, err
	}
	lim = lim.withDefaults()
	asRun, err := q.LimitRows(lim.MaxRows + 1)
	if err != nil {
		return nil, &Error{Code: CodeQueryFailed, Message: "cannot apply the row limit to this query", Err: err}
	}
	conn, caps, err := e.begin(ctx, lim)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(ctx, lim.ExplainTimeout)
	defer cancel()
	const explain = "EXPLAIN (FORMAT JSON, VERBOSE, COSTS) "
	pl := conn.Conn().PgConn().StartPipeline(ctx)
	// Planning folds immutable calls on constants: EXPLAIN gets its own,
	// shorter timeout.
	steps := sendBegin(pl, pinsOf(conn.Conn().PgConn()), lim, lim.ExplainTimeout)
	pl.SendQueryParams(explain+q.SQL(), params, nil, nil, nil)
	pl.SendQueryParams(explain+asRun, params, nil, nil, nil)
	pl.SendQueryParams(`SELECT pg_catalog.pg_size_bytes(pg_catalog.current_setting('work_mem')), pg_catalog.current_setting('hash_mem_multiplier')::float8`, nil, nil, nil, nil)
	st := statementsOf(conn.Conn().PgConn())
	check := sendEnd(pl, caps, st)
	if err := pl.Flush(); err != nil {
		_ = pl.Close()
		e.settle(ctx, conn, caps, []string{ReasonAbandoned})
		return nil, execError(ctx, err)
	}
	var texts [3][][]byte
	var first error
	for step := 0; step < steps+3 && first == nil; step++ {
		r, err := pl.GetResults()
		if err != nil {
			first = err
			break
		}
		rr, ok := r.(*pgconn.ResultReader)
		if !ok {
			first = fmt.Errorf("pgexec: unexpected pipeline result %T", r)
			break
		}
		res := rr.Read()
		if res.Err != nil {
			first = res.Err
			break
		}
		if step >= steps && len(res.Rows) == 1 {
			texts[step-steps] = res.Rows[0]
		}
	}
	var pe *pgconn.PgError
	var dirty []string
	if first == nil || errors.As(first, &pe) {
		dirty = e.finish(pl, st, check)
	} else {
		_ = pl.Close()
		dirty = []string{abandonReason(first)}
	}
	e.settle(ctx, conn, caps, dirty)
	if first != nil {
		return nil, execErrorIn(ctx, first, source{sql: q.SQL(), known: lim.Mentionable})
	}
	p := &Plan{TableRows: map[string]float64{}}
	for i, dst := range []*PlanNode{&p.Root, &p.AsRun} {
		var doc []struct {
			Plan PlanNode `json:"Plan"`
		}
		if len(texts[i]) != 1 || json.Unmarshal(texts[i][0], &doc) != nil || len(doc) != 1 {
			return nil, &Error{Code: CodeQueryFailed, Message: "the plan could not be read"}
		}
		*dst = doc[0].Plan
	}
	if len(texts[2]) == 2 {
		wm, _ := strconv.ParseFloat(string(texts[2][0]), 64)
		mult, _ := strconv.ParseFloat(string(texts[2][1]), 64)
		p.WorkMemBytes, p.HashMemBytes = wm, wm*max(mult, 1)
	}
	if err := e.tableRows(ctx, e.pool, p); err != nil {
		return nil, execError(ctx, err)
	}
	if err := e.indexes(ctx, e.pool, p); err != nil {
		return nil, execError(ctx, err)
	}
	return p, nil
}

// indexes reads what the indexes of the plans cover.
func (e *Executor) indexes(ctx context.Context, db queryer, p *Plan) error {
	var names []string
	for _, root := range []*PlanNode{&p.Root, &p.AsRun} {
		root.Walk(func(n *PlanNode, _ int) {
			if n.IndexName != "" {
				names = append(names, n.IndexName)
			}
		})
	}
	p.Indexes = map[string]IndexInfo{}
	if len(names) == 0 {
		return nil
	}
	rows, err := db.Query(ctx, `
		SELECT i.relname::text, tn.nspname || '.' || t.relname,
		  ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
		        WHERE a.attrelid = x.indrelid AND a.attnum > 0 AND (a.attnum = ANY (x.indkey::int2[])
		          OR EXISTS (SELECT FROM pg_catalog.pg_depend d
		                     WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = x.indexrelid
		                       AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = x.indrelid AND d.refobjsubid = a.attnum)))
		FROM pg_catalog.pg_index x
		JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
		JOIN pg_catalog.pg_class t ON t.oid = x.indrelid JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
		WHERE i.relname = ANY ($1)`, names)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var info IndexInfo
		if err := rows.Scan(&name, &info.Table, &info.Columns); err != nil {
			return err
		}
		// A plan names an index without its schema (a bitmap index scan
		// has no relation): indexes of one name in several schemas merge.
		if prev, ok := p.Indexes[name]; ok {
			info.Columns = append(info.Columns, prev.Columns...)
			if prev.Table != info.Table {
				info.Tables = append(info.Tables, prev.Table)
			}
			info.Tables = append(info.Tables, prev.Tables...)
		}
		p.Indexes[name] = info
	}
	return rows.Err()
}

// tableRows reads the planner's size estimates of the scanned tables.
func (e *Executor) tableRows(ctx context.Context, db queryer, p *Plan) error {
	var names []string
	p.Root.Walk(func(n *PlanNode, _ int) {
		if n.RelationName != "" && n.Schema != "" {
			names = append(names, n.Schema+"."+n.RelationName)
		}
	})
	if len(names) == 0 {
		return nil
	}
	rows, err := db.Query(ctx, `SELECT n.nspname || '.' || c.relname, greatest(c.reltuples, 0)::float8
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname || '.' || c.relname = ANY($1)`, names)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n float64
		if err := rows.Scan(&name, &n); err != nil {
			return err
		}
		p.TableRows[name] = n
	}
	return rows.Err()
}

// Label is a one-line description of a plan node: its type, what it reads
// and how, and its estimates.
func (n *PlanNode) Label() string {
	var b strings.Builder
	if n.Strategy != "" && n.Strategy != "Plain" && n.NodeType == "Aggregate" {
		b.WriteString(n.Strategy + " ")
	}
	b.WriteString(n.NodeType)
	if n.JoinType != "" && strings.Contains(n.NodeType, "Join") || n.NodeType == "Nested Loop" && n.JoinType != "" && n.JoinType != "Inner" {
		b.WriteString(" (" + strings.ToLower(n.JoinType) + ")")
	}
	switch {
	case n.RelationName != "":
		rel := n.RelationName
		if n.Schema != "" {
			rel = n.Schema + "." + rel
		}
		b.WriteString(" on " + rel)
		if n.Alias != "" && n.Alias != n.RelationName {
			b.WriteString(" " + n.Alias)
		}
		if n.IndexName != "" {
			b.WriteString(" using " + n.IndexName)
		}
	case n.IndexName != "":
		b.WriteString(" using " + n.IndexName) // a bitmap index scan
	case n.CTEName != "":
		b.WriteString(" on " + n.CTEName)
	case n.FunctionName != "":
		b.WriteString(" on " + n.FunctionName + "()")
	}
	for _, c := range []struct{ name, v string }{
		{"index cond", n.IndexCond}, {"hash cond", n.HashCond}, {"merge cond", n.MergeCond},
		{"join filter", n.JoinFilter}, {"filter", n.Filter},
	} {
		if c.v != "" {
			b.WriteString("; " + c.name + " " + shorten(c.v, 90))
		}
	}
	if len(n.SortKey) > 0 {
		b.WriteString("; by " + shorten(strings.Join(n.SortKey, ", "), 90))
	}
	if len(n.GroupKey) > 0 {
		b.WriteString("; group by " + shorten(strings.Join(n.GroupKey, ", "), 90))
	}
	fmt.Fprintf(&b, " (cost %.2f, rows %s)", n.TotalCost, strconv.FormatFloat(n.PlanRows, 'f', -1, 64))
	return b.String()
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
