package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// loadReport is what the test reads of tests/load's JSON report.
type loadReport struct {
	Passed       bool           `json:"passed"`
	Problems     []string       `json:"problems"`
	Calls        int            `json:"calls"`
	Failed       int            `json:"failed"`
	FailedByKind map[string]int `json:"failed_by_kind"`
	WarmupFailed int            `json:"warmup_failed"`
	Throughput   float64        `json:"throughput_calls_per_s"`
	Failures     []any          `json:"failures"`
}

// loadCalls and loadClients are the concurrency test's size (issue 20:
// 64 clients, at least 5,000 calls, mixed tools).
const (
	loadCalls   = 5000
	loadClients = 64
)

// runLoad serves dbURL with the binary over HTTP and runs the load
// against it.
func runLoad(t *testing.T, name, dbURL string, env ...string) loadReport {
	t.Helper()
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(append([]string{
		"PGMCP_DATABASE_URL=" + dbURL, "PGMCP_POLICY_FILE=" + demoPolicyFile(t), "PGMCP_MAX_CONNS=16"}, env...)...))
	defer srv.stop(t)
	return loadAgainst(t, name, srv.base+"/mcp", srv)
}

// runLoadReplicas runs the load through a round-robin proxy in front of
// two pgmcp processes in stateless mode on dbURL, and checks both served.
func runLoadReplicas(t *testing.T, dbURL string) loadReport {
	t.Helper()
	replicas := startReplicas(t, 2, dbURL, "PGMCP_MAX_CONNS=16")
	lb := startRoundRobin(t, replicas[0].base, replicas[1].base)
	rep := loadAgainst(t, "2 pgmcp behind a round-robin proxy", lb.srv.URL+"/mcp", replicas...)
	n := lb.counts()
	t.Logf("MCP requests per pgmcp process: %v", n)
	if min(n[0], n[1]) < loadCalls/3 {
		t.Errorf("the two processes served %v MCP requests: not both in turn", n)
	}
	for _, r := range replicas {
		r.stop(t)
	}
	return rep
}

// loadAgainst runs tests/load on mcpURL: 64 clients, 5,000 mixed calls
// (get_schema and query), none of which may fail. The first of servers
// is the one whose memory and goroutines it samples (its /metrics must be
// what mcpURL's host answers); the tool calls the server side counted are
// those of all; the logs of all are shown on a failure.
func loadAgainst(t *testing.T, name, mcpURL string, servers ...*httpServer) loadReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	args := []string{"run", "./tests/load", "--url", mcpURL, "--pid", strconv.Itoa(servers[0].cmd.Process.Pid),
		"--clients", strconv.Itoa(loadClients), "--calls", strconv.Itoa(loadCalls), "--json"}
	for _, s := range servers[1:] {
		args = append(args, "--also-metrics", s.base)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = ".."
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep loadReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%s: the load test's report: %v (exit %v)\n%s\n%.2000s", name, err, runErr, stderr.String(), stdout.String())
	}
	if runErr != nil || !rep.Passed || rep.Failed != 0 || rep.WarmupFailed != 0 || rep.Calls != loadCalls {
		var logs strings.Builder
		for _, s := range servers {
			logs.WriteString(tail(s.stderr.String(), 3000))
		}
		t.Errorf("%s: %d of %d calls failed (warm-up %d; by kind %v), problems %v, first failures %v (exit %v)\nserver log:\n%s",
			name, rep.Failed, rep.Calls, rep.WarmupFailed, rep.FailedByKind, rep.Problems, rep.Failures, runErr, logs.String())
	}
	t.Logf("%s: %d calls, %d failed, %.0f calls/s", name, rep.Calls, rep.Failed, rep.Throughput)
	return rep
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// TestConcurrencyTopologies runs the concurrency test (64 clients, 5,000
// mixed calls, none may fail) on each topology of issue 20, one after the
// other in one run, and reports each one's throughput relative to direct:
// directly; through a real PgBouncer in transaction mode (detected, and
// configured); two pgmcp processes in stateless mode behind a round-robin
// proxy; and against a streaming standby (target_session_attrs=standby),
// next to its own primary served directly, since that pair is a cluster
// of its own.
func TestConcurrencyTopologies(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	// Fewer server sessions than pgmcp connections: the pooler's sessions
	// are shared by pgmcp's connections from one transaction to the next.
	bouncer := pgtest.StartPgBouncer(t, "transaction", 8)
	pair := newReplicaDemo(t, "standby")
	primaryURL := pgtest.HostsURL("reader:pw", "demo", "", pair.primary)
	type row struct {
		name string
		rep  loadReport
	}
	rows := []row{{"direct", runLoad(t, "direct", db.ReaderURL)}}
	rows = append(rows,
		row{"PgBouncer (transaction, detected)", runLoad(t, "PgBouncer, transaction mode, detected", bouncer.URL(db.Name))},
		row{"PgBouncer (transaction, PGMCP_POOLER=transaction)", runLoad(t, "PgBouncer, transaction mode, configured", bouncer.URL(db.Name), "PGMCP_POOLER=transaction")},
		row{"2 pgmcp (stateless) behind a round-robin proxy", runLoadReplicas(t, db.ReaderURL)},
		row{"primary of the standby pair, direct", runLoad(t, "primary of the pair", primaryURL)},
		row{"standby (target_session_attrs=standby)", runLoad(t, "standby", pair.url)},
	)
	direct := rows[0].rep.Throughput
	var b strings.Builder
	fmt.Fprintf(&b, "| topology | calls | failed | calls/s | ÷ direct |\n|---|--:|--:|--:|--:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %.2f |\n", r.name, r.rep.Calls, r.rep.Failed, r.rep.Throughput, r.rep.Throughput/direct)
	}
	t.Logf("concurrency test, %d clients, %d calls each topology:\n%s", loadClients, loadCalls, b.String())
	if strings.Contains(bouncer.Log(), " ERROR ") {
		t.Errorf("PgBouncer logged errors:\n%s", tail(bouncer.Log(), 3000))
	}
}
