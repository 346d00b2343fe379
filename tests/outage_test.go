package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/cmd/pgmcp/localpg"
)

// privateDemo starts a cluster of the test's own (the shared one must not
// go down under other tests) holding the demo database, and returns it
// with the reader's URL.
func privateDemo(t *testing.T) (*localpg.Cluster, string) {
	t.Helper()
	c, err := localpg.Start(t.Context(), localpg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE demo"); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	conn, err := pgx.Connect(ctx, c.URL("demo"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := demodb.Load(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if err := demodb.CreateReaderRole(ctx, conn, "demo", "reader", "pw"); err != nil {
		t.Fatal(err)
	}
	return c, c.URLFor("reader", "pw", "demo")
}

// callCode calls a tool and returns its error code ("" on success) and
// how long it took.
func callCode(t *testing.T, c *client.Client, tool string, args map[string]any) (string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	start := time.Now()
	res, err := c.CallTool(ctx, req)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s: protocol error %v", tool, err)
	}
	if !res.IsError {
		return "", took
	}
	var body struct{ Code string }
	_ = json.Unmarshal([]byte(res.Content[0].(mcp.TextContent).Text), &body)
	return body.Code, took
}

// TestDatabaseOutage stops PostgreSQL under a running server: calls during
// the outage fail fast with db_unavailable and /readyz says so; after
// PostgreSQL returns, calls succeed again without restarting pgmcp.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	cluster, url := privateDemo(t)
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv("PGMCP_DATABASE_URL="+url,
		"PGMCP_ALLOWED_SCHEMAS=public", "PGMCP_ACQUIRE_TIMEOUT=2s"))
	c := httpClient(t, srv.base+"/mcp")
	initialize(t, c)
	const sql = "SELECT status, count(*) FROM orders GROUP BY status"
	ready := func() int {
		status, _ := readyz(t, srv)
		return status
	}
	for range 5 {
		if code, _ := callCode(t, c, "query", map[string]any{"sql": sql}); code != "" {
			t.Fatalf("before the outage: %s", code)
		}
	}
	if ready() != 200 {
		t.Fatal("/readyz is not ready before the outage")
	}

	if err := cluster.Pause(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		code, took := callCode(t, c, "query", map[string]any{"sql": sql})
		if code != "db_unavailable" {
			t.Errorf("call %d during the outage: code %q, want db_unavailable", i, code)
		}
		if took > 4*time.Second {
			t.Errorf("call %d during the outage took %s (acquire timeout 2s)", i, took)
		}
	}
	if got := ready(); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage = %d, want 503", got)
	}
	if resp, err := http.Get(srv.base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz during the outage: %v %v", resp, err)
	}

	if err := cluster.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _ := callCode(t, c, "query", map[string]any{"sql": sql})
		if code == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgmcp did not recover after PostgreSQL came back: %s", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := range 10 {
		if code, _ := callCode(t, c, "query", map[string]any{"sql": sql}); code != "" {
			t.Errorf("call %d after recovery: %s", i, code)
		}
	}
	if ready() != 200 {
		t.Error("/readyz is not ready after recovery")
	}
	c.Close()
	srv.stop(t)
}

// TestSIGTERMDrains sends SIGTERM while a call runs: the call still gets
// its result, then the server exits cleanly; a call arriving during the
// drain is refused.
func TestSIGTERMDrains(t *testing.T) {
	t.Parallel()
	_, url := privateDemo(t)
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv("PGMCP_DATABASE_URL="+url,
		"PGMCP_ALLOWED_SCHEMAS=public", "PGMCP_STATEMENT_TIMEOUT=60s"))
	c := httpClient(t, srv.base+"/mcp")
	initialize(t, c)
	// About a second or more of work: a join of 54 million pairs.
	const slow = "SELECT count(*) AS pairs FROM order_items a JOIN order_items b ON a.product_id = b.product_id"
	type result struct {
		code string
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		code, took := callCode(t, c, "query", map[string]any{"sql": slow})
		done <- result{code, took}
	}()
	time.Sleep(300 * time.Millisecond) // the call is in flight
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != "" {
		t.Errorf("the call in flight during SIGTERM failed: %s (after %s)", r.code, r.took)
	}
	if r.took < 300*time.Millisecond {
		t.Logf("the slow query finished in %s, before SIGTERM: the drain was not exercised", r.took)
	}
	select {
	case err := <-srv.done:
		if err != nil {
			t.Errorf("pgmcp exited with %v after draining:\n%s", err, srv.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pgmcp did not exit after draining")
	}
}
