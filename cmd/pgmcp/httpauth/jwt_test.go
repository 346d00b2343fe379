package httpauth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// wantMetadataURL is where the challenges of testResource point.
const wantMetadataURL = "https://pgmcp.example.com/.well-known/oauth-protected-resource/mcp"

// authCode authenticates token and returns the refusal (nil if accepted).
func authCode(t *testing.T, a *Authenticator, token string) *Error {
	t.Helper()
	_, err := a.Authenticate(context.Background(), token)
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *Error", err)
	}
	return e
}

func TestJWTValidTokens(t *testing.T) {
	jw := newJWKSServer(t)
	cfg := jw.config()
	cfg.IdentityClaim = "preferred_username"
	cfg.RoleClaim = "pg_role"
	cfg.AllowedRoles = []string{"analyst"}
	cfg.DatabasesClaim = "pg_databases"
	a, _ := newTestAuth(t, cfg, fastTiming)
	srv := serve(t, a)

	for _, k := range []*testKey{jw.rsaKey, jw.ecKey} {
		t.Run(k.alg, func(t *testing.T) {
			c := jw.claims()
			c["sub"] = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
			c["preferred_username"] = "alice@example.com"
			c["pg_role"] = "analyst"
			c["pg_databases"] = []string{"shop", "crm"}
			c["aud"] = []string{"account", testAudience} // aud as a list holding ours
			resp, body := call(t, srv.URL+"/mcp", "Bearer "+jw.sign(k, c))
			id := mustIdentity(t, resp, body)
			if id.Name != "alice@example.com" || id.Method != "jwt" || id.Role != "analyst" ||
				!slices.Equal(id.Databases, []string{"shop", "crm"}) || id.Policy != nil {
				t.Errorf("identity %+v", id)
			}
		})
	}
}

func TestJWTDefaultClaimMapping(t *testing.T) {
	jw := newJWKSServer(t)
	a, _ := newTestAuth(t, jw.config(), fastTiming)
	c := jw.claims()
	// Role and databases claims are ignored unless configured: a token
	// does not choose its role by carrying a claim pgmcp was not told of.
	c["pg_role"] = "postgres"
	c["role"] = "postgres"
	c["databases"] = []string{"shop"}
	id, err := a.Authenticate(context.Background(), jw.sign(jw.ecKey, c))
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "alice" || id.Method != "jwt" || id.Role != "" || id.Databases != nil || id.Policy != nil {
		t.Errorf("identity %+v: want the name from sub and nothing else", id)
	}
}

func TestJWTClockSkew(t *testing.T) {
	jw := newJWKSServer(t)
	a, _ := newTestAuth(t, jw.config(), fastTiming)
	now := time.Now()
	c := jw.claims()
	c["exp"] = now.Add(-clockSkew / 3).Unix()
	if e := authCode(t, a, jw.sign(jw.rsaKey, c)); e != nil {
		t.Errorf("a token expired %s ago (within the skew): %v", clockSkew/3, e)
	}
	c = jw.claims()
	c["nbf"] = now.Add(clockSkew / 3).Unix()
	c["iat"] = now.Add(clockSkew / 3).Unix()
	if e := authCode(t, a, jw.sign(jw.rsaKey, c)); e != nil {
		t.Errorf("a token valid in %s (within the skew): %v", clockSkew/3, e)
	}
}

func TestJWTRefusals(t *testing.T) {
	jw := newJWKSServer(t)
	a, logs := newTestAuth(t, jw.config(), fastTiming)
	srv := serve(t, a)
	now := time.Now()

	with := func(change func(c map[string]any)) map[string]any {
		c := jw.claims()
		change(c)
		return c
	}
	stranger := newRSATestKey(t, "rsa-1", 1) // another key under a published kid
	der, err := x509.MarshalPKIXPublicKey(&jw.rsaKey.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	valid := jw.sign(jw.rsaKey, jw.claims())
	header := func(alg, kid string) map[string]any { return map[string]any{"alg": alg, "kid": kid, "typ": "JWT"} }

	cases := []struct {
		name  string
		token string
		code  Code
	}{
		{"expired", jw.sign(jw.rsaKey, with(func(c map[string]any) { c["exp"] = now.Add(-10 * time.Minute).Unix() })), CodeTokenExpired},
		{"expired ES256", jw.sign(jw.ecKey, with(func(c map[string]any) { c["exp"] = now.Add(-2 * clockSkew).Unix() })), CodeTokenExpired},
		{"no exp", jw.sign(jw.rsaKey, with(func(c map[string]any) { delete(c, "exp") })), CodeBadClaims},
		{"nbf in the future", jw.sign(jw.rsaKey, with(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() })), CodeTokenNotYetValid},
		{"iat in the future", jw.sign(jw.ecKey, with(func(c map[string]any) { c["iat"] = now.Add(10 * time.Minute).Unix() })), CodeTokenNotYetValid},
		{"wrong issuer", jw.sign(jw.rsaKey, with(func(c map[string]any) { c["iss"] = "https://evil.example.test/realms/pgmcp" })), CodeWrongIssuer},
		{"issuer with a trailing slash", jw.sign(jw.rsaKey, with(func(c map[string]any) { c["iss"] = testIssuer + "/" })), CodeWrongIssuer},
		{"no issuer", jw.sign(jw.rsaKey, with(func(c map[string]any) { delete(c, "iss") })), CodeWrongIssuer},
		{"wrong audience", jw.sign(jw.rsaKey, with(func(c map[string]any) { c["aud"] = "another-api" })), CodeWrongAudience},
		{"audience list without ours", jw.sign(jw.ecKey, with(func(c map[string]any) { c["aud"] = []string{"account", "pgmcp2"} })), CodeWrongAudience},
		{"no audience", jw.sign(jw.rsaKey, with(func(c map[string]any) { delete(c, "aud") })), CodeWrongAudience},
		{"no sub", jw.sign(jw.rsaKey, with(func(c map[string]any) { delete(c, "sub") })), CodeBadClaims},
		{"empty sub", jw.sign(jw.rsaKey, with(func(c map[string]any) { c["sub"] = "" })), CodeBadClaims},
		{"sub with a control character", jw.sign(jw.rsaKey, with(func(c map[string]any) { c["sub"] = "alice\nadmin" })), CodeBadClaims},
		{"sub a number", jw.sign(jw.rsaKey, with(func(c map[string]any) { c["sub"] = 123 })), CodeBadClaims},
		{"iss a number", jw.sign(jw.rsaKey, with(func(c map[string]any) { c["iss"] = 5 })), CodeBadClaims},
		{"aud a number", jw.sign(jw.rsaKey, with(func(c map[string]any) { c["aud"] = 5 })), CodeBadClaims},
		{"exp not a date", jw.sign(jw.ecKey, with(func(c map[string]any) { c["exp"] = "tomorrow" })), CodeBadClaims},
		{"payload not JSON", compactJWSPayload(t, jw.rsaKey, []byte("not json")), CodeBadSignature},
		{"tampered payload", tamperPayload(t, valid), CodeBadSignature},
		{"tampered signature", tamperSignature(valid), CodeBadSignature},
		{"signed by another key under a published kid", jw.sign(stranger, jw.claims()), CodeBadSignature},
		{"ES256 signed by another key under a published kid", jw.sign(newECTestKey(t, "ec-1"), jw.claims()), CodeBadSignature},
		{"alg none", compactJWS(t, header("none", ""), jw.claims(), nil), CodeUnsupportedAlgorithm},
		{"alg none with a kid", compactJWS(t, header("none", "rsa-1"), jw.claims(), nil), CodeUnsupportedAlgorithm},
		{"alg NONE", compactJWS(t, header("NONE", "rsa-1"), jw.claims(), nil), CodeUnsupportedAlgorithm},
		{"HS256 keyed with the RSA public key", compactJWS(t, header("HS256", "rsa-1"), jw.claims(), hs256(der)), CodeUnsupportedAlgorithm},
		{"HS256 keyed with the JWK's n", compactJWS(t, header("HS256", "rsa-1"), jw.claims(), hs256(jw.rsaKey.rsa.N.Bytes())), CodeUnsupportedAlgorithm},
		{"RS384", jw.signHeader(jw.rsaKey, header("RS384", "rsa-1"), jw.claims()), CodeUnsupportedAlgorithm},
		{"PS256", jw.signHeader(jw.rsaKey, header("PS256", "rsa-1"), jw.claims()), CodeUnsupportedAlgorithm},
		{"RS256 with the EC key's kid", jw.signHeader(jw.rsaKey, header("RS256", "ec-1"), jw.claims()), CodeUnsupportedAlgorithm},
		{"ES256 with the RSA key's kid", jw.signHeader(jw.ecKey, header("ES256", "rsa-1"), jw.claims()), CodeUnsupportedAlgorithm},
		{"no alg", jw.signHeader(jw.rsaKey, map[string]any{"kid": "rsa-1"}, jw.claims()), CodeUnsupportedAlgorithm},
		{"embedded jwk of the signer", jw.signHeader(stranger, map[string]any{"alg": "RS256", "kid": "rsa-1",
			"jwk": (&testKey{kid: "rsa-1", alg: "RS256", rsa: stranger.rsa}).jwk()}, jw.claims()), CodeBadSignature},
		{"jku of the signer", jw.signHeader(stranger, map[string]any{"alg": "RS256", "kid": "rsa-1",
			"jku": "https://evil.example.test/jwks.json"}, jw.claims()), CodeBadSignature},
		{"unknown critical header", jw.signHeader(jw.rsaKey, map[string]any{"alg": "RS256", "kid": "rsa-1",
			"crit": []string{"exp-policy"}, "exp-policy": "ignore"}, jw.claims()), CodeBadSignature},
		{"b64 false", jw.signHeader(jw.rsaKey, map[string]any{"alg": "RS256", "kid": "rsa-1",
			"b64": false, "crit": []string{"b64"}}, jw.claims()), CodeBadSignature},
		{"header not JSON", b64([]byte(`{"alg":"RS256"`)) + "." + strings.SplitN(valid, ".", 2)[1], CodeBadSignature},
		{"JWT with no signature", strings.TrimSuffix(valid, valid[strings.LastIndex(valid, ".")+1:]), CodeBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := authCode(t, a, tc.token)
			if e == nil {
				t.Fatal("accepted")
			}
			if e.Code != tc.code {
				t.Fatalf("code %s (%v), want %s", e.Code, e, tc.code)
			}
			// The same refusal over HTTP: 401, invalid_token, the message
			// as description, the metadata of the configured resource.
			resp, body := call(t, srv.URL+"/mcp", "Bearer "+tc.token)
			c := mustRefuse(t, resp, body, true)
			if c.params["resource_metadata"] != wantMetadataURL {
				t.Errorf("resource_metadata %q, want %q", c.params["resource_metadata"], wantMetadataURL)
			}
			if c.params["error_description"] != quoteSafe(e.Message) {
				t.Errorf("error_description %q, want %q", c.params["error_description"], e.Message)
			}
			if strings.Contains(string(body), tc.token) {
				t.Error("the response echoes the token")
			}
		})
	}
	if l := logs.String(); strings.Contains(l, valid) {
		t.Error("a token was logged")
	}
	for _, code := range []Code{CodeTokenExpired, CodeWrongIssuer, CodeUnsupportedAlgorithm, CodeBadSignature} {
		if !strings.Contains(logs.String(), "code="+string(code)) {
			t.Errorf("no refusal logged with code=%s", code)
		}
	}
	// The valid token the tampered ones come from is accepted.
	if e := authCode(t, a, valid); e != nil {
		t.Errorf("the untampered token: %v", e)
	}
}

// refusalCode authenticates token and returns the refusal's code ("" if
// accepted, "not an *Error" if the error is not one). Safe in goroutines.
func refusalCode(a *Authenticator, token string) Code {
	_, err := a.Authenticate(context.Background(), token)
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		return "not an *Error"
	}
	return e.Code
}

// compactJWSPayload signs an arbitrary payload with k.
func compactJWSPayload(t *testing.T, k *testKey, payload []byte) string {
	t.Helper()
	input := b64([]byte(`{"alg":"`+k.alg+`","kid":"`+k.kid+`"}`)) + "." + b64(payload)
	return input + "." + b64(k.signature(t, input))
}

// tamperPayload swaps the payload of a signed token for one naming
// another subject, keeping the signature.
func tamperPayload(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	p, err := b64decode(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	q := strings.Replace(string(p), `"sub":"alice"`, `"sub":"admin"`, 1)
	if q == string(p) {
		t.Fatalf("payload %s has no sub alice", p)
	}
	parts[1] = b64([]byte(q))
	return strings.Join(parts, ".")
}

// tamperSignature flips bits of the signature's first byte.
func tamperSignature(token string) string {
	i := strings.LastIndex(token, ".") + 1
	sig, err := b64decode(token[i:])
	if err != nil {
		panic(err)
	}
	sig[0] ^= 0x55
	return token[:i] + b64(sig)
}

func TestJWTClaimMappingRefusals(t *testing.T) {
	jw := newJWKSServer(t)
	cfg := jw.config()
	cfg.RoleClaim = "pg_role"
	cfg.AllowedRoles = []string{"analyst*"}
	cfg.DatabasesClaim = "pg_databases"
	a, _ := newTestAuth(t, cfg, fastTiming)
	srv := serve(t, a)

	good := func() map[string]any {
		c := jw.claims()
		c["pg_role"] = "analyst"
		c["pg_databases"] = []string{"shop"}
		return c
	}
	if id, err := a.Authenticate(context.Background(), jw.sign(jw.rsaKey, good())); err != nil || id.Role != "analyst" ||
		!slices.Equal(id.Databases, []string{"shop"}) {
		t.Fatalf("the good claims: %+v %v", id, err)
	}
	cases := []struct {
		name   string
		change func(c map[string]any)
		claim  string // the claim the description names
	}{
		{"role missing", func(c map[string]any) { delete(c, "pg_role") }, "pg_role"},
		{"role empty", func(c map[string]any) { c["pg_role"] = "" }, "pg_role"},
		{"role null", func(c map[string]any) { c["pg_role"] = nil }, "pg_role"},
		{"role a list", func(c map[string]any) { c["pg_role"] = []string{"analyst"} }, "pg_role"},
		{"role not a role name", func(c map[string]any) { c["pg_role"] = `analyst"; DROP ROLE x; --` }, "pg_role"},
		{"databases missing", func(c map[string]any) { delete(c, "pg_databases") }, "pg_databases"},
		{"databases empty", func(c map[string]any) { c["pg_databases"] = []string{} }, "pg_databases"},
		{"databases a string", func(c map[string]any) { c["pg_databases"] = "shop" }, "pg_databases"},
		{"databases with a number", func(c map[string]any) { c["pg_databases"] = []any{"shop", 7} }, "pg_databases"},
		{"databases with a bad name", func(c map[string]any) { c["pg_databases"] = []string{"shop", "../etc"} }, "pg_databases"},
		{"databases with a repeat", func(c map[string]any) { c["pg_databases"] = []string{"shop", "shop"} }, "pg_databases"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.change(c)
			token := jw.sign(jw.ecKey, c)
			e := authCode(t, a, token)
			if e == nil || e.Code != CodeBadClaims {
				t.Fatalf("refusal %v, want %s", e, CodeBadClaims)
			}
			resp, body := call(t, srv.URL+"/mcp", "Bearer "+token)
			ch := mustRefuse(t, resp, body, true)
			if !strings.Contains(ch.params["error_description"], tc.claim) {
				t.Errorf("description %q does not name the claim %s", ch.params["error_description"], tc.claim)
			}
		})
	}
}

func TestJWTUnknownKidRefetchesAndRotation(t *testing.T) {
	jw := newJWKSServer(t)
	a, _ := newTestAuth(t, jw.config(), fastTiming)
	waitLoaded(t, a)
	if e := authCode(t, a, jw.sign(jw.rsaKey, jw.claims())); e != nil {
		t.Fatal(e)
	}
	base := jw.fetchCount()

	// A key the issuer does not publish yet: refused, after one fetch.
	next := newRSATestKey(t, "rsa-2", 1)
	e := authCode(t, a, jw.sign(next, jw.claims()))
	if e == nil || e.Code != CodeUnknownKey {
		t.Fatalf("refusal %v, want %s", e, CodeUnknownKey)
	}
	if got := jw.fetchCount() - base; got != 1 {
		t.Errorf("%d fetches for an unknown kid, want 1", got)
	}
	// A known kid fetches nothing.
	base = jw.fetchCount()
	if e := authCode(t, a, jw.sign(jw.ecKey, jw.claims())); e != nil {
		t.Fatal(e)
	}
	if got := jw.fetchCount() - base; got != 0 {
		t.Errorf("%d fetches for a known kid", got)
	}

	// The issuer rotates: rsa-2 in, rsa-1 out. The first token signed
	// with rsa-2 makes pgmcp fetch the keys and is accepted.
	jw.publish(next, jw.ecKey)
	base = jw.fetchCount()
	id, err := a.Authenticate(context.Background(), jw.sign(next, jw.claims()))
	if err != nil || id.Name != "alice" {
		t.Fatalf("a token of the new key: %+v %v", id, err)
	}
	if got := jw.fetchCount() - base; got != 1 {
		t.Errorf("%d fetches to pick up the rotation, want 1", got)
	}
	// The retired key is refused now.
	if e := authCode(t, a, jw.sign(jw.rsaKey, jw.claims())); e == nil || e.Code != CodeUnknownKey {
		t.Errorf("a token of the retired key: %v, want %s", e, CodeUnknownKey)
	}
}

func TestJWTRefetchIsRateLimited(t *testing.T) {
	jw := newJWKSServer(t)
	tm := fastTiming
	tm.minRefreshGap = time.Hour
	a, _ := newTestAuth(t, jw.config(), tm)
	waitLoaded(t, a)
	base := jw.fetchCount()

	// Many tokens with unknown kids, at once: one fetch in all.
	var tokens []string
	for i := range 20 {
		tokens = append(tokens, jw.sign(newECTestKey(t, fmt.Sprintf("attacker-%d", i)), jw.claims()))
	}
	var wg sync.WaitGroup
	for _, token := range tokens {
		wg.Go(func() {
			if code := refusalCode(a, token); code != CodeUnknownKey {
				t.Errorf("refusal %q, want %s", code, CodeUnknownKey)
			}
		})
	}
	wg.Wait()
	if got := jw.fetchCount() - base; got != 1 {
		t.Errorf("%d fetches for 20 unknown kids within the gap, want 1", got)
	}
	// Known keys still work meanwhile.
	if e := authCode(t, a, jw.sign(jw.rsaKey, jw.claims())); e != nil {
		t.Error(e)
	}
}

// unusedLoopbackURL is a JWKS URL on a loopback port nothing listens on.
func unusedLoopbackURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + "/jwks.json"
}

func TestJWTKeysUnreachable(t *testing.T) {
	jw := newJWKSServer(t) // only to sign
	cfg := jw.config()
	cfg.JWKSURL = unusedLoopbackURL(t)
	tm := fastTiming
	tm.fetchTimeout = 500 * time.Millisecond
	a, logs := newTestAuth(t, cfg, tm)
	srv := serve(t, a)
	token := jw.sign(jw.rsaKey, jw.claims())

	start := time.Now()
	e := authCode(t, a, token)
	if e == nil || e.Code != CodeKeysUnavailable {
		t.Fatalf("refusal %v, want %s", e, CodeKeysUnavailable)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refused after %s", d)
	}
	// The internal cause says which URL failed and why; the message
	// for the caller does not.
	if e.Err == nil || !strings.Contains(e.Err.Error(), cfg.JWKSURL) {
		t.Errorf("cause %v does not name the JWKS URL", e.Err)
	}
	if strings.Contains(e.Message, "127.0.0.1") {
		t.Errorf("message %q shows the JWKS URL to the caller", e.Message)
	}
	resp, body := call(t, srv.URL+"/mcp", "Bearer "+token)
	c := mustRefuse(t, resp, body, true)
	if c.params["error_description"] != e.Message {
		t.Errorf("description %q", c.params["error_description"])
	}
	if !strings.Contains(logs.String(), "code=keys_unavailable") || !strings.Contains(logs.String(), cfg.JWKSURL) {
		t.Errorf("the refusal is not logged with its cause:\n%s", logs.String())
	}
}

func TestJWTKeysHangingServer(t *testing.T) {
	jw := newJWKSServer(t)
	jw.hangFetches(true)
	tm := fastTiming
	tm.fetchTimeout = 300 * time.Millisecond
	a, _ := newTestAuth(t, jw.config(), tm)
	token := jw.sign(jw.ecKey, jw.claims())

	start := time.Now()
	e := authCode(t, a, token)
	if e == nil || e.Code != CodeKeysUnavailable {
		t.Fatalf("refusal %v, want %s", e, CodeKeysUnavailable)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a hanging JWKS held the request %s (fetch timeout %s)", d, tm.fetchTimeout)
	}
	// Once the server answers, the next token loads the keys.
	jw.hangFetches(false)
	if e := authCode(t, a, token); e != nil {
		t.Errorf("after the server recovered: %v", e)
	}
}

func TestJWTKeysInHandSurviveFailedFetches(t *testing.T) {
	jw := newJWKSServer(t)
	a, _ := newTestAuth(t, jw.config(), fastTiming)
	waitLoaded(t, a)
	for _, fail := range []func(){
		func() { jw.failWith(http.StatusServiceUnavailable) },
		func() { jw.serveBody("<html>maintenance</html>") },
		func() { jw.serveBody(`{"keys": "none"}`) },
	} {
		fail()
		base := jw.fetchCount()
		// An unknown kid makes pgmcp fetch; the fetch fails; the keys in
		// hand stay and still verify.
		e := authCode(t, a, jw.sign(newECTestKey(t, "ec-9"), jw.claims()))
		if e == nil || e.Code != CodeUnknownKey {
			t.Fatalf("unknown kid: %v, want %s", e, CodeUnknownKey)
		}
		if jw.fetchCount() == base {
			t.Error("no fetch for an unknown kid")
		}
		if e.Err == nil || !strings.Contains(e.Err.Error(), "fetching the JWKS again failed") {
			t.Errorf("the cause %v does not say the fetch failed", e.Err)
		}
		if e := authCode(t, a, jw.sign(jw.rsaKey, jw.claims())); e != nil {
			t.Errorf("the keys in hand were dropped: %v", e)
		}
		jw.failWith(0)
		jw.serveBody("")
	}
}

func TestJWTStartupRetryAfterHTTPError(t *testing.T) {
	jw := newJWKSServer(t)
	jw.failWith(http.StatusServiceUnavailable)
	tm := fastTiming
	tm.retry = time.Second
	cfg := jw.config()
	cfg.JWKSRefresh = time.Hour
	a, _ := newTestAuth(t, cfg, tm)

	deadline := time.Now().Add(5 * time.Second)
	for jw.fetchCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no fetch at start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	jw.failWith(0)
	// No token arrives: the background retry alone must load the keys,
	// after the retry delay, not after JWKSRefresh.
	waitLoaded(t, a)
	if e := authCode(t, a, jw.sign(jw.rsaKey, jw.claims())); e != nil {
		t.Error(e)
	}
}

func TestJWTKeyringSkipsUnusableKeys(t *testing.T) {
	jw := newJWKSServer(t)
	small := &testKey{kid: "rsa-small", alg: "RS256", rsa: smallRSAKey(t)}
	enc := newRSATestKey(t, "rsa-enc", 1)
	encJWK := enc.jwk()
	encJWK["use"] = "enc"
	ps := newRSATestKey(t, "rsa-ps", 2)
	psJWK := ps.jwk()
	psJWK["alg"] = "PS256" // published for another algorithm
	noAlg := newECTestKey(t, "ec-noalg")
	noAlgJWK := noAlg.jwk()
	delete(noAlgJWK, "alg")
	delete(noAlgJWK, "use")
	jw.publishRaw(
		jw.rsaKey.jwk(),
		small.jwk(),
		encJWK,
		psJWK,
		noAlgJWK,
		map[string]any{"kty": "oct", "kid": "hmac", "k": b64([]byte("0123456789abcdef0123456789abcdef"))},
	)
	a, logs := newTestAuth(t, jw.config(), fastTiming)
	waitLoaded(t, a)

	if e := authCode(t, a, jw.sign(jw.rsaKey, jw.claims())); e != nil {
		t.Errorf("the usable RSA key: %v", e)
	}
	if e := authCode(t, a, jw.sign(noAlg, jw.claims())); e != nil {
		t.Errorf("an EC key without alg nor use: %v", e)
	}
	for _, k := range []*testKey{small, enc, ps} {
		if e := authCode(t, a, jw.sign(k, jw.claims())); e == nil || e.Code != CodeUnknownKey {
			t.Errorf("%s: %v, want %s", k, e, CodeUnknownKey)
		}
	}
	hmacTok := compactJWS(t, map[string]any{"alg": "HS256", "kid": "hmac"}, jw.claims(),
		hs256([]byte("0123456789abcdef0123456789abcdef")))
	if e := authCode(t, a, hmacTok); e == nil || e.Code != CodeUnsupportedAlgorithm {
		t.Errorf("HS256 with a published oct key: %v, want %s", e, CodeUnsupportedAlgorithm)
	}
	l := logs.String()
	for _, want := range []string{"rsa-small", "rsa-enc", "rsa-ps", "hmac"} {
		if !strings.Contains(l, want) {
			t.Errorf("the log does not say why %s was skipped:\n%s", want, l)
		}
	}
}

func TestJWTWithTokensFile(t *testing.T) {
	jw := newJWKSServer(t)
	cfg := jw.config()
	cfg.TokensFile = writeFile(t, "tokens.json", tokensJSON())
	a, _ := newTestAuth(t, cfg, fastTiming)
	ctx := context.Background()
	if id, err := a.Authenticate(ctx, aliceToken); err != nil || id.Method != "token" || id.Role != "analyst" {
		t.Errorf("tokens file: %+v %v", id, err)
	}
	if id, err := a.Authenticate(ctx, jw.sign(jw.rsaKey, jw.claims())); err != nil || id.Method != "jwt" {
		t.Errorf("JWT: %+v %v", id, err)
	}
	// Neither a listed token nor a JWT.
	base := jw.fetchCount()
	_, err := a.Authenticate(ctx, "pgmcp_not-listed-0123456789")
	mustCode(t, err, CodeUnknownToken)
	if jw.fetchCount() != base {
		t.Error("a token that is not a JWT made pgmcp fetch the keys")
	}
}

func TestJWTConcurrentVerifyAndRotation(t *testing.T) {
	jw := newJWKSServer(t)
	a, _ := newTestAuth(t, jw.config(), fastTiming)
	waitLoaded(t, a)
	next := newRSATestKey(t, "rsa-2", 1)
	good := jw.sign(jw.ecKey, jw.claims())
	rotated := jw.sign(next, jw.claims())

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if code := refusalCode(a, good); code != "" {
					t.Errorf("the EC key, kept across the rotation: %s", code)
					return
				}
				if i%2 == 0 {
					// Refused before the rotation, accepted after.
					if code := refusalCode(a, rotated); code != "" && code != CodeUnknownKey {
						t.Errorf("the new key: %s", code)
						return
					}
				}
			}
		})
	}
	jw.publish(jw.rsaKey, next, jw.ecKey)
	wg.Wait()
	if e := authCode(t, a, rotated); e != nil {
		t.Errorf("after the rotation: %v", e)
	}
}

func TestJWTCloseBeforeKeysLoad(t *testing.T) {
	jw := newJWKSServer(t)
	jw.hangFetches(true)
	tm := fastTiming
	tm.fetchTimeout = 200 * time.Millisecond
	a, logs := newTestAuth(t, jw.config(), tm)
	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %s with a fetch hanging", d)
	}
	// Past the time the start report waits for the keys: a closed
	// verifier does not warn that it keeps retrying.
	time.Sleep(tm.fetchTimeout + 1500*time.Millisecond)
	if strings.Contains(logs.String(), "retrying") {
		t.Errorf("a closed authenticator still reports:\n%s", logs.String())
	}
}
