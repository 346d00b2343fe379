package main

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestNormalizeOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://App.Example.com":     "https://app.example.com",
		"HTTPS://app.example.com:443": "https://app.example.com",
		"http://localhost:80":         "http://localhost",
		"http://127.0.0.1:8080":       "http://127.0.0.1:8080",
		"http://[::1]:8080":           "http://[::1]:8080",
		"http://[::1]":                "http://[::1]",
		"https://a.test:08443":        "https://a.test:8443",
		"null":                        "null",
	} {
		if got, err := normalizeOrigin(in); err != nil || got != want {
			t.Errorf("normalizeOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "*", "Null", "app.example.com", "https://", "https://a.test/", "https://a.test/x",
		"https://a.test?x", "https://a.test#f", "https://u:p@a.test", "ftp://a.test", "https://a.test:", "https://a.test:0",
		"https://*.a.test", "javascript:alert(1)"} {
		if got, err := normalizeOrigin(bad); err == nil {
			t.Errorf("normalizeOrigin(%q) = %q, want an error", bad, got)
		}
	}
}

func TestOriginGuard(t *testing.T) {
	g, err := newOriginGuard([]string{"https://app.example.com", "null"}, "https://pgmcp.example.com/mcp", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h := g.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }))
	cases := []struct {
		host, origin string
		tls          bool
		want         int
		cors         bool
	}{
		{"127.0.0.1:8080", "", false, 299, false},
		{"127.0.0.1:8080", "http://127.0.0.1:8080", false, 299, false},
		{"LOCALHOST:8080", "http://localhost:8080", false, 299, false},
		{"pgmcp.internal", "https://pgmcp.internal", true, 299, false},
		{"pgmcp.internal", "http://pgmcp.internal", true, 403, false},
		{"pgmcp.internal:443", "https://pgmcp.internal", true, 299, false},
		{"10.0.0.5:8080", "https://pgmcp.example.com", false, 299, false}, // the resource URL's origin, behind a TLS proxy
		{"127.0.0.1:8080", "https://app.example.com", false, 299, true},
		{"127.0.0.1:8080", "null", false, 299, true},
		{"127.0.0.1:8080", "http://evil.example", false, 403, false},
		{"127.0.0.1:8080", "http://127.0.0.1:8081", false, 403, false},
		{"127.0.0.1:8080", "not an origin", false, 403, false},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodPost, "http://"+tc.host+"/mcp", nil)
		r.Host = tc.host
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want || (w.Header().Get("Access-Control-Allow-Origin") != "") != tc.cors {
			t.Errorf("Host %s Origin %q: %d, ACAO %q; want %d, CORS %v", tc.host, tc.origin, w.Code,
				w.Header().Get("Access-Control-Allow-Origin"), tc.want, tc.cors)
		}
	}
	// Two Origin headers: refused.
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/mcp", nil)
	r.Header.Add("Origin", "http://127.0.0.1:8080")
	r.Header.Add("Origin", "http://evil.example")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 403 {
		t.Errorf("two Origin headers: %d", w.Code)
	}
}
