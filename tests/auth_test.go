package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// issuer signs JWTs with an RSA key it publishes as a JWKS.
type issuer struct {
	srv *httptest.Server
	key jwk.Key
	url string
}

const (
	testIssuer   = "https://idp.pgmcp.test/"
	testAudience = "pgmcp-e2e"
	testResource = "https://pgmcp.example.test/mcp"
)

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Set(jwk.KeyIDKey, "e2e-1"); err != nil {
		t.Fatal(err)
	}
	if err := key.Set(jwk.AlgorithmKey, jwa.RS256()); err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return &issuer{srv: srv, key: key, url: srv.URL + "/jwks.json"}
}

// token signs a JWT; edit changes the claims before signing.
func (is *issuer) token(t *testing.T, sub string, claims map[string]any, edit func(b *jwt.Builder)) string {
	t.Helper()
	now := time.Now()
	b := jwt.NewBuilder().Issuer(testIssuer).Audience([]string{testAudience}).Subject(sub).
		IssuedAt(now).Expiration(now.Add(10 * time.Minute))
	for k, v := range claims {
		b = b.Claim(k, v)
	}
	if edit != nil {
		edit(b)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), is.key))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// rlsDatabase is a demo database with a notes table under a row-level
// security policy (each role reads its own rows), a login role of its own
// for pgmcp, and three roles that login role may switch to.
func rlsDatabase(t *testing.T) (db *pgtest.DB, loginURL, alice, bob, carol string) {
	t.Helper()
	db = pgtest.NewDB(t, pgtest.Demo)
	login, loginURL := db.PrivateReader(t)
	suffix := db.Name[len(db.Name)-8:]
	alice, bob, carol = "alice_"+suffix, "bob_"+suffix, "carol_"+suffix
	db.Exec(t, fmt.Sprintf(`CREATE TABLE public.notes (owner name NOT NULL, body text NOT NULL);
		INSERT INTO public.notes VALUES ('%[1]s', 'alice 1'), ('%[1]s', 'alice 2'), ('%[2]s', 'bob 1'), ('%[3]s', 'carol 1');
		ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
		CREATE POLICY own_notes ON public.notes USING (owner = current_user);
		CREATE ROLE %[1]s NOLOGIN; CREATE ROLE %[2]s NOLOGIN; CREATE ROLE %[3]s NOLOGIN;
		GRANT %[1]s, %[2]s, %[3]s TO %[4]s;
		GRANT USAGE ON SCHEMA public TO %[1]s, %[2]s, %[3]s;
		GRANT SELECT ON ALL TABLES IN SCHEMA public TO %[1]s, %[2]s, %[3]s;
		GRANT SELECT ON public.notes TO %[4]s;`, alice, bob, carol, login))
	t.Cleanup(func() {
		db.Exec(t, fmt.Sprintf(`DROP TABLE public.notes; DROP OWNED BY %[1]s, %[2]s, %[3]s; DROP ROLE %[1]s; DROP ROLE %[2]s; DROP ROLE %[3]s;`,
			alice, bob, carol))
	})
	return db, loginURL, alice, bob, carol
}

// bearerClient is an MCP client over HTTP sending the given bearer token.
func bearerClient(t *testing.T, url, token string) (*client.Client, error) {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	req := mcp.InitializeRequest{}
	req.Params.ClientInfo = mcp.Implementation{Name: "pgmcp-auth-test", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		return nil, err
	}
	return c, nil
}

// rawInitialize posts an initialize request with the given Authorization
// header (none when empty) and returns the response.
func rawInitialize(t *testing.T, url, authorization string) (*http.Response, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestHTTPAuthentication runs the built binary with a tokens file and JWT
// authentication over a database with row-level security. Bad credentials
// of every kind get 401 with a challenge naming the protected resource
// metadata; good ones work, each caller's queries run as the caller's
// role (so RLS shows each their own rows), and the audit log holds one
// record per tool call, with the caller's name.
func TestHTTPAuthentication(t *testing.T) {
	t.Parallel()
	_, loginURL, alice, bob, carol := rlsDatabase(t)
	is := newIssuer(t)
	dir := t.TempDir()

	// Tokens made by the real command.
	tokensFile := filepath.Join(dir, "tokens.json")
	newToken := func(name string, args ...string) string {
		t.Helper()
		code, stdout, stderr, _ := runPgmcp(t, 30*time.Second, baseEnv(), append([]string{"token", "new", name, "--add", tokensFile}, args...)...)
		if code != 0 {
			t.Fatalf("pgmcp token new %s: exit %d\n%s", name, code, stderr)
		}
		return strings.TrimSpace(stdout)
	}
	aliceToken := newToken("alice", "--role", alice)
	bobToken := newToken("bob", "--role", bob)
	otherDBToken := newToken("eve", "--role", alice, "--databases", "elsewhere")
	if raw, _ := os.ReadFile(tokensFile); bytes.Contains(raw, []byte(aliceToken)) {
		t.Fatal("the tokens file holds a token in clear")
	}

	auditFile := filepath.Join(dir, "audit.jsonl")
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+loginURL, "PGMCP_ALLOWED_SCHEMAS=public",
		"PGMCP_AUTH_TOKENS_FILE="+tokensFile,
		"PGMCP_AUTH_JWKS_URL="+is.url, "PGMCP_AUTH_ISSUER="+testIssuer, "PGMCP_AUTH_AUDIENCE="+testAudience,
		"PGMCP_AUTH_RESOURCE_URL="+testResource, "PGMCP_AUTH_ROLE_CLAIM=pg_role",
		"PGMCP_AUTH_ALLOWED_ROLES=alice_*,bob_*,carol_*",
		"PGMCP_AUDIT_LOG="+auditFile))
	mcpURL := srv.base + "/mcp"

	// Refusals: no token, a wrong token, a JWT expired, for another
	// audience, from another issuer, signed by another key.
	stranger := newIssuer(t)
	expired := is.token(t, "carol", map[string]any{"pg_role": carol}, func(b *jwt.Builder) {
		b.IssuedAt(time.Now().Add(-2 * time.Hour)).Expiration(time.Now().Add(-time.Hour))
	})
	refusals := []struct {
		name, authorization string
	}{
		{"no token", ""},
		{"wrong token", "Bearer pgmcp_" + strings.Repeat("A", 43)},
		{"not bearer", "Basic " + aliceToken},
		{"expired JWT", "Bearer " + expired},
		{"wrong audience", "Bearer " + is.token(t, "carol", map[string]any{"pg_role": carol}, func(b *jwt.Builder) { b.Audience([]string{"someone-else"}) })},
		{"wrong issuer", "Bearer " + is.token(t, "carol", map[string]any{"pg_role": carol}, func(b *jwt.Builder) { b.Issuer("https://evil.test/") })},
		{"foreign key", "Bearer " + stranger.token(t, "carol", map[string]any{"pg_role": carol}, nil)},
		{"JWT without the role claim", "Bearer " + is.token(t, "carol", nil, nil)},
	}
	for _, r := range refusals {
		resp, body := rawInitialize(t, mcpURL, r.authorization)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401: %s", r.name, resp.StatusCode, body)
			continue
		}
		challenge := resp.Header.Get("WWW-Authenticate")
		if !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, `resource_metadata="`) {
			t.Errorf("%s: WWW-Authenticate %q", r.name, challenge)
		}
		// A bearer token that fails is invalid_token (RFC 6750 §3.1); no
		// bearer token at all gets the bare challenge.
		if strings.HasPrefix(r.authorization, "Bearer ") && !strings.Contains(challenge, `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate %q lacks error=\"invalid_token\"", r.name, challenge)
		}
		if strings.Contains(body, aliceToken) || strings.Contains(challenge, aliceToken) {
			t.Errorf("%s: the response echoes the token", r.name)
		}
		// A real MCP client gets no session either.
		token := strings.TrimPrefix(r.authorization, "Bearer ")
		if _, err := bearerClient(t, mcpURL, token); err == nil {
			t.Errorf("%s: an MCP client could initialize", r.name)
		}
	}

	// The protected resource metadata, unauthenticated, at the path the
	// challenge names.
	resp, _ := rawInitialize(t, mcpURL, "")
	challenge := resp.Header.Get("WWW-Authenticate")
	metaURL := challenge[strings.Index(challenge, `resource_metadata="`)+len(`resource_metadata="`):]
	metaURL = metaURL[:strings.IndexByte(metaURL, '"')]
	if !strings.HasSuffix(metaURL, "/.well-known/oauth-protected-resource/mcp") {
		t.Errorf("metadata URL %q", metaURL)
	}
	mresp, err := http.Get(srv.base + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		BearerMethods        []string `json:"bearer_methods_supported"`
	}
	err = json.NewDecoder(mresp.Body).Decode(&meta)
	mresp.Body.Close()
	if err != nil || mresp.StatusCode != 200 || meta.Resource != testResource ||
		!slices.Contains(meta.AuthorizationServers, testIssuer) || !slices.Contains(meta.BearerMethods, "header") {
		t.Errorf("metadata: status %d, %+v, %v", mresp.StatusCode, meta, err)
	}

	// Good credentials: each caller sees their own rows.
	calls := map[string]int{} // identity → tool calls made
	notes := func(who, token string) string {
		t.Helper()
		c, err := bearerClient(t, mcpURL, token)
		if err != nil {
			t.Fatalf("%s: %v", who, err)
		}
		out := callQuery(t, c, map[string]any{"sql": "SELECT body FROM notes ORDER BY body"})
		calls[who]++
		var got []string
		for _, r := range out["rows"].([]any) {
			got = append(got, r.([]any)[0].(string))
		}
		// A refused query is a call too, and is audited.
		if code, _ := callCode(t, c, "query", map[string]any{"sql": "DELETE FROM notes"}); code != "not_select" {
			t.Errorf("%s: DELETE gave %q", who, code)
		}
		calls[who]++
		return strings.Join(got, ",")
	}
	jwtCarol := is.token(t, "carol@example.test", map[string]any{"pg_role": carol}, nil)
	for range 2 { // interleaved, so a role left on a pooled connection would show
		if got := notes("alice", aliceToken); got != "alice 1,alice 2" {
			t.Errorf("alice sees %q", got)
		}
		if got := notes("bob", bobToken); got != "bob 1" {
			t.Errorf("bob sees %q", got)
		}
		if got := notes("carol@example.test", jwtCarol); got != "carol 1" {
			t.Errorf("carol (JWT) sees %q", got)
		}
	}
	// A caller limited to other databases is refused this one.
	eve, err := bearerClient(t, mcpURL, otherDBToken)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := callCode(t, eve, "query", map[string]any{"sql": "SELECT 1 AS one"}); code != "forbidden" {
		t.Errorf("eve on a database she may not use: %q", code)
	}
	calls["eve"]++

	// /metrics and /healthz stay reachable without a token (operators
	// scrape them; they carry no data).
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		r, err := http.Get(srv.base + p)
		if err != nil || r.StatusCode != 200 {
			t.Errorf("%s: %v %v", p, r, err)
		} else {
			r.Body.Close()
		}
	}

	srv.stop(t)
	// The audit log: one record per tool call, each with its caller.
	f, err := os.Open(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Identity, Client, Tool, SQL, Verdict, Error string
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if rec.Tool != "query" || rec.Client != "pgmcp-auth-test" {
			t.Errorf("audit record %s", sc.Text())
		}
		if strings.Contains(sc.Text(), "alice 1") || strings.Contains(sc.Text(), aliceToken) {
			t.Errorf("the audit log holds result data or a token: %s", sc.Text())
		}
		got[rec.Identity]++
	}
	if fmt.Sprint(got) != fmt.Sprint(calls) {
		t.Errorf("audit records by identity %v, calls made %v", got, calls)
	}
}

// TestListenRefusedWithoutAuth checks pgmcp will not serve HTTP on an
// address other machines can reach without authentication, unless told
// to; and that authentication settings without HTTP are a mistake.
func TestListenRefusedWithoutAuth(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	env := baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t))
	code, _, stderr, _ := runPgmcp(t, 30*time.Second, env, "serve", "--http", "0.0.0.0:0")
	if code != 2 || !strings.Contains(stderr, "without authentication") || !strings.Contains(stderr, "--insecure-no-auth") {
		t.Errorf("0.0.0.0 without auth: exit %d\n%s", code, stderr)
	}
	code, _, stderr, _ = runPgmcp(t, 30*time.Second, append(env, "PGMCP_AUTH_TOKENS_FILE="+filepath.Join(t.TempDir(), "none.json")), "serve", "--http", "0.0.0.0:0")
	if code != 2 || !strings.Contains(stderr, "PGMCP_AUTH_TOKENS_FILE") {
		t.Errorf("a missing tokens file: exit %d\n%s", code, stderr)
	}
	code, _, stderr, _ = runPgmcp(t, 30*time.Second, append(env, "PGMCP_AUTH_JWKS_URL=https://idp.test/jwks.json"), "serve", "--http", "127.0.0.1:0")
	if code != 2 || !strings.Contains(stderr, "PGMCP_AUTH_ISSUER") || !strings.Contains(stderr, "PGMCP_AUTH_AUDIENCE") {
		t.Errorf("JWKS without issuer and audience: exit %d\n%s", code, stderr)
	}
	code, _, stderr, _ = runPgmcp(t, 30*time.Second, append(env, "PGMCP_AUTH_TOKENS_FILE=/dev/null"), "serve")
	if code != 2 || !strings.Contains(stderr, "HTTP serving only") {
		t.Errorf("auth over stdio: exit %d\n%s", code, stderr)
	}
	// With --insecure-no-auth it serves.
	srv := startHTTP(t, []string{"serve", "--http", "0.0.0.0:0", "--insecure-no-auth"}, env)
	_ = srv
	srv.stop(t)
}

// TestHTTPS serves HTTPS with a certificate of the test's own: a client
// trusting it works with a bearer token, plain HTTP to the port does not.
func TestHTTPS(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	tokensFile := filepath.Join(dir, "tokens.json")
	code, stdout, stderr, _ := runPgmcp(t, 30*time.Second, baseEnv(), "token", "new", "tls-user", "--add", tokensFile)
	if code != 0 {
		t.Fatal(stderr)
	}
	token := strings.TrimSpace(stdout)
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_AUTH_TOKENS_FILE="+tokensFile, "PGMCP_TLS_CERT_FILE="+certFile, "PGMCP_TLS_KEY_FILE="+keyFile))
	if !strings.HasPrefix(srv.base, "https://") {
		t.Fatalf("pgmcp serves %s", srv.base)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	tr, err := transport.NewStreamableHTTP(srv.base+"/mcp", transport.WithHTTPBasicClient(hc),
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	initialize(t, c)
	if out := callQuery(t, c, map[string]any{"sql": "SELECT count(*) AS n FROM orders"}); out["row_count"] != float64(1) {
		t.Errorf("query over HTTPS: %v", out)
	}
	plain := "http://" + strings.TrimPrefix(srv.base, "https://") + "/healthz"
	if resp, err := http.Get(plain); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP to the HTTPS port answered 200")
		}
	}
	srv.stop(t)

	// Half a TLS configuration is refused at start.
	code, _, stderr, _ = runPgmcp(t, 30*time.Second, baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_TLS_CERT_FILE="+certFile), "serve", "--http", "127.0.0.1:0")
	if code != 2 || !strings.Contains(stderr, "PGMCP_TLS_KEY_FILE") {
		t.Errorf("certificate without key: exit %d, %s", code, stderr)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// a pool trusting it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pgmcp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// rawToken signs arbitrary claims (a JWT builder would turn a string exp
// into a number) with the issuer's key.
func (is *issuer) rawToken(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, "e2e-1"); err != nil {
		t.Fatal(err)
	}
	signed, err := jws.Sign(payload, jws.WithKey(jwa.RS256(), is.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// TestJWTEdgeCases runs the binary with JWTs, a role claim limited by
// PGMCP_AUTH_ALLOWED_ROLES and a maximum token lifetime: a numeric-string
// exp, a token valid too long, and a role claim naming the login role (even
// though a pattern matches it), a pg_* role or a role not listed are all
// refused; a role the operator allows works. A role claim without the
// list, or a tokens file naming the login role, stops the start.
func TestJWTEdgeCases(t *testing.T) {
	t.Parallel()
	_, loginURL, alice, bob, _ := rlsDatabase(t)
	u, err := url.Parse(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	login := u.User.Username() // r_…, which the pattern r_* below matches
	is := newIssuer(t)
	env := baseEnv("PGMCP_DATABASE_URL="+loginURL, "PGMCP_ALLOWED_SCHEMAS=public",
		"PGMCP_AUTH_JWKS_URL="+is.url, "PGMCP_AUTH_ISSUER="+testIssuer, "PGMCP_AUTH_AUDIENCE="+testAudience,
		"PGMCP_AUTH_RESOURCE_URL="+testResource, "PGMCP_AUTH_ROLE_CLAIM=pg_role")
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, append(slices.Clone(env),
		"PGMCP_AUTH_ALLOWED_ROLES=alice_*, r_*", "PGMCP_AUTH_MAX_TOKEN_LIFETIME=1h"))
	mcpURL := srv.base + "/mcp"

	now := time.Now()
	claims := func(role string, iat, exp any) map[string]any {
		return map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "someone", "pg_role": role, "iat": iat, "exp": exp}
	}
	cases := []struct {
		name   string
		token  string
		status int
		says   string // in the error description
	}{
		{"allowed role", is.token(t, "alice", map[string]any{"pg_role": alice}, nil), 200, ""},
		{"exp a numeric string", is.rawToken(t, claims(alice, now.Unix(), "9999999999")), 401, "JSON numbers"},
		{"iat a numeric string", is.rawToken(t, claims(alice, fmt.Sprint(now.Unix()), now.Add(time.Minute).Unix())), 401, "JSON numbers"},
		{"valid for 2 hours", is.rawToken(t, claims(alice, now.Unix(), now.Add(2*time.Hour).Unix())), 401, "longer than this server accepts"},
		{"no iat", is.rawToken(t, map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "x", "pg_role": alice,
			"exp": now.Add(time.Minute).Unix()}), 401, "iat"},
		{"the login role", is.token(t, "mallory", map[string]any{"pg_role": login}, nil), 403, "login role"},
		{"a role not listed", is.token(t, "mallory", map[string]any{"pg_role": bob}, nil), 403, "not among the allowed roles"},
		{"a pg_ role", is.token(t, "mallory", map[string]any{"pg_role": "pg_read_all_data"}, nil), 403, "predefined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawInitialize(t, mcpURL, "Bearer "+tc.token)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s (WWW-Authenticate %q)", resp.StatusCode, tc.status, body, resp.Header.Get("WWW-Authenticate"))
			}
			if tc.status == 200 {
				c, err := bearerClient(t, mcpURL, tc.token)
				if err != nil {
					t.Fatal(err)
				}
				if out := callQuery(t, c, map[string]any{"sql": "SELECT body FROM notes ORDER BY body"}); out["row_count"] != float64(2) {
					t.Errorf("alice's notes: %v", out)
				}
				return
			}
			if !strings.Contains(body, tc.says) {
				t.Errorf("body %s does not say %q", body, tc.says)
			}
			if tc.status == 403 && !strings.Contains(body, `"role_not_allowed"`) {
				t.Errorf("403 body %s lacks role_not_allowed", body)
			}
			if _, err := bearerClient(t, mcpURL, tc.token); err == nil {
				t.Error("an MCP client could initialize")
			}
		})
	}
	srv.stop(t)

	// Fail closed at start.
	tokensFile := filepath.Join(t.TempDir(), "tokens.json")
	entry := fmt.Sprintf(`[{"name": "svc", "token_sha256": %q, "role": %q}]`, strings.Repeat("ab", 32), login)
	if err := os.WriteFile(tokensFile, []byte(entry), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		says string
	}{
		{"role claim without allowed roles", env, "PGMCP_AUTH_ALLOWED_ROLES"},
		{"allowed roles list the login role", append(slices.Clone(env), "PGMCP_AUTH_ALLOWED_ROLES=alice_*,"+login), "login role"},
		{"tokens file names the login role", append(slices.Clone(env), "PGMCP_AUTH_ALLOWED_ROLES=alice_*", "PGMCP_AUTH_TOKENS_FILE="+tokensFile), "login role"},
	} {
		code, _, stderr, _ := runPgmcp(t, 60*time.Second, tc.env, "serve", "--http", "127.0.0.1:0")
		if code != 2 || !strings.Contains(stderr, tc.says) {
			t.Errorf("%s: exit %d, want 2 naming %q:\n%s", tc.name, code, tc.says, stderr)
		}
	}
}
