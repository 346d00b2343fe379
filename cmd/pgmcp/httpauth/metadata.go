package httpauth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// WellKnownPath is the well-known path of OAuth 2.0 Protected Resource
// Metadata (RFC 9728 §3). For a resource with a path, the path follows it:
// https://host/mcp is described at /.well-known/oauth-protected-resource/mcp.
const WellKnownPath = "/.well-known/oauth-protected-resource"

// defaultResourcePath is the MCP endpoint's path when no ResourceURL is
// configured.
const defaultResourcePath = "/mcp"

// ProtectedResourceMetadata is the RFC 9728 document pgmcp serves (the
// fields it uses; mcp-go's server.ProtectedResourceMetadataConfig has the
// same JSON names).
type ProtectedResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

type metadata struct {
	resource    *url.URL // nil: derived from each request's Host
	path        string   // where the metadata is served
	authServers []string
}

func newMetadata(cfg Config) metadata {
	m := metadata{path: WellKnownPath + defaultResourcePath, authServers: cfg.AuthorizationServers}
	if cfg.ResourceURL != "" {
		if u, err := url.Parse(cfg.ResourceURL); err == nil {
			m.resource = u
			m.path = metadataPath(u)
		}
	}
	return m
}

// metadataPath is RFC 9728 §3.1: the well-known path, then the resource's
// path (mcp-go's server.ProtectedResourceMetadataPath computes the same).
func metadataPath(u *url.URL) string {
	p := strings.Trim(u.Path, "/")
	if p == "" {
		return WellKnownPath
	}
	return path.Join(WellKnownPath, p)
}

// requestBase is scheme://host of the request as it reached pgmcp.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// document is the metadata for a request.
func (m metadata) document(r *http.Request) ProtectedResourceMetadata {
	res := requestBase(r) + defaultResourcePath
	if m.resource != nil {
		res = m.resource.String()
	}
	return ProtectedResourceMetadata{
		Resource:               res,
		AuthorizationServers:   m.authServers,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "pgmcp",
	}
}

// url is the absolute URL of the metadata, for WWW-Authenticate.
func (m metadata) url(r *http.Request) string {
	if m.resource != nil {
		return m.resource.Scheme + "://" + m.resource.Host + m.path
	}
	return requestBase(r) + m.path
}

// MetadataPath is the path to mount MetadataHandler at, e.g.
// /.well-known/oauth-protected-resource/mcp for the resource
// https://host/mcp. WWW-Authenticate challenges point to it.
func (a *Authenticator) MetadataPath() string { return a.meta.path }

// MetadataURL is the absolute URL of the metadata as the challenge of a
// request r gives it.
func (a *Authenticator) MetadataURL(r *http.Request) string { return a.meta.url(r) }

// MetadataHandler serves the OAuth 2.0 Protected Resource Metadata (RFC
// 9728) JSON, to anyone (no authentication): GET and HEAD, OPTIONS for
// CORS preflight, 405 otherwise.
func (a *Authenticator) MetadataHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, MCP-Protocol-Version")
		switch r.Method {
		case http.MethodOptions:
			w.WriteHeader(http.StatusNoContent)
			return
		case http.MethodGet, http.MethodHead:
		default:
			h.Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := json.Marshal(a.meta.document(r))
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	})
}
