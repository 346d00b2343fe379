package tools

import (
	"context"
	"sort"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/tools/engine"
)

// maxCompletionValues is the most values a completion returns (the MCP
// limit).
const maxCompletionValues = 100

// completions answers completion/complete: the database argument of the
// prompts and of the table resource template, and table names for the
// table argument of explore_database and the name variable of
// pgmcp://{database}/table/{name}. An unknown prompt, template or argument
// gets no values, never an error; so does a database the caller may not
// use, or one whose schema cannot be read.
type completions struct{ h *handlers }

// CompletePromptArgument implements server.PromptCompletionProvider.
func (c completions) CompletePromptArgument(ctx context.Context, prompt string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	switch {
	case arg.Name == "database" && (prompt == "review_sql" || prompt == "explore_database"):
		return c.databases(ctx, arg.Value), nil
	case arg.Name == "table" && prompt == "explore_database":
		return c.tables(ctx, cc.Arguments["database"], arg.Value), nil
	}
	return &mcp.Completion{Values: []string{}}, nil
}

// CompleteResourceArgument implements server.ResourceCompletionProvider.
func (c completions) CompleteResourceArgument(ctx context.Context, uri string, arg mcp.CompleteArgument, cc mcp.CompleteContext) (*mcp.Completion, error) {
	if uri == tableResourceTemplate {
		switch arg.Name {
		case "database":
			return c.databases(ctx, arg.Value), nil
		case "name":
			return c.tables(ctx, cc.Arguments["database"], arg.Value), nil
		}
	}
	return &mcp.Completion{Values: []string{}}, nil
}

// databases completes a database name: the databases the caller may use,
// in configured order (the default first), by case-insensitive prefix.
func (c completions) databases(ctx context.Context, prefix string) *mcp.Completion {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	var out []string
	for _, name := range c.h.eng.CallerDatabases(ctx) {
		if strings.HasPrefix(strings.ToLower(name), prefix) {
			out = append(out, name)
		}
	}
	return capped(out)
}

// tables completes a table name in database (the default when empty) as
// schema.table: the tables and views the caller's schema shows (so never a
// blocked one), matched case-insensitively by prefix on schema.table or on
// the bare name. Exact matches come first, then bare-name prefixes, then
// schema.table prefixes; within each, the tables of the search path first,
// then by name.
func (c completions) tables(ctx context.Context, database, value string) *mcp.Completion {
	empty := &mcp.Completion{Values: []string{}}
	a, err := c.h.eng.Access(ctx, strings.TrimSpace(database))
	if err != nil {
		return empty
	}
	prep, err := a.Schema().Get(ctx)
	if err != nil {
		c.h.log.WarnContext(ctx, "completion: schema unavailable", "database", a.DB().Name, "code", engine.Describe(err).Code, "err", err)
		return empty
	}
	v := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(value), `"`, ""))
	path := a.Policy().SearchPath
	if len(path) == 0 {
		path = []string{"public"} // sqlguard's default
	}
	onPath := map[string]bool{}
	for _, s := range path {
		onPath[strings.ToLower(s)] = true
	}
	type match struct {
		name string
		rank int
		path bool
	}
	var ms []match
	for _, t := range prep.Snapshot().Tables {
		q, n := strings.ToLower(t.QualifiedName()), strings.ToLower(t.Name)
		rank := -1
		switch {
		case v != "" && (q == v || n == v):
			rank = 0
		case strings.HasPrefix(n, v):
			rank = 1
		case strings.HasPrefix(q, v):
			rank = 2
		}
		if rank >= 0 {
			ms = append(ms, match{t.QualifiedName(), rank, onPath[strings.ToLower(t.Schema)]})
		}
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].rank != ms[j].rank {
			return ms[i].rank < ms[j].rank
		}
		if ms[i].path != ms[j].path {
			return ms[i].path
		}
		return ms[i].name < ms[j].name
	})
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.name
	}
	return capped(out)
}

// capped is a completion of values, at most maxCompletionValues of them,
// with the total and whether there are more.
func capped(values []string) *mcp.Completion {
	if values == nil {
		values = []string{}
	}
	total := len(values)
	if total > maxCompletionValues {
		values = values[:maxCompletionValues]
	}
	return &mcp.Completion{Values: values, Total: total, HasMore: total > len(values)}
}
