package schema

import "time"

// Defaults of Options.
const (
	DefaultCacheTTL    = 5 * time.Minute
	DefaultTokenBudget = 6000
	DefaultLoadTimeout = 2 * time.Minute
)

// Options configure a database's schema Cache. The server fills them from
// its configuration:
//
//	schema.Options{
//		TTL:          cfg.SchemaCacheTTL,     // PGMCP_SCHEMA_CACHE_TTL, default 5m
//		TokenBudget:  cfg.SchemaTokenBudget,  // PGMCP_SCHEMA_TOKEN_BUDGET, default 6000
//		CommonValues: cfg.SchemaCommonValues, // PGMCP_SCHEMA_COMMON_VALUES, default true
//	}
//
// A zero TTL, TokenBudget or LoadTimeout takes its default. CommonValues has
// no default: false turns common values off (DefaultOptions has it on).
type Options struct {
	// TTL is how long a loaded schema is served without looking at the
	// database. The first call after it checks the catalog fingerprint (one
	// cheap query) and reloads only when the catalog changed.
	TTL time.Duration
	// TokenBudget is the default token budget of relevance selection (the
	// get_schema search argument and prompts).
	TokenBudget int
	// CommonValues shows the most common values of low-cardinality text and
	// enum columns, read from pg_stats (planner statistics; no table is
	// scanned).
	CommonValues bool
	// LoadTimeout bounds one catalog load (default 2m).
	LoadTimeout time.Duration
	// Values indexes, at each load, the distinct values of the text-like
	// columns the schema shows (LoadValues), for grounding questions
	// (Prepared.Values). The reads are the cache's role's.
	Values bool
	// ValuesPerColumn bounds the values read per column (default
	// DefaultValuesPerColumn).
	ValuesPerColumn int
	// ValuesTimeout bounds the value reads of one load (default
	// DefaultValuesTimeout).
	ValuesTimeout time.Duration
}

// DefaultOptions returns the defaults: TTL 5m, budget 6000 tokens, common
// values on.
func DefaultOptions() Options {
	return Options{TTL: DefaultCacheTTL, TokenBudget: DefaultTokenBudget, CommonValues: true, LoadTimeout: DefaultLoadTimeout}
}

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = DefaultCacheTTL
	}
	if o.TokenBudget <= 0 {
		o.TokenBudget = DefaultTokenBudget
	}
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = DefaultLoadTimeout
	}
	return o
}
