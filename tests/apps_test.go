package tests

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

const (
	viewURI  = "ui://pgmcp/result-view.html"
	viewMIME = "text/html;profile=mcp-app"
)

// uiCapabilities are a client's capabilities naming the MCP Apps
// extension.
var uiCapabilities = mcp.ClientCapabilities{Extensions: map[string]any{
	"io.modelcontextprotocol/ui": map[string]any{"mimeTypes": []any{viewMIME}},
}}

// TestMCPAppsView: in both protocol eras, a client whose capabilities name
// the MCP Apps extension sees query and explain linked to the result view
// (_meta.ui.resourceUri, and the drafts' flat key) and the view among the
// resources; every other client (none, or the extension without the
// view's MIME type) sees tools and resources exactly as the first does
// without the link. The view is readable, one self-contained document.
func TestMCPAppsView(t *testing.T) {
	t.Parallel()
	srv := startHTTP(t, []string{"demo", "--http", "127.0.0.1:0"}, baseEnv())
	list := func(t *testing.T, opts []client.ClientOption) ([]byte, []mcp.Tool, []mcp.Resource, *client.Client) {
		t.Helper()
		c := httpClient(t, srv.base+"/mcp", opts...)
		initialize(t, c)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		tools, err := c.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(tools.Tools)
		return b, tools.Tools, res.Resources, c
	}
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			plainJSON, plain, plainRes, _ := list(t, era.opts)
			for _, tool := range plain {
				if tool.Meta != nil {
					t.Errorf("a client without the extension sees _meta on %s: %+v", tool.Name, tool.Meta)
				}
			}
			if slices.ContainsFunc(plainRes, func(r mcp.Resource) bool { return r.URI == viewURI }) {
				t.Errorf("a client without the extension is shown the view resource")
			}
			// The extension without the view's MIME type is no support.
			other := mcp.ClientCapabilities{Extensions: map[string]any{"io.modelcontextprotocol/ui": map[string]any{"mimeTypes": []any{"text/plain"}}}}
			otherJSON, _, otherRes, _ := list(t, append(slices.Clone(era.opts), client.WithClientCapabilities(other)))
			if string(otherJSON) != string(plainJSON) || len(otherRes) != len(plainRes) {
				t.Errorf("a client with another UI MIME type sees other tools or resources")
			}

			_, ui, uiRes, c := list(t, append(slices.Clone(era.opts), client.WithClientCapabilities(uiCapabilities)))
			for i, tool := range ui {
				linked := tool.Name == "query" || tool.Name == "explain"
				var uri, legacy any
				if tool.Meta != nil {
					uri = tool.Meta.AdditionalFields["ui"].(map[string]any)["resourceUri"]
					legacy = tool.Meta.AdditionalFields["ui/resourceUri"]
				}
				if linked && (uri != viewURI || legacy != viewURI) || !linked && tool.Meta != nil {
					t.Errorf("%s: _meta %+v (linked: %v)", tool.Name, tool.Meta, linked)
				}
				ui[i].Meta = nil
			}
			if b, _ := json.Marshal(ui); string(b) != string(plainJSON) {
				t.Errorf("apart from _meta, the tools differ:\n%s\n%s", b, plainJSON)
			}
			if len(uiRes) != len(plainRes)+1 || !slices.ContainsFunc(uiRes, func(r mcp.Resource) bool { return r.URI == viewURI && r.MIMEType == viewMIME }) {
				t.Errorf("resources for a UI client: %+v", uiRes)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			read, err := c.ReadResource(ctx, mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: viewURI}})
			if err != nil || len(read.Contents) != 1 {
				t.Fatalf("read the view: %v %+v", err, read)
			}
			tc, ok := read.Contents[0].(mcp.TextResourceContents)
			if !ok || tc.MIMEType != viewMIME || !strings.HasPrefix(tc.Text, "<!doctype html>") {
				t.Fatalf("the view: %T %q", read.Contents[0], tc.MIMEType)
			}
			// Self-contained: no element loads anything (no src, href,
			// srcset, CSS url(…) or @import), nothing names another origin
			// (but the SVG namespace, a name, not a place).
			text := strings.ReplaceAll(tc.Text, "http://www.w3.org/2000/svg", "")
			for _, re := range []string{`(?i)\s(src|href|srcset|action)\s*=`, `[\s:;,(]url\(`, `(?i)@import`, `(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`, `(?i)<(link|iframe|object|embed|base)\b`} {
				if m := regexp.MustCompile(re).FindString(text); m != "" {
					t.Errorf("the view is not self-contained: it has %q", m)
				}
			}
		})
	}
}

// TestWorkbenchServed: / of the HTTP server is the workbench, under a CSP
// that allows only its own inline script and style; PGMCP_HTTP_WORKBENCH=
// false turns it off.
func TestWorkbenchServed(t *testing.T) {
	t.Parallel()
	srv := startHTTP(t, []string{"demo", "--http", "127.0.0.1:0"}, baseEnv())
	resp, err := http.Get(srv.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "pgmcp workbench") ||
		!strings.Contains(csp, "script-src 'sha256-") || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("GET /: %d, CSP %q", resp.StatusCode, csp)
	}
	if !strings.Contains(srv.stderr.String(), srv.base+"/") {
		t.Errorf("the demo does not print the workbench's URL")
	}
	if resp, err := http.Get(srv.base + "/nothing-here"); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /nothing-here: %v %v", resp, err)
	}

	off := startHTTP(t, []string{"demo", "--http", "127.0.0.1:0"}, baseEnv("PGMCP_HTTP_WORKBENCH=false"))
	if resp, err := http.Get(off.base + "/"); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET / with PGMCP_HTTP_WORKBENCH=false: %v %v", resp, err)
	}
}
