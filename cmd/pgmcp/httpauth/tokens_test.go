package httpauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

const (
	aliceToken = "pgmcp_alice-secret-token-0123456789abcdefghijklmnopq"
	bobToken   = "bob-token-made-by-another-tool"
)

func tokensJSON() string {
	return fmt.Sprintf(`[
  {"name": "alice", "token_sha256": %q, "role": "analyst", "databases": ["shop", "crm"],
   "policy": {"blocked_columns": {"public.customers": ["email"]}}},
  {"name": "bob@example.com", "token_sha256": %q}
]`, HashToken(aliceToken), strings.ToUpper(HashToken(bobToken)))
}

func TestTokenValidIdentityReachesHandler(t *testing.T) {
	a, _ := newTestAuth(t, Config{TokensFile: writeFile(t, "tokens.json", tokensJSON())}, fastTiming)
	srv := serve(t, a)

	resp, body := call(t, srv.URL+"/mcp", "Bearer "+aliceToken)
	id := mustIdentity(t, resp, body)
	if id.Name != "alice" || id.Method != "token" || id.Role != "analyst" || !slices.Equal(id.Databases, []string{"shop", "crm"}) {
		t.Errorf("identity %+v", id)
	}
	// The policy went through the handler's JSON, which compacts it.
	if got := string(id.Policy); got != `{"blocked_columns":{"public.customers":["email"]}}` {
		t.Errorf("policy %s", got)
	}

	// An upper-case hash in the file, a token without the prefix, and a
	// lower-case scheme.
	resp, body = call(t, srv.URL+"/mcp", "bearer "+bobToken)
	id = mustIdentity(t, resp, body)
	if id.Name != "bob@example.com" || id.Role != "" || id.Databases != nil || id.Policy != nil {
		t.Errorf("identity %+v", id)
	}
}

func TestTokenRefusals(t *testing.T) {
	a, logs := newTestAuth(t, Config{TokensFile: writeFile(t, "tokens.json", tokensJSON())}, fastTiming)
	srv := serve(t, a)
	wrong := "pgmcp_wrong-token-that-nobody-has-0123456789"

	t.Run("wrong token", func(t *testing.T) {
		resp, body := call(t, srv.URL+"/mcp", "Bearer "+wrong)
		mustRefuse(t, resp, body, true)
		if strings.Contains(string(body), wrong) || strings.Contains(resp.Header.Get("WWW-Authenticate"), wrong) {
			t.Error("the response echoes the token")
		}
	})
	t.Run("missing header", func(t *testing.T) {
		resp, body := call(t, srv.URL+"/mcp", "")
		c := mustRefuse(t, resp, body, false)
		if want := srv.URL + "/.well-known/oauth-protected-resource/mcp"; c.params["resource_metadata"] != want {
			t.Errorf("resource_metadata %q, want %q", c.params["resource_metadata"], want)
		}
	})
	t.Run("basic scheme", func(t *testing.T) {
		resp, body := call(t, srv.URL+"/mcp", "Basic YWxpY2U6c2VjcmV0")
		mustRefuse(t, resp, body, false)
	})
	t.Run("token as basic credentials", func(t *testing.T) {
		resp, body := call(t, srv.URL+"/mcp", "Token "+aliceToken)
		mustRefuse(t, resp, body, false)
	})
	t.Run("empty bearer", func(t *testing.T) {
		resp, body := call(t, srv.URL+"/mcp", "Bearer ")
		mustRefuse(t, resp, body, false)
	})
	t.Run("malformed token", func(t *testing.T) {
		resp, body := call(t, srv.URL+"/mcp", "Bearer a b")
		mustRefuse(t, resp, body, true)
	})
	t.Run("two authorization headers", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/mcp", nil)
		req.Header.Add("Authorization", "Bearer "+aliceToken)
		req.Header.Add("Authorization", "Bearer "+bobToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
	})
	t.Run("prefix of a valid token", func(t *testing.T) {
		_, err := a.Authenticate(context.Background(), aliceToken[:len(aliceToken)-1])
		mustCode(t, err, CodeUnknownToken)
	})
	if l := logs.String(); strings.Contains(l, wrong) || strings.Contains(l, aliceToken) || strings.Contains(l, bobToken) {
		t.Errorf("a token was logged:\n%s", l)
	}
	if !strings.Contains(logs.String(), "code=unknown_token") {
		t.Errorf("refusals are not logged with their code:\n%s", logs.String())
	}
}

func TestParseTokensFileErrors(t *testing.T) {
	h := HashToken("x")
	h2 := HashToken("y")
	cases := []struct {
		name, file string
		want       []string // fragments that name the entry and the problem
	}{
		{"not a list", `{"name": "a"}`, []string{"not a JSON list"}},
		{"null", `null`, []string{"not a JSON list"}},
		{"trailing data", `[] []`, []string{"trailing data"}},
		{"entry not an object", `["a"]`, []string{"entry 1", "JSON object"}},
		{"unknown field", `[{"name": "a", "token_sha256": "` + h + `", "tokn": "x"}]`, []string{"entry 1", `unknown field "tokn"`}},
		{"missing name", `[{"token_sha256": "` + h + `"}]`, []string{"entry 1", `"name" is missing`}},
		{"bad name", `[{"name": "a b", "token_sha256": "` + h + `"}]`, []string{`entry 1 ("a b")`, "name"}},
		{"missing hash", `[{"name": "a"}]`, []string{`entry 1 ("a")`, `"token_sha256" is missing`}},
		{"short hash", `[{"name": "a", "token_sha256": "abc"}]`, []string{`entry 1 ("a")`, "64 hex digits", "got 3 characters"}},
		{"non-hex hash", `[{"name": "a", "token_sha256": "` + strings.Repeat("g", 64) + `"}]`, []string{`entry 1 ("a")`, "64 hex digits"}},
		{"token instead of hash", `[{"name": "a", "token_sha256": "pgmcp_secretsecret"}]`, []string{`entry 1 ("a")`, "holds a token"}},
		{"hash not a string", `[{"name": "a", "token_sha256": 12}]`, []string{"entry 1", `"token_sha256" must be a string`}},
		{"duplicate name", `[{"name": "a", "token_sha256": "` + h + `"}, {"name": "a", "token_sha256": "` + h2 + `"}]`,
			[]string{`entry 2 ("a")`, "entry 1"}},
		{"duplicate hash", `[{"name": "a", "token_sha256": "` + h + `"}, {"name": "b", "token_sha256": "` + strings.ToUpper(h) + `"}]`,
			[]string{`entry 2 ("b")`, "same as entry 1"}},
		{"bad role", `[{"name": "a", "token_sha256": "` + h + `", "role": "x; DROP ROLE y"}]`, []string{`entry 1 ("a")`, "role"}},
		{"role too long", `[{"name": "a", "token_sha256": "` + h + `", "role": "` + strings.Repeat("r", 64) + `"}]`, []string{`entry 1 ("a")`, "role"}},
		{"bad database", `[{"name": "a", "token_sha256": "` + h + `", "databases": ["shop", "1x"]}]`, []string{`entry 1 ("a")`, `database "1x"`}},
		{"empty databases", `[{"name": "a", "token_sha256": "` + h + `", "databases": []}]`, []string{`entry 1 ("a")`, "empty list"}},
		{"databases not a list", `[{"name": "a", "token_sha256": "` + h + `", "databases": "shop"}]`, []string{"entry 1", "list of strings"}},
		{"policy not an object", `[{"name": "a", "token_sha256": "` + h + `", "policy": ["x"]}]`, []string{`entry 1 ("a")`, "JSON object"}},
		{"policy unknown field", `[{"name": "a", "token_sha256": "` + h + `", "policy": {"blocked_tables": ["x"]}}]`, []string{`entry 1 ("a")`, "policy", "blocked_tables"}},
		{"second entry wrong", `[{"name": "a", "token_sha256": "` + h + `"}, {"name": "b", "token_sha256": "zz"}]`, []string{`entry 2 ("b")`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTokensFile([]byte(tc.file))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), h) || strings.Contains(err.Error(), "secretsecret") {
				t.Errorf("error %q quotes a hash or a token", err)
			}
			// New refuses to start with the file, naming it.
			path := writeFile(t, "tokens.json", tc.file)
			if _, err := New(context.Background(), Config{TokensFile: path}, nil); err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("New: %v, want an error naming %s", err, path)
			}
		})
	}
}

func TestParseTokensFileAccepts(t *testing.T) {
	entries, err := ParseTokensFile([]byte(tokensJSON()))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[1].TokenSHA256 != HashToken(bobToken) {
		t.Errorf("entries %+v (hashes are kept in lower case)", entries)
	}
	if entries, err := ParseTokensFile([]byte(" [ ] \n")); err != nil || len(entries) != 0 {
		t.Errorf("empty list: %v %v", entries, err)
	}
}

func TestTokensFileMissing(t *testing.T) {
	_, err := New(context.Background(), Config{TokensFile: "/nonexistent/tokens.json"}, nil)
	var ce *ConfigError
	if err == nil || !strings.Contains(err.Error(), "TokensFile") {
		t.Fatalf("err %v", err)
	}
	if !errors.As(err, &ce) || ce.Problems[0].Field != "TokensFile" {
		t.Errorf("want a ConfigError on TokensFile, got %v", err)
	}
}

func TestReload(t *testing.T) {
	path := writeFile(t, "tokens.json", tokensJSON())
	a, _ := newTestAuth(t, Config{TokensFile: path}, fastTiming)
	ctx := context.Background()
	carol := "pgmcp_carol-token-abcdefghijklmnopqrstuvwxyz012345"

	// Readers run during every reload below (go test -race checks them).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					_, _ = a.Authenticate(ctx, aliceToken)
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	// A valid new file: carol in, alice out.
	if err := os.WriteFile(path, fmt.Appendf(nil, `[{"name": "carol", "token_sha256": %q}]`, HashToken(carol)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if id, err := a.Authenticate(ctx, carol); err != nil || id.Name != "carol" {
		t.Errorf("carol after reload: %+v %v", id, err)
	}
	_, err := a.Authenticate(ctx, aliceToken)
	mustCode(t, err, CodeUnknownToken)

	// An invalid file: refused, carol stays.
	if err := os.WriteFile(path, []byte(`[{"name": "carol"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "token_sha256") {
		t.Errorf("Reload of an invalid file: %v", err)
	}
	if _, err := a.Authenticate(ctx, carol); err != nil {
		t.Errorf("carol after a failed reload: %v", err)
	}
	// A vanished file: refused too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil {
		t.Error("Reload of a missing file succeeded")
	}
	if _, err := a.Authenticate(ctx, carol); err != nil {
		t.Errorf("carol after a failed reload: %v", err)
	}
}

func TestGenerateToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := GenerateToken()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != len(TokenPrefix)+43 || !isB64Token(tok) || looksLikeJWT(tok) {
			t.Fatalf("token %q", tok)
		}
		if seen[tok] {
			t.Fatal("a token repeated")
		}
		seen[tok] = true
	}
	if got := HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashToken(abc) = %s", got)
	}
}

func TestLookupIdentityIsACopy(t *testing.T) {
	a, _ := newTestAuth(t, Config{TokensFile: writeFile(t, "tokens.json", tokensJSON())}, fastTiming)
	id, err := a.Authenticate(context.Background(), aliceToken)
	if err != nil {
		t.Fatal(err)
	}
	id.Databases[0] = "mutated"
	id2, _ := a.Authenticate(context.Background(), aliceToken)
	if id2.Databases[0] != "shop" {
		t.Error("a caller's change to the identity reached the stored entry")
	}
}
