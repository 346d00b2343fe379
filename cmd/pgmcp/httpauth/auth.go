package httpauth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/pgmcp/pgmcp/tools/engine"
)

// maxTokenLen refuses absurd bearer tokens before any work.
const maxTokenLen = 16 << 10

// Authenticator checks the bearer token of each request.
type Authenticator struct {
	cfg    Config
	log    *slog.Logger
	tokens *tokenStore  // nil without a tokens file
	jwt    *jwtVerifier // nil without a JWKS URL
	meta   metadata
}

// New validates cfg, loads the tokens file (any problem in it is an
// error) and starts fetching the JWKS in the background (a JWKS that
// cannot be reached is logged, not an error: JWTs are refused until it
// loads). ctx bounds the background fetching; Close stops it too.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Authenticator, error) {
	return newAuthenticator(ctx, cfg, logger, defaultTiming)
}

func newAuthenticator(ctx context.Context, cfg Config, logger *slog.Logger, tm timing) (*Authenticator, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.Enabled() {
		return nil, errors.New("authentication is not configured: give a tokens file or a JWKS URL")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	a := &Authenticator{cfg: cfg, log: logger, meta: newMetadata(cfg)}
	if cfg.TokensFile != "" {
		s, err := newTokenStore(cfg.TokensFile, cfg.LoginRoles)
		if err != nil {
			return nil, err
		}
		a.tokens = s
		if s.count() == 0 {
			logger.Warn("the tokens file lists no token", "file", cfg.TokensFile)
		}
	}
	if cfg.JWTEnabled() {
		v, err := newJWTVerifier(ctx, cfg, logger, tm)
		if err != nil {
			return nil, err
		}
		a.jwt = v
	}
	logger.Info("HTTP authentication on", "tokens_file", cfg.TokensFile, "tokens", a.tokenCount(),
		"jwks_url", cfg.JWKSURL, "issuer", cfg.Issuer, "audience", cfg.Audience,
		"resource", cfg.ResourceURL, "metadata_path", a.MetadataPath())
	return a, nil
}

func (a *Authenticator) tokenCount() int {
	if a.tokens == nil {
		return 0
	}
	return a.tokens.count()
}

// Close stops the background JWKS fetching.
func (a *Authenticator) Close() error {
	if a.jwt == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.jwt.timing.fetchTimeout)
	defer cancel()
	return a.jwt.close(ctx)
}

// Reload reads the tokens file again (call it on SIGHUP). When the file
// is invalid, the error says why and the tokens in force stay. Safe for
// concurrent use with requests. Without a tokens file it does nothing.
func (a *Authenticator) Reload() error {
	if a.tokens == nil {
		return nil
	}
	n, err := a.tokens.load()
	if err != nil {
		return err
	}
	a.log.Info("tokens file reloaded", "file", a.cfg.TokensFile, "tokens", n)
	return nil
}

// Authenticate returns the identity a bearer token grants: a token of the
// tokens file first, then a JWT. The error is an *Error.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (engine.Identity, error) {
	id, err := a.authenticate(ctx, token)
	if err != nil {
		return id, err
	}
	return id, nil
}

func (a *Authenticator) authenticate(ctx context.Context, token string) (engine.Identity, *Error) {
	if token == "" {
		return engine.Identity{}, authErr(CodeNoToken, "a bearer token is required", nil)
	}
	if len(token) > maxTokenLen || !isB64Token(token) {
		return engine.Identity{}, authErr(CodeMalformedToken, "the bearer token is malformed", nil)
	}
	if a.tokens != nil {
		if id, ok := a.tokens.lookup(token); ok {
			return id, nil
		}
	}
	if a.jwt != nil && looksLikeJWT(token) {
		return a.jwt.verify(ctx, token)
	}
	return engine.Identity{}, authErr(CodeUnknownToken, "the token is not valid", nil)
}

// isB64Token reports whether s is an RFC 6750 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/':
		default:
			return false
		}
	}
	return true
}

// bearerToken reads "Authorization: Bearer <token>" (the scheme is case
// insensitive). present is false when there is no bearer credential at
// all (no header, another scheme, an empty token); err is set when the
// header cannot be trusted (sent more than once).
func bearerToken(r *http.Request) (token string, present bool, err *Error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", false, nil
	}
	if len(vals) > 1 {
		return "", true, authErr(CodeMalformedToken, "send one Authorization header", nil)
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false, nil
	}
	token = strings.TrimSpace(rest)
	if token == "" {
		return "", false, nil
	}
	return token, true, nil
}

// Middleware lets through the requests that carry a valid bearer token,
// with the caller's identity in the request context (engine.IdentityFrom),
// and answers the others 401 with a WWW-Authenticate challenge pointing to
// the protected resource metadata. The token is never logged nor echoed.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, present, ferr := bearerToken(r)
		if ferr != nil {
			a.refuse(w, r, ferr, true)
			return
		}
		if !present {
			a.refuse(w, r, authErr(CodeNoToken, "a bearer token is required: send Authorization: Bearer <token>", nil), false)
			return
		}
		id, err := a.authenticate(r.Context(), token)
		if err != nil {
			a.refuse(w, r, err, true)
			return
		}
		a.log.Debug("authenticated", "who", id.Name, "method", id.Method, "role", id.Role)
		next.ServeHTTP(w, r.WithContext(engine.WithIdentity(r.Context(), id)))
	})
}

// refuse answers 401. Per RFC 6750 §3.1, a request without credentials
// gets the bare challenge; one with a bad token gets error="invalid_token"
// and a description. A valid token that grants a role the server does not
// allow gets 403: authenticating again with the same token would not help.
func (a *Authenticator) refuse(w http.ResponseWriter, r *http.Request, e *Error, presented bool) {
	level := slog.LevelInfo
	if e.Code == CodeNoToken {
		level = slog.LevelDebug
	}
	attrs := []any{"code", string(e.Code), "remote", r.RemoteAddr, "path", r.URL.Path}
	if e.Err != nil {
		attrs = append(attrs, "err", e.Err.Error())
	}
	a.log.Log(r.Context(), level, "authentication refused", attrs...)

	if e.Code == CodeRoleNotAllowed {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": string(e.Code), "error_description": e.Message})
		return
	}

	challenge := `Bearer resource_metadata="` + quoteSafe(a.meta.url(r)) + `"`
	body := map[string]string{"error": "unauthorized", "error_description": e.Message}
	if presented {
		challenge += `, error="invalid_token", error_description="` + quoteSafe(e.Message) + `"`
		body["error"] = "invalid_token"
	}
	h := w.Header()
	h.Set("WWW-Authenticate", challenge)
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(body)
}

// quoteSafe makes s fit in an HTTP quoted-string: printable ASCII, no
// quote nor backslash.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
