package tools

import (
	"errors"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

func (s *testServer) read(t *testing.T, uri string) (string, error) {
	t.Helper()
	req := mcp.ReadResourceRequest{}
	req.Params.URI = uri
	res, err := s.c.ReadResource(ctxT(t), req)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, c := range res.Contents {
		tc, ok := c.(mcp.TextResourceContents)
		if !ok {
			t.Fatalf("%s: content %T, want text", uri, c)
		}
		if tc.MIMEType != "text/plain" || tc.URI != uri {
			t.Errorf("%s: MIME type %q, URI %q", uri, tc.MIMEType, tc.URI)
		}
		b.WriteString(tc.Text)
	}
	return b.String(), nil
}

func TestResources(t *testing.T) {
	t.Parallel()
	for _, era := range []struct {
		name string
		opts []client.ClientOption
	}{
		{"latest", nil},
		{"2025-11-25", []client.ClientOption{client.WithProtocolVersion(mcp.ProtocolVersion20251125)}},
	} {
		t.Run(era.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, era.opts...)
			ctx := ctxT(t)

			list, err := s.c.ListResources(ctx, mcp.ListResourcesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var uris []string
			for _, r := range list.Resources {
				uris = append(uris, r.URI)
			}
			if strings.Join(uris, ",") != "pgmcp://demo/schema,pgmcp://tight/schema" {
				t.Errorf("resources = %v", uris)
			}
			tmpls, err := s.c.ListResourceTemplates(ctx, mcp.ListResourceTemplatesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if len(tmpls.ResourceTemplates) != 1 || tmpls.ResourceTemplates[0].URITemplate.Raw() != "pgmcp://{database}/table/{name}" {
				t.Errorf("resource templates = %+v", tmpls.ResourceTemplates)
			}

			all, err := s.read(t, "pgmcp://demo/schema")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(all, "TABLE public.orders") || !strings.Contains(all, "PARTITIONED TABLE analytics.events") {
				t.Errorf("schema resource: %.300s", all)
			}
			assertNowhere(t, "pgmcp://demo/schema", all, s.blocked)

			// Every table, by qualified and by bare name.
			for _, name := range []string{"public.orders", "orders", "analytics.events", "billing.monthly_recurring_revenue", "public.customers"} {
				text, err := s.read(t, "pgmcp://demo/table/"+name)
				if err != nil {
					t.Errorf("table %s: %v", name, err)
					continue
				}
				if !strings.Contains(all, text) {
					t.Errorf("table %s is not its block of the schema: %.200s", name, text)
				}
				assertNowhere(t, "pgmcp://demo/table/"+name, text, s.blocked)
			}

			// Unknown table, blocked table, blocked partition-less name,
			// unknown database: all the same resource-not-found error.
			missing := map[string]string{
				"pgmcp://demo/table/billing.payment_cards": "billing.payment_cards",
				"pgmcp://demo/table/payment_cards":         "payment_cards",
				"pgmcp://demo/table/billing.payment_cardz": "billing.payment_cardz",
				"pgmcp://nodb/table/orders":                "",
			}
			var messages []string
			for uri, name := range missing {
				_, err := s.read(t, uri)
				if err == nil {
					t.Errorf("%s: read succeeded", uri)
					continue
				}
				if !errors.Is(err, mcp.ErrResourceNotFound) && !errors.Is(err, mcp.ErrInvalidParams) || errors.Is(err, mcp.ErrInternalError) {
					t.Errorf("%s: %v, want resource not found", uri, err)
				}
				if name != "" {
					messages = append(messages, strings.Replace(err.Error(), name, "NAME", 1))
				}
			}
			for _, m := range messages[1:] {
				if m != messages[0] {
					t.Errorf("not-found messages differ: %q", messages)
				}
			}
			for _, m := range messages {
				assertNowhere(t, "not-found message", strings.ReplaceAll(m, "NAME", ""), s.blocked)
			}
			if _, err := s.read(t, "pgmcp://nodb/schema"); err == nil || !errors.Is(err, mcp.ErrResourceNotFound) && !errors.Is(err, mcp.ErrInvalidParams) {
				t.Errorf("unknown database schema resource: %v", err)
			}
		})
	}
}
