package httpauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestJWTDatesMustBeNumbers: jwx accepts exp, nbf and iat as numeric
// strings (and RFC 3339 dates); pgmcp refuses them, and refuses a claim
// given twice.
func TestJWTDatesMustBeNumbers(t *testing.T) {
	jw := newJWKSServer(t)
	a, _ := newTestAuth(t, jw.config(), fastTiming)
	srv := serve(t, a)
	now := time.Now()
	with := func(change func(c map[string]any)) map[string]any {
		c := jw.claims()
		change(c)
		return c
	}
	cases := []struct {
		name   string
		claims map[string]any
	}{
		{"exp a numeric string", with(func(c map[string]any) { c["exp"] = "9999999999" })},
		{"exp a numeric string near now", with(func(c map[string]any) { c["exp"] = fmt.Sprint(now.Add(time.Minute).Unix()) })},
		{"exp an RFC 3339 string", with(func(c map[string]any) { c["exp"] = now.Add(time.Hour).UTC().Format(time.RFC3339) })},
		{"nbf a numeric string", with(func(c map[string]any) { c["nbf"] = "1000" })},
		{"iat a numeric string", with(func(c map[string]any) { c["iat"] = fmt.Sprint(now.Unix()) })},
		{"exp an object", with(func(c map[string]any) { c["exp"] = map[string]any{"$numberLong": "9999999999"} })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token := jw.sign(jw.rsaKey, tc.claims)
			if e := authCode(t, a, token); e == nil || e.Code != CodeBadClaims {
				t.Fatalf("refusal %v, want %s", e, CodeBadClaims)
			}
			resp, body := call(t, srv.URL+"/mcp", "Bearer "+token)
			mustRefuse(t, resp, body, true)
		})
	}
	// A claim twice: jwx and pgmcp must not read different values.
	good := jw.claims()
	payload, _ := json.Marshal(good)
	twice := strings.Replace(string(payload), `"sub":"alice"`, `"sub":"admin","sub":"alice"`, 1)
	if twice == string(payload) {
		t.Fatalf("payload %s", payload)
	}
	if e := authCode(t, a, compactJWSPayload(t, jw.rsaKey, []byte(twice))); e == nil || e.Code != CodeBadClaims {
		t.Errorf("a repeated sub: %v, want %s", e, CodeBadClaims)
	}
	// Numbers, fractions included, are fine.
	for _, exp := range []any{now.Add(time.Minute).Unix(), float64(now.Add(time.Minute).Unix()) + 0.5} {
		c := jw.claims()
		c["exp"] = exp
		if e := authCode(t, a, jw.sign(jw.ecKey, c)); e != nil {
			t.Errorf("exp %v: %v", exp, e)
		}
	}
}

// TestJWTMaxTokenLifetime: with a maximum lifetime, tokens need iat and
// exp, and may not be valid for longer.
func TestJWTMaxTokenLifetime(t *testing.T) {
	jw := newJWKSServer(t)
	cfg := jw.config()
	cfg.MaxTokenLifetime = time.Hour
	a, _ := newTestAuth(t, cfg, fastTiming)
	now := time.Now()
	claims := func(iat, exp any) map[string]any {
		c := jw.claims()
		delete(c, "iat")
		if iat != nil {
			c["iat"] = iat
		}
		c["exp"] = exp
		return c
	}
	cases := []struct {
		name   string
		claims map[string]any
		code   Code // "" accepted
	}{
		{"an hour", claims(now.Unix(), now.Add(time.Hour).Unix()), ""},
		{"issued 50 minutes ago, 10 left", claims(now.Add(-50*time.Minute).Unix(), now.Add(10*time.Minute).Unix()), ""},
		{"iat a little ahead (clock skew)", claims(now.Add(20*time.Second).Unix(), now.Add(time.Hour+20*time.Second).Unix()), ""},
		{"two hours", claims(now.Unix(), now.Add(2*time.Hour).Unix()), CodeTokenLifetime},
		{"issued 3 hours ago, 30 minutes left", claims(now.Add(-3*time.Hour).Unix(), now.Add(30*time.Minute).Unix()), CodeTokenLifetime},
		{"a year", claims(now.Unix(), now.Add(365*24*time.Hour).Unix()), CodeTokenLifetime},
		{"no iat", claims(nil, now.Add(time.Minute).Unix()), CodeBadClaims},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := authCode(t, a, jw.sign(jw.rsaKey, tc.claims))
			switch {
			case tc.code == "" && e != nil:
				t.Errorf("refused: %v", e)
			case tc.code != "" && (e == nil || e.Code != tc.code):
				t.Errorf("refusal %v, want %s", e, tc.code)
			}
		})
	}
	// Off (the default): a long-lived token without iat is accepted.
	b, _ := newTestAuth(t, jw.config(), fastTiming)
	if e := authCode(t, b, jw.sign(jw.rsaKey, claims(nil, now.Add(365*24*time.Hour).Unix()))); e != nil {
		t.Errorf("without a maximum lifetime: %v", e)
	}
}

// TestJWTAllowedRoles: the role claim may only name an allowed role, never
// a login role nor a pg_* role, even when a pattern matches it; such a
// token gets 403.
func TestJWTAllowedRoles(t *testing.T) {
	jw := newJWKSServer(t)
	cfg := jw.config()
	cfg.RoleClaim = "pg_role"
	cfg.AllowedRoles = []string{"analyst_*", "auditor", "team_[ab]", "pgmcp_*"}
	cfg.LoginRoles = []string{"pgmcp_reader"}
	a, _ := newTestAuth(t, cfg, fastTiming)
	srv := serve(t, a)
	// With "*", only the login and pg_* roles are refused.
	star := cfg
	star.AllowedRoles = []string{"*"}
	b, _ := newTestAuth(t, star, fastTiming)

	cases := []struct {
		role         string
		allowed      bool // by a
		allowedByAny bool // by b
	}{
		{"analyst_alice", true, true},
		{"auditor", true, true},
		{"team_a", true, true},
		{"team_c", false, true},
		{"auditor2", false, true},
		{"Analyst_alice", false, true}, // patterns are case-sensitive, as quoted role names are
		{"pgmcp_other", true, true},
		{"pgmcp_reader", false, false}, // the login role, though pgmcp_* matches it
		{"PGMCP_READER", false, false},
		{"pg_read_server_files", false, false},
		{"pg_execute_server_program", false, false},
		{"postgres", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.role, func(t *testing.T) {
			c := jw.claims()
			c["pg_role"] = tc.role
			token := jw.sign(jw.rsaKey, c)
			for _, v := range []struct {
				name string
				a    *Authenticator
				want bool
			}{{"listed", a, tc.allowed}, {"star", b, tc.allowedByAny}} {
				id, err := v.a.Authenticate(context.Background(), token)
				if v.want {
					if err != nil || id.Role != tc.role {
						t.Errorf("%s: refused: %v", v.name, err)
					}
					continue
				}
				mustCode(t, err, CodeRoleNotAllowed)
			}
			resp, body := call(t, srv.URL+"/mcp", "Bearer "+token)
			if tc.allowed {
				mustIdentity(t, resp, body)
				return
			}
			var got map[string]string
			if resp.StatusCode != http.StatusForbidden || json.Unmarshal(body, &got) != nil || got["error"] != "role_not_allowed" ||
				!strings.Contains(got["error_description"], "pg_role") {
				t.Errorf("over HTTP: %d %s, want 403 role_not_allowed", resp.StatusCode, body)
			}
		})
	}
}

// TestTokensFileRefusesLoginRole: a tokens-file entry may not name pgmcp's
// login role, at start or on reload.
func TestTokensFileRefusesLoginRole(t *testing.T) {
	entry := func(role string) string {
		return fmt.Sprintf(`[{"name": "alice", "token_sha256": %q, "role": %q}]`, HashToken(aliceToken), role)
	}
	path := writeFile(t, "tokens.json", entry("pgmcp_Reader"))
	_, err := newAuthenticator(context.Background(), Config{TokensFile: path, LoginRoles: []string{"pgmcp_reader"}}, nil, fastTiming)
	if err == nil || !strings.Contains(err.Error(), "login role") {
		t.Fatalf("a tokens file naming the login role: %v", err)
	}
	path = writeFile(t, "tokens2.json", entry("analyst"))
	a, _ := newTestAuth(t, Config{TokensFile: path, LoginRoles: []string{"pgmcp_reader"}}, fastTiming)
	if id, err := a.Authenticate(context.Background(), aliceToken); err != nil || id.Role != "analyst" {
		t.Fatalf("alice: %+v %v", id, err)
	}
	if err := os.WriteFile(path, []byte(entry("pgmcp_reader")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "login role") {
		t.Errorf("reload of a file naming the login role: %v", err)
	}
	if id, _ := a.Authenticate(context.Background(), aliceToken); id.Role != "analyst" {
		t.Errorf("after the refused reload alice is %+v", id)
	}
}
