package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

const schemaUsage = `usage: pgmcp schema [--question "…"] [--database NAME] [--demo]

Prints the schema the model is shown, in pgmcp's compact format: every
table the policy allows, or, with --question, the tables relevance
selection picks for that question within PGMCP_SCHEMA_TOKEN_BUDGET (with
why each was chosen, on stderr).

Flags:
`

// runSchema is `pgmcp schema`.
func runSchema(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pgmcp schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, schemaUsage); fs.PrintDefaults() }
	question := fs.String("question", "", "show the tables chosen for this question")
	database := fs.String("database", "", "database to show (default: the first configured)")
	demo := fs.Bool("demo", false, "show the built-in demo database (on a private throwaway PostgreSQL)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pgmcp schema: unexpected argument %q (a question goes in --question)\n", fs.Arg(0))
		return exitUsage
	}
	eng, done, err := openCLI(ctx, environ, *demo, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	defer done()
	sc, err := eng.SchemaContext(ctx, *database, strings.TrimSpace(*question))
	if err != nil {
		return askFailed(stderr, err)
	}
	fmt.Fprint(stdout, sc.Text)
	if !strings.HasSuffix(sc.Text, "\n") {
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stderr, "-- database %s: %d of %d tables, ~%d tokens (budget %d)\n", sc.Database, sc.Tables, sc.Total, sc.Tokens, sc.Budget)
	if sc.Why != "" {
		fmt.Fprintf(stderr, "-- %s\n", strings.ReplaceAll(sc.Why, "\n", "\n-- "))
	}
	return exitOK
}
