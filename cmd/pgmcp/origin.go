package main

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Origin validation of the /mcp endpoint (the MCP streamable HTTP
// transport asks servers to check Origin, against DNS rebinding and pages
// of other sites driving a browser).
//
// A request without Origin is a non-browser client and is served. A
// request with one is served only when the Origin is:
//   - the server's own: scheme://Host of the request as pgmcp serves it
//     (https when pgmcp serves TLS itself, else http), or the origin of
//     PGMCP_AUTH_RESOURCE_URL (the public URL, e.g. behind a TLS proxy);
//   - or listed in PGMCP_HTTP_ALLOWED_ORIGINS (exact origins; "null" only
//     when listed).
//
// Everything else gets 403 before authentication. The Host itself is
// checked by mcp-go on loopback connections (a loopback listener answers
// only Host: localhost, 127.0.0.1 or [::1]: DNS-rebinding protection), so
// an own origin on a loopback listener is always a loopback origin too.
//
// A listed origin other than the server's own is cross-origin for the
// browser: its responses carry CORS headers, and its preflight (OPTIONS)
// is answered here, before authentication (a preflight carries no token).

// corsAllowHeaders are the request headers a listed origin may send.
const corsAllowHeaders = "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID"

// corsExposeHeaders are the response headers its scripts may read.
const corsExposeHeaders = "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate"

// normalizeOrigin returns the canonical form of an origin
// (scheme://host[:port], scheme and host in lower case, no default port),
// or "null". It refuses anything that is not an origin: a path, a query,
// user info, a wildcard, another scheme than http(s).
func normalizeOrigin(s string) (string, error) {
	if s == "null" {
		return s, nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", errors.New("not an origin (scheme://host[:port])")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("not an http(s) origin (scheme://host[:port], e.g. https://app.example.com)")
	case u.Opaque != "" || u.Host == "":
		return "", errors.New("not an origin (scheme://host[:port])")
	case u.User != nil:
		return "", errors.New("an origin holds no user name or password")
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return "", errors.New("an origin has no path, query or fragment (scheme://host[:port], no trailing slash)")
	case strings.ContainsAny(u.Host, "*"):
		return "", errors.New("list exact origins: wildcards are not accepted")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", errors.New("the origin has no host")
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", errors.New("the port must be a number between 1 and 65535")
		}
		port = strconv.Itoa(n)
	} else if strings.HasSuffix(u.Host, ":") {
		return "", errors.New("the origin has an empty port")
	}
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host, nil
}

// originGuard checks the Origin of every /mcp request.
type originGuard struct {
	allowed  map[string]bool // normalized listed origins
	resource string          // normalized origin of the resource URL, or ""
	log      *slog.Logger
}

// newOriginGuard takes the validated PGMCP_HTTP_ALLOWED_ORIGINS and the
// resource URL (may be empty).
func newOriginGuard(allowed []string, resourceURL string, log *slog.Logger) (*originGuard, error) {
	g := &originGuard{allowed: map[string]bool{}, log: log}
	for _, o := range allowed {
		n, err := normalizeOrigin(o)
		if err != nil {
			return nil, &ConfigError{Problems: []string{"PGMCP_HTTP_ALLOWED_ORIGINS: " + o + ": " + err.Error()}}
		}
		g.allowed[n] = true
	}
	if resourceURL != "" {
		if u, err := url.Parse(resourceURL); err == nil {
			if n, err := normalizeOrigin(u.Scheme + "://" + u.Host); err == nil {
				g.resource = n
			}
		}
	}
	return g, nil
}

// ownOrigin is the origin of the request as pgmcp serves it: its scheme
// and its Host.
func ownOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if r.Host == "" {
		return ""
	}
	n, err := normalizeOrigin(scheme + "://" + r.Host)
	if err != nil {
		return ""
	}
	return n
}

func (g *originGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals := r.Header.Values("Origin")
		if len(vals) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		origin := vals[0]
		norm, err := normalizeOrigin(origin)
		own := ownOrigin(r)
		sameOrigin := err == nil && norm != "null" && (norm == own || norm == g.resource)
		listed := err == nil && g.allowed[norm]
		if len(vals) > 1 || (!sameOrigin && !listed) {
			g.log.Info("request refused: Origin not allowed", "origin", truncate(origin, 200), "server_origin", own,
				"remote", r.RemoteAddr, "method", r.Method)
			writeRPCError(w, http.StatusForbidden, nil, rpcServerError, codeOriginNotAllowed,
				"the request's Origin is not allowed: only the server's own origin and those listed in PGMCP_HTTP_ALLOWED_ORIGINS may call this endpoint")
			return
		}
		if !sameOrigin {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// truncate cuts s to at most n bytes, for logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
