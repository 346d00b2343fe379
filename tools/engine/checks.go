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

// Result checks (PGMCP_LLM_RESULT_CHECKS): before a question's answer is
// returned, its result is looked at for three signs of a wrong query: no
// rows, a column that is NULL in every row, and a join that multiplies
// rows (more rows than the biggest table read, or many more than the
// planner expected).
// One of them sends the model one repair round with what was seen (never
// a value of the result). The model's new query replaces the first only
// when it runs and passes the checks; otherwise the first result stands.
// The round is a model call like any (it counts in attempts and needs one
// left of MaxAttempts), and the result reports it in result_checks.

// The checks' names, stable.
const (
	CheckEmptyResult = "empty_result"
	CheckNullColumn  = "null_column"
	CheckFanOut      = "fan_out"
)

// What became of a check's repair round.
const (
	// CheckRevised: the model wrote another query, which ran and passed
	// the checks; its result is the answer.
	CheckRevised = "revised"
	// CheckConfirmed: the model answered with the same query.
	CheckConfirmed = "confirmed"
	// CheckKept: the model's new query did not run or did not pass the
	// checks (or the model call failed): the first result stands.
	CheckKept = "kept"
	// CheckNoAttemptsLeft: the question had used every model call it may
	// make, so there was no repair round.
	CheckNoAttemptsLeft = "no_attempts_left"
)

// A fan-out is a result with at least fanOutRows rows, from a plan with
// a join, and more rows than the biggest table read or more than
// fanOutFactor times the planner's estimate.
const (
	fanOutRows   = 50
	fanOutFactor = 10
)

// ResultCheck is a check that found something, and what came of it.
type ResultCheck struct {
	Check   string `json:"check" jsonschema:"empty_result, null_column or fan_out"`
	Message string `json:"message" jsonschema:"what was seen, as the model was told"`
	Outcome string `json:"outcome" jsonschema:"revised (the model's new query is the answer), confirmed (the model kept its query), kept (the new query did not run or pass the checks: the first result stands) or no_attempts_left"`
	// ReplacedSQL is the first query, when the revision replaced it.
	ReplacedSQL string `json:"replaced_sql,omitempty" jsonschema:"the first query, when a revision replaced it"`
}

// recheck runs the result checks on g's result res and, when one finds
// something, the repair round. It returns the answer's result (res or
// the revision's) and the check, nil when nothing was found.
func (e *Engine) recheck(ctx context.Context, a *Access, g *generation, res *pgexec.Result, maxRows int) (*pgexec.Result, *ResultCheck) {
	chk := e.observe(ctx, a, g.query, res)
	if chk == nil {
		return res, nil
	}
	e.cfg.Logger.InfoContext(ctx, "result check found something", "check", chk.Check, "attempt", g.Attempts)
	if g.rounds >= max(e.cfg.MaxAttempts, 1) {
		chk.Outcome = CheckNoAttemptsLeft
		return res, chk
	}
	chk.Outcome = CheckKept
	conv, err := prompts.Repair(g.conv, g.answer, g.SQL, prompts.Failure{Observation: &prompts.Observation{Message: chk.Message}})
	if err != nil {
		return res, chk
	}
	g.rounds++
	g.Attempts++
	resp, err := e.complete(ctx, conv, 2048, 0)
	if err != nil {
		e.cfg.Logger.InfoContext(ctx, "result check's repair call failed; the first result stands", "code", Describe(err).Code)
		return res, chk
	}
	sql, err := llm.ExtractSQL(resp.Content)
	if err != nil {
		return res, chk
	}
	q, err := e.check(ctx, sql, a.policy)
	if err != nil {
		return res, chk
	}
	if q.SQL() == g.query.SQL() {
		chk.Outcome = CheckConfirmed
		return res, chk
	}
	res2, err := e.execute(ctx, a, q, maxRows)
	if err != nil || e.observe(ctx, a, q, res2) != nil {
		return res, chk
	}
	chk.Outcome, chk.ReplacedSQL = CheckRevised, g.query.SQL()
	g.conv, g.answer, g.SQL, g.query = conv, resp.Content, sql, q
	return res2, chk
}

// observe runs the checks on a result of q, in order: empty, a NULL
// column, fan-out (which plans the query, only for results of at least
// fanOutRows rows). It returns the first finding, or nil.
func (e *Engine) observe(ctx context.Context, a *Access, q *sqlguard.Query, res *pgexec.Result) *ResultCheck {
	n := len(res.Rows)
	if n == 0 && !res.Truncated {
		return &ResultCheck{Check: CheckEmptyResult, Message: "it returned no rows. Check each filter's value against the values stored " +
			"(spelling, case, format), the join keys, and whether a condition is stricter than the question."}
	}
	// A query that asks for NULLs gets them: no NULL-column check.
	if !strings.Contains(q.SQL(), "IS NULL") {
		for j, col := range res.Columns {
			if allNull(res.Rows, j) {
				return &ResultCheck{Check: CheckNullColumn, Message: fmt.Sprintf("column %s is NULL in every row (%d). "+
					"Check for an outer join that matches nothing, a wrong column, or an aggregate over no rows.", quoteName(col.Name), n)}
			}
		}
	}
	if n < fanOutRows {
		return nil
	}
	plan, err := e.plan(ctx, a, q)
	if err != nil || !hasJoin(plan.Root) {
		return nil
	}
	est := max(plan.Root.PlanRows, 1)
	biggest := 0.0
	for _, r := range plan.TableRows {
		biggest = max(biggest, r)
	}
	// More rows than the biggest table read holds is a join that
	// multiplied rows, when every row comes from a table (a function or
	// VALUES can add rows by design) and the tables have been analyzed.
	multiplied := biggest > 0 && onlyTables(plan.Root) && float64(n) > biggest
	if !multiplied && float64(n) <= fanOutFactor*est {
		return nil
	}
	count := fmt.Sprint(n)
	if res.Truncated {
		count = "more than " + count
	}
	seen := fmt.Sprintf("the planner expected about %.0f", est)
	if multiplied {
		seen = fmt.Sprintf("the largest table it reads has about %.0f", biggest)
	}
	return &ResultCheck{Check: CheckFanOut, Message: fmt.Sprintf("it returned %s rows where %s. "+
		"A join may be multiplying rows (a missing or partial join condition, or a one-to-many join where the question wants one row per item): "+
		"check the joins, and whether DISTINCT or an aggregate is meant.", count, seen)}
}

func allNull(rows [][]any, j int) bool {
	for _, r := range rows {
		if j < len(r) && r[j] != nil {
			return false
		}
	}
	return len(rows) > 0
}

// hasJoin says whether a plan joins anything.
func hasJoin(n pgexec.PlanNode) bool {
	switch n.NodeType {
	case "Nested Loop", "Hash Join", "Merge Join":
		return true
	}
	for _, c := range n.Plans {
		if hasJoin(c) {
			return true
		}
	}
	return false
}

// onlyTables says whether every leaf of a plan reads a table (no
// function, VALUES, CTE or subquery scan of its own making rows).
func onlyTables(n pgexec.PlanNode) bool {
	if len(n.Plans) == 0 {
		return n.RelationName != "" || n.IndexName != "" // a Bitmap Index Scan names only its index
	}
	for _, c := range n.Plans {
		if !onlyTables(c) {
			return false
		}
	}
	return true
}

// quoteName quotes a column name for a message to the model.
func quoteName(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
