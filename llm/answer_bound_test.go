package llm

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingTransport counts the bytes the client reads of response bodies:
// what pgmcp actually pulled into memory, whatever the server sent.
type countingTransport struct {
	rt   http.RoundTripper
	read atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{rc: resp.Body, n: &c.read}
	}
	return resp, err
}

type countingBody struct {
	rc io.ReadCloser
	n  *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

func countingClient() (*http.Client, *countingTransport) {
	ct := &countingTransport{rt: http.DefaultTransport.(*http.Transport).Clone()}
	return &http.Client{Transport: ct}, ct
}

// endless answers 200 with the start of a completion whose content never
// ends: it writes until the client goes away (or 64 MiB, as a backstop).
func endless(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"SELECT '`)
	chunk := strings.Repeat("x", 64<<10)
	for i := 0; i < 1024; i++ {
		if _, err := io.WriteString(w, chunk); err != nil {
			return
		}
		if r.Context().Err() != nil {
			return
		}
	}
}

func TestAnswerOverBoundRefused(t *testing.T) {
	at := strings.Repeat("x", DefaultMaxAnswerBytes)
	f := newFake(t, reply(at), reply(at+"y"))
	c, sl, _ := newTestClient(t, Config{BaseURL: f.url()})
	if c.MaxAnswerBytes() != DefaultMaxAnswerBytes || c.maxBody != 1<<20 {
		t.Fatalf("defaults: answer %d, body %d; want 64 KiB and 1 MiB", c.MaxAnswerBytes(), c.maxBody)
	}

	// An answer exactly at the bound is accepted.
	resp, err := c.Complete(context.Background(), simpleRequest())
	if err != nil || len(resp.Content) != DefaultMaxAnswerBytes {
		t.Fatalf("an answer at the bound: %v (%d bytes)", err, len(resp.Content))
	}
	// One byte over it is refused with its code, the answer not returned,
	// and not retried.
	resp, err = c.Complete(context.Background(), simpleRequest())
	e := wantCode(t, err, CodeAnswerTooLarge)
	if resp != nil {
		t.Errorf("an oversize answer came back: %d bytes", len(resp.Content))
	}
	if f.count() != 2 || len(sl.got()) != 0 {
		t.Errorf("requests = %d, sleeps %v: an oversize answer must not be retried", f.count(), sl.got())
	}
	if !strings.Contains(e.Message, "64 KiB") || len(e.Message) > 400 || strings.Contains(e.Message, "xxxx") {
		t.Errorf("message = %q: want the bound, short, none of the answer", e.Message)
	}
	if !errors.Is(err, errAnswerTooLarge) {
		t.Errorf("the cause is %v", e.Err)
	}
}

func TestMaxAnswerBytesSetting(t *testing.T) {
	f := newFake(t, reply(strings.Repeat("x", 2048)))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), MaxAnswerBytes: 1024})
	if c.maxBody != minBodyCap {
		t.Errorf("body cap = %d, want the 1 MiB floor", c.maxBody)
	}
	_, err := c.Complete(context.Background(), simpleRequest())
	if e := wantCode(t, err, CodeAnswerTooLarge); !strings.Contains(e.Message, "1 KiB") {
		t.Errorf("message = %q", e.Message)
	}
	big, _, _ := newTestClient(t, Config{BaseURL: f.url(), MaxAnswerBytes: 256 << 10})
	if big.maxBody != 4<<20 {
		t.Errorf("body cap for 256 KiB answers = %d, want 4 MiB (16×)", big.maxBody)
	}
}

// TestBodyCapStopsReading: a server sending an endless answer costs the
// client the body cap and no more; the call ends at once with
// CodeAnswerTooLarge rather than reading on to the end or the timeout.
func TestBodyCapStopsReading(t *testing.T) {
	f := newFake(t, endless)
	hc, ct := countingClient()
	c, sl, _ := newTestClient(t, Config{BaseURL: f.url(), HTTPClient: hc, Timeout: 30 * time.Second})
	start := time.Now()
	_, err := c.Complete(context.Background(), simpleRequest())
	took := time.Since(start)
	e := wantCode(t, err, CodeAnswerTooLarge)
	if !strings.Contains(e.Message, "1 MiB") {
		t.Errorf("message = %q", e.Message)
	}
	if read := ct.read.Load(); read > c.maxBody+64<<10 {
		t.Errorf("read %d bytes of the body, over the %d cap", read, c.maxBody)
	}
	if f.count() != 1 || len(sl.got()) != 0 {
		t.Errorf("requests = %d, sleeps %v: not retried", f.count(), sl.got())
	}
	if took > 5*time.Second {
		t.Errorf("the call took %s", took)
	}
}

// TestErrorBodyCut: an error response with a huge body is read up to
// 64 KiB and handled by its status (a 503 is retried, then unavailable).
func TestErrorBodyCut(t *testing.T) {
	huge := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"message":"`+strings.Repeat("z", 8<<20)+`"}}`)
	}
	f := newFake(t, huge)
	hc, ct := countingClient()
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), HTTPClient: hc, MaxRetries: 1})
	_, err := c.Complete(context.Background(), simpleRequest())
	e := wantCode(t, err, CodeUnavailable)
	if f.count() != 2 {
		t.Errorf("requests = %d, want 2 (the 503 retried once)", f.count())
	}
	if read := ct.read.Load(); read > 2*(maxErrorBodyBytes+32<<10) {
		t.Errorf("read %d bytes of two error bodies, over 2×%d", read, maxErrorBodyBytes)
	}
	if len(e.Message) > 400 {
		t.Errorf("message is %d bytes", len(e.Message))
	}
}

// TestOversizeAnswersOpenTheBreaker: a server that keeps sending oversize
// answers is failing; after the threshold calls fail fast.
func TestOversizeAnswersOpenTheBreaker(t *testing.T) {
	f := newFake(t, reply(strings.Repeat("x", 2048)))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), MaxAnswerBytes: 1024, BreakerThreshold: 2})
	for range 2 {
		_, err := c.Complete(context.Background(), simpleRequest())
		wantCode(t, err, CodeAnswerTooLarge)
	}
	_, err := c.Complete(context.Background(), simpleRequest())
	wantCode(t, err, CodeCircuitOpen)
	if f.count() != 2 {
		t.Errorf("requests = %d, want 2", f.count())
	}
}

// delayed answers content after d (or when the client goes away).
func delayed(d time.Duration, content string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
			reply(content)(w, r)
		case <-r.Context().Done():
		}
	}
}

// TestBudgetCoversSeveralCalls: calls made under one WithBudget share one
// LLM timeout; the call that runs past it fails with CodeTimeout at the
// budget's deadline, and the context says the budget ran out.
func TestBudgetCoversSeveralCalls(t *testing.T) {
	f := newFake(t, delayed(300*time.Millisecond, "SELECT 1"))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), Timeout: 500 * time.Millisecond})
	start := time.Now()
	ctx, cancel := c.WithBudget(context.Background())
	defer cancel()
	if inner, cancel := c.WithBudget(ctx); inner != ctx {
		t.Error("a nested WithBudget started a second budget")
	} else {
		cancel()
	}
	if Budget(ctx) != 500*time.Millisecond || Budget(context.Background()) != 0 {
		t.Errorf("Budget = %s", Budget(ctx))
	}
	if _, err := c.Complete(ctx, simpleRequest()); err != nil {
		t.Fatalf("first call: %v", err)
	}
	_, err := c.Complete(ctx, simpleRequest())
	took := time.Since(start)
	e := wantCode(t, err, CodeTimeout)
	if took < 450*time.Millisecond || took > 900*time.Millisecond {
		t.Errorf("the two calls took %s, want about the 500ms budget", took)
	}
	if !BudgetSpent(ctx) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errBudgetSpent) {
		t.Errorf("BudgetSpent %v, err %v", BudgetSpent(ctx), err)
	}
	if !strings.Contains(e.Message, "500ms") || !strings.Contains(e.Message, "every attempt and repair") {
		t.Errorf("message = %q", e.Message)
	}
	// A later call under the spent budget fails at once, without a request.
	n := f.count()
	if _, err := c.Complete(ctx, simpleRequest()); err == nil || f.count() != n {
		t.Errorf("a call under a spent budget: %v, requests %d → %d", err, n, f.count())
	}
	// The caller's own cancellation is not a spent budget.
	cctx, ccancel := c.WithBudget(context.Background())
	ccancel()
	if BudgetSpent(cctx) {
		t.Error("a cancelled budget reads as spent")
	}
}

// TestBudgetAndTheBreaker: a call that waited most of a budget for a
// hanging server counts as a failure; one that got only the budget's last
// moments counts as nothing.
func TestBudgetAndTheBreaker(t *testing.T) {
	f := newFake(t, hang)
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), Timeout: 300 * time.Millisecond, BreakerThreshold: 1})

	ctx, cancel := c.WithBudget(context.Background())
	time.Sleep(250 * time.Millisecond) // most of the budget spent elsewhere
	_, err := c.Complete(ctx, simpleRequest())
	cancel()
	wantCode(t, err, CodeTimeout)
	if s := c.breaker.current(); s != stateClosed {
		t.Fatalf("after a call cut short by the end of a budget the breaker is %s", s)
	}

	ctx, cancel = c.WithBudget(context.Background())
	_, err = c.Complete(ctx, simpleRequest())
	cancel()
	wantCode(t, err, CodeTimeout)
	if s := c.breaker.current(); s != stateOpen {
		t.Fatalf("after a call that waited the whole budget the breaker is %s, want open", s)
	}
}
