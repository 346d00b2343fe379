package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/nodetest"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// rawStdio drives `pgmcp serve` over stdio with raw JSON-RPC lines, and
// notes when each answer arrives.
type rawStdio struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	stderr *nodetest.SyncBuffer
	done   chan error // the process's exit

	mu      sync.Mutex
	waiters map[string]chan rawAnswer // by the id's JSON
	closed  bool
}

// rawAnswer is one answer, with when it was read.
type rawAnswer struct {
	at   time.Time
	body map[string]any
	err  error // the output ended first
}

// code is error.data.code, or the code of an error tool result's JSON
// body; "" for a success.
func (a rawAnswer) code() string {
	if e, ok := a.body["error"].(map[string]any); ok {
		if d, ok := e["data"].(map[string]any); ok {
			if c, ok := d["code"].(string); ok {
				return c
			}
		}
		return fmt.Sprintf("rpc %v", e["code"])
	}
	res, _ := a.body["result"].(map[string]any)
	if isErr, _ := res["isError"].(bool); isErr {
		content, _ := res["content"].([]any)
		for _, c := range content {
			if m, ok := c.(map[string]any); ok {
				var b struct{ Code string }
				if json.Unmarshal([]byte(fmt.Sprint(m["text"])), &b) == nil && b.Code != "" {
					return b.Code
				}
			}
		}
		return "tool error"
	}
	return ""
}

func startRawStdio(t *testing.T, bin string, env []string) *rawStdio {
	t.Helper()
	s := &rawStdio{stderr: &nodetest.SyncBuffer{}, done: make(chan error, 1), waiters: map[string]chan rawAnswer{}}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env = env
	s.cmd.Stderr = s.stderr
	var err error
	if s.in, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r := bufio.NewReaderSize(out, 1<<20)
		for {
			b, err := r.ReadBytes('\n')
			if err != nil {
				s.mu.Lock()
				s.closed = true
				for id, ch := range s.waiters {
					ch <- rawAnswer{at: time.Now(), err: fmt.Errorf("stdout ended before answer %s: %v", id, err)}
					delete(s.waiters, id)
				}
				s.mu.Unlock()
				s.done <- s.cmd.Wait()
				return
			}
			at := time.Now()
			var m map[string]any
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			id, _ := json.Marshal(m["id"])
			s.mu.Lock()
			if ch, ok := s.waiters[string(id)]; ok {
				ch <- rawAnswer{at: at, body: m}
				delete(s.waiters, string(id))
			}
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		s.in.Close()
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
		}
	})
	return s
}

// expect registers interest in the answer to id (its JSON: `7`, `"a"`,
// `null`); call it before sending the request.
func (s *rawStdio) expect(id string) <-chan rawAnswer {
	ch := make(chan rawAnswer, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		ch <- rawAnswer{err: fmt.Errorf("stdout already ended")}
		return ch
	}
	s.waiters[id] = ch
	return ch
}

func (s *rawStdio) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		t.Fatalf("write to pgmcp's stdin: %v", err)
	}
}

// wait waits for an answer, failing the test after d.
func wait(t *testing.T, ch <-chan rawAnswer, d time.Duration, what string) rawAnswer {
	t.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatalf("%s: %v", what, a.err)
		}
		return a
	case <-time.After(d):
		t.Fatalf("%s: no answer within %s", what, d)
		return rawAnswer{}
	}
}

// initialize runs the 2025-11-25 handshake.
func (s *rawStdio) initialize(t *testing.T) {
	t.Helper()
	ch := s.expect(`"init"`)
	s.send(t, `{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"faults","version":"1"}}}`)
	if a := wait(t, ch, 60*time.Second, "initialize"); a.code() != "" {
		t.Fatalf("initialize: %v", a.body)
	}
	s.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

// questionCall is the JSON-RPC line of a query tool call with a question.
func questionCall(id int, question string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"query","arguments":{"question":%q}}}`, id, question)
}

// slowModel is the scripted model answering every question after delay,
// with the same SQL: concurrency, not the database, decides how long a
// batch of questions takes.
func slowModel(t *testing.T, delay time.Duration) *fakellm.Server {
	return fakellm.New(t, func(int, fakellm.Request) fakellm.Reply {
		time.Sleep(delay)
		return fakellm.SQL("SELECT count(*) AS n FROM orders WHERE status = 'shipped'")
	})
}

// askConcurrently asks n questions at once on c and returns how long the
// last answer took.
func askConcurrently(t *testing.T, c *client.Client, n int) time.Duration {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan string, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			req := mcp.CallToolRequest{}
			req.Params.Name = "query"
			req.Params.Arguments = map[string]any{"question": fmt.Sprintf("How many orders were shipped? (%d)", i)}
			res, err := c.CallTool(t.Context(), req)
			switch {
			case err != nil:
				errs <- err.Error()
			case res.IsError:
				errs <- fmt.Sprint(res.Content)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for e := range errs {
		t.Errorf("a question failed: %.300s", e)
	}
	return took
}

// TestStdioConcurrentQuestions asks 32 questions at once, over HTTP and
// over stdio, of a model that takes 200 ms per answer, with the default
// settings (64 stdio workers; the execution cap of 10 bounds only the
// database work): stdio must take at most 1.5 times as long as HTTP.
// Before the stdio front, mcp-go's 5 workers made it 7 rounds of the
// model's delay.
//
//	go test -count=1 -run TestStdioConcurrentQuestions -v ./tests/
func TestStdioConcurrentQuestions(t *testing.T) {
	const n, delay = 32, 200 * time.Millisecond
	db := pgtest.NewDB(t, pgtest.Demo)
	fake := slowModel(t, delay)
	env := baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=fake-model", "PGMCP_RATE_LIMIT=off")

	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, env)
	hc := httpClient(t, srv.base+"/mcp")
	initialize(t, hc)
	askConcurrently(t, hc, 4) // warm up: schema cache, connections
	httpTook := askConcurrently(t, hc, n)
	hc.Close()
	srv.stop(t)

	var stderr nodetest.SyncBuffer
	tr := transport.NewStdioWithOptions(binary, env, []string{"serve"}, transport.WithCommandStderrWriter(&stderr))
	if err := tr.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	sc := client.NewClient(tr)
	defer sc.Close()
	initialize(t, sc)
	askConcurrently(t, sc, 4)
	stdioTook := askConcurrently(t, sc, n)

	t.Logf("%d questions at once, model %s per answer: HTTP %s, stdio %s (%.2fx)", n, delay,
		httpTook.Round(time.Millisecond), stdioTook.Round(time.Millisecond), stdioTook.Seconds()/httpTook.Seconds())
	if !strings.Contains(stderr.String(), "workers=64") {
		t.Errorf("the stdio workers did not default to 64:\n%s", stderr.String())
	}
	// 1.5x, with 100 ms of slack for the scheduling noise of a shared machine.
	if stdioTook > httpTook*3/2+100*time.Millisecond {
		t.Errorf("stdio took %s for %d questions, over 1.5x HTTP's %s", stdioTook, n, httpTook)
	}
	if min := time.Duration(n) * delay / 32; stdioTook < min {
		t.Errorf("stdio took %s, less than one model delay: the model was not waited for", stdioTook)
	}
}

// TestStdioPingNotQueued sends 130 questions (the model takes 300 ms per
// answer; 10 run at a time, PGMCP_STDIO_WORKERS=10, so that 120 wait in
// the queue), then a ping: the
// ping is answered within 100 ms, ahead of the questions, and every
// question is answered. mcp-go's stdio server (5 workers, 100 queued, the
// rest handled on its reading goroutine) made the ping wait for seconds.
//
//	go test -count=1 -run TestStdioPingNotQueued -v ./tests/
func TestStdioPingNotQueued(t *testing.T) {
	const n, delay = 130, 300 * time.Millisecond
	db := pgtest.NewDB(t, pgtest.Demo)
	fake := slowModel(t, delay)
	s := startRawStdio(t, binary, baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=fake-model", "PGMCP_STDIO_WORKERS=10"))
	s.initialize(t)

	answers := make([]<-chan rawAnswer, n)
	var batch strings.Builder
	for i := range n {
		answers[i] = s.expect(fmt.Sprint(i + 1))
		batch.WriteString(questionCall(i+1, fmt.Sprintf("How many orders were shipped? (%d)", i)) + "\n")
	}
	start := time.Now()
	if _, err := io.WriteString(s.in, batch.String()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the questions are read and under way
	ping := s.expect(`"ping"`)
	pingSent := time.Now()
	s.send(t, `{"jsonrpc":"2.0","id":"ping","method":"ping"}`)
	p := wait(t, ping, 60*time.Second, "ping")
	pingTook := p.at.Sub(pingSent)

	var last time.Time
	answeredBeforePing := 0
	for i, ch := range answers {
		a := wait(t, ch, 120*time.Second, fmt.Sprintf("question %d", i+1))
		if c := a.code(); c != "" {
			t.Errorf("question %d: %s", i+1, c)
		}
		if a.at.After(last) {
			last = a.at
		}
		if a.at.Before(p.at) {
			answeredBeforePing++
		}
	}
	t.Logf("ping answered in %s behind %d questions (%d of them answered before it); all answered after %s",
		pingTook.Round(time.Millisecond), n, answeredBeforePing, last.Sub(start).Round(time.Millisecond))
	if pingTook > 100*time.Millisecond {
		t.Errorf("the ping took %s behind %d tool calls, want under 100ms", pingTook, n)
	}
	if answeredBeforePing > n/2 {
		t.Errorf("%d of %d questions were answered before the ping: the test did not put it behind them", answeredBeforePing, n)
	}
}

// TestStdioHugeLineBounded sends a 100 MiB line to `pgmcp serve` over
// stdio (built without the race detector) and measures the growth of its
// high-water RSS: the line is refused with a JSON-RPC error (-32600,
// request_too_large) while at most the 4 MiB limit of it is held, and the
// next request is served. mcp-go read the whole line into memory (699 MB
// in the issue).
//
//	go test -count=1 -run TestStdioHugeLineBounded -v ./tests/
func TestStdioHugeLineBounded(t *testing.T) {
	bin, err := plainBinary()
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDB(t, pgtest.Demo)
	s := startRawStdio(t, bin, baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t)))
	s.initialize(t)
	warm := s.expect("1")
	s.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_schema","arguments":{}}}`)
	wait(t, warm, 60*time.Second, "get_schema")
	pid := s.cmd.Process.Pid
	before := vmHWM(t, pid)

	refused, ran := s.expect("null"), s.expect("2")
	chunk := strings.Repeat("a", 1<<20)
	if _, err := io.WriteString(s.in, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"query","arguments":{"sql":"SELECT '`); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := io.WriteString(s.in, chunk); err != nil {
			t.Fatalf("pgmcp stopped reading the long line: %v\n%s", err, s.stderr.String())
		}
	}
	after := s.expect("3")
	s.send(t, `' AS x"}}}`)
	s.send(t, `{"jsonrpc":"2.0","id":3,"method":"ping"}`)
	var a rawAnswer
	select { // a server that read the line whole answers its id
	case a = <-refused:
	case a = <-ran:
	case <-time.After(120 * time.Second):
		t.Fatalf("no answer to the 100 MiB line:\n%s", s.stderr.String())
	}
	e, _ := a.body["error"].(map[string]any)
	if e == nil || e["code"] != float64(-32600) || a.code() != "request_too_large" {
		t.Errorf("the 100 MiB line got %v, want a -32600 error with data.code request_too_large", a.body)
	}
	t.Logf("answer: %v", e["message"])
	if p := wait(t, after, 30*time.Second, "the ping after the long line"); p.code() != "" {
		t.Errorf("ping after the long line: %v", p.body)
	}
	grew := vmHWM(t, pid) - before
	t.Logf("VmHWM %d MB before the 100 MiB line, grew by %d MB", before>>10, grew>>10)
	if grew > 48<<10 {
		t.Errorf("reading a 100 MiB line raised the peak RSS by %d MB, want under 48 MB", grew>>10)
	}
}
