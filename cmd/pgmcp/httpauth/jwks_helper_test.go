package httpauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The issuer, audience and resource of the test JWKS server's tokens.
const (
	testIssuer   = "https://idp.example.test/realms/pgmcp"
	testAudience = "pgmcp"
	testResource = "https://pgmcp.example.com/mcp"
)

// RSA key generation is slow (more so under -race): the tests share a
// few keys, generated on first use. Key i is the same in every test.
var (
	rsaPoolMu sync.Mutex
	rsaPool   []*rsa.PrivateKey
)

func pooledRSAKey(t *testing.T, i int) *rsa.PrivateKey {
	t.Helper()
	rsaPoolMu.Lock()
	defer rsaPoolMu.Unlock()
	for len(rsaPool) <= i {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		rsaPool = append(rsaPool, k)
	}
	return rsaPool[i]
}

// testKey is a signing key and how the JWKS publishes it.
type testKey struct {
	kid string
	alg string // RS256 or ES256
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

// newRSATestKey returns the i-th pooled RSA key under kid.
func newRSATestKey(t *testing.T, kid string, i int) *testKey {
	return &testKey{kid: kid, alg: "RS256", rsa: pooledRSAKey(t, i)}
}

// newECTestKey returns a fresh P-256 key under kid.
func newECTestKey(t *testing.T, kid string) *testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, alg: "ES256", ec: k}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64decode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// smallRSAKey is an RSA key too small to be trusted (1024 bits).
func smallRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jwk is the public JWK of the key, with kid, alg and use.
func (k *testKey) jwk() map[string]any {
	m := map[string]any{"kid": k.kid, "use": "sig", "alg": k.alg}
	switch {
	case k.rsa != nil:
		m["kty"] = "RSA"
		m["n"] = b64(k.rsa.N.Bytes())
		m["e"] = b64(big.NewInt(int64(k.rsa.E)).Bytes())
	case k.ec != nil:
		pub, err := k.ec.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			panic(err)
		}
		m["kty"] = "EC"
		m["crv"] = "P-256"
		m["x"] = b64(pub[1:33])
		m["y"] = b64(pub[33:])
	}
	return m
}

// signature signs input with the key for its algorithm.
func (k *testKey) signature(t *testing.T, input string) []byte {
	t.Helper()
	digest := sha256.Sum256([]byte(input))
	switch {
	case k.rsa != nil:
		sig, err := rsa.SignPKCS1v15(nil, k.rsa, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case k.ec != nil:
		r, s, err := ecdsa.Sign(rand.Reader, k.ec, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64) // JWS ES256: r || s, 32 bytes each
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	}
	t.Fatal("a test key without key material")
	return nil
}

// compactJWS assembles header.payload.signature, signing with sign (nil:
// an empty signature).
func compactJWS(t *testing.T, header, claims map[string]any, sign func(input string) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(h) + "." + b64(p)
	var sig []byte
	if sign != nil {
		sig = sign(input)
	}
	return input + "." + b64(sig)
}

// hs256 signs with HMAC-SHA256 under secret.
func hs256(secret []byte) func(string) []byte {
	return func(input string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

// jwksServer is an identity provider for tests: it publishes a JWKS (an
// RSA key for RS256 and an EC P-256 key for ES256 at first), signs
// tokens, rotates keys, fails on demand and counts fetches.
type jwksServer struct {
	t   *testing.T
	srv *httptest.Server
	url string // of the JWKS

	rsaKey *testKey // kid "rsa-1"
	ecKey  *testKey // kid "ec-1"

	mu        sync.Mutex
	published []map[string]any // the JWKS's keys
	status    int              // when not 0 nor 200, every fetch gets it
	body      string           // when set, served instead of the JWKS
	hang      bool             // fetches block until the test ends
	released  chan struct{}    // closed when the test ends

	fetches atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{
		t:        t,
		rsaKey:   newRSATestKey(t, "rsa-1", 0),
		ecKey:    newECTestKey(t, "ec-1"),
		released: make(chan struct{}),
	}
	s.publish(s.rsaKey, s.ecKey)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveJWKS))
	s.url = s.srv.URL + "/jwks.json"
	// Cleanups run last registered first: release hung fetches, then
	// close the server (Close waits for the handlers).
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(s.released) })
	return s
}

func (s *jwksServer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/jwks.json" {
		http.NotFound(w, r)
		return
	}
	s.fetches.Add(1)
	s.mu.Lock()
	hang, status, body := s.hang, s.status, s.body
	doc, err := json.Marshal(map[string]any{"keys": s.published})
	s.mu.Unlock()
	if hang {
		select {
		case <-s.released:
		case <-r.Context().Done():
		}
		return
	}
	if status != 0 && status != http.StatusOK {
		http.Error(w, "unavailable", status)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if body != "" {
		_, _ = w.Write([]byte(body))
		return
	}
	_, _ = w.Write(doc)
}

// publish replaces the published keys (a key rotation).
func (s *jwksServer) publish(keys ...*testKey) {
	raw := make([]map[string]any, len(keys))
	for i, k := range keys {
		raw[i] = k.jwk()
	}
	s.publishRaw(raw...)
}

// publishRaw publishes the JWKs as given.
func (s *jwksServer) publishRaw(keys ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.published = keys
}

// failWith makes every fetch answer status (0: serve the JWKS again).
func (s *jwksServer) failWith(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// serveBody makes every fetch answer 200 with body ("": the JWKS again).
func (s *jwksServer) serveBody(body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

// hangFetches makes fetches block until the test ends (or not).
func (s *jwksServer) hangFetches(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = on
}

func (s *jwksServer) fetchCount() int64 { return s.fetches.Load() }

// config is a JWT configuration trusting this server.
func (s *jwksServer) config() Config {
	return Config{JWKSURL: s.url, Issuer: testIssuer, Audience: testAudience, ResourceURL: testResource}
}

// claims are valid claims for alice; tests change them.
func (s *jwksServer) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": testIssuer,
		"aud": testAudience,
		"sub": "alice",
		"iat": now.Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
	}
}

// sign makes a JWT with claims, signed by k under its kid and alg.
func (s *jwksServer) sign(k *testKey, claims map[string]any) string {
	s.t.Helper()
	return s.signHeader(k, map[string]any{"alg": k.alg, "kid": k.kid, "typ": "JWT"}, claims)
}

// signHeader makes a JWT with this header, signed by k for k.alg whatever
// the header says.
func (s *jwksServer) signHeader(k *testKey, header, claims map[string]any) string {
	s.t.Helper()
	return compactJWS(s.t, header, claims, func(input string) []byte { return k.signature(s.t, input) })
}

// waitLoaded waits until a has loaded the JWKS at least once.
func waitLoaded(t *testing.T, a *Authenticator) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for a.jwt.current() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the JWKS was not loaded within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// String helps failure messages.
func (k *testKey) String() string { return fmt.Sprintf("%s/%s", k.kid, k.alg) }
