package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/localpg"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// replicaDemo is the demo database on a primary of the test's own and a
// streaming standby of it (pg_basebackup -R), with the reader's
// two-host URL (primary first, then the standby) for target_session_attrs
// attrs.
type replicaDemo struct {
	primary, standby *localpg.Cluster
	url              string
}

func newReplicaDemo(t *testing.T, attrs string) *replicaDemo {
	t.Helper()
	p, _ := privateDemo(t)
	s := pgtest.StartStandby(t, p, localpg.Options{})
	return &replicaDemo{primary: p, standby: s, url: pgtest.HostsURL("reader:pw", "demo", attrs, p, s)}
}

// host names the server of an audit record: "primary", "standby", or
// what the record said when it is neither of the pair.
func (r *replicaDemo) host(rec auditRec) string {
	switch {
	case rec.Server == "":
		return "-"
	case rec.Server == r.primary.SocketDir && rec.ServerPort == r.primary.Port && rec.ServerRole == "primary":
		return "primary"
	case rec.Server == r.standby.SocketDir && rec.ServerPort == r.standby.Port && rec.ServerRole == "standby":
		return "standby"
	}
	return fmt.Sprintf("%s:%d(%s)", rec.Server, rec.ServerPort, rec.ServerRole)
}

type auditRec struct {
	Call       string `json:"call"`
	Error      string `json:"error"`
	Server     string `json:"server"`
	ServerPort int    `json:"server_port"`
	ServerRole string `json:"server_role"`
}

// auditTail reads the audit log's records as they are appended.
type auditTail struct {
	t *testing.T
	r *bufio.Reader
}

func openAuditTail(t *testing.T, path string) *auditTail {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := os.Open(path)
		if err == nil {
			t.Cleanup(func() { f.Close() })
			return &auditTail{t: t, r: bufio.NewReader(f)}
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// next is the next record, waiting up to 5s for it.
func (a *auditTail) next() auditRec {
	a.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var line []byte
	for {
		b, err := a.r.ReadBytes('\n')
		line = append(line, b...)
		if err == nil {
			break
		}
		if err != io.EOF || time.Now().After(deadline) {
			a.t.Fatalf("no audit record: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var rec auditRec
	if err := json.Unmarshal(line, &rec); err != nil {
		a.t.Fatalf("audit record %q: %v", line, err)
	}
	return rec
}

// step is one call of a failover transcript.
type step struct {
	at      time.Duration // since the run began
	phase   string
	code    string // "" on success
	host    string
	latency time.Duration
}

// failoverRun drives one pgmcp with calls and keeps the transcript.
type failoverRun struct {
	t     *testing.T
	r     *replicaDemo
	c     *client.Client
	audit *auditTail
	start time.Time
	steps []step
}

const failoverSQL = "SELECT status, count(*) FROM orders GROUP BY status"

func startFailoverRun(t *testing.T, r *replicaDemo, extraEnv ...string) (*failoverRun, *httpServer) {
	t.Helper()
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	env := append([]string{"PGMCP_DATABASE_URL=" + r.url, "PGMCP_ALLOWED_SCHEMAS=public",
		"PGMCP_ACQUIRE_TIMEOUT=2s", "PGMCP_CONNECT_TIMEOUT=3s", "PGMCP_AUDIT_LOG=" + audit}, extraEnv...)
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(env...))
	c := httpClient(t, srv.base+"/mcp")
	initialize(t, c)
	return &failoverRun{t: t, r: r, c: c, audit: openAuditTail(t, audit), start: time.Now()}, srv
}

// call makes one query call and notes it.
func (f *failoverRun) call(phase string) step {
	f.t.Helper()
	at := time.Since(f.start)
	code, took := callCode(f.t, f.c, "query", map[string]any{"sql": failoverSQL})
	rec := f.audit.next()
	if rec.Error != code {
		f.t.Fatalf("audit record %+v for a call that returned %q", rec, code)
	}
	s := step{at: at, phase: phase, code: code, host: f.r.host(rec), latency: took}
	f.steps = append(f.steps, s)
	return s
}

// until calls every 100ms until ok says the call is what it waits for
// (that call included), at most for d; it returns the time it took.
func (f *failoverRun) until(phase string, d time.Duration, ok func(step) bool) time.Duration {
	f.t.Helper()
	start := time.Now()
	for {
		if ok(f.call(phase)) {
			return time.Since(start)
		}
		if time.Since(start) > d {
			f.log()
			f.t.Fatalf("%s: not reached within %s", phase, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (f *failoverRun) log() {
	var b strings.Builder
	fmt.Fprintf(&b, "transcript (%d calls):\n%8s  %-9s  %-8s  %-15s  %s\n", len(f.steps), "t", "phase", "host", "code", "latency")
	for _, s := range f.steps {
		code := s.code
		if code == "" {
			code = "ok"
		}
		fmt.Fprintf(&b, "%8s  %-9s  %-8s  %-15s  %s\n", s.at.Round(time.Millisecond), s.phase, s.host, code, s.latency.Round(100*time.Microsecond))
	}
	f.t.Log(b.String())
}

func (f *failoverRun) metric(srv *httpServer, prefix string) string {
	f.t.Helper()
	resp, err := http.Get(srv.base + "/metrics")
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// TestFailoverStandby: with target_session_attrs=standby, queries run on
// the standby (the audit record names it); while it is stopped, calls
// fail fast with db_unavailable (the primary is never used); once it is
// started again, calls succeed on it with no restart of pgmcp.
func TestFailoverStandby(t *testing.T) {
	t.Parallel()
	r := newReplicaDemo(t, "standby")
	f, srv := startFailoverRun(t, r)
	for range 5 {
		if s := f.call("before"); s.code != "" || s.host != "standby" {
			f.log()
			t.Fatalf("before the stop: %+v", s)
		}
	}
	status, body := readyz(t, srv)
	t.Logf("/readyz before the stop (%d):\n%s", status, body)
	if status != http.StatusOK || !regexp.MustCompile(`up \(ping [^)]+\), standby [^ ]+:\d+, lag_seconds=[0-9.]+ lag_bytes=\d+`).MatchString(body) {
		t.Errorf("/readyz should name the standby with its lag_seconds and lag_bytes")
	}
	if err := r.standby.Pause(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	var unavailable int
	for time.Since(stopped) < 3*time.Second {
		s := f.call("stopped")
		switch {
		case s.code == "db_unavailable":
			unavailable++
		case s.code == "connection_lost" && unavailable == 0:
			// The call that found its pooled connection closed by the
			// standby's shutdown.
		default:
			f.log()
			t.Fatalf("standby stopped: %+v, want db_unavailable (never the primary)", s)
		}
		if s.latency > 3*time.Second {
			t.Errorf("a call with the standby stopped took %s (acquire timeout 2s)", s.latency)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status, body := readyz(t, srv); status != http.StatusServiceUnavailable || !strings.Contains(body, "not answering") {
		t.Errorf("/readyz with the standby stopped = %d:\n%s\nwant 503 naming it not answering", status, body)
	}
	if unavailable < 5 {
		t.Errorf("only %d calls answered db_unavailable while the standby was stopped", unavailable)
	}
	resumed := time.Now()
	if err := r.standby.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("the standby took %s to start again", time.Since(resumed).Round(time.Millisecond))
	back := f.until("restarted", 15*time.Second, func(s step) bool { return s.code == "" })
	for range 5 {
		if s := f.call("after"); s.code != "" || s.host != "standby" {
			f.log()
			t.Fatalf("after the restart: %+v", s)
		}
	}
	f.log()
	t.Logf("first success %s after the standby was started again (its start-up itself not counted)", back.Round(time.Millisecond))
	m := f.metric(srv, "pgmcp_server_queries_total")
	t.Logf("/metrics:\n%s", m)
	if !strings.Contains(m, `role="standby"`) || strings.Contains(m, `role="primary"`) {
		t.Errorf("pgmcp_server_queries_total should count the standby only:\n%s", m)
	}
	srv.stop(t)
}

// TestFailoverPreferStandby: with target_session_attrs=prefer-standby,
// queries run on the standby; while it is stopped they run on the
// primary; once it is back they return to it (PGMCP_FAILBACK_AFTER=1s),
// with no restart of pgmcp.
func TestFailoverPreferStandby(t *testing.T) {
	t.Parallel()
	r := newReplicaDemo(t, "prefer-standby")
	f, srv := startFailoverRun(t, r, "PGMCP_FAILBACK_AFTER=1s")
	for range 5 {
		if s := f.call("before"); s.code != "" || s.host != "standby" {
			f.log()
			t.Fatalf("before the stop: %+v", s)
		}
	}
	if err := r.standby.Pause(); err != nil {
		t.Fatal(err)
	}
	moved := f.until("stopped", 10*time.Second, func(s step) bool {
		if s.code != "" && s.code != "connection_lost" && s.code != "db_unavailable" {
			f.log()
			t.Fatalf("standby stopped: %+v", s)
		}
		return s.code == "" && s.host == "primary"
	})
	for range 10 {
		if s := f.call("stopped"); s.code != "" || s.host != "primary" {
			f.log()
			t.Fatalf("standby stopped, after the move: %+v, want the primary", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resumed := time.Now()
	if err := r.standby.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("the standby took %s to start again", time.Since(resumed).Round(time.Millisecond))
	back := f.until("restarted", 10*time.Second, func(s step) bool {
		if s.code != "" {
			f.log()
			t.Fatalf("standby restarted: %+v", s)
		}
		return s.host == "standby"
	})
	for range 5 {
		if s := f.call("after"); s.code != "" || s.host != "standby" {
			f.log()
			t.Fatalf("after the return: %+v", s)
		}
	}
	f.log()
	t.Logf("on the primary %s after the standby stopped; back on the standby %s after it was started again", moved.Round(time.Millisecond), back.Round(time.Millisecond))
	m := f.metric(srv, "pgmcp_server_queries_total")
	t.Logf("/metrics:\n%s", m)
	if !strings.Contains(m, `role="standby"`) || !strings.Contains(m, `role="primary"`) {
		t.Errorf("pgmcp_server_queries_total should count both servers:\n%s", m)
	}
	srv.stop(t)
}
