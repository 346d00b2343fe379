package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/engine"
)

var (
	tableTemplateRef = mcp.ResourceReference{Type: "ref/resource", URI: "pgmcp://{database}/table/{name}"}
	exploreRef       = mcp.PromptReference{Type: "ref/prompt", Name: "explore_database"}
	reviewRef        = mcp.PromptReference{Type: "ref/prompt", Name: "review_sql"}
)

// complete sends completion/complete through the fixture's MCP client; a
// protocol error fails the test.
func (f *queryFixture) complete(t testing.TB, ctx context.Context, ref any, arg, value string, resolved map[string]string) mcp.Completion {
	t.Helper()
	req := mcp.CompleteRequest{}
	req.Params.Ref = ref
	req.Params.Argument = mcp.CompleteArgument{Name: arg, Value: value}
	req.Params.Context = mcp.CompleteContext{Arguments: resolved}
	res, err := f.c.Complete(ctx, req)
	if err != nil {
		t.Fatalf("complete %+v %s=%q: %v", ref, arg, value, err)
	}
	if res.Completion.Values == nil {
		t.Fatalf("complete %+v %s=%q: values is null", ref, arg, value)
	}
	if len(res.Completion.Values) > 100 {
		t.Errorf("complete %+v %s=%q: %d values", ref, arg, value, len(res.Completion.Values))
	}
	return res.Completion
}

func (f *queryFixture) completeValues(t testing.TB, ctx context.Context, ref any, arg, value string, resolved map[string]string) string {
	t.Helper()
	c := f.complete(t, ctx, ref, arg, value, resolved)
	if c.Total != len(c.Values) || c.HasMore {
		t.Errorf("complete %s=%q: total %d, hasMore %v for %d values", arg, value, c.Total, c.HasMore, len(c.Values))
	}
	return strings.Join(c.Values, ",")
}

// demoTables are the relations the demo policy shows, as table completion
// lists them for an empty value: the search path (public) first.
const demoTables = "public.categories,public.countries,public.customers,public.monthly_revenue,public.order_items,public.orders," +
	"public.payments,public.products,public.reviews," +
	"analytics.events,billing.invoices,billing.monthly_recurring_revenue,billing.plans,billing.subscriptions"

// TestCompletionsCapability checks that the server advertises completions
// in both protocol eras, and answers completion/complete as JSON-RPC.
func TestCompletionsCapability(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{})
	srv := newServer(t, f.deps)
	for _, era := range []struct {
		name string
		opts []client.ClientOption
	}{
		{"latest", nil},
		{"2025-11-25", []client.ClientOption{client.WithProtocolVersion(mcp.ProtocolVersion20251125)}},
	} {
		t.Run(era.name, func(t *testing.T) {
			c, err := client.NewInProcessClientWithOptions(srv, era.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			init := mcp.InitializeRequest{}
			init.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "1"}
			res, err := c.Initialize(t.Context(), init)
			if err != nil {
				t.Fatal(err)
			}
			if res.Capabilities.Completions == nil || res.Capabilities.Prompts == nil || res.Capabilities.Resources == nil {
				t.Errorf("capabilities = %+v", res.Capabilities)
			}
			req := mcp.CompleteRequest{}
			req.Params.Ref = exploreRef
			req.Params.Argument = mcp.CompleteArgument{Name: "table", Value: "ord"}
			got, err := c.Complete(t.Context(), req)
			if err != nil || strings.Join(got.Completion.Values, ",") != "public.order_items,public.orders" {
				t.Errorf("complete: %+v, %v", got, err)
			}
		})
	}

	// The raw exchange: initialize, then completion/complete.
	raw := func(msg string) map[string]any {
		t.Helper()
		b, err := json.Marshal(srv.HandleMessage(t.Context(), json.RawMessage(msg)))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	init := raw(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`)
	result, _ := init["result"].(map[string]any)
	caps, _ := result["capabilities"].(map[string]any)
	if _, ok := caps["completions"]; !ok {
		t.Errorf("initialize: no completions capability: %v", init)
	}
	for msg, want := range map[string]string{
		`{"jsonrpc":"2.0","id":2,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"pgmcp://{database}/table/{name}"},"argument":{"name":"name","value":"Pay"},"context":{"arguments":{"database":"demo"}}}}`: `{"total":1,"values":["public.payments"]}`,
		`{"jsonrpc":"2.0","id":3,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"review_sql"},"argument":{"name":"database","value":""}}}`:                                                                  `{"total":1,"values":["demo"]}`,
		`{"jsonrpc":"2.0","id":4,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"no_such_prompt"},"argument":{"name":"database","value":""}}}`:                                                              `{"values":[]}`,
		`{"jsonrpc":"2.0","id":5,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"pgmcp://demo/schema"},"argument":{"name":"name","value":""}}}`:                                                            `{"values":[]}`,
	} {
		m := raw(msg)
		result, ok := m["result"].(map[string]any)
		if !ok {
			t.Errorf("%s\n→ %v, want a result", msg, m)
			continue
		}
		got, err := json.Marshal(result["completion"])
		if err != nil || string(got) != want {
			t.Errorf("%s\n→ %v, want completion %s", msg, m, want)
		}
	}
}

func TestCompleteDatabase(t *testing.T) {
	f := newQueryFixture(t, withDatabases(t, [2]string{"crm", billingOnly}, [2]string{"demo_archive", billingOnly}))
	ctx := t.Context()
	carol := engine.WithIdentity(ctx, engine.Identity{Name: "carol", Databases: []string{"demo_archive", "crm"}})
	for _, ref := range []any{exploreRef, reviewRef, tableTemplateRef} {
		for _, c := range []struct {
			ctx         context.Context
			value, want string
		}{
			{ctx, "", "demo,crm,demo_archive"},
			{ctx, "de", "demo,demo_archive"},
			{ctx, "DEMO_", "demo_archive"},
			{ctx, " c", "crm"},
			{ctx, "x", ""},
			// An identity limited to some databases is offered only those.
			{carol, "", "crm,demo_archive"},
			{carol, "de", "demo_archive"},
			{engine.WithIdentity(ctx, engine.Identity{Name: "erin"}), "", "demo,crm,demo_archive"},
		} {
			if got := f.completeValues(t, c.ctx, ref, "database", c.value, nil); got != c.want {
				t.Errorf("%+v database=%q: %q, want %q", ref, c.value, got, c.want)
			}
		}
	}
	// Arguments and prompts without completion: no values, no error.
	for _, c := range []struct {
		ref any
		arg string
	}{
		{reviewRef, "sql"},
		{reviewRef, "question"},
		{reviewRef, "table"},
		{exploreRef, "topic"},
		{exploreRef, "nosuch"},
		{mcp.PromptReference{Type: "ref/prompt", Name: "nosuch"}, "database"},
		{mcp.ResourceReference{Type: "ref/resource", URI: "pgmcp://demo/schema"}, "database"},
		{mcp.ResourceReference{Type: "ref/resource", URI: "file:///{name}"}, "name"},
		{tableTemplateRef, "table"},
	} {
		if got := f.complete(t, ctx, c.ref, c.arg, "", nil); len(got.Values) != 0 || got.Total != 0 || got.HasMore {
			t.Errorf("%+v %s: %+v, want none", c.ref, c.arg, got)
		}
	}
}

func TestCompleteTables(t *testing.T) {
	f := newQueryFixture(t, withDatabases(t, [2]string{"crm", billingOnly}))
	ctx := t.Context()
	demo := map[string]string{"database": "demo"}
	for _, c := range []struct {
		value    string
		resolved map[string]string
		want     string
	}{
		{"", nil, demoTables},
		{"", demo, demoTables},
		{"ord", nil, "public.order_items,public.orders"},
		{"ORDERS", nil, "public.orders"},
		{"public.ord", demo, "public.order_items,public.orders"},
		{`"public"."ord`, demo, "public.order_items,public.orders"},
		// The blocked billing.payment_cards is never offered, by any
		// prefix of its bare or qualified name.
		{"pay", nil, "public.payments"},
		{"payment_", nil, ""},
		{"billing.pa", nil, ""},
		{"billing.p", nil, "billing.plans"},
		{"billing.", nil, "billing.invoices,billing.monthly_recurring_revenue,billing.plans,billing.subscriptions"},
		// Exact names first, then bare-name prefixes (the search path
		// first), then schema prefixes.
		{"plans", nil, "billing.plans"},
		{"p", nil, "public.payments,public.products,billing.plans," +
			"public.categories,public.countries,public.customers,public.monthly_revenue,public.order_items,public.orders,public.reviews"},
		{"analytics", nil, "analytics.events"},
		{"zzz", nil, ""},
		// The database comes from the arguments already resolved.
		{"", map[string]string{"database": "crm"}, "billing.invoices,billing.plans"},
		{"p", map[string]string{"database": "crm"}, "billing.plans"},
		{"", map[string]string{"database": "nodb"}, ""},
	} {
		for _, ref := range []any{exploreRef, tableTemplateRef} {
			arg := "table"
			if ref == tableTemplateRef {
				arg = "name"
			}
			got := f.completeValues(t, ctx, ref, arg, c.value, c.resolved)
			if got != c.want {
				t.Errorf("%+v %s=%q %v:\n got %s\nwant %s", ref, arg, c.value, c.resolved, got, c.want)
			}
			for _, b := range f.blocked {
				if b == "payment_cards" && strings.Contains(got, b) {
					t.Errorf("blocked table offered: %s", got)
				}
			}
		}
	}

	// Identities: one limited to crm gets nothing from the default
	// database and crm's tables when it names crm; one whose policy hides
	// billing sees none of it.
	carol := engine.WithIdentity(ctx, engine.Identity{Name: "carol", Databases: []string{"crm"}})
	if got := f.completeValues(t, carol, tableTemplateRef, "name", "", nil); got != "" {
		t.Errorf("carol, default database: %q", got)
	}
	if got := f.completeValues(t, carol, exploreRef, "table", "", map[string]string{"database": "crm"}); got != "billing.invoices,billing.plans" {
		t.Errorf("carol, crm: %q", got)
	}
	dave := engine.WithIdentity(ctx, engine.Identity{Name: "dave", Policy: json.RawMessage(`{"allowed_schemas": ["public"], "blocked_relations": ["public.reviews"]}`)})
	if got := f.completeValues(t, dave, exploreRef, "table", "", nil); strings.Contains(got, "billing.") || strings.Contains(got, "analytics.") || strings.Contains(got, "reviews") || !strings.Contains(got, "public.orders") {
		t.Errorf("dave: %q", got)
	}

	// Every completed name reads as a table resource and starts the prompt.
	for _, name := range strings.Split(demoTables, ",") {
		req := mcp.ReadResourceRequest{}
		req.Params.URI = "pgmcp://demo/table/" + name
		if _, err := f.c.ReadResource(ctx, req); err != nil {
			t.Errorf("read %s: %v", req.Params.URI, err)
		}
		if _, err := f.getPrompt(ctx, "explore_database", map[string]string{"table": name}); err != nil {
			t.Errorf("explore_database table=%s: %v", name, err)
		}
	}
}

// TestCompleteTablesCapped checks the cap of 100 values, with the total
// and hasMore, on a database of 130 tables.
func TestCompleteTablesCapped(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{
		setup: func(db *pgtest.DB) {
			var b strings.Builder
			b.WriteString("CREATE SCHEMA wide; GRANT USAGE ON SCHEMA wide TO " + pgtest.Reader + ";")
			for i := range 130 {
				fmt.Fprintf(&b, "CREATE TABLE wide.t%03d (id int PRIMARY KEY);", i)
			}
			b.WriteString("GRANT SELECT ON ALL TABLES IN SCHEMA wide TO " + pgtest.Reader + ";")
			db.Exec(t, b.String())
		},
		deps: withDatabases(t, [2]string{"wide", `{"allowed_schemas": ["wide"], "search_path": ["wide"]}`}).deps,
	})
	wide := map[string]string{"database": "wide"}
	c := f.complete(t, t.Context(), tableTemplateRef, "name", "", wide)
	if len(c.Values) != 100 || c.Total != 130 || !c.HasMore || c.Values[0] != "wide.t000" || c.Values[99] != "wide.t099" {
		t.Errorf("all tables: %d values, total %d, hasMore %v, %v…", len(c.Values), c.Total, c.HasMore, c.Values[:min(3, len(c.Values))])
	}
	c = f.complete(t, t.Context(), exploreRef, "table", "T1", wide)
	if len(c.Values) != 30 || c.Total != 30 || c.HasMore || !slices.IsSorted(c.Values) || c.Values[0] != "wide.t100" {
		t.Errorf("t1: %d values, total %d, hasMore %v", len(c.Values), c.Total, c.HasMore)
	}
	c = f.complete(t, t.Context(), exploreRef, "table", "wide.t12", wide)
	if strings.Join(c.Values, ",") != "wide.t120,wide.t121,wide.t122,wide.t123,wide.t124,wide.t125,wide.t126,wide.t127,wide.t128,wide.t129" {
		t.Errorf("wide.t12: %v", c.Values)
	}
}
