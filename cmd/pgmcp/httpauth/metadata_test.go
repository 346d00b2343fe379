package httpauth

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/mark3labs/mcp-go/server"
)

// getMetadata fetches the metadata without credentials.
func getMetadata(t *testing.T, u string) (ProtectedResourceMetadata, map[string]any, *http.Response) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	var m ProtectedResourceMetadata
	var raw map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	// mcp-go's type reads the same document.
	var mc server.ProtectedResourceMetadataConfig
	if err := json.Unmarshal(body, &mc); err != nil || mc.Resource != m.Resource || !slices.Equal(mc.BearerMethodsSupported, m.BearerMethodsSupported) {
		t.Errorf("mcp-go reads %+v (%v)", mc, err)
	}
	return m, raw, resp
}

func TestMetadataDerivedFromRequest(t *testing.T) {
	a, _ := newTestAuth(t, Config{TokensFile: writeFile(t, "tokens.json", tokensJSON())}, fastTiming)
	srv := serve(t, a)
	if a.MetadataPath() != "/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("path %s", a.MetadataPath())
	}
	// Follow the challenge of an unauthenticated request, as a client does.
	resp, body := call(t, srv.URL+"/mcp", "")
	c := mustRefuse(t, resp, body, false)
	m, raw, mresp := getMetadata(t, c.params["resource_metadata"])
	if m.Resource != srv.URL+"/mcp" {
		t.Errorf("resource %q, want %q", m.Resource, srv.URL+"/mcp")
	}
	if !slices.Equal(m.BearerMethodsSupported, []string{"header"}) {
		t.Errorf("bearer_methods_supported %v", m.BearerMethodsSupported)
	}
	if _, ok := raw["authorization_servers"]; ok {
		t.Errorf("authorization_servers without any configured: %v", raw)
	}
	if ct := mresp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if mresp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("no CORS header")
	}

	// Only GET, HEAD and OPTIONS.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+a.MetadataPath(), nil)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r2.StatusCode)
	}
}

func TestMetadataConfiguredResource(t *testing.T) {
	jw := newJWKSServer(t)
	for _, tc := range []struct {
		resource, path, url string
	}{
		{"https://pgmcp.example.com/mcp", "/.well-known/oauth-protected-resource/mcp",
			"https://pgmcp.example.com/.well-known/oauth-protected-resource/mcp"},
		{"https://example.com:8443/tools/pgmcp/mcp/", "/.well-known/oauth-protected-resource/tools/pgmcp/mcp",
			"https://example.com:8443/.well-known/oauth-protected-resource/tools/pgmcp/mcp"},
		{"https://pgmcp.example.com", "/.well-known/oauth-protected-resource",
			"https://pgmcp.example.com/.well-known/oauth-protected-resource"},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			cfg := jw.config()
			cfg.ResourceURL = tc.resource
			a, _ := newTestAuth(t, cfg, fastTiming)
			if a.MetadataPath() != tc.path {
				t.Errorf("path %s, want %s", a.MetadataPath(), tc.path)
			}
			if mp := server.ProtectedResourceMetadataPath(tc.resource); mp != a.MetadataPath() {
				t.Errorf("mcp-go puts the metadata of %s at %s, we at %s", tc.resource, mp, a.MetadataPath())
			}
			srv := serve(t, a)
			resp, body := call(t, srv.URL+"/mcp", "")
			c := mustRefuse(t, resp, body, false)
			if c.params["resource_metadata"] != tc.url {
				t.Errorf("resource_metadata %q, want %q", c.params["resource_metadata"], tc.url)
			}
			// The document is at the path the challenge names.
			u, _ := url.Parse(c.params["resource_metadata"])
			m, _, _ := getMetadata(t, srv.URL+u.Path)
			if m.Resource != tc.resource {
				t.Errorf("resource %q", m.Resource)
			}
			if !slices.Equal(m.AuthorizationServers, []string{cfg.Issuer}) {
				t.Errorf("authorization_servers %v, want the issuer", m.AuthorizationServers)
			}
			if !slices.Equal(m.BearerMethodsSupported, []string{"header"}) {
				t.Errorf("bearer_methods_supported %v", m.BearerMethodsSupported)
			}
		})
	}
}
