package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// legacyVersion is the protocol version of the initialize handshake: the
// only era with sessions (2026-07-28 has none).
const legacyVersion = "2025-11-25"

// mcpPost posts one JSON-RPC message to url, with the session ID (none
// when empty) and extra headers, and returns the response and its body.
func mcpPost(t *testing.T, url, sessionID, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	return mcpRequest(t, http.MethodPost, url, sessionID, body, header)
}

func mcpRequest(t *testing.T, method, url, sessionID, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	// Bounded, so that a stream the server opens by mistake ends the read.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sessionID != "" {
		req.Header.Set("Mcp-Session-Id", sessionID)
		req.Header.Set("Mcp-Protocol-Version", legacyVersion)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// initBody is an initialize request with this client name and version.
func initBody(name, version string) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": legacyVersion, "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": name, "version": version}}})
	return string(b)
}

// initSession initializes a session (2025-11-25 handshake) and returns its
// ID.
func initSession(t *testing.T, url, name string) string {
	t.Helper()
	resp, body := mcpPost(t, url, "", initBody(name, "1"), nil)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: status %d, session %q: %.300s", resp.StatusCode, sid, body)
	}
	if resp, body := mcpPost(t, url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("notifications/initialized: status %d: %.300s", resp.StatusCode, body)
	}
	return sid
}

// listTools calls tools/list in a session and returns the HTTP status.
func listTools(t *testing.T, url, sid string) (int, string) {
	t.Helper()
	resp, body := mcpPost(t, url, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, nil)
	return resp.StatusCode, body
}

// rpcErrorCode reads error.data.code of a JSON-RPC error body.
func rpcErrorCode(body string) string {
	var m struct {
		Error struct {
			Code int `json:"code"`
			Data struct {
				Code string `json:"code"`
			} `json:"data"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(body), &m) != nil {
		return ""
	}
	return m.Error.Data.Code
}

// metric reads one sample of /metrics (name with its labels exactly as
// exposed, e.g. `pgmcp_http_sessions_closed_total{reason="expired"}`);
// -1 when it is not exposed.
func metric(t *testing.T, base, sample string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return v
		}
	}
	return -1
}

// waitMetric waits until a metric has the wanted value.
func waitMetric(t *testing.T, base, sample string, want float64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := metric(t, base, sample)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after %s, want %v", sample, got, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// madeUpSession is a session ID of the right shape that pgmcp never gave.
const madeUpSession = "mcp-session-6f1c2a9e-3b7d-4c8e-9a0b-1d2e3f405162"

// TestHTTPSessionLifecycle: a session works while used; a made-up, a
// deleted or an expired session ID gets 404 (for POST and GET), and the
// sessions gauge goes back to 0 once the idle ones have expired.
func TestHTTPSessionLifecycle(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_HTTP_SESSION_IDLE_TIMEOUT=2s"))
	url := srv.base + "/mcp"

	a := initSession(t, url, "client-a")
	if st, body := listTools(t, url, a); st != 200 || !strings.Contains(body, "get_schema") {
		t.Fatalf("tools/list in a live session: %d %.300s", st, body)
	}
	if got := metric(t, srv.base, "pgmcp_http_sessions"); got != 1 {
		t.Errorf("pgmcp_http_sessions = %v with one session, want 1", got)
	}

	// A session ID pgmcp never gave: 404, for POST, GET and DELETE.
	if st, body := listTools(t, url, madeUpSession); st != http.StatusNotFound || rpcErrorCode(body) != "session_not_found" {
		t.Errorf("POST with a made-up session: %d %.300s, want 404 session_not_found", st, body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", madeUpSession)
	req.Header.Set("Mcp-Protocol-Version", legacyVersion)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("GET with a made-up session: %v", err)
	} else {
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET with a made-up session: status %d, want 404", resp.StatusCode)
		}
		resp.Body.Close()
	}
	cancel()
	if resp, _ := mcpRequest(t, http.MethodDelete, url, madeUpSession, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE of a made-up session: %d, want 404", resp.StatusCode)
	}
	// A request without a session ID, other than initialize: 400.
	if resp, body := mcpPost(t, url, "", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, map[string]string{"Mcp-Protocol-Version": legacyVersion}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("tools/list without a session: %d %.300s, want 400", resp.StatusCode, body)
	}

	// A deleted session: 404 afterwards.
	if resp, body := mcpRequest(t, http.MethodDelete, url, a, "", nil); resp.StatusCode != 200 {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	if st, body := listTools(t, url, a); st != http.StatusNotFound {
		t.Errorf("tools/list in a deleted session: %d %.300s, want 404", st, body)
	}

	// An idle session expires; one in use does not.
	b := initSession(t, url, "client-b")
	c := initSession(t, url, "client-c")
	for range 6 { // 3 s of use, beyond the 2 s idle timeout
		if st, body := listTools(t, url, c); st != 200 {
			t.Fatalf("tools/list in a session in use: %d %.300s", st, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if st, _ := listTools(t, url, b); st != http.StatusNotFound {
		t.Errorf("tools/list in a session idle for 3s (timeout 2s): %d, want 404", st)
	}
	waitMetric(t, srv.base, "pgmcp_http_sessions", 0, 10*time.Second)
	if st, _ := listTools(t, url, c); st != http.StatusNotFound {
		t.Errorf("session c after it went idle: %d, want 404", st)
	}
	if got := metric(t, srv.base, `pgmcp_http_sessions_closed_total{reason="expired"}`); got != 2 {
		t.Errorf(`closed_total{reason="expired"} = %v, want 2`, got)
	}
	if got := metric(t, srv.base, `pgmcp_http_sessions_closed_total{reason="deleted"}`); got != 1 {
		t.Errorf(`closed_total{reason="deleted"} = %v, want 1`, got)
	}
	srv.stop(t)
}

// TestHTTPSessionCap: with PGMCP_HTTP_MAX_SESSIONS=2, a third session
// evicts the one idle the longest; when every session has a request in
// flight, a new initialize gets 503 with a JSON-RPC error.
func TestHTTPSessionCap(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_HTTP_MAX_SESSIONS=2"))
	url := srv.base + "/mcp"

	a := initSession(t, url, "a")
	b := initSession(t, url, "b")
	if st, _ := listTools(t, url, a); st != 200 { // b is now the longest idle
		t.Fatalf("tools/list in a: %d", st)
	}
	c := initSession(t, url, "c")
	if st, _ := listTools(t, url, b); st != http.StatusNotFound {
		t.Errorf("the evicted session b: %d, want 404", st)
	}
	for name, sid := range map[string]string{"a": a, "c": c} {
		if st, _ := listTools(t, url, sid); st != 200 {
			t.Errorf("session %s after the eviction: %d, want 200", name, st)
		}
	}
	if got := metric(t, srv.base, "pgmcp_http_sessions"); got != 2 {
		t.Errorf("pgmcp_http_sessions = %v, want 2 (the cap)", got)
	}
	if got := metric(t, srv.base, `pgmcp_http_sessions_closed_total{reason="evicted"}`); got != 1 {
		t.Errorf(`closed_total{reason="evicted"} = %v, want 1`, got)
	}

	// Both sessions busy (a GET stream open on each): no session may be
	// evicted, so a new initialize is refused.
	ctx, cancel := context.WithCancel(t.Context())
	var streams sync.WaitGroup
	for _, sid := range []string{a, c} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", legacyVersion)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET stream: %v %v", resp, err)
		}
		streams.Add(1)
		go func() { defer streams.Done(); _, _ = io.Copy(io.Discard, resp.Body); resp.Body.Close() }()
	}
	resp, body := mcpPost(t, url, "", initBody("d", "1"), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || rpcErrorCode(body) != "too_many_sessions" ||
		!strings.Contains(body, `"jsonrpc":"2.0"`) || resp.Header.Get("Retry-After") == "" {
		t.Errorf("initialize with every session busy: %d %s (Retry-After %q), want 503 too_many_sessions",
			resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	cancel()
	streams.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := mcpPost(t, url, "", initBody("d", "1"), nil)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("initialize after the streams closed: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv.stop(t)
}

// TestHTTPClientInfoLimited: the client name pgmcp keeps for a session
// (and writes in the audit log) is cut to 256 bytes, however long the
// initialize sent.
func TestHTTPClientInfoLimited(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t), "PGMCP_AUDIT_LOG="+audit))
	url := srv.base + "/mcp"
	long := "é" + strings.Repeat("n", 300<<10) // 300 kB, starting with a 2-byte rune
	resp, body := mcpPost(t, url, "", initBody(long, long), nil)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d %.300s", resp.StatusCode, body)
	}
	call := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"query","arguments":{"sql":"SELECT 1 AS one"}}}`
	if resp, body := mcpPost(t, url, sid, call, nil); resp.StatusCode != 200 || !strings.Contains(body, "row_count") {
		t.Fatalf("tools/call: %d %.300s", resp.StatusCode, body)
	}
	srv.stop(t)
	raw, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Client string }
	if err := json.Unmarshal(bytes.TrimSpace(raw), &rec); err != nil {
		t.Fatalf("audit log %.300s: %v", raw, err)
	}
	if len(rec.Client) > 256 || !strings.HasPrefix(rec.Client, "énnn") {
		t.Errorf("the audit log's client is %d bytes (%.20q…), want the name cut to at most 256", len(rec.Client), rec.Client)
	}
}

// TestHTTPStateless: with PGMCP_HTTP_STATELESS=true no session is kept:
// initialize returns no session ID, every request is served on its own,
// tools work, and GET (a stream of a session) gets 405.
func TestHTTPStateless(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t), "PGMCP_HTTP_STATELESS=true"))
	url := srv.base + "/mcp"
	resp, body := mcpPost(t, url, "", initBody("lb-client", "1"), nil)
	if resp.StatusCode != 200 || resp.Header.Get("Mcp-Session-Id") != "" {
		t.Errorf("stateless initialize: %d, session %q: %.300s", resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), body)
	}
	// Any request stands on its own, session header or not.
	call := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"query","arguments":{"sql":"SELECT count(*) AS n FROM orders"}}}`
	for _, sid := range []string{"", madeUpSession} {
		resp, body := mcpPost(t, url, sid, call, map[string]string{"Mcp-Protocol-Version": legacyVersion})
		if resp.StatusCode != 200 || !strings.Contains(body, `"row_count":1`) {
			t.Errorf("stateless tools/call (session %q): %d %.300s", sid, resp.StatusCode, body)
		}
	}
	if resp, _ := mcpRequest(t, http.MethodGet, url, "", "", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("stateless GET: %d, want 405", resp.StatusCode)
	}
	// Real clients of both eras.
	for _, era := range eras {
		t.Run(era.name, func(t *testing.T) {
			tr, err := transport.NewStreamableHTTP(url)
			if err != nil {
				t.Fatal(err)
			}
			c := client.NewClient(tr, era.opts...)
			if err := c.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			initialize(t, c)
			if tr.GetSessionId() != "" {
				t.Errorf("the client got session %q", tr.GetSessionId())
			}
			checkTools(t, c)
			callGetSchema(t, c, db.Name)
			if out := callQuery(t, c, map[string]any{"sql": "SELECT count(*) AS n FROM customers"}); out["row_count"] != float64(1) {
				t.Errorf("query: %v", out)
			}
		})
	}
	if got := metric(t, srv.base, "pgmcp_http_sessions"); got > 0 {
		t.Errorf("pgmcp_http_sessions = %v in stateless mode", got)
	}
	srv.stop(t)
}

// TestHTTPOrigin: a request whose Origin is neither the server's own nor
// listed in PGMCP_HTTP_ALLOWED_ORIGINS gets 403; no Origin (non-browser
// clients) works; a listed origin gets CORS headers and its preflight
// answered.
func TestHTTPOrigin(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	env := baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t))
	const app = "https://app.example.test"
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, append(env, "PGMCP_HTTP_ALLOWED_ORIGINS="+app+", http://localhost:3000"))
	url := srv.base + "/mcp"
	own := srv.base // http://127.0.0.1:PORT, as the request's Host
	cases := []struct {
		origin string
		want   int
	}{
		{"", 200},
		{own, 200},
		{strings.ToUpper(own[:4]) + own[4:], 200}, // scheme case does not matter
		{app, 200},
		{"http://localhost:3000", 200},
		{"http://evil.example", 403},
		{"null", 403},
		{"https://app.example.test.evil.example", 403},
		{"http://app.example.test", 403}, // the scheme is part of the origin
		{strings.Replace(own, "127.0.0.1", "localhost", 1), 403},
		{"https://" + strings.TrimPrefix(own, "http://"), 403}, // pgmcp serves http here
	}
	for _, tc := range cases {
		h := map[string]string{}
		if tc.origin != "" {
			h["Origin"] = tc.origin
		}
		resp, body := mcpPost(t, url, "", initBody("origin-test", "1"), h)
		if resp.StatusCode != tc.want {
			t.Errorf("Origin %q: status %d, want %d: %.300s", tc.origin, resp.StatusCode, tc.want, body)
			continue
		}
		if tc.want == 403 && rpcErrorCode(body) != "origin_not_allowed" {
			t.Errorf("Origin %q: body %.300s, want a JSON-RPC error origin_not_allowed", tc.origin, body)
		}
		if tc.origin == app && resp.Header.Get("Access-Control-Allow-Origin") != app {
			t.Errorf("listed Origin: Access-Control-Allow-Origin %q", resp.Header.Get("Access-Control-Allow-Origin"))
		}
		if tc.want == 403 && resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("refused Origin %q got Access-Control-Allow-Origin", tc.origin)
		}
	}
	// Any method, with a session too: the Origin is checked first.
	sid := initSession(t, url, "origin-test")
	if resp, _ := mcpPost(t, url, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, map[string]string{"Origin": "http://evil.example"}); resp.StatusCode != 403 {
		t.Errorf("tools/list from another origin: %d, want 403", resp.StatusCode)
	}
	// Preflight of a listed origin: answered; of another: refused.
	for _, tc := range []struct {
		origin string
		want   int
	}{{app, http.StatusNoContent}, {"http://evil.example", 403}} {
		resp, _ := mcpRequest(t, http.MethodOptions, url, "", "", map[string]string{
			"Origin": tc.origin, "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "content-type, mcp-session-id"})
		if resp.StatusCode != tc.want {
			t.Errorf("preflight from %s: %d, want %d", tc.origin, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusNoContent && (resp.Header.Get("Access-Control-Allow-Origin") != app ||
			!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "mcp-session-id")) {
			t.Errorf("preflight headers %v", resp.Header)
		}
	}
	srv.stop(t)

	// A malformed list is refused at start, naming the variable.
	for _, bad := range []string{"https://app.example.test/path", "*", "app.example.test", "ftp://x.test"} {
		code, _, stderr, _ := runPgmcp(t, 30*time.Second, append(env, "PGMCP_HTTP_ALLOWED_ORIGINS="+bad), "serve", "--http", "127.0.0.1:0")
		if code != 2 || !strings.Contains(stderr, "PGMCP_HTTP_ALLOWED_ORIGINS") {
			t.Errorf("PGMCP_HTTP_ALLOWED_ORIGINS=%s: exit %d\n%s", bad, code, stderr)
		}
	}
}

// TestHTTPSessionsMemory is the memory measurement of issue 14, finding 4:
// the high-water RSS (VmHWM) of a `pgmcp serve --http` process (built
// without the race detector) before and after 300 initialize requests
// each sending a 1 MB clientInfo.name. pgmcp keeps at most 256 bytes of
// each, so the growth is bounded (asserted under 150 MB); after the idle
// timeout every session is gone (the gauge is back to 0).
//
//	go test -count=1 -run TestHTTPSessionsMemory -v ./tests/
func TestHTTPSessionsMemory(t *testing.T) {
	bin, err := plainBinary()
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDB(t, pgtest.Demo)
	srv := startBinary(t, bin, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_HTTP_SESSION_IDLE_TIMEOUT=20s"))
	url := srv.base + "/mcp"
	pid := srv.cmd.Process.Pid
	// Warm up: one ordinary session and call, so the figure before
	// includes what any serving process holds.
	sid := initSession(t, url, "warm-up")
	if st, _ := listTools(t, url, sid); st != 200 {
		t.Fatalf("warm-up: %d", st)
	}
	before := vmHWM(t, pid)

	const sessions, workers = 300, 4
	name := strings.Repeat("x", 1<<20)
	body := initBody(name, "1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 60 * time.Second}
			for range next {
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := hc.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || resp.Header.Get("Mcp-Session-Id") == "" {
						err = fmt.Errorf("status %d, session %q", resp.StatusCode, resp.Header.Get("Mcp-Session-Id"))
					}
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	start := time.Now()
	for i := range sessions {
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(start)
	if len(failures) > 0 {
		t.Fatalf("%d initializations failed, e.g. %s", len(failures), failures[0])
	}
	after := vmHWM(t, pid)
	live := metric(t, srv.base, "pgmcp_http_sessions")
	extra := after - before
	t.Logf("VmHWM before %d MB, after %d initializations of 1 MB names (%d at a time, %s): %d MB: +%d MB; live sessions %v",
		before>>10, sessions, workers, took.Round(time.Millisecond), after>>10, extra>>10, live)
	if extra > 150<<10 {
		t.Errorf("VmHWM grew by %d MB, over the 150 MB bound", extra>>10)
	}
	if live != sessions+1 {
		t.Errorf("pgmcp_http_sessions = %v, want %d", live, sessions+1)
	}
	waitMetric(t, srv.base, "pgmcp_http_sessions", 0, 60*time.Second)
	t.Logf("all sessions expired; VmRSS now %d MB, closed_total{expired} %v", vmRSS(t, pid)>>10,
		metric(t, srv.base, `pgmcp_http_sessions_closed_total{reason="expired"}`))
	srv.stop(t)
}

var procKBRE = regexp.MustCompile(`(?m)^(\w+):\s+(\d+) kB`)

func procKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, m := range procKBRE.FindAllStringSubmatch(string(b), -1) {
		if m[1] == field {
			v, _ := strconv.ParseInt(m[2], 10, 64)
			return v
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// vmHWM is the process's high-water RSS, in kB.
func vmHWM(t *testing.T, pid int) int64 { return procKB(t, pid, "VmHWM") }

// vmRSS is the process's RSS, in kB.
func vmRSS(t *testing.T, pid int) int64 { return procKB(t, pid, "VmRSS") }
