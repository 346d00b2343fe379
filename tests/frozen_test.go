package tests

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// freeze stops (SIGSTOP) the postmaster pid and every process it started,
// as a frozen VM would look: the kernel still accepts connections on the
// socket, nothing answers. It returns a function that thaws them.
func freeze(t *testing.T, pid int) func() {
	t.Helper()
	pids := []int{pid}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so split after ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			pids = append(pids, child)
		}
	}
	for _, p := range pids {
		if err := syscall.Kill(p, syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP %d: %v", p, err)
		}
	}
	var once sync.Once
	thaw := func() {
		once.Do(func() {
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGCONT)
			}
		})
	}
	t.Cleanup(thaw)
	return thaw
}

// TestFrozenDatabaseBounded stops every PostgreSQL process with SIGSTOP
// while pgmcp serves: calls on pooled connections end at their client-side
// deadline (statement timeout + 1 s margin + 2 s for the cancel request)
// instead of hanging, calls waiting for a connection end at the acquire
// timeout with a code that says so, and get_schema serves the schema in
// hand, marked stale, within 2 s. After SIGCONT, calls succeed again.
func TestFrozenDatabaseBounded(t *testing.T) {
	t.Parallel()
	cluster, url := privateDemo(t)
	const statementTimeout, acquireTimeout = 3 * time.Second, 2 * time.Second
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv("PGMCP_DATABASE_URL="+url,
		"PGMCP_ALLOWED_SCHEMAS=public", "PGMCP_STATEMENT_TIMEOUT=3s", "PGMCP_ACQUIRE_TIMEOUT=2s",
		"PGMCP_MAX_CONNS=3", "PGMCP_MAX_CONCURRENT_QUERIES=8", "PGMCP_SCHEMA_CACHE_TTL=1s"))
	c := httpClient(t, srv.base+"/mcp")
	initialize(t, c)
	const sql = "SELECT status, count(*) FROM orders GROUP BY status"
	for range 3 {
		if code, _ := callCode(t, c, "query", map[string]any{"sql": sql}); code != "" {
			t.Fatalf("before the freeze: %s", code)
		}
	}
	if code, _ := callCode(t, c, "get_schema", map[string]any{}); code != "" {
		t.Fatalf("get_schema before the freeze: %s", code)
	}

	thaw := freeze(t, cluster.PID())
	frozeAt := time.Now()
	bound := statementTimeout + time.Second + 2*time.Second + 2*time.Second // + 2 s of slack for a busy machine
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	var longest time.Duration
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc := httpClient(t, srv.base+"/mcp")
			initialize(t, cc)
			code, took := callCode(t, cc, "query", map[string]any{"sql": sql})
			mu.Lock()
			codes[code]++
			longest = max(longest, took)
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("6 calls against the frozen server: codes %v, longest %s (bound %s)", codes, longest.Round(time.Millisecond), bound)
	if longest > bound {
		t.Errorf("a call lasted %s against the frozen server, over the %s bound", longest, bound)
	}
	for code := range codes {
		if code != "db_unavailable" && code != "pool_exhausted" {
			t.Errorf("code %q during the freeze, want db_unavailable or pool_exhausted", code)
		}
	}
	if codes["db_unavailable"] == 0 {
		t.Errorf("no call reported db_unavailable: %v", codes)
	}

	// The schema change check is due (TTL 1 s): get_schema answers at once
	// from the schema in hand (the check runs in the background, held by
	// the freeze), and once the check is overdue by the check wait (2 s)
	// it says the schema may be stale.
	getSchema := func() (string, time.Duration) {
		start := time.Now()
		req := mcp.CallToolRequest{}
		req.Params.Name = "get_schema"
		res, err := c.CallTool(t.Context(), req)
		took := time.Since(start)
		if err != nil || res.IsError {
			t.Fatalf("get_schema during the freeze: %v %+v", err, res)
		}
		return res.Content[0].(mcp.TextContent).Text, took
	}
	_, took := getSchema()
	t.Logf("get_schema during the freeze took %s", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("get_schema took %s during the freeze: it waited for the change check", took)
	}
	time.Sleep(2500 * time.Millisecond)
	text, took := getSchema()
	if took > time.Second {
		t.Errorf("get_schema took %s during the freeze, the second time", took)
	}
	if !strings.Contains(text, "may be stale") {
		t.Errorf("get_schema does not say the schema may be stale:\n%.300s", text)
	}
	if code, took := callCode(t, c, "explain", map[string]any{"sql": sql}); code != "db_unavailable" && code != "pool_exhausted" || took > bound {
		t.Errorf("explain during the freeze: %q after %s", code, took)
	}

	thaw()
	t.Logf("frozen for %s", time.Since(frozeAt).Round(time.Millisecond))
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _ := callCode(t, c, "query", map[string]any{"sql": sql})
		if code == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgmcp did not recover after SIGCONT: %s", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.Close()
	srv.stop(t)
}
