// Package httpauth authenticates callers of pgmcp's streamable HTTP
// transport: bearer tokens listed (as SHA-256 hashes) in a tokens file, and
// JWTs signed with RS256 or ES256 keys published at a JWKS URL. It answers
// a failure with 401 and the WWW-Authenticate challenge of RFC 6750 and the
// MCP authorization spec, and serves the OAuth 2.0 Protected Resource
// Metadata (RFC 9728) that the challenge points to.
//
// It reads no environment variable and no flag: the cmd package builds a
// Config and hands it over.
package httpauth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"strings"
	"time"
)

// Defaults and bounds of the configuration.
const (
	DefaultIdentityClaim = "sub"
	DefaultJWKSRefresh   = 15 * time.Minute
	minJWKSRefresh       = 10 * time.Second
	maxJWKSRefresh       = 24 * time.Hour
	minTokenLifetime     = time.Minute
	maxTokenLifetime     = 30 * 24 * time.Hour
)

// Config is how callers authenticate. Tokens file and JWKS may both be set:
// a bearer token is looked up in the tokens file first, then verified as a
// JWT.
type Config struct {
	// TokensFile is a JSON list of token entries (see TokenEntry).
	TokensFile string

	// JWKSURL is where the signing keys of JWTs are published. Setting it
	// turns JWT authentication on; Issuer, Audience and ResourceURL are
	// then required.
	JWKSURL string
	// Issuer must equal a JWT's iss claim exactly.
	Issuer string
	// Audience must be one of a JWT's aud values.
	Audience string
	// IdentityClaim names the claim whose string value is the caller's
	// name (default "sub").
	IdentityClaim string
	// RoleClaim, when set, names a claim holding the PostgreSQL role the
	// caller's queries run as. A token without it is refused.
	RoleClaim string
	// AllowedRoles are the roles RoleClaim may name: exact role names, or
	// path.Match patterns (*, ?, [a-z]) such as "analyst_*", matched
	// against the whole name, case-sensitively. Required with RoleClaim:
	// without it a token could name any role the login role may switch
	// to. Whatever the list, a claim naming a login role (LoginRoles) or a
	// predefined pg_* role is refused.
	AllowedRoles []string
	// MaxTokenLifetime, when above 0, bounds a JWT's lifetime: the token
	// must carry iat and exp, exp-iat must not exceed it, nor exp-now
	// (beyond the clock skew).
	MaxTokenLifetime time.Duration
	// DatabasesClaim, when set, names a claim holding the list of databases
	// the caller may use. A token without it is refused.
	DatabasesClaim string
	// JWKSRefresh is how often the keys are fetched again (default 15m).
	// A token signed with an unknown key also triggers a fetch, at most one
	// every 10 seconds.
	JWKSRefresh time.Duration

	// ResourceURL is the canonical URL of the MCP endpoint as clients reach
	// it, e.g. https://pgmcp.example.com/mcp. It is the "resource" of the
	// protected resource metadata, and decides the metadata's path. When
	// empty (allowed with a tokens file only), it is derived from each
	// request's Host with the path /mcp.
	ResourceURL string
	// AuthorizationServers are listed in the metadata (default: Issuer,
	// when set).
	AuthorizationServers []string

	// LoginRoles are the roles pgmcp's database pools log in as (not a
	// setting: the server fills it in from the databases before New). No
	// identity may be given one of them as its role, neither by a JWT
	// claim nor by the tokens file: the login role holds what every
	// per-user role holds, and more.
	LoginRoles []string
}

// Enabled reports whether any authentication is configured.
func (c Config) Enabled() bool {
	return c.TokensFile != "" || c.JWKSURL != ""
}

// JWTEnabled reports whether JWT authentication is configured.
func (c Config) JWTEnabled() bool { return c.JWKSURL != "" }

// Problem is one thing wrong with a Config: Field is the name of the
// Config field (e.g. "JWKSURL"), so that the caller can name the setting
// the user knows.
type Problem struct {
	Field   string
	Message string
}

func (p Problem) String() string { return p.Field + ": " + p.Message }

// ConfigError lists every problem of a Config.
type ConfigError struct {
	Problems []Problem
}

func (e *ConfigError) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.String()
	}
	return "invalid authentication configuration: " + strings.Join(s, "; ")
}

// Validate returns a *ConfigError listing every problem, or nil.
func (c Config) Validate() error {
	if p := c.Problems(); len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

// Problems lists what is wrong with the configuration, field by field.
// Defaults are applied first, so an empty IdentityClaim or JWKSRefresh is
// not a problem.
func (c Config) Problems() []Problem {
	c = c.withDefaults()
	var p []Problem
	bad := func(field, format string, args ...any) {
		p = append(p, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if c.TokensFile != "" {
		if st, err := os.Stat(c.TokensFile); err != nil {
			bad("TokensFile", "cannot read %s: %v", c.TokensFile, unwrapPathError(err))
		} else if st.IsDir() {
			bad("TokensFile", "%s is a directory, not a JSON file", c.TokensFile)
		}
	}
	if c.ResourceURL != "" {
		if err := checkURL(c.ResourceURL, false); err != nil {
			bad("ResourceURL", "%v", err)
		} else if strings.Contains(c.ResourceURL, "?") {
			bad("ResourceURL", "must not have a ?query")
		}
	}
	for _, s := range c.AuthorizationServers {
		if err := checkURL(s, false); err != nil {
			bad("AuthorizationServers", "%q: %v", s, err)
		}
	}
	if !c.JWTEnabled() {
		// Settings that only make sense with JWTs are an error alone: the
		// user meant to turn JWTs on and would otherwise get no JWT check.
		for _, f := range []struct {
			field string
			set   bool
		}{
			{"Issuer", c.Issuer != ""}, {"Audience", c.Audience != ""}, {"RoleClaim", c.RoleClaim != ""},
			{"DatabasesClaim", c.DatabasesClaim != ""}, {"AllowedRoles", len(c.AllowedRoles) > 0},
			{"MaxTokenLifetime", c.MaxTokenLifetime != 0},
		} {
			if f.set {
				bad(f.field, "is set but JWT authentication is off: set the JWKS URL too, or unset it")
			}
		}
		return p
	}
	if err := checkURL(c.JWKSURL, true); err != nil {
		bad("JWKSURL", "%v", err)
	}
	if c.Issuer == "" {
		bad("Issuer", "is required with a JWKS URL: the exact iss claim of accepted tokens")
	}
	if c.Audience == "" {
		bad("Audience", "is required with a JWKS URL: a value the aud claim of accepted tokens must contain")
	}
	if c.ResourceURL == "" {
		bad("ResourceURL", "is required with a JWKS URL: the URL clients use for the MCP endpoint, e.g. https://pgmcp.example.com/mcp")
	}
	for _, f := range []struct{ field, value string }{
		{"IdentityClaim", c.IdentityClaim}, {"RoleClaim", c.RoleClaim}, {"DatabasesClaim", c.DatabasesClaim},
	} {
		if f.value != "" && !validClaimName(f.value) {
			bad(f.field, "%q is not a claim name (a top-level claim, without spaces or dots)", f.value)
		}
	}
	if c.JWKSRefresh < minJWKSRefresh || c.JWKSRefresh > maxJWKSRefresh {
		bad("JWKSRefresh", "must be between %s and %s, got %s", minJWKSRefresh, maxJWKSRefresh, c.JWKSRefresh)
	}
	if c.MaxTokenLifetime != 0 && (c.MaxTokenLifetime < minTokenLifetime || c.MaxTokenLifetime > maxTokenLifetime) {
		bad("MaxTokenLifetime", "must be 0 (off) or between %s and %s, got %s", minTokenLifetime, maxTokenLifetime, c.MaxTokenLifetime)
	}
	switch {
	case c.RoleClaim != "" && len(c.AllowedRoles) == 0:
		bad("AllowedRoles", "is required with the role claim: list the roles a token may name (names, or patterns such as analyst_*); "+
			"without the list a token could name any role pgmcp's login role may switch to")
	case c.RoleClaim == "" && len(c.AllowedRoles) > 0:
		bad("AllowedRoles", "is set but no role claim is: set the role claim too, or unset it")
	}
	for _, pat := range c.AllowedRoles {
		if err := checkRolePattern(pat); err != nil {
			bad("AllowedRoles", "%q: %v", pat, err)
			continue
		}
		for _, login := range c.LoginRoles {
			if !hasPatternMeta(pat) && strings.EqualFold(pat, login) {
				bad("AllowedRoles", "%q is pgmcp's login role: a caller may never run as it (list the per-user roles only)", pat)
			}
		}
	}
	return p
}

// checkRolePattern accepts a role name or a path.Match pattern over role
// names: letters, digits, _ $ - and the pattern characters * ? [ ] ^.
func checkRolePattern(pat string) error {
	if pat == "" || len(pat) > 128 {
		return errors.New("must be a role name or a pattern of at most 128 characters")
	}
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("_$-*?[]^", c) >= 0:
		default:
			return fmt.Errorf("holds %q: use letters, digits, _ $ - and the pattern characters * ? [ ]", c)
		}
	}
	if _, err := path.Match(pat, ""); err != nil {
		return errors.New("is not a valid pattern (see Go's path.Match: *, ?, [a-z], [^a-z])")
	}
	if !hasPatternMeta(pat) && strings.HasPrefix(strings.ToLower(pat), "pg_") {
		return errors.New("pg_* roles are PostgreSQL's predefined roles and are never allowed")
	}
	return nil
}

// hasPatternMeta reports whether a role pattern is a pattern rather than
// a name.
func hasPatternMeta(pat string) bool { return strings.ContainsAny(pat, "*?[") }

// withDefaults fills in the defaults.
func (c Config) withDefaults() Config {
	if c.IdentityClaim == "" {
		c.IdentityClaim = DefaultIdentityClaim
	}
	if c.JWKSRefresh == 0 {
		c.JWKSRefresh = DefaultJWKSRefresh
	}
	if len(c.AuthorizationServers) == 0 && c.Issuer != "" {
		c.AuthorizationServers = []string{c.Issuer}
	}
	return c
}

// checkURL accepts an absolute http(s) URL without fragment. keys, for
// the JWKS URL, requires https unless the host is loopback: keys fetched
// in clear text from elsewhere could be swapped on the way.
func checkURL(s string, keys bool) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an absolute http(s) URL")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("must not have a #fragment")
	}
	if u.User != nil {
		return fmt.Errorf("must not hold a user name or password")
	}
	if keys && u.Scheme != "https" && !loopbackHost(u.Hostname()) {
		return fmt.Errorf("must be https (plain http is allowed only on a loopback address)")
	}
	return nil
}

// loopbackHost reports whether host (no port) is localhost or a loopback IP.
func loopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 { // IPv6 zone
		host = host[:i]
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validClaimName(s string) bool {
	return s != "" && len(s) <= 128 && !strings.ContainsAny(s, " \t\r\n.\"\\")
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
