package main

import (
	"context"
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
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/server"

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
	httpAddr string
}

func parseServeFlags(name string, args []string, stderr io.Writer) (serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet("pgmcp "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.httpAddr, "http", "", "serve streamable HTTP on this address (e.g. 127.0.0.1:8080) instead of stdio")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
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
	cfg *Config
	log *slog.Logger
	dbs []*tools.Database
	mcp *server.MCPServer
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
	s, err := tools.NewServer(tools.Deps{
		Databases:   a.dbs,
		Logger:      logger,
		Version:     versionString(),
		LLM:         model,
		MaxRows:     cfg.MaxRows,
		MaxAttempts: cfg.LLMMaxAttempts,
		MaxPlanCost: cfg.MaxPlanCost,
		Limits: pgexec.Limits{
			MaxResultBytes:   cfg.MaxResultBytes,
			MaxCellBytes:     cfg.MaxCellBytes,
			StatementTimeout: cfg.StatementTimeout,
		},
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.mcp = s
	return a, nil
}

// Close closes every pool.
func (a *app) Close() {
	for _, db := range a.dbs {
		db.Pool.Close()
	}
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
func newModel(cfg *Config, logger *slog.Logger) (*llm.Client, error) {
	lc := llm.Config{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMAPIKey, Model: cfg.LLMModel, Timeout: cfg.LLMTimeout,
		JSONMode: cfg.LLMJSONMode, Logger: logger}
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
				a.log.Info("SIGHUP: reloading the policies' relation lists and the schemas")
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
	a.reloadOnSIGHUP(ctx)
	if httpAddr == "" {
		a.log.Info("serving MCP over stdio")
		if ready != nil {
			ready("")
		}
		stdio := server.NewStdioServer(a.mcp)
		stdio.SetErrorLogger(log.New(slogWriter{a.log}, "", 0))
		err := stdio.Listen(ctx, stdin, stdout)
		if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	return a.serveHTTP(ctx, httpAddr, ready)
}

func (a *app) serveHTTP(ctx context.Context, addr string, ready func(string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	streamable := server.NewStreamableHTTPServer(a.mcp,
		server.WithStreamableHTTPLogger(a.log),
	)
	mux := http.NewServeMux()
	mux.Handle("/mcp", http.MaxBytesHandler(streamable, maxRequestBytes))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(slogWriter{a.log}, "", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr().String())
	}
	a.log.Info("serving MCP over streamable HTTP", "url", "http://"+ln.Addr().String()+"/mcp")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = streamable.Shutdown(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	return nil
}

// slogWriter turns a library's log.Logger output into slog records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)))
	return len(p), nil
}
