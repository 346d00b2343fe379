package tools

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/pgmcp/pgmcp/tools/chart"
	"github.com/pgmcp/pgmcp/tools/engine"
)

// The tools: their definitions (what clients see) and handlers.

func (h *handlers) getSchemaTool() server.ServerTool {
	tool := mcp.NewTool("get_schema",
		mcp.WithDescription("Describe the tables, views and columns of a database that may be queried: types, keys, foreign keys, comments, enum and common values, row estimates. "+
			"Blocked tables and columns are never shown. On a large database, pass search (the question in plain words) to get the most relevant tables within a token budget, "+
			"or tables to name them; without arguments the whole schema is described when it fits the budget, else only listed (detail=summary)."),
		mcp.WithString("database", mcp.Description("Database to describe (default: the first configured). Configured: "+h.databaseNames())),
		mcp.WithArray("tables", mcp.Description("Only these tables: names (schema.table or table) or glob patterns such as order*"), mcp.WithStringItems()),
		mcp.WithString("search", mcp.Description("Free text, e.g. the user's question: the tables most relevant to it are chosen (and their foreign-key neighbours) within the token budget")),
		mcp.WithString("detail", mcp.Description("summary: tables only (name, kind, comment, row estimate, column count); full: columns, keys, indexes, comments and values. Default: full when it fits the token budget, else summary"),
			mcp.Enum(engine.DetailSummary, engine.DetailFull)),
		mcp.WithBoolean("refresh", mcp.Description("Re-read the schema from the database catalog first (after a schema change)")),
		portableOutputSchema[engine.SchemaResult](),
		readOnlyAnnotations("Describe database schema"),
	)
	return server.ServerTool{Tool: tool, Handler: h.getSchema}
}

func (h *handlers) getSchema(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var args engine.SchemaArgs
	if err := req.BindArguments(&args); err != nil {
		return h.fail(ctx, "get_schema", invalidArguments(err)), nil
	}
	out, raw, text, err := h.eng.SchemaJSON(ctx, args)
	if err != nil {
		return h.fail(ctx, "get_schema", err), nil
	}
	if args.Refresh {
		h.syncTableTools() // a changed schema changes the per-table tools
	}
	res := h.succeed(ctx, out, text)
	res.RawStructuredContent = raw // nil: encoded by mcp-go
	return res, nil
}

func (h *handlers) findValuesTool() server.ServerTool {
	tool := mcp.NewTool("find_values",
		mcp.WithDescription("Find where a value is stored: the tables and columns whose values match a name, place, code or other text "+
			"(e.g. \"Volkan Baga\", \"Lisbon\"), with each value exactly as stored, so that your SQL can compare with it. "+
			"Matching ignores case and accents and tolerates plurals and small typos. Blocked tables and columns are never searched."),
		mcp.WithString("text", mcp.Required(), mcp.Description("The text to look for, e.g. a name from the user's question.")),
		mcp.WithString("database", mcp.Description("Database to search (default: the first configured). Configured: "+h.databaseNames())),
		mcp.WithArray("tables", mcp.Description("Only these tables: names (schema.table or table) or glob patterns"), mcp.WithStringItems()),
		mcp.WithNumber("limit", mcp.Description("Most matches to return (default 10, at most 50)."), mcp.Min(1), mcp.Max(50)),
		portableOutputSchema[engine.FindValuesResult](),
		readOnlyAnnotations("Find stored values"),
	)
	return server.ServerTool{Tool: tool, Handler: h.findValues}
}

func (h *handlers) findValues(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var args engine.FindValuesArgs
	if err := req.BindArguments(&args); err != nil {
		return h.fail(ctx, "find_values", invalidArguments(err)), nil
	}
	out, err := h.eng.FindValues(ctx, args)
	if err != nil {
		return h.fail(ctx, "find_values", err), nil
	}
	return h.succeed(ctx, out, engine.RenderFindValuesText(out)), nil
}

// invalidArguments is the error of arguments that do not bind.
func invalidArguments(err error) error {
	return &engine.Error{Code: engine.CodeInvalidArgument, Message: "invalid arguments: " + err.Error()}
}
func (h *handlers) queryTool() server.ServerTool {
	tool := mcp.NewTool("query",
		mcp.WithDescription("Answer a question about the database with a read-only SQL query. Pass either a plain-English question "+
			"(pgmcp writes the SQL with its model, validates it and runs it) or your own SQL (one SELECT; it is validated, then run). "+
			"The SQL is checked by a strict validator and runs in a read-only transaction with a time limit and a row cap. "+
			"Call get_schema first to see what may be queried."),
		mcp.WithString("question", mcp.Description("A question in plain English, e.g. \"top 10 customers by revenue in 2025\". Give this or sql.")),
		mcp.WithString("sql", mcp.Description("One PostgreSQL SELECT statement to run instead of a question. Give this or question.")),
		mcp.WithString("database", mcp.Description("Database to query (default: the first configured). Configured: "+h.databaseNames())),
		mcp.WithNumber("max_rows", mcp.Description(fmt.Sprintf("Most rows to return (default and maximum %d).", h.eng.MaxRows())),
			mcp.Min(1), mcp.Max(float64(h.eng.MaxRows()))),
		mcp.WithBoolean("dry_run", mcp.Description("Return the validated SQL without running it.")),
		mcp.WithBoolean("chart", mcp.Description("Also return a PNG chart of the result (image content), chosen by the column types: "+
			"line for a date and a number, bar for a category and a number, scatter for two numbers, histogram for one. For clients that show images.")),
		portableOutputSchema[engine.QueryResult](),
		readOnlyAnnotations("Query the database"),
	)
	return server.ServerTool{Tool: tool, Handler: h.query}
}

func (h *handlers) query(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var args struct {
		engine.QueryArgs
		Chart bool `json:"chart"`
	}
	if err := req.BindArguments(&args); err != nil {
		return h.fail(ctx, "query", invalidArguments(err)), nil
	}
	out, err := h.eng.Query(ctx, args.QueryArgs)
	if err != nil {
		return h.fail(ctx, "query", err), nil
	}
	// The result is encoded here, once, text and JSON in one pass; mcp-go
	// writes the JSON as it is.
	raw, text, err := engine.EncodeQuery(out)
	if err != nil {
		return h.fail(ctx, "query", &engine.Error{Code: engine.CodeInternal, Message: "the result could not be encoded", Err: err}), nil
	}
	res := h.succeed(ctx, out, text)
	res.RawStructuredContent = raw
	if args.Chart {
		res.Content = append(res.Content, chartContent(out))
	}
	return res, nil
}

// Size of a chart image, in pixels.
const chartWidth, chartHeight = 800, 450

// chartContent is the PNG of the rule-chosen chart of a result, or a line
// saying why there is none.
func chartContent(out *engine.QueryResult) mcp.Content {
	cols := make([]chart.Column, len(out.Columns))
	for i, c := range out.Columns {
		cols[i] = chart.Column{Name: c.Name, Type: c.Type}
	}
	spec, ok := chart.Choose(cols, len(out.Rows))
	if !ok {
		return mcp.NewTextContent("No chart: a chart needs rows and a numeric column.")
	}
	png, err := chart.PNG(spec, cols, out.Rows, chartWidth, chartHeight)
	if err != nil {
		return mcp.NewTextContent("No chart: " + err.Error() + ".")
	}
	return mcp.NewImageContent(base64.StdEncoding.EncodeToString(png), "image/png")
}

func (h *handlers) explainTool() server.ServerTool {
	tool := mcp.NewTool("explain",
		mcp.WithDescription("Review a query before it runs, without running it: the SQL (pretty-printed), the validator's verdict "+
			"(a refused query gets its reason, not an error), what it reads, the planner's estimated cost and main plan nodes, "+
			"warnings (large sequential scans, cartesian products, big nested loops, results over the row cap, sorts or hashes "+
			"likely to spill to disk, cost over the ceiling) and a plain-English summary. Pass a question (pgmcp writes the SQL) or SQL."),
		mcp.WithString("question", mcp.Description("A question in plain English. Give this or sql.")),
		mcp.WithString("sql", mcp.Description("One PostgreSQL SELECT statement to review. Give this or question.")),
		mcp.WithString("database", mcp.Description("Database to plan against (default: the first configured). Configured: "+h.databaseNames())),
		portableOutputSchema[engine.ExplainResult](),
		readOnlyAnnotations("Review a query (explain)"),
	)
	return server.ServerTool{Tool: tool, Handler: h.explain}
}

func (h *handlers) explain(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var args engine.ExplainArgs
	if err := req.BindArguments(&args); err != nil {
		return h.fail(ctx, "explain", invalidArguments(err)), nil
	}
	out, err := h.eng.Explain(ctx, args)
	if err != nil {
		return h.fail(ctx, "explain", err), nil
	}
	return h.succeed(ctx, out, engine.RenderExplainText(out)), nil
}
