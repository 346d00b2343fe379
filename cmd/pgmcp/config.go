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
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/httpauth"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// envPrefix is the prefix of every pgmcp environment variable.
const envPrefix = "PGMCP_"

// Limits the configuration may not exceed.
const (
	maxRowsCeiling = 10000
)

// Config is pgmcp's whole configuration, read from PGMCP_* environment
// variables. The desc tags feed the configuration table in README.md
// (TestREADMEConfigTable keeps the two in step).
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" desc:"PostgreSQL connection URL (or key=value DSN) of the one database to serve. Use a read-only role."`
	Databases   string `env:"DATABASES" desc:"JSON list of named databases, each {\"name\", \"url\", \"policy\" or \"policy_file\", \"examples_file\"}; one server serves them all and every tool takes a database argument. Exclusive with PGMCP_DATABASE_URL."`

	PolicyFile     string   `env:"POLICY_FILE" desc:"JSON policy file (allowed_schemas or allowed_relations, blocked_relations, blocked_columns, search_path) for PGMCP_DATABASE_URL."`
	AllowedSchemas []string `env:"ALLOWED_SCHEMAS" desc:"Comma-separated schemas whose tables and views may be read (default public). Exclusive with PGMCP_POLICY_FILE."`
	SearchPath     []string `env:"SEARCH_PATH" desc:"search_path pinned on every session (default: the allowed schemas)."`
	BlockedTables  []string `env:"BLOCKED_TABLES" desc:"Comma-separated schema.table list never shown nor readable (added to the policy file's)."`
	BlockedColumns []string `env:"BLOCKED_COLUMNS" desc:"Comma-separated schema.table.column list never shown nor readable (added to the policy file's)."`

	MaxRows             int           `env:"MAX_ROWS" envDefault:"1000" desc:"Most rows a query returns (hard ceiling 10000)."`
	StatementTimeout    time.Duration `env:"STATEMENT_TIMEOUT" envDefault:"10s" desc:"statement_timeout of every query."`
	ConnectTimeout      time.Duration `env:"CONNECT_TIMEOUT" envDefault:"8s" desc:"How long start-up waits for a database to answer (start-up fails within 10s by default)."`
	MaxConns            int           `env:"MAX_CONNS" envDefault:"10" desc:"Connections per database pool."`
	AllowPrivilegedRole bool          `env:"ALLOW_PRIVILEGED_ROLE" envDefault:"false" desc:"Start even when the role is a superuser or has BYPASSRLS (logs a warning at every start)."`

	MaxPlanCost    float64       `env:"MAX_PLAN_COST" envDefault:"0" desc:"When above 0, query refuses SQL whose estimated plan cost (EXPLAIN, as it would run) is higher, with plan_too_expensive; explain shows the cost against it. Off by default."`
	MaxResultBytes int           `env:"MAX_RESULT_BYTES" envDefault:"1048576" desc:"Most bytes of row data a query returns; the result is truncated (and says so) beyond it."`
	MaxCellBytes   int           `env:"MAX_CELL_BYTES" envDefault:"65536" desc:"Longest single value returned; longer values are cut and marked."`
	MaxRowBytes    int           `env:"MAX_ROW_BYTES" envDefault:"8388608" desc:"Largest message (one row) pgmcp reads from PostgreSQL: a larger row is never buffered; the call ends with result_too_large and the connection is dropped."`
	ExplainTimeout time.Duration `env:"EXPLAIN_TIMEOUT" envDefault:"3s" desc:"statement_timeout of EXPLAIN (planning only; capped by PGMCP_STATEMENT_TIMEOUT): bounds what the planner folds at plan time."`

	LLMBaseURL        string        `env:"LLM_BASE_URL" desc:"Base URL of an OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 for Ollama (falls back to OPENAI_BASE_URL; default https://api.openai.com/v1)."`
	LLMAPIKey         string        `env:"LLM_API_KEY" desc:"API key of the model endpoint (falls back to OPENAI_API_KEY); local servers need none."`
	LLMModel          string        `env:"LLM_MODEL" desc:"Model name, e.g. gpt-4o-mini or llama3.1:8b. Without a model, questions are refused and SQL still works."`
	LLMTimeout        time.Duration `env:"LLM_TIMEOUT" envDefault:"60s" desc:"Longest a question may take: every model call and repair (HTTP retries included) and the queries run between them; a question past it ends with llm_timeout."`
	LLMMaxAnswerBytes int           `env:"LLM_MAX_ANSWER_BYTES" envDefault:"65536" desc:"Longest model answer accepted, in bytes; a longer one ends the question with llm_answer_too_large and is never sent back to the model. pgmcp reads at most 16 times this (at least 1 MiB) of a response."`
	LLMMaxAttempts    int           `env:"LLM_MAX_ATTEMPTS" envDefault:"3" desc:"Model calls per question, repairs of refused or failed SQL included."`
	LLMJSONMode       bool          `env:"LLM_JSON_MODE" envDefault:"false" desc:"Ask the endpoint for JSON output (response_format); turned off by itself if the endpoint refuses it."`
	ExamplesFile      string        `env:"EXAMPLES_FILE" desc:"JSON Lines of few-shot examples {\"question\", \"sql\"} shown to the model; each must pass the guard."`

	SchemaCacheTTL     time.Duration `env:"SCHEMA_CACHE_TTL" envDefault:"5m" desc:"How long the schema is served from cache before a cheap change check (SIGHUP reloads at once)."`
	SchemaTokenBudget  int           `env:"SCHEMA_TOKEN_BUDGET" envDefault:"6000" desc:"Tokens of schema sent to the model; over it, the tables most relevant to the question are chosen."`
	SchemaCommonValues bool          `env:"SCHEMA_COMMON_VALUES" envDefault:"true" desc:"Show the model the most common values of low-cardinality text and enum columns (from pg_stats; never blocked columns)."`

	HTTPAddr        string        `env:"HTTP_ADDR" desc:"Serve streamable HTTP on this address instead of stdio (the --http flag wins)."`
	TLSCertFile     string        `env:"TLS_CERT_FILE" desc:"PEM certificate (chain) to serve HTTPS instead of HTTP; with PGMCP_TLS_KEY_FILE. Without it, put a TLS proxy in front of any non-loopback listener."`
	TLSKeyFile      string        `env:"TLS_KEY_FILE" desc:"PEM private key of PGMCP_TLS_CERT_FILE."`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"30s" desc:"On SIGTERM/SIGINT over HTTP, or when stdin closes over stdio, how long calls in flight may take to finish; what is left is then cancelled, and pgmcp exits within this plus 3s (over stdio a signal cancels at once)."`
	StdioWorkers    int           `env:"STDIO_WORKERS" envDefault:"0" desc:"Tool calls run at once over stdio (0: 64, or the execution cap when higher; database work is still bounded by PGMCP_MAX_CONCURRENT_QUERIES); more wait their turn, while ping and the list requests are answered at once."`

	HTTPSessionIdleTimeout time.Duration `env:"HTTP_SESSION_IDLE_TIMEOUT" envDefault:"10m" desc:"An MCP session (2025-11-25 handshake) unused this long is closed and its memory freed; its ID then gets 404 and the client initializes again."`
	HTTPMaxSessions        int           `env:"HTTP_MAX_SESSIONS" envDefault:"1000" desc:"Most MCP sessions kept at once: a new one closes the session idle the longest, or gets 503 when every session has a request in flight."`
	HTTPStateless          bool          `env:"HTTP_STATELESS" envDefault:"false" desc:"Keep no MCP session: every request is served on its own, so several pgmcp can sit behind a load balancer without sticky sessions (GET and DELETE get 405)."`
	HTTPAllowedOrigins     []string      `env:"HTTP_ALLOWED_ORIGINS" desc:"Comma-separated exact origins (scheme://host[:port], or null) whose browser requests /mcp serves, with CORS, besides its own; a request with any other Origin gets 403."`

	HTTPReadHeaderTimeout time.Duration `env:"HTTP_READ_HEADER_TIMEOUT" envDefault:"10s" desc:"How long a client may take to send a request's headers (the TLS handshake included); a slower one is disconnected (slowloris)."`
	HTTPReadBodyTimeout   time.Duration `env:"HTTP_READ_BODY_TIMEOUT" envDefault:"30s" desc:"How long a client may take to send a request's body after its headers; a slower upload is cut. It does not bound the call the request makes."`
	HTTPWriteTimeout      time.Duration `env:"HTTP_WRITE_TIMEOUT" envDefault:"30s" desc:"How long writing a response (or one event of an SSE stream) may stay blocked on a client that does not read; it bounds neither a call's run time nor how long a stream stays open."`
	HTTPIdleTimeout       time.Duration `env:"HTTP_IDLE_TIMEOUT" envDefault:"60s" desc:"How long a kept-alive connection may wait for its next request before it is closed."`
	HTTPMaxConnections    int           `env:"HTTP_MAX_CONNECTIONS" envDefault:"1000" desc:"Most client connections open at once (lowered at start to fit the file descriptor limit). At the cap, the connection idle the longest is closed for a new one; with none idle, new ones wait to be accepted."`

	AuthTokensFile     string        `env:"AUTH_TOKENS_FILE" desc:"HTTP bearer tokens: a JSON list of {\"name\", \"token_sha256\", \"role\", \"databases\", \"policy\"} (see pgmcp token new). Only SHA-256 hashes are stored; SIGHUP reloads it."`
	AuthJWKSURL        string        `env:"AUTH_JWKS_URL" desc:"Turns on JWT bearer tokens: the URL of the issuer's JWKS (RS256 and ES256 keys, fetched again every PGMCP_AUTH_JWKS_REFRESH and on an unknown key id)."`
	AuthIssuer         string        `env:"AUTH_ISSUER" desc:"Exact iss claim of accepted JWTs (required with PGMCP_AUTH_JWKS_URL)."`
	AuthAudience       string        `env:"AUTH_AUDIENCE" desc:"A value the aud claim of accepted JWTs must contain (required with PGMCP_AUTH_JWKS_URL)."`
	AuthResourceURL    string        `env:"AUTH_RESOURCE_URL" desc:"The public URL of the MCP endpoint, e.g. https://pgmcp.example.com/mcp: the resource of the OAuth protected-resource metadata (required with JWTs; derived from the request otherwise)."`
	AuthServers        []string      `env:"AUTH_SERVERS" desc:"Comma-separated authorization server URLs listed in the protected-resource metadata (default: PGMCP_AUTH_ISSUER)."`
	AuthIdentityClaim  string        `env:"AUTH_IDENTITY_CLAIM" envDefault:"sub" desc:"JWT claim naming the caller in the audit log and rate limits."`
	AuthRoleClaim      string        `env:"AUTH_ROLE_CLAIM" desc:"JWT claim holding the PostgreSQL role the caller's queries run as (SET LOCAL ROLE); tokens without it are refused when set."`
	AuthDatabasesClaim string        `env:"AUTH_DATABASES_CLAIM" desc:"JWT claim listing the databases the caller may use; tokens without it are refused when set."`
	AuthJWKSRefresh    time.Duration `env:"AUTH_JWKS_REFRESH" envDefault:"15m" desc:"How often the JWKS is fetched again."`
	AuthAllowedRoles   []string      `env:"AUTH_ALLOWED_ROLES" desc:"Comma-separated roles the role claim may name: exact names or path.Match patterns such as analyst_* (required with PGMCP_AUTH_ROLE_CLAIM). pgmcp's login role and pg_* roles are refused whatever the list."`
	AuthMaxLifetime    time.Duration `env:"AUTH_MAX_TOKEN_LIFETIME" envDefault:"0" desc:"When above 0, JWTs must carry iat and exp, and be valid for at most this long (exp-iat, and exp-now). Off (0) by default."`

	AuditLog       string        `env:"AUDIT_LOG" desc:"Audit log of every tool call (JSON Lines): a file path (appended to; SIGHUP reopens it, for log rotation), or stderr. Off when empty."`
	AuditRequired  bool          `env:"AUDIT_REQUIRED" envDefault:"true" desc:"With PGMCP_AUDIT_LOG set, no call goes unaudited: once a record cannot be written, calls are refused with audit_unavailable until one can, and the result of a call whose record failed is withheld. false: calls go on and pgmcp_audit_write_failures_total counts the lost records."`
	RateLimit      string        `env:"RATE_LIMIT" envDefault:"300/min" desc:"Calls each authenticated identity may make, e.g. 60/min, 5/s or off (stdio and unauthenticated loopback calls are not limited)."`
	RateBurst      int           `env:"RATE_BURST" envDefault:"60" desc:"Calls an identity may make in a burst above its rate."`
	MaxConcurrent  int           `env:"MAX_CONCURRENT_QUERIES" envDefault:"0" desc:"Database executions running at once across the server (0: PGMCP_MAX_CONNS); more wait up to PGMCP_QUEUE_TIMEOUT, then fail with busy."`
	QueueTimeout   time.Duration `env:"QUEUE_TIMEOUT" envDefault:"10s" desc:"How long a call waits for an execution slot before busy."`
	AcquireTimeout time.Duration `env:"ACQUIRE_TIMEOUT" envDefault:"5s" desc:"How long a call waits for a database connection; a database that is down fails calls within it with db_unavailable."`
	LogLevel       string        `env:"LOG_LEVEL" envDefault:"info" desc:"debug, info, warn or error. Logs go to stderr."`

	// Resolved by Load and Validate; not read from the environment directly.
	databases []DatabaseConfig
	logLevel  slog.Level
}

// DatabaseConfig is one entry of PGMCP_DATABASES (or the single database of
// PGMCP_DATABASE_URL).
type DatabaseConfig struct {
	Name         string          `json:"name"`
	URL          string          `json:"url"`
	PolicyFile   string          `json:"policy_file,omitempty"`
	Policy       json.RawMessage `json:"policy,omitempty"`
	ExamplesFile string          `json:"examples_file,omitempty"`
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
	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Prefix: envPrefix, Environment: vars}); err != nil {
		return nil, configParseError(err)
	}
	if cfg.LLMAPIKey == "" {
		cfg.LLMAPIKey = vars["OPENAI_API_KEY"]
	}
	if cfg.LLMBaseURL == "" {
		cfg.LLMBaseURL = vars["OPENAI_BASE_URL"]
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

// varOfField returns the environment variable of a Config field.
func varOfField(field string) string {
	f, ok := reflect.TypeFor[Config]().FieldByName(field)
	if !ok {
		return field
	}
	return envPrefix + f.Tag.Get("env")
}

// ConfigError lists every problem found in the configuration.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "invalid configuration: " + strings.Join(e.Problems, "; ")
}

var dbNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,62}$`)

// AuthConfig is the HTTP authentication part of the configuration.
func (c *Config) AuthConfig() httpauth.Config {
	return httpauth.Config{
		TokensFile:           c.AuthTokensFile,
		JWKSURL:              c.AuthJWKSURL,
		Issuer:               c.AuthIssuer,
		Audience:             c.AuthAudience,
		IdentityClaim:        c.AuthIdentityClaim,
		RoleClaim:            c.AuthRoleClaim,
		DatabasesClaim:       c.AuthDatabasesClaim,
		JWKSRefresh:          c.AuthJWKSRefresh,
		ResourceURL:          c.AuthResourceURL,
		AuthorizationServers: c.AuthServers,
		AllowedRoles:         c.AuthAllowedRoles,
		MaxTokenLifetime:     c.AuthMaxLifetime,
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

// Validate checks every value and resolves the database list.
func (c *Config) Validate() error {
	var p []string
	bad := func(field, format string, args ...any) {
		p = append(p, varOfField(field)+": "+fmt.Sprintf(format, args...))
	}

	switch {
	case c.MaxRows < 1:
		bad("MaxRows", "must be at least 1, got %d", c.MaxRows)
	case c.MaxRows > maxRowsCeiling:
		bad("MaxRows", "%d is above the hard ceiling of %d", c.MaxRows, maxRowsCeiling)
	}
	if c.StatementTimeout < 0 {
		bad("StatementTimeout", "must not be negative")
	} else if c.StatementTimeout > 0 && c.StatementTimeout < time.Millisecond {
		bad("StatementTimeout", "must be at least 1ms (or 0 for none)")
	}
	if c.ConnectTimeout <= 0 {
		bad("ConnectTimeout", "must be positive, got %s", c.ConnectTimeout)
	}
	if c.ShutdownTimeout <= 0 {
		bad("ShutdownTimeout", "must be positive, got %s", c.ShutdownTimeout)
	}
	if _, err := parseRate(c.RateLimit); err != nil {
		bad("RateLimit", "%v", err)
	}
	if c.RateBurst < 1 {
		bad("RateBurst", "must be at least 1, got %d", c.RateBurst)
	}
	if c.MaxConcurrent < 0 {
		bad("MaxConcurrent", "must not be negative, got %d", c.MaxConcurrent)
	}
	if c.QueueTimeout <= 0 {
		bad("QueueTimeout", "must be positive, got %s", c.QueueTimeout)
	}
	if c.AcquireTimeout <= 0 {
		bad("AcquireTimeout", "must be positive, got %s", c.AcquireTimeout)
	}
	if c.MaxPlanCost < 0 {
		bad("MaxPlanCost", "must not be negative (0 turns it off), got %g", c.MaxPlanCost)
	}
	if c.MaxResultBytes < 1024 || c.MaxResultBytes > 64<<20 {
		bad("MaxResultBytes", "must be between 1024 and %d, got %d", 64<<20, c.MaxResultBytes)
	}
	if c.MaxCellBytes < 16 || c.MaxCellBytes > c.MaxResultBytes {
		bad("MaxCellBytes", "must be between 16 and PGMCP_MAX_RESULT_BYTES, got %d", c.MaxCellBytes)
	}
	if c.MaxRowBytes < 1<<20 || c.MaxRowBytes > 1<<30 || c.MaxRowBytes < c.MaxCellBytes {
		bad("MaxRowBytes", "must be between 1 MiB and 1 GiB and at least PGMCP_MAX_CELL_BYTES, got %d", c.MaxRowBytes)
	}
	if c.ExplainTimeout <= 0 {
		bad("ExplainTimeout", "must be positive, got %s", c.ExplainTimeout)
	}
	if c.LLMMaxAnswerBytes < 1024 || c.LLMMaxAnswerBytes > 16<<20 {
		bad("LLMMaxAnswerBytes", "must be between 1024 and 16777216, got %d", c.LLMMaxAnswerBytes)
	}
	if c.LLMTimeout <= 0 {
		bad("LLMTimeout", "must be positive, got %s", c.LLMTimeout)
	}
	if c.LLMMaxAttempts < 1 || c.LLMMaxAttempts > 10 {
		bad("LLMMaxAttempts", "must be between 1 and 10, got %d", c.LLMMaxAttempts)
	}
	if c.ExamplesFile != "" {
		if _, err := os.Stat(c.ExamplesFile); err != nil {
			bad("ExamplesFile", "cannot read %s", c.ExamplesFile)
		}
	}
	if c.SchemaCacheTTL <= 0 {
		bad("SchemaCacheTTL", "must be positive, got %s", c.SchemaCacheTTL)
	}
	if c.SchemaTokenBudget < 200 || c.SchemaTokenBudget > 200000 {
		bad("SchemaTokenBudget", "must be between 200 and 200000, got %d", c.SchemaTokenBudget)
	}
	if c.MaxConns < 1 || c.MaxConns > 1000 {
		bad("MaxConns", "must be between 1 and 1000, got %d", c.MaxConns)
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
	if c.LLMBaseURL != "" {
		if u, err := url.Parse(c.LLMBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("LLMBaseURL", "must be an http(s) URL")
		}
	}
	if c.HTTPSessionIdleTimeout < minSessionIdleTimeout || c.HTTPSessionIdleTimeout > maxSessionIdleTimeout {
		bad("HTTPSessionIdleTimeout", "must be between %s and %s, got %s", minSessionIdleTimeout, maxSessionIdleTimeout, c.HTTPSessionIdleTimeout)
	}
	if c.HTTPMaxSessions < 1 || c.HTTPMaxSessions > maxSessionsCeiling {
		bad("HTTPMaxSessions", "must be between 1 and %d, got %d", maxSessionsCeiling, c.HTTPMaxSessions)
	}
	for _, f := range []struct {
		field string
		d     time.Duration
	}{{"HTTPReadHeaderTimeout", c.HTTPReadHeaderTimeout}, {"HTTPReadBodyTimeout", c.HTTPReadBodyTimeout},
		{"HTTPWriteTimeout", c.HTTPWriteTimeout}, {"HTTPIdleTimeout", c.HTTPIdleTimeout}} {
		if f.d < 100*time.Millisecond || f.d > 24*time.Hour {
			bad(f.field, "must be between 100ms and 24h, got %s", f.d)
		}
	}
	if c.HTTPMaxConnections < 1 || c.HTTPMaxConnections > maxConnectionsCeiling {
		bad("HTTPMaxConnections", "must be between 1 and %d, got %d", maxConnectionsCeiling, c.HTTPMaxConnections)
	}
	if c.StdioWorkers < 0 || c.StdioWorkers > maxStdioWorkers {
		bad("StdioWorkers", "must be between 0 (the default) and %d, got %d", maxStdioWorkers, c.StdioWorkers)
	}
	c.HTTPAllowedOrigins = trimList(c.HTTPAllowedOrigins)
	for _, o := range c.HTTPAllowedOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			bad("HTTPAllowedOrigins", "%q: %v", o, err)
		}
	}
	c.AuthAllowedRoles = trimList(c.AuthAllowedRoles)
	for _, ap := range c.AuthConfig().Problems() {
		field := "Auth" + ap.Field
		switch ap.Field {
		case "AuthorizationServers":
			field = "AuthServers"
		case "MaxTokenLifetime":
			field = "AuthMaxLifetime"
		}
		bad(field, "%s", ap.Message)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		bad("TLSCertFile", "set both PGMCP_TLS_CERT_FILE and PGMCP_TLS_KEY_FILE, or neither")
	} else if c.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			bad("TLSCertFile", "cannot load the certificate and key: %v", err)
		}
	}
	if c.PolicyFile != "" && len(c.AllowedSchemas) > 0 {
		bad("AllowedSchemas", "set either it or PGMCP_POLICY_FILE, not both")
	}
	for _, s := range c.AllowedSchemas {
		if !validIdent(s) {
			bad("AllowedSchemas", "%q is not a schema name", s)
		}
	}
	for _, s := range c.SearchPath {
		if !validIdent(s) {
			bad("SearchPath", "%q is not a schema name", s)
		}
	}
	for _, t := range c.BlockedTables {
		if parts := strings.Split(t, "."); len(parts) != 2 || !validIdent(parts[0]) || !validIdent(parts[1]) {
			bad("BlockedTables", "%q is not schema.table", t)
		}
	}
	for _, col := range c.BlockedColumns {
		if parts := strings.Split(col, "."); len(parts) != 3 || !validIdent(parts[0]) || !validIdent(parts[1]) || !validIdent(parts[2]) {
			bad("BlockedColumns", "%q is not schema.table.column", col)
		}
	}
	if c.PolicyFile != "" {
		if _, err := os.Stat(c.PolicyFile); err != nil {
			bad("PolicyFile", "cannot read %s", c.PolicyFile)
		}
	}

	c.databases = nil
	switch {
	case c.DatabaseURL != "" && c.Databases != "":
		bad("Databases", "set either it or PGMCP_DATABASE_URL, not both")
	case c.Databases != "":
		dec := json.NewDecoder(strings.NewReader(c.Databases))
		dec.DisallowUnknownFields()
		var dbs []DatabaseConfig
		if err := dec.Decode(&dbs); err != nil {
			bad("Databases", "not a JSON list of {\"name\", \"url\", \"policy\" or \"policy_file\"}: %v", err)
			break
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
		c.databases = dbs
	case c.DatabaseURL != "":
		if err := checkDSN(c.DatabaseURL); err != nil {
			bad("DatabaseURL", "%v", err)
			break
		}
		c.databases = []DatabaseConfig{{Name: dbNameFromDSN(c.DatabaseURL), URL: c.DatabaseURL, PolicyFile: c.PolicyFile, ExamplesFile: c.ExamplesFile}}
	}
	if len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
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
// description, in field order.
func configVars() []configVar {
	t := reflect.TypeFor[Config]()
	var out []configVar
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if name == "" {
			continue
		}
		out = append(out, configVar{Name: envPrefix + name, Default: f.Tag.Get("envDefault"), Desc: f.Tag.Get("desc")})
	}
	return out
}

type configVar struct {
	Name, Default, Desc string
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
