package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// maxErrorBodyBytes bounds the body of an HTTP error response: only the
// server's short explanation is of use, so a longer body is cut (not
// failed: the status decides what happens next).
const maxErrorBodyBytes = 64 << 10

// maxListBytes bounds the body of a request that is not a completion (the
// model list).
const maxListBytes = 16 << 20

// errResponseTooLarge is returned when a response body exceeds the
// client's body cap (see Config.MaxAnswerBytes).
var errResponseTooLarge = errors.New("LLM response body too large")

// attemptKey is the context key of the *attempt the wire fills in.
type attemptKey struct{}

// attempt carries one HTTP attempt's per-request state between Complete and
// the wire: go-openai neither sends a zero temperature nor exposes
// response headers on errors, so the wire does both.
type attempt struct {
	temperature bool    // add "temperature" to the request body
	value       float64 // the temperature added (0 by default)

	// Filled in by the wire when a response arrived.
	status int
	header http.Header
}

// wire is the openai.HTTPDoer go-openai sends through. For requests made
// by Complete it adds the request's temperature (0 unless asked
// otherwise) to the JSON body (go-openai's
// Temperature is a float32 with omitempty, so 0 is never sent and the
// server's default, 1 on OpenAI, would apply), records the response status
// and headers (for Retry-After), and bounds the response body while it is
// read: go-openai reads a whole body into memory before decoding it, so
// the bound must sit under it.
type wire struct {
	hc *http.Client
	// limit is the most bytes of a completion's response body read; past
	// it the read fails with errResponseTooLarge.
	limit int64
}

func (w *wire) Do(req *http.Request) (*http.Response, error) {
	a, _ := req.Context().Value(attemptKey{}).(*attempt)
	if a != nil && a.temperature && req.Body != nil {
		var err error
		if req, err = withTemperature(req, a.value); err != nil {
			return nil, err
		}
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if a != nil {
		a.status = resp.StatusCode
		a.header = resp.Header
	}
	switch {
	case resp.StatusCode >= 400:
		resp.Body = &cutBody{rc: resp.Body, left: maxErrorBodyBytes}
	case a == nil:
		// Not a completion (GET /models, for doctor): some providers list
		// hundreds of models with long descriptions.
		resp.Body = &limitedBody{rc: resp.Body, left: maxListBytes}
	default:
		resp.Body = &limitedBody{rc: resp.Body, left: w.limit}
	}
	return resp, nil
}

// withTemperature returns a copy of req whose JSON object body has
// "temperature": t (replacing any temperature already there).
func withTemperature(req *http.Request, t float64) (*http.Request, error) {
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("llm: read request body: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("llm: request body is not a JSON object: %w", err)
	}
	m["temperature"] = json.RawMessage(strconv.FormatFloat(t, 'g', -1, 64))
	if body, err = json.Marshal(m); err != nil {
		return nil, fmt.Errorf("llm: encode request body: %w", err)
	}
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return r, nil
}

// limitedBody fails with errResponseTooLarge past left bytes, rather than
// truncating silently (a truncated JSON body would look like a network
// error and be retried).
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Allow a clean EOF exactly at the limit.
		var one [1]byte
		if n, err := b.rc.Read(one[:]); n == 0 && err == io.EOF {
			return 0, io.EOF
		}
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// cutBody ends with io.EOF after left bytes: an error body cut short still
// has its status, which is what the client acts on.
type cutBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cutBody) Close() error { return b.rc.Close() }

// param is a request parameter some servers reject.
type param int

const (
	paramResponseFormat param = 1 << iota
	paramTemperature
)

// failure is a classified failed attempt.
type failure struct {
	err        *Error
	retryable  bool
	retryAfter time.Duration // the server's Retry-After, if any
	outcome    outcome       // for the breaker, if the call ends with it
	rejected   param         // parameters a 400/422 complained about
}

func (f failure) rejects(p param) bool { return f.rejected&p != 0 }

// classify turns a failed attempt's error into a failure. a is what the
// wire recorded for the attempt.
func (c *Client) classify(err error, a *attempt, attempts int) failure {
	var reqErr *openai.RequestError
	var apiErr *openai.APIError
	status := a.status
	var serverMsg, raw string // the server's explanation; raw includes non-JSON bodies
	switch {
	case errors.As(err, &reqErr):
		status = max(status, reqErr.HTTPStatusCode)
		raw = string(reqErr.Body)
		if errors.As(reqErr.Err, &apiErr) {
			serverMsg = apiErr.Message
		}
	case errors.As(err, &apiErr):
		status = max(status, apiErr.HTTPStatusCode)
		serverMsg = apiErr.Message
		if apiErr.Param != nil {
			raw = *apiErr.Param
		}
		if code, ok := apiErr.Code.(string); ok {
			raw += " " + code
		}
	}
	if status >= 400 && (reqErr != nil || apiErr != nil) {
		return c.classifyStatus(err, a, status, serverMsg, serverMsg+" "+raw, attempts)
	}

	switch {
	case errors.Is(err, errResponseTooLarge):
		// Not retried: a server that ignores max_tokens once will again.
		return failure{outcome: outcomeFailure, err: c.tooLarge(err, fmt.Sprintf("a response body over %s", sizeText(c.maxBody)))}
	case isNetworkError(err):
		return failure{retryable: true, outcome: outcomeFailure, err: &Error{Code: CodeUnavailable, Err: err,
			Message: fmt.Sprintf("could not reach the LLM server at %s (%s) after %s",
				c.host, networkReason(err), plural(attempts, "attempt"))}}
	case isJSONError(err):
		return failure{outcome: outcomeFailure, err: &Error{Code: CodeUnavailable, Err: err,
			Message: fmt.Sprintf("the LLM server at %s returned something that is not a chat completion "+
				"(is the base URL an OpenAI-compatible API root such as http://host:port/v1?)", c.host)}}
	case isOpenAIValidation(err):
		// go-openai refused to send the request for this model.
		return failure{outcome: outcomeNeutral, err: &Error{Code: CodeBadRequest, Err: err,
			Message: fmt.Sprintf("the model %q cannot be used this way: %s", c.model, err.Error())}}
	}
	return failure{outcome: outcomeFailure, err: &Error{Code: CodeUnavailable, Err: err,
		Message: fmt.Sprintf("the call to the LLM server at %s failed", c.host)}}
}

// classifyStatus handles an HTTP error status.
func (c *Client) classifyStatus(err error, a *attempt, status int, serverMsg, haystack string, attempts int) failure {
	text := strings.ToLower(haystack)
	f := failure{outcome: outcomeSuccess} // the server answered
	switch status {
	case http.StatusTooManyRequests, http.StatusRequestTimeout,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		f.retryable = true
		f.outcome = outcomeFailure
		f.retryAfter = retryAfter(a.header, time.Now())
		what := "is unavailable"
		if status == http.StatusTooManyRequests {
			what = "is rate limiting requests"
		}
		f.err = &Error{Code: CodeUnavailable, Err: err, RetryAfter: f.retryAfter, Status: status,
			Message: fmt.Sprintf("the LLM server at %s %s (HTTP %d) after %s",
				c.host, what, status, plural(attempts, "attempt"))}
		if f.retryAfter > 0 {
			f.err.Message += fmt.Sprintf("; it asks to retry in %s", roundUp(f.retryAfter))
		}
		return f
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		if strings.Contains(text, "response_format") || strings.Contains(text, "json_object") ||
			strings.Contains(text, "response format") || strings.Contains(text, "json mode") {
			f.rejected |= paramResponseFormat
		}
		if strings.Contains(text, "temperature") {
			f.rejected |= paramTemperature
		}
	}

	var msg string
	switch {
	case status >= 500:
		f.outcome = outcomeFailure
		f.err = &Error{Code: CodeUnavailable, Err: err, Status: status,
			Message: fmt.Sprintf("the LLM server at %s failed (HTTP %d)", c.host, status)}
		return f
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// Never echo the server's text: OpenAI's quotes part of the key.
		if c.apiKey == "" {
			msg = fmt.Sprintf("the LLM server at %s requires an API key, and none is configured (HTTP %d)", c.host, status)
		} else {
			msg = fmt.Sprintf("the LLM server at %s rejected the API key (HTTP %d); check the key and its permissions", c.host, status)
		}
	case status == http.StatusNotFound:
		msg = fmt.Sprintf("the LLM server at %s answered HTTP 404: the model %q or the chat completions endpoint "+
			"does not exist there; check the model name and that the base URL ends with the API path (e.g. /v1)",
			c.host, c.model)
	case status == http.StatusRequestEntityTooLarge:
		msg = fmt.Sprintf("the LLM server at %s refused the request as too large (HTTP 413)", c.host)
	default:
		msg = fmt.Sprintf("the LLM server at %s rejected the request (HTTP %d)", c.host, status)
	}
	if detail := oneLine(redactString(serverMsg, c.apiKey), 240); detail != "" &&
		status != http.StatusUnauthorized && status != http.StatusForbidden {
		msg += ": " + detail
	}
	f.err = &Error{Code: CodeBadRequest, Err: err, Message: msg, Status: status}
	return f
}

// retryAfter parses Retry-After (delay-seconds or an HTTP date) or, failing
// that, retry-after-ms (OpenAI, Azure). Zero if absent or unparsable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e9 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 1e6 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func isNetworkError(err error) bool {
	var urlErr *url.Error
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &urlErr) || errors.As(err, &netErr) || errors.As(err, &opErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE)
}

// networkReason is a short, safe description of a network error.
func networkReason(err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.As(err, &dnsErr):
		return "DNS lookup failed"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed unexpectedly"
	case isTLSError(err):
		return "TLS error"
	}
	return "network error"
}

// isTLSError reports a failed TLS handshake or certificate check: an error
// of crypto/tls or crypto/x509 in err's chain. It goes by the errors'
// types, not their text; the package is what tells them apart because the
// alerts crypto/tls raises on a TCP connection (in a *net.OpError) are of
// an unexported type. A handshake failure crypto/tls reports with a plain
// errors.New is not recognised (it is then "network error").
func isTLSError(err error) bool {
	for _, e := range chain(err) {
		t := reflect.TypeOf(e)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if p := t.PkgPath(); p == "crypto/tls" || p == "crypto/x509" {
			return true
		}
	}
	return false
}

// chain lists err and every error it wraps (Unwrap() error and
// Unwrap() []error), depth first.
func chain(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if e == nil || len(out) >= 64 {
			return
		}
		out = append(out, e)
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				walk(w)
			}
		}
	}
	walk(err)
	return out
}

func isJSONError(err error) bool {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syn) || errors.As(err, &typ)
}

// isOpenAIValidation reports go-openai's own refusals to send a request.
func isOpenAIValidation(err error) bool {
	for _, e := range []error{
		openai.ErrChatCompletionInvalidModel,
		openai.ErrReasoningModelMaxTokensDeprecated,
		openai.ErrReasoningModelLimitationsLogprobs,
		openai.ErrReasoningModelLimitationsOther,
		openai.ErrReasoningEffortUnsupported,
		openai.ErrReasoningToolsRequireResponses,
		openai.ErrReasoningSamplingUnsupported,
		openai.ErrContentFieldsMisused,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func redactString(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[REDACTED]")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
