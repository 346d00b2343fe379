package tools

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/engine"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

func toolNames(t *testing.T, f *queryFixture) []string {
	t.Helper()
	res, err := f.c.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

// TestTableToolsServed: with per-table tools for three demo tables and no
// free SQL, the client lists get_schema, find_values and the three tools;
// a call with each filter kind answers rows, the built SQL and its
// parameters apart; bad arguments are invalid_argument and run nothing;
// a new column shows in the tool after a refresh, with the list-changed
// notification.
func TestTableToolsServed(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{deps: func(c *engine.Config) {
		c.TableTools = []string{"orders", "order_items", "public.customers"}
		c.TableToolsOnly = true
	}})
	var changed atomic.Int32
	f.c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == mcp.MethodNotificationToolsListChanged {
			changed.Add(1)
		}
	})
	want := []string{"customers_find", "find_values", "get_schema", "order_items_find", "orders_find"}
	if got := toolNames(t, f); !slices.Equal(got, want) {
		t.Fatalf("tools %v, want %v", got, want)
	}
	if p, err := f.c.ListPrompts(t.Context(), mcp.ListPromptsRequest{}); err != nil || len(p.Prompts) != 0 {
		t.Errorf("prompts %v (%v): the two prompts use query and explain, which are not served", p, err)
	}
	isNull := true
	for _, c := range []struct {
		tool string
		args map[string]any
		want string // in the SQL
	}{
		{"orders_find", map[string]any{"filters": map[string]any{"status": map[string]any{"equals": "refunded"}}, "columns": []any{"id", "status"}, "limit": 5}, `"status"::text = $1::text`},
		{"orders_find", map[string]any{"filters": map[string]any{"id": map[string]any{"in": []any{1, 2, 3}}}, "order_by": []any{"-id"}}, `"id" = ANY($1::integer[])`},
		{"orders_find", map[string]any{"filters": map[string]any{"total_amount": map[string]any{"min": 100, "max": 200}}, "count_only": true}, `"total_amount" >= $1::numeric(12,2)`},
		{"customers_find", map[string]any{"filters": map[string]any{"city": map[string]any{"contains": "o'brien'); DROP TABLE orders; --"}}}, `ILIKE $1::text`},
		{"orders_find", map[string]any{"filters": map[string]any{"shipped_at": map[string]any{"is_null": isNull}}, "count_only": true}, `"shipped_at" IS NULL`},
	} {
		o := f.call(t, t.Context(), c.tool, c.args)
		if o.isError {
			t.Errorf("%s %v: %s", c.tool, c.args, o.text)
			continue
		}
		var out struct {
			SQL    string
			Params []string
			Rows   [][]any
		}
		_ = json.Unmarshal(o.structured, &out)
		t.Logf("%s %v\n  sql: %s\n  params: %q, %d rows", c.tool, c.args, out.SQL, out.Params, len(out.Rows))
		if !strings.Contains(out.SQL, c.want) || strings.Contains(out.SQL, "refunded") || strings.Contains(out.SQL, "DROP") {
			t.Errorf("%s: SQL %s, want %s and no value in the text", c.tool, out.SQL, c.want)
		}
		if !strings.Contains(o.text, "<<<pgmcp-data") {
			t.Errorf("%s: the rows are not framed as data:\n%s", c.tool, o.text)
		}
	}
	for _, c := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"filters": map[string]any{"nope": map[string]any{"equals": 1}}}, "unknown column"},
		{map[string]any{"filters": map[string]any{"id": map[string]any{"equals": "x"}}}, "not a number"},
		{map[string]any{"limit": 100000}, "limit 100000"},
		{map[string]any{"filters": map[string]any{"status": map[string]any{"equals": "lost"}}}, "not one of"},
		{map[string]any{"filters": map[string]any{"id": map[string]any{"equals": 1, "gt": 5}}}, "gt"},
		{map[string]any{"where": "1=1"}, "where"},
		{map[string]any{"filters": map[string]any{"id": map[string]any{"equals": 1.5}}}, "whole number"},
		{map[string]any{"filters": map[string]any{"id": map[string]any{"equals": json.Number("99999999999999999999")}}}, "whole number"},
	} {
		o := f.call(t, t.Context(), "orders_find", c.args)
		if !o.isError || o.err.Code != "invalid_argument" || !strings.Contains(o.err.Message, c.want) {
			t.Errorf("orders_find %v: %v %s, want invalid_argument saying %q", c.args, o.isError, o.text, c.want)
		}
	}
	if o := f.call(t, t.Context(), "customers_find", map[string]any{"columns": []any{"phone"}}); !o.isError || o.err.Code != "invalid_argument" {
		t.Errorf("a blocked column: %s", o.text)
	}

	// A caller whose own policy blocks order_items and customers.email
	// lists neither, and cannot call the first.
	dave := engine.WithIdentity(t.Context(), engine.Identity{Name: "dave",
		Policy: json.RawMessage(`{"blocked_relations": ["public.order_items"], "blocked_columns": {"public.customers": ["email"]}}`)})
	res, err := f.c.ListTools(dave, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var daves []string
	for _, tool := range res.Tools {
		daves = append(daves, tool.Name)
		if tool.Name == "customers_find" && strings.Contains(string(tool.RawInputSchema)+tool.Description, "email") {
			t.Errorf("dave's customers_find mentions the email column he may not read")
		}
	}
	if slices.Contains(daves, "order_items_find") || !slices.Contains(daves, "orders_find") {
		t.Errorf("dave's tools: %v", daves)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "order_items_find", map[string]any{"count_only": true}
	if r, err := f.c.CallTool(dave, req); err == nil && !r.IsError {
		t.Errorf("dave called order_items_find: %+v", r)
	}
	if o := f.call(t, dave, "customers_find", map[string]any{"columns": []any{"email"}}); !o.isError || o.err.Code != "invalid_argument" {
		t.Errorf("dave asked customers_find for email: %s", o.text)
	}

	// A new column, then a refresh, which resolves the policy again (its
	// catalog), as engine.Open's databases do.
	base := f.dbs[0].Policy
	f.dbs[0].Resolve = func(ctx context.Context) (*sqlguard.Policy, error) {
		cp := *base
		p := &cp
		cat, err := pgexec.LoadCatalog(ctx, f.pool, engine.CatalogSchemas(p))
		p.Catalog = cat
		return p, err
	}
	f.db.Exec(t, "ALTER TABLE orders ADD COLUMN gift_note text")
	if o := f.call(t, t.Context(), "get_schema", map[string]any{"refresh": true}); o.isError {
		t.Fatal(o.text)
	}
	deadline := time.Now().Add(5 * time.Second)
	for changed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if changed.Load() == 0 {
		t.Error("no notifications/tools/list_changed after the schema changed")
	}
	res, err = f.c.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range res.Tools {
		if tool.Name == "orders_find" && !strings.Contains(tool.Description, "gift_note") {
			t.Errorf("orders_find does not show the new column:\n%s", tool.Description)
		}
	}
	if o := f.call(t, t.Context(), "orders_find", map[string]any{"filters": map[string]any{"gift_note": map[string]any{"is_null": true}}, "count_only": true}); o.isError {
		t.Errorf("a filter on the new column: %s", o.text)
	}

	// A reload without get_schema (SIGHUP, or the cache's own change
	// check): the next tools/list starts a sync in the background.
	syncEvery = 0
	t.Cleanup(func() { syncEvery = 5 * time.Second })
	before := changed.Load()
	f.db.Exec(t, "ALTER TABLE orders ADD COLUMN wrapped boolean")
	if _, err := f.dbs[0].Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for changed.Load() == before && time.Now().Before(deadline) {
		if _, err := f.c.ListTools(t.Context(), mcp.ListToolsRequest{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if changed.Load() == before {
		t.Error("no list_changed after a reload found a new column")
	}
}

// TestTableToolsContract snapshots the per-table tools of four small demo
// tables (fully sampled by ANALYZE, so their common values are stable) as
// a client lists them: names, descriptions, input and output schemas.
func TestTableToolsContract(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{deps: func(c *engine.Config) {
		c.TableTools = []string{"categories", "countries", "products", "customers"}
	}})
	req, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
	raw, err := json.Marshal(f.srv.HandleMessage(t.Context(), req))
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Result struct {
			Tools []json.RawMessage `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	var table []json.RawMessage
	for _, tool := range resp.Result.Tools {
		var named struct{ Name string }
		_ = json.Unmarshal(tool, &named)
		if strings.HasSuffix(named.Name, "_find") {
			table = append(table, tool)
		}
	}
	if len(table) != 4 {
		t.Fatalf("%d table tools, want 4", len(table))
	}
	snapshot(t, "table_tools_list.json", table)
}
