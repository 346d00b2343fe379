// Package llm is pgmcp's OpenAI-compatible chat client and SQL extractor.
// It works against OpenAI and against local OpenAI-compatible servers
// (Ollama, vLLM, llama.cpp, LM Studio), on top of
// github.com/sashabaranov/go-openai. It imports nothing else of pgmcp's and
// never prints: it logs to the optional Config.Logger.
//
// Usage:
//
//	c, err := llm.New(llm.Config{BaseURL: base, APIKey: key, Model: model, Logger: log})
//	resp, err := c.Complete(ctx, llm.Request{Messages: []llm.Message{
//		{Role: llm.RoleSystem, Content: sys},
//		{Role: llm.RoleUser, Content: question},
//	}, MaxTokens: 1024})
//	sql, err := llm.ExtractSQL(resp.Content)
//
// Every failure is an *Error with a stable Code (see the Code constants);
// its Message is safe to show a user. Callers check Config.Enabled, or
// handle New's CodeNotConfigured.
//
// # Decisions
//
// Timeout. Config.Timeout (default 60s; PGMCP_LLM_TIMEOUT in cmd) bounds a
// whole Complete call, retries and backoff included; each attempt gets
// what remains. A retry whose wait would outlast the deadline is not made:
// the call fails at once with the last attempt's error (CodeUnavailable,
// with RetryAfter when the server gave one). When the deadline itself
// interrupts an attempt or a wait, the code is CodeTimeout.
//
// Budget. A task of several calls (pgmcp's question: the model's attempts,
// its repairs and the queries run between them) is bounded as a whole by
// WithBudget: one Timeout from its start, shared by every call made with
// its context and by whatever else the caller runs with it. A call that
// the budget cuts off fails with CodeTimeout, and BudgetSpent tells the
// caller the budget, not its own caller, ended the task. A nested
// WithBudget shares the outer budget. For the breaker, a call cut off by
// a budget counts as failed only if it waited at least half the Timeout
// (a slow server); one that got only a budget's last moments counts as
// nothing.
//
// Answer size. An answer (the message content) longer than
// Config.MaxAnswerBytes (default 64 KiB: eight times what the 2048
// tokens pgmcp asks for can hold) fails with CodeAnswerTooLarge and is not
// returned, so no caller can pass it on (to a repair prompt, a log, an
// audit record). The response body is bounded while it is read, below
// go-openai (which reads a whole body before decoding it): the wire
// stops at 16 × MaxAnswerBytes, at least 1 MiB (room for JSON escapes, a
// reasoning field and the envelope), and the call fails with
// CodeAnswerTooLarge at once, whatever the server goes on sending; an
// error response's body is read up to 64 KiB and then handled by its
// status. Neither is retried: a server that ignored max_tokens once will
// again. Both count as failures for the breaker. pgmcp never asks for a
// streamed response; a stream would need the same bound on what it
// accumulates.
//
// Context. The caller's context is honoured throughout (the HTTP request
// and the backoff sleeps). If it is cancelled the error is CodeCancelled;
// if its deadline passes, CodeTimeout. Both wrap the context's error, so
// errors.Is(err, context.Canceled) / context.DeadlineExceeded work. No
// retry is made after the context is done.
//
// Retries. Attempts failing with 408, 429, 500, 502, 503, 504, or a
// network error (connection refused or reset, EOF, DNS, TLS, a transport
// timeout) are retried up to Config.MaxRetries times (default 3; negative:
// none), with exponential backoff and full jitter: a uniform wait in
// [0, min(8s, 500ms·2ⁿ)]. A Retry-After header (delay-seconds or an HTTP
// date; retry-after-ms is honoured too) replaces the backoff wait, exactly;
// one longer than 30s, or than the time left, ends the call at once with
// CodeUnavailable and Error.RetryAfter set. Other 4xx are never retried
// (CodeBadRequest), nor are other 5xx and malformed response bodies
// (CodeUnavailable), nor oversize answers (CodeAnswerTooLarge).
//
// Circuit breaker. BreakerThreshold (default 5; negative disables)
// consecutive failed calls open the breaker. A failed call is one that
// ended CodeUnavailable, CodeAnswerTooLarge, or CodeTimeout by
// Config.Timeout (or by a budget, as above). A call that
// ended with a completion, CodeBadRequest from an HTTP 4xx (a bad key, an
// unknown model), CodeBadOutput or CodeRefused counts as a success: the
// server is up. Cancellations, the caller's own deadlines and requests
// go-openai refused to send count as nothing. While
// open, calls fail fast with CodeCircuitOpen and RetryAfter = time until
// the probe, for BreakerCooldown (default 30s); then one probe call goes
// through (others keep failing fast): success closes the breaker, failure
// reopens it for another cooldown.
//
// Temperature 0. go-openai v1.43.0 declares Temperature as a float32 with
// `json:",omitempty"`, so 0 is never sent and OpenAI applies its default
// of 1 (upstream issues #9 and #678; the pointer fix, PR #922, is not
// merged). There is no field or extra-body hook for chat requests in
// v1.43.0, and a tiny epsilon is not 0, so the client sends requests
// through its own openai.HTTPDoer (the "wire"), which adds "temperature":0
// to the JSON body. The same wire records the response headers, which
// go-openai does not expose on errors (needed for Retry-After). If a
// server answers 400/422 with a message that mentions temperature, the
// call is retried at once without it and the client stops sending it.
// OpenAI reasoning models (names starting o1, o3, o4, gpt-5, gpt-6) get
// no temperature (they accept only the default) and max_completion_tokens
// instead of max_tokens (go-openai refuses max_tokens for them).
//
// JSON mode. With Config.JSONMode the request carries
// response_format {"type":"json_object"}. Many local servers do not
// support it: a 400/422 whose message mentions response_format (or
// json_object / JSON mode) makes the client retry at once without it and
// never send it again (this retry does not use up MaxRetries). Note that
// OpenAI itself rejects json_object when no message contains the word
// "JSON": the client then falls back to plain text too; prompts used with
// JSONMode should mention JSON. ExtractSQL reads both JSON and plain text,
// so the fallback is harmless.
//
// API key. It may be empty for local servers: go-openai then sends no
// Authorization header at all. The key never appears in an Error's
// Message (401/403 messages never echo the server's text, which for
// OpenAI quotes part of the key), is redacted from causes (Err) and from
// server messages quoted in 4xx errors, and Config's String, GoString and
// LogValue hide it.
//
// Base URL. Taken as given, including the version path
// (https://api.openai.com/v1 by default, http://localhost:11434/v1 for
// Ollama...); only a trailing slash is dropped. Nothing is guessed: a
// missing /v1 shows as a 404, whose message says to check the path.
//
// Refusals by the API. A choice with empty content and a "refusal" field,
// or finish_reason "content_filter", makes Complete return CodeRefused; no
// choices at all is CodeBadOutput. Otherwise Complete returns the content
// as is (FinishReason "length" tells a cut-off answer): judging it is
// ExtractSQL's job.
//
// SQL extraction. ExtractSQL (see its doc for the exact rules) strips
// reasoning blocks, reads JSON answers ({"sql": …}, fenced or not) and
// plain text, and when there are several fenced SQL blocks takes the LAST
// one: models that correct themselves show the wrong query first. It
// returns several statements as they are (sqlguard rejects them), cuts
// prose after unfenced SQL, and never judges whether SQL is safe or
// valid: that is sqlguard's job, on whatever ExtractSQL returns.
//
// Metrics. Response carries the token usage, the number of HTTP attempts
// and the wall-clock latency of the whole call.
package llm
