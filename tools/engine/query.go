package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/prompts"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// QueryArgs are the arguments of query.
type QueryArgs struct {
	Question string `json:"question,omitempty"`
	SQL      string `json:"sql,omitempty"`
	Database string `json:"database,omitempty"`
	MaxRows  int    `json:"max_rows,omitempty"`
	DryRun   bool   `json:"dry_run,omitempty"`
}

// QueryResult is query's structured output.
type QueryResult struct {
	Database  string          `json:"database" jsonschema:"the database queried"`
	Question  string          `json:"question,omitempty" jsonschema:"the question asked, when one was"`
	SQL       string          `json:"sql" jsonschema:"the validated SQL that ran (or would run, with dry_run)"`
	Columns   []pgexec.Column `json:"columns" jsonschema:"result columns with their PostgreSQL types"`
	Rows      [][]any         `json:"rows" jsonschema:"result rows, one array of values per row, in column order; numerics keep every digit"`
	RowCount  int             `json:"row_count" jsonschema:"number of rows returned"`
	Truncated bool            `json:"truncated" jsonschema:"true when the query had more rows than returned"`
	// TruncatedBy is max_rows or max_result_bytes.
	TruncatedBy string  `json:"truncated_by,omitempty" jsonschema:"which limit cut the result: max_rows or max_result_bytes"`
	ElapsedMS   float64 `json:"elapsed_ms" jsonschema:"time spent running the SQL, in milliseconds"`
	Attempts    int     `json:"attempts" jsonschema:"model calls made (0 when SQL was given)"`
	DryRun      bool    `json:"dry_run" jsonschema:"true when the SQL was validated but not run"`
	// Candidates is set when the model wrote several candidate queries
	// and their results voted (PGMCP_LLM_CANDIDATES).
	Candidates *CandidateReport `json:"candidates,omitempty" jsonschema:"how the SQL was chosen among the model's candidate queries by their results, when there were several"`
	// Checks are the result checks that found something (and the repair
	// round each led to).
	Checks []ResultCheck `json:"result_checks,omitempty" jsonschema:"checks of the result that found something (no rows, a NULL column, a join multiplying rows), and what the repair round they led to did"`
}

// MaxQuestionBytes caps a question: a longer one is not a question.
const MaxQuestionBytes = 4000

// Query answers a question or runs SQL, as the caller in ctx: validate the
// arguments, get SQL (given, or from the model with repairs), check it,
// run it.
func (e *Engine) Query(ctx context.Context, args QueryArgs) (*QueryResult, error) {
	args.Question = strings.TrimSpace(args.Question)
	hasQ, hasSQL := args.Question != "", strings.TrimSpace(args.SQL) != ""
	switch {
	case hasQ == hasSQL:
		return nil, &Error{Code: CodeInvalidArgument, Message: "give exactly one of question and sql",
			Hint: "pass question for plain English, or sql for a SELECT statement you wrote"}
	case args.MaxRows < 0 || args.MaxRows > e.cfg.MaxRows:
		return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("max_rows must be between 1 and %d", e.cfg.MaxRows)}
	case len(args.Question) > MaxQuestionBytes:
		return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("the question is longer than %d bytes", MaxQuestionBytes)}
	}
	a, err := e.Access(ctx, args.Database)
	if err != nil {
		return nil, err
	}
	maxRows := e.cfg.MaxRows
	if args.MaxRows > 0 {
		maxRows = args.MaxRows
	}
	out := &QueryResult{Database: a.db.Name, Question: args.Question, DryRun: args.DryRun, Columns: []pgexec.Column{}, Rows: [][]any{}}
	if hasSQL {
		q, err := e.check(ctx, args.SQL, a.policy)
		if err != nil {
			return nil, err
		}
		out.SQL = q.SQL()
		if args.DryRun {
			return out, nil
		}
		res, err := e.execute(ctx, a, q, maxRows)
		if err != nil {
			return nil, err
		}
		fillResult(out, res)
		return out, nil
	}
	return e.answer(ctx, a, args.Question, maxRows, args.DryRun, out)
}

// CodePlanTooExpensive refuses a query whose estimated cost is over the
// ceiling (PGMCP_MAX_PLAN_COST). Never rename it.
const CodePlanTooExpensive Code = "plan_too_expensive"

// execute runs a checked query under the server's limits; with a cost
// ceiling, it plans the query first and refuses it when the planner's
// estimate of what would run is over the ceiling.
func (e *Engine) execute(ctx context.Context, a *Access, q *sqlguard.Query, maxRows int) (*pgexec.Result, error) {
	return e.executeWith(ctx, a, q, e.limits(a, maxRows))
}

// executeWith is execute under the given limits.
func (e *Engine) executeWith(ctx context.Context, a *Access, q *sqlguard.Query, lim pgexec.Limits) (*pgexec.Result, error) {
	return e.executeParams(ctx, a, q, nil, lim)
}

// executeParams is executeWith of a query checked with parameters, with
// their values (none for other queries).
func (e *Engine) executeParams(ctx context.Context, a *Access, q *sqlguard.Query, params [][]byte, lim pgexec.Limits) (*pgexec.Result, error) {
	leave, err := e.gate.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	if err := a.db.checkShadows(ctx, a.policy); err != nil {
		return nil, err
	}
	if e.cfg.MaxPlanCost > 0 {
		plan, err := a.db.Exec.ExplainParams(ctx, q, params, lim)
		if err != nil {
			return nil, err
		}
		if cost := plan.AsRun.TotalCost; cost > e.cfg.MaxPlanCost {
			return nil, &Error{Code: CodePlanTooExpensive,
				Message: fmt.Sprintf("the planner estimates this query at cost %.0f, above the ceiling of %.0f", cost, e.cfg.MaxPlanCost),
				Hint:    "narrow it (filters on indexed columns, aggregates, fewer joins) or check it with explain first",
				SQL:     q.SQL()}
		}
	}
	res, err := a.db.Exec.RunParams(ctx, q, params, lim)
	e.noteServer(ctx, a.db.Name, res, err)
	return res, err
}

// check runs the guard, and records its verdict for the audit log and the
// metrics.
func (e *Engine) check(ctx context.Context, sql string, p *sqlguard.Policy) (*sqlguard.Query, error) {
	return e.guard(ctx, sql, func() (*sqlguard.Query, error) { return e.verdicts.Check(sql, p) })
}

// guard runs a check of sql in its trace span, and notes its verdict in
// the call's audit record and the metrics.
func (e *Engine) guard(ctx context.Context, sql string, check func() (*sqlguard.Query, error)) (*sqlguard.Query, error) {
	_, span := startGuardSpan(ctx)
	q, err := check()
	endGuardSpan(span, sql, q, err, e.cfg.Limits.TraceSQL)
	noteChecked(ctx, sql, q, err)
	if err != nil {
		e.metrics.observeRejection(Describe(err).Code)
	}
	return q, err
}

// limits are the executor limits of a call returning at most maxRows, as
// the caller's role.
func (e *Engine) limits(a *Access, maxRows int) pgexec.Limits {
	lim := e.cfg.Limits
	lim.MaxRows = maxRows
	lim.Role = a.role
	lim.Mentionable = a.policy.Mentionable
	return lim
}

func fillResult(out *QueryResult, res *pgexec.Result) {
	out.Columns = res.Columns
	out.Rows = res.Rows
	out.RowCount = len(res.Rows)
	out.Truncated = res.Truncated
	out.TruncatedBy = res.TruncatedBy
	out.ElapsedMS = float64(res.Elapsed.Microseconds()) / 1000
}

// answer turns a question into SQL with the model and runs it (or, with
// dryRun, only checks it). The question's budget covers the executions
// too, so a query between two attempts ends at the question's deadline.
// With candidates (and not dryRun), the model writes several queries and
// their results vote (vote); with result checks, the answer's result is
// checked and may get one repair round (recheck).
func (e *Engine) answer(ctx context.Context, a *Access, question string, maxRows int, dryRun bool, out *QueryResult) (*QueryResult, error) {
	ctx, cancel := e.questionBudget(ctx)
	defer cancel()
	var (
		gen *generation
		res *pgexec.Result
		err error
	)
	if e.cfg.Candidates > 1 && !dryRun {
		gen, res, out.Candidates, err = e.vote(ctx, a, question, maxRows)
	} else {
		gen, err = e.generate(ctx, a, question, maxRows, func(q *sqlguard.Query) error {
			if dryRun {
				return nil
			}
			r, err := e.execute(ctx, a, q, maxRows)
			res = r
			return err
		})
	}
	if err == nil && gen.Rejection == nil && res != nil && e.cfg.ResultChecks {
		var chk *ResultCheck
		if res, chk = e.recheck(ctx, a, gen, res, maxRows); chk != nil {
			out.Checks = append(out.Checks, *chk)
		}
	}
	if gen != nil {
		out.Attempts = gen.Attempts
	}
	if err != nil {
		return nil, err
	}
	if gen.Rejection != nil {
		return nil, gen.exhausted()
	}
	out.SQL = gen.query.SQL()
	if res != nil {
		fillResult(out, res)
	}
	return out, nil
}

func toLLM(msgs []prompts.Message) []llm.Message {
	out := make([]llm.Message, len(msgs))
	for i, m := range msgs {
		out[i] = llm.Message{Role: llm.Role(m.Role), Content: m.Content}
	}
	return out
}

// maxTextRows and maxTextCell bound the markdown table of a result's text.
const (
	maxTextRows = 50
	maxTextCell = 80
)

// RenderQueryText is the text form of a result: the SQL and a bounded
// markdown table of the first rows (EncodeQuery makes it along with the
// JSON).
func RenderQueryText(r *QueryResult) string {
	var b, table strings.Builder
	writeQueryHead(&b, r)
	writeTableHead(&table, r)
	if !r.DryRun && len(r.Columns) > 0 {
		for i, row := range r.Rows {
			if i == maxTextRows {
				break
			}
			writeTextRow(&table, row)
		}
	}
	if table.Len() > 0 {
		b.WriteByte('\n')
		writeFrame(&b, FrameRows, table.String())
	}
	writeQueryTail(&b, r)
	return b.String()
}

// writeQueryHead writes the text before the rows: the SQL (or the dry-run
// line).
func writeQueryHead(b *strings.Builder, r *QueryResult) {
	fmt.Fprintf(b, "```sql\n%s\n```\n", r.SQL)
	if r.DryRun {
		b.WriteString("\nValidated, not run (dry_run).\n")
	}
}

// writeTableHead writes the header of the rows' markdown table (nothing
// for a dry run or a result without columns).
func writeTableHead(b *strings.Builder, r *QueryResult) {
	if r.DryRun || len(r.Columns) == 0 {
		return
	}
	b.WriteByte('|')
	for _, c := range r.Columns {
		b.WriteByte(' ')
		writeCell(b, c.Name)
		b.WriteString(" |")
	}
	b.WriteString("\n|")
	for range r.Columns {
		b.WriteString("---|")
	}
	b.WriteByte('\n')
}

// writeQueryTail writes the text after the rows: counts, limits, time.
func writeQueryTail(b *strings.Builder, r *QueryResult) {
	if r.DryRun {
		return
	}
	fmt.Fprintf(b, "\n%d row%s", r.RowCount, plural(r.RowCount))
	if r.RowCount > maxTextRows {
		fmt.Fprintf(b, " (the first %d shown; all are in the structured result)", maxTextRows)
	}
	if r.Truncated {
		fmt.Fprintf(b, "; truncated by %s: the query has more rows", r.TruncatedBy)
	}
	fmt.Fprintf(b, "; %.1f ms", r.ElapsedMS)
	if r.Attempts > 0 {
		fmt.Fprintf(b, "; %d model call%s", r.Attempts, plural(r.Attempts))
	}
	b.WriteString(".\n")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
