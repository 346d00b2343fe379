package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// allPrompts is the explicit list of MCP prompts.
func (h *handlers) allPrompts() []server.ServerPrompt {
	return []server.ServerPrompt{h.reviewSQLPrompt()}
}

func (h *handlers) reviewSQLPrompt() server.ServerPrompt {
	p := mcp.NewPrompt("review_sql",
		mcp.WithPromptTitle("Review SQL before running it"),
		mcp.WithPromptDescription("Review a query with pgmcp before it runs: explain it (verdict, cost, warnings, summary), fix what is wrong, and only then run it with query."),
		mcp.WithArgument("sql", mcp.ArgumentDescription("The SQL to review (or give a question instead).")),
		mcp.WithArgument("question", mcp.ArgumentDescription("A question in plain English, when there is no SQL yet.")),
		mcp.WithArgument("database", mcp.ArgumentDescription("Database to review against (default: the first configured). Configured: "+h.databaseNames())),
	)
	return server.ServerPrompt{Prompt: p, Handler: h.reviewSQL}
}

func (h *handlers) reviewSQL(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	args := req.Params.Arguments
	sql, question, database := strings.TrimSpace(args["sql"]), strings.TrimSpace(args["question"]), strings.TrimSpace(args["database"])
	if (sql == "") == (question == "") {
		return nil, fmt.Errorf("give exactly one of the arguments sql and question")
	}
	if _, err := h.database(database); err != nil {
		return nil, fmt.Errorf("unknown database %q; configured: %s", database, h.databaseNames())
	}
	target := "database " + h.deps.Databases[0].Name
	dbArg := ""
	if database != "" {
		target, dbArg = "database "+database, fmt.Sprintf(", database=%q", database)
	}
	var subject, call string
	if sql != "" {
		subject = "this SQL query:\n\n```sql\n" + sql + "\n```"
		call = fmt.Sprintf("explain with sql set to the query above%s", dbArg)
	} else {
		subject = "the query that answers this question: " + question
		call = fmt.Sprintf("explain with question=%q%s", question, dbArg)
	}
	text := fmt.Sprintf(`Please review %s

Work on %s with the pgmcp tools, in this order:
1. Call %s. Do not run the query yet.
2. Report the verdict. If the validator refused the query, explain the reason code in plain words, write an allowed rewrite, and explain it again.
3. Report the estimated cost and rows, and every warning in plain words (sequential scans of large tables, cartesian products, big nested loops, results over the row cap, sorts or hashes that will spill, cost over the ceiling), with a concrete improvement for each. Say what the query does, using the summary.
4. Only when the verdict is allowed and no warning is serious, ask me whether to run it. If I agree, call query with the same SQL%s and show the result.`,
		subject, target, call, dbArg)
	return mcp.NewGetPromptResult("Review a query with explain before running it with query",
		[]mcp.PromptMessage{mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text))}), nil
}
