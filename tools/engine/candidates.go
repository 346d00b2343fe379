package engine

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// Candidates with execution-based selection (PGMCP_LLM_CANDIDATES): the
// model is asked for several queries at once, the first at temperature 0
// and the others sampled; each goes through the guard and runs read-only
// under the probe limits; their results are grouped (two candidates agree
// when ExecutionMatch says their results are the same: column order
// ignored, row order only when both order, numbers within the scoring
// tolerance) and the largest group wins. Groups of the same size are
// decided by the cheaper plan (the planner's estimated total cost), then
// by the earlier candidate. When no candidate runs, the first one that
// failed in a way the model can fix goes on through the repair loop.

// Probe limits: each candidate runs with at most probeRows rows and half
// the statement timeout (at least probeMinTimeout, never more than the
// timeout itself); the winner is run again under the call's own limits
// only when the probe's row cap cut its result.
const (
	probeRows       = 500
	probeMinTimeout = time.Second
)

// CandidateReport is how a question answered by candidates was decided.
type CandidateReport struct {
	Generated int `json:"generated" jsonschema:"candidate queries the model was asked for"`
	Ran       int `json:"ran" jsonschema:"candidates that passed the guard and ran"`
	Agreement int `json:"agreement" jsonschema:"candidates whose result is the chosen result (the size of the largest group)"`
	Chosen    int `json:"chosen" jsonschema:"index in candidates of the candidate whose SQL was chosen"`
	// TieBreak is set when groups of the same size were decided by
	// their plans' costs.
	TieBreak bool `json:"tie_break,omitempty" jsonschema:"true when groups of the same size were decided by the cheaper plan"`
	// Repaired is set when no candidate ran and the chosen one was
	// repaired (the SQL of the result is then the repair's).
	Repaired   bool        `json:"repaired,omitempty" jsonschema:"true when no candidate ran and the chosen one was repaired"`
	Candidates []Candidate `json:"candidates" jsonschema:"each candidate, in the order asked for"`
}

// Candidate is one candidate query.
type Candidate struct {
	SQL string `json:"sql,omitempty" jsonschema:"the SQL the model wrote (absent when it wrote none)"`
	// Outcome is ran, rejected (by the guard), failed (PostgreSQL refused
	// it, or it broke a limit), no_sql (the answer held none) or error
	// (the model call failed).
	Outcome string `json:"outcome" jsonschema:"ran, rejected, failed, no_sql or error"`
	Code    string `json:"code,omitempty" jsonschema:"why it did not run, as a stable code"`
	// Group numbers the groups of candidates with the same result: 1 is
	// the chosen one, then by size. Absent for a candidate that did not
	// run.
	Group    int      `json:"group,omitempty" jsonschema:"the group of candidates with the same result: 1 is the chosen one; absent when it did not run"`
	RowCount int      `json:"row_count" jsonschema:"rows its probe returned"`
	Cost     *float64 `json:"cost,omitempty" jsonschema:"the planner's estimated total cost, when it decided a tie"`
}

// candidate is one candidate's state while the round runs.
type candidate struct {
	g       *generation
	res     *pgexec.Result
	err     error
	ordered bool
	rs      ResultSet
}

// ran says whether the candidate's SQL passed the guard and ran.
func (c *candidate) ran() bool { return c.err == nil && c.g.fail == nil && c.res != nil }

// vote answers a question with candidates: it returns the chosen
// generation and its result under the call's limits.
func (e *Engine) vote(ctx context.Context, a *Access, question string, maxRows int) (*generation, *pgexec.Result, *CandidateReport, error) {
	if err := e.needModel(); err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := e.questionBudget(ctx)
	defer cancel()
	g, res, rep, err := e.voteRound(ctx, a, question, maxRows)
	if err != nil && llm.BudgetSpent(ctx) {
		return g, nil, rep, overBudget(ctx, g, err)
	}
	return g, res, rep, err
}

func (e *Engine) voteRound(ctx context.Context, a *Access, question string, maxRows int) (*generation, *pgexec.Result, *CandidateReport, error) {
	msgs, err := e.prompt(ctx, a, question, maxRows)
	if err != nil {
		return nil, nil, nil, err
	}
	n := e.cfg.Candidates
	probe := e.probeLimits(a, maxRows)
	cands := make([]*candidate, n)
	var wg sync.WaitGroup
	for i := range cands {
		c := &candidate{g: &generation{conv: msgs, rounds: 1, Attempts: 1}}
		cands[i] = c
		temp := 0.0
		if i > 0 {
			temp = e.cfg.CandidateTemperature
		}
		wg.Go(func() {
			resp, err := e.complete(ctx, msgs, 2048, temp)
			if err != nil {
				c.err = err
				return
			}
			c.err = e.judge(ctx, a, c.g, resp.Content, func(q *sqlguard.Query) error {
				r, err := e.executeWith(ctx, a, q, probe)
				c.res = r
				return err
			})
		})
	}
	wg.Wait()

	rep := &CandidateReport{Generated: n, Candidates: make([]Candidate, n)}
	var ran []int
	for i, c := range cands {
		rep.Candidates[i] = c.report()
		if c.ran() {
			ran = append(ran, i)
			c.ordered = len(c.g.query.Shape().OrderBy) > 0
			c.rs = ResultSetFrom(c.res)
		}
	}
	rep.Ran = len(ran)
	if len(ran) == 0 {
		return e.noneRan(ctx, a, cands, rep, maxRows)
	}

	groups := groupCandidates(cands, ran)
	best, tie := e.decide(ctx, a, cands, groups, rep)
	rep.TieBreak = tie
	// Number the groups: the chosen one first, then by size, then by
	// their first candidate.
	first := groups[best][0]
	slices.SortStableFunc(groups, func(x, y []int) int {
		switch {
		case x[0] == first:
			return -1
		case y[0] == first:
			return 1
		}
		return cmp.Compare(len(y), len(x))
	})
	for k, grp := range groups {
		for _, i := range grp {
			rep.Candidates[i].Group = k + 1
		}
	}
	chosen := groups[0][0]
	rep.Chosen, rep.Agreement = chosen, len(groups[0])
	w := cands[chosen]
	w.g.Attempts = n
	res := w.res
	if res.Truncated && res.TruncatedBy == "max_rows" && probe.MaxRows < maxRows {
		if res, err = e.execute(ctx, a, w.g.query, maxRows); err != nil {
			return w.g, nil, rep, err
		}
	}
	return w.g, res, rep, nil
}

// noneRan goes on when no candidate ran: the first candidate the model
// can repair continues through the repair loop under the call's limits;
// with none, the first candidate's error ends the question.
func (e *Engine) noneRan(ctx context.Context, a *Access, cands []*candidate, rep *CandidateReport, maxRows int) (*generation, *pgexec.Result, *CandidateReport, error) {
	for i, c := range cands {
		if c.err != nil || c.g.fail == nil {
			continue
		}
		rep.Chosen, rep.Repaired = i, true
		g := c.g
		g.Attempts = len(cands)
		var res *pgexec.Result
		err := e.repairLoop(ctx, a, g, func(q *sqlguard.Query) error {
			r, err := e.execute(ctx, a, q, maxRows)
			res = r
			return err
		})
		return g, res, rep, err
	}
	g := cands[0].g
	g.Attempts = len(cands)
	err := cands[0].err
	for _, c := range cands {
		if c.err != nil && !errors.Is(c.err, context.Canceled) {
			err = c.err
			break
		}
	}
	return g, nil, rep, err
}

// groupCandidates groups the candidates that ran by their results, each
// group in candidate order, the groups by their first candidate.
func groupCandidates(cands []*candidate, ran []int) [][]int {
	var groups [][]int
next:
	for _, i := range ran {
		c := cands[i]
		for k, grp := range groups {
			r := cands[grp[0]]
			if r.res.Truncated == c.res.Truncated && ExecutionMatch(r.rs, c.rs, r.ordered && c.ordered) {
				groups[k] = append(grp, i)
				continue next
			}
		}
		groups = append(groups, []int{i})
	}
	return groups
}

// decide returns the index of the winning group: the largest; among
// groups of the same size, the one whose first candidate has the cheaper
// plan (a plan that cannot be had counts as the dearest), then the
// earliest. tie says whether plans were compared.
func (e *Engine) decide(ctx context.Context, a *Access, cands []*candidate, groups [][]int, rep *CandidateReport) (best int, tie bool) {
	size := 0
	for _, grp := range groups {
		size = max(size, len(grp))
	}
	var tied []int
	for k, grp := range groups {
		if len(grp) == size {
			tied = append(tied, k)
		}
	}
	if len(tied) == 1 {
		return tied[0], false
	}
	best, bestCost := tied[0], math.Inf(1)
	for _, k := range tied {
		i := groups[k][0]
		cost := math.Inf(1)
		if plan, err := e.plan(ctx, a, cands[i].g.query); err == nil {
			cost = plan.AsRun.TotalCost
			rep.Candidates[i].Cost = &cost
		}
		if cost < bestCost {
			best, bestCost = k, cost
		}
	}
	return best, true
}

// probeLimits are the limits a candidate runs under.
func (e *Engine) probeLimits(a *Access, maxRows int) pgexec.Limits {
	lim := e.limits(a, min(maxRows, probeRows))
	if t := lim.StatementTimeout; t > 0 {
		lim.StatementTimeout = min(t, max(t/2, probeMinTimeout))
	}
	return lim
}

// report is the candidate as the result shows it.
func (c *candidate) report() Candidate {
	out := Candidate{SQL: c.g.SQL}
	switch {
	case c.err != nil:
		out.Outcome, out.Code = "error", Describe(c.err).Code
	case c.g.fail == nil && c.res != nil:
		out.Outcome, out.RowCount = "ran", len(c.res.Rows)
	case c.g.fail == nil:
		out.Outcome = "error"
	case c.g.Rejection != nil:
		out.Outcome, out.Code = "rejected", string(c.g.Rejection.Code)
	case c.g.SQL == "":
		out.Outcome, out.Code = "no_sql", string(CodeNoSQLFound)
	default:
		out.Outcome, out.Code = "failed", Describe(c.g.last).Code
	}
	return out
}
