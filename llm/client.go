package llm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultBaseURL          = "https://api.openai.com/v1"
	DefaultTimeout          = 60 * time.Second
	DefaultMaxRetries       = 3
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 30 * time.Second
	// DefaultMaxAnswerBytes is the longest answer accepted: 64 KiB, eight
	// times what the 2048 tokens pgmcp asks for can hold.
	DefaultMaxAnswerBytes = 64 << 10
)

// The response body cap is bodyCapFactor × MaxAnswerBytes, at least
// minBodyCap: room for JSON escapes (up to 6 bytes a byte), the reasoning
// some servers send beside the answer, and the envelope.
const (
	bodyCapFactor = 16
	minBodyCap    = 1 << 20
)

// Retry tuning. Not configurable: the defaults suit every server we target.
const (
	backoffBase = 500 * time.Millisecond
	backoffCap  = 8 * time.Second
	// maxRetryWait is the longest Retry-After the client waits out inside a
	// call; a longer one ends the call with CodeUnavailable and RetryAfter.
	maxRetryWait = 30 * time.Second
)

// Config configures a Client. The zero value is not configured (see
// Enabled); zero-valued numeric fields take the Default* values.
type Config struct {
	// BaseURL is the OpenAI-compatible API root, including the version
	// path: https://api.openai.com/v1 (the default), or a local server such
	// as http://localhost:11434/v1 (Ollama), http://host:8000/v1 (vLLM),
	// http://host:8080/v1 (llama.cpp), http://localhost:1234/v1 (LM Studio).
	// A trailing slash is ignored; nothing is guessed or appended.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>". It may be empty for
	// a local server, in which case no Authorization header is sent.
	APIKey string
	// Model is the model name, as the server knows it. Required.
	Model string
	// Timeout bounds a whole Complete call, retries and backoff included,
	// and the budget of WithBudget (a question with its repairs). Zero
	// means DefaultTimeout (60s).
	Timeout time.Duration
	// MaxAnswerBytes is the longest answer (the message content) a call
	// accepts; a longer one fails with CodeAnswerTooLarge. The response
	// body is capped at 16 times this (at least 1 MiB) while it is read,
	// so a server that sends more costs no more memory than that. Zero or
	// negative means DefaultMaxAnswerBytes (64 KiB).
	MaxAnswerBytes int
	// MaxRetries is how many times a failed attempt is retried (429, 408,
	// 500, 502, 503, 504, network errors). Zero means DefaultMaxRetries (3);
	// a negative value disables retries.
	MaxRetries int
	// JSONMode asks for response_format {"type":"json_object"}. If the
	// server rejects it (a 400/422 that mentions it), the call is retried
	// once without it and the client stops asking.
	JSONMode bool
	// BreakerThreshold is how many consecutive failed calls open the circuit
	// breaker. Zero means DefaultBreakerThreshold (5); negative disables the
	// breaker.
	BreakerThreshold int
	// BreakerCooldown is how long the breaker stays open before it lets a
	// probe through. Zero means DefaultBreakerCooldown (30s).
	BreakerCooldown time.Duration
	// HTTPClient sends the requests; nil means a client with a clone of
	// http.DefaultTransport and no overall timeout (Timeout and the
	// context bound the calls).
	HTTPClient *http.Client
	// Logger receives retries, fallbacks and breaker changes; nil discards.
	Logger *slog.Logger
}

// Enabled reports whether c names a model and either an API key or a base
// URL. Without a base URL the client talks to OpenAI, which needs a key; a
// local server named by its base URL may need none.
func (c Config) Enabled() bool {
	return strings.TrimSpace(c.Model) != "" &&
		(strings.TrimSpace(c.APIKey) != "" || strings.TrimSpace(c.BaseURL) != "")
}

// String describes c without its API key.
func (c Config) String() string {
	key := "unset"
	if c.APIKey != "" {
		key = "set"
	}
	return fmt.Sprintf("llm.Config{BaseURL: %q, Model: %q, APIKey: %s, Timeout: %s, MaxRetries: %d, JSONMode: %t, MaxAnswerBytes: %d}",
		redactURL(c.BaseURL), c.Model, key, c.Timeout, c.MaxRetries, c.JSONMode, c.MaxAnswerBytes)
}

// GoString is String: %#v must not print the key either.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the API key out of structured logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", redactURL(c.BaseURL)),
		slog.String("model", c.Model),
		slog.Bool("api_key_set", c.APIKey != ""),
		slog.Duration("timeout", c.Timeout),
		slog.Int("max_retries", c.MaxRetries),
		slog.Bool("json_mode", c.JSONMode),
		slog.Int("max_answer_bytes", c.MaxAnswerBytes),
	)
}

// Role is a chat message's author.
type Role string

// Roles.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Message is one chat message.
type Message struct {
	Role    Role
	Content string
}

// Request is one chat completion request. The model and the response
// format come from the Client.
type Request struct {
	Messages []Message
	// MaxTokens caps the answer's length; zero leaves it to the server.
	MaxTokens int
	// Temperature is the sampling temperature sent (0, the default, asks
	// for the most likely answer; candidates beyond the first ask for
	// more). Reasoning models and servers that reject a temperature get
	// none, whatever it is.
	Temperature float64
}

// Usage is the server-reported token count (zero if it reported none).
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	TotalTokens      int
}

// Response is a successful completion.
type Response struct {
	// Content is the first choice's raw text: pass it to ExtractSQL.
	Content string
	// Model is the model the server says answered (Config.Model if it
	// did not say).
	Model string
	// FinishReason is the server's: "stop", "length" (MaxTokens was
	// reached: the answer may be cut off), ...
	FinishReason string
	Usage        Usage
	// Attempts is the number of HTTP requests made (1 without retries).
	Attempts int
	// Latency is the whole call's wall time, retries and backoff included.
	Latency time.Duration
}

// Client is an OpenAI-compatible chat completion client with retries and a
// circuit breaker. It is safe for concurrent use.
type Client struct {
	oa         *openai.Client
	model      string
	host       string // endpoint host, for messages and logs
	apiKey     string // only to redact it from causes
	timeout    time.Duration
	maxRetries int
	maxAnswer  int   // longest answer content accepted
	maxBody    int64 // longest response body read
	reasoning  bool  // an OpenAI reasoning model: max_completion_tokens, no temperature
	breaker    *breaker
	log        *slog.Logger

	// Adaptive: set once the server has rejected the parameter.
	wantJSON atomic.Bool
	noTemp   atomic.Bool

	// Test seams.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(ceiling time.Duration) time.Duration
}

// New returns a Client for cfg, or a *Error with CodeNotConfigured.
func New(cfg Config) (*Client, error) {
	if !cfg.Enabled() {
		return nil, &Error{Code: CodeNotConfigured,
			Message: "no LLM is configured: set a model, and an API key or a base URL"}
	}
	base := strings.TrimSpace(cfg.BaseURL)
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &Error{Code: CodeNotConfigured,
			Message: "the LLM base URL is not an http(s) URL (expected e.g. http://localhost:11434/v1)"}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, &Error{Code: CodeNotConfigured,
			Message: "the LLM base URL must not have a query or a fragment"}
	}
	base = strings.TrimRight(base, "/")

	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	retries := cfg.MaxRetries
	switch {
	case retries == 0:
		retries = DefaultMaxRetries
	case retries < 0:
		retries = 0
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			hc.Transport = t.Clone()
		}
	}
	key := strings.TrimSpace(cfg.APIKey)
	model := strings.TrimSpace(cfg.Model)
	maxAnswer := cfg.MaxAnswerBytes
	if maxAnswer <= 0 {
		maxAnswer = DefaultMaxAnswerBytes
	}
	maxBody := max(int64(maxAnswer)*bodyCapFactor, minBodyCap)

	oc := openai.DefaultConfig(key)
	oc.BaseURL = base
	oc.HTTPClient = &wire{hc: hc, limit: maxBody}

	c := &Client{
		oa:         openai.NewClientWithConfig(oc),
		model:      model,
		host:       u.Host,
		apiKey:     key,
		timeout:    timeout,
		maxRetries: retries,
		maxAnswer:  maxAnswer,
		maxBody:    maxBody,
		reasoning:  isReasoningModel(model),
		log:        log.With("llm_host", u.Host, "llm_model", model),
		now:        time.Now,
		sleep:      sleepCtx,
		jitter:     fullJitter,
	}
	c.wantJSON.Store(cfg.JSONMode)
	if cfg.BreakerThreshold >= 0 {
		threshold := cfg.BreakerThreshold
		if threshold == 0 {
			threshold = DefaultBreakerThreshold
		}
		cooldown := cfg.BreakerCooldown
		if cooldown <= 0 {
			cooldown = DefaultBreakerCooldown
		}
		c.breaker = newBreaker(threshold, cooldown, timeout)
		c.breaker.onChange = func(from, to breakerState, failures int) {
			switch to {
			case stateOpen:
				c.log.Warn("llm circuit breaker opened", "from", from.String(), "failures", failures, "cooldown", cooldown)
			default:
				c.log.Info("llm circuit breaker state changed", "from", from.String(), "to", to.String())
			}
		}
	}
	return c, nil
}

// Model returns the configured model name.
func (c *Client) Model() string { return c.model }

// Host returns the endpoint's host (and port), for logs and messages.
func (c *Client) Host() string { return c.host }

// Timeout returns the LLM timeout: the bound of a call, and of a budget.
func (c *Client) Timeout() time.Duration { return c.timeout }

// MaxAnswerBytes returns the longest answer a call accepts.
func (c *Client) MaxAnswerBytes() int { return c.maxAnswer }

// budgetKey is the context key of a *budget.
type budgetKey struct{}

// budget is the time a task of several calls may take (WithBudget).
type budget struct {
	d time.Duration
}

// errBudgetSpent is the cause of a budget's deadline.
var errBudgetSpent = errors.New("llm: the time budget is spent")

// WithBudget bounds a task made of several calls, such as a question with
// its repairs, by one LLM timeout from now: every call made with the
// returned context, and whatever else the caller does with it (the
// queries run between the calls), ends at that deadline, and a call cut
// off by it fails with CodeTimeout. When ctx already carries a budget it
// is returned as is, so nested callers share the outer budget.
func (c *Client) WithBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Value(budgetKey{}).(*budget); ok {
		return ctx, func() {}
	}
	ctx = context.WithValue(ctx, budgetKey{}, &budget{d: c.timeout})
	return context.WithTimeoutCause(ctx, c.timeout, errBudgetSpent)
}

// BudgetSpent reports whether ctx has ended because the budget of
// WithBudget ran out (and not because the caller gave up first).
func BudgetSpent(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), errBudgetSpent)
}

// Budget returns the length of the budget ctx carries (zero if none).
func Budget(ctx context.Context) time.Duration {
	if b, ok := ctx.Value(budgetKey{}).(*budget); ok {
		return b.d
	}
	return 0
}

// errCallTimeout is the cause of the per-call deadline (Config.Timeout).
var errCallTimeout = errors.New("llm call timeout")

// Complete sends req and returns the first choice. Failures are *Error:
// see the Code constants. When ctx ends first, the error is CodeCancelled
// (or CodeTimeout for a passed deadline) and wraps ctx's error.
func (c *Client) Complete(ctx context.Context, req Request) (resp *Response, err error) {
	ctx, span := c.startSpan(ctx, req)
	defer func() { endSpan(span, resp, err) }()
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, c.ctxError(ctx, 0, nil)
	}
	probe, wait, ok := c.breaker.allow(c.now())
	if !ok {
		return nil, &Error{
			Code: CodeCircuitOpen,
			Message: fmt.Sprintf("the LLM at %s failed repeatedly; not calling it again for %s",
				c.host, roundUp(wait)),
			RetryAfter: wait,
		}
	}
	var o outcome
	resp, o, err = c.complete(ctx, req)
	c.breaker.done(c.now(), probe, o)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			level := slog.LevelWarn
			if e.Code == CodeCancelled {
				level = slog.LevelDebug
			}
			c.log.Log(ctx, level, "llm call failed", "code", string(e.Code), "message", e.Message, "cause", e.Err)
		}
		return nil, err
	}
	return resp, nil
}

// complete runs the attempts of one call under the call's deadline.
func (c *Client) complete(parent context.Context, req Request) (*Response, outcome, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeoutCause(parent, c.timeout, errCallTimeout)
	defer cancel()

	attempts, retries := 0, 0
	var last error
	for {
		if ctx.Err() != nil {
			return nil, c.ctxOutcome(parent, start), c.ctxError(parent, attempts, last)
		}
		sendJSON := c.wantJSON.Load()
		sendTemp := !c.reasoning && !c.noTemp.Load()
		w := &attempt{temperature: sendTemp, value: req.Temperature}
		attempts++
		res, err := c.oa.CreateChatCompletion(context.WithValue(ctx, attemptKey{}, w), c.chatRequest(req, sendJSON))
		if err == nil {
			resp, o, err := c.response(res, attempts, time.Since(start))
			return resp, o, err
		}
		err = redact(err, c.apiKey)
		last = err
		if ctx.Err() != nil {
			return nil, c.ctxOutcome(parent, start), c.ctxError(parent, attempts, last)
		}
		f := c.classify(err, w, attempts)

		// Parameters some servers reject: drop them for good and try again
		// at once (this does not use up a retry).
		if f.rejects(paramResponseFormat) && sendJSON {
			c.wantJSON.Store(false)
			c.log.Warn("llm server rejected response_format json_object; retrying without it from now on",
				"status", w.status)
			continue
		}
		if f.rejects(paramTemperature) && sendTemp {
			c.noTemp.Store(true)
			c.log.Warn("llm server rejected the temperature; retrying with the server's default from now on",
				"status", w.status, "temperature", req.Temperature)
			continue
		}

		if !f.retryable || retries >= c.maxRetries {
			return nil, f.outcome, f.err
		}
		delay := c.jitter(backoff(retries))
		if f.retryAfter > 0 {
			if f.retryAfter > maxRetryWait || f.retryAfter >= remaining(ctx) {
				return nil, f.outcome, f.err
			}
			delay = f.retryAfter
		}
		if delay >= remaining(ctx) {
			// Waiting would outlast the call: fail now with the real reason.
			return nil, f.outcome, f.err
		}
		retries++
		c.log.Warn("llm attempt failed; retrying", "attempt", attempts, "status", w.status,
			"delay", delay, "retry_after", f.retryAfter, "err", err)
		if err := c.sleep(ctx, delay); err != nil {
			return nil, c.ctxOutcome(parent, start), c.ctxError(parent, attempts, last)
		}
	}
}

// reasoningAllowance is added to a reasoning model's token cap for the
// reasoning it does before answering.
const reasoningAllowance = 8192

// chatRequest builds go-openai's request. Temperature stays 0 in the
// struct (go-openai would drop it: omitempty); the wire adds it.
func (c *Client) chatRequest(req Request, jsonMode bool) openai.ChatCompletionRequest {
	msgs := make([]openai.ChatCompletionMessage, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = openai.ChatCompletionMessage{Role: string(m.Role), Content: m.Content}
	}
	r := openai.ChatCompletionRequest{Model: c.model, Messages: msgs}
	if c.reasoning {
		// max_completion_tokens counts the hidden reasoning too: a cap
		// sized for the visible answer alone can leave it empty.
		if req.MaxTokens > 0 {
			r.MaxCompletionTokens = req.MaxTokens + reasoningAllowance
		}
	} else {
		// max_tokens, deprecated by OpenAI, is what every local server
		// (Ollama, llama.cpp, LM Studio, vLLM) understands.
		//lint:ignore SA1019 max_completion_tokens is not supported by all OpenAI-compatible servers
		r.MaxTokens = req.MaxTokens
	}
	if jsonMode {
		r.ResponseFormat = &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONObject}
	}
	return r
}

// response turns a decoded completion into a Response, or an error for an
// answer that has no content to offer.
func (c *Client) response(res openai.ChatCompletionResponse, attempts int, latency time.Duration) (*Response, outcome, error) {
	if len(res.Choices) == 0 {
		return nil, outcomeSuccess, &Error{Code: CodeBadOutput,
			Message: fmt.Sprintf("the LLM at %s returned no answer (no choices)", c.host)}
	}
	ch := res.Choices[0]
	if n := len(ch.Message.Content); n > c.maxAnswer {
		// Never handed on: an answer this size is not a query to repair,
		// and every copy of it (prompts, logs, audit) would cost as much.
		return nil, outcomeFailure, c.tooLarge(nil, fmt.Sprintf("an answer of %s", sizeText(int64(n))))
	}
	if strings.TrimSpace(ch.Message.Content) == "" {
		switch {
		case ch.Message.Refusal != "":
			return nil, outcomeSuccess, &Error{Code: CodeRefused,
				Message: "the model declined to answer: " + oneLine(ch.Message.Refusal, 200)}
		case ch.FinishReason == openai.FinishReasonContentFilter:
			return nil, outcomeSuccess, &Error{Code: CodeRefused,
				Message: "the LLM provider's content filter blocked the answer"}
		}
	}
	model := res.Model
	if model == "" {
		model = c.model
	}
	return &Response{
		Content:      ch.Message.Content,
		Model:        model,
		FinishReason: string(ch.FinishReason),
		Usage: Usage{
			PromptTokens:     res.Usage.PromptTokens,
			CompletionTokens: res.Usage.CompletionTokens,
			TotalTokens:      res.Usage.TotalTokens,
		},
		Attempts: attempts,
		Latency:  latency,
	}, outcomeSuccess, nil
}

// tooLarge is the error of an answer over the bounds; what describes what
// the server sent.
func (c *Client) tooLarge(cause error, what string) *Error {
	if cause == nil {
		cause = errAnswerTooLarge
	}
	return &Error{Code: CodeAnswerTooLarge, Err: cause,
		Message: fmt.Sprintf("the LLM at %s sent %s; answers are limited to %s (a query takes a few KiB: "+
			"the model is looping, or the server ignores the token limit)", c.host, what, sizeText(int64(c.maxAnswer)))}
}

// errAnswerTooLarge is the cause of an answer over Config.MaxAnswerBytes.
var errAnswerTooLarge = errors.New("LLM answer too large")

// sizeText formats a byte count for a message: 64 KiB, 1 MiB, 1.5 MiB.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// ctxOutcome: the call's own deadline means a slow server (a failure); the
// caller's cancellation or deadline says nothing about the server. A
// budget (WithBudget) that ran out while this call waited for at least
// half the LLM timeout counts as a slow server too; a call that got only
// the end of a budget says little and counts as nothing.
func (c *Client) ctxOutcome(parent context.Context, start time.Time) outcome {
	if parent.Err() != nil {
		if BudgetSpent(parent) && time.Since(start) >= c.timeout/2 {
			return outcomeFailure
		}
		return outcomeNeutral
	}
	return outcomeFailure
}

// ctxError builds the error for a call whose context ended.
func (c *Client) ctxError(parent context.Context, attempts int, last error) *Error {
	detail := fmt.Sprintf("after %d attempt(s)", attempts)
	if last != nil {
		detail += "; last error: " + last.Error()
	}
	if err := parent.Err(); err != nil {
		cause := fmt.Errorf("%w (%s)", err, detail)
		if BudgetSpent(parent) {
			return &Error{Code: CodeTimeout, Err: fmt.Errorf("%w: %w", errBudgetSpent, cause),
				Message: fmt.Sprintf("the LLM at %s did not answer within the %s the whole task may take (the LLM timeout covers every attempt and repair)",
					c.host, Budget(parent))}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return &Error{Code: CodeTimeout, Err: cause,
				Message: fmt.Sprintf("the request's deadline passed before the LLM at %s answered", c.host)}
		}
		return &Error{Code: CodeCancelled, Err: cause, Message: "the LLM request was cancelled"}
	}
	return &Error{Code: CodeTimeout,
		Err: fmt.Errorf("%w: %w (%s)", errCallTimeout, context.DeadlineExceeded, detail),
		Message: fmt.Sprintf("the LLM at %s did not answer within %s (the LLM timeout)",
			c.host, c.timeout)}
}

func checkRequest(req Request) error {
	if len(req.Messages) == 0 {
		return &Error{Code: CodeBadRequest, Message: "the LLM request has no messages"}
	}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("the LLM request has a message with role %q", m.Role)}
		}
	}
	if req.MaxTokens < 0 {
		return &Error{Code: CodeBadRequest, Message: "the LLM request has a negative MaxTokens"}
	}
	if !(req.Temperature >= 0 && req.Temperature <= 2) {
		return &Error{Code: CodeBadRequest, Message: "the LLM request's temperature is not between 0 and 2"}
	}
	return nil
}

// isReasoningModel reports whether go-openai treats model as an OpenAI
// reasoning model: it refuses max_tokens for them (max_completion_tokens
// instead), and OpenAI rejects any temperature but the default for them.
func isReasoningModel(model string) bool {
	for _, p := range []string{"o1", "o3", "o4", "gpt-5", "gpt-6"} {
		if strings.HasPrefix(model, p) {
			return true
		}
	}
	return false
}

// backoff is the exponential backoff ceiling before retry n (0-based):
// backoffBase·2ⁿ, capped at backoffCap.
func backoff(n int) time.Duration {
	d := backoffBase
	for i := 0; i < n && d < backoffCap; i++ {
		d *= 2
	}
	return min(d, backoffCap)
}

// fullJitter returns a uniformly random duration in [0, ceiling].
func fullJitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// remaining is the time left before ctx's deadline.
func remaining(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return time.Duration(1<<63 - 1)
	}
	return time.Until(dl)
}

// roundUp formats d rounded up to a whole second (at least 1s).
func roundUp(d time.Duration) string {
	s := (d + time.Second - 1) / time.Second
	return (max(s, 1) * time.Second).String()
}

// redactURL drops the userinfo (which may hold a password) from a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}

// Models lists the models the endpoint serves (GET /models), once, without
// retries or the circuit breaker: it is a health check (pgmcp doctor).
// Failures are *Error: CodeUnavailable when the server cannot be reached,
// CodeTimeout, CodeBadRequest for an answer that is not a model list
// (including 401 for a bad key); the key never appears in a message.
func (c *Client) Models(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, errCallTimeout)
	defer cancel()
	list, err := c.oa.ListModels(ctx)
	if err != nil {
		err = redact(err, c.apiKey)
		var apiErr *openai.APIError
		var reqErr *openai.RequestError
		switch {
		case errors.Is(context.Cause(ctx), errCallTimeout):
			return nil, &Error{Code: CodeTimeout, Message: fmt.Sprintf("the model endpoint %s did not answer within %s", c.host, c.timeout), Err: err}
		case errors.As(err, &apiErr):
			st := apiErr.HTTPStatusCode
			msg := fmt.Sprintf("the model endpoint %s answered %d", c.host, st)
			// Never echo the server's text for 401/403: OpenAI's quotes part
			// of the key (see classifyStatus).
			if detail := oneLine(redactString(apiErr.Message, c.apiKey), 200); detail != "" &&
				st != http.StatusUnauthorized && st != http.StatusForbidden {
				msg += ": " + detail
			}
			return nil, &Error{Code: CodeBadRequest, Message: msg, Err: err, Status: st}
		case errors.As(err, &reqErr):
			return nil, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("the model endpoint %s answered HTTP %d to GET /models", c.host, reqErr.HTTPStatusCode), Err: err, Status: reqErr.HTTPStatusCode}
		case isNetworkError(err):
			return nil, &Error{Code: CodeUnavailable, Message: fmt.Sprintf("cannot reach the model endpoint %s (%s)", c.host, networkReason(err)), Err: err}
		default:
			return nil, &Error{Code: CodeUnavailable, Message: fmt.Sprintf("the model endpoint %s did not answer with a model list", c.host), Err: err}
		}
	}
	out := make([]string, 0, len(list.Models))
	for _, m := range list.Models {
		out = append(out, m.ID)
	}
	return out, nil
}
