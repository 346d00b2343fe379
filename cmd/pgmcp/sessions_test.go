package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgmcp/pgmcp/tools/engine"
)

// sessionServer is an in-process MCP server with one tool, whoami, that
// answers the length of the client name stored with its session, behind
// the session layer. A request's X-Test-Who header becomes its identity.
// The expiry sweeper does not run: tests call sweep.
func sessionServer(t *testing.T, cfg sessionConfig) (*httptest.Server, *mcpHTTP, *server.MCPServer) {
	t.Helper()
	s := server.NewMCPServer("t", "1", server.WithHooks(&server.Hooks{}), server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("whoami"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		n := -1
		if sess, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
			n = len(sess.GetClientInfo().Name)
		}
		return mcp.NewToolResultText(strconv.Itoa(n)), nil
	})
	h, err := newMCPHTTP(s, cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	withWho := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if who := r.Header.Get("X-Test-Who"); who != "" {
			r = r.WithContext(engine.WithIdentity(r.Context(), engine.Identity{Name: who, Method: "token"}))
		}
		h.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(http.MaxBytesHandler(withWho, maxRequestBytes))
	t.Cleanup(srv.Close)
	return srv, h, s
}

// post sends one JSON-RPC message; it returns the status, the session ID
// header and the body.
func post(t *testing.T, url, sid, who, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set(sessionIDHeader, sid)
		req.Header.Set(protocolHeader, "2025-11-25")
	}
	if who != "" {
		req.Header.Set("X-Test-Who", who)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(sessionIDHeader), string(b)
}

func initJSON(name string) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-11-25", "clientInfo": map[string]any{"name": name, "version": "1"},
		"capabilities": map[string]any{"experimental": map[string]any{"blob": strings.Repeat("e", 64<<10)}}}})
	return string(b)
}

func openSession(t *testing.T, url, who, name string) string {
	t.Helper()
	st, sid, body := post(t, url, "", who, initJSON(name))
	if st != 200 || sid == "" {
		t.Fatalf("initialize: %d %q %.200s", st, sid, body)
	}
	return sid
}

// heapAfterGC is the live heap, in bytes, after collecting garbage.
func heapAfterGC() uint64 {
	var m runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestSessionExpiryFreesMCPGoState keeps the client names whole (no cut)
// so that each session holds 1 MB in mcp-go: expiry must give it all back,
// and mcp-go must no longer know the sessions.
func TestSessionExpiryFreesMCPGoState(t *testing.T) {
	srv, h, s := sessionServer(t, sessionConfig{IdleTimeout: time.Minute, MaxSessions: 100, keepClientStrings: true})
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	h.table.now = func() time.Time { return time.Unix(0, clock.Load()) }
	const n = 20
	base := heapAfterGC()
	var ids []string
	for range n {
		ids = append(ids, openSession(t, srv.URL, "", strings.Repeat("x", 1<<20)))
	}
	held := heapAfterGC()
	if held < base+n<<20*9/10 {
		t.Fatalf("heap %d MB → %d MB: the sessions should hold their 1 MB names", base>>20, held>>20)
	}
	if err := s.SendNotificationToSpecificClient(ids[0], "notifications/message", nil); errors.Is(err, server.ErrSessionNotFound) {
		t.Fatalf("mcp-go does not know a live session: %v", err)
	}
	clock.Add(int64(30 * time.Second))
	h.table.sweep()
	if h.table.count() != n {
		t.Fatalf("%d sessions left after half the idle timeout, want %d", h.table.count(), n)
	}
	clock.Add(int64(31 * time.Second))
	h.table.sweep()
	if h.table.count() != 0 {
		t.Fatalf("%d sessions left after the idle timeout", h.table.count())
	}
	freed := heapAfterGC()
	t.Logf("heap: %d MB before, %d MB with %d sessions of 1 MB names, %d MB after they expired", base>>20, held>>20, n, freed>>20)
	if freed > base+8<<20 {
		t.Errorf("heap %d MB after expiry, %d MB before the sessions: mcp-go kept them", freed>>20, base>>20)
	}
	for _, id := range ids {
		if err := s.SendNotificationToSpecificClient(id, "notifications/message", nil); !errors.Is(err, server.ErrSessionNotFound) {
			t.Fatalf("mcp-go still knows expired session: %v", err)
		}
	}
	if st, _, _ := post(t, srv.URL, ids[0], "", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); st != http.StatusNotFound {
		t.Errorf("an expired session: %d, want 404", st)
	}
}

// TestInitializeStoresCutCopy: with the hook, a session keeps 256 bytes of
// a 1 MB name (the tool sees the cut name), and the heap does not keep the
// long originals.
func TestInitializeStoresCutCopy(t *testing.T) {
	srv, _, _ := sessionServer(t, sessionConfig{IdleTimeout: time.Minute, MaxSessions: 100})
	const n = 20
	base := heapAfterGC()
	var sid string
	for range n {
		sid = openSession(t, srv.URL, "", "é"+strings.Repeat("x", 1<<20))
	}
	held := heapAfterGC()
	t.Logf("heap: %d MB before, %d MB with %d sessions sent 1 MB names", base>>20, held>>20, n)
	if held > base+8<<20 {
		t.Errorf("heap grew by %d MB for %d sessions: the long names are kept", (held-base)>>20, n)
	}
	st, _, body := post(t, srv.URL, sid, "", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}`)
	if st != 200 || !strings.Contains(body, `"text":"256"`) {
		t.Errorf("the stored client name: %d %s, want 256 bytes", st, body)
	}
}

func TestCutString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"}, {"abcdef", 3, "abc"}, {"aé", 2, "a"}, {"aé", 3, "aé"}, {"ééé", 5, "éé"}, {"", 3, ""},
	} {
		if got := cutString(tc.in, tc.n); got != tc.want {
			t.Errorf("cutString(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	req := &mcp.InitializeRequest{}
	req.Params.ClientInfo = mcp.Implementation{Name: strings.Repeat("n", 300), Version: strings.Repeat("v", 300),
		Title: strings.Repeat("t", 300), Description: strings.Repeat("d", 300), WebsiteURL: strings.Repeat("w", 300),
		Icons: []mcp.Icon{{Src: "data:" + strings.Repeat("i", 300)}}}
	req.Params.Capabilities.Experimental = map[string]any{"big": strings.Repeat("e", 2000)}
	req.Params.Capabilities.Extensions = map[string]any{"small": true}
	limitInitialize(context.Background(), 1, req)
	ci := req.Params.ClientInfo
	for _, f := range []string{ci.Name, ci.Version, ci.Title, ci.Description, ci.WebsiteURL} {
		if len(f) != maxClientStringBytes {
			t.Errorf("a client info field of %d bytes after the cut", len(f))
		}
	}
	if ci.Icons != nil || req.Params.Capabilities.Experimental != nil || req.Params.Capabilities.Extensions == nil {
		t.Errorf("icons %v, experimental %v, extensions %v: want no icons, no large map, the small one kept",
			ci.Icons, req.Params.Capabilities.Experimental, req.Params.Capabilities.Extensions)
	}
}

// TestSessionCapEvictsLongestIdle drives the table with a fake clock.
func TestSessionCapEvictsLongestIdle(t *testing.T) {
	tbl := newSessionTable(time.Minute, 2, slog.New(slog.DiscardHandler))
	now := time.Unix(1000, 0)
	tbl.now = func() time.Time { return now }
	var closed []string
	tbl.closer = func(id string) { closed = append(closed, id) }
	open := func() string {
		tk, err := tbl.admit("")
		if err != nil {
			t.Fatalf("admit: %v", err)
		}
		id := ticketedManager{t: tbl, tk: tk}.Generate()
		tbl.finish(tk)
		now = now.Add(time.Second)
		return id
	}
	a, b := open(), open()
	if !tbl.acquire(a, "") { // a used after b: b is the longest idle
		t.Fatal("acquire a")
	}
	tbl.release(a)
	c := open()
	if len(closed) != 1 || closed[0] != b || tbl.count() != 2 {
		t.Fatalf("closed %v, %d live: want b evicted", closed, tbl.count())
	}
	if tbl.acquire(b, "") {
		t.Error("the evicted session is still accepted")
	}
	// Both busy: refused, nothing closed.
	tbl.acquire(a, "")
	tbl.acquire(c, "")
	if _, err := tbl.admit(""); !errors.Is(err, errTooManySessions) {
		t.Errorf("admit with every session busy: %v", err)
	}
	if len(closed) != 1 {
		t.Errorf("a busy session was closed: %v", closed)
	}
	// A session being initialized counts and is never evicted.
	tbl.release(a)
	tbl.release(c)
	tk, err := tbl.admit("")
	if err != nil {
		t.Fatal(err)
	}
	d := ticketedManager{t: tbl, tk: tk}.Generate()
	if _, err := tbl.admit(""); err != nil { // evicts a or c, never d
		t.Fatal(err)
	}
	if tbl.count() > 2 || !tbl.acquire(d, "") {
		t.Errorf("%d live, d accepted: %v", tbl.count(), tbl.acquire(d, ""))
	}
	// Expiry: idle past the timeout, unless a request is in flight.
	tbl.finish(tk)
	tbl.release(d)
	now = now.Add(2 * time.Minute)
	tbl.acquire(d, "")
	tbl.sweep()
	if tbl.count() != 1 || !tbl.acquire(d, "") {
		t.Errorf("after the sweep %d live; want only d, which has a request in flight", tbl.count())
	}
}

// TestSessionBoundToIdentity: a session opened by one identity is unknown
// to another.
func TestSessionBoundToIdentity(t *testing.T) {
	srv, _, _ := sessionServer(t, sessionConfig{IdleTimeout: time.Minute, MaxSessions: 10})
	sid := openSession(t, srv.URL, "alice", "c")
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	if st, _, body := post(t, srv.URL, sid, "alice", list); st != 200 {
		t.Errorf("alice in her session: %d %s", st, body)
	}
	for _, who := range []string{"bob", ""} {
		if st, _, _ := post(t, srv.URL, sid, who, list); st != http.StatusNotFound {
			t.Errorf("%q in alice's session: %d, want 404", who, st)
		}
	}
}

func TestSessionLayerErrors(t *testing.T) {
	srv, _, _ := sessionServer(t, sessionConfig{IdleTimeout: time.Minute, MaxSessions: 10})
	st, _, body := post(t, srv.URL, "", "", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`)
	if st != http.StatusBadRequest || !strings.Contains(body, codeSessionRequired) {
		t.Errorf("no session: %d %s", st, body)
	}
	st, _, body = post(t, srv.URL, "pgmcp-0123", "", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`)
	var e struct {
		JSONRPC string `json:"jsonrpc"`
		Error   struct {
			Code int
			Data struct{ Code string }
		}
	}
	if st != http.StatusNotFound || json.Unmarshal([]byte(body), &e) != nil || e.JSONRPC != "2.0" ||
		e.Error.Code != rpcSessionNotFound || e.Error.Data.Code != codeSessionNotFound {
		t.Errorf("unknown session: %d %s", st, body)
	}
	// The 2026-07-28 protocol has no sessions: it passes through.
	req, _ := http.NewRequest(http.MethodDelete, srv.URL, nil)
	req.Header.Set(protocolHeader, mcp.ProtocolVersion20260728)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), codeSessionRequired) || strings.Contains(string(b), codeSessionNotFound) {
		t.Errorf("a 2026-07-28 DELETE got the session layer's answer: %d %s", resp.StatusCode, b)
	}
}

func TestStatelessSessionLayer(t *testing.T) {
	srv, h, _ := sessionServer(t, sessionConfig{Stateless: true})
	st, sid, body := post(t, srv.URL, "", "", initJSON("lb"))
	if st != 200 || sid != "" {
		t.Errorf("stateless initialize: %d, session %q: %.200s", st, sid, body)
	}
	st, _, body = post(t, srv.URL, "", "", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}`)
	if st != 200 || !strings.Contains(body, `"text":`) {
		t.Errorf("stateless tools/call: %d %s", st, body)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("stateless GET: %d", resp.StatusCode)
	}
	if h.table != nil {
		t.Error("a session table in stateless mode")
	}
}

// TestSessionInitializingCountedOnce: an admitted initialization counts
// once against the cap, in pending until Generate makes its session and
// then as that session. With a cap of 2, a second initialize is admitted
// while the first is still in progress (it was refused when the first
// counted twice), and once both are done a third closes exactly one
// session, the idle one.
func TestSessionInitializingCountedOnce(t *testing.T) {
	tbl := newSessionTable(time.Minute, 2, slog.New(slog.DiscardHandler))
	now := time.Unix(1000, 0)
	tbl.now = func() time.Time { return now }
	var closed []string
	tbl.closer = func(id string) { closed = append(closed, id) }
	admit := func(what string) *initTicket {
		t.Helper()
		tk, err := tbl.admit("")
		if err != nil {
			t.Fatalf("%s: %v (%d live, %d pending)", what, err, tbl.count(), tbl.pending)
		}
		return tk
	}
	generate := func(tk *initTicket) string { return ticketedManager{t: tbl, tk: tk}.Generate() }

	tkA := admit("first initialize")
	a := generate(tkA)
	tkB := admit("second initialize while the first is in progress")
	b := generate(tkB)
	if tbl.count() != 2 || tbl.pending != 0 || len(closed) != 0 {
		t.Fatalf("two sessions being initialized: %d live, %d pending, closed %v; want 2, 0, none", tbl.count(), tbl.pending, closed)
	}
	// Both still initializing: a third is refused and neither is closed.
	if _, err := tbl.admit(""); !errors.Is(err, errTooManySessions) {
		t.Fatalf("a third initialize while two are in progress: %v, want %v", err, errTooManySessions)
	}
	now = now.Add(time.Second)
	tbl.finish(tkA)
	now = now.Add(time.Second)
	tbl.finish(tkB)
	if tbl.count() != 2 || tbl.pending != 0 {
		t.Fatalf("after both initializations: %d live, %d pending; want 2, 0", tbl.count(), tbl.pending)
	}

	// a has been idle the longest: a third initialize closes it, and only it.
	now = now.Add(time.Second)
	tkC := admit("third initialize, with both sessions idle")
	if len(closed) != 1 || closed[0] != a {
		t.Fatalf("closed %v, want only a (%s)", closed, a)
	}
	c := generate(tkC)
	tbl.finish(tkC)
	if tbl.count() != 2 || tbl.pending != 0 || tbl.acquire(a, "") || !tbl.acquire(b, "") || !tbl.acquire(c, "") {
		t.Fatalf("after the eviction: %d live, %d pending; want b and c live, a closed", tbl.count(), tbl.pending)
	}
	tbl.release(b)
	tbl.release(c)

	// An initialization that makes no session gives back its place.
	now = now.Add(time.Second)
	tkD := admit("initialize that makes no session")
	tbl.finish(tkD)
	if tbl.count() != 1 || tbl.pending != 0 {
		t.Fatalf("after an initialize without a session: %d live, %d pending; want 1 (its eviction), 0", tbl.count(), tbl.pending)
	}
	tkE := admit("initialize with room for one")
	generate(tkE)
	tbl.finish(tkE)
	if len(closed) != 2 || tbl.count() != 2 || tbl.pending != 0 {
		t.Errorf("closed %v, %d live, %d pending; want 2 closed, 2 live, 0 pending", closed, tbl.count(), tbl.pending)
	}
}

// TestSessionConcurrentInitializes: over HTTP with PGMCP_HTTP_MAX_SESSIONS
// 2, an initialize gets its session (200, not 503) while another one,
// whose session mcp-go has already generated, is still being served.
func TestSessionConcurrentInitializes(t *testing.T) {
	srv, h, s := sessionServer(t, sessionConfig{IdleTimeout: time.Minute, MaxSessions: 2})
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	h.table.now = func() time.Time { return time.Unix(0, clock.Load()) }
	entered, unblock := make(chan struct{}), make(chan struct{})
	var unblockOnce sync.Once
	release := func() { unblockOnce.Do(func() { close(unblock) }) }
	t.Cleanup(release) // before srv.Close, which waits for the slow request
	s.GetHooks().AddBeforeInitialize(func(_ context.Context, _ any, req *mcp.InitializeRequest) {
		if req.Params.ClientInfo.Name == "slow" {
			close(entered)
			<-unblock
		}
	})
	type result struct {
		status int
		sid    string
		err    error
	}
	slow := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(initJSON("slow")))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			slow <- result{err: err}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		slow <- result{status: resp.StatusCode, sid: resp.Header.Get(sessionIDHeader)}
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow initialize never reached mcp-go's initialize hook")
	}
	// The slow initialize holds its generated session: one place is left.
	st, fast, body := post(t, srv.URL, "", "", initJSON("fast"))
	if st != http.StatusOK || fast == "" {
		t.Fatalf("an initialize while another is in progress, with room for 2: %d, session %q: %.300s", st, fast, body)
	}
	waitInitialized(t, h.table, fast)
	clock.Add(int64(time.Second))
	release()
	r := <-slow
	if r.err != nil || r.status != http.StatusOK || r.sid == "" || r.sid == fast {
		t.Fatalf("the slow initialize: %d, session %q, %v", r.status, r.sid, r.err)
	}
	waitInitialized(t, h.table, r.sid)
	if n := h.table.count(); n != 2 {
		t.Fatalf("%d sessions, want 2", n)
	}
	// fast has been idle the longest: a third initialize closes it only.
	clock.Add(int64(time.Second))
	third := openSession(t, srv.URL, "", "third")
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	for sid, want := range map[string]int{fast: http.StatusNotFound, r.sid: http.StatusOK, third: http.StatusOK} {
		if st, _, _ := post(t, srv.URL, sid, "", list); st != want {
			t.Errorf("session %s after the third initialize: %d, want %d", sid, st, want)
		}
	}
}

// waitInitialized waits for the initialize of session id to be finished
// (the session layer finishes it after mcp-go has sent the response).
func waitInitialized(t *testing.T, tbl *sessionTable, id string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		tbl.mu.Lock()
		e := tbl.live[id]
		done := e != nil && !e.initializing
		tbl.mu.Unlock()
		if done {
			return
		}
	}
	t.Fatalf("the initialize of session %s did not finish", id)
}
