package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/engine"
)

// Exit codes of `pgmcp check`.
const (
	checkAllAllowed = 0 // every query is allowed
	checkRejected   = 1 // at least one query is rejected
	checkUsage      = 2 // bad arguments, unreadable or invalid policy, malformed JSONL input
)

// maxCheckInput bounds what `pgmcp check` reads from stdin (the guard itself
// rejects any single query above the policy's max_sql_bytes).
const maxCheckInput = 256 << 20

const checkUsageText = `Usage: pgmcp check [--policy FILE] [--jsonl] (--database-url URL | --schema FILE.sql) < input

Validates SQL with sqlguard and prints one JSON line per query:

  {"allowed": true,  "code": "", "message": "", "sql": "..."}
  {"allowed": false, "code": "function_not_allowed", "message": "...", "sql": "..."}

code and message are always present; they are empty strings for an allowed
query. sql is the input query as given.

The guard resolves every name against a catalog, as PostgreSQL does, so
check needs one: --database-url URL (else PGMCP_DATABASE_URL) reads it from
a database (the policy's search path and allowed schemas, as the login role
sees them; only catalog queries are run, on a read-only session), and
--schema FILE.sql reads it from DDL (CREATE SCHEMA, TABLE, VIEW, TYPE).
With a database, a policy without "database" takes the database's name.

Without --jsonl the whole of stdin is one query. With --jsonl every
non-empty input line is a JSON object with a "sql" string field (other
fields are ignored).

Without --policy the default policy is used: every relation of schema
public, search_path public, nothing blocked.

Exit status: 0 if every query is allowed, 1 if any is rejected, 2 on a usage
error, no catalog (or one that cannot be read), an unreadable or invalid
policy, or a malformed JSONL line.

Flags:
`

// checkNoCatalog is the one line `pgmcp check` prints without a catalog.
const checkNoCatalog = "pgmcp check: no catalog to resolve names against: pass --database-url URL (or set PGMCP_DATABASE_URL) or --schema FILE.sql"

// checkConnectTimeout bounds connecting to the database and reading its
// catalog.
const checkConnectTimeout = 30 * time.Second

// checkVerdict is one output line of `pgmcp check`.
type checkVerdict struct {
	Allowed bool   `json:"allowed"`
	Code    string `json:"code"`
	Message string `json:"message"`
	SQL     string `json:"sql"`
}

// runCheck implements `pgmcp check [--policy FILE] [--jsonl]
// (--database-url URL | --schema FILE.sql)`.
func runCheck(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policyFile := fs.String("policy", "", "sqlguard policy `FILE` (JSON, as shop_policy.json); default: all of schema public")
	jsonl := fs.Bool("jsonl", false, "read JSON Lines, one {\"sql\": ...} object per line")
	dbURL := fs.String("database-url", "", "resolve names against the catalog of the database at `URL` (default: PGMCP_DATABASE_URL)")
	schemaFile := fs.String("schema", "", "resolve names against the DDL of `FILE.sql` (CREATE SCHEMA, TABLE, VIEW, TYPE)")
	fs.Usage = func() {
		fmt.Fprint(stderr, checkUsageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return checkAllAllowed
		}
		return checkUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pgmcp check: unexpected argument %q (the SQL is read from stdin)\n", fs.Arg(0))
		fs.Usage()
		return checkUsage
	}
	if *dbURL != "" && *schemaFile != "" {
		fmt.Fprintln(stderr, "pgmcp check: give either --database-url or --schema, not both")
		return checkUsage
	}
	if *dbURL == "" && *schemaFile == "" {
		*dbURL = envValue(environ, "PGMCP_DATABASE_URL")
	}
	if *dbURL == "" && *schemaFile == "" {
		fmt.Fprintln(stderr, checkNoCatalog)
		return checkUsage
	}

	policy := sqlguard.DefaultPolicy()
	if *policyFile != "" {
		b, err := os.ReadFile(*policyFile)
		if err != nil {
			fmt.Fprintf(stderr, "pgmcp check: cannot read the policy: %v\n", err)
			return checkUsage
		}
		if policy, err = sqlguard.ParsePolicyJSON(b); err != nil {
			fmt.Fprintf(stderr, "pgmcp check: %s: %v\n", *policyFile, err)
			return checkUsage
		}
	}
	if *schemaFile != "" {
		b, err := os.ReadFile(*schemaFile)
		if err != nil {
			fmt.Fprintf(stderr, "pgmcp check: cannot read the schema: %v\n", err)
			return checkUsage
		}
		searchPath := policy.SearchPath
		if len(searchPath) == 0 {
			searchPath = []string{"public"}
		}
		if policy.Catalog, err = sqlguard.CatalogFromDDL(string(b), searchPath); err != nil {
			fmt.Fprintf(stderr, "pgmcp check: %s: %v\n", *schemaFile, err)
			return checkUsage
		}
	} else if err := engine.LoadPolicyCatalog(ctx, *dbURL, policy, checkConnectTimeout); err != nil {
		fmt.Fprintf(stderr, "pgmcp check: %s\n", problem(err))
		return checkUsage
	}

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	anyRejected := false
	verdict := func(sql string) error {
		v := checkVerdict{Allowed: true, SQL: sql}
		if _, err := sqlguard.Check(sql, policy); err != nil {
			anyRejected = true
			v.Allowed = false
			v.Message = err.Error()
			var ge *sqlguard.Error
			if errors.As(err, &ge) {
				v.Code, v.Message = string(ge.Code), ge.Message
			}
		}
		return enc.Encode(v)
	}
	in := io.LimitReader(stdin, maxCheckInput)

	if !*jsonl {
		b, err := io.ReadAll(in)
		if err != nil {
			fmt.Fprintf(stderr, "pgmcp check: reading stdin: %v\n", err)
			return checkUsage
		}
		if err := verdict(string(b)); err != nil {
			fmt.Fprintf(stderr, "pgmcp check: writing: %v\n", err)
			return checkUsage
		}
	} else {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), maxCheckInput)
		for line := 1; sc.Scan(); line++ {
			text := sc.Bytes()
			if len(bytes.TrimSpace(text)) == 0 {
				continue
			}
			var rec struct {
				SQL *string `json:"sql"`
			}
			if err := json.Unmarshal(text, &rec); err != nil {
				out.Flush()
				fmt.Fprintf(stderr, "pgmcp check: stdin line %d: not a JSON object with a \"sql\" string: %v\n", line, err)
				return checkUsage
			}
			if rec.SQL == nil {
				out.Flush()
				fmt.Fprintf(stderr, "pgmcp check: stdin line %d: no \"sql\" field\n", line)
				return checkUsage
			}
			if err := verdict(*rec.SQL); err != nil {
				fmt.Fprintf(stderr, "pgmcp check: writing: %v\n", err)
				return checkUsage
			}
		}
		if err := sc.Err(); err != nil {
			out.Flush()
			fmt.Fprintf(stderr, "pgmcp check: reading stdin: %v\n", err)
			return checkUsage
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "pgmcp check: writing: %v\n", err)
		return checkUsage
	}
	if anyRejected {
		return checkRejected
	}
	return checkAllAllowed
}

// envValue returns the value of variable name in environ ("" when unset).
func envValue(environ []string, name string) string {
	v := ""
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val // the last one wins, as in a shell
		}
	}
	return v
}
