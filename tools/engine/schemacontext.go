package engine

import (
	"context"
)

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

// SchemaContext returns the schema context the model would get for a
// question on database, as the caller in ctx.
func (e *Engine) SchemaContext(ctx context.Context, database, question string) (*SchemaContext, error) {
	a, err := e.Access(ctx, database)
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
