// Package conformance drives the built pgmcp binary with real third-party
// MCP clients — the official MCP Inspector CLI and the TypeScript SDK
// clients v1 (@modelcontextprotocol/sdk) and v2 (@modelcontextprotocol/client)
// — over stdio and streamable HTTP, in both protocol eras mcp-go serves
// (2025-11-25 and 2026-07-28), against the demo database.
//
// The clients are Node scripts in this directory (sdk-v1.mjs, sdk-v2.mjs,
// inspector-cli.mjs, sharing lib.mjs), with their npm packages pinned in
// package.json and package-lock.json. The test installs them with npm ci
// into node_modules here (once: a stamp records what was installed) and
// streams each script's PASS/FAIL/SKIP lines into the test log.
//
// Without node and npm the test is skipped, unless CI or
// PGMCP_REQUIRE_NODE=1 is set: then it fails.
package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/nodetest"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// question is what the clients ask in question mode; the scripted model
// answers any question with answerSQL.
const (
	question  = "How many orders are there?"
	answerSQL = "SELECT count(*) AS orders FROM orders"
)

// client is one Node script and what its output must show.
type client struct {
	name   string
	script string
	// eras are the protocol versions its PASS lines must cover.
	eras []string
	// extra are checks required of this client beyond requiredChecks.
	extra []string
}

// requiredChecks must PASS for every client, transport and era.
var requiredChecks = []string{
	"tools/list", "tools/call get_schema", "tools/call get_schema detail=summary",
	"tools/call query sql", "tools/call query question", "tools/call query refused",
	"tools/call explain sql", "tools/call explain question",
	"resources/list", "resources/templates/list", "resources/read schema",
	"prompts/list",
}

var clients = []client{
	{"sdk-v1", "sdk-v1.mjs", []string{"2025-11-25"}, []string{"completion/complete"}},
	{"sdk-v2", "sdk-v2.mjs", []string{"2026-07-28", "2025-11-25"}, []string{"completion/complete"}},
	// The inspector's CLI has no completion method.
	{"inspector-cli", "inspector-cli.mjs", []string{"2025-11-25", "2026-07-28"}, nil},
}

func TestThirdPartyClients(t *testing.T) {
	node, npm := nodetest.FindNode(t)
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Install(t, node, npm, dir)
	// The HTTP server, long-lived and serving concurrent requests, runs
	// with the race detector; stdio clients start a server per session
	// (the inspector one per check), where a race build's slower start
	// would triple the run time.
	bin := nodetest.BuildPgmcp(t, false)
	raceBin := nodetest.BuildPgmcp(t, true)

	db := pgtest.NewDB(t, pgtest.Demo)
	policy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policy, demodb.PolicyJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	fake := fakellm.New(t, func(int, fakellm.Request) fakellm.Reply { return fakellm.SQL(answerSQL) })
	serverEnv := []string{
		"PGMCP_DATABASE_URL=" + db.ReaderURL,
		"PGMCP_POLICY_FILE=" + policy,
		"PGMCP_LLM_BASE_URL=" + fake.URL(),
		"PGMCP_LLM_MODEL=fake-model",
	}
	srv := nodetest.StartHTTP(t, raceBin, append(nodetest.CleanEnv(), serverEnv...))

	stdioTarget := []string{"stdio"}
	for _, kv := range serverEnv {
		stdioTarget = append(stdioTarget, "--env", kv)
	}
	stdioTarget = append(stdioTarget, "--", bin, "serve")
	targets := []struct {
		name string
		args []string
	}{
		{"stdio", stdioTarget},
		{"http", []string{"http", srv.URL}},
	}

	// One client at a time, so that each one's lines stay together in the
	// log (in parallel they save a few seconds and interleave).
	for _, c := range clients {
		for _, target := range targets {
			t.Run(c.name+"/"+target.name, func(t *testing.T) {
				args := append([]string{c.script, "--question", question}, target.args...)
				out := nodetest.RunScript(t, node, dir, args)
				checkOutput(t, c, target.name, out)
			})
		}
	}
	if fake.Count() == 0 {
		t.Errorf("the scripted model got no request: question mode was not exercised")
	}
	srv.Stop(t)
}

// checkOutput checks a script's lines beyond its exit status: no FAIL, and
// PASS lines for the transport in every era, question mode included (a
// SKIP of it would mean the model was not configured).
func checkOutput(t *testing.T, c client, transport string, lines []string) {
	t.Helper()
	for _, l := range lines {
		if strings.HasPrefix(l, "FAIL ") {
			t.Errorf("%s", l)
		}
	}
	for _, era := range c.eras {
		for _, check := range append(slices.Clone(requiredChecks), c.extra...) {
			want := fmt.Sprintf("PASS %s %s %s ", check, transport, era)
			found := false
			for _, l := range lines {
				found = found || strings.HasPrefix(l, want)
			}
			if !found {
				t.Errorf("%s printed no line %q", c.script, want+"…")
			}
		}
	}
}
