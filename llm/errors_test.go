package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestErrorTextIsCodeAndMessage: Error() is "code: message", never the
// cause.
func TestErrorTextIsCodeAndMessage(t *testing.T) {
	e := &Error{Code: CodeUnavailable, Message: "the LLM server is down", Err: errors.New("dial tcp: secret detail")}
	if got, want := e.Error(), "llm_unavailable: the LLM server is down"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestStatusOfHTTPErrors: Status carries the HTTP status of an error
// answer (what pgmcp doctor tells a bad key by), and is 0 otherwise.
func TestStatusOfHTTPErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   Code
	}{
		{401, CodeBadRequest},
		{403, CodeBadRequest},
		{404, CodeBadRequest},
		{400, CodeBadRequest},
		{500, CodeUnavailable},
		{503, CodeUnavailable},
		{429, CodeUnavailable},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			f := newFake(t, status(tc.status, "nope"))
			c, _, _ := newTestClient(t, Config{BaseURL: f.url(), APIKey: "k", MaxRetries: -1})
			_, err := c.Complete(context.Background(), simpleRequest())
			if e := wantCode(t, err, tc.code); e.Status != tc.status {
				t.Errorf("Status = %d, want %d", e.Status, tc.status)
			}
		})
	}
	t.Run("network", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL + "/v1"
		srv.Close()
		c, _, _ := newTestClient(t, Config{BaseURL: base, APIKey: "k", MaxRetries: -1})
		_, err := c.Complete(context.Background(), simpleRequest())
		if e := wantCode(t, err, CodeUnavailable); e.Status != 0 {
			t.Errorf("Status = %d, want 0", e.Status)
		}
	})
}

// TestModelsErrors: the model list (pgmcp doctor's first check) reports
// the status, and never echoes a 401's text, which may quote the key.
func TestModelsErrors(t *testing.T) {
	const key = "sk-proj-SECRET1234567890"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"message":"Incorrect API key provided: sk-proj-SECR****7890.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
	}))
	defer srv.Close()
	c, _, _ := newTestClient(t, Config{BaseURL: srv.URL + "/v1", APIKey: key})
	_, err := c.Models(context.Background())
	e := wantCode(t, err, CodeBadRequest)
	if e.Status != http.StatusUnauthorized {
		t.Errorf("Status = %d, want 401", e.Status)
	}
	if strings.Contains(e.Error(), "SECR") || strings.Contains(e.Error(), "Incorrect") {
		t.Errorf("Error() echoes the server's 401 text: %q", e.Error())
	}

	srv.Close()
	_, err = c.Models(context.Background())
	if e := wantCode(t, err, CodeUnavailable); e.Status != 0 || !strings.Contains(e.Message, "connection refused") {
		t.Errorf("closed server: Status %d, Message %q; want 0 and connection refused", e.Status, e.Message)
	}
}

// TestNetworkReasonTLS: a certificate the client does not trust is told
// apart by the error's type ("TLS error"), not by its text.
func TestNetworkReasonTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake error it logs
	srv.StartTLS()
	defer srv.Close()
	c, _, _ := newTestClient(t, Config{BaseURL: srv.URL + "/v1", APIKey: "k", MaxRetries: -1})
	_, err := c.Complete(context.Background(), simpleRequest())
	e := wantCode(t, err, CodeUnavailable)
	if !strings.Contains(e.Message, "(TLS error)") {
		t.Errorf("Message = %q, want the reason TLS error", e.Message)
	}
	if !isTLSError(e.Err) || isTLSError(errors.New("tls: looks like one")) {
		t.Errorf("isTLSError: by type, not by text")
	}
}
