// Package engine is pgmcp's application core, free of any transport: the
// databases a server serves and how they are opened, who is calling and
// what each caller may read, and the operations (Query, Explain, Schema)
// with the model loop, the execution gate, plan review, audit records,
// metrics and the one classification of errors. The MCP binding (package
// tools) and the terminal commands (pgmcp ask, pgmcp schema) are front
// ends over it; it never imports mcp-go.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

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
	// Schema is the database's schema cache. New creates it when nil;
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
	// Exec runs checked queries on Pool. New creates it when nil.
	Exec *pgexec.Executor
	// ServerVersion is the PostgreSQL major version, e.g. "15".
	ServerVersion string
	// TimeZone is the sessions' TimeZone setting, e.g. "UTC".
	TimeZone string
	// Examples are few-shot examples for the model (already checked by the
	// guard against Policy).
	Examples []prompts.Example
	// examples selects among Examples for a question (New makes it).
	examples *ExampleSelector
	// pending is set on a database that could not be reached when the
	// server started (see Pending): it has no pool, policy or schema, and
	// the engine opens it in the background.
	pending *pendingOpen
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

// StopBackground ends the database's background work (the value reads
// of its schema caches, the caller's narrowed ones included); call it
// before closing the pool.
func (db *Database) StopBackground() {
	if db.Schema != nil {
		db.Schema.Close()
	}
	db.narrow.mu.Lock()
	defer db.narrow.mu.Unlock()
	for _, n := range db.narrow.m {
		n.cache.Close()
	}
}

// Config is everything the engine needs.
type Config struct {
	// Databases are the databases served; the first is the default.
	Databases []*Database
	// Logger receives the server's logs (stderr; never stdout).
	Logger *slog.Logger
	// LLM writes SQL for questions; nil when no model is configured (SQL
	// still works).
	LLM *llm.Client
	// MaxRows is the most rows a query returns (a call may ask for fewer).
	MaxRows int
	// MaxAttempts is how many model calls a question may take, repairs
	// included (default 3).
	MaxAttempts int
	// Examples is how many few-shot examples a question is sent: the most
	// similar (ExampleSelector); 0 sends every example.
	Examples int
	// ExampleMethod is how they are chosen: one of ExampleMethods
	// (default ExamplesSimilar).
	ExampleMethod string
	// Candidates, above 1, is how many queries the model is asked for
	// per question; their results vote (see vote). CandidateTemperature
	// is the sampling temperature of all but the first (which is 0).
	Candidates           int
	CandidateTemperature float64
	// ResultChecks turns on the checks of a question's result (empty, a
	// NULL column, fan-out), each finding worth one repair round.
	ResultChecks bool
	// Limits bound every execution (MaxRows is set per call).
	Limits pgexec.Limits
	// MaxPlanCost, when positive, is the highest estimated plan cost a
	// query may have (PGMCP_MAX_PLAN_COST); Query refuses costlier SQL
	// with plan_too_expensive and Explain shows the cost against it.
	MaxPlanCost float64
	// GuardCache is how many accepted queries keep their guard verdict, by
	// exact text and policy version (0: 1024; negative: none).
	GuardCache int
	// Now returns the current time (tests fix it); nil means time.Now.
	Now func() time.Time
	// Audit, when set, receives one record per call.
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
	// TableTools are the tables (patterns: table or schema.table,
	// path.Match style) that get a tool of their own (TableTools,
	// FindRows); none when empty.
	TableTools []string
	// TableToolsOnly, with TableTools, serves no free-SQL tool (query,
	// explain): the binding leaves them out (SQLTools).
	TableToolsOnly bool
	// Admit, when set, is asked about a database that was Pending once it
	// opens, before it is served: an error keeps it unavailable, with that
	// error, and stops the retries (the server's check that its login
	// role is not one a caller may be given).
	Admit func(ctx context.Context, db *Database) error
}

// guardCacheBytes bounds the SQL text the guard's verdict cache holds.
const guardCacheBytes = 4 << 20

// Engine runs the operations over the configured databases. It is safe
// for concurrent use.
type Engine struct {
	cfg     Config
	rate    *rateLimiter
	gate    *gate
	metrics *Metrics
	// described holds get_schema's recent results (schemacache.go).
	described *describeCache
	// verdicts keeps the guard's recent verdicts (nil: none).
	verdicts *sqlguard.Verdicts
	// dbs are the configured databases, in order, a Pending one replaced
	// by the opened one when it comes up (copy on write).
	dbs atomic.Pointer[[]*Database]
	// retries are the background openings of Pending databases.
	retries retrier
	// tableTools are the per-table tools made of recent schemas (by the
	// caller's prepared schema; tablerows.go).
	tableTools tableToolCache
}

// TableToolsOn reports whether per-table tools are configured.
func (e *Engine) TableToolsOn() bool { return len(e.cfg.TableTools) > 0 }

// SQLTools reports whether the free-SQL tools (query, explain) are served:
// not when only per-table tools are.
func (e *Engine) SQLTools() bool { return !(e.TableToolsOn() && e.cfg.TableToolsOnly) }

// New checks cfg, fills in its defaults and builds what the operations
// share: executors, schema caches, the rate limiter and the gate.
func New(cfg Config) (*Engine, error) {
	if len(cfg.Databases) == 0 {
		return nil, fmt.Errorf("engine: no database configured")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxRows <= 0 {
		cfg.MaxRows = 1000
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	for _, db := range cfg.Databases {
		if db.pending != nil {
			continue
		}
		if err := prepare(db, cfg.Logger); err != nil {
			return nil, err
		}
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = 10 * time.Second
	}
	e := &Engine{cfg: cfg, rate: newRateLimiter(cfg.RateLimit), gate: newGate(cfg.MaxConcurrent, cfg.QueueWait), metrics: cfg.Metrics,
		described: newDescribeCache()}
	dbs := slices.Clone(cfg.Databases)
	e.dbs.Store(&dbs)
	e.setMetricsDatabases()
	switch {
	case cfg.GuardCache == 0:
		e.verdicts = sqlguard.NewVerdicts(1024, guardCacheBytes)
	case cfg.GuardCache > 0:
		e.verdicts = sqlguard.NewVerdicts(cfg.GuardCache, guardCacheBytes)
	}
	return e, nil
}

// prepare builds what serving db needs beside its pool and policy: the
// executor, the examples' selector and the schema cache.
func prepare(db *Database, logger *slog.Logger) error {
	if db.Policy == nil {
		return fmt.Errorf("engine: database %q has no policy", db.Name)
	}
	if db.Policy.Catalog == nil {
		// sqlguard would refuse every query (invalid_policy).
		return fmt.Errorf("engine: database %q: the policy has no catalog to resolve names against (pgexec.LoadCatalog)", db.Name)
	}
	if db.Exec == nil {
		db.Exec = pgexec.NewExecutor(db.Pool)
	}
	if len(db.Examples) > 0 {
		db.examples = NewExampleSelector(db.Examples, catalogWords(db.Policy))
	}
	if db.Schema == nil {
		opts := schema.DefaultOptions()
		if db.SchemaOptions != nil {
			opts = *db.SchemaOptions
		}
		db.Schema = schema.NewCache(db.Pool, SchemaFilter(db.Policy), opts, logger.With("database", db.Name))
	}
	return nil
}

// all returns the configured databases as they are now, Pending ones
// included, in order.
func (e *Engine) all() []*Database { return *e.dbs.Load() }

// Databases are the databases served now, the default first when it is:
// those still Pending are left out (see DatabaseStates).
func (e *Engine) Databases() []*Database {
	var out []*Database
	for _, db := range e.all() {
		if db.pending == nil {
			out = append(out, db)
		}
	}
	return out
}

// DatabaseNames lists the configured database names, in order, Pending
// ones included.
func (e *Engine) DatabaseNames() []string {
	all := e.all()
	names := make([]string, len(all))
	for i, db := range all {
		names[i] = db.Name
	}
	return names
}

// MaxRows is the most rows a query returns.
func (e *Engine) MaxRows() int { return e.cfg.MaxRows }

// Logger is the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.cfg.Logger }

// Database resolves a database argument: the default when name is empty.
//
// A database still Pending is an error (db_unavailable) that says when
// pgmcp tries again.
func (e *Engine) Database(name string) (*Database, error) {
	all := e.all()
	if name == "" {
		return available(all[0])
	}
	for _, db := range all {
		if db.Name == name {
			return available(db)
		}
	}
	names := e.DatabaseNames()
	sort.Strings(names)
	return nil, &Error{Code: CodeUnknownDatabase,
		Message: fmt.Sprintf("unknown database %q", name),
		Hint:    "use one of: " + strings.Join(names, ", ")}
}

// CallerDatabases are the names of the databases the caller in ctx may
// use, in configured order.
func (e *Engine) CallerDatabases(ctx context.Context) []string {
	id, ok := IdentityFrom(ctx)
	var out []string
	for _, db := range e.all() {
		if !ok || len(id.Databases) == 0 || slices.Contains(id.Databases, db.Name) {
			out = append(out, db.Name)
		}
	}
	return out
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

func (e *Engine) now() time.Time {
	if e.cfg.Now != nil {
		return e.cfg.Now()
	}
	return time.Now()
}
