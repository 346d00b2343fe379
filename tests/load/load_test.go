package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestLoadSmoke runs the load test's core for real, small: it builds
// pgmcp, starts the demo, has 4 clients (both protocol eras) make 100 calls
// each, and stops the demo. It asserts no call failed and the report is
// sane; it asserts nothing about timing (the machine may be busy).
func TestLoadSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster and builds pgmcp")
	}
	cfg := defaultConfig()
	cfg.Clients, cfg.Calls, cfg.Warmup = 4, 400, 20
	cfg.Race = raceEnabled
	cfg.Settle = time.Second
	cfg.Progress = testWriter{t}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := run(ctx, cfg)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("load test core ran in %s", time.Since(start).Round(time.Millisecond))
	var md bytes.Buffer
	if err := rep.writeMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", md.String())

	if rep.Failed != 0 || rep.WarmupFailed != 0 {
		t.Errorf("%d calls failed (warm-up: %d): %+v", rep.Failed, rep.WarmupFailed, rep.Failures)
	}
	if rep.Calls != cfg.Calls {
		t.Errorf("calls = %d, want %d", rep.Calls, cfg.Calls)
	}
	if !rep.Passed {
		t.Errorf("the report says FAIL: %v", rep.Problems)
	}
	// Latency rows: all, get_schema, query, the two eras; per tool they add up.
	rows := map[string]latencyRow{}
	for _, r := range rep.Latency {
		rows[r.Name] = r
	}
	all, gs, q := rows["all"], rows["get_schema"], rows["query"]
	if all.Calls != cfg.Calls || gs.Calls+q.Calls != cfg.Calls || gs.Calls != cfg.Calls/5 {
		t.Errorf("latency rows: all %d, get_schema %d, query %d; want %d = %d + %d", all.Calls, gs.Calls, q.Calls,
			cfg.Calls, cfg.Calls/5, cfg.Calls*4/5)
	}
	if rows["era "+eraModern].Calls == 0 || rows["era "+eraLegacy].Calls == 0 {
		t.Errorf("mixed era: %+v", rep.Latency)
	}
	for _, r := range append(rep.Latency, rep.Variants...) {
		if r.Calls > 0 && !(r.P50MS > 0 && r.P50MS <= r.P90MS && r.P90MS <= r.P99MS && r.P99MS <= r.MaxMS) {
			t.Errorf("percentiles out of order: %+v", r)
		}
	}
	if len(rep.Variants) != len(schemaCalls)+len(queryCalls) {
		t.Errorf("%d kinds of call measured, want %d", len(rep.Variants), len(schemaCalls)+len(queryCalls))
	}
	// Each client makes its calls on one keep-alive connection of its own.
	if rep.Dials != int64(cfg.Clients) {
		t.Errorf("the %d clients opened %d TCP connections, want one each", cfg.Clients, rep.Dials)
	}
	if rep.ClientCallsMin == 0 || rep.ClientCallsMin+rep.ClientCallsMax > cfg.Calls {
		t.Errorf("calls per client %d–%d", rep.ClientCallsMin, rep.ClientCallsMax)
	}
	if rep.Throughput <= 0 || rep.WallSeconds <= 0 {
		t.Errorf("throughput %.1f calls/s in %.2f s", rep.Throughput, rep.WallSeconds)
	}
	// The server counted the calls the clients made, all ok.
	if rep.ServerCounted["get_schema ok"] != int64(gs.Calls) || rep.ServerCounted["query ok"] != int64(q.Calls) ||
		len(rep.ServerCounted) != 2 {
		t.Errorf("the server counted %v; the clients made %d get_schema and %d query calls", rep.ServerCounted, gs.Calls, q.Calls)
	}
	// The server's process was observed.
	if rep.Server.PID <= 0 || rep.RSS.Samples == 0 || rep.RSS.PeakKB <= 0 || rep.Before.Threads <= 0 || rep.After.FDs <= 0 ||
		rep.Before.Goroutines <= 0 || rep.After.MetricsRSSKB <= 0 || rep.RSS.Source != "/proc VmRSS" {
		t.Errorf("server not observed: pid %d, rss %+v, before %+v, after %+v", rep.Server.PID, rep.RSS, rep.Before, rep.After)
	}
	if rep.RSS.PeakKB < rep.RSS.MaxKB || rep.RSS.PeakKB < rep.RSS.HWMKB {
		t.Errorf("peak RSS %d kB below a sample (%d kB) or VmHWM (%d kB)", rep.RSS.PeakKB, rep.RSS.MaxKB, rep.RSS.HWMKB)
	}
	// The demo stopped cleanly and took its cluster with it.
	if c := rep.Cleanup; c == nil || !c.ExitedCleanly || !c.ClusterDirGone || !c.PostmasterGone || c.ClusterDir == "" {
		t.Errorf("cleanup: %+v", rep.Cleanup)
	}
	if !strings.Contains(md.String(), "**PASS**") || !strings.Contains(md.String(), "| query |") {
		t.Errorf("the markdown report lacks its verdict or latency table")
	}
	var back map[string]any
	b, err := json.Marshal(rep)
	if err != nil || json.Unmarshal(b, &back) != nil || back["passed"] != true {
		t.Errorf("JSON report: %v %s", err, b)
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestWorkloadMix(t *testing.T) {
	for _, tc := range []struct{ schema, query, n, want int }{
		{20, 80, 10000, 2000}, {1, 4, 1000, 200}, {1, 0, 50, 50}, {0, 1, 50, 0}, {1, 2, 10, 3},
	} {
		wl := workload{tc.schema, tc.query}
		got := 0
		seen := map[*callSpec]int{}
		for k := range tc.n {
			c := wl.call(k)
			seen[c]++
			if c.Tool == "get_schema" {
				got++
			}
		}
		if got != tc.want {
			t.Errorf("mix %d:%d over %d calls: %d get_schema, want %d", tc.schema, tc.query, tc.n, got, tc.want)
		}
		if tc.n >= 1000 && len(seen) != len(schemaCalls)+len(queryCalls) {
			t.Errorf("mix %d:%d: %d kinds of call made, want all %d", tc.schema, tc.query, len(seen), len(schemaCalls)+len(queryCalls))
		}
	}
	// Evenly spread: with 20:80, every 5th call is get_schema.
	wl := workload{20, 80}
	for k := range 20 {
		if (wl.call(k).Tool == "get_schema") != (k%5 == 4) {
			t.Errorf("call %d is %s", k, wl.call(k).Tool)
		}
	}
}

func TestParseMix(t *testing.T) {
	if s, q, err := parseMix("20:80"); err != nil || s != 20 || q != 80 {
		t.Errorf("20:80 → %d %d %v", s, q, err)
	}
	for _, bad := range []string{"", "20", "a:b", "-1:5", "0:0", "20:80:1"} {
		if _, _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) accepted", bad)
		}
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.9: 90 * time.Millisecond,
		0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond} {
		if got := percentile(ds, q); got != want {
			t.Errorf("p%v = %s, want %s", q*100, got, want)
		}
	}
	if got := percentile(ds[:1], 0.99); got != time.Millisecond {
		t.Errorf("p99 of one = %s", got)
	}
}

func TestMetrics(t *testing.T) {
	body := "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\n" +
		"go_goroutines_created_total 900\ngo_goroutines 42\ngo_threads 9\n" +
		"process_resident_memory_bytes 5.1822592e+07\n" +
		`pgmcp_tool_calls_total{outcome="ok",tool="query"} 7` + "\n" +
		`pgmcp_tool_calls_total{outcome="guard_rejected",tool="query"} 2` + "\n" +
		`pgmcp_tool_calls_total{tool="get_schema",outcome="ok"} 3 1700000000000` + "\n" +
		`pgmcp_other{note="a \"}\" b",tool="query"} 100` + "\n" +
		"garbage line\n{bad} 1\n"
	m := parseMetrics([]byte(body))
	if m.Goroutines != 42 || m.RSSBytes != 51822592 {
		t.Errorf("goroutines %d, rss %d", m.Goroutines, m.RSSBytes)
	}
	want := map[string]int64{"query ok": 7, "query guard_rejected": 2, "get_schema ok": 3}
	if len(m.ToolCalls) != len(want) {
		t.Errorf("tool calls %v, want %v", m.ToolCalls, want)
	}
	for k, v := range want {
		if m.ToolCalls[k] != v {
			t.Errorf("tool calls %v, want %v", m.ToolCalls, want)
		}
	}
	if name, labels, v, ok := parseSample(`pgmcp_other{note="a \"}\" b",tool="query"} 100`); !ok || name != "pgmcp_other" ||
		labels["note"] != `a "}" b` || labels["tool"] != "query" || v != 100 {
		t.Errorf("escaped label: %q %q %v %v", name, labels, v, ok)
	}
	if m := parseMetrics([]byte("go_threads 9\n")); m.Goroutines != -1 || m.RSSBytes != -1 || m.ToolCalls != nil {
		t.Errorf("found samples where there are none: %+v", m)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if m, found, err := scrapeMetrics(t.Context(), srv.URL); err != nil || !found || m.Goroutines != 42 {
		t.Errorf("with /metrics: %+v %v %v", m, found, err)
	}
	if kb, ok := metricsRSS(t.Context(), srv.URL)(); !ok || kb != 50608 {
		t.Errorf("RSS from /metrics: %d kB %v", kb, ok)
	}
	none := httptest.NewServer(http.NotFoundHandler())
	defer none.Close()
	if _, found, err := scrapeMetrics(t.Context(), none.URL); err != nil || found {
		t.Errorf("without /metrics: found=%v err=%v", found, err)
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer broken.Close()
	if _, _, err := scrapeMetrics(t.Context(), broken.URL); err == nil {
		t.Errorf("HTTP 500 from /metrics accepted")
	}
}

// TestCheck checks the verdicts on made-up runs.
func TestCheck(t *testing.T) {
	cfg := defaultConfig()
	cfg.Calls = 100
	good := func() *report {
		r := newReport(cfg)
		r.Calls = 100
		r.Latency = []latencyRow{{Name: "all", Calls: 100}, {Name: "get_schema", Calls: 20}, {Name: "query", Calls: 80}}
		r.Before = snapshot{Goroutines: 13, ToolCalls: map[string]int64{"query ok": 50, "get_schema ok": 10}}
		r.After = snapshot{Goroutines: 15, ToolCalls: map[string]int64{"query ok": 130, "get_schema ok": 30}}
		r.Cleanup = &cleanup{ExitedCleanly: true, ClusterDir: "/tmp/x", ClusterDirGone: true, PostmasterGone: true}
		return r
	}
	finish := func(r *report) *report {
		r.fill(runResult{calls: r.Calls, failed: r.Failed, byKind: map[string]int{}}, cpuMark{}, cpuMark{})
		// fill recomputes the latency rows from the (here absent) samples.
		r.Latency = []latencyRow{{Name: "all", Calls: r.Calls, Failed: r.Failed}, {Name: "get_schema", Calls: 20},
			{Name: "query", Calls: r.Calls - 20, Failed: r.Failed}}
		r.check(cfg)
		return r
	}
	if r := finish(good()); !r.Passed || len(r.Checks) != 4 {
		t.Errorf("good run: passed=%v %+v", r.Passed, r.Checks)
	}
	for name, tc := range map[string]struct {
		mod  func(*report)
		want string
	}{
		"failed call": {func(r *report) {
			r.Failed = 1
			r.After.ToolCalls["query ok"], r.After.ToolCalls["query internal"] = 129, 1
		}, "zero failed calls"},
		"goroutine growth":  {func(r *report) { r.After.Goroutines = 13 + cfg.Slack + 1 }, "no goroutine growth"},
		"server miscounted": {func(r *report) { r.After.ToolCalls["query ok"] = 129 }, "server counted the calls"},
		"unclean stop":      {func(r *report) { r.Cleanup.ExitedCleanly = false }, "clean stop"},
		"cluster left":      {func(r *report) { r.Cleanup.ClusterDirGone = false }, "clean stop"},
	} {
		r := good()
		tc.mod(r)
		r = finish(r)
		if r.Passed || len(r.Problems) != 1 || !strings.HasPrefix(r.Problems[0], tc.want+":") {
			t.Errorf("%s: passed=%v, problems %q, want one from %q", name, r.Passed, r.Problems, tc.want)
		}
	}
	// Without /metrics, file descriptors stand in for goroutines.
	r := good()
	r.Before, r.After = snapshot{Goroutines: -1, FDs: 20}, snapshot{Goroutines: -1, FDs: 20 + cfg.Slack + 1}
	r = finish(r)
	if r.Passed || len(r.Problems) != 1 || !strings.HasPrefix(r.Problems[0], "no file-descriptor growth:") {
		t.Errorf("fd growth: passed=%v, problems %q", r.Passed, r.Problems)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, mod := range []func(*config){
		func(c *config) { c.Clients = 0 },
		func(c *config) { c.Era = "2024-11-05" },
		func(c *config) { c.PID = 5 },
		func(c *config) { c.URL = "127.0.0.1:8080/mcp" },
	} {
		c := defaultConfig()
		mod(&c)
		if c.validate() == nil {
			t.Errorf("accepted %+v", c)
		}
	}
	c := defaultConfig()
	if err := c.validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
