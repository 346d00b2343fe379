package tools

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/pgmcp/pgmcp/schema"

	"github.com/pgmcp/pgmcp/tools/engine"
)

// Resource URIs. The scheme is pgmcp; the host is the database name.
const (
	resourceScheme        = "pgmcp://"
	schemaResourceFormat  = "pgmcp://%s/schema"
	tableResourceTemplate = "pgmcp://{database}/table/{name}"
	mimeText              = "text/plain"
)

// resources returns the pgmcp://{database}/schema resource of every
// database.
func (h *handlers) resources() []server.ServerResource {
	var out []server.ServerResource
	for _, db := range h.eng.Databases() {
		uri := fmt.Sprintf(schemaResourceFormat, db.Name)
		res := mcp.NewResource(uri, db.Name+" schema",
			mcp.WithResourceDescription(fmt.Sprintf("The tables, views and columns of database %s that may be queried, in pgmcp's compact text format (blocked tables and columns are never shown).", db.Name)),
			mcp.WithMIMEType(mimeText),
		)
		out = append(out, server.ServerResource{Resource: res, Handler: h.readSchemaResource})
	}
	return out
}

// resourceTemplates returns the pgmcp://{database}/table/{name} template.
func (h *handlers) resourceTemplates() []server.ServerResourceTemplate {
	tmpl := mcp.NewResourceTemplate(tableResourceTemplate, "Table",
		mcp.WithTemplateDescription("One table or view in pgmcp's compact text format: columns, types, keys, foreign keys, comments, values and row estimate. name is schema.table or table. Databases: "+h.databaseNames()),
		mcp.WithTemplateMIMEType(mimeText),
	)
	return []server.ServerResourceTemplate{{Template: tmpl, Handler: h.readTableResource}}
}

func (h *handlers) readSchemaResource(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	dbName, rest, ok := parseResourceURI(req.Params.URI)
	if !ok || rest != "schema" {
		return nil, notFound(req.Params.URI)
	}
	a, err := h.eng.Access(ctx, dbName)
	if err != nil {
		return nil, notFound(req.Params.URI)
	}
	prep, err := a.Schema().Get(ctx)
	if err != nil {
		return nil, resourceError(ctx, h, err)
	}
	return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: mimeText, Text: prep.Render().Text}}, nil
}

func (h *handlers) readTableResource(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	t, prep, err := h.lookupTableResource(ctx, req.Params.URI)
	if err != nil {
		return nil, err
	}
	return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: mimeText, Text: prep.Text(t, schema.FormFull)}}, nil
}

// lookupTableResource resolves pgmcp://{database}/table/{name}. An unknown
// database, an unknown table and a blocked table give the same not-found
// error.
func (h *handlers) lookupTableResource(ctx context.Context, uri string) (*schema.Table, *schema.Prepared, error) {
	dbName, rest, ok := parseResourceURI(uri)
	name, isTable := strings.CutPrefix(rest, "table/")
	if !ok || !isTable || name == "" {
		return nil, nil, notFound(uri)
	}
	a, err := h.eng.Access(ctx, dbName)
	if err != nil {
		return nil, nil, notFound(uri)
	}
	prep, err := a.Schema().Get(ctx)
	if err != nil {
		return nil, nil, resourceError(ctx, h, err)
	}
	t, err := prep.Lookup(name)
	if err != nil {
		return nil, nil, notFound(uri)
	}
	return t, prep, nil
}

// parseResourceURI splits pgmcp://{database}/{rest}, percent-decoded.
func parseResourceURI(uri string) (database, rest string, ok bool) {
	s, ok := strings.CutPrefix(uri, resourceScheme)
	if !ok {
		return "", "", false
	}
	database, rest, ok = strings.Cut(s, "/")
	if !ok {
		return "", "", false
	}
	var err1, err2 error
	database, err1 = url.PathUnescape(database)
	rest, err2 = url.PathUnescape(rest)
	return database, rest, err1 == nil && err2 == nil && database != ""
}

func notFound(uri string) error {
	return fmt.Errorf("%w: %s", mcp.ErrResourceNotFound, uri)
}

// resourceError logs an error reading a resource and returns a safe one:
// mcp-go sends a handler's error text to the client.
func resourceError(ctx context.Context, h *handlers, err error) error {
	body := engine.Describe(err)
	h.log.WarnContext(ctx, "resource read failed", "code", body.Code, "err", err)
	return fmt.Errorf("%s: %s", body.Code, body.Message)
}

// resourceHooks turn a read of a table resource that does not exist (or is
// blocked) into MCP's resource-not-found error (-32002; invalid params in
// the 2026-07-28 revision). mcp-go routes every URI matching a template to
// its handler and reports any handler error as an internal error, so the
// check is made before routing: the URI of a missing table is given an
// upper-case scheme (the same URI by RFC 3986, which matches no template),
// and mcp-go answers "resource not found" itself. Unknown and blocked
// tables take exactly the same path.
func (h *handlers) resourceHooks() *server.Hooks {
	hooks := &server.Hooks{}
	hooks.AddAfterListResources(hideView)
	hooks.AddBeforeReadResource(func(ctx context.Context, id any, req *mcp.ReadResourceRequest) {
		uri := req.Params.URI
		_, rest, ok := parseResourceURI(uri)
		if !ok || !strings.HasPrefix(rest, "table/") {
			return
		}
		if _, _, err := h.lookupTableResource(ctx, uri); err != nil && isNotFound(err) {
			req.Params.URI = strings.ToUpper(strings.TrimSuffix(resourceScheme, "://")) + "://" + strings.TrimPrefix(uri, resourceScheme)
		}
	})
	return hooks
}

func isNotFound(err error) bool { return errors.Is(err, mcp.ErrResourceNotFound) }
