package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// Protocol eras mcp-go speaks: the stateless 2026-07-28 revision (negotiated
// with server/discover) and the 2025-11-25 initialize handshake.
const (
	eraModern = mcp.ProtocolVersion20260728
	eraLegacy = mcp.ProtocolVersion20251125
	eraMixed  = "mixed"
)

// config is what to run.
type config struct {
	URL string // target a running server; "" starts the demo
	PID int    // with URL: the server's pid (0: find it from the port)
	// AlsoMetrics are the base URLs of the other servers behind URL (a
	// load balancer's): their pgmcp_tool_calls_total count with URL's.
	AlsoMetrics []string
	Bin         string // pgmcp binary; "" builds one
	Race        bool   // build with -race
	ServerEnv   []string
	ServerLog   string // also write the demo's stderr here
	Clients     int
	Calls       int
	Warmup      int
	SchemaShare int // get_schema:query ratio
	QueryShare  int
	Era         string
	JSON        bool
	CallTimeout time.Duration
	Settle      time.Duration // after the clients close, before counting goroutines
	Slack       int           // goroutines (fds) the server may gain
	SampleEvery time.Duration
	Progress    io.Writer // progress lines; nil for none
}

func defaultConfig() config {
	return config{
		Clients: 64, Calls: 10000, Warmup: 256, SchemaShare: 20, QueryShare: 80, Era: eraMixed,
		CallTimeout: 60 * time.Second, Settle: 2 * time.Second, Slack: 10, SampleEvery: 100 * time.Millisecond,
	}
}

func (c *config) validate() error {
	switch {
	case c.Clients < 1:
		return errors.New("--clients must be at least 1")
	case c.Calls < 1:
		return errors.New("--calls must be at least 1")
	case c.Warmup < 0:
		return errors.New("--warmup must not be negative")
	case c.SchemaShare < 0 || c.QueryShare < 0 || c.SchemaShare+c.QueryShare == 0:
		return errors.New("--mix needs a positive share")
	case c.Era != eraModern && c.Era != eraLegacy && c.Era != eraMixed:
		return fmt.Errorf("--era must be %s, %s or %s", eraModern, eraLegacy, eraMixed)
	case c.CallTimeout <= 0 || c.SampleEvery <= 0 || c.Settle < 0 || c.Slack < 0:
		return errors.New("--timeout and --sample must be positive, --settle and --slack not negative")
	case c.PID != 0 && c.URL == "":
		return errors.New("--pid needs --url (without --url the load test starts its own server)")
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--url %q is not an http(s) URL", c.URL)
		}
	}
	return nil
}

func (c *config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "load: "+format+"\n", args...)
	}
}

// eraOf returns the protocol era of client i.
func (c *config) eraOf(i int) string {
	switch c.Era {
	case eraMixed:
		if i%2 == 0 {
			return eraModern
		}
		return eraLegacy
	default:
		return c.Era
	}
}

// run runs the load test: start (or find) the server, warm up, measure,
// check, stop. It returns a report whenever the run got as far as
// measuring, with an error only when it could not run at all.
func run(ctx context.Context, cfg config) (*report, error) {
	rep := newReport(cfg)
	target := cfg.URL
	pid := cfg.PID
	var demo *demoServer
	if target == "" {
		tmp, err := os.MkdirTemp("", "pgmcp-load-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		bin := cfg.Bin
		if bin == "" {
			cfg.progress("building pgmcp%s", map[bool]string{true: " with -race", false: ""}[cfg.Race])
			start := time.Now()
			if bin, err = buildServer(ctx, tmp, cfg.Race); err != nil {
				return nil, err
			}
			cfg.progress("built in %s", time.Since(start).Round(time.Millisecond))
		}
		var logFile io.Writer
		if cfg.ServerLog != "" {
			f, err := os.Create(cfg.ServerLog)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			logFile = f
		}
		cfg.progress("starting pgmcp demo (a throwaway PostgreSQL with the demo database)")
		start := time.Now()
		demo, err = startDemo(ctx, bin, cfg.ServerEnv, logFile)
		if err != nil {
			return nil, err
		}
		// Whatever happens next, stop the demo (a second Stop is a no-op).
		defer demo.Stop()
		cfg.progress("demo serving at %s after %s (pid %d, cluster %s)", demo.URL, time.Since(start).Round(time.Millisecond), demo.PID, demo.ClusterDir)
		rep.Server.Started = time.Since(start).Seconds()
		target, pid = demo.URL, demo.PID
	} else if pid == 0 {
		pid = guessPID(target)
		rep.Server.PIDFound = pid != 0
	}
	rep.Server.URL = target
	rep.Server.PID = pid
	base := strings.TrimSuffix(strings.TrimSuffix(target, "/"), "/mcp")

	if err := measure(ctx, cfg, rep, target, base, pid, demo); err != nil {
		return nil, err
	}
	if demo != nil {
		cfg.progress("stopping the demo (SIGTERM)")
		c := demo.Stop()
		rep.Cleanup = &c
		rep.Server.LogWarnings = demo.log.warnings.Load()
		rep.Server.LogErrors = demo.log.errors.Load()
		rep.Server.LogFirst = demo.log.First()
	}
	rep.LoadEnd = loadAvg()
	rep.check(cfg)
	return rep, nil
}

// guessPID finds the pid of a local server from its URL's port.
func guessPID(target string) int {
	u, err := url.Parse(target)
	if err != nil {
		return 0
	}
	host, portStr := u.Hostname(), u.Port()
	if portStr == "" {
		portStr = "80"
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0
	}
	port, _ := strconv.Atoi(portStr)
	return findListenerPID(port)
}

// snapshot is the server's state between phases.
type snapshot struct {
	Goroutines   int              `json:"goroutines"`           // -1: no /metrics
	MetricsRSSKB int64            `json:"metrics_rss_kb"`       // process_resident_memory_bytes; -1: unknown
	ToolCalls    map[string]int64 `json:"tool_calls,omitempty"` // pgmcp_tool_calls_total by "tool outcome"
	Threads      int64            `json:"threads"`              // -1: unknown
	FDs          int              `json:"fds"`
	RSSKB        int64            `json:"rss_kb"`      // VmRSS; -1: unknown
	PGBackends   int              `json:"pg_backends"` // live children of the demo postmaster; -1 unknown
}

// takeSnapshot reads the server at base (its /metrics, and its /proc when
// pid > 0), adding to its tool calls those of the servers at also.
func takeSnapshot(ctx context.Context, base string, also []string, pid int, demo *demoServer) (snapshot, error) {
	s := snapshot{Goroutines: -1, MetricsRSSKB: -1, Threads: -1, FDs: -1, RSSKB: -1, PGBackends: -1}
	m, found, err := scrapeMetrics(ctx, base)
	if err != nil {
		return s, err
	}
	if found {
		s.Goroutines, s.ToolCalls = m.Goroutines, m.ToolCalls
		if m.RSSBytes >= 0 {
			s.MetricsRSSKB = m.RSSBytes / 1024
		}
	}
	for _, b := range also {
		o, found, err := scrapeMetrics(ctx, b)
		if err != nil {
			return s, err
		}
		if found && s.ToolCalls != nil {
			for k, v := range o.ToolCalls {
				s.ToolCalls[k] += v
			}
		}
	}
	if pid > 0 {
		if st, err := procStatus(pid, "Threads", "VmRSS"); err == nil {
			if v, ok := st["Threads"]; ok {
				s.Threads = v
			}
			if v, ok := st["VmRSS"]; ok {
				s.RSSKB = v
			}
		}
		s.FDs = countFDs(pid)
	}
	if demo != nil && demo.PMPID > 0 {
		s.PGBackends = len(children(demo.PMPID))
	}
	return s, nil
}

// metricsRSS reads process_resident_memory_bytes from the server's
// /metrics, in kB: the RSS of a server whose /proc cannot be read.
func metricsRSS(ctx context.Context, base string) func() (int64, bool) {
	return func() (int64, bool) {
		m, found, err := scrapeMetrics(ctx, base)
		if err != nil || !found || m.RSSBytes < 0 {
			return 0, false
		}
		return m.RSSBytes / 1024, true
	}
}

// cpuMark is a point in time for CPU accounting.
type cpuMark struct {
	at               time.Time
	server, pg, self float64
	total, idle      int64
}

func markCPU(pid int, demo *demoServer) cpuMark {
	m := cpuMark{at: time.Now(), server: -1, pg: -1, self: selfCPUSeconds()}
	if pid > 0 {
		m.server = cpuSeconds(pid)
	}
	if demo != nil && demo.PMPID > 0 {
		m.pg, _ = treeCPUSeconds(demo.PMPID)
	}
	m.total, m.idle = machineCPU()
	return m
}

func measure(ctx context.Context, cfg config, rep *report, target, base string, pid int, demo *demoServer) error {
	wl := workload{cfg.SchemaShare, cfg.QueryShare}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if cfg.Progress != nil {
		logger = slog.New(slog.NewTextHandler(cfg.Progress, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	if cfg.Warmup > 0 {
		cfg.progress("warm-up: %d clients, %d calls", cfg.Clients, cfg.Warmup)
		pool, err := openClients(ctx, cfg, target, logger)
		if err != nil {
			return err
		}
		res := pool.run(ctx, cfg, wl, cfg.Warmup)
		pool.close()
		rep.WarmupFailed = res.failed
		rep.WarmupSeconds = res.wall.Seconds()
		rep.Failures = append(rep.Failures, res.failures...)
		if res.failed > 0 {
			cfg.progress("warm-up: %d of %d calls failed", res.failed, cfg.Warmup)
		}
		sleepCtx(ctx, cfg.Settle)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	before, err := takeSnapshot(ctx, base, cfg.AlsoMetrics, pid, demo)
	if err != nil {
		return err
	}
	rep.Before = before
	if pid > 0 {
		rep.Server.PeakReset = resetPeakRSS(pid)
	}
	var sampler *rssSampler
	switch {
	case pid > 0:
		rep.RSS.Source, rep.RSS.Every = "/proc VmRSS", cfg.SampleEvery.String()
		sampler = startRSSSampler(procRSS(pid), cfg.SampleEvery)
	case before.MetricsRSSKB > 0:
		// No /proc: sample /metrics, less often (each sample is a request).
		every := max(cfg.SampleEvery, 500*time.Millisecond)
		rep.RSS.Source, rep.RSS.Every = "/metrics process_resident_memory_bytes", every.String()
		sampler = startRSSSampler(metricsRSS(ctx, base), every)
	}
	rep.LoadStart = loadAvg()
	cpu0 := markCPU(pid, demo)

	cfg.progress("run: %d clients (%s), %d calls, get_schema:query %d:%d", cfg.Clients, cfg.Era, cfg.Calls, cfg.SchemaShare, cfg.QueryShare)
	connectStart := time.Now()
	pool, err := openClients(ctx, cfg, target, logger)
	if err != nil {
		if sampler != nil {
			sampler.Stop()
		}
		return err
	}
	rep.Connect = pool.connectStats(time.Since(connectStart))
	res := pool.run(ctx, cfg, wl, cfg.Calls)
	cpu1 := markCPU(pid, demo)
	rep.LoadDuring = loadAvg()
	rep.Dials = pool.dials()
	pool.close()
	// The peak is over: stop sampling (a /metrics sample must not be in
	// flight when the goroutines are counted).
	if sampler != nil {
		rep.RSS.Samples, rep.RSS.MaxKB, rep.RSS.MeanKB = sampler.Stop()
	}
	cfg.progress("run: %d calls in %s (%.0f calls/s), %d failed", res.calls, res.wall.Round(time.Millisecond),
		float64(res.calls)/res.wall.Seconds(), res.failed)

	sleepCtx(ctx, cfg.Settle)
	after, err := takeSnapshot(context.WithoutCancel(ctx), base, cfg.AlsoMetrics, pid, demo)
	if err != nil {
		return err
	}
	rep.After = after
	// VmHWM: the peak from the reset before the run to now.
	if pid > 0 {
		if st, err := procStatus(pid, "VmHWM"); err == nil {
			rep.RSS.HWMKB = st["VmHWM"]
		}
	}
	rep.RSS.PeakKB = max(rep.RSS.HWMKB, rep.RSS.MaxKB, after.RSSKB, after.MetricsRSSKB)
	rep.fill(res, cpu0, cpu1)
	return ctx.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// loadClient is one MCP client with its own HTTP connection pool.
type loadClient struct {
	id      int
	era     string
	c       *client.Client
	http    *http.Transport
	dials   atomic.Int64
	connect time.Duration
}

type clientPool struct {
	clients []*loadClient
}

// openClients creates and initializes cfg.Clients clients at once (as a
// burst of analysts would connect).
func openClients(ctx context.Context, cfg config, target string, logger *slog.Logger) (*clientPool, error) {
	p := &clientPool{clients: make([]*loadClient, cfg.Clients)}
	errs := make([]error, cfg.Clients)
	var wg sync.WaitGroup
	for i := range p.clients {
		lc := &loadClient{id: i, era: cfg.eraOf(i)}
		p.clients[i] = lc
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = lc.open(ctx, cfg, target, logger)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		p.close()
		return nil, fmt.Errorf("connecting the clients: %w", err)
	}
	return p, nil
}

func (lc *loadClient) open(ctx context.Context, cfg config, target string, logger *slog.Logger) error {
	// Each client is its own process in real life: give it its own
	// connection pool. (mcp-go's default is a bare http.Client, whose
	// shared DefaultTransport keeps only 2 idle connections per host, so 64
	// clients would open a new TCP connection for most calls.) A client
	// makes one call at a time, so it keeps a single connection open.
	ht := http.DefaultTransport.(*http.Transport).Clone()
	ht.MaxIdleConnsPerHost = 4
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	ht.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		lc.dials.Add(1)
		return dialer.DialContext(ctx, network, addr)
	}
	lc.http = ht
	tr, err := transport.NewStreamableHTTP(target,
		transport.WithHTTPBasicClient(&http.Client{Transport: bufferingTransport{ht}}),
		transport.WithHTTPLogger(logger))
	if err != nil {
		return err
	}
	var opts []client.ClientOption
	if lc.era == eraLegacy {
		opts = append(opts, client.WithProtocolVersion(eraLegacy))
	}
	lc.c = client.NewClient(tr, opts...)
	ictx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	start := time.Now()
	if err := lc.c.Start(ictx); err != nil {
		return fmt.Errorf("client %d: start: %w", lc.id, err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ClientInfo = mcp.Implementation{Name: "pgmcp-load", Version: "1"}
	if _, err := lc.c.Initialize(ictx, req); err != nil {
		return fmt.Errorf("client %d (%s): initialize: %w", lc.id, lc.era, err)
	}
	lc.connect = time.Since(start)
	if got := lc.c.ProtocolVersion(); got != lc.era {
		return fmt.Errorf("client %d asked for protocol %s and got %s", lc.id, lc.era, got)
	}
	return nil
}

// bufferingTransport reads a JSON response body to its end before handing
// it on. mcp-go decodes a JSON response and then cancels the request's
// context before closing the body; when the decoder has not yet seen the
// body's end (a chunked response, i.e. any result over 2 kB, often ends
// with a final chunk still unread), Go's transport drops the connection
// instead of reusing it, and the client dials anew. A client that reads its
// responses to the end (as browsers and the other SDKs do) keeps its
// connection, so the load test does too: it measures the server, not
// connection churn.
type bufferingTransport struct{ base http.RoundTripper }

func (t bufferingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	// An SSE stream may not end: leave it alone.
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("response larger than %d bytes", maxResponseBytes)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// maxResponseBytes bounds a response the clients read into memory.
const maxResponseBytes = 64 << 20

// close closes every client (a 2025-11-25 client ends its session with a
// DELETE) and its idle HTTP connections: mcp-go's Close leaves those open,
// and the server would keep a goroutine per connection.
func (p *clientPool) close() {
	var wg sync.WaitGroup
	for _, lc := range p.clients {
		if lc == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if lc.c != nil {
				_ = lc.c.Close()
			}
			if lc.http != nil {
				lc.http.CloseIdleConnections()
			}
		}()
	}
	wg.Wait()
}

func (p *clientPool) dials() int64 {
	var n int64
	for _, lc := range p.clients {
		n += lc.dials.Load()
	}
	return n
}

func (p *clientPool) connectStats(wall time.Duration) connectStats {
	ds := make([]time.Duration, 0, len(p.clients))
	for _, lc := range p.clients {
		ds = append(ds, lc.connect)
	}
	slices.Sort(ds)
	return connectStats{Clients: len(ds), WallMS: ms(wall), P50MS: ms(percentile(ds, 0.50)), MaxMS: ms(ds[len(ds)-1])}
}

// sample is one measured call.
type sample struct {
	spec *callSpec
	era  string
	dur  time.Duration
	ok   bool
}

// failure describes a failed call.
type failure struct {
	Call   int    `json:"call"`
	Client int    `json:"client"`
	Era    string `json:"era"`
	Tool   string `json:"tool"`
	Name   string `json:"name"`
	Kind   string `json:"kind"` // error, is_error, bad_result
	Detail string `json:"detail"`
}

// maxFailures is how many failures are kept for the report.
const maxFailures = 10

type runResult struct {
	calls     int
	failed    int
	wall      time.Duration
	samples   []sample
	failures  []failure
	perClient []int // calls made by each client
	byKind    map[string]int
}

// run makes n calls with every client at once; each client takes the next
// call number until all n are taken, so a slow call does not hold up the
// others' share.
func (p *clientPool) run(ctx context.Context, cfg config, wl workload, n int) runResult {
	var next atomic.Int64
	var mu sync.Mutex
	res := runResult{byKind: map[string]int{}, perClient: make([]int, len(p.clients))}
	perClient := make([][]sample, len(p.clients))
	var wg sync.WaitGroup
	start := time.Now()
	for i, lc := range p.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]sample, 0, n/len(p.clients)+1)
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= n {
					break
				}
				spec := wl.call(k)
				dur, f := lc.call(ctx, cfg, spec)
				mine = append(mine, sample{spec: spec, era: lc.era, dur: dur, ok: f == nil})
				if f != nil {
					f.Call, f.Client, f.Era = k, lc.id, lc.era
					mu.Lock()
					res.byKind[f.Kind]++
					if len(res.failures) < maxFailures {
						res.failures = append(res.failures, *f)
					}
					mu.Unlock()
				}
			}
			perClient[i] = mine
		}()
	}
	wg.Wait()
	res.wall = time.Since(start)
	for i, s := range perClient {
		res.perClient[i] = len(s)
		res.samples = append(res.samples, s...)
		for _, x := range s {
			if !x.ok {
				res.failed++
			}
		}
	}
	res.calls = len(res.samples)
	return res
}

// call makes one call and checks its result: a call fails when it returns
// an error, a result with isError, or a result without its structured
// content (query: rows, at least one; get_schema: tables, at least one).
func (lc *loadClient) call(ctx context.Context, cfg config, spec *callSpec) (time.Duration, *failure) {
	cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = spec.Tool
	req.Params.Arguments = spec.Args
	start := time.Now()
	res, err := lc.c.CallTool(cctx, req)
	dur := time.Since(start)
	f := &failure{Tool: spec.Tool, Name: spec.Name}
	switch {
	case err != nil:
		f.Kind, f.Detail = "error", err.Error()
		return dur, f
	case res == nil:
		f.Kind, f.Detail = "error", "no result"
		return dur, f
	case res.IsError:
		f.Kind, f.Detail = "is_error", resultText(res)
		return dur, f
	}
	sc, _ := res.StructuredContent.(map[string]any)
	key := "rows"
	if spec.Tool == "get_schema" {
		key = "tables"
	}
	list, ok := sc[key].([]any)
	if !ok || len(list) == 0 {
		f.Kind, f.Detail = "bad_result", fmt.Sprintf("structuredContent has no %s: %.300s", key, resultText(res))
		return dur, f
	}
	return dur, nil
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	s := b.String()
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}

// percentile returns the nearest-rank q-quantile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(sorted))*q)) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// goVersion is the Go version of this program (and of the pgmcp it builds).
func goVersion() string { return runtime.Version() }
