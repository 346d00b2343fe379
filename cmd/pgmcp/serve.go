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

	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/httpauth"
	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/tools"
	"github.com/pgmcp/pgmcp/tools/engine"
	"github.com/pgmcp/pgmcp/tools/pgexec"
	"github.com/pgmcp/pgmcp/tools/webui"
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
		if cfg.Auth.HTTPAuth().Enabled() {
			return &ConfigError{Problems: []string{"PGMCP_AUTH_*: authentication applies to HTTP serving only; over stdio the local user runs the server (give --http ADDR, or unset the PGMCP_AUTH_* variables)"}}
		}
		return nil
	}
	if err := httpauth.ListenAllowed(f.httpAddr, cfg.Auth.HTTPAuth().Enabled(), f.insecureNoAuth); err != nil {
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
	if cfg.Demo {
		return runDemo(ctx, args, environ, stdin, stdout, stderr)
	}
	if flags.httpAddr == "" {
		flags.httpAddr = cfg.HTTP.Addr
	}
	if err := cfg.RequireDatabase(); err != nil {
		return fail(stderr, err)
	}
	if err := flags.check(cfg); err != nil {
		return fail(stderr, err)
	}
	logger := newLogger(stderr, cfg.logLevel)
	// Flushed last, after the pools are closed (deferred first).
	defer startTracing(ctx, environ, logger)()
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
	dbs     []*engine.Database // as configured; see databases
	eng     *engine.Engine     // nil for the terminal commands until openEngine returns
	mcp     *server.MCPServer
	metrics *engine.Metrics
	auth    *httpauth.Authenticator // nil without HTTP authentication
	audit   *engine.AuditLog        // nil without an audit log
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
		if err != nil && len(cfg.databases) > 1 && engine.Unreachable(err) {
			// One database down does not keep the others from being
			// served: it is opened in the background.
			logger.Warn("database unreachable at start-up: serving the others, and retrying it in the background",
				"database", dc.Name, "err", problem(err))
			db, err = engine.Pending(databaseSpec(cfg, dc), err), nil
		}
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
	a.metrics = engine.NewMetrics(a.dbs)
	eng, err := engine.New(a.engineConfig(model, audit))
	if err != nil {
		a.Close()
		return nil, err
	}
	a.eng = eng
	eng.StartRetries(context.WithoutCancel(ctx)) // until Close
	a.mcp = tools.NewServer(eng, versionString())
	return a, nil
}

// engineConfig is what the engine needs, from the configuration.
func (a *app) engineConfig(model *llm.Client, audit *engine.AuditLog) engine.Config {
	cfg := a.cfg
	rate, _ := parseRate(cfg.Limits.RateLimit) // validated by Config.Validate
	maxConcurrent := cfg.Limits.MaxConcurrent
	if maxConcurrent == 0 {
		maxConcurrent = cfg.Limits.MaxConns
	}
	return engine.Config{
		Databases:            a.dbs,
		Logger:               a.log,
		LLM:                  model,
		MaxRows:              cfg.Limits.MaxRows,
		MaxAttempts:          cfg.LLM.MaxAttempts,
		Examples:             cfg.LLM.Examples,
		ExampleMethod:        cfg.LLM.ExampleMethod,
		Candidates:           cfg.LLM.Candidates,
		CandidateTemperature: cfg.LLM.CandidateTemp,
		ResultChecks:         cfg.LLM.ResultChecks,
		MaxPlanCost:          cfg.Limits.MaxPlanCost,
		GuardCache:           guardCache(cfg.Limits.GuardCache),
		Audit:                audit,
		Metrics:              a.metrics,
		RateLimit:            engine.RateLimit{Rate: rate, Burst: cfg.Limits.RateBurst},
		MaxConcurrent:        maxConcurrent,
		QueueWait:            cfg.Limits.QueueTimeout,
		Admit:                a.admit,
		TableTools:           cfg.TableTools,
		TableToolsOnly:       cfg.TableToolsOnly,
		Limits: pgexec.Limits{
			MaxResultBytes:   cfg.Limits.MaxResultBytes,
			MaxCellBytes:     cfg.Limits.MaxCellBytes,
			StatementTimeout: cfg.Limits.StatementTimeout,
			ExplainTimeout:   cfg.Limits.ExplainTimeout,
			AcquireTimeout:   cfg.Limits.AcquireTimeout,
			TraceSQL:         cfg.TraceSQL,
		},
	}
}

// openEngine connects to the configured databases, like openApp, for the
// command-line tools (ask, schema): the engine without an MCP server,
// audit or metrics.
func openEngine(ctx context.Context, cfg *Config, logger *slog.Logger) (*app, *engine.Engine, error) {
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
	eng, err := engine.New(a.engineConfig(model, nil))
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, eng, nil
}

// poolCloseTimeout bounds how long Close waits for the pools: a pool
// waits for its connections in use, and a call that did not give its
// connection back when cancelled must not hold the process.
const poolCloseTimeout = time.Second

// Close closes every pool (waiting at most poolCloseTimeout) and the
// audit log.
func (a *app) Close() {
	if a.eng != nil {
		a.eng.StopRetries()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, db := range a.databases() {
			if db.Pool == nil {
				continue // never opened
			}
			db.StopBackground()
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

// pendingLogin is the login role of a database not reachable at
// start-up: its URL's user; empty for one that was opened.
func pendingLogin(db *engine.Database) string {
	if db.Pool != nil {
		return ""
	}
	return pgexec.LoginUser(db.PendingURL())
}

// admit is asked about a database that comes up after start-up, before it
// is served. Callers may be given roles, but never a login role of the
// pools (httpauth's rule), and that set was fixed at start-up with the
// URL's user standing for this database's: a login role that turns out to
// be another (a role setting that changes current_user) keeps it out until
// a restart.
func (a *app) admit(ctx context.Context, db *engine.Database) error {
	if !a.cfg.Auth.HTTPAuth().Enabled() {
		return nil
	}
	var want string
	for _, d := range a.dbs {
		if d.Name == db.Name {
			want = pendingLogin(d)
		}
	}
	qctx, cancel := context.WithTimeout(ctx, a.cfg.Limits.ConnectTimeout)
	defer cancel()
	session, current, err := pgexec.SessionRoles(qctx, db.Pool)
	if err != nil {
		return fmt.Errorf("read the login role: %w", err)
	}
	if session != want || current != want {
		return &engine.Error{Code: engine.CodeInvalidConfig, Message: fmt.Sprintf(
			"database %q logs in as %q (current_user %q), not %q as its URL says: the roles callers may not be given were fixed at start-up; restart pgmcp to serve it",
			db.Name, session, current, want)}
	}
	return nil
}

// databases are the databases served now: those opened at start-up, and
// those that came up since (Pending ones are left out).
func (a *app) databases() []*engine.Database {
	if a.eng != nil {
		return a.eng.Databases()
	}
	var out []*engine.Database
	for _, db := range a.dbs {
		if db.Pool != nil {
			out = append(out, db)
		}
	}
	return out
}

// openAudit opens the audit log: PGMCP_AUDIT_LOG is a file (appended to,
// created 0600, reopened on SIGHUP) or "stderr"; nil when it is not set.
func (a *app) openAudit() (*engine.AuditLog, error) {
	onError := func(err error) {
		switch {
		case err == nil:
			a.log.Warn("the audit log can be written again")
		case a.cfg.Audit.Required:
			a.log.Error("cannot write the audit log: calls are refused with audit_unavailable until a record can be written (PGMCP_AUDIT_REQUIRED)", "err", err)
		default:
			a.log.Error("cannot write the audit log: calls go on unaudited (PGMCP_AUDIT_REQUIRED=false); pgmcp_audit_write_failures_total counts the lost records", "err", err)
		}
	}
	var l *engine.AuditLog
	switch path := a.cfg.Audit.Log; path {
	case "":
		return nil, nil
	case "stderr":
		l = engine.NewAuditLog(os.Stderr, onError)
	default:
		var err error
		if l, err = engine.OpenAuditFile(path, onError); err != nil {
			return nil, &ConfigError{Problems: []string{"PGMCP_AUDIT_LOG: cannot open " + path + ": " + err.Error()}}
		}
		a.closers = append(a.closers, l)
	}
	l.SetRequired(a.cfg.Audit.Required)
	return l, nil
}

// openDatabase opens one configured database (engine.Open); a failure
// that is the configuration's fault is a ConfigError (exit status 2).
func openDatabase(ctx context.Context, cfg *Config, dc DatabaseConfig, logger *slog.Logger) (*engine.Database, error) {
	db, err := engine.Open(ctx, databaseSpec(cfg, dc), logger)
	var ee *engine.Error
	if errors.As(err, &ee) && ee.Code == engine.CodeInvalidConfig {
		return nil, &ConfigError{Problems: []string{ee.Message}}
	}
	return db, err
}

// problem is an error as one line for a person: a typed error's message
// (without its code, as engine.Describe gives it), any other error's text.
func problem(err error) string {
	if info := engine.Describe(err); info.Code != string(engine.CodeInternal) {
		return info.Message
	}
	return err.Error()
}

// databaseSpec is how to open dc under cfg.
func databaseSpec(cfg *Config, dc DatabaseConfig) engine.DatabaseSpec {
	return engine.DatabaseSpec{
		Name: dc.Name, URL: dc.URL, ExamplesFile: dc.ExamplesFile,
		Policy: policySource(cfg, dc),
		Pool: pgexec.Options{
			StatementTimeout: cfg.Limits.StatementTimeout,
			MaxConns:         int32(cfg.Limits.MaxConns),
			ConnectTimeout:   cfg.Limits.ConnectTimeout,
			MaxMessageBytes:  cfg.Limits.MaxRowBytes,
			FailbackAfter:    cfg.Limits.FailbackAfter,
			Pooler:           dc.Pooler,
		},
		AllowPrivilegedRole: cfg.AllowPrivilegedRole,
		Schema: &schema.Options{TTL: cfg.Schema.CacheTTL, TokenBudget: cfg.Schema.TokenBudget, CommonValues: cfg.Schema.CommonValues,
			Values: cfg.Schema.Values, ValuesPerColumn: cfg.Schema.ValuesPerColumn},
	}
}

// policySource is where dc's policy comes from under cfg.
func policySource(cfg *Config, dc DatabaseConfig) engine.PolicySource {
	return engine.PolicySource{Database: dc.Name, JSON: dc.Policy, File: dc.PolicyFile,
		AllowedSchemas: cfg.Policy.AllowedSchemas, SearchPath: cfg.Policy.SearchPath,
		BlockedTables: cfg.Policy.BlockedTables, BlockedColumns: cfg.Policy.BlockedColumns}
}

// errShuttingDown is the cause the calls cancelled at shutdown report.
var errShuttingDown = errors.New("the server is shutting down")

// newModel builds the model client, or returns nil when no model is
// configured (questions are then refused with a clear error; SQL works).
func newModel(cfg *Config, logger *slog.Logger) (*llm.Client, error) {
	lc := llm.Config{BaseURL: cfg.LLM.BaseURL, APIKey: cfg.LLM.APIKey, Model: cfg.LLM.Model, Timeout: cfg.LLM.Timeout,
		MaxAnswerBytes: cfg.LLM.MaxAnswerBytes, JSONMode: cfg.LLM.JSONMode, Logger: logger}
	if !lc.Enabled() {
		if cfg.LLM.Model != "" || cfg.LLM.BaseURL != "" || cfg.LLM.APIKey != "" {
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
				if a.audit != nil && a.cfg.Audit.Log != "stderr" {
					if err := a.audit.Reopen(); err != nil {
						a.log.Error("SIGHUP: cannot reopen the audit log; records still go to the file open before", "err", err)
					} else {
						a.log.Info("SIGHUP: audit log reopened", "path", a.cfg.Audit.Log)
					}
				}
				a.log.Info("SIGHUP: reloading the policies' relation lists and the schemas")
				if a.auth != nil {
					if err := a.auth.Reload(); err != nil {
						a.log.Error("tokens file reload failed; the previous tokens stay in force", "err", err)
					}
				}
				for _, db := range a.databases() {
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
	if httpAddr != "" && a.cfg.Auth.HTTPAuth().Enabled() {
		acfg := a.cfg.Auth.HTTPAuth()
		logins, err := engine.LoginRoles(ctx, a.databases(), a.cfg.Limits.ConnectTimeout)
		if err != nil {
			return err
		}
		// A database not reachable yet logs in as its URL's user (checked
		// when it comes up: see admit).
		for _, db := range a.dbs {
			if u := pendingLogin(db); u != "" && !slices.Contains(logins, u) {
				logins = append(logins, u)
			}
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

func (a *app) serveHTTP(ctx context.Context, addr string, ready func(string)) error {
	origins, err := newOriginGuard(a.cfg.HTTP.AllowedOrigins, a.cfg.Auth.ResourceURL, a.log)
	if err != nil {
		return err
	}
	lim := a.cfg.httpLimits()
	lim.maxConns = fitConnections(lim.maxConns, len(a.cfg.databases)*a.cfg.Limits.MaxConns, a.log)
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
		Stateless:   a.cfg.HTTP.Stateless,
		IdleTimeout: a.cfg.HTTP.SessionIdleTimeout,
		MaxSessions: a.cfg.HTTP.MaxSessions,
	}, a.log, a.metrics.Registry,
		server.WithStreamableHTTPLogger(a.log),
		// The identity the authentication middleware put in the request
		// context goes on to the tool handlers.
		server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
			if id, ok := engine.IdentityFrom(r.Context()); ok {
				ctx = engine.WithIdentity(ctx, id)
			}
			return engine.WithCallsContext(ctx, calls)
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
	if a.cfg.HTTP.Workbench {
		mux.HandleFunc("GET /{$}", serveWorkbench)
	}
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
	if a.cfg.TLS.CertFile != "" {
		scheme = "https"
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		go func() { errc <- srv.ServeTLS(ln, a.cfg.TLS.CertFile, a.cfg.TLS.KeyFile) }()
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
	if !a.cfg.HTTP.Stateless {
		sessions = []any{"max_sessions", a.cfg.HTTP.MaxSessions, "session_idle_timeout", a.cfg.HTTP.SessionIdleTimeout.String()}
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
// else 503. The body has a line per database: up (with the ping's time,
// the server that answered, whether it is a primary or a standby and, for
// a standby, its replication lag), not answering, or not reachable since
// start-up (retried in the background: since when, the attempts, the next
// one). The ping is the replication status query: one statement.
func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	states := a.eng.DatabaseStates()
	lines := make([]string, len(states))
	var wg sync.WaitGroup
	var down atomic.Int32
	for i, st := range states {
		if !st.Up {
			down.Add(1)
			next := "no more attempts until a restart"
			if !st.Next.IsZero() {
				next = "next attempt in " + max(time.Until(st.Next), 0).Round(time.Second).String()
			}
			lines[i] = fmt.Sprintf("%s: unavailable since %s, %d attempts, %s: %s", st.Name, st.Since.UTC().Format(time.RFC3339), st.Tries, next, st.Problem)
			continue
		}
		wg.Go(func() {
			start := time.Now()
			rep, err := st.Database.Replication(ctx)
			if err != nil {
				down.Add(1)
				lines[i] = st.Name + ": not answering"
				return
			}
			lines[i] = fmt.Sprintf("%s: up (ping %s), %s", st.Name, time.Since(start).Round(10*time.Microsecond), replicationLine(rep))
		})
	}
	wg.Wait()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	status := "ok"
	if down.Load() > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		status = "database unreachable"
	}
	_, _ = io.WriteString(w, status+"\n"+strings.Join(lines, "\n")+"\n")
}

// replicationLine says which server answered and, for a standby, how far
// behind it is: lag_seconds (since the last replayed transaction was
// committed on the primary) and lag_bytes (WAL received, not replayed).
func replicationLine(rep *pgexec.Replication) string {
	if !rep.InRecovery {
		return fmt.Sprintf("primary %s", rep.Server)
	}
	lag := "lag_seconds=unknown (nothing replayed yet)"
	if rep.HasReplay {
		lag = fmt.Sprintf("lag_seconds=%.3f", rep.ReplayLag.Seconds())
	}
	return fmt.Sprintf("standby %s, %s lag_bytes=%d", rep.Server, lag, rep.LagBytes)
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

// serveWorkbench serves the workbench page. The page holds no data: it
// is an MCP client of /mcp, which authenticates each of its requests.
func serveWorkbench(w http.ResponseWriter, r *http.Request) {
	p := webui.Workbench()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", p.CSP())
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.WriteString(w, p.HTML)
}

// slogWriter turns a library's log.Logger output into slog records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)))
	return len(p), nil
}

// guardCache is PGMCP_GUARD_CACHE as engine.Config takes it (0 there is
// the default; none is negative).
func guardCache(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
