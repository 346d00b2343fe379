package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/sqlguard/sqlfmt"
	"github.com/pgmcp/pgmcp/tools/engine"
)

const askUsage = `usage: pgmcp ask [flags] "question in plain English"
       pgmcp ask --sql [flags] "SELECT …"

Answers a question with the same pipeline as the query tool: the model writes
SQL, the guard checks it, PostgreSQL runs it read-only. Prints the SQL, then
the result, the row count, truncation and timing. A question or SQL of "-"
is read from stdin.

Exit status: 0 ok; 1 the query was refused or failed; 2 usage or
configuration error.

Flags:
`

// askFlags are the flags of ask.
type askFlags struct {
	format   string
	sql      bool
	explain  bool
	database string
	maxRows  int
	demo     bool
	input    string
}

func parseAskFlags(args []string, stdin io.Reader, stderr io.Writer) (askFlags, error) {
	var f askFlags
	fs := flag.NewFlagSet("pgmcp ask", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, askUsage); fs.PrintDefaults() }
	fs.StringVar(&f.format, "format", "table", "result format: table, csv, json or markdown")
	fs.BoolVar(&f.sql, "sql", false, "the argument is SQL to run, not a question")
	fs.BoolVar(&f.explain, "explain", false, "print the explain review (verdict, plan, warnings, summary) instead of running")
	fs.StringVar(&f.database, "database", "", "database to ask (default: the first configured)")
	fs.IntVar(&f.maxRows, "max-rows", 0, "return at most this many rows (default and ceiling: PGMCP_MAX_ROWS)")
	fs.BoolVar(&f.demo, "demo", false, "ask the built-in demo database on a private throwaway PostgreSQL")
	// Flags may come after the question too.
	var words []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return f, err
		}
		if fs.NArg() == 0 {
			break
		}
		words = append(words, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	switch f.format {
	case "table", "csv", "json", "markdown":
	default:
		fmt.Fprintf(stderr, "pgmcp ask: --format must be table, csv, json or markdown, got %q\n", f.format)
		return f, errors.New("bad format")
	}
	f.input = strings.TrimSpace(strings.Join(words, " "))
	if f.input == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
		if err != nil {
			return f, err
		}
		f.input = strings.TrimSpace(string(b))
	}
	if f.input == "" {
		fs.Usage()
		return f, errors.New("no question")
	}
	return f, nil
}

// runAsk is `pgmcp ask`.
func runAsk(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags, err := parseAskFlags(args, stdin, stderr)
	if err != nil {
		return exitUsage
	}
	eng, done, err := openCLI(ctx, environ, flags.demo, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	defer done()

	question, sql := flags.input, ""
	if flags.sql {
		question, sql = "", flags.input
	}
	var spin *spinner
	if question != "" {
		spin = startSpinner(stderr, "asking the model")
	}
	if flags.explain {
		res, err := eng.Explain(ctx, engine.ExplainArgs{Question: question, SQL: sql, Database: flags.database})
		spin.stop()
		if err != nil {
			return askFailed(stderr, err)
		}
		if flags.format == "json" {
			writeJSON(stdout, res)
		} else {
			fmt.Fprint(stdout, engine.RenderExplainText(res))
		}
		if !res.Verdict.Allowed {
			return exitFailure
		}
		return exitOK
	}
	res, err := eng.Query(ctx, engine.QueryArgs{Question: question, SQL: sql, Database: flags.database, MaxRows: flags.maxRows})
	spin.stop()
	if err != nil {
		return askFailed(stderr, err)
	}
	writeAnswer(stdout, stderr, flags.format, res)
	return exitOK
}

// writeAnswer prints a result. table and markdown print the SQL, the rows
// and a footer on stdout; csv prints only the rows on stdout (the SQL and
// the footer go to stderr, so the output is a clean CSV file); json prints
// the whole result as one object.
func writeAnswer(stdout, stderr io.Writer, format string, res *engine.QueryResult) {
	footer := answerFooter(res)
	switch format {
	case "json":
		writeJSON(stdout, res)
	case "csv":
		fmt.Fprintf(stderr, "%s\n", sqlfmt.Format(res.SQL))
		if err := writeCSV(stdout, res.Columns, res.Rows); err != nil {
			fmt.Fprintln(stderr, "pgmcp ask: write csv:", err)
		}
		fmt.Fprintln(stderr, footer)
	case "markdown":
		fmt.Fprintf(stdout, "```sql\n%s\n```\n\n", sqlfmt.Format(res.SQL))
		writeMarkdown(stdout, res.Columns, res.Rows)
		fmt.Fprintf(stdout, "\n%s\n", footer)
	default:
		fmt.Fprintf(stdout, "%s\n\n", sqlfmt.Format(res.SQL))
		writeAligned(stdout, res.Columns, res.Rows)
		fmt.Fprintf(stdout, "%s\n", footer)
	}
}

// answerFooter is "(3 rows, 1.2 ms, 1 model call)" with truncation.
func answerFooter(res *engine.QueryResult) string {
	parts := []string{fmt.Sprintf("%d row%s", res.RowCount, plural(res.RowCount, "", "s"))}
	if res.Truncated {
		by := "the row cap"
		if res.TruncatedBy == "max_result_bytes" {
			by = "the result size cap"
		}
		parts[0] += ", truncated by " + by + " (more rows exist)"
	}
	parts = append(parts, fmt.Sprintf("%.1f ms", res.ElapsedMS))
	if res.Attempts > 0 {
		parts = append(parts, fmt.Sprintf("%d model call%s", res.Attempts, plural(res.Attempts, "", "s")))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// askFailed prints a refusal or failure the way a client sees it, and
// returns the exit code: usage for bad arguments, failure otherwise.
func askFailed(stderr io.Writer, err error) int {
	e := engine.Describe(err)
	if e.SQL != "" {
		fmt.Fprintf(stderr, "%s\n\n", sqlfmt.Format(e.SQL))
	}
	fmt.Fprintf(stderr, "pgmcp: %s: %s\n", e.Code, e.Message)
	if e.SQLState != "" && !strings.Contains(e.Message, e.SQLState) {
		fmt.Fprintf(stderr, "  sqlstate: %s\n", e.SQLState)
	}
	if e.Hint != "" {
		fmt.Fprintf(stderr, "  hint: %s\n", e.Hint)
	}
	switch e.Code {
	case string(engine.CodeInvalidArgument), string(engine.CodeUnknownDatabase), string(llm.CodeNotConfigured):
		return exitUsage
	}
	return exitFailure
}

// openCLI starts a terminal command (ask, schema, eval): it loads the
// configuration, starts the demo database when asked, and connects. done
// closes the connections and stops the demo.
func openCLI(ctx context.Context, environ []string, demo bool, stderr io.Writer) (eng *engine.Engine, done func(), err error) {
	if demo {
		environ = demoEnviron(environ)
	}
	cfg, err := LoadConfig(environ)
	if err != nil {
		return nil, nil, err
	}
	logger := newLogger(stderr, quietLevel(cfg, environ))
	stop := func() {}
	if demo {
		if _, stop, err = startDemo(ctx, cfg, logger); err != nil {
			return nil, nil, err
		}
	} else if err := cfg.RequireDatabase(); err != nil {
		return nil, nil, err
	}
	a, eng, err := openEngine(ctx, cfg, logger)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return eng, func() { a.Close(); stop() }, nil
}

// quietLevel is the log level of the terminal commands: warnings only,
// unless PGMCP_LOG_LEVEL is set.
func quietLevel(cfg *Config, environ []string) slog.Level {
	for _, kv := range environ {
		if strings.HasPrefix(kv, envPrefix+"LOG_LEVEL=") {
			return cfg.logLevel
		}
	}
	return slog.LevelWarn
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// spinner shows that something is going on, on a terminal's stderr only.
type spinner struct {
	w    io.Writer
	done chan struct{}
	wg   sync.WaitGroup
}

// startSpinner starts a spinner with a label on w when w is a terminal;
// otherwise it returns nil (whose stop does nothing).
func startSpinner(w io.Writer, label string) *spinner {
	if !isTerminal(w) {
		return nil
	}
	s := &spinner{w: w, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
		start := time.Now()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(s.w, "\r%s %s… %.0fs", frames[i%len(frames)], label, time.Since(start).Seconds())
			select {
			case <-s.done:
				fmt.Fprint(s.w, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *spinner) stop() {
	if s == nil {
		return
	}
	close(s.done)
	s.wg.Wait()
}
