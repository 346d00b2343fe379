package tools

import (
	"context"
)

// Runner runs the tools' pipelines without MCP, for the command line
// (pgmcp ask, pgmcp schema): the same checks, limits and model loop as the
// query and explain tools.
type Runner struct {
	h *handlers
}

// NewRunner builds a Runner over d, as NewServer would.
func NewRunner(d Deps) (*Runner, error) {
	h, err := newHandlers(d)
	if err != nil {
		return nil, err
	}
	return &Runner{h: h}, nil
}

// Query is the query tool.
func (r *Runner) Query(ctx context.Context, args QueryArgs) (*QueryResult, error) {
	return r.h.runQuery(ctx, args)
}

// Explain is the explain tool.
func (r *Runner) Explain(ctx context.Context, args ExplainArgs) (*ExplainResult, error) {
	return r.h.runExplain(ctx, args)
}

// SchemaContext is the schema the model is shown for a question on a
// database (the whole schema when question is empty or it fits the
// budget), and, for a selection, why each table was chosen.
type SchemaContext struct {
	Database string
	Text     string
	Tokens   int
	Budget   int // the token budget of a selection
	Tables   int // tables shown
	Total    int // tables the policy allows
	Why      string
}

// Schema returns the schema context the model would get.
func (r *Runner) Schema(ctx context.Context, database, question string) (*SchemaContext, error) {
	a, err := r.h.access(ctx, database)
	if err != nil {
		return nil, err
	}
	prep, err := a.schema.Get(ctx)
	if err != nil {
		return nil, err
	}
	out := &SchemaContext{Database: a.db.Name, Budget: a.schema.Options().TokenBudget}
	if question == "" {
		rd := prep.Render()
		out.Text, out.Tokens = rd.Text, rd.Tokens
		out.Tables, out.Total = len(prep.Snapshot().Tables), len(prep.Snapshot().Tables)
		return out, nil
	}
	sel := prep.Select(question, out.Budget)
	rd := sel.Render()
	out.Text, out.Tokens = rd.Text, rd.Tokens
	out.Tables, out.Total, out.Why = len(sel.Tables), sel.Total, sel.Explain()
	return out, nil
}

// ErrorInfo is a failure as a client sees it: the stable code, a message
// safe to show, a hint, the SQL it is about and PostgreSQL's SQLSTATE.
type ErrorInfo struct {
	Code, Message, Hint, SQL, SQLState string
}

// DescribeError classifies any error the way tool results do.
func DescribeError(err error) ErrorInfo {
	return ErrorInfo(classify(err))
}

// RenderExplainText is the explain tool's text output.
func RenderExplainText(r *ExplainResult) string { return renderExplainText(r) }
