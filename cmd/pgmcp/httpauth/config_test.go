package httpauth

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func problemFields(c Config) []string {
	var f []string
	for _, p := range c.Problems() {
		f = append(f, p.Field)
	}
	return f
}

func TestConfigProblems(t *testing.T) {
	tokens := writeFile(t, "tokens.json", "[]")
	jwt := Config{JWKSURL: "https://idp.example.com/jwks.json", Issuer: "https://idp.example.com/", Audience: "pgmcp",
		ResourceURL: "https://pgmcp.example.com/mcp"}
	with := func(f func(*Config)) Config {
		c := jwt
		f(&c)
		return c
	}
	cases := []struct {
		name string
		cfg  Config
		want []string // fields with a problem
	}{
		{"tokens only", Config{TokensFile: tokens}, nil},
		{"tokens and resource", Config{TokensFile: tokens, ResourceURL: "http://127.0.0.1:8080/mcp"}, nil},
		{"jwt", jwt, nil},
		{"jwt on loopback over http", with(func(c *Config) { c.JWKSURL = "http://127.0.0.1:9000/jwks" }), nil},
		{"missing tokens file", Config{TokensFile: "/nonexistent/t.json"}, []string{"TokensFile"}},
		{"tokens file is a directory", Config{TokensFile: t.TempDir()}, []string{"TokensFile"}},
		{"issuer without jwks", Config{TokensFile: tokens, Issuer: "https://idp"}, []string{"Issuer"}},
		{"claims without jwks", Config{TokensFile: tokens, Audience: "a", RoleClaim: "role", DatabasesClaim: "dbs"},
			[]string{"Audience", "RoleClaim", "DatabasesClaim"}},
		{"jwks needs issuer audience resource", Config{JWKSURL: "https://idp/jwks"}, []string{"Issuer", "Audience", "ResourceURL"}},
		{"jwks over http elsewhere", with(func(c *Config) { c.JWKSURL = "http://idp.example.com/jwks" }), []string{"JWKSURL"}},
		{"jwks not a url", with(func(c *Config) { c.JWKSURL = "idp/jwks" }), []string{"JWKSURL"}},
		{"resource relative", with(func(c *Config) { c.ResourceURL = "/mcp" }), []string{"ResourceURL"}},
		{"resource with fragment", with(func(c *Config) { c.ResourceURL = "https://h/mcp#x" }), []string{"ResourceURL"}},
		{"resource with query", with(func(c *Config) { c.ResourceURL = "https://h/mcp?x=1" }), []string{"ResourceURL"}},
		{"bad authorization server", with(func(c *Config) { c.AuthorizationServers = []string{"idp"} }), []string{"AuthorizationServers"}},
		{"bad claim name", with(func(c *Config) { c.RoleClaim = "realm_access.roles"; c.AllowedRoles = []string{"r"} }), []string{"RoleClaim"}},
		{"role claim without allowed roles", with(func(c *Config) { c.RoleClaim = "pg_role" }), []string{"AllowedRoles"}},
		{"role claim with allowed roles", with(func(c *Config) {
			c.RoleClaim = "pg_role"
			c.AllowedRoles = []string{"analyst_*", "auditor", "team_[ab]"}
		}), nil},
		{"allowed roles without role claim", with(func(c *Config) { c.AllowedRoles = []string{"analyst"} }), []string{"AllowedRoles"}},
		{"allowed roles without jwks", Config{TokensFile: tokens, AllowedRoles: []string{"analyst"}}, []string{"AllowedRoles"}},
		{"allowed role a bad pattern", with(func(c *Config) { c.RoleClaim = "pg_role"; c.AllowedRoles = []string{"analyst_[a"} }), []string{"AllowedRoles"}},
		{"allowed role with a slash", with(func(c *Config) { c.RoleClaim = "pg_role"; c.AllowedRoles = []string{"a/b"} }), []string{"AllowedRoles"}},
		{"allowed role pg_*", with(func(c *Config) { c.RoleClaim = "pg_role"; c.AllowedRoles = []string{"pg_read_server_files"} }), []string{"AllowedRoles"}},
		{"allowed role the login role", with(func(c *Config) {
			c.RoleClaim = "pg_role"
			c.AllowedRoles = []string{"analyst_*", "PGMCP_reader"}
			c.LoginRoles = []string{"pgmcp_reader"}
		}), []string{"AllowedRoles"}},
		{"max lifetime", with(func(c *Config) { c.MaxTokenLifetime = time.Hour }), nil},
		{"max lifetime too short", with(func(c *Config) { c.MaxTokenLifetime = 10 * time.Second }), []string{"MaxTokenLifetime"}},
		{"max lifetime negative", with(func(c *Config) { c.MaxTokenLifetime = -time.Hour }), []string{"MaxTokenLifetime"}},
		{"max lifetime without jwks", Config{TokensFile: tokens, MaxTokenLifetime: time.Hour}, []string{"MaxTokenLifetime"}},
		{"refresh too short", with(func(c *Config) { c.JWKSRefresh = time.Second }), []string{"JWKSRefresh"}},
		{"refresh too long", with(func(c *Config) { c.JWKSRefresh = 48 * time.Hour }), []string{"JWKSRefresh"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := problemFields(tc.cfg)
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems in %v, want %v: %v", got, tc.want, tc.cfg.Problems())
			}
			if err := tc.cfg.Validate(); (err != nil) != (len(tc.want) > 0) {
				t.Errorf("Validate: %v", err)
			} else if err != nil && !strings.Contains(err.Error(), tc.want[0]+": ") {
				t.Errorf("Validate error %q does not name %s", err, tc.want[0])
			}
		})
	}
}

func TestConfigEnabledAndDefaults(t *testing.T) {
	if (Config{}).Enabled() || (Config{Issuer: "x"}).Enabled() {
		t.Error("enabled without tokens file nor JWKS")
	}
	if !(Config{TokensFile: "f"}).Enabled() || !(Config{JWKSURL: "u"}).Enabled() {
		t.Error("not enabled")
	}
	d := Config{Issuer: "https://idp"}.withDefaults()
	if d.IdentityClaim != "sub" || d.JWKSRefresh != 15*time.Minute || !slices.Equal(d.AuthorizationServers, []string{"https://idp"}) {
		t.Errorf("defaults %+v", d)
	}
	d = Config{Issuer: "https://idp", AuthorizationServers: []string{"https://as"}}.withDefaults()
	if !slices.Equal(d.AuthorizationServers, []string{"https://as"}) {
		t.Errorf("authorization servers %v", d.AuthorizationServers)
	}
}
