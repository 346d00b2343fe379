package engine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/prompts"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/sqlguard/sqlfmt"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// ExplainArgs are the arguments of explain.
type ExplainArgs struct {
	Question string `json:"question,omitempty"`
	SQL      string `json:"sql,omitempty"`
	Database string `json:"database,omitempty"`
}

// Verdict is the guard's decision on a query.
type Verdict struct {
	Allowed bool   `json:"allowed" jsonschema:"true when the query may run"`
	Code    string `json:"code,omitempty" jsonschema:"for a refused query: the stable reason code"`
	Message string `json:"message,omitempty" jsonschema:"for a refused query: why, in plain words"`
}

// PlanSummary is the planner's view of a query, summarised.
type PlanSummary struct {
	TotalCost   float64  `json:"total_cost" jsonschema:"the planner's estimated total cost of the query as written (arbitrary units)"`
	StartupCost float64  `json:"startup_cost" jsonschema:"estimated cost before the first row"`
	Rows        float64  `json:"rows" jsonschema:"estimated number of result rows of the query as written"`
	CostAsRun   float64  `json:"cost_as_run" jsonschema:"estimated cost of the query as it would run, with the row cap applied"`
	CostCeiling float64  `json:"cost_ceiling,omitempty" jsonschema:"the server's cost ceiling (PGMCP_MAX_PLAN_COST), when set"`
	OverCeiling bool     `json:"over_ceiling" jsonschema:"true when query would refuse this SQL for its cost"`
	Tree        []string `json:"tree" jsonschema:"the main plan nodes, one per line, indented by depth"`
}

// Warning is something a reviewer should know about a query's plan.
type Warning struct {
	Code    string `json:"code" jsonschema:"stable warning code, e.g. seq_scan_large_table"`
	Message string `json:"message"`
}

// ExplainResult is explain's structured output.
type ExplainResult struct {
	Database  string       `json:"database"`
	Question  string       `json:"question,omitempty"`
	SQL       string       `json:"sql" jsonschema:"the query, pretty-printed"`
	Verdict   Verdict      `json:"verdict"`
	Relations []string     `json:"relations" jsonschema:"schema.table of every relation it reads"`
	Columns   []string     `json:"columns" jsonschema:"schema.table.column of the columns it references, where resolvable"`
	Functions []string     `json:"functions" jsonschema:"functions it calls"`
	Plan      *PlanSummary `json:"plan,omitempty" jsonschema:"the plan; absent for a refused query, which is never planned"`
	Warnings  []Warning    `json:"warnings"`
	Summary   string       `json:"summary" jsonschema:"what the query does, in plain English"`
	SummaryBy string       `json:"summary_by" jsonschema:"who wrote the summary: model or structure"`
	Attempts  int          `json:"attempts" jsonschema:"model calls made (0 when SQL was given)"`
}

// Explain reviews a question's or SQL's query without running it, as the
// caller in ctx: the guard's verdict (a refusal is a verdict, not an
// error), what it reads, the plan with its warnings, and a summary.
func (e *Engine) Explain(ctx context.Context, args ExplainArgs) (*ExplainResult, error) {
	args.Question = strings.TrimSpace(args.Question)
	hasQ, hasSQL := args.Question != "", strings.TrimSpace(args.SQL) != ""
	switch {
	case hasQ == hasSQL:
		return nil, &Error{Code: CodeInvalidArgument, Message: "give exactly one of question and sql"}
	case len(args.Question) > MaxQuestionBytes:
		return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("the question is longer than %d bytes", MaxQuestionBytes)}
	}
	a, err := e.Access(ctx, args.Database)
	if err != nil {
		return nil, err
	}
	out := &ExplainResult{Database: a.db.Name, Question: args.Question, Relations: []string{}, Columns: []string{},
		Functions: []string{}, Warnings: []Warning{}}
	var q *sqlguard.Query
	var plan *pgexec.Plan
	if hasSQL {
		q, err = e.check(ctx, args.SQL, a.policy)
		if err != nil {
			var ge *sqlguard.Error
			if !errors.As(err, &ge) {
				return nil, err
			}
			return rejected(out, args.SQL, ge), nil
		}
		if plan, err = e.plan(ctx, a, q); err != nil {
			return nil, err
		}
	} else {
		// One budget for the question: model calls, repairs and the plans
		// between them.
		ctx, cancel := e.questionBudget(ctx)
		defer cancel()
		gen, err := e.generate(ctx, a, args.Question, e.cfg.MaxRows, func(cq *sqlguard.Query) error {
			p, err := e.plan(ctx, a, cq)
			if err != nil {
				return err
			}
			q, plan = cq, p
			return nil
		})
		if gen != nil {
			out.Attempts = gen.Attempts
		}
		if err != nil {
			return nil, err
		}
		if gen.Rejection != nil {
			return rejected(out, gen.SQL, gen.Rejection), nil
		}
	}
	out.SQL = sqlfmt.FormatChecked(q.SQL())
	out.Verdict = Verdict{Allowed: true}
	out.Relations, out.Columns, out.Functions = nonNil(q.Relations()), nonNil(q.Columns()), nonNil(q.Functions())
	out.Plan, out.Warnings = e.review(plan)
	out.Summary, out.SummaryBy = e.summarize(ctx, q)
	return out, nil
}

// plan runs EXPLAIN through the executions gate.
func (e *Engine) plan(ctx context.Context, a *Access, q *sqlguard.Query) (*pgexec.Plan, error) {
	leave, err := e.gate.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	if err := a.db.checkShadows(ctx, a.policy); err != nil {
		return nil, err
	}
	p, err := a.db.Exec.Explain(ctx, q, e.limits(a, e.cfg.MaxRows))
	if err != nil {
		return nil, err
	}
	redactPlan(p, a.policy)
	return p, nil
}

// HiddenIndex and hiddenExpr stand in the plan for what the policy hides.
const (
	HiddenIndex = "(an index over a blocked column)"
	hiddenExpr  = "(hidden: it involves a column the policy blocks)"
)

// redactPlan hides, in place, what a plan would show of blocked columns,
// which get_schema hides: the names of indexes that cover one (an index
// name often lists its columns), and every condition or key that names
// one (a view's or a row-level security policy's condition can).
func redactPlan(p *pgexec.Plan, pol *sqlguard.Policy) {
	hiddenIdx := map[string]bool{}
	for name, ix := range p.Indexes {
		for _, c := range ix.Columns {
			if pol.HidesColumn(c) {
				hiddenIdx[name] = true
			}
		}
	}
	expr := func(s string) string {
		if s != "" && mentionsBlocked(s, pol) {
			return hiddenExpr
		}
		return s
	}
	for _, root := range []*pgexec.PlanNode{&p.Root, &p.AsRun} {
		root.Walk(func(n *pgexec.PlanNode, _ int) {
			if _, known := p.Indexes[n.IndexName]; n.IndexName != "" && (hiddenIdx[n.IndexName] || !known) {
				n.IndexName = HiddenIndex
			}
			n.Filter, n.IndexCond, n.RecheckCond = expr(n.Filter), expr(n.IndexCond), expr(n.RecheckCond)
			n.HashCond, n.MergeCond, n.JoinFilter = expr(n.HashCond), expr(n.MergeCond), expr(n.JoinFilter)
			for i := range n.SortKey {
				n.SortKey[i] = expr(n.SortKey[i])
			}
			for i := range n.GroupKey {
				n.GroupKey[i] = expr(n.GroupKey[i])
			}
		})
	}
}

// mentionsBlocked reports whether an expression of a plan names a column
// the policy blocks: any identifier of it, quoted or not.
func mentionsBlocked(s string, pol *sqlguard.Policy) bool {
	for _, m := range planIdent.FindAllString(s, -1) {
		if strings.HasPrefix(m, `"`) {
			m = strings.ReplaceAll(m[1:len(m)-1], `""`, `"`)
		}
		if pol.HidesColumn(m) {
			return true
		}
	}
	return false
}

// planIdent matches the identifiers of a plan expression (and, harmlessly,
// words inside its string constants).
var planIdent = regexp.MustCompile(`"(?:[^"]|"")+"|[\pL_][\pL\pN_$]*`)

// rejected fills out for a query the guard refused: its verdict, never a
// plan.
func rejected(out *ExplainResult, sql string, ge *sqlguard.Error) *ExplainResult {
	out.SQL = sqlfmt.Format(sql)
	out.Verdict = Verdict{Allowed: false, Code: string(ge.Code), Message: ge.Message}
	out.Summary = "Not planned: the validator refuses this query (" + ge.Message + ")."
	out.SummaryBy = "structure"
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Review thresholds.
const (
	// largeTableRows makes a sequential scan worth a warning.
	largeTableRows = 100_000
	// nestedLoopPairs is the outer × inner row estimate above which a
	// nested loop is worth a warning.
	nestedLoopPairs = 1_000_000
	// maxTreeLines bounds the plan tree shown.
	maxTreeLines = 25
)

// review summarises a plan and finds what a reviewer should know.
func (e *Engine) review(p *pgexec.Plan) (*PlanSummary, []Warning) {
	s := &PlanSummary{
		TotalCost: p.Root.TotalCost, StartupCost: p.Root.StartupCost, Rows: p.Root.PlanRows,
		CostAsRun: p.AsRun.TotalCost, CostCeiling: e.cfg.MaxPlanCost, Tree: []string{},
	}
	warn := []Warning{}
	add := func(code, format string, a ...any) {
		warn = append(warn, Warning{Code: code, Message: fmt.Sprintf(format, a...)})
	}
	p.Root.Walk(func(n *pgexec.PlanNode, depth int) {
		if len(s.Tree) < maxTreeLines {
			s.Tree = append(s.Tree, strings.Repeat("  ", depth)+"-> "+n.Label())
		} else if len(s.Tree) == maxTreeLines {
			s.Tree = append(s.Tree, "   … (more nodes)")
		}
		switch n.NodeType {
		case "Seq Scan":
			rel := n.Schema + "." + n.RelationName
			if rows := p.TableRows[rel]; rows >= largeTableRows {
				how := "reads every row"
				if n.Filter != "" {
					how = "reads every row to apply its filter"
				}
				add("seq_scan_large_table", "sequential scan of %s (about %s rows): it %s; an index on the filtered columns could avoid it",
					rel, count(rows), how)
			}
		case "Nested Loop":
			if len(n.Plans) != 2 {
				break
			}
			outer, inner := n.Plans[0], n.Plans[1]
			if n.JoinFilter == "" && !restrictedBy(&inner, &outer) {
				add("cartesian_product", "a join with no join condition (cartesian product): %s × %s rows",
					count(outer.PlanRows), count(inner.PlanRows))
				break
			}
			if outer.PlanRows*inner.PlanRows >= nestedLoopPairs && outer.PlanRows >= 1000 {
				add("nested_loop_large", "a nested loop over about %s outer rows × %s inner rows", count(outer.PlanRows), count(inner.PlanRows))
			}
		case "Sort":
			if bytes := n.PlanRows * float64(n.PlanWidth); p.WorkMemBytes > 0 && bytes > p.WorkMemBytes {
				add("sort_may_spill", "a sort of about %s (%s rows) is larger than work_mem (%s): it will likely spill to disk",
					size(bytes), count(n.PlanRows), size(p.WorkMemBytes))
			}
		case "Hash":
			if bytes := n.PlanRows * float64(n.PlanWidth+16); p.HashMemBytes > 0 && bytes > p.HashMemBytes {
				add("hash_may_spill", "a hash table of about %s (%s rows) is larger than the hash memory (%s): it will likely spill to disk",
					size(bytes), count(n.PlanRows), size(p.HashMemBytes))
			}
		case "Aggregate":
			if bytes := n.PlanRows * float64(n.PlanWidth+16); n.Strategy == "Hashed" && p.HashMemBytes > 0 && bytes > p.HashMemBytes {
				add("hash_may_spill", "a hash aggregate of about %s (%s groups) is larger than the hash memory (%s): it will likely spill to disk",
					size(bytes), count(n.PlanRows), size(p.HashMemBytes))
			}
		}
	})
	if max := float64(e.cfg.MaxRows); p.Root.PlanRows > max {
		add("rows_over_max", "the planner expects about %s rows; only the first %d would be returned (the result would be truncated)",
			count(p.Root.PlanRows), e.cfg.MaxRows)
	}
	if e.cfg.MaxPlanCost > 0 && p.AsRun.TotalCost > e.cfg.MaxPlanCost {
		s.OverCeiling = true
		add(string(CodePlanTooExpensive), "estimated cost %.0f is above the ceiling of %.0f: query would refuse to run it",
			p.AsRun.TotalCost, e.cfg.MaxPlanCost)
	}
	return s, warn
}

// restrictedBy reports whether a nested loop's inner side depends on the
// outer row: a condition anywhere in the inner subtree names a relation
// alias of the outer subtree (VERBOSE plans qualify every column). A loop
// whose inner side does not is a cartesian product.
func restrictedBy(inner, outer *pgexec.PlanNode) bool {
	var aliases []string
	outer.Walk(func(n *pgexec.PlanNode, _ int) {
		if a := n.Alias; a != "" {
			aliases = append(aliases, regexp.QuoteMeta(a))
		}
	})
	if len(aliases) == 0 {
		return true // nothing to tell by: do not cry wolf
	}
	ref := regexp.MustCompile(`(^|[^\w."])"?(` + strings.Join(aliases, "|") + `)"?\.`)
	found := false
	inner.Walk(func(n *pgexec.PlanNode, _ int) {
		for _, c := range []string{n.IndexCond, n.Filter, n.RecheckCond, n.HashCond, n.MergeCond, n.JoinFilter} {
			if c != "" && ref.MatchString(c) {
				found = true
			}
		}
	})
	return found
}

func count(n float64) string {
	switch {
	case n >= 1e9:
		return strconv.FormatFloat(n/1e9, 'f', 1, 64) + " billion"
	case n >= 1e6:
		return strconv.FormatFloat(n/1e6, 'f', 1, 64) + " million"
	default:
		return strconv.FormatFloat(n, 'f', 0, 64)
	}
}

func size(b float64) string {
	switch {
	case b >= 1<<30:
		return strconv.FormatFloat(b/(1<<30), 'f', 1, 64) + " GiB"
	case b >= 1<<20:
		return strconv.FormatFloat(b/(1<<20), 'f', 1, 64) + " MiB"
	default:
		return strconv.FormatFloat(b/(1<<10), 'f', 0, 64) + " KiB"
	}
}

// summarize describes the query in plain English: by the model when one is
// configured (falling back on any failure), else from its structure.
func (e *Engine) summarize(ctx context.Context, q *sqlguard.Query) (string, string) {
	structure := q.Shape().Summary()
	if e.cfg.LLM == nil {
		return structure, "structure"
	}
	msgs, err := prompts.Summary(q.SQL(), structure)
	if err == nil {
		var resp *llm.Response
		if resp, err = e.complete(ctx, msgs, 300, 0); err == nil {
			if text := strings.TrimSpace(resp.Content); plausibleSummary(text) {
				return text, "model"
			}
			err = errors.New("the model's answer is not a plain-English summary")
		}
	}
	e.cfg.Logger.InfoContext(ctx, "the model could not summarize the query; using its structure", "err", err)
	return structure, "structure"
}

// plausibleSummary refuses what a model answers when it did not follow the
// summary prompt: nothing, a wall of text, JSON, code fences or SQL.
func plausibleSummary(text string) bool {
	if text == "" || len(text) > 2000 {
		return false
	}
	if strings.HasPrefix(text, "{") || strings.HasPrefix(text, "[") || strings.Contains(text, "```") {
		return false
	}
	first, _, _ := strings.Cut(strings.ToUpper(text), " ")
	switch strings.TrimRight(first, "\n\t(") {
	case "SELECT", "WITH", "TABLE", "VALUES", "EXPLAIN":
		return false
	}
	return true
}

// RenderExplainText is the text form of a review.
func RenderExplainText(r *ExplainResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "```sql\n%s\n```\n\n", r.SQL)
	if !r.Verdict.Allowed {
		fmt.Fprintf(&b, "Verdict: REFUSED (%s): %s\n", r.Verdict.Code, r.Verdict.Message)
		return b.String()
	}
	b.WriteString("Verdict: allowed\n")
	fmt.Fprintf(&b, "Reads: %s\n", strings.Join(r.Relations, ", "))
	if len(r.Functions) > 0 {
		fmt.Fprintf(&b, "Functions: %s\n", strings.Join(r.Functions, ", "))
	}
	fmt.Fprintf(&b, "\nSummary: %s\n", r.Summary)
	if p := r.Plan; p != nil {
		fmt.Fprintf(&b, "\nPlan: estimated cost %.2f, about %s rows", p.TotalCost, count(p.Rows))
		if p.CostAsRun != p.TotalCost {
			fmt.Fprintf(&b, " (cost %.2f as it would run, with the row cap)", p.CostAsRun)
		}
		if p.CostCeiling > 0 {
			fmt.Fprintf(&b, "; cost ceiling %.0f (%s)", p.CostCeiling, map[bool]string{true: "over it", false: "within it"}[p.OverCeiling])
		}
		b.WriteString("\n")
		if len(p.Tree) > 0 {
			writeFrame(&b, FramePlan, strings.Join(p.Tree, "\n"))
		}
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\nWarnings:\n")
		for _, w := range r.Warnings {
			fmt.Fprintf(&b, "- %s: %s\n", w.Code, w.Message)
		}
	} else {
		b.WriteString("\nNo warnings.\n")
	}
	return b.String()
}
