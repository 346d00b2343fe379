package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/pgmcp/pgmcp/tools/engine"
)

const evalUsage = `usage: pgmcp eval [flags] FILE.jsonl
       pgmcp eval [flags] --spider DIR

Measures how well the configured model answers your questions on your
databases: each line of FILE is one question,
  {"question": "…", "gold_sql": "SELECT …" | "gold_rows": [[…], …],
   "database": "…", "id": "…", "difficulty": "…"}
("database" picks one of PGMCP_DATABASES; the first by default). Each
question goes through the same pipeline as the query tool (the model, the
guard, the read-only executor and their limits); the gold SQL runs the same
way, and the two results are compared: execution accuracy (EX: the same
rows, as multisets; in order only when the gold SQL has an ORDER BY;
column order and names ignored; numbers equal within a relative 1e-6,
integers exactly) and BIRD's soft-F1. Cases whose gold SQL cannot run are
reported and left out of the shares.

--spider DIR runs the dev set of a downloaded Spider release (DIR/dev.json)
on PostgreSQL copies of its databases, each one of PGMCP_DATABASES named
by its db_id (letter case aside); questions on databases not configured
are skipped. Gold queries are made PostgreSQL's ("double-quoted" strings
become 'single-quoted'), and difficulty is Spider's (easy, medium, hard,
extra). See docs/MODELS.md for loading the databases.

Prints a table per difficulty and overall: cases, EX, soft-F1, median
latency, model calls, tokens (and cost, with the price flags).

Exit status: 0 ok; 1 EX under --min-ex, or no case could be scored;
2 usage or configuration error.

Flags:
`

// evalFlags are the flags of eval.
type evalFlags struct {
	out             string
	minEX           float64
	pricePrompt     float64
	priceCompletion float64
	demo            bool
	file            string
	spider          string
	limit           int
}

func parseEvalFlags(args []string, stderr io.Writer) (evalFlags, error) {
	var f evalFlags
	fs := flag.NewFlagSet("pgmcp eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, evalUsage); fs.PrintDefaults() }
	fs.StringVar(&f.out, "out", "", "write one JSON object per question to this file")
	fs.Float64Var(&f.minEX, "min-ex", 0, "exit 1 when the execution accuracy (0 to 1) is below this")
	fs.Float64Var(&f.pricePrompt, "price-prompt", 0, "price of one million prompt tokens, for the cost column")
	fs.Float64Var(&f.priceCompletion, "price-completion", 0, "price of one million completion tokens, for the cost column")
	fs.BoolVar(&f.demo, "demo", false, "evaluate on the built-in demo database (a private throwaway PostgreSQL)")
	fs.IntVar(&f.limit, "limit", 0, "evaluate only the first N questions")
	fs.StringVar(&f.spider, "spider", "", "run the dev set of the Spider release in this directory (instead of FILE.jsonl)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	wantArgs := 1
	if f.spider != "" {
		wantArgs = 0
	}
	if fs.NArg() != wantArgs {
		fs.Usage()
		return f, fmt.Errorf("want one FILE.jsonl, or --spider DIR")
	}
	if f.minEX < 0 || f.minEX > 1 {
		fmt.Fprintln(stderr, "pgmcp eval: --min-ex is a share between 0 and 1")
		return f, fmt.Errorf("bad --min-ex")
	}
	f.file = fs.Arg(0)
	return f, nil
}

// readEvalCases reads an eval file: one JSON object per line, blank lines
// and lines starting with # skipped.
func readEvalCases(r io.Reader) ([]engine.EvalCase, error) {
	var out []engine.EvalCase
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var c engine.EvalCase
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		if strings.TrimSpace(c.Question) == "" {
			return nil, fmt.Errorf("line %d: no question", n)
		}
		if strings.TrimSpace(c.GoldSQL) == "" && c.GoldRows == nil {
			return nil, fmt.Errorf("line %d: give gold_sql or gold_rows", n)
		}
		if c.ID == "" {
			c.ID = fmt.Sprint(n)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

// loadEvalCases reads the cases of FILE.jsonl or of --spider DIR.
func loadEvalCases(flags evalFlags) ([]engine.EvalCase, error) {
	if flags.spider != "" {
		return engine.ReadSpider(flags.spider)
	}
	f, err := os.Open(flags.file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cases, err := readEvalCases(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", flags.file, err)
	}
	return cases, nil
}

// spiderOnConfigured keeps the Spider cases whose db_id names one of the
// configured databases (letter case aside), renamed to it, and counts the
// others by db_id.
func spiderOnConfigured(cases []engine.EvalCase, names []string) ([]engine.EvalCase, map[string]int) {
	byLower := map[string]string{}
	for _, n := range names {
		byLower[strings.ToLower(n)] = n
	}
	skipped := map[string]int{}
	kept := cases[:0]
	for _, c := range cases {
		n, ok := byLower[strings.ToLower(c.Database)]
		if !ok {
			skipped[c.Database]++
			continue
		}
		c.Database = n
		kept = append(kept, c)
	}
	return kept, skipped
}

// countList is "a (3), b (1)", in name order.
func countList(m map[string]int) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s (%d)", n, m[n])
	}
	return strings.Join(parts, ", ")
}

// runEval is `pgmcp eval`.
func runEval(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	flags, err := parseEvalFlags(args, stderr)
	if err != nil {
		return exitUsage
	}
	cases, err := loadEvalCases(flags)
	if err != nil {
		fmt.Fprintln(stderr, "pgmcp eval:", err)
		return exitUsage
	}
	var out io.Writer
	if flags.out != "" {
		of, err := os.Create(flags.out)
		if err != nil {
			fmt.Fprintln(stderr, "pgmcp eval:", err)
			return exitUsage
		}
		defer of.Close()
		bw := bufio.NewWriter(of)
		defer bw.Flush()
		out = bw
	}
	eng, done, err := openCLI(ctx, environ, flags.demo, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	defer done()
	if flags.spider != "" {
		var skipped map[string]int
		if cases, skipped = spiderOnConfigured(cases, eng.DatabaseNames()); len(skipped) > 0 {
			fmt.Fprintf(stderr, "pgmcp eval: skipping the questions on databases not in PGMCP_DATABASES: %s\n", countList(skipped))
		}
		if len(cases) == 0 {
			fmt.Fprintln(stderr, "pgmcp eval: no Spider question is on a configured database (name each one by its db_id)")
			return exitUsage
		}
	}
	if flags.limit > 0 && len(cases) > flags.limit {
		cases = cases[:flags.limit]
	}
	// Every question gets the value hints a served question would.
	eng.WaitValues(ctx)
	bar := startProgress(stderr, len(cases))
	results := make([]engine.EvalOutcome, 0, len(cases))
	for _, c := range cases {
		if ctx.Err() != nil {
			break
		}
		r := eng.Evaluate(ctx, c)
		results = append(results, r)
		if out != nil {
			b, _ := json.Marshal(r)
			fmt.Fprintf(out, "%s\n", b)
		}
		bar.step(r.Correct)
	}
	bar.stop()
	s := summarizeEval(results)
	writeEvalTable(stdout, s, flags.pricePrompt, flags.priceCompletion)
	all := s[len(s)-1]
	switch {
	case all.scored == 0:
		fmt.Fprintln(stderr, "pgmcp eval: no case could be scored (every gold query failed)")
		return exitFailure
	case all.ex() < flags.minEX:
		fmt.Fprintf(stderr, "pgmcp eval: EX %.4f is below --min-ex %.4f\n", all.ex(), flags.minEX)
		return exitFailure
	}
	return exitOK
}

// evalGroup sums the outcomes of one difficulty (or of all).
type evalGroup struct {
	name                     string
	cases, scored, correct   int
	softF1                   float64
	latencies                []float64
	calls, prompt, completed int
	goldErrors               int
}

func (g *evalGroup) ex() float64 {
	if g.scored == 0 {
		return 0
	}
	return float64(g.correct) / float64(g.scored)
}

// summarizeEval groups outcomes by difficulty, in name order, "all" last.
func summarizeEval(rs []engine.EvalOutcome) []*evalGroup {
	by := map[string]*evalGroup{}
	all := &evalGroup{name: "all"}
	for _, r := range rs {
		name := r.Difficulty
		if name == "" {
			name = "-"
		}
		g := by[name]
		if g == nil {
			g = &evalGroup{name: name}
			by[name] = g
		}
		for _, g := range []*evalGroup{g, all} {
			g.cases++
			g.calls += r.Attempts
			g.prompt += r.PromptTokens
			g.completed += r.CompletionTokens
			g.latencies = append(g.latencies, r.ElapsedMS)
			if r.GoldError != "" {
				g.goldErrors++
				continue
			}
			g.scored++
			g.softF1 += r.SoftF1
			if r.Correct {
				g.correct++
			}
		}
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*evalGroup
	if len(names) > 1 {
		for _, n := range names {
			out = append(out, by[n])
		}
	}
	return append(out, all)
}

// writeEvalTable prints the summary table.
func writeEvalTable(w io.Writer, groups []*evalGroup, pricePrompt, priceCompletion float64) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	cost := pricePrompt > 0 || priceCompletion > 0
	fmt.Fprint(tw, "difficulty\tcases\tscored\tEX\tsoft-F1\tmedian ms\tmodel calls\tprompt tok\tcompletion tok\t")
	if cost {
		fmt.Fprint(tw, "cost\t")
	}
	fmt.Fprintln(tw)
	for _, g := range groups {
		f1 := 0.0
		if g.scored > 0 {
			f1 = g.softF1 / float64(g.scored)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.4f\t%.4f\t%.0f\t%d\t%d\t%d\t", g.name, g.cases, g.scored, g.ex(), f1, median(g.latencies), g.calls, g.prompt, g.completed)
		if cost {
			fmt.Fprintf(tw, "%.4f\t", (float64(g.prompt)*pricePrompt+float64(g.completed)*priceCompletion)/1e6)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if all := groups[len(groups)-1]; all.goldErrors > 0 {
		fmt.Fprintf(w, "%d case(s) left out: their gold query could not be run (see gold_error in --out)\n", all.goldErrors)
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// progress is a progress bar on a terminal's stderr (nothing elsewhere).
type progress struct {
	w              io.Writer
	total, n, good int
}

func startProgress(w io.Writer, total int) *progress {
	if !isTerminal(w) {
		return nil
	}
	return &progress{w: w, total: total}
}

func (p *progress) step(correct bool) {
	if p == nil {
		return
	}
	p.n++
	if correct {
		p.good++
	}
	const width = 30
	done := width * p.n / max(p.total, 1)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d, %d correct", strings.Repeat("#", done), strings.Repeat(".", width-done), p.n, p.total, p.good)
}

func (p *progress) stop() {
	if p != nil {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
