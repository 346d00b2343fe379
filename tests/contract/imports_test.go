package contract

import (
	"slices"
	"strings"
	"testing"
)

// Third-party modules the architecture keeps out of some packages.
const (
	pgx     = "github.com/jackc/pgx"
	pgQuery = "github.com/pganalyze/pg_query_go"
	mcpGo   = "github.com/mark3labs/mcp-go"
	openAI  = "github.com/sashabaranov/go-openai"
)

// importRule is what one package of ours may import of ours, directly.
type importRule struct {
	ours []string // packages of ours it may import (relative to the module)
	why  string   // why these and only these: printed when it is broken
}

// importRules has a rule for every package of the module (production code;
// tests may import more). The lists are the import edges of
// docs/ARCHITECTURE.md: cmd → tools → engine → {pgexec, llm, schema,
// sqlguard, prompts}.
var importRules = map[string]importRule{
	"sqlguard":        {nil, "the guard imports nothing of ours: it is pure (no I/O) and audited on its own"},
	"sqlguard/sqlfmt": {nil, "the pretty-printer imports nothing of ours: it stays outside the guard's audit surface and needs nothing of it"},
	"llm":             {nil, "the model client imports nothing of ours: it knows neither the database nor the guard"},
	"prompts":         {nil, "the prompt templates are embedded data: they import nothing of ours"},
	"schema":          {nil, "schema introspects and renders the catalog on its own; the engine combines it with the rest"},
	"tools/pgexec":    {[]string{"sqlguard"}, "pgexec loads the catalog snapshot the guard resolves names against (sqlguard.Catalog), and nothing else of ours"},
	"tools/engine": {[]string{"llm", "prompts", "schema", "sqlguard", "sqlguard/sqlfmt", "tools/pgexec"},
		"the engine is the application core: it uses the libraries below it, never a front end (tools, cmd)"},
	"tools/chart": {nil, "the chart of a result is drawn from its columns and rows alone: it imports nothing of ours"},
	"tools/webui": {nil, "the pages (the MCP Apps result view, the workbench) are embedded files: they import nothing of ours"},
	"tools": {[]string{"schema", "tools/chart", "tools/engine", "tools/pgexec", "tools/webui"},
		"tools is the MCP binding of the engine: it holds no application logic of its own"},
	"cmd/pgmcp/localpg":  {nil, "the throwaway cluster is self-contained: the test harness and pgmcp demo use it"},
	"cmd/pgmcp/demodb":   {nil, "the demo database is embedded SQL and a policy: it imports nothing of ours"},
	"cmd/pgmcp/httpauth": {[]string{"sqlguard", "tools/engine"}, "authentication puts an engine.Identity in the context and checks role names; it knows nothing of MCP or the CLI"},
	"cmd/pgmcp": {[]string{"cmd/pgmcp/localpg", "cmd/pgmcp/demodb", "cmd/pgmcp/httpauth", "llm", "prompts", "schema", "sqlguard", "sqlguard/sqlfmt", "tools", "tools/engine", "tools/pgexec", "tools/webui"},
		"the program wires everything together"},
	"tests/pgtest":      {[]string{"cmd/pgmcp/localpg", "cmd/pgmcp/demodb"}, "the harness imports only the cluster and the demo database, so that any package's tests can use it without an import cycle"},
	"tests/fakellm":     {nil, "the fake model server is a stand-alone HTTP server"},
	"tests/nodetest":    {nil, "the helpers of the tests that drive pgmcp from Node (find Node, npm ci, build, run a script) import nothing of ours"},
	"tests/browser":     {nil, "pgmcp's pages in headless Chromium: test files only"},
	"tests/conformance": {nil, "third-party clients against the binary: test files only"},
	"tests/load":        {nil, "the load tool drives the binary as an MCP client, from outside"},
	"tests/bench":       {[]string{"cmd/pgmcp/localpg", "cmd/pgmcp/demodb"}, "bench-compare starts its own cluster and demo database, and drives the servers from outside"},
	"tests/dist":        {nil, "the release builder runs go build and the bundle CLI: it imports nothing of ours"},
	"tests/oracle":      {nil, "the differential test against PostgreSQL: test files only"},
	"tests/contract":    {nil, "the architecture's tests read the module with go list and go/parser: test files only"},
	"tests":             {nil, "the end-to-end tests build the binary and drive it from outside"},
}

// depRule keeps third-party modules out of packages, even transitively
// (through any package they import, ours or not).
type depRule struct {
	pkgs    []string
	modules []string
	why     string
}

var depRules = []depRule{
	{[]string{"sqlguard", "sqlguard/sqlfmt"}, []string{pgx, mcpGo, openAI},
		"the guard and its printer are pure: no database driver, no MCP, no model client, even indirectly, so that they can be audited and fuzzed on their own"},
	{[]string{"llm"}, []string{pgx, pgQuery, mcpGo},
		"the model client knows neither the database, nor the SQL parser, nor the transport"},
	{[]string{"schema"}, []string{mcpGo, pgQuery, openAI},
		"schema reads and renders the catalog: it needs neither MCP, nor the SQL parser, nor the model client"},
	{[]string{"prompts"}, []string{pgx, mcpGo, pgQuery, openAI},
		"the prompt templates are embedded data: they depend on no driver, protocol, parser or model client"},
	{[]string{"tools/engine"}, []string{mcpGo},
		"the engine is transport-free: the terminal commands and any other front end share it; only tools knows MCP"},
}

// mayImportMCP says which packages may import mcp-go directly.
func mayImportMCP(pkg string) bool {
	return pkg == "tools" || pkg == "cmd/pgmcp" || pkg == "tests" || strings.HasPrefix(pkg, "tests/")
}

const whyMCP = "of the product, only the MCP binding (tools) and the program serving it (cmd/pgmcp) know MCP; test programs under tests/ are MCP clients"

// inModule reports whether the import path p is in module m (m itself or
// below it).
func inModule(p, m string) bool { return p == m || strings.HasPrefix(p, m+"/") }

// TestImportRules enforces the import rules of docs/ARCHITECTURE.md on the
// production code: the direct imports of ours of every package, the
// third-party modules some packages must not depend on even transitively,
// and who may import mcp-go. A package without a rule fails, and so does a
// rule without a package.
func TestImportRules(t *testing.T) {
	type pkgInfo struct {
		imports, deps []string
	}
	pkgs := map[string]pkgInfo{}
	for _, row := range goList(t, "{{.ImportPath}}\t{{join .Imports \" \"}}\t{{join .Deps \" \"}}") {
		if len(row) != 3 {
			t.Fatalf("go list: unexpected line %q", row)
		}
		pkgs[rel(row[0])] = pkgInfo{imports: fields(row[1]), deps: fields(row[2])}
	}
	if len(pkgs) < 10 {
		t.Fatalf("only %d packages listed: %v", len(pkgs), pkgs)
	}

	names := make([]string, 0, len(pkgs))
	for p := range pkgs {
		names = append(names, p)
	}
	slices.Sort(names)
	for _, pkg := range names {
		info := pkgs[pkg]
		rule, ok := importRules[pkg]
		if !ok {
			t.Errorf("package %s has no import rule: add it to importRules (tests/contract/imports_test.go), with its reason", pkg)
			continue
		}
		for _, imp := range info.imports {
			if inModule(imp, module) {
				if ours := rel(imp); !slices.Contains(rule.ours, ours) {
					t.Errorf("%s imports %s, which the architecture forbids: %s", pkg, ours, rule.why)
				}
				continue
			}
			if inModule(imp, mcpGo) && !mayImportMCP(pkg) {
				t.Errorf("%s imports %s, which the architecture forbids: %s", pkg, imp, whyMCP)
			}
		}
	}
	for pkg := range importRules {
		if _, ok := pkgs[pkg]; !ok {
			t.Errorf("importRules has a rule for %s, which is not a package of the module: remove it", pkg)
		}
	}

	for _, r := range depRules {
		for _, pkg := range r.pkgs {
			info, ok := pkgs[pkg]
			if !ok {
				t.Errorf("depRules name %s, which is not a package of the module", pkg)
				continue
			}
			for _, m := range r.modules {
				var bad []string
				for _, d := range info.deps {
					if inModule(d, m) {
						bad = append(bad, d)
					}
				}
				if len(bad) == 0 {
					continue
				}
				t.Errorf("%s depends on %s (%s%s), which the architecture forbids even transitively: %s",
					pkg, m, strings.Join(bad[:min(len(bad), 3)], ", "), via(pkgs[pkg].imports, bad, func(p string) []string {
						return pkgs[rel(p)].deps
					}), r.why)
			}
		}
	}
}

// via names the direct imports of ours that bring one of bad in ("" when
// none does: then a third-party import or a direct import does).
func via(imports, bad []string, depsOf func(string) []string) string {
	var through []string
	for _, imp := range imports {
		if !inModule(imp, module) {
			continue
		}
		for _, d := range depsOf(imp) {
			if slices.Contains(bad, d) {
				through = append(through, rel(imp))
				break
			}
		}
	}
	if len(through) == 0 {
		return ""
	}
	return "; through " + strings.Join(through, ", ")
}
