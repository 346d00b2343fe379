package tests

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// shutdownMargin is what pgmcp may take beyond PGMCP_SHUTDOWN_TIMEOUT to
// cancel what is left and exit (documented as 3 seconds).
const shutdownMargin = 3 * time.Second

// noExitSleep keeps the race detector from sleeping a second at exit
// (GORACE atexit_sleep_ms), so the exit times measured are pgmcp's.
const noExitSleep = "GORACE=atexit_sleep_ms=0"

// endlessSQL is a query that runs for minutes: a self-join of order_items
// three times over on product_id.
const endlessSQL = "SELECT count(*) AS n FROM order_items a JOIN order_items b ON a.product_id = b.product_id JOIN order_items c ON c.product_id = b.product_id"

// hangOn answers questions holding marker only when the client gives up
// (and the others after delay).
func hangOn(t *testing.T, marker string, delay time.Duration) *fakellm.Server {
	return fakellm.New(t, func(_ int, req fakellm.Request) fakellm.Reply {
		for _, m := range req.Messages {
			if strings.Contains(m.Content, marker) {
				return fakellm.Reply{Hang: true}
			}
		}
		time.Sleep(delay)
		return fakellm.SQL("SELECT count(*) AS n FROM orders")
	})
}

// activeQueries counts the backends running a query whose text holds s.
func activeQueries(t *testing.T, db *pgtest.DB, s string) int {
	t.Helper()
	var n int
	if err := db.Pool(t).QueryRow(t.Context(),
		"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()", s).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestShutdownWithinTimeoutHTTP sends SIGTERM to pgmcp serve --http with
// PGMCP_SHUTDOWN_TIMEOUT=3s while a question waits on a model that never
// answers, a query runs that would take minutes (statement timeout 60s),
// and an SSE stream is open: pgmcp waits the 3 seconds, cancels them (the
// query is gone from PostgreSQL) and exits within the timeout plus the
// margin. Before, it exited after 3s + 5s + whatever the calls took.
//
//	go test -count=1 -run TestShutdownWithinTimeout -v ./tests/
func TestShutdownWithinTimeoutHTTP(t *testing.T) {
	const timeout = 3 * time.Second
	db := pgtest.NewDB(t, pgtest.Demo)
	fake := hangOn(t, "never-answered", 0)
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=fake-model",
		"PGMCP_SHUTDOWN_TIMEOUT=3s", "PGMCP_STATEMENT_TIMEOUT=60s", noExitSleep))
	url := srv.base + "/mcp"

	answers := make(chan string, 2)
	for _, args := range []map[string]any{{"question": "never-answered: how many orders?"}, {"sql": endlessSQL}} {
		c := httpClient(t, url)
		initialize(t, c)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			start := time.Now()
			code, err := toolCode(ctx, c, "query", args)
			answers <- fmt.Sprintf("%.40v: %q %v after %s", args, code, err, time.Since(start).Round(time.Millisecond))
		}()
	}
	sid := initSession(t, url, "stream")
	sse := dialRaw(t, hostPort(srv.base))
	fmt.Fprintf(sse, "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: %s\r\nMcp-Protocol-Version: %s\r\n\r\n", sid, legacyVersion)
	if resp, err := http.ReadResponse(sse.br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("SSE stream: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for activeQueries(t, db, "JOIN order_items c") == 0 || fake.Count() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the calls did not start: %d queries, %d model requests\n%s", activeQueries(t, db, "JOIN order_items c"), fake.Count(), srv.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	start := time.Now()
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-srv.done:
		if err != nil {
			t.Errorf("pgmcp exited with %v", err)
		}
	case <-time.After(120 * time.Second):
		t.Fatalf("pgmcp did not exit within 120s of SIGTERM")
	}
	took := time.Since(start)
	t.Logf("PGMCP_SHUTDOWN_TIMEOUT=%s with a hung model call, a minutes-long query and an SSE stream: exit %s after SIGTERM", timeout, took.Round(time.Millisecond))
	if took < timeout-200*time.Millisecond {
		t.Errorf("pgmcp exited after %s, before the shutdown timeout: the calls in flight were not given it", took)
	}
	if took > timeout+shutdownMargin {
		t.Errorf("pgmcp exited after %s, over the shutdown timeout %s + %s", took, timeout, shutdownMargin)
	}
	for range 2 {
		select {
		case a := <-answers:
			t.Logf("call in flight: %s", a)
		case <-time.After(10 * time.Second):
			t.Error("a call in flight got no answer (nor a closed connection) 10s after pgmcp exited")
		}
	}
	gone := time.Now().Add(5 * time.Second)
	for activeQueries(t, db, "JOIN order_items c") > 0 {
		if time.Now().After(gone) {
			t.Error("the query is still running in PostgreSQL 5s after pgmcp exited")
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestShutdownWithinTimeoutStdio: over stdio, when stdin closes, a call
// that finishes within PGMCP_SHUTDOWN_TIMEOUT still gets its answer, one
// that would take longer is cancelled, and pgmcp exits within the timeout
// plus the margin; a signal cancels the calls in flight at once.
func TestShutdownWithinTimeoutStdio(t *testing.T) {
	const timeout = 3 * time.Second
	db := pgtest.NewDB(t, pgtest.Demo)
	fake := hangOn(t, "never-answered", time.Second)
	env := baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=fake-model",
		"PGMCP_SHUTDOWN_TIMEOUT=3s", "PGMCP_STATEMENT_TIMEOUT=60s", noExitSleep)

	t.Run("stdin closed", func(t *testing.T) {
		s := startRawStdio(t, binary, env)
		s.initialize(t)
		quick, hung := s.expect("1"), s.expect("2")
		s.send(t, questionCall(1, "how many orders? (answered in a second)"))
		s.send(t, questionCall(2, "never-answered: how many orders?"))
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		s.in.Close()
		if a := wait(t, quick, 30*time.Second, "the call answered within the timeout"); a.code() != "" {
			t.Errorf("the 1s question after stdin closed: %s", a.code())
		}
		select {
		case a := <-hung:
			t.Logf("the hung question: %q %v", a.code(), a.err)
		case <-time.After(120 * time.Second):
		}
		select {
		case <-s.done:
		case <-time.After(120 * time.Second):
			t.Fatal("pgmcp did not exit within 120s of stdin closing")
		}
		took := time.Since(start)
		t.Logf("stdin closed with a 1s and a hung call in flight: exit after %s", took.Round(time.Millisecond))
		if took > timeout+shutdownMargin {
			t.Errorf("pgmcp exited %s after stdin closed, over the shutdown timeout %s + %s", took, timeout, shutdownMargin)
		}
	})

	t.Run("signal", func(t *testing.T) {
		s := startRawStdio(t, binary, env)
		s.initialize(t)
		s.expect("1")
		s.send(t, questionCall(1, "never-answered: how many orders?"))
		s.expect("2")
		s.send(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"query","arguments":{"sql":%q}}}`, endlessSQL))
		deadline := time.Now().Add(20 * time.Second)
		for activeQueries(t, db, "JOIN order_items c") == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the query did not start")
			}
			time.Sleep(50 * time.Millisecond)
		}
		start := time.Now()
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(120 * time.Second):
			t.Fatal("pgmcp did not exit within 120s of SIGTERM")
		}
		took := time.Since(start)
		t.Logf("SIGTERM over stdio with a hung model call and a minutes-long query: exit after %s", took.Round(time.Millisecond))
		if took > shutdownMargin {
			t.Errorf("pgmcp exited %s after SIGTERM over stdio, want within %s", took, shutdownMargin)
		}
		gone := time.Now().Add(5 * time.Second)
		for activeQueries(t, db, "JOIN order_items c") > 0 {
			if time.Now().After(gone) {
				t.Error("the query is still running in PostgreSQL 5s after pgmcp exited")
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
