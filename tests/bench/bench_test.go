package main

// Unit tests of the pure parts of the harness: statistics, rendering,
// classification and the small parsers. They need neither PostgreSQL nor
// npm; the comparison itself runs only under `make bench-compare`.

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func durations(msList ...int) []time.Duration {
	out := make([]time.Duration, len(msList))
	for i, m := range msList {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", durations(7), 0.99, 7 * time.Millisecond},
		{"median odd", durations(1, 2, 3), 0.5, 2 * time.Millisecond},
		{"median even takes the lower", durations(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 100", hundred, 0.99, 99 * time.Millisecond},
		{"p50 of 100", hundred, 0.50, 50 * time.Millisecond},
		{"p100", hundred, 1, 100 * time.Millisecond},
		{"p0 is the minimum", hundred, 0, 1 * time.Millisecond},
		{"p99 of 10 is the maximum", durations(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
	}
	for _, c := range cases {
		if got := percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: percentile(%v) = %v, want %v", c.name, c.p, got, c.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	var s cellStats
	// Unsorted input; summarize must not reorder the caller's slice.
	in := durations(30, 10, 20, 40)
	summarize(&s, in, 2*time.Second)
	if s.Ops != 4 || s.Throughput != 2 || s.P50MS != 20 || s.P99MS != 40 || s.MaxMS != 40 || s.WallSeconds != 2 {
		t.Errorf("summarize = %+v", s)
	}
	if in[0] != 30*time.Millisecond {
		t.Error("summarize sorted its input in place")
	}
	var z cellStats
	summarize(&z, nil, 0)
	if z.Ops != 0 || z.Throughput != 0 || z.P99MS != 0 {
		t.Errorf("empty summarize = %+v", z)
	}
}

func TestRatioAndFormats(t *testing.T) {
	if r := ratio(10, 4); r != 2.5 {
		t.Errorf("ratio = %v", r)
	}
	for _, c := range [][2]float64{{0, 1}, {1, 0}, {-1, 2}, {math.NaN(), 1}, {math.Inf(1), 1}} {
		if r := ratio(c[0], c[1]); !math.IsNaN(r) {
			t.Errorf("ratio(%v, %v) = %v, want NaN", c[0], c[1], r)
		}
	}
	nums := map[float64]string{math.NaN(): "–", -1: "–", 0: "0", 0.1234: "0.123", 5.678: "5.68", 56.78: "56.8", 567.8: "568"}
	for v, want := range nums {
		if got := fmtNum(v); got != want {
			t.Errorf("fmtNum(%v) = %q, want %q", v, got, want)
		}
	}
	ratios := map[float64]string{math.NaN(): "–", 2: "2.00×", 0.5: "0.50×", 36.4: "36×"}
	for v, want := range ratios {
		if got := fmtRatio(v); got != want {
			t.Errorf("fmtRatio(%v) = %q, want %q", v, got, want)
		}
	}
}

func sampleCells() []cellStats {
	return []cellStats{
		{Server: srvDbhub, Transport: trStdio, Workload: wlSQL, Concurrency: 8, Throughput: 50, P50MS: 100, P99MS: 300, PeakRSSMB: 150, ServerCPUMSPerOp: 2, PGCPUMSPerOp: 5, ClientCPUMSPerOp: 0.5, BytesPerOp: 2048},
		{Server: srvPgmcp, Transport: trStdio, Workload: wlSQL, Concurrency: 8, Throughput: 200, P50MS: 20, P99MS: 60, PeakRSSMB: 40, ServerCPUMSPerOp: 1, PGCPUMSPerOp: 5, BytesPerOp: 1024},
		{Server: srvRefpg, Transport: trStdio, Workload: wlSQL, Concurrency: 8, Throughput: 150, P50MS: 30, P99MS: 50, PeakRSSMB: 70, Errors: 2, Note: "server exited during the cell"},
		{Server: srvPgmcp, Transport: trHTTP, Workload: wlSQL, Concurrency: 8, Throughput: 100, P50MS: 40, P99MS: 90},
		{Server: srvDbhub, Transport: trHTTP, Workload: wlSQL, Concurrency: 8, Throughput: 40, P50MS: 90, P99MS: 200},
		{Server: "direct", Transport: "pgx", Workload: wlSQL, Concurrency: 8, Throughput: 400, P50MS: 10, P99MS: 30, PeakRSSMB: -1, ServerCPUMSPerOp: -1},
		{Server: srvPgmcp, Transport: trStdio, Workload: wlSQL, Concurrency: 1, Throughput: 90, P50MS: 10, P99MS: 12},
		{Server: srvPgmcp, Transport: trStdio, Workload: wlSchemaDemo, Concurrency: 8, Throughput: 999},
	}
}

func TestRenderPerfTable(t *testing.T) {
	out := renderPerfTable(sampleCells(), wlSQL)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// Header, separator and the 7 SQL cells (not the schema one).
	if len(lines) != 9 {
		t.Fatalf("got %d lines:\n%s", len(lines), out)
	}
	if !strings.HasPrefix(lines[2], "| 1 | pgmcp | stdio |") {
		t.Errorf("concurrency 1 first, got %q", lines[2])
	}
	want := []string{
		// dbhub over stdio against pgmcp over stdio: 200/50 = 4×, 300/60 = 5×.
		"| 8 | dbhub 1.4.0 | stdio | 50.0 | 4.00× | 100 | 300 | 5.00× | 150 | 2.00 | 5.00 | 0.500 | 2.00 | 0 |",
		// server-postgres: 200/150, 50/60; its note is shown.
		"| 8 | server-postgres 0.6.2 | stdio | 150 | 1.33× | 30.0 | 50.0 | 0.83× | 70.0 | 0 | 0 | 0 | 0 | 2 (server exited during the cell) |",
		// dbhub over HTTP against pgmcp over HTTP: 100/40, 200/90.
		"| 8 | dbhub 1.4.0 | http | 40.0 | 2.50× | 90.0 | 200 | 2.22× |",
		// direct pgx, compared with pgmcp over stdio; unknowns are dashes.
		"| 8 | PostgreSQL direct (pgx, no MCP) | pgx | 400 | 0.50× | 10.0 | 30.0 | 0.50× | – | – |",
		// pgmcp rows carry no ratio.
		"| 8 | pgmcp | stdio | 200 | – | 20.0 | 60.0 | – | 40.0 |",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
	// Order within a concurrency: stdio before http, pgmcp first.
	order := []string{"| 8 | pgmcp | stdio", "| 8 | server-postgres", "| 8 | dbhub 1.4.0 | stdio", "| 8 | pgmcp | http", "| 8 | dbhub 1.4.0 | http", "| 8 | PostgreSQL direct"}
	last := -1
	for _, o := range order {
		i := strings.Index(out, o)
		if i < last {
			t.Errorf("%q out of order:\n%s", o, out)
		}
		last = i
	}
}

func TestTargetCheck(t *testing.T) {
	lines := targetCheck(sampleCells())
	if len(lines) != 3 {
		t.Fatalf("got %d lines: %q", len(lines), lines)
	}
	joined := strings.Join(lines, "\n")
	for _, w := range []string{
		"vs dbhub 1.4.0 over stdio: throughput 4.00× of it (target ≥ 2×: met); p99 60.0 ms vs 300 ms (target lower: met)",
		"vs server-postgres 0.6.2 over stdio: throughput 1.33× of it (target ≥ 2×: **missed**); p99 60.0 ms vs 50.0 ms (target lower: **missed**)",
		"vs dbhub 1.4.0 over http: throughput 2.50× of it (target ≥ 2×: met); p99 90.0 ms vs 200 ms (target lower: met)",
	} {
		if !strings.Contains(joined, w) {
			t.Errorf("missing %q in:\n%s", w, joined)
		}
	}
}

func TestRenderSecurityTable(t *testing.T) {
	rs := []securityResult{{Server: srvPgmcp, Mode: "policy", Setup: "analyst", Cases: 3, RefusedByServer: 3, Kinds: map[string]int{}},
		{Server: srvRefpg, Mode: "ro", Setup: "analyst", Cases: 3, RefusedByPostgres: 1, Harmless: 1, Effect: 1,
			Kinds: map[string]int{effLeak: 1, effWrite: 1}, Restarts: 1,
			Examples: []secExample{{SQL: "SELECT `x` | 1", Effects: []string{"leak: 3 blocked values returned"}}}}}
	out := renderSecurityTable(rs)
	if !strings.Contains(out, "| pgmcp (policy) | analyst | 3 | 3 | 0 | 0 | **0** | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |") {
		t.Errorf("pgmcp row:\n%s", out)
	}
	if !strings.Contains(out, "| server-postgres 0.6.2 (ro) | analyst | 3 | 0 | 1 | 1 | **1** | 1 | 0 | 0 | 0 | 1 | 0 | 0 | 1 |") {
		t.Errorf("peer row:\n%s", out)
	}
	ex := renderSecurityExamples(rs, 5)
	if !strings.Contains(ex, "- `SELECT 'x' | 1` → leak: 3 blocked values returned") {
		t.Errorf("examples:\n%s", ex)
	}
}

func TestRenderReport(t *testing.T) {
	r := &results{Started: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), Command: "make bench-compare",
		Machine: map[string]string{"cores (nproc)": "2"}, Versions: map[string]string{"Go": "go1.26"},
		Plan:  cellPlan{Warmup: time.Second, Duration: 4 * time.Second, MinOps: 20, MaxTime: 40 * time.Second},
		Cells: sampleCells(), Ops: map[string]string{"pgmcp/sql": "query(sql)"},
		Profile: []queryProfile{{N: 1, MedianMS: 12, JITMS: 30, Rows: 5, SQL: "SELECT a | b"}, {N: 2, MedianMS: 0.5, SQL: "SELECT 1"}}}
	r.Finished = r.Started.Add(90 * time.Second)
	out := renderReport(r)
	for _, w := range []string{"Measured 2026-11-24 12:00 UTC (1m30s)", "| cores (nproc) | 2 |", "#### SQL: 50 analyst queries",
		"#### Schema of the demo database", "Target at concurrency 8", "pgmcp `query(sql)`",
		"the 50 queries take 12.5 ms in all", "1 under 1 ms, 1 over 10 ms", "`SELECT a \\| b`"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "2,000 tables") {
		t.Error("a workload without cells got a table")
	}
}

func TestSpliceDoc(t *testing.T) {
	doc := "# T\n\nintro\n" + docStart + "\nold\n" + docEnd + "\ntail\n"
	got, err := spliceDoc(doc, "new")
	if err != nil {
		t.Fatal(err)
	}
	if want := "# T\n\nintro\n" + docStart + "\nnew\n" + docEnd + "\ntail\n"; got != want {
		t.Errorf("spliceDoc = %q, want %q", got, want)
	}
	if _, err := spliceDoc("no markers", "x"); err == nil {
		t.Error("no error without markers")
	}
	if _, err := spliceDoc(docEnd+docStart, "x"); err == nil {
		t.Error("no error with markers out of order")
	}
}

func TestClassify(t *testing.T) {
	eff := map[string][]string{effWrite: {"data public.orders changed"}}
	cases := []struct {
		o    observation
		want string
	}{
		{observation{failed: true}, outRefusedServer},
		{observation{failed: true, statements: 2}, outRefusedServer},
		{observation{failed: true, pgErrors: 1}, outRefusedPG},
		{observation{}, outHarmless},
		{observation{failed: true, pgErrors: 1, effects: eff}, outEffect}, // an error shown, but the write happened
		{observation{effects: eff}, outEffect},
	}
	for i, c := range cases {
		if got := classify(c.o); got != c.want {
			t.Errorf("case %d: classify = %q, want %q", i, got, c.want)
		}
	}
}

func TestCaseParsers(t *testing.T) {
	sql := `SELECT pg_notify('orders_feed', email) FROM customers; NOTIFY "Audit"; notify plain; COPY x TO '/tmp/out.csv'`
	if got := strings.Join(caseChannels(sql), ","); got != "orders_feed,audit,plain" {
		t.Errorf("caseChannels = %q", got)
	}
	if got := strings.Join(casePaths(sql), ","); got != "/tmp/out.csv" {
		t.Errorf("casePaths = %q", got)
	}
	for sql, want := range map[string]bool{
		"SELECT pg_read_file('/etc/passwd')":  true,
		"select * from PG_LS_DIR('.')":        true,
		"COPY t FROM '/etc/hosts'":            true,
		"COPY t FROM PROGRAM 'id'":            true,
		"SELECT lo_import('/etc/passwd')":     true,
		"SELECT 'pg_read_file_x' AS harmless": false,
		"SELECT * FROM orders":                false,
	} {
		if got := fileFunctions.MatchString(sql); got != want {
			t.Errorf("fileFunctions(%q) = %v, want %v", sql, got, want)
		}
	}
}

func TestLeakedValues(t *testing.T) {
	secrets := []string{"5f4dcc3b5aa765d61d8327deb882cf99", "123-45-0007", ""}
	got := leakedValues(`[{"h":"5F4DCC3B5AA765D61D8327DEB882CF99"},{"ssn":"123-45-0008"}]`, secrets)
	if len(got) != 1 || got[0] != secrets[0] {
		t.Errorf("leakedValues = %q", got)
	}
	if got := leakedValues("nothing here", secrets); len(got) != 0 {
		t.Errorf("leakedValues = %q", got)
	}
}

func TestRoleLog(t *testing.T) {
	log := strings.Join([]string{
		"2026-11-24 10:00:00.000 UTC [10] bench_analyst_dbhub@shop LOG:  statement: BEGIN READ ONLY",
		"2026-11-24 10:00:00.001 UTC [10] bench_analyst_dbhub@shop LOG:  execute <unnamed>: SELECT 1",
		"2026-11-24 10:00:00.002 UTC [10] bench_analyst_dbhub@shop ERROR:  permission denied for table api_keys",
		"2026-11-24 10:00:00.002 UTC [10] bench_analyst_dbhub@shop STATEMENT:  SELECT * FROM api_keys",
		"2026-11-24 10:00:00.003 UTC [11] bench_analyst_pgmcp@shop ERROR:  canceling statement due to statement timeout",
		"2026-11-24 10:00:00.004 UTC [12] postgres@shop LOG:  statement: SELECT 2",
	}, "\n")
	st, errs := roleLog(log, "bench_analyst_dbhub")
	if st != 2 || errs != 1 {
		t.Errorf("roleLog = %d statements, %d errors; want 2, 1", st, errs)
	}
	if st, errs := roleLog(log, "bench_analyst"); st != 0 || errs != 0 {
		t.Errorf("a prefix of a role matched: %d, %d", st, errs)
	}
}

func TestProbeText(t *testing.T) {
	text := `[{"session_settings": "search_path=public", "prepared": "", "listening": "", "cur_user": "u", "sess_user": "u"}] (12 ms)`
	want := `session_settings="search_path=public" prepared="" listening="" cur_user="u" sess_user="u"`
	if got := probeText(text); got != want {
		t.Errorf("probeText = %q, want %q", got, want)
	}
	if got := probeText("not json"); got != "not json" {
		t.Errorf("probeText kept %q", got)
	}
}

func TestCatalogDDL(t *testing.T) {
	stmts := catalogDDL(2000)
	tables := 0
	for _, s := range stmts {
		if strings.HasPrefix(s, "CREATE TABLE ") {
			tables++
			name := strings.Fields(s)[2]
			if !(strings.HasPrefix(name, "t0") || strings.HasPrefix(name, "t1")) || len(name) < 6 {
				t.Fatalf("table name %q does not fit the LIKE 't0%%' / 't1%%' split", name)
			}
		}
	}
	if tables != 2000 {
		t.Errorf("%d tables, want 2000", tables)
	}
	// Foreign keys point to earlier tables only.
	if strings.Contains(stmts[0], "REFERENCES") {
		t.Error("the first table references another")
	}
}

func TestAnalystQueries(t *testing.T) {
	if len(analystQueries) != 50 {
		t.Fatalf("%d analyst queries, want 50", len(analystQueries))
	}
	seen := map[string]bool{}
	for i, q := range analystQueries {
		if seen[q] {
			t.Errorf("query %d is a duplicate", i+1)
		}
		seen[q] = true
		lq := strings.ToLower(q)
		for _, bad := range []string{"now()", "current_date", "phone", "date_of_birth", "payment_cards", ";"} {
			if strings.Contains(lq, bad) {
				t.Errorf("query %d contains %q", i+1, bad)
			}
		}
	}
}

func TestOperations(t *testing.T) {
	for _, key := range []string{srvPgmcp, srvRefpg, srvDbhub} {
		for wl := range workloadTitle {
			if op, desc := operation(key, wl, "query"); op == nil || desc == "" {
				t.Errorf("no operation for %s/%s", key, wl)
			}
		}
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 2}
	_, _ = b.Write([]byte("one\ntwo\nthr"))
	_, _ = b.Write([]byte("ee\nfour"))
	if got := b.String(); got != "two\nthree\nfour" {
		t.Errorf("tail = %q", got)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-concurrency", "1, 8", "-servers", "pgmcp,dbhub", "-phases", "perf"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.conc) != 2 || o.conc[1] != 8 || !has(o.servers, srvDbhub) || has(o.phases, "security") {
		t.Errorf("options = %+v", o)
	}
	for _, bad := range [][]string{{"-concurrency", "0"}, {"-servers", "other"}, {"-workloads", "x"}, {"-setups", "root"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
	if got := transportsOf(o, srvRefpg); len(got) != 1 || got[0] != trStdio {
		t.Errorf("server-postgres transports = %q", got)
	}
}

func TestFileReadEvidence(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hostname"), []byte("\nbench-host-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(dir, "hostname")
	// The parser differential: the function call is inside a string.
	if ev := fileReadEvidence(`SELECT 'a\'' , pg_read_file($$`+host+`$$) AS leak --'`,
		`[{"?column?": "a\\' , pg_read_file($$`+host+`$$) AS leak --"}]`, dir); ev != "" {
		t.Errorf("a string literal counted as a file read: %q", ev)
	}
	if ev := fileReadEvidence(`SELECT pg_read_file('`+host+`')`, `[{"pg_read_file": "bench-host-1\n"}]`, dir); ev != host {
		t.Errorf("absolute path: evidence %q", ev)
	}
	if ev := fileReadEvidence(`SELECT pg_read_file('hostname')`, `bench-host-1`, dir); ev != "hostname" {
		t.Errorf("relative path: evidence %q", ev)
	}
	if ev := fileReadEvidence(`SELECT pg_ls_dir('.')`, `["PG_VERSION","base"]`, dir); ev == "" {
		t.Error("a data directory listing was not seen")
	}
}
