package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// limitedServer serves h behind a connLimiter of maxConns, with lim's
// timeouts.
func limitedServer(t *testing.T, maxConns int, lim httpLimits, h http.Handler) (*connLimiter, string) {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newConnLimiter(tcp, maxConns, slog.New(slog.DiscardHandler))
	srv := &http.Server{Handler: lim.deadlines(h), ReadHeaderTimeout: lim.readHeader, IdleTimeout: lim.idle, ConnState: ln.connState}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln, tcp.Addr().String()
}

var testLimits = httpLimits{readHeader: 2 * time.Second, readBody: 2 * time.Second, write: 2 * time.Second, idle: time.Minute}

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

// keepAlive opens a connection, makes one request on it and leaves it
// idle.
func keepAlive(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Time{})
	return c, br
}

// closed reads what comes on c until the server closes it (true) or
// within is over (false).
func closed(c net.Conn, br *bufio.Reader, within time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, br)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestConnLimiterEvictsIdle: at the cap, a new connection closes the one
// idle the longest and is served.
func TestConnLimiterEvictsIdle(t *testing.T) {
	ln, addr := limitedServer(t, 2, testLimits, http.HandlerFunc(ok))
	c1, b1 := keepAlive(t, addr)
	time.Sleep(10 * time.Millisecond)
	c2, b2 := keepAlive(t, addr)
	c3, b3 := keepAlive(t, addr) // served, by closing c1
	if !closed(c1, b1, time.Second) {
		t.Error("the connection idle the longest was not closed")
	}
	if closed(c2, b2, 50*time.Millisecond) || closed(c3, b3, 50*time.Millisecond) {
		t.Error("another connection was closed")
	}
	if n := len(ln.slots); n != 2 {
		t.Errorf("%d slots taken, want 2", n)
	}
}

// TestConnLimiterWaits: at the cap with no idle connection, a new one is
// served once a connection closes.
func TestConnLimiterWaits(t *testing.T) {
	release := make(chan struct{})
	_, addr := limitedServer(t, 1, testLimits, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
		ok(w, r)
	}))
	holder, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	fmt.Fprint(holder, "GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	done := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		done <- time.Since(start)
	}()
	select {
	case <-done:
		t.Fatal("a second connection was served while the only slot was busy")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	select {
	case took := <-done:
		t.Logf("served %s after it connected, once the slot was free", took)
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting connection was never served")
	}
}

// TestDeadlinesSpareLongCalls: a handler that reads its body, works longer
// than every timeout, then writes (and one that streams events slower
// than the write timeout) is not cut, over HTTP/1.1 and HTTP/2.
func TestDeadlinesSpareLongCalls(t *testing.T) {
	lim := httpLimits{readHeader: time.Second, readBody: 200 * time.Millisecond, write: 200 * time.Millisecond, idle: time.Second}
	h := lim.deadlines(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if r.URL.Path == "/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				time.Sleep(300 * time.Millisecond)
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				if r.Context().Err() != nil {
					return
				}
			}
			return
		}
		select {
		case <-time.After(700 * time.Millisecond):
			_, _ = io.WriteString(w, "done")
		case <-r.Context().Done():
			http.Error(w, "cancelled", 500)
		}
	}))
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		t.Run(proto, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(h)
			if proto == "HTTP/2.0" {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			c := srv.Client()
			for path, want := range map[string]string{"/call": "done", "/stream": "data: 0\n\ndata: 1\n\ndata: 2\n\n"} {
				resp, err := c.Post(srv.URL+path, "application/json", strings.NewReader(`{"a":1}`))
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != want || resp.Proto != proto {
					t.Errorf("%s: %s %q %v, want %s %q", path, resp.Proto, b, err, proto, want)
				}
			}
		})
	}
}

// TestDeadlinesCutSlowBody: a body arriving slower than the body timeout
// fails its read, and the connection is closed.
func TestDeadlinesCutSlowBody(t *testing.T) {
	lim := testLimits
	lim.readBody = 300 * time.Millisecond
	readErr := make(chan error, 1)
	_, addr := limitedServer(t, 10, lim, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		http.Error(w, "bad", 400)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
	go func() {
		for range 50 {
			time.Sleep(100 * time.Millisecond)
			if _, err := c.Write([]byte("a")); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-readErr:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("the slow body's read: %v, want a timeout", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the slow body was still being read after 3s")
	}
	if !closed(c, bufio.NewReader(c), 2*time.Second) {
		t.Error("the connection of the slow body was not closed")
	}
}

func TestFitConnections(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if got := fitConnections(10, 10, log); got != 10 {
		t.Errorf("10 connections within a limit of %d lowered to %d", rl.Cur, got)
	}
	if got, want := fitConnections(int(rl.Cur)+100, 20, log), int(rl.Cur)-20-fdReserve; got != max(want, 1) {
		t.Errorf("fitConnections(limit+100, 20) = %d, want %d", got, want)
	}
}
