package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/nodetest"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// eras are the two protocol eras mcp-go serves: the stateless 2026-07-28
// revision (negotiated through server/discover) and the 2025-11-25
// initialize handshake.
var eras = []struct {
	name string
	opts []client.ClientOption
}{
	{"2026-07-28", nil},
	{"2025-11-25", []client.ClientOption{client.WithProtocolVersion(mcp.ProtocolVersion20251125)}},
}

// baseEnv is a clean environment for the binary: no PGMCP_* or OPENAI_*
// variable leaks in from the developer's shell.
func baseEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	return append(env, extra...)
}

// demoPolicyFile writes the demo's default policy to a file.
func demoPolicyFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(p, demodb.PolicyJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// demoBlocked returns the names the demo policy blocks: tables (bare names)
// and columns.
func demoBlocked(t *testing.T) (tables, columns []string) {
	t.Helper()
	p, err := sqlguard.ParsePolicyJSON(demodb.PolicyJSON)
	if err != nil {
		t.Fatalf("demo policy: %v", err)
	}
	for _, r := range p.BlockedRelations {
		_, name, _ := strings.Cut(r, ".")
		tables = append(tables, name)
	}
	for _, cols := range p.BlockedColumns {
		columns = append(columns, cols...)
	}
	if len(tables) == 0 || len(columns) == 0 {
		t.Fatalf("the demo policy should block a table and columns: %s", demodb.PolicyJSON)
	}
	return tables, columns
}

func initialize(t *testing.T, c *client.Client) *mcp.InitializeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ClientInfo = mcp.Implementation{Name: "pgmcp-e2e", Version: "1"}
	res, err := c.Initialize(ctx, req)
	if err != nil {
		t.Fatalf("initialize: %v", err)
	}
	return res
}

// checkTools lists the tools and checks get_schema is there, read-only.
func checkTools(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var found bool
	for _, tool := range res.Tools {
		if tool.Name != "get_schema" {
			continue
		}
		found = true
		a := tool.Annotations
		if a.ReadOnlyHint == nil || !*a.ReadOnlyHint || a.DestructiveHint == nil || *a.DestructiveHint ||
			a.IdempotentHint == nil || !*a.IdempotentHint || a.OpenWorldHint == nil || *a.OpenWorldHint {
			t.Errorf("get_schema annotations = %+v, want read-only, not destructive, idempotent, closed world", a)
		}
		if tool.OutputSchema.Type != "object" && len(tool.RawOutputSchema) == 0 {
			t.Errorf("get_schema has no output schema")
		}
	}
	if !found {
		t.Fatalf("tools/list has no get_schema: %+v", res.Tools)
	}
}

type schemaOut struct {
	Database string `json:"database"`
	Tables   []struct {
		Schema  string `json:"schema"`
		Name    string `json:"name"`
		Kind    string `json:"kind"`
		Comment string `json:"comment"`
		Columns []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"columns"`
	} `json:"tables"`
}

// callGetSchema calls get_schema and checks the demo's tables are there and
// its blocked table and columns are nowhere, in text or structured output.
func callGetSchema(t *testing.T, c *client.Client, wantDB string) schemaOut {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = "get_schema"
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("call get_schema: %v", err)
	}
	if res.IsError {
		t.Fatalf("get_schema failed: %+v", res.Content)
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var out schemaOut
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("structured content: %v: %s", err, raw)
	}
	if out.Database != wantDB {
		t.Errorf("database = %q, want %q", out.Database, wantDB)
	}
	if len(out.Tables) < 8 {
		t.Errorf("get_schema shows %d tables, want the demo's 8 or more", len(out.Tables))
	}
	schemas := map[string]bool{}
	for _, tb := range out.Tables {
		schemas[tb.Schema] = true
		if len(tb.Columns) == 0 {
			t.Errorf("table %s.%s has no columns", tb.Schema, tb.Name)
		}
	}
	if len(schemas) < 2 {
		t.Errorf("get_schema shows schemas %v, want at least 2", schemas)
	}
	var text strings.Builder
	for _, ct := range res.Content {
		if tc, ok := ct.(mcp.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	if !strings.Contains(text.String(), out.Tables[0].Name) {
		t.Errorf("text content does not describe the tables: %q", text.String())
	}
	tables, columns := demoBlocked(t)
	for _, rendered := range []string{strings.ToLower(text.String()), strings.ToLower(string(raw))} {
		for _, name := range append(tables, columns...) {
			if regexp.MustCompile(`\b` + regexp.QuoteMeta(strings.ToLower(name)) + `\b`).MatchString(rendered) {
				t.Errorf("blocked name %q appears in get_schema output", name)
			}
		}
	}
	return out
}

func TestStdioServe(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	policy := demoPolicyFile(t)
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			var stderr nodetest.SyncBuffer
			tr := transport.NewStdioWithOptions(binary, baseEnv(
				"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+policy, "PGMCP_LOG_LEVEL=debug"),
				[]string{"serve"}, transport.WithCommandStderrWriter(&stderr))
			if err := tr.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			c := client.NewClient(tr, era.opts...)
			defer c.Close()
			res := initialize(t, c)
			if res.ServerInfo.Name != "pgmcp" {
				t.Errorf("server name = %q", res.ServerInfo.Name)
			}
			checkTools(t, c)
			callGetSchema(t, c, db.Name)
			if strings.Contains(stderr.String(), pgtest.ReaderPassword) {
				t.Errorf("the database password appears in the logs:\n%s", stderr.String())
			}
		})
	}
}

func TestHTTPServe(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t)))
	resp, err := http.Get(srv.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("/healthz = %d %q", resp.StatusCode, body)
	}
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			c := httpClient(t, srv.base+"/mcp", era.opts...)
			initialize(t, c)
			checkTools(t, c)
			callGetSchema(t, c, db.Name)
		})
	}
	// A request body over the cap is refused without being read whole.
	big := strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"` + strings.Repeat("a", 5<<20) + `"}}`)
	resp, err = http.Post(srv.base+"/mcp", "application/json", big)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("a 5 MiB request was accepted")
		}
	}
	srv.stop(t)
	if strings.Contains(srv.stderr.String(), pgtest.ReaderPassword) {
		t.Errorf("the database password appears in the logs")
	}
}

func TestDemoHTTP(t *testing.T) {
	t.Parallel()
	srv := startHTTP(t, []string{"demo", "--http", "127.0.0.1:0"}, baseEnv())
	m := regexp.MustCompile(`host=(/[^&\s]+)`).FindStringSubmatch(srv.stderr.String())
	if m == nil {
		t.Fatalf("the demo did not log its socket directory:\n%s", srv.stderr.String())
	}
	clusterDir := m[1]
	pidFile, err := os.ReadFile(filepath.Join(clusterDir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatalf("demo cluster: %v", err)
	}
	var pmPID int
	fmt.Sscan(string(pidFile), &pmPID)
	for _, want := range []string{"claude_desktop_config.json", "\"mcpServers\"", "inspector", srv.base + "/mcp"} {
		if !strings.Contains(srv.stderr.String(), want) {
			t.Errorf("the demo's connect help lacks %q", want)
		}
	}
	c := httpClient(t, srv.base+"/mcp")
	initialize(t, c)
	checkTools(t, c)
	callGetSchema(t, c, "demo")
	c.Close()

	srv.stop(t)
	if _, err := os.Stat(clusterDir); !os.IsNotExist(err) {
		t.Errorf("the demo cluster directory %s is still there after SIGTERM", clusterDir)
	}
	if pmPID > 0 && syscall.Kill(pmPID, 0) == nil {
		t.Errorf("the demo postmaster (pid %d) is still running after SIGTERM", pmPID)
	}
}

func TestDemoStdio(t *testing.T) {
	t.Parallel()
	var stderr nodetest.SyncBuffer
	tr := transport.NewStdioWithOptions(binary, baseEnv(), []string{"demo"}, transport.WithCommandStderrWriter(&stderr))
	if err := tr.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	initialize(t, c)
	checkTools(t, c)
	callGetSchema(t, c, "demo")
	m := regexp.MustCompile(`host=(/[^&\s]+)`).FindStringSubmatch(stderr.String())
	// Closing stdin ends the session: the demo stops and deletes its cluster.
	if err := c.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if m == nil {
		t.Fatalf("the demo did not log its socket directory:\n%s", stderr.String())
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(m[1]); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo cluster %s was not deleted after stdin closed:\n%s", m[1], stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpServer is a pgmcp process serving streamable HTTP.
type httpServer struct {
	cmd    *exec.Cmd
	base   string
	stderr fmt.Stringer
	done   <-chan error
}

// startHTTP runs pgmcp with args (which must ask for --http 127.0.0.1:0)
// and waits until it logs its URL.
func startHTTP(t *testing.T, args, env []string) *httpServer {
	t.Helper()
	return startBinary(t, binary, args, env)
}

// startBinary is startHTTP with another pgmcp binary.
func startBinary(t *testing.T, bin string, args, env []string) *httpServer {
	t.Helper()
	h := nodetest.StartHTTPArgs(t, bin, args, env)
	return &httpServer{cmd: h.Cmd(), base: strings.TrimSuffix(h.URL, "/mcp"), stderr: h.Stderr(), done: h.Done()}
}

// stop sends SIGTERM and checks pgmcp exits cleanly.
func (s *httpServer) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("pgmcp exited with %v after SIGTERM:\n%s", err, s.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("pgmcp did not exit after SIGTERM")
	}
}

func httpClient(t *testing.T, url string, opts ...client.ClientOption) *client.Client {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url)
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr, opts...)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// silentListener accepts TCP connections and never answers: a database
// that hangs.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// TestQueryEndToEnd drives the query tool of the built binary over stdio
// and HTTP, in SQL mode and in question mode with the scripted model.
func TestQueryEndToEnd(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	fake := fakellm.New(t, fakellm.Sequence(fakellm.SQL(
		"SELECT status, count(*) AS orders FROM orders GROUP BY status ORDER BY orders DESC")))
	env := baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=fake-model", "PGMCP_MAX_ROWS=50")

	check := func(t *testing.T, c *client.Client) {
		t.Helper()
		out := callQuery(t, c, map[string]any{"sql": "SELECT id, email FROM customers ORDER BY id", "max_rows": 3})
		if out["row_count"] != float64(3) || out["truncated"] != true || out["attempts"] != float64(0) {
			t.Errorf("SQL mode: %v", out)
		}
		before := fake.Count()
		out = callQuery(t, c, map[string]any{"question": "How many orders are in each status?"})
		if out["attempts"] != float64(1) || out["row_count"].(float64) < 3 || fake.Count() != before+1 {
			t.Errorf("question mode: %v", out)
		}
	}
	eachTransport(t, env, check)
}

// eachTransport runs pgmcp serve with env over stdio, then over HTTP, and
// calls fn with an initialized client: once for stdio, once per protocol
// era over HTTP.
func eachTransport(t *testing.T, env []string, fn func(t *testing.T, c *client.Client)) {
	t.Run("stdio", func(t *testing.T) {
		tr := transport.NewStdioWithOptions(binary, env, []string{"serve"}, transport.WithCommandStderrWriter(io.Discard))
		if err := tr.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		c := client.NewClient(tr)
		defer c.Close()
		initialize(t, c)
		fn(t, c)
	})
	t.Run("http", func(t *testing.T) {
		srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, env)
		for _, era := range eras {
			t.Run(era.name, func(t *testing.T) {
				c := httpClient(t, srv.base+"/mcp", era.opts...)
				initialize(t, c)
				fn(t, c)
				c.Close()
			})
		}
		srv.stop(t)
	})
}

// callQuery calls query and returns its structured output; a tool error
// fails the test.
func callQuery(t *testing.T, c *client.Client, args map[string]any) map[string]any {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = "query"
	req.Params.Arguments = args
	res, err := c.CallTool(t.Context(), req)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if res.IsError {
		t.Fatalf("query %v failed: %+v", args, res.Content)
	}
	b, _ := json.Marshal(res.StructuredContent)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCancelStopsQuery checks a client that gives up on a call stops its
// PostgreSQL query: over stdio the client sends notifications/cancelled,
// over HTTP it drops the request. The statement timeout is a minute, so
// only the cancellation can end the query within the check's 10 seconds.
func TestCancelStopsQuery(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	env := baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t), "PGMCP_STATEMENT_TIMEOUT=60s")
	admin := db.Pool(t)
	const slow = "SELECT count(*) FROM order_items a JOIN order_items b ON a.quantity <= b.quantity"
	active := func() int {
		var n int
		if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = $1 AND state = 'active' AND application_name = 'pgmcp'`, db.Name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cancelAndCheck := func(t *testing.T, c *client.Client) {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			req := mcp.CallToolRequest{}
			req.Params.Name = "query"
			req.Params.Arguments = map[string]any{"sql": slow}
			_, _ = c.CallTool(ctx, req)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for active() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the slow query never started")
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		deadline = time.Now().Add(10 * time.Second)
		for active() > 0 {
			if time.Now().After(deadline) {
				t.Fatal("the query still runs after the client gave up")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	eachTransport(t, env, cancelAndCheck)
}

// TestReloadPicksUpNewTables checks a table created after start becomes
// queryable and visible after SIGHUP, and after get_schema refresh.
func TestReloadPicksUpNewTables(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	// A policy by schema: every table of public, resolved from the catalog.
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL,
		"PGMCP_ALLOWED_SCHEMAS=public", "PGMCP_BLOCKED_COLUMNS=public.customers.phone,public.customers.date_of_birth"))
	c := httpClient(t, srv.base+"/mcp")
	initialize(t, c)
	queryCode := func(sql string) string {
		req := mcp.CallToolRequest{}
		req.Params.Name = "query"
		req.Params.Arguments = map[string]any{"sql": sql}
		res, err := c.CallTool(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !res.IsError {
			return ""
		}
		var body struct{ Code string }
		_ = json.Unmarshal([]byte(res.Content[0].(mcp.TextContent).Text), &body)
		return body.Code
	}
	db.Exec(t, `CREATE TABLE public.promotions (id int PRIMARY KEY, name text);
		INSERT INTO public.promotions VALUES (1, 'Black Friday');
		GRANT SELECT ON public.promotions TO `+pgtest.Reader)
	// The relation list was read at start: a new table is not allowed until
	// the policy is resolved again.
	if code := queryCode("SELECT name FROM promotions"); code != "relation_not_allowed" {
		t.Fatalf("before reload: %q, want relation_not_allowed", code)
	}
	db.Exec(t, `CREATE TABLE public.campaigns (id int PRIMARY KEY); GRANT SELECT ON public.campaigns TO `+pgtest.Reader)
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for queryCode("SELECT name FROM promotions") != "" {
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP the new table is still refused:\n%s", srv.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := callGetSchemaArgs(t, c, map[string]any{"tables": []any{"campaigns", "promotions"}})
	if len(out.Tables) != 2 {
		t.Errorf("get_schema after SIGHUP shows %d of the 2 new tables", len(out.Tables))
	}
	// get_schema refresh does the same without a signal.
	db.Exec(t, `CREATE TABLE public.coupons (code text PRIMARY KEY); GRANT SELECT ON public.coupons TO `+pgtest.Reader)
	if code := queryCode("SELECT code FROM coupons"); code != "relation_not_allowed" {
		t.Fatalf("coupons before refresh: %q", code)
	}
	if out := callGetSchemaArgs(t, c, map[string]any{"tables": []any{"coupons"}, "refresh": true}); len(out.Tables) != 1 {
		t.Errorf("get_schema refresh does not show the new table")
	}
	if code := queryCode("SELECT code FROM coupons"); code != "" {
		t.Errorf("coupons after refresh: %q", code)
	}
	srv.stop(t)
}

func callGetSchemaArgs(t *testing.T, c *client.Client, args map[string]any) schemaOut {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = "get_schema"
	req.Params.Arguments = args
	res, err := c.CallTool(t.Context(), req)
	if err != nil || res.IsError {
		t.Fatalf("get_schema %v: %v %+v", args, err, res)
	}
	b, _ := json.Marshal(res.StructuredContent)
	var out schemaOut
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// readyz returns /readyz's status and body.
func readyz(t *testing.T, srv *httpServer) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
