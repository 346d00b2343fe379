package llm

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Code is a stable, machine-readable error class. Clients and tests depend
// on these values: never rename one.
type Code string

// Error codes.
const (
	// CodeNotConfigured: no model, or neither an API key nor a base URL, or a
	// base URL that is not an http(s) URL. Returned by New.
	CodeNotConfigured Code = "llm_not_configured"
	// CodeUnavailable: the server could not be reached (connection refused or
	// reset, DNS, TLS, EOF), kept answering 408/429/5xx until the retries ran
	// out, asked to wait (Retry-After) longer than the call may, or sent
	// something that is not a chat completion. RetryAfter is set when the
	// server said how long to wait.
	CodeUnavailable Code = "llm_unavailable"
	// CodeTimeout: Config.Timeout elapsed (the whole call, retries included),
	// the budget of WithBudget ran out (a question with its repairs), or
	// the caller's context deadline passed, before an answer arrived.
	CodeTimeout Code = "llm_timeout"
	// CodeCancelled: the caller's context was cancelled. Err wraps
	// context.Canceled.
	CodeCancelled Code = "llm_cancelled"
	// CodeCircuitOpen: the circuit breaker is open after repeated failures;
	// the call failed fast without contacting the server. RetryAfter is the
	// time until the next probe is allowed.
	CodeCircuitOpen Code = "llm_circuit_open"
	// CodeBadRequest: the server rejected the request with a 4xx other than
	// 408/429 (bad API key, unknown model, wrong base URL path, prompt too
	// large...), or go-openai refused to send it. Never retried.
	CodeBadRequest Code = "llm_bad_request"
	// CodeBadOutput: the model answered, but with no SQL in it (or with no
	// choice at all).
	CodeBadOutput Code = "llm_bad_output"
	// CodeRefused: the model declined to answer ("I'm sorry, I can't..."), the
	// API reported a refusal, or the provider's content filter blocked it.
	CodeRefused Code = "llm_refused"
	// CodeAnswerTooLarge: the answer was longer than Config.MaxAnswerBytes,
	// or its response body longer than the body cap (16 times that, at
	// least 1 MiB; reading stops there). Never retried, and the answer is
	// not returned: nothing of it can reach a repair prompt.
	CodeAnswerTooLarge Code = "llm_answer_too_large"
)

// Error is an llm failure. Code and Message are safe to show a user: they
// never hold the API key or the Authorization header (only the endpoint
// host, the model name, an HTTP status and, for 4xx, the server's own short
// explanation with the key redacted). Err is the internal cause, for logs;
// the API key is redacted from it too.
type Error struct {
	Code    Code
	Message string
	Err     error
	// RetryAfter is how long to wait before trying again, when known: the
	// server's Retry-After for CodeUnavailable, the time until the next probe
	// for CodeCircuitOpen. Zero when unknown.
	RetryAfter time.Duration
	// Status is the HTTP status of the server's answer when the failure is
	// an HTTP error status (401 or 403 for a missing or rejected API key,
	// 404, 429, 5xx...), so callers can tell these apart without reading
	// Message; 0 when no error status was received (network failures,
	// timeouts, a bad answer, a refusal).
	Status int
}

// Error is "code: message"; the cause (Err) is never part of it.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Err }

// redactedError hides a secret in its cause's text while keeping the cause
// reachable for errors.Is / errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with every occurrence of secret replaced in its text.
func redact(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	msg := err.Error()
	if !strings.Contains(msg, secret) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(msg, secret, "[REDACTED]"), err: err}
}

// oneLine collapses whitespace runs (newlines included) into single spaces,
// drops control characters and truncates s to at most max runes, adding an
// ellipsis when it cut: text from a server or a model, made fit for an
// error message.
func oneLine(s string, max int) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if r == utf8.RuneError {
			continue
		}
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if unicode.IsControl(r) {
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		if n >= max {
			return strings.TrimSpace(b.String()) + "…"
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
