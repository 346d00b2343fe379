package pgexec

import (
	"context"
	"encoding/json"
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
}

// Explain plans a checked query without running it: EXPLAIN (FORMAT JSON,
// VERBOSE) — never ANALYZE — of the query as written and as it would run,
// in a READ ONLY transaction with the same timeouts as Run, rolled back.
func (e *Executor) Explain(ctx context.Context, q *sqlguard.Query, lim Limits) (*Plan, error) {
	lim = lim.withDefaults()
	asRun, err := q.LimitRows(lim.MaxRows + 1)
	if err != nil {
		return nil, &Error{Code: CodeQueryFailed, Message: "cannot apply the row limit to this query", Err: err}
	}
	conn, err := e.acquire(ctx, lim)
	if err != nil {
		return nil, err
	}
	healthy := false
	defer func() { release(ctx, conn, healthy) }()
	const explain = "EXPLAIN (FORMAT JSON, VERBOSE, COSTS) "
	pl := conn.Conn().PgConn().StartPipeline(ctx)
	pl.SendQueryParams("BEGIN READ ONLY", nil, nil, nil, nil)
	sendSettings(pl, lim)
	pl.SendQueryParams(explain+q.SQL(), nil, nil, nil, nil)
	pl.SendQueryParams(explain+asRun, nil, nil, nil, nil)
	pl.SendQueryParams(`SELECT pg_size_bytes(current_setting('work_mem')), current_setting('hash_mem_multiplier')::float8`, nil, nil, nil, nil)
	pl.SendPipelineSync()
	pl.SendQueryParams("ROLLBACK", nil, nil, nil, nil)
	pl.SendPipelineSync()
	if err := pl.Flush(); err != nil {
		_ = pl.Close()
		return nil, execError(ctx, err)
	}
	var texts [3][][]byte
	var first error
	for step := 0; step < 5 && first == nil; step++ {
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
		if step >= 2 && len(res.Rows) == 1 {
			texts[step-2] = res.Rows[0]
		}
	}
	perr := pl.Close()
	healthy = perr == nil
	if first == nil {
		first = perr
	}
	if first != nil {
		return nil, execError(ctx, first)
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
	if err := e.tableRows(ctx, conn, p); err != nil {
		return nil, execError(ctx, err)
	}
	return p, nil
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
