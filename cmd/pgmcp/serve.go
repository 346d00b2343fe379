package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/httpauth"
	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/prompts"
	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// maxRequestBytes caps an HTTP request body: a JSON-RPC message larger than
// this is refused before it is read into memory.
const maxRequestBytes = 4 << 20

// serveFlags are the flags of serve and demo.
type serveFlags struct {
	httpAddr       string
	insecureNoAuth bool
}

func parseServeFlags(name string, args []string, stderr io.Writer) (serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet("pgmcp "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.httpAddr, "http", "", "serve streamable HTTP on this address (e.g. 127.0.0.1:8080) instead of stdio")
	fs.BoolVar(&f.insecureNoAuth, "insecure-no-auth", false, "allow serving HTTP without authentication on an address other machines can reach")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// check refuses HTTP serving without authentication on an address other
// machines can reach, unless --insecure-no-auth.
func (f serveFlags) check(cfg *Config) error {
	if f.httpAddr == "" {
		if cfg.AuthConfig().Enabled() {
			return &ConfigError{Problems: []string{"PGMCP_AUTH_*: authentication applies to HTTP serving only; over stdio the local user runs the server (give --http ADDR, or unset the PGMCP_AUTH_* variables)"}}
		}
		return nil
	}
	if err := httpauth.ListenAllowed(f.httpAddr, cfg.AuthConfig().Enabled(), f.insecureNoAuth); err != nil {
		return &ConfigError{Problems: []string{err.Error()}}
	}
	return nil
}

func runServe(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags, err := parseServeFlags("serve", args, stderr)
	if err != nil {
		return exitUsage
	}
	cfg, err := LoadConfig(environ)
	if err != nil {
		return fail(stderr, err)
	}
	if flags.httpAddr == "" {
		flags.httpAddr = cfg.HTTPAddr
	}
	if err := cfg.RequireDatabase(); err != nil {
		return fail(stderr, err)
	}
	if err := flags.check(cfg); err != nil {
		return fail(stderr, err)
	}
	logger := newLogger(stderr, cfg.logLevel)
	app, err := openApp(ctx, cfg, logger)
	if err != nil {
		return fail(stderr, err)
	}
	defer app.Close()
	if err := app.Serve(ctx, flags.httpAddr, stdin, stdout, nil); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// app is a configured server: its databases and the MCP server over them.
type app struct {
	cfg     *Config
	log     *slog.Logger
	dbs     []*tools.Database
	mcp     *server.MCPServer
	metrics *tools.Metrics
	auth    *httpauth.Authenticator // nil without HTTP authentication
	audit   *tools.AuditLog         // nil without an audit log
	closers []io.Closer             // the audit log file
}

// openApp connects to every configured database, checks each role, and
// builds the MCP server. A database that cannot be reached fails it within
// the connect timeout.
func openApp(ctx context.Context, cfg *Config, logger *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: logger}
	model, err := newModel(cfg, logger)
	if err != nil {
		return nil, err
	}
	for _, dc := range cfg.databases {
		db, err := openDatabase(ctx, cfg, dc, logger)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.dbs = append(a.dbs, db)
	}
	audit, err := a.openAudit()
	if err != nil {
		a.Close()
		return nil, err
	}
	a.audit = audit
	a.metrics = tools.NewMetrics(a.dbs)
	s, err := tools.NewServer(a.deps(model, audit))
	if err != nil {
		a.Close()
		return nil, err
	}
	a.mcp = s
	return a, nil
}

// deps is what the tools need, from the configuration.
func (a *app) deps(model *llm.Client, audit *tools.AuditLog) tools.Deps {
	cfg := a.cfg
	rate, _ := parseRate(cfg.RateLimit) // validated by Config.Validate
	maxConcurrent := cfg.MaxConcurrent
	if maxConcurrent == 0 {
		maxConcurrent = cfg.MaxConns
	}
	return tools.Deps{
		Databases:     a.dbs,
		Logger:        a.log,
		Version:       versionString(),
		LLM:           model,
		MaxRows:       cfg.MaxRows,
		MaxAttempts:   cfg.LLMMaxAttempts,
		MaxPlanCost:   cfg.MaxPlanCost,
		Audit:         audit,
		Metrics:       a.metrics,
		RateLimit:     tools.RateLimit{Rate: rate, Burst: cfg.RateBurst},
		MaxConcurrent: maxConcurrent,
		QueueWait:     cfg.QueueTimeout,
		Limits: pgexec.Limits{
			MaxResultBytes:   cfg.MaxResultBytes,
			MaxCellBytes:     cfg.MaxCellBytes,
			StatementTimeout: cfg.StatementTimeout,
			ExplainTimeout:   cfg.ExplainTimeout,
			AcquireTimeout:   cfg.AcquireTimeout,
		},
	}
}

// openRunner connects to the configured databases, like openApp, for the
// command-line tools (ask, schema): no MCP server, audit or metrics.
func openRunner(ctx context.Context, cfg *Config, logger *slog.Logger) (*app, *tools.Runner, error) {
	a := &app{cfg: cfg, log: logger}
	model, err := newModel(cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	for _, dc := range cfg.databases {
		db, err := openDatabase(ctx, cfg, dc, logger)
		if err != nil {
			a.Close()
			return nil, nil, err
		}
		a.dbs = append(a.dbs, db)
	}
	r, err := tools.NewRunner(a.deps(model, nil))
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, r, nil
}

// poolCloseTimeout bounds how long Close waits for the pools: a pool
// waits for its connections in use, and a call that did not give its
// connection back when cancelled must not hold the process.
const poolCloseTimeout = time.Second

// Close closes every pool (waiting at most poolCloseTimeout) and the
// audit log.
func (a *app) Close() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, db := range a.dbs {
			wg.Go(db.Pool.Close)
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(poolCloseTimeout):
		a.log.Warn("database pools still had connections in use after " + poolCloseTimeout.String() + "; exiting without waiting for them")
	}
	for _, c := range a.closers {
		_ = c.Close()
	}
}

// openAudit opens the audit log: PGMCP_AUDIT_LOG is a file (appended to,
// created 0600, reopened on SIGHUP) or "stderr"; nil when it is not set.
func (a *app) openAudit() (*tools.AuditLog, error) {
	onError := func(err error) {
		switch {
		case err == nil:
			a.log.Warn("the audit log can be written again")
		case a.cfg.AuditRequired:
			a.log.Error("cannot write the audit log: calls are refused with audit_unavailable until a record can be written (PGMCP_AUDIT_REQUIRED)", "err", err)
		default:
			a.log.Error("cannot write the audit log: calls go on unaudited (PGMCP_AUDIT_REQUIRED=false); pgmcp_audit_write_failures_total counts the lost records", "err", err)
		}
	}
	var l *tools.AuditLog
	switch path := a.cfg.AuditLog; path {
	case "":
		return nil, nil
	case "stderr":
		l = tools.NewAuditLog(os.Stderr, onError)
	default:
		var err error
		if l, err = tools.OpenAuditFile(path, onError); err != nil {
			return nil, &ConfigError{Problems: []string{"PGMCP_AUDIT_LOG: cannot open " + path + ": " + err.Error()}}
		}
		a.closers = append(a.closers, l)
	}
	l.SetRequired(a.cfg.AuditRequired)
	return l, nil
}

func openDatabase(ctx context.Context, cfg *Config, dc DatabaseConfig, logger *slog.Logger) (*tools.Database, error) {
	pol, err := buildPolicy(cfg, dc)
	if err != nil {
		return nil, err
	}
	pool, err := pgexec.NewPool(ctx, dc.URL, pgexec.Options{
		StatementTimeout: cfg.StatementTimeout,
		SearchPath:       pol.SearchPath,
		MaxConns:         int32(cfg.MaxConns),
		ConnectTimeout:   cfg.ConnectTimeout,
		MaxMessageBytes:  cfg.MaxRowBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("database %q: %w", dc.Name, err)
	}
	ok := false
	defer func() {
		if !ok {
			pool.Close()
		}
	}()
	ictx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	if err := checkRole(ictx, pool, dc.Name, pol.schemas(), cfg.AllowPrivilegedRole, logger); err != nil {
		return nil, err
	}
	if err := pol.resolve(ictx, pool); err != nil {
		return nil, fmt.Errorf("database %q: %w", dc.Name, err)
	}
	if in := inheritanceOf(pol.Policy); !in.empty() {
		logger.Warn("the policy's blocks reach through partitions and inheritance: "+in.String(),
			"database", dc.Name, "parents", strings.Join(in.parents, ","))
	}
	resolve := func(ctx context.Context) (*sqlguard.Policy, error) {
		p, err := buildPolicy(cfg, dc)
		if err != nil {
			return nil, err
		}
		if err := p.resolve(ctx, pool); err != nil {
			return nil, err
		}
		return p.Policy, nil
	}
	db := &tools.Database{Name: dc.Name, Pool: pool, Policy: pol.Policy, Resolve: resolve,
		SchemaOptions: &schema.Options{TTL: cfg.SchemaCacheTTL, TokenBudget: cfg.SchemaTokenBudget, CommonValues: cfg.SchemaCommonValues}}
	if err := pool.QueryRow(ictx, "SELECT (current_setting('server_version_num')::int / 10000)::text, current_setting('TimeZone')").
		Scan(&db.ServerVersion, &db.TimeZone); err != nil {
		return nil, fmt.Errorf("database %q: read server settings: %w", dc.Name, err)
	}
	if dc.ExamplesFile != "" {
		if db.Examples, err = loadExamples(dc.ExamplesFile, pol.Policy); err != nil {
			return nil, &ConfigError{Problems: []string{fmt.Sprintf("database %q: %v", dc.Name, err)}}
		}
	}
	logger.Info("database ready", "database", dc.Name, "url", pgexec.RedactDSN(dc.URL), "postgres", db.ServerVersion,
		"schemas", strings.Join(pol.schemas(), ","), "relations", len(pol.AllowedRelations), "examples", len(db.Examples))
	ok = true
	return db, nil
}

// loadExamples reads a few-shot examples file and checks every example's
// SQL with the guard: an example must never show the model a table or
// column the policy hides.
func loadExamples(path string, pol *sqlguard.Policy) ([]prompts.Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("examples file: %v", err)
	}
	defer f.Close()
	ex, err := prompts.LoadExamples(f)
	if err != nil {
		return nil, fmt.Errorf("examples file %s: %v", path, err)
	}
	for i, e := range ex {
		if _, err := sqlguard.Check(e.SQL, pol); err != nil {
			return nil, fmt.Errorf("examples file %s: example %d (%q) is refused by the guard: %v", path, i+1, e.Question, err)
		}
	}
	return ex, nil
}

// newModel builds the model client, or returns nil when no model is
// configured (questions are then refused with a clear error; SQL works).
// errShuttingDown is the cause the calls cancelled at shutdown report.
var errShuttingDown = errors.New("the server is shutting down")

func newModel(cfg *Config, logger *slog.Logger) (*llm.Client, error) {
	lc := llm.Config{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMAPIKey, Model: cfg.LLMModel, Timeout: cfg.LLMTimeout,
		MaxAnswerBytes: cfg.LLMMaxAnswerBytes, JSONMode: cfg.LLMJSONMode, Logger: logger}
	if !lc.Enabled() {
		if cfg.LLMModel != "" || cfg.LLMBaseURL != "" || cfg.LLMAPIKey != "" {
			logger.Warn("the model is not fully configured, so questions will be refused: set PGMCP_LLM_MODEL and PGMCP_LLM_BASE_URL or PGMCP_LLM_API_KEY")
		}
		return nil, nil
	}
	c, err := llm.New(lc)
	if err != nil {
		return nil, &ConfigError{Problems: []string{"PGMCP_LLM_*: " + err.Error()}}
	}
	logger.Info("model configured", "model", c.Model(), "host", c.Host())
	return c, nil
}

// checkRole refuses a superuser or BYPASSRLS role unless allowed, and warns
// once when the role can write.
func checkRole(ctx context.Context, pool *pgxpool.Pool, name string, schemas []string, allowPrivileged bool, logger *slog.Logger) error {
	r, err := pgexec.InspectRole(ctx, pool, schemas)
	if err != nil {
		return fmt.Errorf("database %q: cannot inspect the role: %w", name, err)
	}
	if r.Privileged() {
		what := "a superuser"
		if !r.Superuser {
			what = "a role with BYPASSRLS"
		}
		if !allowPrivileged {
			return &pgexec.Error{Code: pgexec.CodePrivilegedRole, Message: fmt.Sprintf(
				"database %q: refusing to run as %s (role %q); connect as a read-only role, or set PGMCP_ALLOW_PRIVILEGED_ROLE=true to accept the risk", name, what, r.Name)}
		}
		logger.Warn("running as a privileged role because PGMCP_ALLOW_PRIVILEGED_ROLE=true: the read-only guard and session settings are the only protection",
			"database", name, "role", r.Name, "superuser", r.Superuser, "bypassrls", r.BypassRLS)
	}
	if r.CanWrite() && !r.Superuser {
		logger.Warn("the database role can write: pgmcp only reads, but a role that can only read is the safer setup",
			"database", name, "role", r.Name, "grants", strings.Join(r.WriteSummary(), "; "),
			"fix", pgexec.ReadOnlyRoleSQL(r.Database, schemas))
	}
	return nil
}

// reloadOnSIGHUP reloads every database's policy relation list and schema
// when the process gets SIGHUP, until ctx is done.
func (a *app) reloadOnSIGHUP(ctx context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				// The audit log first: a rotation must not wait on the
				// databases.
				if a.audit != nil && a.cfg.AuditLog != "stderr" {
					if err := a.audit.Reopen(); err != nil {
						a.log.Error("SIGHUP: cannot reopen the audit log; records still go to the file open before", "err", err)
					} else {
						a.log.Info("SIGHUP: audit log reopened", "path", a.cfg.AuditLog)
					}
				}
				a.log.Info("SIGHUP: reloading the policies' relation lists and the schemas")
				if a.auth != nil {
					if err := a.auth.Reload(); err != nil {
						a.log.Error("tokens file reload failed; the previous tokens stay in force", "err", err)
					}
				}
				for _, db := range a.dbs {
					rctx, cancel := context.WithTimeout(ctx, time.Minute)
					if _, err := db.Reload(rctx); err != nil {
						a.log.Error("reload failed; the previous policy and schema stay in force", "database", db.Name, "err", err)
					} else {
						a.log.Info("reloaded", "database", db.Name, "relations", len(db.CurrentPolicy().AllowedRelations))
					}
					cancel()
				}
			}
		}
	}()
}

// Serve serves MCP until ctx is done (or, over stdio, until stdin closes).
// ready, when set, is called once the server is listening, with the HTTP
// address (empty for stdio).
func (a *app) Serve(ctx context.Context, httpAddr string, stdin io.Reader, stdout io.Writer, ready func(addr string)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if httpAddr != "" && a.cfg.AuthConfig().Enabled() {
		acfg := a.cfg.AuthConfig()
		logins, err := a.loginRoles(ctx)
		if err != nil {
			return err
		}
		acfg.LoginRoles = logins
		auth, err := httpauth.New(ctx, acfg, a.log)
		if err != nil {
			return &ConfigError{Problems: []string{err.Error()}}
		}
		defer auth.Close()
		a.auth = auth
	}
	a.reloadOnSIGHUP(ctx)
	if httpAddr == "" {
		return a.serveStdio(ctx, stdin, stdout, ready)
	}
	return a.serveHTTP(ctx, httpAddr, ready)
}

// loginRoles are the roles the database pools log in as (session_user,
// and current_user if a role setting changes it at connection): no
// caller may be given one of them as its role.
func (a *app) loginRoles(ctx context.Context) ([]string, error) {
	var roles []string
	for _, db := range a.dbs {
		qctx, cancel := context.WithTimeout(ctx, a.cfg.ConnectTimeout)
		var session, current string
		err := db.Pool.QueryRow(qctx, "SELECT session_user::text, current_user::text").Scan(&session, &current)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("database %q: read the login role: %w", db.Name, err)
		}
		for _, r := range []string{session, current} {
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	return roles, nil
}

func (a *app) serveHTTP(ctx context.Context, addr string, ready func(string)) error {
	origins, err := newOriginGuard(a.cfg.HTTPAllowedOrigins, a.cfg.AuthResourceURL, a.log)
	if err != nil {
		return err
	}
	lim := a.cfg.httpLimits()
	lim.maxConns = fitConnections(lim.maxConns, len(a.dbs)*a.cfg.MaxConns, a.log)
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	ln := newConnLimiter(tcp, lim.maxConns, a.log)
	for _, c := range ln.collectors() {
		if err := a.metrics.Registry.Register(c); err != nil {
			a.log.Warn("cannot register the connection metrics", "err", err)
		}
	}
	// Tool calls end with calls: cancelled when the shutdown timeout is
	// over (not at the signal: calls in flight may finish until then).
	// The cancellation reaches the tool handlers only, so each call still
	// answers (cancelled); requests end with requests, cancelled after.
	calls, cancelWith := context.WithCancelCause(context.WithoutCancel(ctx))
	cancelCalls := func() { cancelWith(errShuttingDown) }
	defer cancelCalls()
	requests, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	transport, err := newMCPHTTP(a.mcp, sessionConfig{
		Stateless:   a.cfg.HTTPStateless,
		IdleTimeout: a.cfg.HTTPSessionIdleTimeout,
		MaxSessions: a.cfg.HTTPMaxSessions,
	}, a.log, a.metrics.Registry,
		server.WithStreamableHTTPLogger(a.log),
		// The identity the authentication middleware put in the request
		// context goes on to the tool handlers.
		server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			if id, ok := tools.IdentityFrom(r.Context()); ok {
				ctx = tools.WithIdentity(ctx, id)
			}
			return tools.WithCallsContext(ctx, calls)
		}),
	)
	if err != nil {
		ln.Close()
		return err
	}
	transport.run(ctx)
	d := &drainer{}
	mux := http.NewServeMux()
	// Outside in: the drain, the Origin check (before authentication, so a
	// page of another site gets 403 whatever it sends), authentication,
	// the body cap, then the session layer and mcp-go.
	var mcpHandler http.Handler = http.MaxBytesHandler(transport, maxRequestBytes)
	if a.auth != nil {
		mcpHandler = a.auth.Middleware(mcpHandler)
		mux.Handle("GET "+a.auth.MetadataPath(), a.auth.MetadataHandler())
	}
	mcpHandler = origins.wrap(mcpHandler)
	mux.Handle("/mcp", d.wrap(mcpHandler))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.Registry, promhttp.HandlerOpts{}))
	srv := &http.Server{
		Handler:           lim.deadlines(mux),
		ReadHeaderTimeout: lim.readHeader,
		IdleTimeout:       lim.idle,
		ConnState:         ln.connState,
		BaseContext:       func(net.Listener) context.Context { return requests },
		ErrorLog:          log.New(slogWriter{a.log}, "", 0),
	}
	errc := make(chan error, 1)
	scheme := "http"
	if a.cfg.TLSCertFile != "" {
		scheme = "https"
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		go func() { errc <- srv.ServeTLS(ln, a.cfg.TLSCertFile, a.cfg.TLSKeyFile) }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
		if a.auth != nil && !loopbackAddr(ln.Addr()) {
			a.log.Warn("bearer tokens travel in clear over plain HTTP: serve HTTPS (PGMCP_TLS_CERT_FILE, PGMCP_TLS_KEY_FILE) or put a TLS proxy in front",
				"addr", ln.Addr().String())
		}
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	sessions := []any{"sessions", "stateless"}
	if !a.cfg.HTTPStateless {
		sessions = []any{"max_sessions", a.cfg.HTTPMaxSessions, "session_idle_timeout", a.cfg.HTTPSessionIdleTimeout.String()}
	}
	a.log.Info("serving MCP over streamable "+strings.ToUpper(scheme),
		append([]any{"url", scheme + "://" + ln.Addr().String() + "/mcp", "max_connections", lim.maxConns}, sessions...)...)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Drain: refuse new requests, let the ones in flight finish (up to the
	// shutdown timeout), then cancel the calls left and give them
	// cancelGrace to answer, then end every request (SSE streams too),
	// close the sessions and the server, within closeGrace.
	a.log.Info("shutting down: finishing the calls in flight", "in_flight", d.inFlight(), "timeout", a.cfg.ShutdownTimeout)
	srv.SetKeepAlivesEnabled(false)
	if !d.drain(a.cfg.ShutdownTimeout) {
		a.log.Warn("shutdown timeout: the calls still in flight are cancelled", "in_flight", d.inFlight())
		cancelCalls()
		if !d.drain(cancelGrace) {
			a.log.Warn("cancelled calls did not answer in time: their connections are closed", "in_flight", d.inFlight())
		}
	}
	cancelCalls()
	cancelRequests()
	sctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	_ = transport.Shutdown(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	a.log.Info("stopped")
	return nil
}

// What shutdown may take beyond PGMCP_SHUTDOWN_TIMEOUT: cancelled calls get
// cancelGrace to unwind (their queries cancelled, their answers sent);
// then the server has closeGrace to close its connections, and the pools
// poolCloseTimeout. The documentation promises the timeout plus 3 seconds.
const (
	cancelGrace = time.Second
	closeGrace  = 500 * time.Millisecond
	// shutdownGrace is cancelGrace and closeGrace, for stdio.
	shutdownGrace = cancelGrace + closeGrace
)

// loopbackAddr reports whether a listener's address is a loopback one.
func loopbackAddr(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// readyz answers 200 when every database answers a ping within 2 seconds,
// else 503 naming the ones that do not.
func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var down []string
	for _, db := range a.dbs {
		if err := db.Pool.Ping(ctx); err != nil {
			down = append(down, db.Name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(down) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "database unreachable: "+strings.Join(down, ", ")+"\n")
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// drainer tracks the MCP requests (POSTs) in flight, and refuses new ones
// once a drain has begun.
type drainer struct {
	wg       sync.WaitGroup
	n        atomic.Int64
	draining atomic.Bool
}

func (d *drainer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		if d.draining.Load() {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "the server is shutting down", http.StatusServiceUnavailable)
			return
		}
		d.wg.Add(1)
		d.n.Add(1)
		defer func() { d.n.Add(-1); d.wg.Done() }()
		next.ServeHTTP(w, r)
	})
}

func (d *drainer) inFlight() int64 { return d.n.Load() }

// drain stops new requests and waits for those in flight, up to timeout;
// it reports whether they all finished.
func (d *drainer) drain(timeout time.Duration) bool {
	d.draining.Store(true)
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// slogWriter turns a library's log.Logger output into slog records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)))
	return len(p), nil
}
