package httpauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/tools/engine"
)

// syncBuffer is a log sink safe to read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fastTiming makes JWKS refreshes quick enough for tests.
var fastTiming = timing{fetchTimeout: 2 * time.Second, minRefreshGap: 0, retry: time.Minute}

// newTestAuth builds an Authenticator logging to the returned buffer; it is
// closed when the test ends.
func newTestAuth(t *testing.T, cfg Config, tm timing) (*Authenticator, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newAuthenticator(ctx, cfg, logger, tm)
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		cancel()
	})
	return a, logs
}

// seenIdentity is what the protected handler reports.
type seenIdentity struct {
	OK        bool            `json:"ok"`
	Name      string          `json:"name"`
	Method    string          `json:"method"`
	Role      string          `json:"role"`
	Databases []string        `json:"databases"`
	Policy    json.RawMessage `json:"policy"`
}

// serve mounts the metadata and the protected echo handler as serve.go
// is meant to: the metadata unauthenticated, /mcp behind the middleware.
func serve(t *testing.T, a *Authenticator) *httptest.Server {
	t.Helper()
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := engine.IdentityFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seenIdentity{OK: ok, Name: id.Name, Method: id.Method, Role: id.Role,
			Databases: id.Databases, Policy: id.Policy})
	})
	mux := http.NewServeMux()
	mux.Handle(a.MetadataPath(), a.MetadataHandler())
	mux.Handle("/mcp", a.Middleware(echo))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// call sends a POST to url with the Authorization header (none when
// empty).
func call(t *testing.T, url, authorization string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// mustIdentity checks a 200 and returns the identity the handler saw.
func mustIdentity(t *testing.T, resp *http.Response, body []byte) seenIdentity {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; WWW-Authenticate %q; body %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	var id seenIdentity
	if err := json.Unmarshal(body, &id); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if !id.OK {
		t.Fatal("the handler saw no identity")
	}
	// The handler encodes a nil policy as null; RawMessage keeps it.
	if string(id.Policy) == "null" {
		id.Policy = nil
	}
	return id
}

// challenge is a parsed WWW-Authenticate Bearer challenge.
type challenge struct {
	scheme string
	params map[string]string
}

// parseChallenge parses `Bearer k="v", k="v"` (values without quotes
// inside, as the middleware writes them).
func parseChallenge(t *testing.T, h string) challenge {
	t.Helper()
	scheme, rest, _ := strings.Cut(h, " ")
	c := challenge{scheme: scheme, params: map[string]string{}}
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			t.Fatalf("malformed challenge parameter %q in %q", part, h)
		}
		c.params[k] = v[1 : len(v)-1]
	}
	return c
}

// mustRefuse checks a 401 with a Bearer challenge pointing to the
// metadata; presented says whether error="invalid_token" is expected.
func mustRefuse(t *testing.T, resp *http.Response, body []byte, presented bool) challenge {
	t.Helper()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401; body %s", resp.StatusCode, body)
	}
	h := resp.Header.Get("WWW-Authenticate")
	c := parseChallenge(t, h)
	if c.scheme != "Bearer" {
		t.Errorf("challenge scheme %q, want Bearer (%q)", c.scheme, h)
	}
	if !strings.Contains(c.params["resource_metadata"], WellKnownPath) {
		t.Errorf("challenge %q lacks resource_metadata", h)
	}
	if presented {
		if c.params["error"] != "invalid_token" || c.params["error_description"] == "" {
			t.Errorf("challenge %q: want error=\"invalid_token\" and a description", h)
		}
	} else if _, ok := c.params["error"]; ok {
		t.Errorf("challenge %q: no error code expected without credentials (RFC 6750 §3.1)", h)
	}
	var b map[string]string
	if err := json.Unmarshal(body, &b); err != nil || b["error"] == "" {
		t.Errorf("body %s: want a JSON object with error", body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return c
}

// mustCode checks that err is an *Error with code.
func mustCode(t *testing.T, err error, code Code) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want an *Error with code %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("code %s (%v), want %s", e.Code, err, code)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
