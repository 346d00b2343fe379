package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/prompts"
	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// CodeAttemptsExceeded means the model did not write an acceptable query within
// the attempts a question may take. Never rename it. (A question with no
// model configured fails with llm's llm_not_configured.)
const CodeAttemptsExceeded Code = "attempts_exhausted"

// CodeNoSQLFound means the model's answer held no SQL in the format asked
// for. It is told to the model in the repair prompt, never to a client
// (whose call goes on to the next attempt, or ends with
// attempts_exhausted). Never rename it.
const CodeNoSQLFound Code = "no_sql_found"

// generation is the outcome of the model loop.
type generation struct {
	// SQL is the last SQL the model wrote ("" if it never wrote any).
	SQL string
	// Attempts is the number of model calls.
	Attempts int
	// Rejection is the guard's verdict on SQL when the attempts ran out on
	// a rejection (nil when the loop succeeded).
	Rejection *sqlguard.Error
	// last is the last failure, for the exhausted error.
	last error

	// conv is the conversation the last answer replied to, answer that
	// answer, and fail what was wrong with it (nil when step took its
	// SQL, query); rounds counts the rounds of model calls (a round of
	// candidates is one).
	conv   []prompts.Message
	answer string
	fail   *prompts.Failure
	query  *sqlguard.Query
	rounds int
}

// exhausted is the error of a loop that ran out of attempts.
func (g *generation) exhausted() error {
	return &Error{Code: CodeAttemptsExceeded,
		Message: fmt.Sprintf("the model did not produce a valid query in %d attempts; last problem: %s", g.Attempts, Describe(g.last).Message),
		Hint:    "rephrase the question, name the tables or columns to use, or send SQL directly with the sql argument",
		Err:     g.last, SQL: g.SQL}
}

// generate turns a question into SQL with the model. Each SQL the guard
// accepts is handed to step; a guard rejection, SQL that PostgreSQL
// refuses (step returns a query_failed error with a SQLSTATE) or a plan
// over the cost ceiling goes back to the model with the repair prompt, up
// to MaxAttempts model calls. Other errors of step end the loop.
//
// The whole loop runs within one budget of the LLM timeout (see
// questionBudget): a question past it ends with llm_timeout. A model
// answer over the size bound ends the loop with llm_answer_too_large: the
// client never hands it over, so it cannot reach a repair prompt, and the
// repair prompt quotes at most an excerpt of any answer and SQL.
//
// The result is nil only with an error. When the attempts run out, the
// result carries the last SQL and, if the guard refused it, the
// rejection; the error is then nil for a rejection (the caller decides)
// and attempts_exhausted otherwise.
func (e *Engine) generate(ctx context.Context, a *Access, question string, maxRows int, step func(*sqlguard.Query) error) (*generation, error) {
	if err := e.needModel(); err != nil {
		return nil, err
	}
	ctx, cancel := e.questionBudget(ctx)
	defer cancel()
	g, err := e.generateLoop(ctx, a, question, maxRows, step)
	if err != nil && llm.BudgetSpent(ctx) {
		return g, overBudget(ctx, g, err)
	}
	return g, err
}

// needModel fails a question when no model is configured.
func (e *Engine) needModel() error {
	if e.cfg.LLM == nil {
		return &Error{Code: Code(llm.CodeNotConfigured), Message: "no model is configured, so questions in plain English cannot be answered",
			Hint: "send your own SQL in the sql argument, or configure an OpenAI-compatible endpoint with PGMCP_LLM_BASE_URL, PGMCP_LLM_API_KEY and PGMCP_LLM_MODEL (e.g. OpenAI, or Ollama at http://localhost:11434/v1)"}
	}
	return nil
}

// questionBudget bounds a question by one LLM timeout (PGMCP_LLM_TIMEOUT)
// from now: every model call and repair, and whatever the caller runs with
// the returned context (the queries between the attempts). A context that
// already carries the budget is returned as is, so a caller that starts
// it before generate (to run its step under it) shares it.
func (e *Engine) questionBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.cfg.LLM == nil {
		return ctx, func() {}
	}
	return e.cfg.LLM.WithBudget(ctx)
}

// overBudget is the error of a question whose budget ran out, whatever
// was running then (a model call, the guard, a query).
func overBudget(ctx context.Context, g *generation, err error) error {
	var sql string
	calls := 0
	if g != nil {
		sql, calls = g.SQL, g.Attempts
	}
	return &Error{Code: Code(llm.CodeTimeout),
		Message: fmt.Sprintf("the question took longer than the %s it may take (the model's attempts and repairs and the queries run between them); it was stopped after %d model call(s)",
			llm.Budget(ctx), calls),
		Hint: "try again, ask a narrower question or send SQL directly with the sql argument; PGMCP_LLM_TIMEOUT sets the budget",
		Err:  err, SQL: sql}
}

// generateLoop is generate's loop of attempts and repairs.
func (e *Engine) generateLoop(ctx context.Context, a *Access, question string, maxRows int, step func(*sqlguard.Query) error) (*generation, error) {
	msgs, err := e.prompt(ctx, a, question, maxRows)
	if err != nil {
		return nil, err
	}
	g := &generation{conv: msgs}
	return g, e.repairLoop(ctx, a, g, step)
}

// repairLoop asks the model for SQL on g's conversation and repairs it
// until step accepts one or the rounds (MaxAttempts) run out. A g that
// comes from the candidates' round continues with its failure.
func (e *Engine) repairLoop(ctx context.Context, a *Access, g *generation, step func(*sqlguard.Query) error) error {
	rounds := max(e.cfg.MaxAttempts, 1)
	for g.rounds < rounds {
		if g.fail != nil {
			msgs, err := prompts.Repair(g.conv, g.answer, g.SQL, *g.fail)
			if err != nil {
				return err
			}
			g.conv, g.fail = msgs, nil
		}
		g.rounds++
		g.Attempts++
		resp, err := e.complete(ctx, g.conv, 2048, 0)
		if err != nil {
			return err
		}
		if err := e.judge(ctx, a, g, resp.Content, step); err != nil {
			return err
		}
		if g.fail == nil {
			return nil
		}
	}
	if g.Rejection != nil {
		return nil
	}
	return g.exhausted()
}

// judge takes one model answer: it extracts the SQL, checks it and hands
// it to step. It leaves g.fail nil when step accepted the SQL, or sets it
// to what the repair prompt tells the model; an error ends the question.
func (e *Engine) judge(ctx context.Context, a *Access, g *generation, answer string, step func(*sqlguard.Query) error) error {
	g.answer, g.Rejection, g.fail = answer, nil, nil
	sql, err := llm.ExtractSQL(answer)
	if err != nil {
		var le *llm.Error
		if errors.As(err, &le) && le.Code == llm.CodeRefused {
			return err
		}
		g.last = err
		g.fail = &prompts.Failure{Rejection: &prompts.Rejection{Code: string(CodeNoSQLFound),
			Message: "your answer did not contain a SQL query in the JSON format asked for"}}
		return nil
	}
	g.SQL = sql
	q, gerr := e.check(ctx, sql, a.policy)
	var ge *sqlguard.Error
	switch {
	case gerr != nil && errors.As(gerr, &ge):
		e.cfg.Logger.InfoContext(ctx, "model SQL rejected", "attempt", g.Attempts, "code", ge.Code)
		g.last, g.Rejection = gerr, ge
		g.fail = &prompts.Failure{Rejection: &prompts.Rejection{Code: string(ge.Code), Message: ge.Message}}
		return nil
	case gerr != nil:
		return gerr
	}
	serr := step(q)
	if serr == nil {
		g.query = q
		return nil
	}
	if llm.BudgetSpent(ctx) {
		// A query cut off by the deadline is not the model's to fix.
		return serr
	}
	f, ok := repairable(serr)
	if !ok {
		// Timeouts, cancellations and outages are not the model's to fix.
		return serr
	}
	e.cfg.Logger.InfoContext(ctx, "model SQL failed", "attempt", g.Attempts, "code", Describe(serr).Code)
	g.last, g.fail = serr, &f
	return nil
}

// prompt is what the model is first sent for a question: the schema
// selected for it within the caller's token budget, the examples and the
// question.
func (e *Engine) prompt(ctx context.Context, a *Access, question string, maxRows int) ([]prompts.Message, error) {
	db := a.db
	prep, err := a.schema.Get(ctx)
	if err != nil {
		return nil, err
	}
	// The value hints come out of the schema's token budget.
	hints := valueHints(a, prep, question)
	budget := max(a.schema.Options().TokenBudget-schema.EstimateTokens(hints), 0)
	sel := prep.Select(question, budget)
	e.cfg.Logger.DebugContext(ctx, "schema selected for the question", "database", db.Name, "tables", len(sel.Tables),
		"of", sel.Total, "tokens", sel.Tokens, "why", sel.Explain())
	return prompts.Build(prompts.Request{
		Database: db.Name, ServerVersion: db.ServerVersion, Schema: sel.Render().Text,
		Now: e.now(), TimeZone: db.TimeZone, MaxRows: maxRows, Examples: db.examples.SelectBy(question, e.cfg.Examples, e.cfg.ExampleMethod), Question: question,
		ValueHints: hints,
	})
}

// maxValueHints bounds the value hints of one prompt.
const maxValueHints = 10

// valueHints are the stored values matching the question, from the
// schema's value index. A caller with a database role of its own gets
// none: the index was read as pgmcp's login role, so under row-level
// security it holds values of rows the caller cannot see.
func valueHints(a *Access, prep *schema.Prepared, question string) string {
	if a.role != "" {
		return ""
	}
	vi := prep.Values()
	if vi == nil {
		return ""
	}
	return strings.TrimRight(vi.Hints(vi.Match(question, maxValueHints)), "\n")
}

// complete calls the model and records the call's metrics.
func (e *Engine) complete(ctx context.Context, msgs []prompts.Message, maxTokens int, temperature float64) (*llm.Response, error) {
	start := time.Now()
	resp, err := e.cfg.LLM.Complete(ctx, llm.Request{Messages: toLLM(msgs), MaxTokens: maxTokens, Temperature: temperature})
	e.metrics.observeModel(resp, err, time.Since(start))
	noteUsage(ctx, resp)
	return resp, err
}

// repairable says whether a step's error is the model's to fix, and how to
// tell it: PostgreSQL refused the SQL (with its SQLSTATE and sanitized
// message), or its plan is over the cost ceiling.
func repairable(err error) (prompts.Failure, bool) {
	var pe *pgexec.Error
	if errors.As(err, &pe) && pe.Code == pgexec.CodeQueryFailed && pe.PG != nil {
		return prompts.Failure{PGError: &prompts.PGError{SQLState: pe.PG.SQLState, Message: pe.PG.Message, Hint: pe.PG.Hint}}, true
	}
	var te *Error
	if errors.As(err, &te) && te.Code == CodePlanTooExpensive {
		return prompts.Failure{Rejection: &prompts.Rejection{Code: string(te.Code), Message: te.Message}}, true
	}
	return prompts.Failure{}, false
}
