package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/pgmcp/pgmcp/tools/engine"
)

// Per-table tools (PGMCP_TABLE_TOOLS): one tool per permitted table of
// each database, generated from its catalog (engine.TableTools). The
// server registers the tools of the login role's view; a tool filter
// shows each caller only the tools of the tables it may read, and a call
// is answered from the caller's own view (engine.FindRows). When a schema
// load changes the tools (a table or a column came or went), they are
// registered again, which sends notifications/tools/list_changed.

// tableToolSync keeps the registered per-table tools in step with the
// schemas.
type tableToolSync struct {
	// lastSync is when a list of tools last started a sync (UnixNano).
	lastSync atomic.Int64
	running  sync.Mutex

	mu   sync.Mutex
	srv  *server.MCPServer
	have map[string]string // tool name → its definition as JSON
	// owner maps a registered tool name to its database and engine tool.
	owner map[string]tableToolRef
}

type tableToolRef struct{ database, tool string }

// tableToolName is the MCP name of a database's table tool: prefixed by the
// database's name when several are served.
func (h *handlers) tableToolName(database, tool string) string {
	if len(h.eng.DatabaseNames()) > 1 {
		return strings.ToLower(database) + "_" + tool
	}
	return tool
}

// syncTimeout bounds the schema loads of a sync.
const syncTimeout = time.Minute

// syncTableTools makes the registered per-table tools those of the
// current schemas (the server's view), registering new or changed ones and
// removing the others; mcp-go notifies the clients when the list changed.
func (h *handlers) syncTableTools() {
	if h.tables == nil {
		return
	}
	h.tables.running.Lock() // one sync at a time: the last one started wins
	defer h.tables.running.Unlock()
	want := map[string]server.ServerTool{}
	defs := map[string]string{}
	owner := map[string]tableToolRef{}
	// The server's own view: no caller's identity (ctx's is dropped).
	ctx, cancel := context.WithTimeout(context.Background(), syncTimeout)
	defer cancel()
	for _, db := range h.eng.DatabaseNames() {
		tools, note, err := h.eng.TableToolsOf(ctx, db)
		if err != nil {
			h.log.Warn("per-table tools not listed", "database", db, "error", err)
			continue
		}
		if note != "" {
			h.log.Info("per-table tools: "+note, "database", db)
		}
		for i := range tools {
			name := h.tableToolName(db, tools[i].Name)
			st := h.tableTool(name, db, &tools[i])
			b, _ := json.Marshal(st.Tool)
			want[name], defs[name], owner[name] = st, string(b), tableToolRef{db, tools[i].Name}
		}
	}
	s := h.tables
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []string
	for name := range s.have {
		if _, ok := want[name]; !ok {
			gone = append(gone, name)
		}
	}
	var add []server.ServerTool
	for name, st := range want {
		if s.have[name] != defs[name] {
			add = append(add, st)
		}
	}
	s.owner = owner
	if len(gone) > 0 {
		s.srv.DeleteTools(gone...)
	}
	if len(add) > 0 {
		slices.SortFunc(add, func(a, b server.ServerTool) int { return strings.Compare(a.Tool.Name, b.Tool.Name) })
		s.srv.AddTools(add...)
	}
	s.have = defs
}

// syncEvery is how often, at most, listing the tools checks in the
// background that the registered ones still match the schemas: a change
// found by the schema cache's own checks (PGMCP_SCHEMA_CACHE_TTL) or a
// SIGHUP reload reaches the tools, and the clients get list_changed.
var syncEvery = 5 * time.Second

func (h *handlers) syncSoon() {
	now := time.Now().UnixNano()
	last := h.tables.lastSync.Load()
	if now-last < int64(syncEvery) || !h.tables.lastSync.CompareAndSwap(last, now) {
		return
	}
	go h.syncTableTools()
}

// tableToolFilter shows the caller the per-table tools of its own view of
// each database: a tool of a table it may not read is left out, and the
// others are defined as its view has them (a column blocked for it is not
// in its definition). A call of a tool left out is refused by mcp-go.
func (h *handlers) tableToolFilter(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
	if h.tables == nil {
		return tools
	}
	h.syncSoon()
	h.tables.mu.Lock()
	owner := h.tables.owner
	h.tables.mu.Unlock()
	mine := map[string]map[string]*engine.TableTool{} // database → the caller's tools
	out := tools[:0:0]
	for _, t := range tools {
		ref, ok := owner[t.Name]
		if !ok {
			out = append(out, t)
			continue
		}
		if mine[ref.database] == nil {
			mine[ref.database] = map[string]*engine.TableTool{}
			if list, _, err := h.eng.TableToolsOf(ctx, ref.database); err == nil {
				for i := range list {
					mine[ref.database][list[i].Name] = &list[i]
				}
			}
		}
		if tt := mine[ref.database][ref.tool]; tt != nil {
			out = append(out, h.tableTool(t.Name, ref.database, tt).Tool)
		}
	}
	return out
}

// tableTool is the MCP definition and handler of one table's tool.
func (h *handlers) tableTool(name, database string, t *engine.TableTool) server.ServerTool {
	tool := mcp.NewToolWithRawSchema(name, t.Description, tableInputSchema(t))
	readOnlyAnnotations("Find rows of " + t.Table)(&tool)
	portableOutputSchema[engine.FindRowsResult]()(&tool)
	engineTool := t.Name
	handler := func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args, err := decodeTableArgs(req.GetArguments())
		if err != nil {
			return h.fail(ctx, name, invalidArguments(err)), nil
		}
		out, err := h.eng.FindRows(ctx, engine.FindRowsArgs{Database: database, Tool: engineTool, TableQueryArgs: args})
		if err != nil {
			return h.fail(ctx, name, err), nil
		}
		text := engine.RenderQueryText(&out.QueryResult)
		if len(out.Params) > 0 {
			p, _ := json.Marshal(out.Params)
			text = strings.Replace(text, "```\n", "```\nParameters ($1, $2…, bound as data): "+string(p)+"\n", 1)
		}
		return h.succeed(ctx, out, text), nil
	}
	return server.ServerTool{Tool: tool, Handler: handler}
}

// decodeTableArgs decodes a table tool's arguments strictly: a field the
// schema does not have (a misspelt filter, "gt" for "min") is an error, not
// silently dropped, and numbers keep every digit (a bigint key past 2^53).
func decodeTableArgs(raw map[string]any) (engine.TableQueryArgs, error) {
	var args engine.TableQueryArgs
	b, err := json.Marshal(raw)
	if err != nil {
		return args, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&args); err != nil {
		return args, err
	}
	return args, nil
}

// tableInputSchema is the JSON schema of a table tool's arguments: a
// filter object per filterable column with the fields its kind takes,
// the columns to return, the order, a capped limit, count_only.
func tableInputSchema(t *engine.TableTool) json.RawMessage {
	filters := map[string]any{}
	for _, f := range t.Filters {
		value := filterValueSchema(f)
		props := map[string]any{}
		switch f.Kind {
		case engine.FilterEqual:
			props["equals"] = value
			props["in"] = map[string]any{"type": "array", "items": value, "minItems": 1, "maxItems": 100}
		case engine.FilterRange:
			props["min"] = value
			props["max"] = value
			props["equals"] = value
		case engine.FilterText:
			props["contains"] = map[string]any{"type": "string", "maxLength": 200, "description": "case-insensitive substring"}
			props["equals"] = value
			props["in"] = map[string]any{"type": "array", "items": value, "minItems": 1, "maxItems": 100}
		}
		if f.Nullable {
			props["is_null"] = map[string]any{"type": "boolean"}
		}
		filters[f.Column] = map[string]any{"type": "object", "properties": props, "additionalProperties": false,
			"description": f.Column + " (" + f.Type + ")"}
	}
	order := make([]string, 0, 2*len(t.Columns))
	for _, c := range t.Columns {
		order = append(order, c, "-"+c)
	}
	schema := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"filters": map[string]any{"type": "object", "properties": filters, "additionalProperties": false,
				"description": "conditions on columns, all of which must hold"},
			"columns": map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": t.Columns},
				"description": "columns to return (default: all shown)"},
			"order_by": map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": order},
				"description": "columns to sort by; -column for descending"},
			"limit":      map[string]any{"type": "integer", "minimum": 1, "maximum": t.MaxLimit, "description": "most rows to return (default 20)"},
			"count_only": map[string]any{"type": "boolean", "description": "return only the number of matching rows"},
		},
		"additionalProperties": false,
	}
	b, _ := json.Marshal(schema)
	return b
}

func filterValueSchema(f engine.TableFilter) map[string]any {
	t := strings.ToLower(f.Type)
	switch {
	case f.Enum:
		return map[string]any{"type": "string", "enum": f.Values}
	case t == "boolean":
		return map[string]any{"type": "boolean"}
	case strings.Contains(t, "int"):
		return map[string]any{"type": "integer"}
	case t == "real" || t == "double precision" || strings.HasPrefix(t, "numeric") || t == "money":
		return map[string]any{"type": "number"}
	case t == "date" || strings.HasPrefix(t, "timestamp"):
		return map[string]any{"type": "string", "description": "YYYY-MM-DD or an RFC 3339 time"}
	}
	s := map[string]any{"type": "string"}
	if len(f.Values) > 0 {
		s["examples"] = f.Values
	}
	return s
}
