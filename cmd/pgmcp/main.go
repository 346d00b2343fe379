// Command pgmcp is an MCP server that lets analysts and AI clients ask a
// PostgreSQL database questions in plain English, safely: every statement is
// validated by sqlguard and runs read-only, bounded in time and rows.
//
// Usage:
//
//	pgmcp serve [--http ADDR]   serve MCP over stdio (default) or streamable HTTP at ADDR/mcp
//	pgmcp demo  [--http ADDR]   the same, on a private throwaway PostgreSQL holding the demo database
//	pgmcp check [--policy FILE] [--jsonl] (--database-url URL | --schema FILE.sql)
//	                            validate SQL from stdin, one JSON verdict a query
//	pgmcp ask "question"        answer a question at the terminal (--sql, --explain, --format)
//	pgmcp schema                print the schema the model sees (--question for the selection)
//	pgmcp doctor                check the configuration, the database role and the model
//	pgmcp token new NAME        make a bearer token for HTTP authentication
//	pgmcp version
//
// Configuration comes from PGMCP_* environment variables (see README.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `pgmcp — ask PostgreSQL questions in plain English, safely (an MCP server)

Usage:
  pgmcp serve [--http ADDR]              serve MCP over stdio, or streamable HTTP at http://ADDR/mcp
  pgmcp demo  [--http ADDR]              serve the built-in demo database on a private throwaway PostgreSQL
  pgmcp check [--policy FILE] [--jsonl] (--database-url URL | --schema FILE.sql)
                                         validate SQL read from stdin, resolved against a database's
                                         catalog or a DDL file; one JSON verdict per query
  pgmcp ask [flags] "question"           answer a question (or --sql "SELECT …") and print the result
  pgmcp schema [--question "…"]          print the schema the model sees (the relevance selection for a question)
  pgmcp eval [flags] FILE.jsonl          score the model on your questions: execution accuracy and soft-F1 against gold SQL
  pgmcp doctor                           check configuration, database, role and model, with a fix for each problem
  pgmcp token new [flags] NAME           make a bearer token for HTTP (its entry for PGMCP_AUTH_TOKENS_FILE)
  pgmcp version                          print the version

Configuration is read from PGMCP_* environment variables; see README.md.
`

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // a run-time failure: database unreachable, refused role, …
	exitUsage   = 2 // bad arguments or configuration
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], environ, stdin, stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], environ, stdin, stdout, stderr)
	case "check":
		return runCheck(ctx, args[1:], environ, stdin, stdout, stderr)
	case "ask":
		return runAsk(ctx, args[1:], environ, stdin, stdout, stderr)
	case "schema":
		return runSchema(ctx, args[1:], environ, stdout, stderr)
	case "eval":
		return runEval(ctx, args[1:], environ, stdout, stderr)
	case "doctor":
		return runDoctor(ctx, args[1:], environ, stdout, stderr)
	case "token":
		return runToken(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "pgmcp", versionString())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "pgmcp: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}

// versionString is the version, with the VCS revision when the binary
// carries one.
func versionString() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}

// fail prints one clear line for a start-up failure and returns its exit
// code: usage for configuration errors, failure for everything else.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "pgmcp: error:", err)
	var ce *ConfigError
	if errors.As(err, &ce) {
		return exitUsage
	}
	return exitFailure
}
