package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/httpauth"
	"github.com/pgmcp/pgmcp/tools/engine"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// envPrefix is the prefix of every pgmcp environment variable.
const envPrefix = "PGMCP_"

// Limits the configuration may not exceed.
const (
	maxRowsCeiling = 10000
)

// Config is pgmcp's whole configuration, read from PGMCP_* environment
// variables. It is nested by concern: each part is a struct of its own,
// which checks its fields in its validate method (AuditConfig has nothing
// to check), most read under a prefix of their own (envPrefix:"LLM_" reads
// LLMConfig's Model from PGMCP_LLM_MODEL; Policy and Limits have none).
// The desc tags feed the configuration table in README.md, in field order
// (TestREADMEConfigTable keeps the two in step).
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" desc:"PostgreSQL connection URL (or key=value DSN) of the one database to serve. Use a read-only role."`
	Databases   string `env:"DATABASES" desc:"JSON list of named databases, each {\"name\", \"url\", \"policy\" or \"policy_file\", \"examples_file\", \"pooler\"}; one server serves them all and every tool takes a database argument. Exclusive with PGMCP_DATABASE_URL."`

	TableTools     []string `env:"TABLE_TOOLS" desc:"Comma-separated tables that get a tool of their own ({table}_find: typed filters, pgmcp builds the SQL with parameters), as table or schema.table, path.Match patterns allowed (e.g. orders,public.order_*, or * for every permitted table; at most 50 tools, the most central tables first). Off when empty."`
	TableToolsOnly bool     `env:"TABLE_TOOLS_ONLY" envDefault:"false" desc:"With PGMCP_TABLE_TOOLS: serve no free-SQL tools (query and explain): callers get get_schema, find_values and the per-table tools only."`

	Demo bool `env:"DEMO" envDefault:"false" desc:"With serve: serve the built-in demo database on a private throwaway PostgreSQL instead, as pgmcp demo does (PostgreSQL's server programs must be installed). For launchers that pass settings only as environment, such as the Claude Desktop bundle."`

	Pooler string `env:"POOLER" desc:"What is between pgmcp and PostgreSQL: none (a dedicated session per connection), transaction (a transaction-mode pooler such as PgBouncer: every transaction sets its own read-only mode, timeouts, role and search_path, and no statement is prepared on a session), or unset: none, unless the server refuses pgmcp's start-up parameters as PgBouncer does. An entry of PGMCP_DATABASES may set its own (\"pooler\")."`

	Policy              PolicyConfig
	AllowPrivilegedRole bool `env:"ALLOW_PRIVILEGED_ROLE" envDefault:"false" desc:"Start even when the role is a superuser or has BYPASSRLS (logs a warning at every start)."`

	Limits LimitsConfig

	LLM          LLMConfig `envPrefix:"LLM_"`
	ExamplesFile string    `env:"EXAMPLES_FILE" desc:"JSON Lines of few-shot examples {\"question\", \"sql\"} shown to the model; each must pass the guard."`

	Schema SchemaConfig `envPrefix:"SCHEMA_"`

	HTTP            HTTPConfig    `envPrefix:"HTTP_"`
	TLS             TLSConfig     `envPrefix:"TLS_"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"30s" desc:"On SIGTERM/SIGINT over HTTP, or when stdin closes over stdio, how long calls in flight may take to finish; what is left is then cancelled, and pgmcp exits within this plus 3s (over stdio a signal cancels at once)."`
	StdioWorkers    int           `env:"STDIO_WORKERS" envDefault:"0" desc:"Tool calls run at once over stdio (0: 64, or the execution cap when higher; database work is still bounded by PGMCP_MAX_CONCURRENT_QUERIES); more wait their turn, while ping and the list requests are answered at once."`

	Auth  AuthConfig  `envPrefix:"AUTH_"`
	Audit AuditConfig `envPrefix:"AUDIT_"`

	LogLevel string `env:"LOG_LEVEL" envDefault:"info" desc:"debug, info, warn or error. Logs go to stderr."`
	TraceSQL bool   `env:"TRACE_SQL" envDefault:"false" desc:"With OpenTelemetry tracing on (an OTEL_EXPORTER_OTLP_ENDPOINT set; see docs/SERVING.md), record the checked SQL text (db.query.text) on the guard and database spans. Off, spans say what ran where, never the text."`

	// Resolved by Load and Validate; not read from the environment directly.
	databases []DatabaseConfig
	logLevel  slog.Level
}

// PolicyConfig is the policy of PGMCP_DATABASE_URL (the entries of
// PGMCP_DATABASES bring their own, which these lists add to).
type PolicyConfig struct {
	File           string   `env:"POLICY_FILE" desc:"JSON policy file (allowed_schemas or allowed_relations, blocked_relations, blocked_columns, search_path) for PGMCP_DATABASE_URL."`
	AllowedSchemas []string `env:"ALLOWED_SCHEMAS" desc:"Comma-separated schemas whose tables and views may be read (default public). Exclusive with PGMCP_POLICY_FILE."`
	SearchPath     []string `env:"SEARCH_PATH" desc:"search_path pinned on every session (default: the allowed schemas)."`
	BlockedTables  []string `env:"BLOCKED_TABLES" desc:"Comma-separated schema.table list never shown nor readable (added to the policy file's)."`
	BlockedColumns []string `env:"BLOCKED_COLUMNS" desc:"Comma-separated schema.table.column list never shown nor readable (added to the policy file's)."`
}

// LimitsConfig bounds what one query may cost and return, the database
// pools, and how much work the server takes on at once.
type LimitsConfig struct {
	MaxRows          int           `env:"MAX_ROWS" envDefault:"1000" desc:"Most rows a query returns (hard ceiling 10000)."`
	StatementTimeout time.Duration `env:"STATEMENT_TIMEOUT" envDefault:"10s" desc:"statement_timeout of every query."`
	ConnectTimeout   time.Duration `env:"CONNECT_TIMEOUT" envDefault:"8s" desc:"How long start-up waits for a database to answer (start-up fails within 10s by default)."`
	MaxConns         int           `env:"MAX_CONNS" envDefault:"10" desc:"Connections per database pool."`
	FailbackAfter    time.Duration `env:"FAILBACK_AFTER" envDefault:"10s" desc:"With target_session_attrs=prefer-standby in a database URL: a connection that fell back to the primary (no standby answered) is closed once older than this, so calls return to a standby that came back, without a restart."`

	MaxPlanCost    float64       `env:"MAX_PLAN_COST" envDefault:"0" desc:"When above 0, query refuses SQL whose estimated plan cost (EXPLAIN, as it would run) is higher, with plan_too_expensive; explain shows the cost against it. Off by default."`
	MaxResultBytes int           `env:"MAX_RESULT_BYTES" envDefault:"1048576" desc:"Most bytes of row data a query returns; the result is truncated (and says so) beyond it."`
	MaxCellBytes   int           `env:"MAX_CELL_BYTES" envDefault:"65536" desc:"Longest single value returned; longer values are cut and marked."`
	MaxRowBytes    int           `env:"MAX_ROW_BYTES" envDefault:"8388608" desc:"Largest message (one row) pgmcp reads from PostgreSQL: a larger row is never buffered; the call ends with result_too_large and the connection is dropped."`
	ExplainTimeout time.Duration `env:"EXPLAIN_TIMEOUT" envDefault:"3s" desc:"statement_timeout of EXPLAIN (planning only; capped by PGMCP_STATEMENT_TIMEOUT): bounds what the planner folds at plan time."`

	RateLimit      string        `env:"RATE_LIMIT" envDefault:"300/min" desc:"Calls each authenticated identity may make, e.g. 60/min, 5/s or off (stdio and unauthenticated loopback calls are not limited)."`
	RateBurst      int           `env:"RATE_BURST" envDefault:"60" desc:"Calls an identity may make in a burst above its rate."`
	MaxConcurrent  int           `env:"MAX_CONCURRENT_QUERIES" envDefault:"0" desc:"Database executions running at once across the server (0: PGMCP_MAX_CONNS); more wait up to PGMCP_QUEUE_TIMEOUT, then fail with busy."`
	QueueTimeout   time.Duration `env:"QUEUE_TIMEOUT" envDefault:"10s" desc:"How long a call waits for an execution slot before busy."`
	GuardCache     int           `env:"GUARD_CACHE" envDefault:"1024" desc:"Accepted queries whose guard verdict is kept, by exact text and policy version (0: none): SQL sent again is not parsed again. At most 4 MiB of SQL text is kept."`
	AcquireTimeout time.Duration `env:"ACQUIRE_TIMEOUT" envDefault:"5s" desc:"How long a call waits for a database connection; a database that is down fails calls within it with db_unavailable."`
}

// LLMConfig is the model endpoint questions go to (PGMCP_LLM_*).
type LLMConfig struct {
	BaseURL        string        `env:"BASE_URL" desc:"Base URL of an OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 for Ollama (falls back to OPENAI_BASE_URL; default https://api.openai.com/v1)."`
	APIKey         string        `env:"API_KEY" desc:"API key of the model endpoint (falls back to OPENAI_API_KEY); local servers need none."`
	Model          string        `env:"MODEL" desc:"Model name, e.g. gpt-4o-mini or llama3.1:8b. Without a model, questions are refused and SQL still works."`
	Timeout        time.Duration `env:"TIMEOUT" envDefault:"60s" desc:"Longest a question may take: every model call and repair (HTTP retries included) and the queries run between them; a question past it ends with llm_timeout."`
	MaxAnswerBytes int           `env:"MAX_ANSWER_BYTES" envDefault:"65536" desc:"Longest model answer accepted, in bytes; a longer one ends the question with llm_answer_too_large and is never sent back to the model. pgmcp reads at most 16 times this (at least 1 MiB) of a response."`
	MaxAttempts    int           `env:"MAX_ATTEMPTS" envDefault:"3" desc:"Model calls per question, repairs of refused or failed SQL included."`
	JSONMode       bool          `env:"JSON_MODE" envDefault:"false" desc:"Ask the endpoint for JSON output (response_format); turned off by itself if the endpoint refuses it."`
	Examples       int           `env:"EXAMPLES" envDefault:"5" desc:"Few-shot examples sent per question, from the examples file: the most similar to the question (masked question similarity, varied SQL shapes); 0 sends them all."`
	ExampleMethod  string        `env:"EXAMPLES_METHOD" envDefault:"similar" desc:"How the examples are chosen: similar (the most similar questions, with varied SQL shapes), question (similarity alone) or first (the file's first ones)."`
	Candidates     int           `env:"CANDIDATES" envDefault:"1" desc:"Candidate queries asked of the model per question (1 to 10). Above 1, each runs read-only under reduced limits and the result most candidates agree on wins (ties: the cheaper plan); the result reports the vote. Costs that many model calls."`
	CandidateTemp  float64       `env:"CANDIDATE_TEMPERATURE" envDefault:"0.8" desc:"Sampling temperature of every candidate but the first (which is 0), 0 to 2."`
	ResultChecks   bool          `env:"RESULT_CHECKS" envDefault:"true" desc:"Check a question's result before answering: no rows, a column NULL in every row, or a join multiplying rows (more than the biggest table read, or far more than planned) lead to one repair round with what was seen (it counts in MAX_ATTEMPTS; the result reports it in result_checks)."`
}

// SchemaConfig is how the schema is cached and shown to the model
// (PGMCP_SCHEMA_*).
type SchemaConfig struct {
	CacheTTL        time.Duration `env:"CACHE_TTL" envDefault:"5m" desc:"How long the schema is served from cache before a change check; the check runs in the background and calls never wait for it (SIGHUP reloads at once)."`
	TokenBudget     int           `env:"TOKEN_BUDGET" envDefault:"6000" desc:"Tokens of schema sent to the model; over it, the tables most relevant to the question are chosen."`
	CommonValues    bool          `env:"COMMON_VALUES" envDefault:"true" desc:"Show the model the most common values of low-cardinality text and enum columns (from pg_stats; never blocked columns)."`
	Values          bool          `env:"VALUES" envDefault:"true" desc:"At each schema load, index the distinct values of text columns (bounded, sampled on big tables, 20s at most; never blocked columns) and show the model those matching the question's words. Callers with a database role of their own get no hints (the index is read as the login role)."`
	ValuesPerColumn int           `env:"VALUES_PER_COLUMN" envDefault:"1000" desc:"Most distinct values indexed per column (the most frequent first)."`
}

// HTTPConfig is the streamable HTTP transport: its address, MCP sessions,
// browser origins and the bounds of the HTTP server (PGMCP_HTTP_*).
type HTTPConfig struct {
	Addr string `env:"ADDR" desc:"Serve streamable HTTP on this address instead of stdio (the --http flag wins)."`

	SessionIdleTimeout time.Duration `env:"SESSION_IDLE_TIMEOUT" envDefault:"10m" desc:"An MCP session (2025-11-25 handshake) unused this long is closed and its memory freed; its ID then gets 404 and the client initializes again."`
	MaxSessions        int           `env:"MAX_SESSIONS" envDefault:"1000" desc:"Most MCP sessions kept at once: a new one closes the session idle the longest, or gets 503 when every session has a request in flight."`
	Workbench          bool          `env:"WORKBENCH" envDefault:"true" desc:"Serve the browser workbench at / (a page that is an MCP client of /mcp, behind the same authentication: it asks for the token)."`
	Stateless          bool          `env:"STATELESS" envDefault:"false" desc:"Keep no MCP session: every request is served on its own, so several pgmcp can sit behind a load balancer without sticky sessions (GET and DELETE get 405)."`
	AllowedOrigins     []string      `env:"ALLOWED_ORIGINS" desc:"Comma-separated exact origins (scheme://host[:port], or null) whose browser requests /mcp serves, with CORS, besides its own; a request with any other Origin gets 403."`

	ReadHeaderTimeout time.Duration `env:"READ_HEADER_TIMEOUT" envDefault:"10s" desc:"How long a client may take to send a request's headers (the TLS handshake included); a slower one is disconnected (slowloris)."`
	ReadBodyTimeout   time.Duration `env:"READ_BODY_TIMEOUT" envDefault:"30s" desc:"How long a client may take to send a request's body after its headers; a slower upload is cut. It does not bound the call the request makes."`
	WriteTimeout      time.Duration `env:"WRITE_TIMEOUT" envDefault:"30s" desc:"How long writing a response (or one event of an SSE stream) may stay blocked on a client that does not read; it bounds neither a call's run time nor how long a stream stays open."`
	IdleTimeout       time.Duration `env:"IDLE_TIMEOUT" envDefault:"60s" desc:"How long a kept-alive connection may wait for its next request before it is closed."`
	MaxConnections    int           `env:"MAX_CONNECTIONS" envDefault:"1000" desc:"Most client connections open at once (lowered at start to fit the file descriptor limit). At the cap, the connection idle the longest is closed for a new one; with none idle, new ones wait to be accepted."`
}

// TLSConfig is the certificate HTTPS is served with (PGMCP_TLS_*).
type TLSConfig struct {
	CertFile string `env:"CERT_FILE" desc:"PEM certificate (chain) to serve HTTPS instead of HTTP; with PGMCP_TLS_KEY_FILE. Without it, put a TLS proxy in front of any non-loopback listener."`
	KeyFile  string `env:"KEY_FILE" desc:"PEM private key of PGMCP_TLS_CERT_FILE."`
}

// AuthConfig is the HTTP authentication (PGMCP_AUTH_*). Its fields are
// named as httpauth.Config's, so that the problems httpauth finds name
// their variable.
type AuthConfig struct {
	TokensFile           string        `env:"TOKENS_FILE" desc:"HTTP bearer tokens: a JSON list of {\"name\", \"token_sha256\", \"role\", \"databases\", \"policy\"} (see pgmcp token new). Only SHA-256 hashes are stored; SIGHUP reloads it."`
	JWKSURL              string        `env:"JWKS_URL" desc:"Turns on JWT bearer tokens: the URL of the issuer's JWKS (RS256 and ES256 keys, fetched again every PGMCP_AUTH_JWKS_REFRESH and on an unknown key id)."`
	Issuer               string        `env:"ISSUER" desc:"Exact iss claim of accepted JWTs (required with PGMCP_AUTH_JWKS_URL)."`
	Audience             string        `env:"AUDIENCE" desc:"A value the aud claim of accepted JWTs must contain (required with PGMCP_AUTH_JWKS_URL)."`
	ResourceURL          string        `env:"RESOURCE_URL" desc:"The public URL of the MCP endpoint, e.g. https://pgmcp.example.com/mcp: the resource of the OAuth protected-resource metadata (required with JWTs; derived from the request otherwise)."`
	AuthorizationServers []string      `env:"SERVERS" desc:"Comma-separated authorization server URLs listed in the protected-resource metadata (default: PGMCP_AUTH_ISSUER)."`
	IdentityClaim        string        `env:"IDENTITY_CLAIM" envDefault:"sub" desc:"JWT claim naming the caller in the audit log and rate limits."`
	RoleClaim            string        `env:"ROLE_CLAIM" desc:"JWT claim holding the PostgreSQL role the caller's queries run as (SET LOCAL ROLE); tokens without it are refused when set."`
	DatabasesClaim       string        `env:"DATABASES_CLAIM" desc:"JWT claim listing the databases the caller may use; tokens without it are refused when set."`
	JWKSRefresh          time.Duration `env:"JWKS_REFRESH" envDefault:"15m" desc:"How often the JWKS is fetched again."`
	AllowedRoles         []string      `env:"ALLOWED_ROLES" desc:"Comma-separated roles the role claim may name: exact names or path.Match patterns such as analyst_* (required with PGMCP_AUTH_ROLE_CLAIM). pgmcp's login role and pg_* roles are refused whatever the list."`
	MaxTokenLifetime     time.Duration `env:"MAX_TOKEN_LIFETIME" envDefault:"0" desc:"When above 0, JWTs must carry iat and exp, and be valid for at most this long (exp-iat, and exp-now). Off (0) by default."`
}

// AuditConfig is the audit log of tool calls (PGMCP_AUDIT_*).
type AuditConfig struct {
	Log      string `env:"LOG" desc:"Audit log of every tool call (JSON Lines): a file path (appended to; SIGHUP reopens it, for log rotation), or stderr. Off when empty."`
	Required bool   `env:"REQUIRED" envDefault:"true" desc:"With PGMCP_AUDIT_LOG set, no call goes unaudited: once a record cannot be written, calls are refused with audit_unavailable until one can, and the result of a call whose record failed is withheld. false: calls go on and pgmcp_audit_write_failures_total counts the lost records."`
}

// DatabaseConfig is one entry of PGMCP_DATABASES (or the single database of
// PGMCP_DATABASE_URL).
type DatabaseConfig struct {
	Name         string          `json:"name"`
	URL          string          `json:"url"`
	PolicyFile   string          `json:"policy_file,omitempty"`
	Policy       json.RawMessage `json:"policy,omitempty"`
	ExamplesFile string          `json:"examples_file,omitempty"`
	// Pooler overrides PGMCP_POOLER for this database.
	Pooler string `json:"pooler,omitempty"`
}

// LoadConfig reads the configuration from the environment (environ is
// os.Environ()-style) and validates it.
func LoadConfig(environ []string) (*Config, error) {
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	// env also looks each nested part itself up, under its parent's prefix
	// and no name of its own (PGMCP_), and fails on a value found there: no
	// variable is named PGMCP_, so drop it.
	delete(vars, envPrefix)
	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Prefix: envPrefix, Environment: vars}); err != nil {
		return nil, configParseError(err)
	}
	if cfg.LLM.APIKey == "" {
		cfg.LLM.APIKey = vars["OPENAI_API_KEY"]
	}
	if cfg.LLM.BaseURL == "" {
		cfg.LLM.BaseURL = vars["OPENAI_BASE_URL"]
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// configParseError rewrites env's parse errors to name the variable.
func configParseError(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	var msgs []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			msgs = append(msgs, fmt.Sprintf("%s: cannot parse as %s: %v", varOfField(pe.Name), kindName(pe.Type), pe.Err))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return &ConfigError{Problems: msgs}
}

func kindName(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Duration]():
		return "a duration (e.g. 10s, 1m)"
	case reflect.TypeFor[int]():
		return "a whole number"
	case reflect.TypeFor[float64]():
		return "a number"
	case reflect.TypeFor[bool]():
		return "true or false"
	}
	return t.String()
}

// varOfField returns the environment variable of a Config field, named by
// its path ("LLM.Timeout"; "DatabaseURL" for a field of Config itself), or by
// its own name alone ("Timeout") when no other field bears it: env's parse
// errors name the field only (TestConfigFieldNamesUnique keeps the names
// apart). Any other name is returned as it is.
func varOfField(field string) string {
	var named []string
	for _, f := range configVars() {
		if f.Path == field {
			return f.Name
		}
		if f.Field == field {
			named = append(named, f.Name)
		}
	}
	if len(named) == 1 {
		return named[0]
	}
	return field
}

// ConfigError lists every problem found in the configuration.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "invalid configuration: " + strings.Join(e.Problems, "; ")
}

var dbNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,62}$`)

// HTTPAuth is the configuration of the httpauth package.
func (a *AuthConfig) HTTPAuth() httpauth.Config {
	return httpauth.Config{
		TokensFile:           a.TokensFile,
		JWKSURL:              a.JWKSURL,
		Issuer:               a.Issuer,
		Audience:             a.Audience,
		IdentityClaim:        a.IdentityClaim,
		RoleClaim:            a.RoleClaim,
		DatabasesClaim:       a.DatabasesClaim,
		JWKSRefresh:          a.JWKSRefresh,
		ResourceURL:          a.ResourceURL,
		AuthorizationServers: a.AuthorizationServers,
		AllowedRoles:         a.AllowedRoles,
		MaxTokenLifetime:     a.MaxTokenLifetime,
	}
}

// Bounds of the HTTP session settings.
const (
	minSessionIdleTimeout = time.Second
	maxSessionIdleTimeout = 24 * time.Hour
	maxSessionsCeiling    = 100000
	maxConnectionsCeiling = 1000000
	maxStdioWorkers       = 10000
)

// problems collects what is wrong with the configuration, each problem
// starting with the variable it is about.
type problems []string

// reporter reports a problem with a field of one part of the
// configuration, the field named as in that part's struct.
type reporter func(field, format string, args ...any)

// of returns the reporter of the part of Config at path ("LLM"; "" for
// the fields of Config itself).
func (p *problems) of(path string) reporter {
	return func(field, format string, args ...any) {
		if path != "" {
			field = path + "." + field
		}
		*p = append(*p, varOfField(field)+": "+fmt.Sprintf(format, args...))
	}
}

// Validate checks every value and resolves the database list. Each part
// checks its own fields; the problems of all are returned together.
func (c *Config) Validate() error {
	var p problems
	c.validateOwn(p.of(""))
	c.Policy.validate(p.of("Policy"))
	c.Limits.validate(p.of("Limits"))
	c.LLM.validate(p.of("LLM"))
	c.Schema.validate(p.of("Schema"))
	c.HTTP.validate(p.of("HTTP"))
	c.TLS.validate(p.of("TLS"))
	c.Auth.validate(p.of("Auth"))
	c.resolveDatabases(p.of(""))
	if len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

// validateOwn checks the fields of Config itself, the databases aside
// (resolveDatabases), and sets the log level.
func (c *Config) validateOwn(bad reporter) {
	if c.ExamplesFile != "" {
		if _, err := os.Stat(c.ExamplesFile); err != nil {
			bad("ExamplesFile", "cannot read %s", c.ExamplesFile)
		}
	}
	if c.ShutdownTimeout <= 0 {
		bad("ShutdownTimeout", "must be positive, got %s", c.ShutdownTimeout)
	}
	if !validPooler(c.Pooler) {
		bad("Pooler", "must be none or transaction (or unset, to detect a pooler), got %q", c.Pooler)
	}
	if c.StdioWorkers < 0 || c.StdioWorkers > maxStdioWorkers {
		bad("StdioWorkers", "must be between 0 (the default) and %d, got %d", maxStdioWorkers, c.StdioWorkers)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		c.logLevel = slog.LevelDebug
	case "info", "":
		c.logLevel = slog.LevelInfo
	case "warn", "warning":
		c.logLevel = slog.LevelWarn
	case "error":
		c.logLevel = slog.LevelError
	default:
		bad("LogLevel", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
}

func (pc *PolicyConfig) validate(bad reporter) {
	if pc.File != "" && len(pc.AllowedSchemas) > 0 {
		bad("AllowedSchemas", "set either it or PGMCP_POLICY_FILE, not both")
	}
	for _, s := range pc.AllowedSchemas {
		if !validIdent(s) {
			bad("AllowedSchemas", "%q is not a schema name", s)
		}
	}
	for _, s := range pc.SearchPath {
		if !validIdent(s) {
			bad("SearchPath", "%q is not a schema name", s)
		}
	}
	for _, t := range pc.BlockedTables {
		if parts := strings.Split(t, "."); len(parts) != 2 || !validIdent(parts[0]) || !validIdent(parts[1]) {
			bad("BlockedTables", "%q is not schema.table", t)
		}
	}
	for _, col := range pc.BlockedColumns {
		if parts := strings.Split(col, "."); len(parts) != 3 || !validIdent(parts[0]) || !validIdent(parts[1]) || !validIdent(parts[2]) {
			bad("BlockedColumns", "%q is not schema.table.column", col)
		}
	}
	if pc.File != "" {
		if _, err := os.Stat(pc.File); err != nil {
			bad("File", "cannot read %s", pc.File)
		}
	}
}

func (l *LimitsConfig) validate(bad reporter) {
	switch {
	case l.MaxRows < 1:
		bad("MaxRows", "must be at least 1, got %d", l.MaxRows)
	case l.MaxRows > maxRowsCeiling:
		bad("MaxRows", "%d is above the hard ceiling of %d", l.MaxRows, maxRowsCeiling)
	}
	if l.StatementTimeout < 0 {
		bad("StatementTimeout", "must not be negative")
	} else if l.StatementTimeout > 0 && l.StatementTimeout < time.Millisecond {
		bad("StatementTimeout", "must be at least 1ms (or 0 for none)")
	}
	if l.ConnectTimeout <= 0 {
		bad("ConnectTimeout", "must be positive, got %s", l.ConnectTimeout)
	}
	if l.FailbackAfter <= 0 {
		bad("FailbackAfter", "must be positive, got %s", l.FailbackAfter)
	}
	if l.MaxConns < 1 || l.MaxConns > 1000 {
		bad("MaxConns", "must be between 1 and 1000, got %d", l.MaxConns)
	}
	if l.GuardCache < 0 || l.GuardCache > 100000 {
		bad("GuardCache", "must be between 0 and 100000, got %d", l.GuardCache)
	}
	if l.MaxPlanCost < 0 {
		bad("MaxPlanCost", "must not be negative (0 turns it off), got %g", l.MaxPlanCost)
	}
	if l.MaxResultBytes < 1024 || l.MaxResultBytes > 64<<20 {
		bad("MaxResultBytes", "must be between 1024 and %d, got %d", 64<<20, l.MaxResultBytes)
	}
	if l.MaxCellBytes < 16 || l.MaxCellBytes > l.MaxResultBytes {
		bad("MaxCellBytes", "must be between 16 and PGMCP_MAX_RESULT_BYTES, got %d", l.MaxCellBytes)
	}
	if l.MaxRowBytes < 1<<20 || l.MaxRowBytes > 1<<30 || l.MaxRowBytes < l.MaxCellBytes {
		bad("MaxRowBytes", "must be between 1 MiB and 1 GiB and at least PGMCP_MAX_CELL_BYTES, got %d", l.MaxRowBytes)
	}
	if l.ExplainTimeout <= 0 {
		bad("ExplainTimeout", "must be positive, got %s", l.ExplainTimeout)
	}
	if _, err := parseRate(l.RateLimit); err != nil {
		bad("RateLimit", "%v", err)
	}
	if l.RateBurst < 1 {
		bad("RateBurst", "must be at least 1, got %d", l.RateBurst)
	}
	if l.MaxConcurrent < 0 {
		bad("MaxConcurrent", "must not be negative, got %d", l.MaxConcurrent)
	}
	if l.QueueTimeout <= 0 {
		bad("QueueTimeout", "must be positive, got %s", l.QueueTimeout)
	}
	if l.AcquireTimeout <= 0 {
		bad("AcquireTimeout", "must be positive, got %s", l.AcquireTimeout)
	}
}

func (m *LLMConfig) validate(bad reporter) {
	if m.Examples < 0 || m.Examples > 100 {
		bad("Examples", "must be between 0 and 100, got %d", m.Examples)
	}
	if m.BaseURL != "" {
		if u, err := url.Parse(m.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("BaseURL", "must be an http(s) URL")
		}
	}
	if m.Timeout <= 0 {
		bad("Timeout", "must be positive, got %s", m.Timeout)
	}
	if m.MaxAnswerBytes < 1024 || m.MaxAnswerBytes > 16<<20 {
		bad("MaxAnswerBytes", "must be between 1024 and 16777216, got %d", m.MaxAnswerBytes)
	}
	if m.MaxAttempts < 1 || m.MaxAttempts > 10 {
		bad("MaxAttempts", "must be between 1 and 10, got %d", m.MaxAttempts)
	}
	if !slices.Contains(engine.ExampleMethods, m.ExampleMethod) {
		bad("ExampleMethod", "must be one of %s, got %q", strings.Join(engine.ExampleMethods, ", "), m.ExampleMethod)
	}
	if m.Candidates < 1 || m.Candidates > 10 {
		bad("Candidates", "must be between 1 and 10, got %d", m.Candidates)
	}
	if !(m.CandidateTemp >= 0 && m.CandidateTemp <= 2) {
		bad("CandidateTemp", "must be between 0 and 2, got %g", m.CandidateTemp)
	}
}

func (s *SchemaConfig) validate(bad reporter) {
	if s.CacheTTL <= 0 {
		bad("CacheTTL", "must be positive, got %s", s.CacheTTL)
	}
	if s.TokenBudget < 200 || s.TokenBudget > 200000 {
		bad("TokenBudget", "must be between 200 and 200000, got %d", s.TokenBudget)
	}
	if s.ValuesPerColumn < 1 || s.ValuesPerColumn > 100000 {
		bad("ValuesPerColumn", "must be between 1 and 100000, got %d", s.ValuesPerColumn)
	}
}

func (h *HTTPConfig) validate(bad reporter) {
	if h.SessionIdleTimeout < minSessionIdleTimeout || h.SessionIdleTimeout > maxSessionIdleTimeout {
		bad("SessionIdleTimeout", "must be between %s and %s, got %s", minSessionIdleTimeout, maxSessionIdleTimeout, h.SessionIdleTimeout)
	}
	if h.MaxSessions < 1 || h.MaxSessions > maxSessionsCeiling {
		bad("MaxSessions", "must be between 1 and %d, got %d", maxSessionsCeiling, h.MaxSessions)
	}
	h.AllowedOrigins = trimList(h.AllowedOrigins)
	for _, o := range h.AllowedOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			bad("AllowedOrigins", "%q: %v", o, err)
		}
	}
	for _, f := range []struct {
		field string
		d     time.Duration
	}{{"ReadHeaderTimeout", h.ReadHeaderTimeout}, {"ReadBodyTimeout", h.ReadBodyTimeout},
		{"WriteTimeout", h.WriteTimeout}, {"IdleTimeout", h.IdleTimeout}} {
		if f.d < 100*time.Millisecond || f.d > 24*time.Hour {
			bad(f.field, "must be between 100ms and 24h, got %s", f.d)
		}
	}
	if h.MaxConnections < 1 || h.MaxConnections > maxConnectionsCeiling {
		bad("MaxConnections", "must be between 1 and %d, got %d", maxConnectionsCeiling, h.MaxConnections)
	}
}

func (t *TLSConfig) validate(bad reporter) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("CertFile", "set both PGMCP_TLS_CERT_FILE and PGMCP_TLS_KEY_FILE, or neither")
	} else if t.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			bad("CertFile", "cannot load the certificate and key: %v", err)
		}
	}
}

// validate reports the problems httpauth finds, under the field they name.
func (a *AuthConfig) validate(bad reporter) {
	a.AllowedRoles = trimList(a.AllowedRoles)
	for _, ap := range a.HTTPAuth().Problems() {
		bad(ap.Field, "%s", ap.Message)
	}
}

// resolveDatabases checks PGMCP_DATABASE_URL or PGMCP_DATABASES (not
// both) and sets the database list from it.
func (c *Config) resolveDatabases(bad reporter) {
	c.databases = nil
	switch {
	case c.DatabaseURL != "" && c.Databases != "":
		bad("Databases", "set either it or PGMCP_DATABASE_URL, not both")
	case c.Databases != "":
		c.databases = c.databaseList(bad)
	case c.DatabaseURL != "":
		if err := checkDSN(c.DatabaseURL); err != nil {
			bad("DatabaseURL", "%v", err)
			return
		}
		c.databases = []DatabaseConfig{{Name: dbNameFromDSN(c.DatabaseURL), URL: c.DatabaseURL, PolicyFile: c.Policy.File, ExamplesFile: c.ExamplesFile,
			Pooler: c.Pooler}}
	}
}

// databaseList reads and checks the entries of PGMCP_DATABASES (nil when
// it is not a JSON list of them).
func (c *Config) databaseList(bad reporter) []DatabaseConfig {
	dec := json.NewDecoder(strings.NewReader(c.Databases))
	dec.DisallowUnknownFields()
	var dbs []DatabaseConfig
	if err := dec.Decode(&dbs); err != nil {
		bad("Databases", "not a JSON list of {\"name\", \"url\", \"policy\" or \"policy_file\"}: %v", err)
		return nil
	}
	if len(dbs) == 0 {
		bad("Databases", "the list is empty")
	}
	seen := map[string]bool{}
	for i := range dbs {
		db := &dbs[i]
		if db.ExamplesFile == "" {
			db.ExamplesFile = c.ExamplesFile
		}
		if db.Pooler == "" {
			db.Pooler = c.Pooler
		} else if !validPooler(db.Pooler) {
			bad("Databases", "entry %q: pooler must be none or transaction, got %q", db.Name, db.Pooler)
		}
		switch {
		case !dbNameRE.MatchString(db.Name):
			bad("Databases", "entry %d: name %q must start with a letter and hold only letters, digits, _ and -", i+1, db.Name)
		case seen[db.Name]:
			bad("Databases", "entry %d: name %q is used twice", i+1, db.Name)
		}
		seen[db.Name] = true
		if err := checkDSN(db.URL); err != nil {
			bad("Databases", "entry %q: url %v", db.Name, err)
		}
		if db.PolicyFile != "" && len(db.Policy) > 0 {
			bad("Databases", "entry %q: give policy or policy_file, not both", db.Name)
		}
	}
	return dbs
}

// trimList trims the entries of a comma-separated list and drops the
// empty ones ("a, b," is a and b).
func trimList(l []string) []string {
	var out []string
	for _, s := range l {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseRate reads a rate such as "60/min", "5/s", "1000/h", or "off"/"0",
// as calls per second (0: no limit).
func parseRate(s string) (float64, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" || s == "off" || s == "0" {
		return 0, nil
	}
	n, unit, ok := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
	if !ok || err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a rate such as 60/min, 5/s or off", s)
	}
	switch strings.TrimSpace(unit) {
	case "s", "sec", "second":
		return v, nil
	case "m", "min", "minute":
		return v / 60, nil
	case "h", "hour":
		return v / 3600, nil
	}
	return 0, fmt.Errorf("%q has an unknown unit (use s, min or h)", s)
}

// RequireDatabase reports a configuration error when no database is set.
func (c *Config) RequireDatabase() error {
	if len(c.databases) == 0 {
		return &ConfigError{Problems: []string{"PGMCP_DATABASE_URL: not set (or set PGMCP_DATABASES); try `pgmcp demo` for a built-in demo database"}}
	}
	return nil
}

func validIdent(s string) bool {
	return s != "" && len(s) <= 63 && !strings.ContainsAny(s, "\x00\"")
}

// checkDSN checks that a connection string is a postgres URL or a key=value
// DSN that pgx can parse, without echoing it (it may hold a password).
func checkDSN(dsn string) error {
	switch {
	case dsn == "":
		return errors.New("is empty")
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
	case strings.Contains(dsn, "="):
	default:
		return errors.New("must be a postgres:// URL or a key=value connection string")
	}
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		msg := "is not a valid connection string"
		if inner := errors.Unwrap(err); inner != nil {
			msg += ": " + inner.Error()
		}
		return errors.New(pgexec.ScrubPassword(msg, dsn))
	}
	return nil
}

// dbNameFromDSN names the single database after its dbname, or "default".
func dbNameFromDSN(dsn string) string {
	name := ""
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		name = strings.TrimPrefix(u.Path, "/")
	} else {
		for _, f := range strings.Fields(dsn) {
			if k, v, ok := strings.Cut(f, "="); ok && k == "dbname" {
				name = strings.Trim(v, "'")
			}
		}
	}
	if !dbNameRE.MatchString(name) {
		return "default"
	}
	return name
}

// configVars lists every variable of Config with its default and
// description, in field order, the fields of each part where the part is.
func configVars() []configVar {
	return appendConfigVars(nil, reflect.TypeFor[Config](), envPrefix, "")
}

// appendConfigVars appends the variables of struct t, read under prefix,
// whose fields are at path in Config.
func appendConfigVars(out []configVar, t reflect.Type, prefix, path string) []configVar {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if name := f.Tag.Get("env"); name != "" {
			out = append(out, configVar{Name: prefix + name, Default: f.Tag.Get("envDefault"), Desc: f.Tag.Get("desc"),
				Path: path + f.Name, Field: f.Name})
		} else if f.Type.Kind() == reflect.Struct {
			out = appendConfigVars(out, f.Type, prefix+f.Tag.Get("envPrefix"), path+f.Name+".")
		}
	}
	return out
}

// configVar is one variable of Config: Path is its field's path in Config
// ("LLM.Timeout"), Field the field's own name.
type configVar struct {
	Name, Default, Desc string
	Path, Field         string
}

// configTable renders the configuration variables as a markdown table.
func configTable() string {
	var b strings.Builder
	b.WriteString("| Variable | Default | Meaning |\n|---|---|---|\n")
	for _, v := range configVars() {
		def := v.Default
		if def == "" {
			def = " "
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Name, def, strings.ReplaceAll(v.Desc, "|", "\\|"))
	}
	return b.String()
}

// validPooler reports whether v is a pooler mode (PGMCP_POOLER).
func validPooler(v string) bool {
	return v == pgexec.PoolerAuto || v == pgexec.PoolerNone || v == pgexec.PoolerTransaction
}
