package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---- The scripted OpenAI-compatible fake ----

// seen is one request the fake received.
type seen struct {
	header http.Header
	body   map[string]json.RawMessage
	path   string
}

// fake is an OpenAI-compatible chat completions server that answers each
// request with the next handler of its script (the last one repeats).
type fake struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	script []http.HandlerFunc
	reqs   []seen
}

func newFake(t *testing.T, script ...http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{t: t, script: script}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("fake: read body: %v", err)
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("fake: request body is not a JSON object: %v: %s", err, raw)
		}
		f.mu.Lock()
		n := len(f.reqs)
		f.reqs = append(f.reqs, seen{header: r.Header.Clone(), body: body, path: r.URL.Path})
		h := f.script[min(n, len(f.script)-1)]
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(raw))
		h(w, r)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) url() string { return f.srv.URL + "/v1" }

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *fake) req(i int) seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i >= len(f.reqs) {
		f.t.Fatalf("fake: no request %d (got %d)", i, len(f.reqs))
	}
	return f.reqs[i]
}

// reply answers with a completion whose content is content.
func reply(content string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"served-model",
			"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}`, content)
	}
}

// status answers with an HTTP error in OpenAI's error format.
func status(code int, message string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error","param":null,"code":null}}`, message)
	}
}

// raw answers with a status and a body verbatim.
func raw(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// hang never answers; it returns when the client goes away.
func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// ---- Test clients ----

// clock is a settable clock for the breaker.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sleeper records the backoff delays instead of sleeping.
type sleeper struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeper) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// newTestClient builds a client with a recording sleeper, no jitter (the
// full backoff ceiling) and a fake clock.
func newTestClient(t *testing.T, cfg Config) (*Client, *sleeper, *clock) {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = "test-model"
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s := &sleeper{}
	clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	c.sleep = s.sleep
	c.jitter = func(d time.Duration) time.Duration { return d }
	c.now = clk.now
	return c, s, clk
}

func simpleRequest() Request {
	return Request{Messages: []Message{
		{Role: RoleSystem, Content: "You write PostgreSQL."},
		{Role: RoleUser, Content: "How many users?"},
	}, MaxTokens: 1024}
}

// wantCode asserts err is an *Error with code.
func wantCode(t *testing.T, err error, code Code) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T); want *llm.Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%s; cause %v); want %s", e.Code, e.Message, e.Err, code)
	}
	return e
}

// ---- Tests ----

// A request's temperature reaches the wire as asked (candidates beyond the
// first sample at a higher one); one out of range is refused before any
// request.
func TestCompleteSendsRequestTemperature(t *testing.T) {
	f := newFake(t, reply("SELECT 1"))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", Model: "m"})
	req := simpleRequest()
	req.Temperature = 0.7
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := string(f.req(0).body["temperature"]); got != "0.7" {
		t.Errorf(`"temperature" = %q; want 0.7`, got)
	}
	req.Temperature = 3
	_, err := c.Complete(context.Background(), req)
	wantCode(t, err, CodeBadRequest)
}

func TestCompleteRequestAndResponse(t *testing.T) {
	f := newFake(t, reply("SELECT count(*) FROM users;"))
	c, sl, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "sk-test-key", Model: "gpt-4o-mini"})
	resp, err := c.Complete(context.Background(), simpleRequest())
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.Content != "SELECT count(*) FROM users;" || resp.Model != "served-model" || resp.FinishReason != "stop" {
		t.Errorf("resp = %+v", resp)
	}
	if resp.Usage != (Usage{PromptTokens: 12, CompletionTokens: 5, TotalTokens: 17}) {
		t.Errorf("usage = %+v", resp.Usage)
	}
	if resp.Attempts != 1 || resp.Latency <= 0 || len(sl.got()) != 0 {
		t.Errorf("attempts = %d, latency = %s, sleeps = %v", resp.Attempts, resp.Latency, sl.got())
	}

	r := f.req(0)
	if r.path != "/v1/chat/completions" {
		t.Errorf("path = %s", r.path)
	}
	if got := r.header.Get("Authorization"); got != "Bearer sk-test-key" {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := string(r.body["temperature"]); got != "0" {
		t.Errorf(`"temperature" = %q; want 0 on the wire`, got)
	}
	if got := string(r.body["max_tokens"]); got != "1024" {
		t.Errorf(`"max_tokens" = %q`, got)
	}
	if got := string(r.body["model"]); got != `"gpt-4o-mini"` {
		t.Errorf(`"model" = %s`, got)
	}
	if _, ok := r.body["response_format"]; ok {
		t.Error("response_format sent without JSONMode")
	}
	var msgs []struct{ Role, Content string }
	if err := json.Unmarshal(r.body["messages"], &msgs); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Role != "system" || msgs[0].Content != "You write PostgreSQL." ||
		msgs[1].Role != "user" || msgs[1].Content != "How many users?" {
		t.Errorf("messages = %+v", msgs)
	}
}

func TestCompleteWithoutAPIKeySendsNoAuthorization(t *testing.T) {
	f := newFake(t, reply("SELECT 1"))
	// A trailing slash on the base URL is fine.
	c, _, _ := newTestClient(t, Config{BaseURL: f.url() + "/", Model: "llama3.1"})
	if _, err := c.Complete(context.Background(), simpleRequest()); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	r := f.req(0)
	if v, ok := r.header["Authorization"]; ok {
		t.Errorf("Authorization header sent without a key: %q", v)
	}
	if r.path != "/v1/chat/completions" {
		t.Errorf("path = %s", r.path)
	}
}

func TestRetryOn429HonoursRetryAfter(t *testing.T) {
	f := newFake(t, status(429, "Rate limit reached", "Retry-After", "2"), reply("SELECT 1"))
	c, sl, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k"})
	resp, err := c.Complete(context.Background(), simpleRequest())
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.Attempts != 2 || f.count() != 2 {
		t.Errorf("attempts = %d, requests = %d; want 2", resp.Attempts, f.count())
	}
	if d := sl.got(); len(d) != 1 || d[0] != 2*time.Second {
		t.Errorf("delays = %v; want [2s] (Retry-After)", d)
	}
}

func TestRetryAfterTooLongFailsAtOnce(t *testing.T) {
	f := newFake(t, status(429, "slow down", "Retry-After", "120"), reply("SELECT 1"))
	c, sl, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k"})
	_, err := c.Complete(context.Background(), simpleRequest())
	e := wantCode(t, err, CodeUnavailable)
	if e.RetryAfter != 120*time.Second {
		t.Errorf("RetryAfter = %s; want 2m0s", e.RetryAfter)
	}
	if f.count() != 1 || len(sl.got()) != 0 {
		t.Errorf("requests = %d, sleeps = %v; want 1 request, no sleep", f.count(), sl.got())
	}
}

func TestServerErrorsExhaustRetries(t *testing.T) {
	f := newFake(t, status(500, "internal error"))
	c, sl, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", MaxRetries: 3})
	_, err := c.Complete(context.Background(), simpleRequest())
	wantCode(t, err, CodeUnavailable)
	if f.count() != 4 {
		t.Errorf("requests = %d; want 4 (1 + 3 retries)", f.count())
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
	if got := sl.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delays = %v; want %v (exponential backoff ceilings)", got, want)
	}
}

func TestRetriedStatuses(t *testing.T) {
	for _, code := range []int{408, 429, 500, 502, 503, 504} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := newFake(t, status(code, "x"), reply("SELECT 1"))
			c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k"})
			resp, err := c.Complete(context.Background(), simpleRequest())
			if err != nil || resp.Attempts != 2 {
				t.Fatalf("Complete: %v, %+v; want success on the 2nd attempt", err, resp)
			}
		})
	}
}

func TestBadRequestIsNotRetried(t *testing.T) {
	for _, code := range []int{400, 404, 413, 422, 501} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := newFake(t, status(code, "This model's maximum context length is 8192 tokens."))
			c, sl, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k"})
			_, err := c.Complete(context.Background(), simpleRequest())
			want := CodeBadRequest
			if code >= 500 {
				want = CodeUnavailable
			}
			wantCode(t, err, want)
			if f.count() != 1 || len(sl.got()) != 0 {
				t.Errorf("requests = %d, sleeps = %v; want no retry", f.count(), sl.got())
			}
		})
	}
}

func TestUnauthorizedNeverEchoesTheKey(t *testing.T) {
	const key = "sk-proj-SECRET1234567890"
	f := newFake(t, status(401, "Incorrect API key provided: "+key+". You can find your API key at https://platform.openai.com."))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: key})
	_, err := c.Complete(context.Background(), simpleRequest())
	e := wantCode(t, err, CodeBadRequest)
	if f.count() != 1 {
		t.Errorf("requests = %d; want 1", f.count())
	}
	for what, s := range map[string]string{"Message": e.Message, "Error()": e.Error(), "Err": fmt.Sprint(e.Err)} {
		if strings.Contains(s, key) || strings.Contains(s, "SECRET") {
			t.Errorf("%s contains the key: %q", what, s)
		}
	}
}

func TestLogsNeverHoldTheKey(t *testing.T) {
	const key = "sk-proj-LOGSECRET42"
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFake(t, status(503, "overloaded; key "+key), status(401, "Incorrect API key provided: "+key))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: key, Logger: log})
	log.Info("config", "llm", Config{BaseURL: f.url(), APIKey: key, Model: "m"})
	_, err := c.Complete(context.Background(), simpleRequest())
	wantCode(t, err, CodeBadRequest)
	if buf.Len() == 0 {
		t.Fatal("nothing was logged")
	}
	if strings.Contains(buf.String(), "LOGSECRET") {
		t.Errorf("the key was logged:\n%s", buf.String())
	}
}

func TestBadRequestRedactsKeyFromServerMessage(t *testing.T) {
	const key = "sk-other-SECRET"
	f := newFake(t, status(400, "bad header Bearer "+key))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: key})
	_, err := c.Complete(context.Background(), simpleRequest())
	e := wantCode(t, err, CodeBadRequest)
	if strings.Contains(e.Message, key) || strings.Contains(fmt.Sprint(e.Err), key) {
		t.Errorf("the key leaked: %q / %v", e.Message, e.Err)
	}
}

func TestMalformedResponse(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"html":       raw(200, "<html><body>Welcome to nginx!</body></html>"),
		"truncated":  raw(200, `{"id":"x","choices":[{"message":{"content":"SEL`),
		"wrong type": raw(200, `{"choices":"nope"}`),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, h)
			c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", MaxRetries: 2})
			_, err := c.Complete(context.Background(), simpleRequest())
			wantCode(t, err, CodeUnavailable)
		})
	}
	// An error status with a non-JSON body (a proxy's HTML page).
	f := newFake(t, raw(502, "<html>Bad Gateway</html>"), reply("SELECT 1"))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k"})
	if resp, err := c.Complete(context.Background(), simpleRequest()); err != nil || resp.Attempts != 2 {
		t.Fatalf("502 with an HTML body: %v, %+v; want a retried success", err, resp)
	}
}

func TestNoChoicesAndRefusals(t *testing.T) {
	cases := map[string]struct {
		body string
		code Code
	}{
		"no choices": {`{"model":"m","choices":[]}`, CodeBadOutput},
		"refusal field": {`{"model":"m","choices":[{"message":{"role":"assistant","content":"",
			"refusal":"I can't help with that."},"finish_reason":"stop"}]}`, CodeRefused},
		"content filter": {`{"model":"m","choices":[{"message":{"role":"assistant","content":null},
			"finish_reason":"content_filter"}]}`, CodeRefused},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, raw(200, tc.body))
			c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k"})
			_, err := c.Complete(context.Background(), simpleRequest())
			wantCode(t, err, tc.code)
			if f.count() != 1 {
				t.Errorf("requests = %d; want 1", f.count())
			}
		})
	}
}

func TestHangingServerTimesOut(t *testing.T) {
	f := newFake(t, hang)
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := c.Complete(context.Background(), simpleRequest())
	elapsed := time.Since(start)
	wantCode(t, err, CodeTimeout)
	if elapsed < 200*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("took %s; want about 200ms", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v should wrap context.DeadlineExceeded", err)
	}
}

func TestTimeoutCoversRetries(t *testing.T) {
	// Each attempt fails fast with 503 but the backoff really sleeps: the
	// call must still end within Timeout, as unavailable (giving up when
	// the next wait would outlast it) or timeout.
	f := newFake(t, status(503, "overloaded"))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", Timeout: 300 * time.Millisecond, MaxRetries: 10})
	c.sleep = sleepCtx
	c.jitter = func(time.Duration) time.Duration { return 100 * time.Millisecond }
	start := time.Now()
	_, err := c.Complete(context.Background(), simpleRequest())
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %s; want about 300ms", elapsed)
	}
	var e *Error
	if !errors.As(err, &e) || (e.Code != CodeUnavailable && e.Code != CodeTimeout) {
		t.Fatalf("err = %v; want unavailable or timeout", err)
	}
	if n := f.count(); n < 2 || n > 4 {
		t.Errorf("requests = %d; want 2-4 within the deadline", n)
	}
}

func TestCancellation(t *testing.T) {
	f := newFake(t, hang)
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", Timeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Complete(ctx, simpleRequest())
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %s after cancellation", elapsed)
	}
	wantCode(t, err, CodeCancelled)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v should wrap context.Canceled", err)
	}

	// The caller's own deadline: a timeout, wrapping DeadlineExceeded.
	ctx, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	_, err = c.Complete(ctx, simpleRequest())
	wantCode(t, err, CodeTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v should wrap context.DeadlineExceeded", err)
	}

	// Already cancelled: no request at all.
	n := f.count()
	ctx, cancel3 := context.WithCancel(context.Background())
	cancel3()
	_, err = c.Complete(ctx, simpleRequest())
	wantCode(t, err, CodeCancelled)
	if f.count() != n {
		t.Error("a request was sent with a cancelled context")
	}
	// Cancellations do not count against the server.
	if s := c.breaker.current(); s != stateClosed {
		t.Errorf("breaker = %s after cancellations; want closed", s)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	f := newFake(t, status(503, "busy"))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", Timeout: 10 * time.Second})
	c.sleep = sleepCtx
	c.jitter = func(time.Duration) time.Duration { return 5 * time.Second }
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Complete(ctx, simpleRequest())
	wantCode(t, err, CodeCancelled)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %s: the backoff sleep ignored the cancellation", elapsed)
	}
	if f.count() != 1 {
		t.Errorf("requests = %d; want 1 (no retry after cancellation)", f.count())
	}
}

func TestCircuitBreaker(t *testing.T) {
	var mu sync.Mutex
	healthy := false
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := healthy
		mu.Unlock()
		if ok {
			reply("SELECT 1")(w, r)
			return
		}
		status(503, "down")(w, r)
	})
	c, _, clk := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", MaxRetries: 1,
		BreakerThreshold: 3, BreakerCooldown: 30 * time.Second})
	ctx := context.Background()

	for i := range 3 {
		_, err := c.Complete(ctx, simpleRequest())
		wantCode(t, err, CodeUnavailable)
		if i < 2 && c.breaker.current() != stateClosed {
			t.Fatalf("breaker opened after %d failures", i+1)
		}
	}
	if f.count() != 6 {
		t.Fatalf("requests = %d; want 6 (3 calls × 2 attempts)", f.count())
	}
	// Open: fails fast, without a request.
	clk.advance(10 * time.Second)
	_, err := c.Complete(ctx, simpleRequest())
	e := wantCode(t, err, CodeCircuitOpen)
	if e.RetryAfter != 20*time.Second {
		t.Errorf("RetryAfter = %s; want 20s (until the probe)", e.RetryAfter)
	}
	if f.count() != 6 {
		t.Errorf("requests = %d; the open breaker let a call through", f.count())
	}

	// After the cooldown a probe goes through; it fails: open again.
	clk.advance(20 * time.Second)
	_, err = c.Complete(ctx, simpleRequest())
	wantCode(t, err, CodeUnavailable)
	if f.count() != 8 {
		t.Errorf("requests = %d; want the probe's 2 attempts", f.count())
	}
	_, err = c.Complete(ctx, simpleRequest())
	wantCode(t, err, CodeCircuitOpen)

	// The next probe succeeds: closed again.
	mu.Lock()
	healthy = true
	mu.Unlock()
	clk.advance(30 * time.Second)
	if _, err := c.Complete(ctx, simpleRequest()); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if c.breaker.current() != stateClosed {
		t.Fatalf("breaker = %s after a successful probe; want closed", c.breaker.current())
	}
	if _, err := c.Complete(ctx, simpleRequest()); err != nil {
		t.Fatalf("after closing: %v", err)
	}
}

func TestBadRequestsDoNotOpenTheBreaker(t *testing.T) {
	f := newFake(t, status(401, "bad key"))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", BreakerThreshold: 2})
	for range 5 {
		_, err := c.Complete(context.Background(), simpleRequest())
		wantCode(t, err, CodeBadRequest)
	}
	if f.count() != 5 || c.breaker.current() != stateClosed {
		t.Errorf("requests = %d, breaker = %s; want 5 and closed", f.count(), c.breaker.current())
	}
}

func TestBreakerDisabled(t *testing.T) {
	f := newFake(t, status(503, "down"))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", MaxRetries: -1, BreakerThreshold: -1})
	for range 10 {
		_, err := c.Complete(context.Background(), simpleRequest())
		wantCode(t, err, CodeUnavailable)
	}
	if f.count() != 10 {
		t.Errorf("requests = %d; want 10 (no retries, no breaker)", f.count())
	}
}

func TestResponseFormatFallback(t *testing.T) {
	// Like llama.cpp or an older vLLM: no JSON mode.
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		if _, ok := body["response_format"]; ok {
			status(400, "Unsupported parameter: response_format is not supported by this server")(w, r)
			return
		}
		reply(`{"sql": "SELECT 1"}`)(w, r)
	})
	c, sl, _ := newTestClient(t, Config{BaseURL: f.url(), Model: "qwen2.5-coder", JSONMode: true})
	resp, err := c.Complete(context.Background(), simpleRequest())
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.Attempts != 2 || f.count() != 2 || len(sl.got()) != 0 {
		t.Errorf("attempts = %d, requests = %d, sleeps = %v; want 2, 2, none", resp.Attempts, f.count(), sl.got())
	}
	if got := string(f.req(0).body["response_format"]); got != `{"type":"json_object"}` {
		t.Errorf("first request response_format = %s", got)
	}
	if _, ok := f.req(1).body["response_format"]; ok {
		t.Error("the retry still sent response_format")
	}
	// Remembered: the next call does not ask again.
	if _, err := c.Complete(context.Background(), simpleRequest()); err != nil {
		t.Fatal(err)
	}
	if f.count() != 3 {
		t.Errorf("requests = %d; want 3", f.count())
	}
	if _, ok := f.req(2).body["response_format"]; ok {
		t.Error("response_format sent again after the server rejected it")
	}
}

func TestResponseFormatKeptWhenAccepted(t *testing.T) {
	f := newFake(t, reply(`{"sql":"SELECT 1"}`))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", JSONMode: true})
	for range 2 {
		if _, err := c.Complete(context.Background(), simpleRequest()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if got := string(f.req(i).body["response_format"]); got != `{"type":"json_object"}` {
			t.Errorf("request %d response_format = %q", i, got)
		}
	}
}

func TestTemperatureFallback(t *testing.T) {
	f := newFake(t, status(400, "Unsupported value: 'temperature' does not support 0 with this model."), reply("SELECT 1"))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k"})
	resp, err := c.Complete(context.Background(), simpleRequest())
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.Attempts != 2 {
		t.Errorf("attempts = %d; want 2", resp.Attempts)
	}
	if _, ok := f.req(1).body["temperature"]; ok {
		t.Error("the retry still sent temperature")
	}
}

func TestReasoningModelRequestShape(t *testing.T) {
	f := newFake(t, reply("SELECT 1"))
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", Model: "o3-mini"})
	if _, err := c.Complete(context.Background(), simpleRequest()); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	r := f.req(0)
	// The visible answer's 1024, plus room for the hidden reasoning.
	if got := string(r.body["max_completion_tokens"]); got != "9216" {
		t.Errorf("max_completion_tokens = %q", got)
	}
	for _, k := range []string{"max_tokens", "temperature"} {
		if _, ok := r.body[k]; ok {
			t.Errorf("%s sent to a reasoning model", k)
		}
	}
}

func TestNetworkErrorsAreRetried(t *testing.T) {
	t.Run("closed server", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL + "/v1"
		srv.Close()
		c, sl, _ := newTestClient(t, Config{BaseURL: base, APIKey: "k", MaxRetries: 2})
		_, err := c.Complete(context.Background(), simpleRequest())
		wantCode(t, err, CodeUnavailable)
		if len(sl.got()) != 2 {
			t.Errorf("sleeps = %v; want 2 retries", sl.got())
		}
	})
	t.Run("connection dropped then success", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			conn.Close()
		}, reply("SELECT 1"))
		c, sl, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k"})
		resp, err := c.Complete(context.Background(), simpleRequest())
		if err != nil {
			t.Fatalf("Complete: %v", err)
		}
		if resp.Attempts != 2 || len(sl.got()) != 1 {
			t.Errorf("attempts = %d, sleeps = %v; want 2 and 1", resp.Attempts, sl.got())
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	var mu sync.Mutex
	n := 0
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		odd := n%3 == 0
		mu.Unlock()
		if odd {
			status(503, "busy")(w, r)
			return
		}
		reply("SELECT 1")(w, r)
	})
	c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", JSONMode: true, MaxRetries: 5})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := c.Complete(context.Background(), simpleRequest()); err != nil {
				t.Errorf("Complete: %v", err)
			}
		})
	}
	wg.Wait()
}

func TestRequestValidation(t *testing.T) {
	c, _, _ := newTestClient(t, Config{BaseURL: "http://127.0.0.1:1/v1"})
	for name, req := range map[string]Request{
		"no messages": {},
		"bad role":    {Messages: []Message{{Role: "tool", Content: "x"}}},
		"negative":    {Messages: []Message{{Role: RoleUser, Content: "x"}}, MaxTokens: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Complete(context.Background(), req)
			wantCode(t, err, CodeBadRequest)
		})
	}
}

func TestNewAndEnabled(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg     Config
		enabled bool
		ok      bool
	}{
		"zero":                {Config{}, false, false},
		"model only":          {Config{Model: "gpt-4o"}, false, false},
		"openai with key":     {Config{Model: "gpt-4o", APIKey: "sk-x"}, true, true},
		"local without key":   {Config{Model: "llama3", BaseURL: "http://localhost:11434/v1"}, true, true},
		"key but no model":    {Config{APIKey: "sk-x"}, false, false},
		"not a URL":           {Config{Model: "m", BaseURL: "localhost:11434"}, true, false},
		"ftp URL":             {Config{Model: "m", BaseURL: "ftp://host/v1"}, true, false},
		"URL with a query":    {Config{Model: "m", BaseURL: "http://host/v1?x=1"}, true, false},
		"whitespace model":    {Config{Model: "  ", APIKey: "k"}, false, false},
		"https with port/v1/": {Config{Model: "m", BaseURL: "https://vllm.internal:8000/v1/"}, true, true},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.cfg.Enabled(); got != tc.enabled {
				t.Errorf("Enabled() = %t; want %t", got, tc.enabled)
			}
			c, err := New(tc.cfg)
			if tc.ok {
				if err != nil || c == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			wantCode(t, err, CodeNotConfigured)
		})
	}
	c, err := New(Config{Model: "gpt-4o", APIKey: "sk"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Host() != "api.openai.com" || c.Model() != "gpt-4o" {
		t.Errorf("defaults: host %q model %q", c.Host(), c.Model())
	}
	if c.timeout != DefaultTimeout || c.maxRetries != DefaultMaxRetries || c.breaker.threshold != DefaultBreakerThreshold ||
		c.breaker.cooldown != DefaultBreakerCooldown {
		t.Errorf("defaults not applied: timeout %s retries %d breaker %d/%s",
			c.timeout, c.maxRetries, c.breaker.threshold, c.breaker.cooldown)
	}
}

func TestConfigDoesNotPrintTheKey(t *testing.T) {
	cfg := Config{Model: "m", APIKey: "sk-SECRET", BaseURL: "https://user:pw@host/v1"}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), cfg.LogValue().String()} {
		if strings.Contains(s, "SECRET") || strings.Contains(s, "pw@") {
			t.Errorf("config printed a secret: %s", s)
		}
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{http.Header{"Retry-After": {"1.5"}}, 1500 * time.Millisecond},
		{http.Header{"Retry-After": {now.Add(7 * time.Second).Format(http.TimeFormat)}}, 7 * time.Second},
		{http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"Retry-After": {"-1"}}, 0},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond},
		{http.Header{}, 0},
		{nil, 0},
	} {
		if got := retryAfter(tc.h, now); got != tc.want {
			t.Errorf("retryAfter(%v) = %s; want %s", tc.h, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for n, w := range want {
		if got := backoff(n); got != w {
			t.Errorf("backoff(%d) = %s; want %s", n, got, w)
		}
	}
	if backoff(1000) != backoffCap {
		t.Error("backoff must stay capped for large n")
	}
	for range 1000 {
		if d := fullJitter(time.Second); d < 0 || d > time.Second {
			t.Fatalf("fullJitter = %s out of [0, 1s]", d)
		}
	}
}

func TestBreakerHalfOpenAllowsOneProbe(t *testing.T) {
	b := newBreaker(1, time.Minute, 10*time.Second)
	t0 := time.Unix(0, 0)
	b.done(t0, false, outcomeFailure)
	if _, _, ok := b.allow(t0); ok {
		t.Fatal("open breaker allowed a call")
	}
	t1 := t0.Add(time.Minute)
	probe, _, ok := b.allow(t1)
	if !ok || !probe {
		t.Fatalf("after the cooldown: probe=%t ok=%t; want a probe", probe, ok)
	}
	if _, wait, ok := b.allow(t1.Add(time.Second)); ok || wait != 9*time.Second {
		t.Fatalf("second call during the probe: ok=%t wait=%s; want refused, 9s", ok, wait)
	}
	// A cancelled probe frees the slot without deciding anything.
	b.done(t1, true, outcomeNeutral)
	if b.current() != stateHalfOpen {
		t.Fatalf("state = %s; want half-open", b.current())
	}
	probe, _, ok = b.allow(t1)
	if !ok || !probe {
		t.Fatal("the freed probe slot was not given out")
	}
	b.done(t1, true, outcomeSuccess)
	if b.current() != stateClosed {
		t.Fatalf("state = %s; want closed", b.current())
	}
	var nilBreaker *breaker
	if _, _, ok := nilBreaker.allow(t1); !ok {
		t.Error("a nil (disabled) breaker must allow")
	}
	nilBreaker.done(t1, false, outcomeFailure)
}

func TestBreakerSuccessResetsFailures(t *testing.T) {
	b := newBreaker(3, time.Minute, time.Second)
	t0 := time.Unix(0, 0)
	for range 5 {
		b.done(t0, false, outcomeFailure)
		b.done(t0, false, outcomeFailure)
		b.done(t0, false, outcomeSuccess)
	}
	if b.current() != stateClosed {
		t.Fatalf("non-consecutive failures opened the breaker")
	}
}
