package tools

import (
	"context"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/pgmcp/pgmcp/tools/webui"
)

// MCP Apps (the io.modelcontextprotocol/ui extension): query and explain
// link a result view, a ui:// resource the host renders in a sandboxed
// iframe and pushes the tool's result to. The link (the tools' _meta.ui)
// and the resource are shown only to a client whose capabilities name the
// extension with the view's MIME type, in the request's _meta (the
// 2026-07-28 revision) or at initialize (the 2025 revisions); every other
// client sees tools/list and resources/list exactly as without the view.
const (
	// UIExtension is the extension's key in a client's capabilities.
	UIExtension = "io.modelcontextprotocol/ui"
	// ViewMIMEType is the MIME type of an MCP Apps view.
	ViewMIMEType = "text/html;profile=mcp-app"
	// ViewURI is the result view's resource.
	ViewURI = "ui://pgmcp/result-view.html"
	// legacyResourceURIKey is the flat _meta key of the extension's first
	// drafts, which some hosts still read.
	legacyResourceURIKey = "ui/resourceUri"
)

// viewTools are the tools whose results the view shows.
var viewTools = []string{"query", "explain"}

// supportsUI says whether the client of ctx's request renders MCP Apps
// views.
func supportsUI(ctx context.Context) bool {
	var caps *mcp.ClientCapabilities
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.Modern {
		caps = info.ClientCapabilities
	} else if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
		c := s.GetClientCapabilities()
		caps = &c
	}
	if caps == nil {
		return false
	}
	ext, ok := caps.Extensions[UIExtension].(map[string]any)
	if !ok {
		return false
	}
	types, _ := ext["mimeTypes"].([]any)
	return slices.Contains(types, any(ViewMIMEType))
}

// withView is a tool filter: for a client that renders views, query and
// explain carry the link to the result view (on copies: the registered
// tools are shared by every client).
func withView(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
	if !supportsUI(ctx) {
		return tools
	}
	out := make([]mcp.Tool, len(tools))
	for i, t := range tools {
		if slices.Contains(viewTools, t.Name) {
			meta := &mcp.Meta{}
			if t.Meta != nil {
				meta.ProgressToken = t.Meta.ProgressToken
				for k, v := range t.Meta.AdditionalFields {
					meta.SetMetaField(k, v)
				}
			}
			meta.SetMetaField("ui", map[string]any{"resourceUri": ViewURI})
			meta.SetMetaField(legacyResourceURIKey, ViewURI)
			t.Meta = meta
		}
		out[i] = t
	}
	return out
}

// viewResource is the result view.
func (h *handlers) viewResource() server.ServerResource {
	res := mcp.NewResource(ViewURI, "Result view",
		mcp.WithResourceDescription("The interactive view of query and explain results for MCP Apps hosts: the SQL, a sortable table, a chart chosen by the column types, CSV download; for explain, the verdict, plan and warnings."),
		mcp.WithMIMEType(ViewMIMEType),
	)
	return server.ServerResource{Resource: res, Handler: func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return []mcp.ResourceContents{mcp.TextResourceContents{
			URI: ViewURI, MIMEType: ViewMIMEType, Text: webui.View().HTML,
			// Self-contained: it loads nothing, so the host's default,
			// strictest CSP suffices; no border of the host's is needed
			// around a page that draws its own.
			Meta: map[string]any{"ui": map[string]any{"prefersBorder": false}},
		}}, nil
	}}
}

// hideView is a resources/list hook: a client that does not render views
// is not shown the view (it may still read it by its URI).
func hideView(ctx context.Context, _ any, _ *mcp.ListResourcesRequest, res *mcp.ListResourcesResult) {
	if res == nil || supportsUI(ctx) {
		return
	}
	res.Resources = slices.DeleteFunc(res.Resources, func(r mcp.Resource) bool { return r.URI == ViewURI })
}
