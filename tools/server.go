// Package tools is pgmcp's MCP surface: it builds the MCP server, declares
// the tools (get_schema, query, explain) and handles their calls. It is the
// only package besides cmd/pgmcp that knows MCP, and the only place where
// errors become tool results.
package tools

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/prompts"
	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// Database is one database the server serves.
type Database struct {
	// Name is what clients pass as the database argument.
	Name string
	// Pool is a pool made by pgexec.NewPool (every session read-only).
	Pool *pgxpool.Pool
	// SchemaOptions tune the schema cache (TTL, token budget, common
	// values); nil means schema.DefaultOptions().
	SchemaOptions *schema.Options
	// Schema is the database's schema cache. NewServer creates it when nil;
	// call Schema.Invalidate() to have it reloaded (SIGHUP).
	Schema *schema.Cache
	// Policy is what sqlguard lets queries read, as resolved against the
	// catalog at start. Its Catalog (pgexec.LoadCatalog) is required: the
	// guard resolves every name against it.
	Policy *sqlguard.Policy
	// Resolve, when set, resolves the policy against the catalog again (the
	// relation list of its allowed schemas, and a fresh catalog snapshot):
	// Reload calls it, for get_schema's refresh and for SIGHUP, so new
	// tables become queryable.
	Resolve func(ctx context.Context) (*sqlguard.Policy, error)
	// live is the policy last resolved by Reload (nil: Policy).
	live atomic.Pointer[sqlguard.Policy]
	// shadows is the last check for functions shadowing builtins.
	shadows shadowWatch
	// narrow holds the policy narrowed per identity that has one.
	narrow narrowings
	// Exec runs checked queries on Pool. NewServer creates it when nil.
	Exec *pgexec.Executor
	// ServerVersion is the PostgreSQL major version, e.g. "15".
	ServerVersion string
	// TimeZone is the sessions' TimeZone setting, e.g. "UTC".
	TimeZone string
	// Examples are few-shot examples for the model (already checked by the
	// guard against Policy).
	Examples []prompts.Example
}

// CurrentPolicy returns the policy queries are checked against now.
func (db *Database) CurrentPolicy() *sqlguard.Policy {
	if p := db.live.Load(); p != nil {
		return p
	}
	return db.Policy
}

// Reload resolves the policy again (when Resolve is set) and reloads the
// schema. On error the previous policy and schema stay in force.
func (db *Database) Reload(ctx context.Context) (*schema.Prepared, error) {
	if db.Resolve != nil {
		p, err := db.Resolve(ctx)
		if err != nil {
			return nil, err
		}
		db.live.Store(p)
		db.Schema.SetFilter(SchemaFilter(p))
	}
	return db.Schema.Refresh(ctx)
}

// Deps is everything the tools need.
type Deps struct {
	// Databases are the databases served; the first is the default.
	Databases []*Database
	// Logger receives the server's logs (stderr; never stdout).
	Logger *slog.Logger
	// Version is pgmcp's version, reported to clients.
	Version string
	// LLM writes SQL for questions; nil when no model is configured (SQL
	// still works).
	LLM *llm.Client
	// MaxRows is the most rows a query returns (a call may ask for fewer).
	MaxRows int
	// MaxAttempts is how many model calls a question may take, repairs
	// included (default 3).
	MaxAttempts int
	// Limits bound every execution (MaxRows is set per call).
	Limits pgexec.Limits
	// MaxPlanCost, when positive, is the highest estimated plan cost a
	// query may have (PGMCP_MAX_PLAN_COST); query refuses costlier SQL
	// with plan_too_expensive and explain shows the cost against it.
	MaxPlanCost float64
	// Now returns the current time (tests fix it); nil means time.Now.
	Now func() time.Time
	// Audit, when set, receives one record per tool call.
	Audit *AuditLog
	// Metrics, when set, records calls, model use and guard rejections.
	Metrics *Metrics
	// RateLimit limits each identity's calls (no limit when zero; calls
	// without an identity are never limited).
	RateLimit RateLimit
	// MaxConcurrent caps the database executions running at once across
	// the server (0: no cap); a call waits up to QueueWait for a slot.
	MaxConcurrent int
	QueueWait     time.Duration
}

// Instructions tell a client's model how to use the server.
const Instructions = `pgmcp answers questions about PostgreSQL databases, read-only.
Call get_schema first to see the tables and columns you may use. Use query to answer a question
(in plain English or as one SELECT), and explain to review a query's verdict, cost and risks
without running it.`

// NewServer builds the MCP server with every tool registered.
func NewServer(d Deps) (*server.MCPServer, error) {
	h, err := newHandlers(d)
	if err != nil {
		return nil, err
	}
	s := server.NewMCPServer("pgmcp", d.Version,
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		server.WithPromptCapabilities(false),
		server.WithCompletions(),
		server.WithPromptCompletionProvider(completions{h}),
		server.WithResourceCompletionProvider(completions{h}),
		server.WithHooks(h.resourceHooks()),
		server.WithInstructions(Instructions),
		server.WithRecovery(),
		server.WithToolHandlerMiddleware(h.middleware),
	)
	for _, t := range h.all() {
		s.AddTool(t.Tool, t.Handler)
	}
	s.AddPrompts(h.allPrompts()...)
	s.AddResources(h.resources()...)
	s.AddResourceTemplates(h.resourceTemplates()...)
	return s, nil
}

// newHandlers checks d, fills in its defaults and builds what the tools
// share: executors, schema caches, the rate limiter and the gate.
func newHandlers(d Deps) (*handlers, error) {
	if len(d.Databases) == 0 {
		return nil, fmt.Errorf("tools: no database configured")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.MaxRows <= 0 {
		d.MaxRows = 1000
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 3
	}
	for _, db := range d.Databases {
		if db.Policy == nil {
			return nil, fmt.Errorf("tools: database %q has no policy", db.Name)
		}
		if db.Policy.Catalog == nil {
			// sqlguard would refuse every query (invalid_policy).
			return nil, fmt.Errorf("tools: database %q: the policy has no catalog to resolve names against (pgexec.LoadCatalog)", db.Name)
		}
		if db.Exec == nil {
			db.Exec = pgexec.NewExecutor(db.Pool)
		}
		if db.Schema == nil {
			opts := schema.DefaultOptions()
			if db.SchemaOptions != nil {
				opts = *db.SchemaOptions
			}
			db.Schema = schema.NewCache(db.Pool, SchemaFilter(db.Policy), opts, d.Logger.With("database", db.Name))
		}
	}
	if d.QueueWait <= 0 {
		d.QueueWait = 10 * time.Second
	}
	return &handlers{deps: d, rate: newRateLimiter(d.RateLimit), gate: newGate(d.MaxConcurrent, d.QueueWait), metrics: d.Metrics}, nil
}

type handlers struct {
	deps    Deps
	rate    *rateLimiter
	gate    *gate
	metrics *Metrics
}

// all is the explicit list of tools.
func (h *handlers) all() []server.ServerTool {
	return []server.ServerTool{
		h.getSchemaTool(),
		h.queryTool(),
		h.explainTool(),
	}
}

// database resolves the optional database argument.
func (h *handlers) database(name string) (*Database, error) {
	if name == "" {
		return h.deps.Databases[0], nil
	}
	for _, db := range h.deps.Databases {
		if db.Name == name {
			return db, nil
		}
	}
	names := make([]string, len(h.deps.Databases))
	for i, db := range h.deps.Databases {
		names[i] = db.Name
	}
	sort.Strings(names)
	return nil, &Error{Code: CodeUnknownDatabase,
		Message: fmt.Sprintf("unknown database %q", name),
		Hint:    "use one of: " + strings.Join(names, ", ")}
}

// SchemaFilter is what the schema may show under a policy: the relations
// the guard lets queries read, never a blocked table or column.
func SchemaFilter(p *sqlguard.Policy) schema.Filter {
	set := map[string]bool{}
	for _, s := range p.AllowedSchemas {
		set[s] = true
	}
	for _, r := range p.AllowedRelations {
		if s, _, ok := strings.Cut(r, "."); ok {
			set[s] = true
		}
	}
	schemas := make([]string, 0, len(set))
	for s := range set {
		schemas = append(schemas, s)
	}
	sort.Strings(schemas)
	return schema.Filter{
		Schemas:        schemas,
		Relations:      p.AllowedRelations,
		BlockedTables:  p.BlockedRelations,
		BlockedColumns: p.BlockedColumns,
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
	names := make([]string, len(h.deps.Databases))
	for i, db := range h.deps.Databases {
		names[i] = db.Name
	}
	return strings.Join(names, ", ")
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
