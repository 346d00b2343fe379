package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// TestStartWithOneDatabaseDown starts pgmcp with three databases, one of
// them down: the other two are served at once, the third answers
// db_unavailable and /readyz names it; once its server is up, it is
// introspected and served without a restart.
func TestStartWithOneDatabaseDown(t *testing.T) {
	t.Parallel()
	a, b := pgtest.NewDB(t, pgtest.Demo), pgtest.NewDB(t, pgtest.Demo)
	cluster, cURL := privateDemo(t)
	if err := cluster.Pause(); err != nil {
		t.Fatal(err)
	}
	pol := `"policy": {"allowed_schemas": ["public"]}`
	dbs := fmt.Sprintf(`[{"name": "a", "url": %q, %s}, {"name": "b", "url": %q, %s}, {"name": "c", "url": %q, %s}]`,
		a.ReaderURL, pol, b.ReaderURL, pol, cURL, pol)
	start := time.Now()
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv("PGMCP_DATABASES="+dbs, "PGMCP_CONNECT_TIMEOUT=2s", "PGMCP_ACQUIRE_TIMEOUT=2s"))
	t.Logf("serving %s after start with database c down", time.Since(start).Round(time.Millisecond))
	c := httpClient(t, srv.base+"/mcp")
	initialize(t, c)
	const sql = "SELECT count(*) FROM orders"
	for _, name := range []string{"a", "b"} {
		if code, took := callCode(t, c, "query", map[string]any{"sql": sql, "database": name}); code != "" {
			t.Errorf("database %s: %s", name, code)
		} else {
			t.Logf("database %s served at once (%s)", name, took.Round(time.Millisecond))
		}
	}
	code, took := callCode(t, c, "query", map[string]any{"sql": sql, "database": "c"})
	if code != "db_unavailable" || took > 3*time.Second {
		t.Errorf("database c while down: code %q in %s, want db_unavailable at once", code, took)
	}
	status, body := readyz(t, srv)
	t.Logf("/readyz while c is down: %d\n%s", status, body)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "a: up") || !strings.Contains(body, "b: up") ||
		!strings.Contains(body, "c: unavailable since") {
		t.Errorf("/readyz = %d %q", status, body)
	}
	// The message says what happens next.
	res := callText(t, c, "query", map[string]any{"sql": sql, "database": "c"})
	if !strings.Contains(res, "keeps trying in the background") {
		t.Errorf("the unavailable database's message does not say it is retried: %s", res)
	}

	if err := cluster.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	deadline := up.Add(60 * time.Second)
	for {
		code, _ := callCode(t, c, "query", map[string]any{"sql": sql, "database": "c"})
		if code == "" {
			t.Logf("database c served %s after its server came up, without a restart", time.Since(up).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database c still %s 60s after its server came up:\n%s", code, tail(srv.stderr.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Introspected: get_schema describes it.
	out := callGetSchemaArgs(t, c, map[string]any{"database": "c"})
	if len(out.Tables) == 0 || out.Database != "c" {
		t.Errorf("get_schema of c after it came up: %+v", out)
	}
	if status, body := readyz(t, srv); status != 200 || !strings.Contains(body, "c: up") {
		t.Errorf("/readyz after c came up = %d %q", status, body)
	}
	if !strings.Contains(srv.stderr.String(), "database came up: now served") {
		t.Errorf("the server did not log the database coming up")
	}
}

// callText calls a tool and returns the text of its result.
func callText(t *testing.T, c *client.Client, tool string, args map[string]any) string {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := c.CallTool(t.Context(), req)
	if err != nil {
		t.Fatalf("%s: protocol error %v", tool, err)
	}
	if len(res.Content) == 0 {
		return ""
	}
	text, _ := res.Content[0].(mcp.TextContent)
	return text.Text
}
