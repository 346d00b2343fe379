package httpauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/pgmcp/pgmcp/tools/engine"
)

// timing holds the JWKS fetching times (tests shorten them).
type timing struct {
	// fetchTimeout bounds one fetch of the JWKS, body included.
	fetchTimeout time.Duration
	// minRefreshGap is the least time between two fetches that tokens with
	// an unknown key trigger: a caller cannot make pgmcp hammer the JWKS
	// endpoint.
	minRefreshGap time.Duration
	// retry is when a failed periodic fetch is tried again (at most
	// JWKSRefresh).
	retry time.Duration
}

var defaultTiming = timing{fetchTimeout: 10 * time.Second, minRefreshGap: 10 * time.Second, retry: time.Minute}

const (
	// clockSkew is the leeway on exp, nbf and iat.
	clockSkew = 30 * time.Second
	// minRSABits refuses RSA keys too small to trust.
	minRSABits = 2048
	// maxIdentityLen caps the identity claim.
	maxIdentityLen = 256
	// maxJWKSBytes caps a fetched JWKS (real ones are a few kB).
	maxJWKSBytes = 1 << 20
)

// jwtVerifier verifies JWTs against the keys of a JWKS URL, fetched and
// refreshed by jwx's cache.
type jwtVerifier struct {
	cfg   Config
	log   *slog.Logger
	cache *jwk.Cache
	res   *httprc.ResourceBase[jwk.Set]
	ring  atomic.Pointer[keyring]
	stop  context.CancelFunc // ends reportStart

	timing         timing
	refreshMu      sync.Mutex
	lastRefresh    time.Time
	lastRefreshErr error // of the fetch at lastRefresh
}

// ringKey is one usable published key.
type ringKey struct {
	kid string
	alg jwa.SignatureAlgorithm
	pub any // *rsa.PublicKey or *ecdsa.PublicKey
}

// keyring is the usable keys of one fetched JWKS.
type keyring struct {
	set  jwk.Set
	keys []ringKey
}

// jwksParseOptions parse a JWKS keeping the entries jwx cannot use (an
// unknown key type, an RSA key under 2048 bits...) as placeholders:
// buildKeyring skips them and says why. By default one such entry would
// fail the whole set, and with it every JWT.
var jwksParseOptions = []jwk.ParseOption{jwk.WithStrictKeySetParsing(false)}

// newJWTVerifier registers the JWKS URL with a cache and returns at once:
// the first fetch runs in the background, and a JWKS that cannot be
// reached only means tokens are refused until it can.
func newJWTVerifier(ctx context.Context, cfg Config, logger *slog.Logger, tm timing) (*jwtVerifier, error) {
	tm.retry = min(tm.retry, cfg.JWKSRefresh)
	v := &jwtVerifier{cfg: cfg, log: logger, timing: tm}
	sink := httprcErrorSink{log: logger}
	cache, err := jwk.NewCache(ctx, httprc.NewClient(httprc.WithWorkers(2), httprc.WithErrorSink(sink)))
	if err != nil {
		return nil, fmt.Errorf("JWKS cache: %w", err)
	}
	client := jwksClient{hc: jwk.WrapHTTPClientDefaults(&http.Client{Timeout: tm.fetchTimeout})}
	opts := []jwk.RegisterOption{
		jwk.WithWaitReady(false),
		jwk.WithHTTPClient(client),
		jwk.WithConstantInterval(cfg.JWKSRefresh),
		jwk.WithMinInterval(tm.retry),
	}
	for _, o := range jwksParseOptions {
		opts = append(opts, o)
	}
	if err := cache.Register(ctx, cfg.JWKSURL, opts...); err != nil {
		_ = cache.Shutdown(context.Background())
		return nil, fmt.Errorf("JWKS %s: %w", cfg.JWKSURL, err)
	}
	res, err := cache.LookupResource(ctx, cfg.JWKSURL)
	if err != nil {
		_ = cache.Shutdown(context.Background())
		return nil, fmt.Errorf("JWKS %s: %w", cfg.JWKSURL, err)
	}
	v.cache, v.res = cache, res
	rctx, stop := context.WithCancel(ctx)
	v.stop = stop
	go v.reportStart(rctx)
	return v, nil
}

// reportStart logs whether the keys loaded at start. close ends it: a
// verifier closed before its first fetch warns of nothing.
func (v *jwtVerifier) reportStart(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, v.timing.fetchTimeout+time.Second)
	defer cancel()
	if err := v.res.Ready(wctx); err != nil {
		if ctx.Err() == nil {
			v.log.Warn("the JWKS could not be loaded yet: JWTs are refused until it is; retrying",
				"jwks_url", v.cfg.JWKSURL, "retry_every", v.timing.retry.String())
		}
		return
	}
	v.current()
}

func (v *jwtVerifier) close(ctx context.Context) error {
	v.stop()
	return v.cache.Shutdown(ctx)
}

// jwksClient fetches the JWKS for the cache. It turns a response that is
// not a JWK set (a status other than 200, a body too large or that does
// not parse) into a fetch error. httprc retries a failed request after
// timing.retry, but schedules the next fetch after a response a whole
// JWKSRefresh later, whatever the response was: a JWKS answering 503 at
// start would otherwise leave JWTs refused for JWKSRefresh (unless a token
// triggers a fetch). The keys in hand stay in use either way.
type jwksClient struct{ hc *http.Client }

func (c jwksClient) Do(req *http.Request) (*http.Response, error) {
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	where := req.URL.Redacted()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", where, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", where, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("GET %s: the JWKS is larger than %d bytes", where, maxJWKSBytes)
	}
	if _, err := jwk.Parse(body, jwksParseOptions...); err != nil {
		return nil, fmt.Errorf("GET %s: not a JWK set: %w", where, err)
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	return res, nil
}

// httprcErrorSink logs the cache's background fetch errors.
type httprcErrorSink struct{ log *slog.Logger }

func (s httprcErrorSink) Put(_ context.Context, err error) {
	s.log.Warn("JWKS fetch failed; the keys in hand (if any) stay in use", "err", err)
}

// current returns the keyring of the JWKS in hand, or nil before the first
// successful fetch. A new fetch gets a new keyring, built once.
func (v *jwtVerifier) current() *keyring {
	set := v.res.Resource()
	if set == nil {
		return nil
	}
	old := v.ring.Load()
	if old != nil && old.set == set {
		return old
	}
	kr, skipped := buildKeyring(set)
	if v.ring.CompareAndSwap(old, kr) {
		level := slog.LevelDebug
		if old == nil || !slices.Equal(old.kids(), kr.kids()) {
			level = slog.LevelInfo
		}
		v.log.Log(context.Background(), level, "JWKS loaded", "jwks_url", v.cfg.JWKSURL,
			"keys", strings.Join(kr.kids(), ","), "skipped", strings.Join(skipped, "; "))
		return kr
	}
	if cur := v.ring.Load(); cur != nil {
		return cur
	}
	return kr
}

func (k *keyring) kids() []string {
	out := make([]string, len(k.keys))
	for i, rk := range k.keys {
		out[i] = rk.kid + "/" + rk.alg.String()
	}
	return out
}

// buildKeyring keeps the keys usable for RS256 (RSA, at least 2048 bits)
// or ES256 (EC P-256), for signatures, whose alg (if given) agrees, and
// says why it skipped the others.
func buildKeyring(set jwk.Set) (*keyring, []string) {
	kr := &keyring{set: set}
	var skipped []string
	for i := range set.Len() {
		key, ok := set.Key(i)
		if !ok {
			continue
		}
		kid, _ := key.KeyID()
		skip := func(why string) { skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %s", i+1, kid, why)) }
		if uk, ok := key.(jwk.UnsupportedKey); ok {
			why := "unsupported key"
			if err := uk.Reason(); err != nil {
				why += ": " + err.Error()
			}
			skip(why)
			continue
		}
		if use, ok := key.KeyUsage(); ok && use != "" && use != "sig" {
			skip("use is " + use)
			continue
		}
		raw, err := jwk.PublicRawKeyOf(key)
		if err != nil {
			skip(err.Error())
			continue
		}
		var alg jwa.SignatureAlgorithm
		switch pk := raw.(type) {
		case *rsa.PublicKey:
			if pk.N.BitLen() < minRSABits {
				skip(fmt.Sprintf("RSA key of %d bits (at least %d needed)", pk.N.BitLen(), minRSABits))
				continue
			}
			alg = jwa.RS256()
		case *ecdsa.PublicKey:
			if pk.Curve != elliptic.P256() {
				skip("EC key not on P-256")
				continue
			}
			alg = jwa.ES256()
		default:
			skip(fmt.Sprintf("%s key (only RSA for RS256 and EC P-256 for ES256 are accepted)", key.KeyType()))
			continue
		}
		if a, ok := key.Algorithm(); ok && a.String() != "" && a.String() != alg.String() {
			skip(fmt.Sprintf("alg %s (only %s is accepted for this key)", a, alg))
			continue
		}
		kr.keys = append(kr.keys, ringKey{kid: kid, alg: alg, pub: raw})
	}
	return kr, skipped
}

// match returns the keys that may verify a token with this kid and alg,
// and whether the kid is known (with any algorithm).
func (k *keyring) match(kid string, alg jwa.SignatureAlgorithm) (keys []ringKey, kidKnown bool) {
	if k == nil {
		return nil, false
	}
	for _, rk := range k.keys {
		if kid != "" && rk.kid != kid {
			continue
		}
		kidKnown = true
		if rk.alg == alg {
			keys = append(keys, rk)
		}
	}
	return keys, kidKnown
}

// refresh fetches the JWKS again, unless a fetch was triggered less than
// minRefreshGap ago; concurrent callers wait for the one fetch. It returns
// the fetch's error (when rate limited, the error of the last fetch).
func (v *jwtVerifier) refresh(ctx context.Context) error {
	v.refreshMu.Lock()
	defer v.refreshMu.Unlock()
	if !v.lastRefresh.IsZero() && time.Since(v.lastRefresh) < v.timing.minRefreshGap {
		return v.lastRefreshErr
	}
	v.lastRefresh = time.Now()
	rctx, cancel := context.WithTimeout(ctx, v.timing.fetchTimeout)
	defer cancel()
	_, err := v.cache.Refresh(rctx, v.cfg.JWKSURL)
	v.lastRefreshErr = err
	if err != nil {
		v.log.Warn("JWKS refresh failed", "jwks_url", v.cfg.JWKSURL, "err", err)
		return err
	}
	v.current()
	return nil
}

// jwtHeader is the part of the JOSE header read before verification.
type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	// Crit lists header extensions the recipient must understand (RFC
	// 7515 §4.1.11); pgmcp understands none, so a token with crit is
	// refused. B64 false (RFC 7797, an unencoded payload) is refused too.
	Crit json.RawMessage `json:"crit"`
	B64  *bool           `json:"b64"`
}

// looksLikeJWT reports whether token has the shape of a compact JWS.
func looksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2 && strings.HasPrefix(token, "eyJ")
}

// verify checks a compact JWS and returns the identity its claims grant.
func (v *jwtVerifier) verify(ctx context.Context, token string) (engine.Identity, *Error) {
	hdr, err := peekHeader(token)
	if err != nil {
		return engine.Identity{}, authErr(CodeBadSignature, "the token is not a valid JWT", err)
	}
	if hdr.Crit != nil || (hdr.B64 != nil && !*hdr.B64) {
		return engine.Identity{}, authErr(CodeBadSignature, "the token is not a valid JWT",
			errors.New("the header has crit or b64: JWS extensions are not supported"))
	}
	var alg jwa.SignatureAlgorithm
	switch hdr.Alg {
	case jwa.RS256().String():
		alg = jwa.RS256()
	case jwa.ES256().String():
		alg = jwa.ES256()
	default:
		return engine.Identity{}, authErr(CodeUnsupportedAlgorithm, "the token must be signed with RS256 or ES256",
			fmt.Errorf("alg %q", hdr.Alg))
	}
	keys, fail := v.keysFor(ctx, hdr.Kid, alg)
	if fail != nil {
		return engine.Identity{}, fail
	}

	// The key provider hands jwx only the keys chosen above, with the
	// algorithm they are for, after checking that jwx read the same alg
	// and kid from the header.
	var mismatch error
	provider := jws.KeyProviderFunc(func(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
		h := sig.ProtectedHeaders()
		a, _ := h.Algorithm()
		kid, _ := h.KeyID()
		if a.String() != alg.String() || kid != hdr.Kid {
			mismatch = fmt.Errorf("header read as alg %q kid %q, then as alg %q kid %q", hdr.Alg, hdr.Kid, a, kid)
			return mismatch
		}
		for _, k := range keys {
			sink.Key(alg, k.pub)
		}
		return nil
	})
	tok, err := jwt.ParseString(token,
		jwt.WithKeyProvider(provider),
		jwt.WithContext(ctx),
		jwt.WithValidate(true),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithAcceptableSkew(clockSkew),
	)
	if err != nil {
		return engine.Identity{}, classifyJWTError(err, mismatch)
	}
	if err := checkRawClaims(token); err != nil {
		return engine.Identity{}, err
	}
	if err := v.checkLifetime(tok, time.Now()); err != nil {
		return engine.Identity{}, err
	}
	return v.identity(tok)
}

// checkRawClaims reads the payload jwx has just verified and refuses what
// jwx would let through: a claim given twice (jwx and pgmcp must not read
// different values), and exp, nbf or iat that are not JSON numbers (jwx
// also accepts a numeric string such as "9999999999", and even an RFC 3339
// date; RFC 7519 §2 says a NumericDate is a JSON number).
func checkRawClaims(token string) *Error {
	fail := func(msg string, cause error) *Error { return authErr(CodeBadClaims, msg, cause) }
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fail("the token is not a valid JWT", errors.New("not three segments"))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fail("the token is not a valid JWT", fmt.Errorf("payload: %w", err))
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fail("the token's claims are not a JSON object", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fail("the token's claims are not valid JSON", err)
		}
		name, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fail("the token's claims are not valid JSON", err)
		}
		if seen[name] {
			return fail("the token holds a claim twice", fmt.Errorf("claim %q is repeated", name))
		}
		seen[name] = true
		switch name {
		case "exp", "nbf", "iat":
			if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
				return fail("the token's exp/nbf/iat claims must be JSON numbers of seconds since 1970",
					fmt.Errorf("claim %q is %.40s", name, raw))
			}
		}
	}
	return nil
}

// checkLifetime applies MaxTokenLifetime: iat and exp are required, and
// neither exp-iat nor exp-now may exceed the maximum (exp-now gets the
// clock skew, as iat may be that far ahead of pgmcp's clock).
func (v *jwtVerifier) checkLifetime(tok jwt.Token, now time.Time) *Error {
	limit := v.cfg.MaxTokenLifetime
	if limit <= 0 {
		return nil
	}
	exp, okExp := tok.Expiration()
	iat, okIat := tok.IssuedAt()
	if !okExp || !okIat {
		return authErr(CodeBadClaims, "the token lacks a required claim (exp and iat are required: the server limits token lifetimes)", nil)
	}
	if life := exp.Sub(iat); life > limit {
		return authErr(CodeTokenLifetime, fmt.Sprintf("the token is valid for %s, longer than this server accepts (%s)", life.Round(time.Second), limit),
			fmt.Errorf("iat %s exp %s", iat.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339)))
	}
	if left := exp.Sub(now); left > limit+clockSkew {
		return authErr(CodeTokenLifetime, fmt.Sprintf("the token is valid for another %s, longer than this server accepts (%s)", left.Round(time.Second), limit),
			fmt.Errorf("exp %s", exp.UTC().Format(time.RFC3339)))
	}
	return nil
}

// keysFor finds the keys for kid and alg, fetching the JWKS again (rate
// limited) when the keys are not loaded or the kid is unknown.
func (v *jwtVerifier) keysFor(ctx context.Context, kid string, alg jwa.SignatureAlgorithm) ([]ringKey, *Error) {
	kr := v.current()
	keys, known := kr.match(kid, alg)
	var fetchErr error
	if len(keys) == 0 && !known {
		fetchErr = v.refresh(ctx)
		kr = v.current()
		keys, known = kr.match(kid, alg)
	}
	switch {
	case len(keys) > 0:
		return keys, nil
	case kr == nil:
		if fetchErr == nil {
			fetchErr = fmt.Errorf("the JWKS %s has not been loaded yet", v.cfg.JWKSURL)
		}
		return nil, authErr(CodeKeysUnavailable, "the signing keys could not be loaded yet; try again later", fetchErr)
	case known:
		return nil, authErr(CodeUnsupportedAlgorithm, "the token's algorithm does not match its key", fmt.Errorf("kid %q alg %s", kid, alg))
	case kid == "":
		return nil, authErr(CodeUnknownKey, "no published key can verify the token", fetchErr)
	case fetchErr != nil:
		return nil, authErr(CodeUnknownKey, "the token's signing key is not published by the issuer",
			fmt.Errorf("kid %q; fetching the JWKS again failed: %w", kid, fetchErr))
	default:
		return nil, authErr(CodeUnknownKey, "the token's signing key is not published by the issuer", fmt.Errorf("kid %q", kid))
	}
}

func peekHeader(token string) (jwtHeader, error) {
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return jwtHeader{}, fmt.Errorf("header: %w", err)
	}
	var h jwtHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return jwtHeader{}, fmt.Errorf("header: %w", err)
	}
	return h, nil
}

func classifyJWTError(err, mismatch error) *Error {
	switch {
	case mismatch != nil:
		return authErr(CodeBadSignature, "the token is not a valid JWT", mismatch)
	case errors.Is(err, jwt.TokenExpiredError()):
		return authErr(CodeTokenExpired, "the token has expired", err)
	case errors.Is(err, jwt.TokenNotYetValidError()), errors.Is(err, jwt.InvalidIssuedAtError()):
		return authErr(CodeTokenNotYetValid, "the token is not valid yet", err)
	case errors.Is(err, jwt.InvalidIssuerError()):
		return authErr(CodeWrongIssuer, "the token's issuer is not accepted", err)
	case errors.Is(err, jwt.InvalidAudienceError()):
		return authErr(CodeWrongAudience, "the token's audience does not include this server", err)
	case errors.Is(err, jwt.MissingRequiredClaimError()):
		return authErr(CodeBadClaims, "the token lacks a required claim (exp)", err)
	case errors.Is(err, jwt.ValidateError()):
		return authErr(CodeBadClaims, "the token's claims are not valid", err)
	case errors.Is(err, jws.VerifyError()):
		return authErr(CodeBadSignature, "the token's signature could not be verified", err)
	case errors.Is(err, jwt.UnknownPayloadTypeError()):
		return authErr(CodeBadSignature, "the token is not a valid JWT", err)
	}
	// jwx decodes the claims only once the signature is verified: what
	// fails now is a registered claim of the wrong type (a numeric sub, an
	// exp that is not a date...), not the signature.
	return authErr(CodeBadClaims, "the token's claims are not valid", err)
}

// identity maps the claims to an Identity: the name from IdentityClaim,
// and, when configured, the role and the databases (required then: a
// token without them is refused rather than given the login role's
// access to every database).
func (v *jwtVerifier) identity(tok jwt.Token) (engine.Identity, *Error) {
	id := engine.Identity{Method: "jwt"}
	name, err := stringClaim(tok, v.cfg.IdentityClaim)
	if err == nil {
		err = checkIdentityName(name)
	}
	if err != nil {
		return id, authErr(CodeBadClaims, fmt.Sprintf("the token's %q claim must name the caller", v.cfg.IdentityClaim), err)
	}
	id.Name = name
	if v.cfg.RoleClaim != "" {
		role, err := stringClaim(tok, v.cfg.RoleClaim)
		if err == nil {
			err = checkRole(role)
		}
		if err != nil {
			return id, authErr(CodeBadClaims, fmt.Sprintf("the token's %q claim must name a PostgreSQL role", v.cfg.RoleClaim), err)
		}
		if why := roleRefusal(role, v.cfg.AllowedRoles, v.cfg.LoginRoles); why != "" {
			return id, authErr(CodeRoleNotAllowed, fmt.Sprintf("the token's %q claim names a role this server does not allow: %s", v.cfg.RoleClaim, why),
				fmt.Errorf("role %q", role))
		}
		id.Role = role
	}
	if v.cfg.DatabasesClaim != "" {
		dbs, err := stringsClaim(tok, v.cfg.DatabasesClaim)
		if err == nil {
			err = checkDatabases(dbs)
		}
		if err != nil {
			return id, authErr(CodeBadClaims, fmt.Sprintf("the token's %q claim must list the databases the caller may use", v.cfg.DatabasesClaim), err)
		}
		id.Databases = dbs
	}
	return id, nil
}

// roleRefusal says why a role named by a token may not be used, or ""
// when it may: never a login role of pgmcp (compared case-insensitively,
// to be safe) nor a predefined pg_* role, and otherwise only a role that
// one of the allowed names or patterns matches (path.Match, whole name,
// case-sensitive, as PostgreSQL's quoted role names are).
func roleRefusal(role string, allowed, login []string) string {
	for _, l := range login {
		if strings.EqualFold(role, l) {
			return "it is pgmcp's own login role"
		}
	}
	if strings.HasPrefix(strings.ToLower(role), "pg_") {
		return "pg_* roles are PostgreSQL's predefined roles"
	}
	for _, pat := range allowed {
		if ok, err := path.Match(pat, role); err == nil && ok {
			return ""
		}
	}
	return "it is not among the allowed roles"
}

func claim(tok jwt.Token, name string) (any, error) {
	if !tok.Has(name) {
		return nil, fmt.Errorf("claim %q is missing", name)
	}
	var v any
	if err := tok.Get(name, &v); err != nil {
		return nil, fmt.Errorf("claim %q: %w", name, err)
	}
	return v, nil
}

func stringClaim(tok jwt.Token, name string) (string, error) {
	v, err := claim(tok, name)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("claim %q is not a non-empty string", name)
	}
	return s, nil
}

func stringsClaim(tok jwt.Token, name string) ([]string, error) {
	v, err := claim(tok, name)
	if err != nil {
		return nil, err
	}
	switch l := v.(type) {
	case []string:
		return slices.Clone(l), nil
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("claim %q holds a non-string", name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("claim %q is not a list of strings", name)
}

func checkIdentityName(s string) error {
	if len(s) > maxIdentityLen {
		return fmt.Errorf("longer than %d bytes", maxIdentityLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return errors.New("holds control characters or invalid UTF-8")
		}
	}
	return nil
}
