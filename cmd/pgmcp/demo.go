package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/cmd/pgmcp/localpg"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// demoDatabase and demoRole name the demo's database and its read-only role.
const (
	demoDatabase = "demo"
	demoRole     = "pgmcp_reader"
)

// runDemo starts a private throwaway PostgreSQL, loads the demo database,
// and serves it like serve does. The cluster is stopped and deleted on
// SIGINT/SIGTERM (and, through the postmaster's parent-death signal, if
// pgmcp itself is killed).
func runDemo(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags, err := parseServeFlags("demo", args, stderr)
	if err != nil {
		return exitUsage
	}
	cfg, err := LoadConfig(demoEnviron(environ))
	if err != nil {
		return fail(stderr, err)
	}
	if flags.httpAddr == "" {
		flags.httpAddr = cfg.HTTP.Addr
	}
	if err := flags.check(cfg); err != nil {
		return fail(stderr, err)
	}
	logger := newLogger(stderr, cfg.logLevel)
	// Flushed last, after the pools are closed (deferred first).
	defer startTracing(ctx, environ, logger)()

	cluster, stop, err := startDemo(ctx, cfg, logger)
	if err != nil {
		return fail(stderr, err)
	}
	defer stop()

	app, err := openApp(ctx, cfg, logger)
	if err != nil {
		return fail(stderr, err)
	}
	defer app.Close()

	// Stop serving if the postmaster dies under us.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-cluster.Done():
			logger.Error("the demo PostgreSQL exited unexpectedly")
			cancel()
		case <-ctx.Done():
		}
	}()

	err = app.Serve(ctx, flags.httpAddr, stdin, stdout, func(addr string) {
		printConnectHelp(stderr, addr)
	})
	if err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

// startDemo starts a private throwaway PostgreSQL loaded with the demo
// database and points cfg at it. stop stops and deletes the cluster.
func startDemo(ctx context.Context, cfg *Config, logger *slog.Logger) (cluster *localpg.Cluster, stop func(), err error) {
	start := time.Now()
	logger.Info("starting a private PostgreSQL for the demo")
	cluster, err = localpg.Start(ctx, localpg.Options{})
	if err != nil {
		return nil, nil, err
	}
	stop = func() {
		if err := cluster.Stop(); err != nil {
			logger.Error("stopping the demo PostgreSQL", "err", err)
		} else {
			logger.Info("demo PostgreSQL stopped and deleted")
		}
	}
	password, err := loadDemo(ctx, cluster)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("load the demo database: %w", err)
	}
	url := cluster.URLFor(demoRole, password, demoDatabase)
	cfg.databases = []DatabaseConfig{{Name: demoDatabase, URL: url, Policy: demodb.PolicyJSON, ExamplesFile: cfg.ExamplesFile}}
	logger.Info("demo database ready", "postgres", cluster.Version, "url", pgexec.RedactDSN(url),
		"elapsed", time.Since(start).Round(time.Millisecond))
	return cluster, stop, nil
}

// demoEnviron drops the database settings of the environment: the demo
// serves its own database, with its own policy.
func demoEnviron(environ []string) []string {
	drop := map[string]bool{"PGMCP_DATABASE_URL": true, "PGMCP_DATABASES": true, "PGMCP_POLICY_FILE": true,
		"PGMCP_ALLOWED_SCHEMAS": true, "PGMCP_SEARCH_PATH": true}
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	return out
}

// loadDemo creates the demo database and its read-only role (with a fresh
// random password, returned).
func loadDemo(ctx context.Context, c *localpg.Cluster) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", err
	}
	err = demodb.CreateDatabase(ctx, admin, demoDatabase)
	admin.Close(ctx)
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, c.URL(demoDatabase))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if err := demodb.Load(ctx, conn); err != nil {
		return "", err
	}
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	password := hex.EncodeToString(b[:])
	if err := demodb.CreateReaderRole(ctx, conn, demoDatabase, demoRole, password); err != nil {
		return "", err
	}
	return password, nil
}

// printConnectHelp tells, on stderr, how to connect a client.
func printConnectHelp(w io.Writer, addr string) {
	exe, err := os.Executable()
	if err != nil {
		exe = "pgmcp"
	} else if abs, err := filepath.Abs(exe); err == nil {
		exe = abs
	}
	fmt.Fprintln(w)
	if addr != "" {
		fmt.Fprintf(w, "pgmcp demo is serving MCP at http://%s/mcp (Ctrl-C stops it and deletes the demo database)\n\n", addr)
		fmt.Fprintf(w, "Open the workbench in a browser: http://%s/\n\n", addr)
		fmt.Fprintf(w, "Try it with the MCP Inspector:\n  npx -y @modelcontextprotocol/inspector@2.12.0 --cli http://%s/mcp --method tools/list\n", addr)
		fmt.Fprintf(w, "  npx -y @modelcontextprotocol/inspector@2.12.0 --cli http://%s/mcp --method tools/call --tool-name get_schema\n\n", addr)
	} else {
		fmt.Fprintln(w, "pgmcp demo is serving MCP over stdio")
	}
	fmt.Fprintf(w, "Claude Desktop (stdio; add to claude_desktop_config.json, then restart Claude):\n")
	fmt.Fprintf(w, `  {
    "mcpServers": {
      "pgmcp-demo": {
        "command": %q,
        "args": ["demo"]
      }
    }
  }
`, exe)
	fmt.Fprintln(w)
}
