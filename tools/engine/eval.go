package engine

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// EvalCase is one question of an eval file (one JSON object per line).
type EvalCase struct {
	ID         string `json:"id,omitempty"`
	Question   string `json:"question"`
	Database   string `json:"database,omitempty"`
	Difficulty string `json:"difficulty,omitempty"`
	// GoldSQL is the reference query; it is run read-only, through the
	// guard, like any SQL.
	GoldSQL string `json:"gold_sql,omitempty"`
	// GoldRows are the reference rows, when there is no gold SQL (row
	// order then never counts).
	GoldRows [][]any `json:"gold_rows,omitempty"`
}

// EvalOutcome is how the pipeline did on one case.
type EvalOutcome struct {
	ID         string  `json:"id"`
	Database   string  `json:"database"`
	Question   string  `json:"question"`
	Difficulty string  `json:"difficulty,omitempty"`
	SQL        string  `json:"sql"`
	Correct    bool    `json:"correct"`
	SoftF1     float64 `json:"soft_f1"`
	Attempts   int     `json:"attempts"`
	ElapsedMS  float64 `json:"elapsed_ms" jsonschema:"the whole question: model calls, repairs and queries"`
	// PromptTokens and CompletionTokens are the model's, as it reported
	// them, over every call of the question.
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	// Error is the code of the prediction's failure (it then scores 0).
	Error string `json:"error,omitempty"`
	// GoldError is set when the gold SQL could not be run (or was cut by
	// the row cap): the case is not scorable and counts in no share.
	GoldError string `json:"gold_error,omitempty"`
}

// Evaluate runs one case through the real pipeline (Query, as the caller in
// ctx, with the engine's model, guard and limits), runs the gold SQL the
// same way, and scores the prediction: execution accuracy (ExecutionMatch;
// order counts only when the gold SQL has a top-level ORDER BY) and
// soft-F1.
func (e *Engine) Evaluate(ctx context.Context, c EvalCase) EvalOutcome {
	out := EvalOutcome{ID: c.ID, Database: c.Database, Question: c.Question, Difficulty: c.Difficulty}
	if out.Database == "" {
		out.Database = e.all()[0].Name
	}
	gold, ordered, gerr := e.gold(ctx, c)
	if gerr != "" {
		out.GoldError = gerr
	}
	start := time.Now()
	var use Usage
	res, err := e.Query(WithUsage(ctx, &use), QueryArgs{Question: c.Question, Database: c.Database, MaxRows: e.cfg.MaxRows})
	out.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
	_, out.PromptTokens, out.CompletionTokens = use.Totals()
	if err != nil {
		info := Describe(err)
		out.Error, out.SQL = info.Code, info.SQL
		return out
	}
	out.SQL, out.Attempts = res.SQL, res.Attempts
	if out.GoldError != "" {
		return out
	}
	pred := ResultSetFrom(&pgexec.Result{Columns: res.Columns, Rows: res.Rows})
	out.Correct = ExecutionMatch(gold, pred, ordered)
	out.SoftF1 = SoftF1(gold, pred)
	return out
}

// gold is the case's reference result and whether its order counts, or
// why there is none.
func (e *Engine) gold(ctx context.Context, c EvalCase) (ResultSet, bool, string) {
	if strings.TrimSpace(c.GoldSQL) == "" {
		if c.GoldRows == nil {
			return ResultSet{}, false, "no gold_sql nor gold_rows"
		}
		return ResultSet{Rows: c.GoldRows}, false, ""
	}
	res, err := e.Query(ctx, QueryArgs{SQL: c.GoldSQL, Database: c.Database, MaxRows: e.cfg.MaxRows})
	if err != nil {
		return ResultSet{}, false, Describe(err).Code
	}
	if res.Truncated {
		return ResultSet{}, false, "gold_truncated"
	}
	// The query passed the guard as this caller a moment ago: its shape
	// says whether it orders.
	ordered := false
	if a, err := e.Access(ctx, c.Database); err == nil {
		if q, err := sqlguard.Check(res.SQL, a.policy); err == nil {
			ordered = len(q.Shape().OrderBy) > 0
		}
	}
	return ResultSetFrom(&pgexec.Result{Columns: res.Columns, Rows: res.Rows}), ordered, ""
}

// Usage counts the model calls and tokens of the calls made with a context
// WithUsage gave; safe for concurrent use.
type Usage struct {
	mu                                    sync.Mutex
	calls, promptTokens, completionTokens int
}

// Totals returns the model calls and the prompt and completion tokens.
func (u *Usage) Totals() (calls, prompt, completion int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls, u.promptTokens, u.completionTokens
}

func (u *Usage) add(resp *llm.Response) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	if resp != nil {
		u.promptTokens += resp.Usage.PromptTokens
		u.completionTokens += resp.Usage.CompletionTokens
	}
}

type usageKey struct{}

// WithUsage returns ctx counting the model use of the calls made with it
// into u.
func WithUsage(ctx context.Context, u *Usage) context.Context {
	return context.WithValue(ctx, usageKey{}, u)
}

// noteUsage counts a model call in ctx's Usage, if any.
func noteUsage(ctx context.Context, resp *llm.Response) {
	if u, ok := ctx.Value(usageKey{}).(*Usage); ok {
		u.add(resp)
	}
}

// WaitValues waits until every database's schema and value index are
// loaded (or ctx is done), so that what follows (an eval run) sees the
// value hints from its first question on.
func (e *Engine) WaitValues(ctx context.Context) {
	for _, db := range e.Databases() {
		if prep, err := db.Schema.Get(ctx); err == nil {
			prep.WaitValues(ctx)
		}
	}
}
