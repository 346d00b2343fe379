package tests

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportRules enforces the one-way import direction of
// docs/ARCHITECTURE.md on the production code (tests may import more):
// cmd → tools → {llm, schema, sqlguard, prompts}; sqlguard and llm import
// nothing of ours; only tools and cmd know MCP.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/pgmcp/pgmcp"
	const mcp = "github.com/mark3labs/mcp-go"
	// allowed lists, per package, the packages of ours it may import.
	allowed := map[string][]string{
		"sqlguard":           {},
		"llm":                {},
		"prompts":            {},
		"schema":             {},
		"tools/pgexec":       {"sqlguard"},
		"sqlguard/sqlfmt":    {},
		"tools/engine":       {"llm", "prompts", "schema", "sqlguard", "sqlguard/sqlfmt", "tools/pgexec"},
		"tools":              {"schema", "tools/engine", "tools/pgexec"},
		"cmd/pgmcp/localpg":  {},
		"cmd/pgmcp/demodb":   {},
		"tests/pgtest":       {"cmd/pgmcp/localpg", "cmd/pgmcp/demodb"},
		"tests/fakellm":      {},
		"tests/conformance":  {},
		"cmd/pgmcp/httpauth": {"sqlguard", "tools/engine"},
		"cmd/pgmcp":          {"cmd/pgmcp/localpg", "cmd/pgmcp/demodb", "cmd/pgmcp/httpauth", "llm", "prompts", "schema", "sqlguard", "sqlguard/sqlfmt", "tools", "tools/engine", "tools/pgexec"},
		"tests/load":         {},
		"tests/bench":        {"cmd/pgmcp/localpg", "cmd/pgmcp/demodb"},
		"tests/oracle":       {}, // the differential test against PostgreSQL: test files only
		"tests":              {},
	}
	// foreign lists third-party modules a package must not import.
	foreign := map[string][]string{
		"sqlguard": {"github.com/jackc/pgx", mcp, "github.com/sashabaranov/go-openai"},
		"llm":      {"github.com/jackc/pgx", mcp, "github.com/pganalyze/pg_query_go"},
		"prompts":  {"github.com/jackc/pgx", mcp, "github.com/pganalyze/pg_query_go", "github.com/sashabaranov/go-openai"},
		"schema":   {mcp, "github.com/pganalyze/pg_query_go", "github.com/sashabaranov/go-openai"},
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], mod), "/")
		ours, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s has no import rule: add it to TestImportRules", fields[0])
			continue
		}
		seen++
		for _, imp := range fields[1:] {
			if rest, isOurs := strings.CutPrefix(imp, mod+"/"); isOurs {
				if !slices.Contains(ours, rest) {
					t.Errorf("%s imports %s, which the architecture forbids", pkg, rest)
				}
				continue
			}
			for _, f := range foreign[pkg] {
				if strings.HasPrefix(imp, f) {
					t.Errorf("%s imports %s, which the architecture forbids", pkg, imp)
				}
			}
			// Test programs (tests/…) are MCP clients; of the product, only
			// tools and cmd/pgmcp know MCP.
			if strings.HasPrefix(imp, mcp) && pkg != "tools" && pkg != "cmd/pgmcp" && pkg != "tests" && !strings.HasPrefix(pkg, "tests/") {
				t.Errorf("%s imports %s: only tools and cmd/pgmcp may know MCP", pkg, imp)
			}
		}
	}
	if seen < 10 {
		t.Errorf("only %d packages checked; go list output:\n%s", seen, out)
	}
}
