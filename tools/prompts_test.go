package tools

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/engine"
)

// withDatabases returns fixture options that serve, besides demo, the same
// test database as each of the given names under a policy (JSON).
func withDatabases(t testing.TB, policies ...[2]string) fixtureOpts {
	return fixtureOpts{deps: func(d *engine.Config) {
		for _, np := range policies {
			p, err := sqlguard.ParsePolicyJSON([]byte(np[1]))
			if err != nil {
				t.Fatal(err)
			}
			p.Database = d.Databases[0].Policy.Database
			withCatalog(t, d.Databases[0].Pool, p)
			d.Databases = append(d.Databases, &engine.Database{Name: np[0], Pool: d.Databases[0].Pool, Policy: p, ServerVersion: "15", TimeZone: "UTC"})
		}
	}}
}

// billingOnly is a policy that shows only two billing tables.
const billingOnly = `{"allowed_relations": ["billing.plans", "billing.invoices"], "search_path": ["billing"]}`

func (f *queryFixture) getPrompt(ctx context.Context, name string, args map[string]string) (string, error) {
	req := mcp.GetPromptRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := f.c.GetPrompt(ctx, req)
	if err != nil {
		return "", err
	}
	if len(res.Messages) != 1 || res.Messages[0].Role != mcp.RoleUser {
		return "", &engine.Error{Code: engine.CodeInternal, Message: "unexpected messages"}
	}
	tc, ok := res.Messages[0].Content.(mcp.TextContent)
	if !ok {
		return "", &engine.Error{Code: engine.CodeInternal, Message: "not text"}
	}
	return tc.Text, nil
}

func TestPromptList(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{})
	res, err := f.c.ListPrompts(t.Context(), mcp.ListPromptsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	args := map[string][]string{}
	for _, p := range res.Prompts {
		for _, a := range p.Arguments {
			if a.Required {
				t.Errorf("prompt %s: argument %s is required", p.Name, a.Name)
			}
			if a.Description == "" {
				t.Errorf("prompt %s: argument %s has no description", p.Name, a.Name)
			}
			args[p.Name] = append(args[p.Name], a.Name)
		}
		if p.Description == "" || p.Title == "" {
			t.Errorf("prompt %s lacks a title or description", p.Name)
		}
	}
	if got := strings.Join(args["explore_database"], ","); got != "database,topic,table" {
		t.Errorf("explore_database arguments = %q", got)
	}
	if got := strings.Join(args["review_sql"], ","); got != "sql,question,database" {
		t.Errorf("review_sql arguments = %q", got)
	}
}

func TestExploreDatabasePrompt(t *testing.T) {
	f := newQueryFixture(t, withDatabases(t, [2]string{"crm", billingOnly}))
	ctx := t.Context()
	mustHave := func(t *testing.T, text string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("the prompt lacks %q:\n%s", w, text)
			}
		}
	}
	mustLack := func(t *testing.T, text string, unwanted ...string) {
		t.Helper()
		for _, w := range unwanted {
			if strings.Contains(text, w) {
				t.Errorf("the prompt has %q:\n%s", w, text)
			}
		}
	}

	t.Run("no arguments", func(t *testing.T) {
		text, err := f.getPrompt(ctx, "explore_database", nil)
		if err != nil {
			t.Fatal(err)
		}
		mustHave(t, text, "database demo", "get_schema", "call query with sql", "LIMIT", "central tables", "relate",
			"data-quality", "analytical questions", "foreign key")
		mustLack(t, text, "search=", "tables=[", "database=", "topic")
		assertNowhere(t, "explore_database", text, f.blocked)
	})
	t.Run("topic", func(t *testing.T) {
		text, err := f.getPrompt(ctx, "explore_database", map[string]string{"topic": "  subscriptions and churn "})
		if err != nil {
			t.Fatal(err)
		}
		mustHave(t, text, `get_schema with search="subscriptions and churn"`, "focusing on this topic: subscriptions and churn",
			"central tables for the topic", "questions about the topic")
		mustLack(t, text, "tables=[", "database=")
	})
	t.Run("table and database", func(t *testing.T) {
		text, err := f.getPrompt(ctx, "explore_database", map[string]string{"table": "ORDERS", "database": "demo"})
		if err != nil {
			t.Fatal(err)
		}
		mustHave(t, text, "Start from the table public.orders", `get_schema with tables=["public.orders"], database="demo"`,
			`LIMIT (5, never more than 20), database="demo"`, "central tables around public.orders")
		mustLack(t, text, "search=")
	})
	t.Run("table and topic", func(t *testing.T) {
		text, err := f.getPrompt(ctx, "explore_database", map[string]string{"table": "plans", "topic": "pricing", "database": "crm"})
		if err != nil {
			t.Fatal(err)
		}
		mustHave(t, text, "database crm", "billing.plans", `search="pricing", database="crm"`)
	})
	t.Run("other database", func(t *testing.T) {
		text, err := f.getPrompt(ctx, "explore_database", map[string]string{"database": "crm"})
		if err != nil {
			t.Fatal(err)
		}
		mustHave(t, text, "database crm", `get_schema with database="crm"`)
	})

	t.Run("errors", func(t *testing.T) {
		_, err := f.getPrompt(ctx, "explore_database", map[string]string{"database": "nodb"})
		if err == nil || !strings.Contains(err.Error(), `"nodb"`) || !strings.Contains(err.Error(), "demo, crm") {
			t.Errorf("unknown database: %v", err)
		}
		// A missing table, a blocked one and one outside the database's
		// policy: the same error, naming only the table asked for.
		var messages []string
		for _, c := range []struct{ db, table string }{
			{"demo", "nosuch"},
			{"demo", "payment_cards"},
			{"demo", "billing.payment_cards"},
			{"crm", "orders"},
		} {
			_, err := f.getPrompt(ctx, "explore_database", map[string]string{"database": c.db, "table": c.table})
			if err == nil {
				t.Errorf("table %s in %s was accepted", c.table, c.db)
				continue
			}
			m := strings.Replace(strings.Replace(err.Error(), c.table, "NAME", 1), c.db, "DB", 1)
			messages = append(messages, m)
			assertNowhere(t, "table error", strings.ReplaceAll(m, "NAME", ""), f.blocked)
		}
		for _, m := range messages {
			if m != messages[0] || !strings.Contains(m, "not found") {
				t.Errorf("table errors differ: %q", messages)
				break
			}
		}
	})

	t.Run("identity", func(t *testing.T) {
		// An identity limited to crm: the default database is refused, and
		// an unknown one names only crm.
		carol := engine.WithIdentity(ctx, engine.Identity{Name: "carol", Databases: []string{"crm"}})
		if _, err := f.getPrompt(carol, "explore_database", nil); err == nil || !strings.Contains(err.Error(), string(engine.CodeForbidden)) {
			t.Errorf("carol on demo: %v", err)
		}
		_, err := f.getPrompt(carol, "explore_database", map[string]string{"database": "nodb"})
		if err == nil || !strings.Contains(err.Error(), "configured: crm") || strings.Contains(err.Error(), "demo") {
			t.Errorf("carol, unknown database: %v", err)
		}
		if _, err := f.getPrompt(carol, "explore_database", map[string]string{"database": "crm", "table": "invoices"}); err != nil {
			t.Errorf("carol on crm: %v", err)
		}
		// An identity whose policy hides billing cannot start from it.
		dave := engine.WithIdentity(ctx, engine.Identity{Name: "dave", Policy: json.RawMessage(`{"allowed_schemas": ["public"]}`)})
		if _, err := f.getPrompt(dave, "explore_database", map[string]string{"table": "billing.plans"}); err == nil {
			t.Error("dave started from billing.plans, which his policy hides")
		}
		if text, err := f.getPrompt(dave, "explore_database", map[string]string{"table": "customers"}); err != nil || !strings.Contains(text, "public.customers") {
			t.Errorf("dave on customers: %v", err)
		}
	})

	t.Run("review_sql still listed", func(t *testing.T) {
		res, err := f.c.ListPrompts(ctx, mcp.ListPromptsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range res.Prompts {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		if strings.Join(names, ",") != "explore_database,review_sql" {
			t.Errorf("prompts = %v", names)
		}
	})
}
