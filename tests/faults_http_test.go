package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// hostPort is the address of a server's base URL.
func hostPort(base string) string {
	return strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
}

// rawConn is a client connection driven byte by byte.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// get sends a keep-alive GET and reads its whole response.
func (c *rawConn) get(path string, within time.Duration) (*http.Response, error) {
	_ = c.SetDeadline(time.Now().Add(within))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

// closedWithin reads (and drops) whatever comes until the server closes
// the connection, and returns how long that took; ok is false when the
// connection was still open after max.
func (c *rawConn) closedWithin(max time.Duration) (took time.Duration, ok bool) {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(max))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return time.Since(start), false
	}
	return time.Since(start), true
}

// trickle writes s one byte every interval until it is written, the
// connection fails, or stop is closed.
func trickle(c net.Conn, s string, interval time.Duration, stop <-chan struct{}) {
	for i := range len(s) {
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
	}
}

// slowHeaders is a request whose headers never end.
var slowHeaders = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + strings.Repeat("a", 4096)

// toolCode calls a tool and returns its error code ("" on success), or
// the protocol error; safe to use outside the test's goroutine.
func toolCode(ctx context.Context, c *client.Client, tool string, args map[string]any) (string, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return "", err
	}
	if !res.IsError {
		return "", nil
	}
	var body struct{ Code string }
	if len(res.Content) > 0 {
		if tc, ok := res.Content[0].(mcp.TextContent); ok {
			_ = json.Unmarshal([]byte(tc.Text), &body)
		}
	}
	return body.Code, nil
}

// legitClient calls query every 100 ms until stop, and counts the
// outcomes.
func legitClient(t *testing.T, url string, stop <-chan struct{}) (ok, failed *atomic.Int64, done <-chan struct{}) {
	ok, failed = &atomic.Int64{}, &atomic.Int64{}
	d := make(chan struct{})
	c := httpClient(t, url)
	initialize(t, c)
	go func() {
		defer close(d)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			code, err := toolCode(ctx, c, "query", map[string]any{"sql": "SELECT 1 AS one"})
			cancel()
			if code == "" && err == nil {
				ok.Add(1)
			} else {
				failed.Add(1)
				t.Logf("legitimate call failed: %q %v", code, err)
			}
		}
	}()
	return ok, failed, d
}

// TestHTTPSlowClientsBounded: with the header, body, idle and write
// timeouts at 2s, a client sending its headers a byte at a time, one
// sending its body a byte at a time, an idle kept-alive connection and a
// client that stops reading a large response are all disconnected at
// their timeout (within a second of it), while a legitimate client keeps
// getting answers, a question whose model takes 5s (longer than every
// timeout) is answered, and an SSE stream stays open past every timeout.
//
//	go test -count=1 -run TestHTTPSlowClientsBounded -v ./tests/
func TestHTTPSlowClientsBounded(t *testing.T) {
	const timeout = 2 * time.Second
	db := pgtest.NewDB(t, pgtest.Demo)
	fake := slowModel(t, 5*time.Second)
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=fake-model",
		"PGMCP_HTTP_READ_HEADER_TIMEOUT=2s", "PGMCP_HTTP_READ_BODY_TIMEOUT=2s",
		"PGMCP_HTTP_IDLE_TIMEOUT=2s", "PGMCP_HTTP_WRITE_TIMEOUT=2s",
		"PGMCP_MAX_ROWS=10000", "PGMCP_MAX_RESULT_BYTES=33554432", "PGMCP_STATEMENT_TIMEOUT=60s"))
	addr, url := hostPort(srv.base), srv.base+"/mcp"

	stop := make(chan struct{})
	okCalls, failedCalls, legitDone := legitClient(t, url, stop)

	// A question longer than every timeout.
	question := make(chan string, 1)
	qc := httpClient(t, url)
	initialize(t, qc)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		start := time.Now()
		code, err := toolCode(ctx, qc, "query", map[string]any{"question": "How many orders were shipped?"})
		question <- fmt.Sprintf("%q %v after %s", code, err, time.Since(start).Round(time.Millisecond))
	}()

	// An SSE stream (GET in a session).
	sid := initSession(t, url, "sse")
	sse := dialRaw(t, addr)
	fmt.Fprintf(sse, "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: %s\r\nMcp-Protocol-Version: %s\r\n\r\n", sid, legacyVersion)
	_ = sse.SetReadDeadline(time.Now().Add(10 * time.Second))
	sseResp, err := http.ReadResponse(sse.br, nil)
	if err != nil || sseResp.StatusCode != 200 || !strings.HasPrefix(sseResp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET stream: %v %v", err, sseResp)
	}

	type result struct {
		name string
		took time.Duration
		ok   bool
	}
	results := make(chan result, 4)
	var wg sync.WaitGroup

	// Slowloris: headers a byte every 200 ms.
	wg.Go(func() {
		c := dialRaw(t, addr)
		go trickle(c, slowHeaders, 200*time.Millisecond, stop)
		took, closed := c.closedWithin(4 * timeout)
		results <- result{"headers sent a byte at a time", took, closed}
	})
	// A body a byte every 200 ms.
	wg.Go(func() {
		c := dialRaw(t, addr)
		fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100000\r\n\r\n")
		go trickle(c, `{"jsonrpc":"2.0","id":1,"method":"tools/list","x":"`+strings.Repeat("a", 99000), 200*time.Millisecond, stop)
		took, closed := c.closedWithin(4 * timeout)
		results <- result{"body sent a byte at a time", took, closed}
	})
	// An idle kept-alive connection.
	wg.Go(func() {
		c := dialRaw(t, addr)
		if resp, err := c.get("/healthz", 10*time.Second); err != nil || resp.StatusCode != 200 {
			t.Errorf("GET /healthz on the idle connection: %v", err)
			return
		}
		took, closed := c.closedWithin(4 * timeout)
		results <- result{"idle kept-alive connection", took, closed}
	})
	// A client that stops reading a response of some 20 MB.
	wg.Go(func() {
		d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		body := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"query","arguments":{"sql":"SELECT repeat(md5(id::text), 30) AS pad FROM orders ORDER BY id LIMIT 10000"}}}`
		fmt.Fprintf(nc, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"+
			"Mcp-Session-Id: %s\r\nMcp-Protocol-Version: %s\r\nContent-Length: %d\r\n\r\n%s", initSession(t, url, "slow-reader"), legacyVersion, len(body), body)
		// Read nothing for a while: the server's writes block.
		time.Sleep(4 * timeout)
		_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			results <- result{"client not reading its response: cut before the end", 0, true}
			return
		}
		n, err := io.Copy(io.Discard, resp.Body)
		t.Logf("the slow reader then read %d bytes of the body: %v", n, err)
		results <- result{"client not reading its response: cut before the end", 0, err != nil}
	})
	wg.Wait()
	close(results)
	for r := range results {
		switch {
		case !r.ok:
			t.Errorf("%s: the connection was still open after %s", r.name, r.took.Round(time.Millisecond))
		case r.took > 0 && (r.took < timeout-300*time.Millisecond || r.took > timeout+time.Second):
			t.Errorf("%s: closed after %s, want about %s", r.name, r.took.Round(time.Millisecond), timeout)
		case r.took == 0:
			t.Logf("%s", r.name)
		default:
			t.Logf("%s: closed after %s", r.name, r.took.Round(time.Millisecond))
		}
	}

	// The SSE stream outlived every timeout (some 10s now).
	_ = sse.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = sse.br.ReadByte()
	var ne net.Error
	for err == nil { // events are fine; the end of the stream is not
		_, err = sse.br.ReadByte()
	}
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("the SSE stream ended after the timeouts: %v", err)
	}

	select {
	case q := <-question:
		if !strings.HasPrefix(q, `"" <nil>`) {
			t.Errorf("the 5s question failed: %s", q)
		} else {
			t.Logf("the 5s question was answered: %s", q)
		}
	case <-time.After(30 * time.Second):
		t.Error("the 5s question got no answer")
	}
	close(stop)
	<-legitDone
	t.Logf("legitimate client during the attacks: %d calls answered, %d failed", okCalls.Load(), failedCalls.Load())
	if failedCalls.Load() > 0 || okCalls.Load() < 10 {
		t.Errorf("legitimate client: %d answered, %d failed", okCalls.Load(), failedCalls.Load())
	}
	srv.stop(t)
}

// TestHTTPConnectionCap: with PGMCP_HTTP_MAX_CONNECTIONS=8, eight idle
// connections do not keep a new client out (the longest idle is closed
// for it), and eight slowloris connections, reopened as soon as they are
// cut, delay a new client until the header timeout (2s) frees a slot, but
// do not lock it out.
//
//	go test -count=1 -run TestHTTPConnectionCap -v ./tests/
func TestHTTPConnectionCap(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_HTTP_MAX_CONNECTIONS=8", "PGMCP_HTTP_READ_HEADER_TIMEOUT=2s", "PGMCP_HTTP_IDLE_TIMEOUT=60s"))
	addr := hostPort(srv.base)
	fresh := func() (time.Duration, error) {
		c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		start := time.Now()
		resp, err := c.Get(srv.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		return time.Since(start), err
	}

	// Eight idle connections fill the cap.
	var idle []*rawConn
	for i := range 8 {
		c := dialRaw(t, addr)
		if _, err := c.get("/healthz", 5*time.Second); err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		idle = append(idle, c)
	}
	took, err := fresh()
	if err != nil || took > time.Second {
		t.Errorf("a new client with 8 idle connections at the cap: %v after %s", err, took)
	}
	t.Logf("new client with the cap full of idle connections: served in %s", took.Round(time.Millisecond))
	closedIdle := 0
	for _, c := range idle {
		if _, closed := c.closedWithin(100 * time.Millisecond); closed {
			closedIdle++
		}
		c.Close()
	}
	if closedIdle == 0 {
		t.Error("no idle connection was closed to make room for the new client")
	}

	// Eight slowloris connections, reopened as soon as they are cut.
	stop := make(chan struct{})
	var attackers sync.WaitGroup
	var opened atomic.Int64
	for range 8 {
		attackers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					return
				}
				opened.Add(1)
				go trickle(c, slowHeaders, 100*time.Millisecond, stop)
				_, _ = io.Copy(io.Discard, c) // until the server cuts it
				c.Close()
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	took, err = fresh()
	t.Logf("new client with the cap full of slowloris connections: served in %s (%v); %d attacking connections opened", took.Round(time.Millisecond), err, opened.Load())
	if err != nil || took > 5*time.Second {
		t.Errorf("a new client under a slowloris attack at the cap: %v after %s, want served within the header timeout and a margin", err, took)
	}
	if took < 500*time.Millisecond {
		t.Errorf("a new client was served in %s while 8 slowloris connections held the cap of 8: the cap is not enforced", took)
	}
	close(stop)
	attackers.Wait()
	if n := metric(t, srv.base, "pgmcp_http_connections_evicted_total"); n < 1 {
		t.Errorf("pgmcp_http_connections_evicted_total = %v, want at least 1", n)
	}
	if n := metric(t, srv.base, "pgmcp_http_connections_waited_total"); n < 1 {
		t.Errorf("pgmcp_http_connections_waited_total = %v, want at least 1", n)
	}
	srv.stop(t)
}

// TestHTTPFileDescriptorLimit runs pgmcp with an open file limit of 200
// and the default connection cap (1000): pgmcp lowers the cap to fit, so
// 250 idle client connections leave room for a new client and for the
// database pool. Without the cap the idle connections exhausted the file
// descriptors and every other client was locked out.
//
//	go test -count=1 -run TestHTTPFileDescriptorLimit -v ./tests/
func TestHTTPFileDescriptorLimit(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	srv := startBinary(t, "/bin/sh", []string{"-c", `ulimit -n 200 && exec "$0" "$@"`, binary, "serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t), "PGMCP_HTTP_IDLE_TIMEOUT=60s"))
	addr := hostPort(srv.base)
	if !strings.Contains(srv.stderr.String(), "PGMCP_HTTP_MAX_CONNECTIONS lowered") {
		t.Errorf("no warning that the connection cap was lowered:\n%s", srv.stderr.String())
	}
	opened := 0
	for i := range 250 {
		c := dialRaw(t, addr)
		if _, err := c.get("/healthz", 3*time.Second); err != nil {
			t.Logf("idle connection %d: %v", i, err)
			break
		}
		opened++
	}
	t.Logf("%d idle connections opened", opened)
	start := time.Now()
	url := srv.base + "/mcp"
	sid := initSession(t, url, "fd")
	resp, body := mcpPost(t, url, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"query","arguments":{"sql":"SELECT count(*) AS n FROM orders"}}}`, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"row_count":1`) {
		t.Errorf("a new client's query with %d idle connections open: %d %.400s", opened, resp.StatusCode, body)
	}
	t.Logf("a new client's initialize and query with %d idle connections open: answered in %s", opened, time.Since(start).Round(time.Millisecond))
	if opened < 250 {
		t.Errorf("only %d of 250 idle connections could be opened", opened)
	}
	srv.stop(t)
}
