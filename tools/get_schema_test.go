package tools

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/engine"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// demoPolicy is the part of the demo's policy the schema filter uses.
type demoPolicy struct {
	AllowedSchemas   []string            `json:"allowed_schemas"`
	AllowedRelations []string            `json:"allowed_relations"`
	BlockedRelations []string            `json:"blocked_relations"`
	BlockedColumns   map[string][]string `json:"blocked_columns"`
}

// demoBlocked returns the names the demo policy hides.
func demoBlocked(t testing.TB) []string {
	t.Helper()
	var p demoPolicy
	if err := json.Unmarshal(demodb.PolicyJSON, &p); err != nil {
		t.Fatal(err)
	}
	var blocked []string
	for _, r := range p.BlockedRelations {
		_, name, _ := strings.Cut(r, ".")
		blocked = append(blocked, name)
	}
	for _, cols := range p.BlockedColumns {
		blocked = append(blocked, cols...)
	}
	return blocked
}

// testServer serves the demo database as "demo" (default options) and,
// through the same pool, as "tight" (a 700-token budget), over an
// in-process client of the given protocol era.
type testServer struct {
	srv     *server.MCPServer
	c       *client.Client
	dbs     []*engine.Database
	db      *pgtest.DB
	blocked []string
}

func newTestServer(t testing.TB, opts ...client.ClientOption) *testServer {
	t.Helper()
	db := pgtest.NewDB(t, pgtest.Demo)
	pool, err := pgxpool.New(context.Background(), db.ReaderURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	blocked := demoBlocked(t)
	policy, err := sqlguard.ParsePolicyJSON(demodb.PolicyJSON)
	if err != nil {
		t.Fatal(err)
	}
	withCatalog(t, pool, policy)
	tight := schema.DefaultOptions()
	tight.TokenBudget = 700
	dbs := []*engine.Database{
		{Name: "demo", Pool: pool, Policy: policy},
		{Name: "tight", Pool: pool, Policy: policy, SchemaOptions: &tight},
	}
	srv := newServer(t, engine.Config{Databases: dbs, Logger: slog.New(slog.DiscardHandler)})
	c, err := client.NewInProcessClientWithOptions(srv, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "1"}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	return &testServer{srv: srv, c: c, dbs: dbs, db: db, blocked: blocked}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// call calls get_schema; it returns the result, its text and its
// structured content as JSON.
func (s *testServer) call(t testing.TB, args map[string]any) (*mcp.CallToolResult, string, []byte) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = "get_schema"
	req.Params.Arguments = args
	res, err := s.c.CallTool(ctxT(t), req)
	if err != nil {
		t.Fatalf("get_schema %v: %v", args, err)
	}
	var text strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	var js []byte
	if res.StructuredContent != nil {
		if js, err = json.Marshal(res.StructuredContent); err != nil {
			t.Fatal(err)
		}
	}
	return res, text.String(), js
}

func decode(t testing.TB, js []byte) engine.SchemaResult {
	t.Helper()
	var out engine.SchemaResult
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatalf("structured content: %v: %s", err, js)
	}
	return out
}

// errorCode returns the code of a failed call's JSON body.
func errorCode(t testing.TB, res *mcp.CallToolResult, text string) string {
	t.Helper()
	if !res.IsError {
		t.Fatalf("call succeeded, want an error: %.200s", text)
	}
	var body struct{ Code, Message string }
	if err := json.Unmarshal([]byte(text), &body); err != nil {
		t.Fatalf("error body %q: %v", text, err)
	}
	return body.Code
}

// assertNowhere fails when a blocked name appears as a whole word.
func assertNowhere(t testing.TB, what, text string, names []string) {
	t.Helper()
	for _, n := range names {
		if regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(n) + `\b`).MatchString(text) {
			t.Errorf("blocked name %q appears in %s", n, what)
		}
	}
}

func TestGetSchemaTool(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	tools, err := s.c.ListTools(ctxT(t), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var tool *mcp.Tool
	for i := range tools.Tools {
		if tools.Tools[i].Name == "get_schema" {
			tool = &tools.Tools[i]
		}
	}
	if tool == nil {
		t.Fatal("no get_schema tool")
	}
	a := tool.Annotations
	if a.ReadOnlyHint == nil || !*a.ReadOnlyHint || a.DestructiveHint == nil || *a.DestructiveHint ||
		a.IdempotentHint == nil || !*a.IdempotentHint || a.OpenWorldHint == nil || *a.OpenWorldHint {
		t.Errorf("annotations = %+v", a)
	}
	for _, arg := range []string{"database", "tables", "search", "detail", "refresh"} {
		if _, ok := tool.InputSchema.Properties[arg]; !ok {
			t.Errorf("input schema has no %s", arg)
		}
	}
	validate := outputValidator(t, tool)

	// Every way of calling it returns output that validates, with no null
	// array, and never names a blocked table or column.
	calls := []map[string]any{
		{},
		{"detail": "summary"},
		{"detail": "full"},
		{"tables": []any{"order*", "billing.*"}},
		{"tables": []any{"customers"}, "detail": "full"},
		{"search": "phone numbers and dates of birth of customers who paid by card"},
		{"search": "monthly recurring revenue of membership plans", "detail": "summary"},
		{"database": "tight", "search": "revenue per product category"},
		{"database": "tight"},
		{"database": "tight", "search": "payment cards of members", "tables": []any{"billing.*"}},
	}
	for _, args := range calls {
		res, text, js := s.call(t, args)
		if res.IsError {
			t.Errorf("get_schema %v failed: %s", args, text)
			continue
		}
		if err := validate(js); err != nil {
			t.Errorf("get_schema %v: structured content does not validate: %v", args, err)
		}
		if strings.Contains(string(js), ":null") {
			t.Errorf("get_schema %v: null in structured content", args)
		}
		assertNowhere(t, "text of get_schema", text, s.blocked)
		// The search text and the reasons (which list the search words a
		// table matched) echo the caller's own words: left out.
		out := decode(t, js)
		out.Search = ""
		for i := range out.Tables {
			out.Tables[i].Reason = ""
		}
		clean, _ := json.Marshal(out)
		assertNowhere(t, "structured content of get_schema", string(clean), s.blocked)
	}
}

// outputValidator compiles the tool's output schema.
func outputValidator(t *testing.T, tool *mcp.Tool) func([]byte) error {
	t.Helper()
	raw, err := json.Marshal(tool.OutputSchema)
	if err != nil {
		t.Fatal(err)
	}
	var sch jsonschema.Schema
	if err := json.Unmarshal(raw, &sch); err != nil {
		t.Fatalf("output schema: %v", err)
	}
	resolved, err := sch.Resolve(nil)
	if err != nil {
		t.Fatalf("output schema: %v", err)
	}
	if len(sch.Required) < 5 {
		t.Errorf("output schema requires %v: every field should be required", sch.Required)
	}
	return func(js []byte) error {
		var v any
		if err := json.Unmarshal(js, &v); err != nil {
			return err
		}
		return resolved.Validate(v)
	}
}

func TestGetSchemaBehaviour(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)

	// No arguments: the demo fits the default budget, so everything, in full.
	_, text, js := s.call(t, nil)
	out := decode(t, js)
	if out.Database != "demo" || out.Detail != engine.DetailFull || len(out.Tables) != 14 || out.TotalTables != 14 {
		t.Fatalf("no arguments: database %q, detail %q, %d of %d tables", out.Database, out.Detail, len(out.Tables), out.TotalTables)
	}
	for _, tb := range out.Tables {
		if len(tb.Columns) == 0 || tb.Form != "full" {
			t.Errorf("%s.%s: %d columns, form %q", tb.Schema, tb.Name, len(tb.Columns), tb.Form)
		}
	}
	if !strings.Contains(text, "TABLE public.orders") || out.Tokens != schema.EstimateTokens(text) {
		t.Errorf("text does not describe the tables, or tokens %d is not its estimate", out.Tokens)
	}

	// Summary: tables without columns.
	_, text, js = s.call(t, map[string]any{"detail": "summary"})
	out = decode(t, js)
	for _, tb := range out.Tables {
		if len(tb.Columns) != 0 || tb.ColumnCount == 0 || tb.Form != "summary" {
			t.Errorf("summary %s: %d columns, count %d, form %q", tb.Name, len(tb.Columns), tb.ColumnCount, tb.Form)
		}
	}
	if strings.Contains(text, "customer_id") {
		t.Errorf("summary text lists columns")
	}

	// Patterns and names.
	_, _, js = s.call(t, map[string]any{"tables": []any{"order*", "billing.plans", "nosuch"}})
	out = decode(t, js)
	var names []string
	for _, tb := range out.Tables {
		names = append(names, tb.Schema+"."+tb.Name)
	}
	if strings.Join(names, ",") != "billing.plans,public.order_items,public.orders" || len(out.NotFound) != 1 || out.NotFound[0] != "nosuch" {
		t.Errorf("tables [order* billing.plans nosuch] = %v, not found %v", names, out.NotFound)
	}
	// A blocked table is reported exactly like a missing one.
	resBlocked, textBlocked, _ := s.call(t, map[string]any{"tables": []any{"billing.payment_cards"}})
	resMissing, textMissing, _ := s.call(t, map[string]any{"tables": []any{"billing.payment_cardz"}})
	if errorCode(t, resBlocked, textBlocked) != string(schema.CodeNotFound) || errorCode(t, resMissing, textMissing) != string(schema.CodeNotFound) ||
		strings.Replace(textBlocked, "payment_cards", "payment_cardz", 1) != textMissing {
		t.Errorf("blocked %s vs missing %s", textBlocked, textMissing)
	}

	// Search under a tight budget: relevant tables first, within budget.
	_, text, js = s.call(t, map[string]any{"database": "tight", "search": "revenue per product category last month"})
	out = decode(t, js)
	if out.Search == "" || len(out.Tables) == 0 || len(out.Tables) == out.TotalTables || out.Note == "" {
		t.Fatalf("search: %d of %d tables, note %q", len(out.Tables), out.TotalTables, out.Note)
	}
	chosen := map[string]bool{}
	for _, tb := range out.Tables {
		chosen[tb.Name] = true
		if tb.Reason == "" {
			t.Errorf("search: %s has no reason", tb.Name)
		}
	}
	if !strings.Contains(text, "categories") || !strings.Contains(text, "products") {
		t.Errorf("search: the text does not show the chosen tables:\n%s", text)
	}
	if !chosen["categories"] || !chosen["products"] {
		t.Errorf("search for revenue per product category chose %v", chosen)
	}
	if out.Tokens > 700+100 {
		t.Errorf("search text is ~%d tokens, budget 700", out.Tokens)
	}
	// No arguments on a database whose schema exceeds the budget: a
	// summary and a note.
	_, _, js = s.call(t, map[string]any{"database": "tight"})
	if out = decode(t, js); out.Detail != engine.DetailSummary || out.Note == "" {
		t.Errorf("tight, no arguments: detail %q, note %q; want a summary", out.Detail, out.Note)
	}

	// Errors.
	res, text, _ := s.call(t, map[string]any{"database": "nope"})
	if c := errorCode(t, res, text); c != string(engine.CodeUnknownDatabase) {
		t.Errorf("unknown database: %s", c)
	}
	res, text, _ = s.call(t, map[string]any{"detail": "everything"})
	if c := errorCode(t, res, text); c != string(engine.CodeInvalidArgument) {
		t.Errorf("bad detail: %s", c)
	}
}

// TestGetSchemaRefresh: a schema change shows after refresh=true (or the
// TTL), not before.
func TestGetSchemaRefresh(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	comment := func(args map[string]any) string {
		args["tables"] = []any{"public.countries"}
		_, _, js := s.call(t, args)
		return decode(t, js).Tables[0].Comment
	}
	before := comment(map[string]any{})
	s.db.Exec(t, "COMMENT ON TABLE public.countries IS 'Changed comment.'")
	if got := comment(map[string]any{}); got != before {
		t.Errorf("comment changed without a refresh, within the TTL: %q", got)
	}
	if got := comment(map[string]any{"refresh": true}); got != "Changed comment." {
		t.Errorf("after refresh: comment %q", got)
	}
	// SIGHUP path: Invalidate makes the next call reload.
	s.db.Exec(t, "COMMENT ON TABLE public.countries IS 'Changed again.'")
	s.dbs[0].Schema.Invalidate()
	if got := comment(map[string]any{}); got != "Changed again." {
		t.Errorf("after Invalidate: comment %q", got)
	}
}

var benchCases = []struct {
	name string
	args map[string]any
}{
	{"full", map[string]any{}},
	{"summary", map[string]any{"detail": "summary"}},
	{"search", map[string]any{"search": "monthly revenue per product category"}},
	{"table", map[string]any{"tables": []any{"public.orders"}}},
}

// BenchmarkGetSchemaCached measures a get_schema call served from the
// cache, as the server handles it: the JSON-RPC request through the MCP
// handler (MCPServer.HandleMessage: decoding, routing, the tool handler)
// and the response encoded to JSON, as a transport writes it. Cases: the
// whole demo schema in full (~4,300 tokens of text plus its structured
// content), a summary, a search and one table.
func BenchmarkGetSchemaCached(b *testing.B) {
	s := newTestServer(b)
	ctx := context.Background()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			args, _ := json.Marshal(bc.args)
			msg := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_schema","arguments":` + string(args) + `}}`)
			var size int
			for b.Loop() {
				resp := s.srv.HandleMessage(ctx, msg)
				out, err := json.Marshal(resp)
				if err != nil {
					b.Fatal(err)
				}
				if !strings.Contains(string(out[:min(len(out), 200)]), `"result"`) || strings.Contains(string(out), `"isError":true`) {
					b.Fatalf("response: %.300s", out)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "resp-bytes")
		})
	}
}

// BenchmarkGetSchemaCachedInProcess is the same through mcp-go's in-process
// client, which adds the client's side: encoding the request and decoding
// the response (three JSON passes over it in mcp-go v1.2.1), the bulk of
// the time for a large response.
func BenchmarkGetSchemaCachedInProcess(b *testing.B) {
	s := newTestServer(b)
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			req := mcp.CallToolRequest{}
			req.Params.Name = "get_schema"
			req.Params.Arguments = bc.args
			ctx := context.Background()
			if res, err := s.c.CallTool(ctx, req); err != nil || res.IsError { // loads the cache
				b.Fatalf("warm-up: %v %+v", err, res)
			}
			for b.Loop() {
				res, err := s.c.CallTool(ctx, req)
				if err != nil || res.IsError {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOutputSchemasHaveNoBooleanSchemas checks every tool's outputSchema
// says "any value" with {} rather than true, which some clients' schema
// validators refuse (the MCP Inspector's --strict flags it as an error).
func TestOutputSchemasHaveNoBooleanSchemas(t *testing.T) {
	h := &handlers{eng: newEngine(t, engine.Config{MaxRows: 10, Databases: []*engine.Database{{Name: "db", Policy: &sqlguard.Policy{Catalog: &sqlguard.Catalog{}}}}})}
	for _, st := range h.all() {
		raw, err := json.Marshal(st.Tool.OutputSchema)
		if err != nil {
			t.Fatal(err)
		}
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, sub := range x {
					if b, ok := sub.(bool); ok && k != "additionalProperties" && k != "uniqueItems" {
						t.Errorf("%s: %s.%s is the boolean schema %v", st.Tool.Name, path, k, b)
					}
					walk(path+"."+k, sub)
				}
			case []any:
				for _, sub := range x {
					walk(path+"[]", sub)
				}
			}
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		walk("outputSchema", v)
		if !strings.Contains(string(raw), `"rows"`) && st.Tool.Name == "query" {
			t.Errorf("query's outputSchema has no rows: %s", raw)
		}
	}
}
