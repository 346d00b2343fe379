package main

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the README configuration table")

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig([]string{"PGMCP_DATABASE_URL=postgres://u:p@localhost/shop"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.MaxRows != 1000 || cfg.Limits.StatementTimeout != 10*time.Second || cfg.Limits.ConnectTimeout != 8*time.Second {
		t.Errorf("defaults: max rows %d, timeout %s, connect %s", cfg.Limits.MaxRows, cfg.Limits.StatementTimeout, cfg.Limits.ConnectTimeout)
	}
	if len(cfg.databases) != 1 || cfg.databases[0].Name != "shop" {
		t.Errorf("databases = %+v, want one named shop", cfg.databases)
	}
}

func TestLoadConfigOpenAIFallback(t *testing.T) {
	cfg, err := LoadConfig([]string{"OPENAI_API_KEY=sk-x", "OPENAI_BASE_URL=http://localhost:11434/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LLM.APIKey != "sk-x" || cfg.LLM.BaseURL != "http://localhost:11434/v1" {
		t.Errorf("fallback not applied: key %q, url %q", cfg.LLM.APIKey, cfg.LLM.BaseURL)
	}
	cfg, err = LoadConfig([]string{"OPENAI_API_KEY=sk-x", "PGMCP_LLM_API_KEY=sk-y"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LLM.APIKey != "sk-y" {
		t.Errorf("PGMCP_LLM_API_KEY should win, got %q", cfg.LLM.APIKey)
	}
}

func TestLoadConfigDatabases(t *testing.T) {
	cfg, err := LoadConfig([]string{`PGMCP_DATABASES=[{"name":"shop","url":"postgres://a@h/shop"},{"name":"crm","url":"host=h dbname=crm","policy":{"allowed_schemas":["public"]}}]`})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.databases) != 2 || cfg.databases[1].Name != "crm" || len(cfg.databases[1].Policy) == 0 {
		t.Errorf("databases = %+v", cfg.databases)
	}
}

func TestLoadConfigPooler(t *testing.T) {
	cfg, err := LoadConfig([]string{"PGMCP_POOLER=transaction",
		`PGMCP_DATABASES=[{"name":"shop","url":"postgres://a@h/shop"},{"name":"crm","url":"postgres://a@h/crm","pooler":"none"}]`})
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{cfg.databases[0].Pooler, cfg.databases[1].Pooler}; got[0] != "transaction" || got[1] != "none" {
		t.Errorf("poolers = %v, want the default for shop and crm's own", got)
	}
	if spec := databaseSpec(cfg, cfg.databases[0]); spec.Pool.Pooler != "transaction" {
		t.Errorf("the pool options do not carry the pooler: %+v", spec.Pool)
	}
}

func TestLoadConfigHTTPSettings(t *testing.T) {
	cfg, err := LoadConfig([]string{"PGMCP_DATABASE_URL=postgres://u@h/shop"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.SessionIdleTimeout != 10*time.Minute || cfg.HTTP.MaxSessions != 1000 || cfg.HTTP.Stateless || cfg.HTTP.AllowedOrigins != nil ||
		cfg.Auth.MaxTokenLifetime != 0 || cfg.Auth.AllowedRoles != nil {
		t.Errorf("HTTP defaults: %s %d %v %v %s %v", cfg.HTTP.SessionIdleTimeout, cfg.HTTP.MaxSessions, cfg.HTTP.Stateless,
			cfg.HTTP.AllowedOrigins, cfg.Auth.MaxTokenLifetime, cfg.Auth.AllowedRoles)
	}
	cfg, err = LoadConfig([]string{"PGMCP_DATABASE_URL=postgres://u@h/shop",
		"PGMCP_HTTP_ALLOWED_ORIGINS= https://app.example.com , http://localhost:3000,null,",
		"PGMCP_AUTH_JWKS_URL=https://idp/jwks", "PGMCP_AUTH_ISSUER=https://idp/", "PGMCP_AUTH_AUDIENCE=a",
		"PGMCP_AUTH_RESOURCE_URL=https://p/mcp", "PGMCP_AUTH_ROLE_CLAIM=pg_role", "PGMCP_AUTH_ALLOWED_ROLES=analyst_*, auditor",
		"PGMCP_AUTH_MAX_TOKEN_LIFETIME=1h"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.HTTP.AllowedOrigins, " ") != "https://app.example.com http://localhost:3000 null" {
		t.Errorf("origins %q", cfg.HTTP.AllowedOrigins)
	}
	ac := cfg.Auth.HTTPAuth()
	if strings.Join(ac.AllowedRoles, " ") != "analyst_* auditor" || ac.MaxTokenLifetime != time.Hour {
		t.Errorf("auth config %+v", ac)
	}
}

func TestLoadConfigFaultSettings(t *testing.T) {
	cfg, err := LoadConfig([]string{"PGMCP_DATABASE_URL=postgres://u@h/shop"})
	if err != nil {
		t.Fatal(err)
	}
	lim := cfg.httpLimits()
	if lim.readHeader != 10*time.Second || lim.readBody != 30*time.Second || lim.write != 30*time.Second ||
		lim.idle != time.Minute || lim.maxConns != 1000 {
		t.Errorf("HTTP limit defaults: %+v", lim)
	}
	if !cfg.Audit.Required || cfg.StdioWorkers != 0 || cfg.ShutdownTimeout != 30*time.Second {
		t.Errorf("defaults: audit required %v, stdio workers %d, shutdown %s", cfg.Audit.Required, cfg.StdioWorkers, cfg.ShutdownTimeout)
	}
	cfg, err = LoadConfig([]string{"PGMCP_DATABASE_URL=postgres://u@h/shop", "PGMCP_HTTP_READ_HEADER_TIMEOUT=2s",
		"PGMCP_HTTP_READ_BODY_TIMEOUT=3s", "PGMCP_HTTP_WRITE_TIMEOUT=4s", "PGMCP_HTTP_IDLE_TIMEOUT=5s",
		"PGMCP_HTTP_MAX_CONNECTIONS=7", "PGMCP_AUDIT_REQUIRED=false", "PGMCP_STDIO_WORKERS=3"})
	if err != nil {
		t.Fatal(err)
	}
	lim = cfg.httpLimits()
	if lim.readHeader != 2*time.Second || lim.readBody != 3*time.Second || lim.write != 4*time.Second ||
		lim.idle != 5*time.Second || lim.maxConns != 7 || cfg.Audit.Required || cfg.StdioWorkers != 3 {
		t.Errorf("HTTP limits %+v, audit required %v, stdio workers %d", lim, cfg.Audit.Required, cfg.StdioWorkers)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	cases := []struct {
		env  []string
		want []string
	}{
		{[]string{"PGMCP_MAX_ROWS=0"}, []string{"PGMCP_MAX_ROWS", "at least 1"}},
		{[]string{"PGMCP_MAX_ROWS=10001"}, []string{"PGMCP_MAX_ROWS", "ceiling of 10000"}},
		{[]string{"PGMCP_MAX_ROWS=ten"}, []string{"PGMCP_MAX_ROWS", "whole number"}},
		{[]string{"PGMCP_STATEMENT_TIMEOUT=-1s"}, []string{"PGMCP_STATEMENT_TIMEOUT", "negative"}},
		{[]string{"PGMCP_CONNECT_TIMEOUT=0s"}, []string{"PGMCP_CONNECT_TIMEOUT", "positive"}},
		{[]string{"PGMCP_ALLOW_PRIVILEGED_ROLE=maybe"}, []string{"PGMCP_ALLOW_PRIVILEGED_ROLE", "true or false"}},
		{[]string{"PGMCP_LOG_LEVEL=trace"}, []string{"PGMCP_LOG_LEVEL"}},
		{[]string{"PGMCP_BLOCKED_TABLES=users"}, []string{"PGMCP_BLOCKED_TABLES", "schema.table"}},
		{[]string{"PGMCP_POLICY_FILE=/etc/hostname", "PGMCP_ALLOWED_SCHEMAS=public"}, []string{"PGMCP_ALLOWED_SCHEMAS", "not both"}},
		{[]string{`PGMCP_DATABASES=[{"name":"a","url":"postgres://h/a"},{"name":"a","url":"postgres://h/b"}]`}, []string{"PGMCP_DATABASES", "used twice"}},
		{[]string{`PGMCP_DATABASES=[{"name":"1bad","url":"postgres://h/a"}]`}, []string{"PGMCP_DATABASES", "start with a letter"}},
		{[]string{`PGMCP_DATABASES=[{"name":"a","url":"postgres://h/a","extra":1}]`}, []string{"PGMCP_DATABASES", "unknown field"}},
		{[]string{`PGMCP_DATABASES=[{"name":"a","url":"postgres://h/a","policy":{},"policy_file":"x"}]`}, []string{"PGMCP_DATABASES", "not both"}},
		{[]string{"PGMCP_DATABASE_URL=postgres://u:hunter22@h/db?sslmode=nope"}, []string{"PGMCP_DATABASE_URL", "sslmode"}},
		{[]string{"PGMCP_HTTP_SESSION_IDLE_TIMEOUT=0s"}, []string{"PGMCP_HTTP_SESSION_IDLE_TIMEOUT", "between"}},
		{[]string{"PGMCP_HTTP_SESSION_IDLE_TIMEOUT=48h"}, []string{"PGMCP_HTTP_SESSION_IDLE_TIMEOUT", "between"}},
		{[]string{"PGMCP_HTTP_MAX_SESSIONS=0"}, []string{"PGMCP_HTTP_MAX_SESSIONS", "between"}},
		{[]string{"PGMCP_HTTP_STATELESS=perhaps"}, []string{"PGMCP_HTTP_STATELESS", "true or false"}},
		{[]string{"PGMCP_HTTP_READ_HEADER_TIMEOUT=0s"}, []string{"PGMCP_HTTP_READ_HEADER_TIMEOUT", "between 100ms and 24h"}},
		{[]string{"PGMCP_HTTP_READ_BODY_TIMEOUT=10ms"}, []string{"PGMCP_HTTP_READ_BODY_TIMEOUT", "between"}},
		{[]string{"PGMCP_HTTP_WRITE_TIMEOUT=-1s"}, []string{"PGMCP_HTTP_WRITE_TIMEOUT", "between"}},
		{[]string{"PGMCP_HTTP_IDLE_TIMEOUT=48h"}, []string{"PGMCP_HTTP_IDLE_TIMEOUT", "between"}},
		{[]string{"PGMCP_HTTP_MAX_CONNECTIONS=0"}, []string{"PGMCP_HTTP_MAX_CONNECTIONS", "between 1 and"}},
		{[]string{"PGMCP_STDIO_WORKERS=-1"}, []string{"PGMCP_STDIO_WORKERS", "between 0"}},
		{[]string{"PGMCP_POOLER=statement"}, []string{"PGMCP_POOLER", "none or transaction"}},
		{[]string{`PGMCP_DATABASES=[{"name":"a","url":"postgres://h/a","pooler":"session"}]`}, []string{"PGMCP_DATABASES", "pooler must be none or transaction"}},
		{[]string{"PGMCP_AUDIT_REQUIRED=sometimes"}, []string{"PGMCP_AUDIT_REQUIRED", "true or false"}},
		{[]string{"PGMCP_HTTP_ALLOWED_ORIGINS=https://app.example.com/"}, []string{"PGMCP_HTTP_ALLOWED_ORIGINS", "no path"}},
		{[]string{"PGMCP_HTTP_ALLOWED_ORIGINS=*"}, []string{"PGMCP_HTTP_ALLOWED_ORIGINS"}},
		{[]string{"PGMCP_HTTP_ALLOWED_ORIGINS=app.example.com"}, []string{"PGMCP_HTTP_ALLOWED_ORIGINS"}},
		{[]string{"PGMCP_HTTP_ALLOWED_ORIGINS=https://*.example.com"}, []string{"PGMCP_HTTP_ALLOWED_ORIGINS", "wildcards"}},
		{[]string{"PGMCP_HTTP_ALLOWED_ORIGINS=https://a.example.com:99999"}, []string{"PGMCP_HTTP_ALLOWED_ORIGINS", "port"}},
		{[]string{"PGMCP_AUTH_JWKS_URL=https://idp/jwks", "PGMCP_AUTH_ISSUER=https://idp/", "PGMCP_AUTH_AUDIENCE=a",
			"PGMCP_AUTH_RESOURCE_URL=https://p/mcp", "PGMCP_AUTH_ROLE_CLAIM=pg_role"}, []string{"PGMCP_AUTH_ALLOWED_ROLES", "required with the role claim"}},
		{[]string{"PGMCP_AUTH_JWKS_URL=https://idp/jwks", "PGMCP_AUTH_ISSUER=https://idp/", "PGMCP_AUTH_AUDIENCE=a",
			"PGMCP_AUTH_RESOURCE_URL=https://p/mcp", "PGMCP_AUTH_ROLE_CLAIM=pg_role", "PGMCP_AUTH_ALLOWED_ROLES=pg_monitor"}, []string{"PGMCP_AUTH_ALLOWED_ROLES", "predefined"}},
		{[]string{"PGMCP_AUTH_JWKS_URL=https://idp/jwks", "PGMCP_AUTH_ISSUER=https://idp/", "PGMCP_AUTH_AUDIENCE=a",
			"PGMCP_AUTH_RESOURCE_URL=https://p/mcp", "PGMCP_AUTH_MAX_TOKEN_LIFETIME=5s"}, []string{"PGMCP_AUTH_MAX_TOKEN_LIFETIME", "between"}},
		{[]string{"PGMCP_AUTH_SERVERS=ftp://x"}, []string{"PGMCP_AUTH_SERVERS"}},
		{[]string{"PGMCP_AUTH_JWKS_REFRESH=soon"}, []string{"PGMCP_AUTH_JWKS_REFRESH", "duration"}},
		{[]string{"PGMCP_LLM_TIMEOUT=0s"}, []string{"PGMCP_LLM_TIMEOUT", "positive"}},
		{[]string{"PGMCP_LLM_TIMEOUT=1"}, []string{"PGMCP_LLM_TIMEOUT", "cannot parse as a duration"}},
		{[]string{"PGMCP_LLM_MAX_ATTEMPTS=11"}, []string{"PGMCP_LLM_MAX_ATTEMPTS", "between 1 and 10"}},
		{[]string{"PGMCP_LLM_EXAMPLES_METHOD=random"}, []string{"PGMCP_LLM_EXAMPLES_METHOD", "similar, question, first"}},
		{[]string{"PGMCP_LLM_CANDIDATES=11"}, []string{"PGMCP_LLM_CANDIDATES", "between 1 and 10"}},
		{[]string{"PGMCP_LLM_CANDIDATE_TEMPERATURE=3"}, []string{"PGMCP_LLM_CANDIDATE_TEMPERATURE"}},
		{[]string{"PGMCP_LLM_BASE_URL=ftp://x"}, []string{"PGMCP_LLM_BASE_URL", "http(s) URL"}},
		{[]string{"PGMCP_EXAMPLES_FILE=/nonexistent/examples.jsonl"}, []string{"PGMCP_EXAMPLES_FILE", "cannot read"}},
		{[]string{"PGMCP_SCHEMA_TOKEN_BUDGET=100"}, []string{"PGMCP_SCHEMA_TOKEN_BUDGET", "between 200"}},
		{[]string{"PGMCP_SCHEMA_COMMON_VALUES=some"}, []string{"PGMCP_SCHEMA_COMMON_VALUES", "true or false"}},
		{[]string{"PGMCP_TLS_CERT_FILE=/etc/hostname"}, []string{"PGMCP_TLS_CERT_FILE", "or neither"}},
		{[]string{"PGMCP_POLICY_FILE=/nonexistent/policy.json"}, []string{"PGMCP_POLICY_FILE", "cannot read"}},
		{[]string{"PGMCP_RATE_LIMIT=5/week"}, []string{"PGMCP_RATE_LIMIT", "unknown unit"}},
		{[]string{"PGMCP_MAX_CELL_BYTES=2000", "PGMCP_MAX_RESULT_BYTES=1024"}, []string{"PGMCP_MAX_CELL_BYTES", "PGMCP_MAX_RESULT_BYTES"}},
		{[]string{"PGMCP_SHUTDOWN_TIMEOUT=0s"}, []string{"PGMCP_SHUTDOWN_TIMEOUT", "positive"}},
	}
	for _, tc := range cases {
		_, err := LoadConfig(tc.env)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%v: got %v, want a ConfigError", tc.env, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", tc.env, err, w)
			}
		}
		for _, p := range ce.Problems {
			if !strings.HasPrefix(p, envPrefix) {
				t.Errorf("%v: problem %q does not start with its variable", tc.env, p)
			}
		}
		if strings.Contains(err.Error(), "hunter22") {
			t.Errorf("%v: the password leaks into %q", tc.env, err)
		}
	}
}

// TestREADMEConfigTable keeps the README's configuration table equal to the
// one generated from the Config struct.
func TestREADMEConfigTable(t *testing.T) {
	const readme = "../../README.md"
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "<!-- config-table:start")
	end := strings.Index(s, "<!-- config-table:end -->")
	if start < 0 || end < start {
		t.Fatal("README.md lacks the config-table markers")
	}
	startEnd := start + strings.Index(s[start:], "-->") + len("-->\n")
	got := s[startEnd:end]
	want := configTable()
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(readme, []byte(s[:startEnd]+want+s[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's configuration table is stale; run: go test ./cmd/pgmcp -run TestREADMEConfigTable -update\nwant:\n%s", want)
}

func TestConfigEveryVariableDocumented(t *testing.T) {
	for _, v := range configVars() {
		if v.Desc == "" {
			t.Errorf("%s has no desc tag", v.Name)
		}
	}
}

// TestConfigFieldNamesUnique keeps the field names of Config and its parts
// apart: env's parse errors name the field alone (not its path), and
// varOfField finds the variable by that name.
func TestConfigFieldNamesUnique(t *testing.T) {
	seen := map[string]string{}
	for _, v := range configVars() {
		if other, ok := seen[v.Field]; ok {
			t.Errorf("field name %s is used by both %s and %s", v.Field, other, v.Path)
		}
		seen[v.Field] = v.Path
	}
}

func TestVarOfField(t *testing.T) {
	for field, want := range map[string]string{
		"DatabaseURL":               "PGMCP_DATABASE_URL",
		"Policy.File":               "PGMCP_POLICY_FILE",
		"Limits.MaxRows":            "PGMCP_MAX_ROWS",
		"MaxRows":                   "PGMCP_MAX_ROWS",
		"LLM.Timeout":               "PGMCP_LLM_TIMEOUT",
		"Timeout":                   "PGMCP_LLM_TIMEOUT",
		"HTTP.Addr":                 "PGMCP_HTTP_ADDR",
		"HTTP.IdleTimeout":          "PGMCP_HTTP_IDLE_TIMEOUT",
		"SessionIdleTimeout":        "PGMCP_HTTP_SESSION_IDLE_TIMEOUT",
		"TLS.CertFile":              "PGMCP_TLS_CERT_FILE",
		"Auth.AuthorizationServers": "PGMCP_AUTH_SERVERS",
		"Auth.MaxTokenLifetime":     "PGMCP_AUTH_MAX_TOKEN_LIFETIME",
		"Audit.Required":            "PGMCP_AUDIT_REQUIRED",
		"Schema.CommonValues":       "PGMCP_SCHEMA_COMMON_VALUES",
		"NoSuchField":               "NoSuchField",
		"LLM.NoSuchField":           "LLM.NoSuchField",
	} {
		if got := varOfField(field); got != want {
			t.Errorf("varOfField(%q) = %q, want %q", field, got, want)
		}
	}
}

// TestLoadConfigNestedValues checks that the nested parts are read under
// their prefix, and that a variable named PGMCP_ alone (the key env looks
// a nested part up under) is ignored as it was before the nesting.
func TestLoadConfigNestedValues(t *testing.T) {
	cfg, err := LoadConfig([]string{"PGMCP_=x", "PGMCP_DATABASE_URL=postgres://u@h/shop", "PGMCP_LLM_MODEL=m",
		"PGMCP_LLM_MAX_ATTEMPTS=5", "PGMCP_SCHEMA_TOKEN_BUDGET=300", "PGMCP_HTTP_ADDR=:8080", "PGMCP_AUTH_SERVERS=https://a/,https://b/",
		"PGMCP_AUDIT_LOG=stderr", "PGMCP_RATE_BURST=7", "PGMCP_BLOCKED_TABLES=public.secrets"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LLM.Model != "m" || cfg.LLM.MaxAttempts != 5 || cfg.LLM.Timeout != time.Minute || cfg.Schema.TokenBudget != 300 ||
		!cfg.Schema.CommonValues || cfg.HTTP.Addr != ":8080" || len(cfg.Auth.AuthorizationServers) != 2 ||
		cfg.Auth.IdentityClaim != "sub" || cfg.Audit.Log != "stderr" || cfg.Limits.RateBurst != 7 || cfg.Limits.RateLimit != "300/min" ||
		strings.Join(cfg.Policy.BlockedTables, " ") != "public.secrets" {
		t.Errorf("nested values not read: %+v", cfg)
	}
}
