// Package tools is pgmcp's MCP binding: it builds the MCP server over the
// application core (package engine), declaring the tools (get_schema,
// query, explain), prompts, resources and completions, binding their
// arguments and turning the engine's results and errors into MCP results.
// It is the only package besides cmd/pgmcp that knows MCP, and the only
// place where errors become tool results.
package tools

import (
	"log/slog"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/pgmcp/pgmcp/tools/engine"
)

// Instructions tell a client's model how to use the server.
const Instructions = `pgmcp answers questions about PostgreSQL databases, read-only.
Call get_schema first to see the tables and columns you may use. Use query to answer a question
(in plain English or as one SELECT), and explain to review a query's verdict, cost and risks
without running it.`

// TableToolsInstructions replace Instructions when only per-table tools
// are served (PGMCP_TABLE_TOOLS_ONLY).
const TableToolsInstructions = `pgmcp answers questions about PostgreSQL databases, read-only, through one tool per table.
Call get_schema to see the tables and columns, find_values to find where a name or code is stored,
and the {table}_find tool of a table to read its rows with filters; pgmcp writes the SQL itself.`

// NewServer builds the MCP server over eng, with every tool, prompt and
// resource registered; version is pgmcp's, reported to clients.
func NewServer(eng *engine.Engine, version string) *server.MCPServer {
	h := &handlers{eng: eng, log: eng.Logger()}
	instructions := Instructions
	if !eng.SQLTools() {
		instructions = TableToolsInstructions
	}
	hooks := h.resourceHooks()
	hooks.AddBeforeCallTool(noteRequestID)
	s := server.NewMCPServer("pgmcp", version,
		// The tool list changes only with per-table tools (schema loads).
		server.WithToolCapabilities(eng.TableToolsOn()),
		server.WithResourceCapabilities(false, false),
		server.WithPromptCapabilities(false),
		server.WithCompletions(),
		server.WithPromptCompletionProvider(completions{h}),
		server.WithResourceCompletionProvider(completions{h}),
		server.WithHooks(hooks),
		server.WithInstructions(instructions),
		server.WithRecovery(),
		server.WithToolHandlerMiddleware(h.middleware),
		server.WithToolFilter(withView),
		server.WithToolFilter(h.tableToolFilter),
	)
	for _, t := range h.all() {
		s.AddTool(t.Tool, t.Handler)
	}
	if eng.TableToolsOn() {
		h.tables = &tableToolSync{srv: s}
		h.tables.lastSync.Store(time.Now().UnixNano())
		h.syncTableTools()
	}
	s.AddPrompts(h.allPrompts()...)
	s.AddResources(append(h.resources(), h.viewResource())...)
	s.AddResourceTemplates(h.resourceTemplates()...)
	return s
}

// handlers bind the engine's operations to MCP.
type handlers struct {
	eng    *engine.Engine
	log    *slog.Logger
	tables *tableToolSync // nil without per-table tools
}

// all is the explicit list of tools.
func (h *handlers) all() []server.ServerTool {
	if !h.eng.SQLTools() {
		return []server.ServerTool{h.getSchemaTool(), h.findValuesTool()}
	}
	return []server.ServerTool{
		h.getSchemaTool(),
		h.queryTool(),
		h.explainTool(),
		h.findValuesTool(),
	}
}

// readOnlyAnnotations are the annotations of every pgmcp tool: read-only,
// not destructive, idempotent, closed world. All four are set explicitly
// because mcp-go otherwise sends the spec's (unsafe-sounding) defaults.
func readOnlyAnnotations(title string) mcp.ToolOption {
	t, f := true, false
	return mcp.WithToolAnnotation(mcp.ToolAnnotation{
		Title:           title,
		ReadOnlyHint:    &t,
		DestructiveHint: &f,
		IdempotentHint:  &t,
		OpenWorldHint:   &f,
	})
}

// databaseNames lists the configured database names for descriptions.
func (h *handlers) databaseNames() string {
	return strings.Join(h.eng.DatabaseNames(), ", ")
}

// portableOutputSchema is mcp.WithOutputSchema with the boolean schemas
// the generator writes for "any value" (items: true, for the cells of a
// row) replaced by the equivalent empty schema {}: some clients' schema
// validators reject boolean schemas.
func portableOutputSchema[T any]() mcp.ToolOption {
	gen := mcp.WithOutputSchema[T]()
	return func(t *mcp.Tool) {
		gen(t)
		for k, v := range t.OutputSchema.Properties {
			t.OutputSchema.Properties[k] = noBooleanSchemas(v)
		}
		for k, v := range t.OutputSchema.Defs {
			t.OutputSchema.Defs[k] = noBooleanSchemas(v)
		}
	}
}

// noBooleanSchemas rewrites a decoded JSON schema: a true value of items,
// additionalItems or a property becomes {}.
func noBooleanSchemas(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			switch {
			case (k == "items" || k == "additionalItems") && sub == true:
				x[k] = map[string]any{}
			case k == "properties" || k == "$defs" || k == "definitions":
				if m, ok := sub.(map[string]any); ok {
					for name, s := range m {
						if s == true {
							m[name] = map[string]any{}
						} else {
							m[name] = noBooleanSchemas(s)
						}
					}
				}
			default:
				x[k] = noBooleanSchemas(sub)
			}
		}
		return x
	case []any:
		for i := range x {
			x[i] = noBooleanSchemas(x[i])
		}
		return x
	}
	return v
}
