package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is the outcome of a run; it is printed as markdown or JSON.
type report struct {
	Date    string      `json:"date"`
	Machine machineInfo `json:"machine"`
	Params  params      `json:"params"`
	Server  serverInfo  `json:"server"`

	LoadStart  string `json:"loadavg_start"`  // /proc/loadavg 1, 5, 15 min, before the run
	LoadDuring string `json:"loadavg_during"` // at the end of the calls
	LoadEnd    string `json:"loadavg_end"`

	Connect        connectStats   `json:"connect"`
	Calls          int            `json:"calls"`
	Failed         int            `json:"failed"`
	FailedByKind   map[string]int `json:"failed_by_kind"`
	WarmupFailed   int            `json:"warmup_failed"`
	WarmupSeconds  float64        `json:"warmup_seconds"`
	Failures       []failure      `json:"failures"` // the first few, warm-up included
	WallSeconds    float64        `json:"wall_seconds"`
	Throughput     float64        `json:"throughput_calls_per_s"`
	Latency        []latencyRow   `json:"latency"`          // all, per tool, per era
	Variants       []latencyRow   `json:"latency_per_call"` // per kind of call
	ClientCallsMin int            `json:"client_calls_min"`
	ClientCallsMax int            `json:"client_calls_max"`
	Dials          int64          `json:"tcp_connections_opened"`

	Before snapshot `json:"before"`
	After  snapshot `json:"after"`
	RSS    rssStats `json:"rss"`
	CPU    cpuStats `json:"cpu"`

	// ServerCounted is the growth of the server's pgmcp_tool_calls_total
	// over the measured run, by "tool outcome"; nil without /metrics.
	ServerCounted map[string]int64 `json:"server_counted_calls,omitempty"`

	Cleanup  *cleanup `json:"cleanup,omitempty"`
	Checks   []check  `json:"checks"`
	Passed   bool     `json:"passed"`
	Problems []string `json:"problems"`
}

type machineInfo struct {
	NProc      int    `json:"nproc"`
	CPUModel   string `json:"cpu_model"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

type params struct {
	Target      string   `json:"target"`
	Clients     int      `json:"clients"`
	Calls       int      `json:"calls"`
	Warmup      int      `json:"warmup"`
	Mix         string   `json:"mix"`
	Era         string   `json:"era"`
	CallTimeout string   `json:"call_timeout"`
	Race        bool     `json:"race"`
	ServerEnv   []string `json:"server_env,omitempty"`
	Slack       int      `json:"slack"`
	Settle      string   `json:"settle"`
	Sample      string   `json:"sample"`
}

type serverInfo struct {
	URL         string   `json:"url"`
	PID         int      `json:"pid"`
	PIDFound    bool     `json:"pid_found_from_port,omitempty"`
	Started     float64  `json:"start_seconds,omitempty"` // demo start-up (cluster + demo data)
	PeakReset   bool     `json:"peak_reset"`              // VmHWM was reset before the run
	LogWarnings int64    `json:"log_warnings"`
	LogErrors   int64    `json:"log_errors"`
	LogFirst    []string `json:"log_first,omitempty"`
}

type connectStats struct {
	Clients int     `json:"clients"`
	WallMS  float64 `json:"wall_ms"`
	P50MS   float64 `json:"p50_ms"`
	MaxMS   float64 `json:"max_ms"`
}

type latencyRow struct {
	Name   string  `json:"name"`
	Calls  int     `json:"calls"`
	Failed int     `json:"failed"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

type rssStats struct {
	Source  string `json:"source"` // what was sampled: /proc VmRSS, or /metrics
	Every   string `json:"every"`
	Samples int    `json:"samples"`
	MaxKB   int64  `json:"max_kb"`  // largest VmRSS sampled during the run
	MeanKB  int64  `json:"mean_kb"` // mean VmRSS sampled
	HWMKB   int64  `json:"hwm_kb"`  // VmHWM at the end (since the reset before the run, if peak_reset)
	// PeakKB is the peak RSS: the largest of VmHWM, the samples and the
	// RSS after the run.
	// The kernel updates the high-water mark only when memory is unmapped,
	// and Go returns memory with madvise, so VmHWM can miss a peak the
	// samples saw.
	PeakKB int64 `json:"peak_kb"`
}

type cpuStats struct {
	ServerSeconds   float64 `json:"server_seconds"`   // pgmcp
	PGSeconds       float64 `json:"postgres_seconds"` // demo postmaster and backends; -1 unknown
	LoadGenSeconds  float64 `json:"loadgen_seconds"`  // this program (the 64 clients)
	MachineBusy     float64 `json:"machine_busy_seconds"`
	OtherSeconds    float64 `json:"other_seconds"` // busy CPU time of everything else on the machine
	MachineBusyPct  float64 `json:"machine_busy_pct"`
	ServerMSPerCall float64 `json:"server_cpu_ms_per_call"`
	PGMSPerCall     float64 `json:"postgres_cpu_ms_per_call"`
}

type check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok, FAIL, n/a
	Detail string `json:"detail"`
}

func newReport(cfg config) *report {
	target := "pgmcp demo --http 127.0.0.1:0 (built from this repository)"
	if cfg.Bin != "" {
		target = cfg.Bin + " demo --http 127.0.0.1:0"
	}
	if cfg.URL != "" {
		target = cfg.URL
	}
	return &report{
		Date: time.Now().UTC().Format(time.RFC3339),
		Machine: machineInfo{NProc: runtime.NumCPU(), CPUModel: cpuModel(), Kernel: kernelRelease(),
			GoVersion: goVersion(), GOMAXPROCS: runtime.GOMAXPROCS(0)},
		Params: params{Target: target, Clients: cfg.Clients, Calls: cfg.Calls, Warmup: cfg.Warmup,
			Mix: fmt.Sprintf("get_schema:query = %d:%d", cfg.SchemaShare, cfg.QueryShare),
			Era: cfg.Era, CallTimeout: cfg.CallTimeout.String(), Race: cfg.Race, ServerEnv: cfg.ServerEnv,
			Slack: cfg.Slack, Settle: cfg.Settle.String(), Sample: cfg.SampleEvery.String()},
		FailedByKind: map[string]int{},
		Failures:     []failure{},
		Problems:     []string{},
	}
}

// fill computes the figures of a measured run.
func (r *report) fill(res runResult, cpu0, cpu1 cpuMark) {
	r.Calls, r.Failed, r.FailedByKind = res.calls, res.failed, res.byKind
	r.Failures = append(r.Failures, res.failures...)
	r.WallSeconds = res.wall.Seconds()
	if r.WallSeconds > 0 {
		r.Throughput = float64(res.calls) / r.WallSeconds
	}
	if len(res.perClient) > 0 {
		r.ClientCallsMin, r.ClientCallsMax = slices.Min(res.perClient), slices.Max(res.perClient)
	}
	r.Latency = []latencyRow{row("all", res.samples, nil)}
	for _, tool := range []string{"get_schema", "query"} {
		if rw := row(tool, res.samples, func(s sample) bool { return s.spec.Tool == tool }); rw.Calls > 0 {
			r.Latency = append(r.Latency, rw)
		}
	}
	for _, era := range []string{eraModern, eraLegacy} {
		if rw := row("era "+era, res.samples, func(s sample) bool { return s.era == era }); rw.Calls > 0 {
			r.Latency = append(r.Latency, rw)
		}
	}
	for _, specs := range [][]callSpec{schemaCalls, queryCalls} {
		for i := range specs {
			sp := &specs[i]
			if rw := row(sp.Tool+": "+sp.Name, res.samples, func(s sample) bool { return s.spec == sp }); rw.Calls > 0 {
				r.Variants = append(r.Variants, rw)
			}
		}
	}

	if r.After.ToolCalls != nil {
		r.ServerCounted = map[string]int64{}
		for k, v := range r.After.ToolCalls {
			if d := v - r.Before.ToolCalls[k]; d != 0 {
				r.ServerCounted[k] = d
			}
		}
	}

	r.CPU = cpuStats{ServerSeconds: -1, PGSeconds: -1}
	if cpu0.server >= 0 && cpu1.server >= 0 {
		r.CPU.ServerSeconds = cpu1.server - cpu0.server
	}
	if cpu0.pg >= 0 && cpu1.pg >= 0 {
		r.CPU.PGSeconds = cpu1.pg - cpu0.pg
	}
	r.CPU.LoadGenSeconds = cpu1.self - cpu0.self
	if total := cpu1.total - cpu0.total; total > 0 {
		busy := float64(total-(cpu1.idle-cpu0.idle)) / clockTicks
		r.CPU.MachineBusy = busy
		r.CPU.MachineBusyPct = 100 * busy / (float64(total) / clockTicks)
		other := busy - r.CPU.LoadGenSeconds
		if r.CPU.ServerSeconds > 0 {
			other -= r.CPU.ServerSeconds
		}
		if r.CPU.PGSeconds > 0 {
			other -= r.CPU.PGSeconds
		}
		r.CPU.OtherSeconds = max(other, 0)
	}
	if res.calls > 0 {
		if r.CPU.ServerSeconds >= 0 {
			r.CPU.ServerMSPerCall = 1000 * r.CPU.ServerSeconds / float64(res.calls)
		}
		if r.CPU.PGSeconds >= 0 {
			r.CPU.PGMSPerCall = 1000 * r.CPU.PGSeconds / float64(res.calls)
		}
	}
}

func row(name string, samples []sample, keep func(sample) bool) latencyRow {
	var ds []time.Duration
	rw := latencyRow{Name: name}
	var sum time.Duration
	for _, s := range samples {
		if keep != nil && !keep(s) {
			continue
		}
		ds = append(ds, s.dur)
		sum += s.dur
		if !s.ok {
			rw.Failed++
		}
	}
	if len(ds) == 0 {
		return rw
	}
	slices.Sort(ds)
	rw.Calls = len(ds)
	rw.MeanMS = ms(sum / time.Duration(len(ds)))
	rw.P50MS, rw.P90MS, rw.P99MS = ms(percentile(ds, 0.50)), ms(percentile(ds, 0.90)), ms(percentile(ds, 0.99))
	rw.MaxMS = ms(ds[len(ds)-1])
	return rw
}

// check sets the verdicts: no failed call, no goroutine growth (or, without
// /metrics, no file-descriptor growth), and a clean stop of the demo.
func (r *report) check(cfg config) {
	add := func(name, status, detail string) {
		r.Checks = append(r.Checks, check{name, status, detail})
		if status == "FAIL" {
			r.Problems = append(r.Problems, name+": "+detail)
		}
	}
	if r.Failed == 0 && r.WarmupFailed == 0 && r.Calls == cfg.Calls {
		add("zero failed calls", "ok", fmt.Sprintf("%d of %d calls succeeded (warm-up: %d)", r.Calls, cfg.Calls, cfg.Warmup))
	} else {
		add("zero failed calls", "FAIL", fmt.Sprintf("%d of %d calls made, %d failed (%v); warm-up: %d failed",
			r.Calls, cfg.Calls, r.Failed, r.FailedByKind, r.WarmupFailed))
	}
	b, a := r.Before, r.After
	switch {
	case b.Goroutines >= 0 && a.Goroutines >= 0:
		d := fmt.Sprintf("%d before, %d after (slack %d)", b.Goroutines, a.Goroutines, cfg.Slack)
		if a.Goroutines <= b.Goroutines+cfg.Slack {
			add("no goroutine growth", "ok", d)
		} else {
			add("no goroutine growth", "FAIL", d)
		}
	default:
		add("no goroutine growth", "n/a", "goroutines: n/a (no /metrics); file descriptors checked instead")
		if b.FDs >= 0 && a.FDs >= 0 {
			d := fmt.Sprintf("%d before, %d after (slack %d)", b.FDs, a.FDs, cfg.Slack)
			if a.FDs <= b.FDs+cfg.Slack {
				add("no file-descriptor growth", "ok", d)
			} else {
				add("no file-descriptor growth", "FAIL", d)
			}
		} else {
			add("no file-descriptor growth", "n/a", "the server's /proc is not readable (pass --pid for a local server)")
		}
	}
	// The server's own count of the calls (pgmcp_tool_calls_total) agrees
	// with the clients': every call reached a tool handler, and the ones
	// the clients saw succeed, the server counted as ok.
	switch {
	case b.Goroutines < 0 || a.Goroutines < 0:
		add("server counted the calls", "n/a", "no /metrics")
	case r.ServerCounted == nil:
		add("server counted the calls", "n/a", "the server's /metrics has no pgmcp_tool_calls_total")
	default:
		var bad, parts []string
		var total int64
		for _, rw := range r.Latency {
			tool := rw.Name
			if tool != "get_schema" && tool != "query" {
				continue
			}
			got, want := r.ServerCounted[tool+" ok"], int64(rw.Calls-rw.Failed)
			parts = append(parts, fmt.Sprintf("%s ok %d", tool, got))
			if got != want {
				bad = append(bad, fmt.Sprintf("%s: server counted %d ok, clients saw %d succeed", tool, got, want))
			}
		}
		for k, v := range r.ServerCounted {
			total += v
			if !strings.HasSuffix(k, " ok") {
				parts = append(parts, fmt.Sprintf("%s %d", k, v))
			}
		}
		slices.Sort(parts)
		if total != int64(r.Calls) {
			bad = append(bad, fmt.Sprintf("server counted %d calls in all, clients made %d", total, r.Calls))
		}
		if len(bad) > 0 {
			add("server counted the calls", "FAIL", strings.Join(bad, "; "))
		} else {
			add("server counted the calls", "ok", fmt.Sprintf("pgmcp_tool_calls_total grew by %d: %s", total, strings.Join(parts, ", ")))
		}
	}
	if c := r.Cleanup; c != nil {
		switch {
		case !c.ExitedCleanly:
			add("clean stop", "FAIL", "pgmcp after SIGTERM: "+c.Exit)
		case !c.ClusterDirGone || !c.PostmasterGone:
			add("clean stop", "FAIL", fmt.Sprintf("demo cluster left behind: dir %s gone=%v, postmaster %d gone=%v",
				c.ClusterDir, c.ClusterDirGone, c.PostmasterPID, c.PostmasterGone))
		default:
			add("clean stop", "ok", fmt.Sprintf("exit 0 %.1fs after SIGTERM; cluster dir and postmaster gone", c.StopSeconds))
		}
	}
	r.Passed = len(r.Problems) == 0
}

func (r *report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# pgmcp load test — %s\n\n", r.Date)
	p("| Machine | |\n|---|---|\n")
	p("| CPUs (nproc) | %d (GOMAXPROCS %d) |\n", r.Machine.NProc, r.Machine.GOMAXPROCS)
	p("| CPU | %s |\n| Kernel | %s |\n| Go | %s |\n", r.Machine.CPUModel, r.Machine.Kernel, r.Machine.GoVersion)
	p("| Load average (1/5/15 min) | before %s · end of calls %s · end %s |\n\n", r.LoadStart, r.LoadDuring, r.LoadEnd)

	p("| Parameters | |\n|---|---|\n")
	p("| Target | %s |\n", r.Params.Target)
	p("| Clients | %d (era %s) |\n", r.Params.Clients, r.Params.Era)
	p("| Calls | %d measured, after %d warm-up calls |\n", r.Params.Calls, r.Params.Warmup)
	p("| Mix | %s |\n", r.Params.Mix)
	if r.Params.Race {
		p("| Server build | -race (figures not comparable) |\n")
	}
	if len(r.Params.ServerEnv) > 0 {
		p("| Server env | %s |\n", strings.Join(r.Params.ServerEnv, " "))
	}
	p("| Server | %s, pid %d |\n\n", r.Server.URL, r.Server.PID)

	p("## Results\n\n| | |\n|---|---|\n")
	p("| Throughput | **%.0f calls/s** (%d calls in %.2f s) |\n", r.Throughput, r.Calls, r.WallSeconds)
	p("| Failed calls | **%d** (warm-up: %d) |\n", r.Failed, r.WarmupFailed)
	p("| Connect (%d clients at once) | %.0f ms for all, p50 %.1f ms, max %.1f ms |\n", r.Connect.Clients, r.Connect.WallMS, r.Connect.P50MS, r.Connect.MaxMS)
	p("| Calls per client | %d–%d |\n", r.ClientCallsMin, r.ClientCallsMax)
	p("| TCP connections opened by the clients | %d |\n\n", r.Dials)

	p("### Latency (ms)\n\n")
	writeRows(&b, r.Latency)
	p("\n### Latency per kind of call (ms)\n\n")
	writeRows(&b, r.Variants)

	p("\n## Server\n\n| | before | after |\n|---|---|---|\n")
	gor := func(s snapshot) string {
		if s.Goroutines < 0 {
			return "n/a (no /metrics)"
		}
		return fmt.Sprint(s.Goroutines)
	}
	num := func(x int64) string {
		if x < 0 {
			return "n/a"
		}
		return fmt.Sprint(x)
	}
	p("| Goroutines | %s | %s |\n", gor(r.Before), gor(r.After))
	p("| Threads | %s | %s |\n", num(r.Before.Threads), num(r.After.Threads))
	p("| Open file descriptors | %s | %s |\n", num(int64(r.Before.FDs)), num(int64(r.After.FDs)))
	p("| RSS (/proc VmRSS) | %s | %s |\n", mib(r.Before.RSSKB), mib(r.After.RSSKB))
	p("| RSS (/metrics process_resident_memory_bytes) | %s | %s |\n", mib(r.Before.MetricsRSSKB), mib(r.After.MetricsRSSKB))
	if r.Before.PGBackends >= 0 {
		p("| PostgreSQL backends (postmaster children) | %d | %d |\n", r.Before.PGBackends, r.After.PGBackends)
	}
	p("\n| Memory during the run | |\n|---|---|\n")
	if r.RSS.HWMKB > 0 {
		p("| Peak RSS | **%s** (VmHWM%s: %s) |\n", mib(r.RSS.PeakKB),
			map[bool]string{true: ", reset before the run", false: ", since the server started"}[r.Server.PeakReset], mib(r.RSS.HWMKB))
	} else {
		p("| Peak RSS | **%s** |\n", mib(r.RSS.PeakKB))
	}
	if r.RSS.Source != "" {
		p("| RSS sampled (%s) every %s | max %s, mean %s (%d samples) |\n\n", r.RSS.Source, r.RSS.Every, mib(r.RSS.MaxKB), mib(r.RSS.MeanKB), r.RSS.Samples)
	} else {
		p("| RSS sampled | n/a (neither /proc nor /metrics) |\n\n")
	}

	p("| CPU during the calls | seconds | ms per call |\n|---|---|---|\n")
	p("| pgmcp | %s | %s |\n", sec(r.CPU.ServerSeconds), perCall(r.CPU.ServerSeconds, r.CPU.ServerMSPerCall))
	p("| PostgreSQL (postmaster + backends) | %s | %s |\n", sec(r.CPU.PGSeconds), perCall(r.CPU.PGSeconds, r.CPU.PGMSPerCall))
	p("| load generator (the clients) | %s | |\n", sec(r.CPU.LoadGenSeconds))
	p("| everything else on the machine | %s | |\n", sec(r.CPU.OtherSeconds))
	p("| machine busy | %.1f%% of %d CPUs | |\n\n", r.CPU.MachineBusyPct, r.Machine.NProc)

	if r.Server.LogWarnings+r.Server.LogErrors > 0 || r.Cleanup != nil {
		p("Server log: %d warnings, %d errors.\n", r.Server.LogWarnings, r.Server.LogErrors)
		for _, l := range r.Server.LogFirst {
			p("    %s\n", truncate(l, 300))
		}
		p("\n")
	}

	p("## Checks\n\n| Check | | |\n|---|---|---|\n")
	for _, c := range r.Checks {
		p("| %s | %s | %s |\n", c.Name, c.Status, c.Detail)
	}
	if len(r.Failures) > 0 {
		p("\n### First failures\n\n")
		for _, f := range r.Failures {
			p("- call %d, client %d (%s), %s %q: %s: %s\n", f.Call, f.Client, f.Era, f.Tool, f.Name, f.Kind, truncate(f.Detail, 400))
		}
	}
	if r.Passed {
		p("\n**PASS**\n")
	} else {
		p("\n**FAIL**: %s\n", strings.Join(r.Problems, "; "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeRows(b *strings.Builder, rows []latencyRow) {
	fmt.Fprintf(b, "| | calls | failed | mean | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", r.Name, r.Calls, r.Failed, r.MeanMS, r.P50MS, r.P90MS, r.P99MS, r.MaxMS)
	}
}

func mib(kb int64) string {
	if kb <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
}

func sec(s float64) string {
	if s < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", s)
}

func perCall(total, per float64) string {
	if total < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", per)
}

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
