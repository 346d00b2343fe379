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

// runLoad serves dbURL with the binary over HTTP and runs tests/load
// against it: 64 clients, 5,000 mixed calls (get_schema and query), none
// of which may fail.
func runLoad(t *testing.T, name, dbURL string, env ...string) loadReport {
	t.Helper()
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(append([]string{
		"PGMCP_DATABASE_URL=" + dbURL, "PGMCP_POLICY_FILE=" + demoPolicyFile(t), "PGMCP_MAX_CONNS=16"}, env...)...))
	defer srv.stop(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./tests/load", "--url", srv.base+"/mcp", "--pid", strconv.Itoa(srv.cmd.Process.Pid),
		"--clients", strconv.Itoa(loadClients), "--calls", strconv.Itoa(loadCalls), "--json")
	cmd.Dir = ".."
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep loadReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%s: the load test's report: %v (exit %v)\n%s\n%.2000s", name, err, runErr, stderr.String(), stdout.String())
	}
	if runErr != nil || !rep.Passed || rep.Failed != 0 || rep.WarmupFailed != 0 || rep.Calls != loadCalls {
		t.Errorf("%s: %d of %d calls failed (warm-up %d; by kind %v), problems %v, first failures %v (exit %v)\nserver log:\n%s",
			name, rep.Failed, rep.Calls, rep.WarmupFailed, rep.FailedByKind, rep.Problems, rep.Failures, runErr, tail(srv.stderr.String(), 3000))
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

// TestConcurrencyThroughPgBouncer runs the concurrency test directly and
// through a real PgBouncer in transaction mode (detected, and configured),
// and reports the throughput of each relative to direct, in one run.
func TestConcurrencyThroughPgBouncer(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	// Fewer server sessions than pgmcp connections: the pooler's sessions
	// are shared by pgmcp's connections from one transaction to the next.
	bouncer := pgtest.StartPgBouncer(t, "transaction", 8)
	direct := runLoad(t, "direct", db.ReaderURL)
	detected := runLoad(t, "PgBouncer, transaction mode, detected", bouncer.URL(db.Name))
	configured := runLoad(t, "PgBouncer, transaction mode, PGMCP_POOLER=transaction", bouncer.URL(db.Name), "PGMCP_POOLER=transaction")
	var b strings.Builder
	fmt.Fprintf(&b, "| topology | calls | failed | calls/s | ÷ direct |\n|---|--:|--:|--:|--:|\n")
	for _, r := range []struct {
		name string
		rep  loadReport
	}{{"direct", direct}, {"PgBouncer (transaction, detected)", detected}, {"PgBouncer (transaction, configured)", configured}} {
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %.2f |\n", r.name, r.rep.Calls, r.rep.Failed, r.rep.Throughput, r.rep.Throughput/direct.Throughput)
	}
	t.Logf("concurrency test, %d clients, %d calls each topology:\n%s", loadClients, loadCalls, b.String())
	if strings.Contains(bouncer.Log(), " ERROR ") {
		t.Errorf("PgBouncer logged errors:\n%s", tail(bouncer.Log(), 3000))
	}
}
