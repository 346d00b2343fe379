// Command load is pgmcp's load test (issue 7): many concurrent MCP clients
// over streamable HTTP make thousands of tool calls (get_schema, and query in
// SQL mode) on the demo database, and it reports throughput, latency
// percentiles, the server's memory, goroutines (or threads and file
// descriptors when the server has no /metrics) and CPU, and whether any call
// failed.
//
// By default it is self-contained: it builds pgmcp, runs `pgmcp demo --http
// 127.0.0.1:0` (a private throwaway PostgreSQL loaded with the demo
// database), runs the load, stops the server with SIGTERM and checks the demo
// cluster is gone:
//
//	go run ./tests/load                       # 64 clients, 10,000 calls
//	go run ./tests/load --json > load.json    # machine-readable
//	go run ./tests/load --url http://127.0.0.1:8080/mcp --pid 1234
//
// Exit status: 0 when every call succeeded and the server did not grow; 1
// when a call failed, or goroutines (file descriptors without /metrics) grew
// by more than --slack, or the demo was not cleaned up; 2 on a usage or
// set-up error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func realMain(args []string, stdout, stderr io.Writer) int {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./tests/load [flags]\n\n"+
			"Load-tests pgmcp over streamable HTTP. Without --url it builds pgmcp and runs it on the\n"+
			"demo database (pgmcp demo); with --url it targets a running server.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var mix string
	var env stringList
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "concurrent MCP clients, each with its own HTTP connection")
	fs.IntVar(&cfg.Calls, "calls", cfg.Calls, "tool calls in total (measured), shared by the clients")
	fs.IntVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured calls first (by the same number of clients, then closed), so pools and caches are warm; 0 for none")
	fs.StringVar(&mix, "mix", "20:80", "get_schema:query ratio of the calls, e.g. 20:80 or 1:4")
	fs.StringVar(&cfg.Era, "era", cfg.Era, "protocol era of the clients: 2026-07-28, 2025-11-25 or mixed (half each)")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON instead of markdown")
	jsonOut := fs.String("json-out", "", "also write the report as JSON to this file")
	fs.StringVar(&cfg.URL, "url", "", "target a running server at this MCP URL (http://HOST:PORT/mcp) instead of starting the demo")
	fs.IntVar(&cfg.PID, "pid", 0, "with --url: the server's process id, to sample its memory, threads and file descriptors (default: found from the listening port when the server is local)")
	var also stringList
	fs.Var(&also, "also-metrics", "with --url behind a load balancer: the base URL (http://HOST:PORT) of another server behind it, whose tool calls count with the first's (repeatable; /metrics of --url's host is the first's)")
	fs.StringVar(&cfg.Bin, "bin", "", "use this pgmcp binary instead of building one")
	fs.BoolVar(&cfg.Race, "race", false, "build pgmcp with the race detector (finds data races under load; much slower, figures not comparable)")
	fs.Var(&env, "env", "extra KEY=VALUE for the demo server's environment, e.g. PGMCP_MAX_CONNS=20 (repeatable)")
	fs.DurationVar(&cfg.CallTimeout, "timeout", cfg.CallTimeout, "longest a single call may take before it counts as failed")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "wait after the clients have closed before counting the server's goroutines")
	fs.IntVar(&cfg.Slack, "slack", cfg.Slack, "goroutines (or file descriptors) the server may gain over the run before it counts as growth")
	fs.DurationVar(&cfg.SampleEvery, "sample", cfg.SampleEvery, "interval of the server RSS samples")
	fs.StringVar(&cfg.ServerLog, "server-log", "", "also write the demo server's stderr to this file")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "load: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var err error
	if cfg.SchemaShare, cfg.QueryShare, err = parseMix(mix); err != nil {
		fmt.Fprintf(stderr, "load: --mix: %v\n", err)
		return 2
	}
	cfg.ServerEnv = env
	cfg.AlsoMetrics = also
	if !*quiet {
		cfg.Progress = stderr
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg)
	if rep != nil && *jsonOut != "" {
		if b, err := json.MarshalIndent(rep, "", "  "); err == nil {
			if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
				fmt.Fprintf(stderr, "load: %v\n", err)
			}
		}
	}
	if rep != nil {
		if cfg.JSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(rep)
		} else {
			_ = rep.writeMarkdown(stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		return 2
	}
	if !rep.Passed {
		fmt.Fprintf(stderr, "load: FAILED: %s\n", strings.Join(rep.Problems, "; "))
		return 1
	}
	return 0
}

// parseMix parses "a:b" (get_schema:query) into two non-negative weights.
func parseMix(s string) (schema, query int, err error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("want get_schema:query, e.g. 20:80, got %q", s)
	}
	schema, err1 := strconv.Atoi(strings.TrimSpace(a))
	query, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || schema < 0 || query < 0 || schema+query == 0 {
		return 0, 0, fmt.Errorf("want two non-negative integers, not both 0, e.g. 20:80, got %q", s)
	}
	return schema, query, nil
}
