package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/pgmcp/pgmcp/tools/engine"
)

// allPrompts is the explicit list of MCP prompts.
func (h *handlers) allPrompts() []server.ServerPrompt {
	if !h.eng.SQLTools() {
		return nil // both walk a client through query and explain, which are not served
	}
	return []server.ServerPrompt{h.reviewSQLPrompt(), h.exploreDatabasePrompt()}
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
	if _, err := h.eng.Database(database); err != nil {
		var ee *engine.Error
		if errors.As(err, &ee) && ee.Code == engine.CodeUnknownDatabase {
			return nil, fmt.Errorf("unknown database %q; configured: %s", database, h.databaseNames())
		}
		return nil, errors.New(engine.Describe(err).Message) // not reachable yet
	}
	target := "database " + h.eng.DatabaseNames()[0]
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

func (h *handlers) exploreDatabasePrompt() server.ServerPrompt {
	p := mcp.NewPrompt("explore_database",
		mcp.WithPromptTitle("Explore a database"),
		mcp.WithPromptDescription("Get to know a database with pgmcp: its schema, its central tables and a few sample rows, what the data holds, how the tables relate, data quality, and questions worth asking it."),
		mcp.WithArgument("database", mcp.ArgumentDescription("Database to explore (default: the first configured). Configured: "+h.databaseNames())),
		mcp.WithArgument("topic", mcp.ArgumentDescription("A subject area or question to focus on, e.g. \"subscriptions and churn\" (default: the whole database).")),
		mcp.WithArgument("table", mcp.ArgumentDescription("A table to start from (schema.table or table).")),
	)
	return server.ServerPrompt{Prompt: p, Handler: h.exploreDatabase}
}

func (h *handlers) exploreDatabase(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	args := req.Params.Arguments
	database, topic, table := strings.TrimSpace(args["database"]), strings.TrimSpace(args["topic"]), strings.TrimSpace(args["table"])
	a, err := h.promptAccess(ctx, database)
	if err != nil {
		return nil, err
	}
	if table != "" {
		prep, err := a.Schema().Get(ctx)
		if err != nil {
			body := engine.Describe(err)
			h.log.WarnContext(ctx, "prompt: schema unavailable", "prompt", "explore_database", "code", body.Code, "err", err)
			return nil, fmt.Errorf("%s: %s", body.Code, body.Message)
		}
		t, err := prep.Lookup(table)
		if err != nil {
			return nil, fmt.Errorf("table %q not found in database %s; call get_schema to see the tables", table, a.DB().Name)
		}
		table = t.QualifiedName()
	}
	dbArg := ""
	if database != "" {
		dbArg = fmt.Sprintf(", database=%q", database)
	}

	var intro strings.Builder
	fmt.Fprintf(&intro, "Please explore the database %s and tell me what it holds", a.DB().Name)
	if topic != "" {
		fmt.Fprintf(&intro, ", focusing on this topic: %s", topic)
	}
	if table != "" {
		fmt.Fprintf(&intro, ". Start from the table %s", table)
	}
	intro.WriteString(".")

	var schemaCall string
	switch {
	case table != "" && topic != "":
		schemaCall = fmt.Sprintf("get_schema with tables=[%q]%s to read %s in full, then get_schema with search=%q%s for the tables around it that matter to the topic", table, dbArg, table, topic, dbArg)
	case table != "":
		schemaCall = fmt.Sprintf("get_schema with tables=[%q]%s to read %s in full, then get_schema with the tables its foreign keys lead to (and those that refer to it)", table, dbArg, table)
	case topic != "":
		schemaCall = fmt.Sprintf("get_schema with search=%q%s: it picks the tables most relevant to the topic and their foreign-key neighbours", topic, dbArg)
	default:
		schemaCall = "get_schema" + strings.Replace(dbArg, ", ", " with ", 1) + " to see every table and view you may read"
	}
	central, about := "of the database", "the data"
	switch {
	case topic != "":
		central, about = "for the topic", "the topic"
	case table != "":
		central = "around " + table
	}

	text := fmt.Sprintf(`%s

Use the pgmcp tools, which are read-only, in this order:
1. Call %s. Note each table's comment, keys, foreign keys and row estimate. If the answer is a summary, call get_schema again with tables set to the ones you need in full.
2. Pick the central tables %s (at most six): the ones most referred to by foreign keys, the largest, and those that record the main events or entities. Say why you chose them.
3. Look at a few sample rows of each central table: call query with sql set to one SELECT of its main columns and a small LIMIT (5, never more than 20)%s. Do not select every column of a wide table.
4. Describe what the data holds: what one row of each central table means, the volumes (row estimates, or count(*) when it matters), the time span of dated tables, the meaning of status and type columns, and how the tables relate (the join paths through foreign keys).
5. Note data-quality observations: missing values where one is expected, odd or inconsistent values, duplicates, rows whose foreign keys lead nowhere. Check a suspicion with a small aggregate query rather than guessing, and say how you checked.
6. Propose five analytical questions about %s that query can answer on this database, each with the tables it needs in one line. Ask me which one to answer.

Some tables and columns are hidden by policy: work only with what get_schema shows, and do not try to reach anything else.`,
		intro.String(), schemaCall, central, dbArg, about)
	return mcp.NewGetPromptResult("Explore a database with get_schema and query",
		[]mcp.PromptMessage{mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text))}), nil
}

// promptAccess resolves a prompt's database argument for the caller. Its
// errors are safe to send: an unknown database names the databases the
// caller may use.
func (h *handlers) promptAccess(ctx context.Context, database string) (*engine.Access, error) {
	if _, err := h.eng.Database(database); err != nil {
		return nil, fmt.Errorf("unknown database %q; configured: %s", database, strings.Join(h.eng.CallerDatabases(ctx), ", "))
	}
	a, err := h.eng.Access(ctx, database)
	if err != nil {
		body := engine.Describe(err)
		msg := body.Message
		if body.Hint != "" {
			msg += "; " + body.Hint
		}
		return nil, fmt.Errorf("%s: %s", body.Code, msg)
	}
	return a, nil
}
