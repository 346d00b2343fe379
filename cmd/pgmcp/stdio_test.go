package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

func TestReadLine(t *testing.T) {
	const max = 32
	in := "short\r\n" + strings.Repeat("x", max) + "\n" + strings.Repeat("y", max+1) + "\n" +
		strings.Repeat("z", 10*max) + "\n\nafter\nlast without newline"
	r := bufio.NewReaderSize(strings.NewReader(in), 16) // lines longer than the buffer
	want := []stdinLine{
		{msg: []byte("short")},
		{msg: []byte(strings.Repeat("x", max))},
		{tooLong: true},
		{tooLong: true},
		{msg: []byte{}},
		{msg: []byte("after")},
		{msg: []byte("last without newline")},
		{err: io.EOF},
	}
	for i, w := range want {
		got := readLine(r, max)
		if string(got.msg) != string(w.msg) || got.tooLong != w.tooLong || got.err != w.err {
			t.Errorf("line %d: got %q tooLong %v err %v, want %q %v %v", i, got.msg, got.tooLong, got.err, w.msg, w.tooLong, w.err)
		}
		if got.tooLong && got.msg != nil {
			t.Errorf("line %d: a line too long kept %d bytes", i, len(got.msg))
		}
	}
}

// stdioRig runs the stdio transport over a real MCP server with two test
// tools: "wait" returns once released (or cancelled), "echo" at once.
type stdioRig struct {
	in      *io.PipeWriter
	served  chan error
	release chan struct{}
	ran     atomic.Int64 // wait calls that started
	mu      sync.Mutex
	answers map[string]chan map[string]any
	cancel  context.CancelFunc
}

func newStdioRig(t *testing.T, cfg stdioConfig) *stdioRig {
	t.Helper()
	rig := &stdioRig{served: make(chan error, 1), release: make(chan struct{}), answers: map[string]chan map[string]any{}}
	s := server.NewMCPServer("test", "1", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("wait"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		rig.ran.Add(1)
		select {
		case <-rig.release:
			return mcp.NewToolResultText("released"), nil
		case <-ctx.Done():
			return mcp.NewToolResultError("cancelled"), nil
		}
	})
	s.AddTool(mcp.NewTool("echo"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("echo"), nil
	})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	rig.in = inW
	ctx, cancel := context.WithCancel(context.Background())
	rig.cancel = cancel
	srv := newStdioServer(s, cfg, slog.New(slog.DiscardHandler))
	go func() { rig.served <- srv.Serve(ctx, inR, outW); outW.Close() }()
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				t.Errorf("not JSON on stdout: %q", sc.Text())
				continue
			}
			id, _ := json.Marshal(m["id"])
			rig.mu.Lock()
			ch := rig.answers[string(id)]
			if ch == nil {
				ch = make(chan map[string]any, 4)
				rig.answers[string(id)] = ch
			}
			rig.mu.Unlock()
			ch <- m
		}
	}()
	t.Cleanup(func() { cancel(); inW.Close() })
	return rig
}

func (r *stdioRig) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(r.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (r *stdioRig) answer(id string) chan map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := r.answers[id]
	if ch == nil {
		ch = make(chan map[string]any, 4)
		r.answers[id] = ch
	}
	return ch
}

// await waits for the answer to id.
func (r *stdioRig) await(t *testing.T, id string, within time.Duration) map[string]any {
	t.Helper()
	select {
	case m := <-r.answer(id):
		return m
	case <-time.After(within):
		t.Fatalf("no answer to %s within %s", id, within)
		return nil
	}
}

// none checks id gets no answer for a while.
func (r *stdioRig) none(t *testing.T, id string, d time.Duration) {
	t.Helper()
	select {
	case m := <-r.answer(id):
		t.Errorf("an answer to %s: %v", id, m)
	case <-time.After(d):
	}
}

func toolCall(id int, tool string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, id, tool)
}

func (r *stdioRig) init(t *testing.T) {
	t.Helper()
	r.send(t, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	r.await(t, "0", 5*time.Second)
	r.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

func errorCodeData(m map[string]any) (float64, string) {
	e, _ := m["error"].(map[string]any)
	d, _ := e["data"].(map[string]any)
	n, _ := e["code"].(float64)
	c, _ := d["code"].(string)
	return n, c
}

// TestStdioCheapRequestsNotQueued: with every worker busy and calls
// waiting, ping and tools/list are answered at once; the calls all run
// once released, no more than the workers at a time.
func TestStdioCheapRequestsNotQueued(t *testing.T) {
	rig := newStdioRig(t, stdioConfig{workers: 2, maxLine: 1 << 20, drainTimeout: time.Second})
	rig.init(t)
	for i := 1; i <= 6; i++ {
		rig.send(t, toolCall(i, "wait"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for rig.ran.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	rig.send(t, `{"jsonrpc":"2.0","id":"p","method":"ping"}`)
	rig.await(t, `"p"`, time.Second)
	rig.send(t, `{"jsonrpc":"2.0","id":"l","method":"tools/list"}`)
	rig.await(t, `"l"`, time.Second)
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("ping and tools/list took %s behind busy workers", took)
	}
	if n := rig.ran.Load(); n != 2 {
		t.Errorf("%d calls running with 2 workers", n)
	}
	close(rig.release)
	for i := 1; i <= 6; i++ {
		m := rig.await(t, fmt.Sprint(i), 5*time.Second)
		if res, _ := m["result"].(map[string]any); res == nil || res["isError"] == true {
			t.Errorf("call %d: %v", i, m)
		}
	}
}

// TestStdioQueueBound: beyond the workers and the queue, a tool call is
// answered at once with a JSON-RPC error (busy); a queued call the client
// cancels is dropped unanswered and never runs.
func TestStdioQueueBound(t *testing.T) {
	rig := newStdioRig(t, stdioConfig{workers: 1, maxLine: 1 << 20, drainTimeout: time.Second, maxQueued: 2})
	rig.init(t)
	rig.send(t, toolCall(1, "wait")) // runs
	for rig.ran.Load() < 1 {
		time.Sleep(5 * time.Millisecond)
	}
	rig.send(t, toolCall(2, "wait")) // queued
	rig.send(t, toolCall(3, "wait")) // queued
	rig.send(t, toolCall(4, "wait")) // refused
	m := rig.await(t, "4", time.Second)
	if n, code := errorCodeData(m); n != rpcServerError || code != "busy" {
		t.Errorf("the call over the queue got %v", m)
	}
	rig.send(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2,"reason":"test"}}`)
	time.Sleep(50 * time.Millisecond)
	close(rig.release)
	rig.await(t, "1", 5*time.Second)
	rig.await(t, "3", 5*time.Second)
	rig.none(t, "2", 200*time.Millisecond)
	if n := rig.ran.Load(); n != 2 {
		t.Errorf("%d wait calls ran, want 2 (the cancelled one must not)", n)
	}
}

// TestStdioTooLong: a line over the limit gets a -32600 error with
// request_too_large, and the next request is served.
func TestStdioTooLong(t *testing.T) {
	rig := newStdioRig(t, stdioConfig{workers: 1, maxLine: 1024, drainTimeout: time.Second})
	rig.init(t)
	rig.send(t, `{"jsonrpc":"2.0","id":5,"method":"ping","params":{"x":"`+strings.Repeat("a", 100<<10)+`"}}`)
	m := rig.await(t, "null", time.Second)
	if n, code := errorCodeData(m); n != rpcInvalidRequest || code != codeRequestTooLarge {
		t.Errorf("the long line got %v", m)
	}
	rig.send(t, toolCall(6, "echo"))
	rig.await(t, "6", time.Second)
	rig.none(t, "5", 100*time.Millisecond)
}

// TestStdioEndOfInput: when stdin closes, a call in flight may finish
// within the drain timeout; one that would not is cancelled after it, and
// Serve returns within the grace.
func TestStdioEndOfInput(t *testing.T) {
	const drain = 300 * time.Millisecond
	rig := newStdioRig(t, stdioConfig{workers: 2, maxLine: 1 << 20, drainTimeout: drain})
	rig.init(t)
	rig.send(t, toolCall(1, "wait"))
	for rig.ran.Load() < 1 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	rig.in.Close()
	m := rig.await(t, "1", 5*time.Second)
	took := time.Since(start)
	if res, _ := m["result"].(map[string]any); res == nil || res["isError"] != true {
		t.Errorf("the call left after the drain: %v, want its cancelled result", m)
	}
	if took < drain || took > drain+shutdownGrace {
		t.Errorf("the call was cancelled %s after stdin closed, want after the %s drain", took, drain)
	}
	select {
	case err := <-rig.served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(drain + shutdownGrace):
		t.Error("Serve did not return after stdin closed")
	}

	// A call that finishes within the drain is answered.
	rig = newStdioRig(t, stdioConfig{workers: 2, maxLine: 1 << 20, drainTimeout: 5 * time.Second})
	rig.init(t)
	rig.send(t, toolCall(1, "wait"))
	for rig.ran.Load() < 1 {
		time.Sleep(5 * time.Millisecond)
	}
	rig.in.Close()
	time.Sleep(100 * time.Millisecond)
	close(rig.release)
	if m := rig.await(t, "1", 5*time.Second); m["result"].(map[string]any)["isError"] == true {
		t.Errorf("a call finishing within the drain: %v", m)
	}
	<-rig.served
}

// TestStdioSignal: a cancelled context (a signal) cancels the calls in
// flight at once.
func TestStdioSignal(t *testing.T) {
	rig := newStdioRig(t, stdioConfig{workers: 2, maxLine: 1 << 20, drainTimeout: time.Minute})
	rig.init(t)
	rig.send(t, toolCall(1, "wait"))
	for rig.ran.Load() < 1 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	rig.cancel()
	select {
	case <-rig.served:
	case <-time.After(shutdownGrace + time.Second):
		t.Fatal("Serve did not return after the signal")
	}
	if took := time.Since(start); took > shutdownGrace {
		t.Errorf("Serve returned %s after the signal", took)
	}
}
