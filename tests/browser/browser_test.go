// Package browser runs pgmcp's pages in real headless Chromium: the
// workbench at / of `pgmcp demo --http` (a query with its rows and chart,
// explain, a refusal, a 1,000-row result, hostile values, the schema
// browser, a server that wants a token) and the MCP Apps result view inside the extension's own host
// implementation (AppBridge of @modelcontextprotocol/ext-apps), in both
// protocol eras, for a query (with a follow-up through tools/call) and an
// explain. browser.mjs drives Debian's Chromium with playwright-core; the
// npm packages are pinned in package.json and package-lock.json and
// installed by npm ci (tests/nodetest), and no browser is downloaded.
//
// Screenshots go to PGMCP_ARTIFACTS_DIR (default: artifacts/ here, git
// ignored). PGMCP_UPDATE_SCREENSHOTS=1 also copies the ones the docs show
// to docs/images.
//
// Without Node, npm or Chromium the test is skipped, unless CI,
// PGMCP_REQUIRE_NODE=1 or PGMCP_REQUIRE_CHROMIUM=1 is set: then it fails.
package browser

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/tests/nodetest"
)

// checks are the lines browser.mjs must print PASS for.
var checks = []string{
	"workbench query", "workbench chart switch", "workbench explain", "workbench refused", "workbench large result",
	"workbench XSS values stay inert", "workbench schema browser", "workbench token",
	"apps view query 2026-07-28", "apps view explain 2026-07-28", "apps view query 2025-11-25", "apps view explain 2025-11-25",
	"apps view XSS values stay inert", "no page errors",
}

// docScreenshots are the screenshots the README and docs/CLIENTS.md show.
var docScreenshots = []string{"workbench-query.png", "workbench-explain.png", "apps-query-2026-07-28.png", "apps-explain-2026-07-28.png"}

func TestPages(t *testing.T) {
	node, npm := nodetest.FindNode(t)
	chromium := findChromium(t)
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Install(t, node, npm, dir)
	artifacts := os.Getenv("PGMCP_ARTIFACTS_DIR")
	if artifacts == "" {
		artifacts = filepath.Join(dir, "artifacts")
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "host-bundle.js")
	nodetest.RunScript(t, node, dir, []string{"build-host.mjs", bundle})

	bin := nodetest.BuildPgmcp(t, false)
	srv := nodetest.StartHTTPArgs(t, bin, []string{"demo", "--http", "127.0.0.1:0"}, nodetest.CleanEnv())
	base := strings.TrimSuffix(srv.URL, "/mcp")
	// A second demo wants a bearer token.
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	out, err := exec.Command(bin, "token", "new", "--add", tokens, "analyst").Output()
	if err != nil {
		t.Fatalf("pgmcp token new: %v", err)
	}
	token := strings.TrimSpace(string(out))
	authSrv := nodetest.StartHTTPArgs(t, bin, []string{"demo", "--http", "127.0.0.1:0"}, append(nodetest.CleanEnv(), "PGMCP_AUTH_TOKENS_FILE="+tokens))
	authBase := strings.TrimSuffix(authSrv.URL, "/mcp")
	lines := nodetest.RunScript(t, node, dir, []string{"browser.mjs", base, artifacts, bundle, chromium, authBase, token})
	for _, name := range checks {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, "PASS "+name+":")
		}
		if !found {
			t.Errorf("browser.mjs printed no PASS line for %q", name)
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "FAIL ") {
			t.Errorf("%s", l)
		}
	}
	for _, name := range docScreenshots {
		if _, err := os.Stat(filepath.Join(artifacts, name)); err != nil {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
	t.Logf("screenshots in %s", artifacts)
	if os.Getenv("PGMCP_UPDATE_SCREENSHOTS") == "1" && !t.Failed() {
		images := filepath.Join(dir, "..", "..", "docs", "images")
		for _, name := range docScreenshots {
			b, err := os.ReadFile(filepath.Join(artifacts, name))
			if err == nil {
				err = os.WriteFile(filepath.Join(images, name), b, 0o644)
			}
			if err != nil {
				t.Error(err)
			}
		}
	}
	srv.Stop(t)
	authSrv.Stop(t)
}

// findChromium is Debian's Chromium (PGMCP_CHROMIUM, else chromium on
// PATH, else /usr/bin/chromium). Without it the test fails where browsers
// are required (CI, PGMCP_REQUIRE_NODE=1, PGMCP_REQUIRE_CHROMIUM=1) and is
// skipped elsewhere.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PGMCP_CHROMIUM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	ci := os.Getenv("CI")
	if os.Getenv("PGMCP_REQUIRE_CHROMIUM") == "1" || os.Getenv("PGMCP_REQUIRE_NODE") == "1" || (ci != "" && ci != "false" && ci != "0") {
		t.Fatal("no Chromium (install Debian's chromium package, or set PGMCP_CHROMIUM); it is required because CI, PGMCP_REQUIRE_NODE=1 or PGMCP_REQUIRE_CHROMIUM=1 is set")
	}
	t.Skip("no Chromium: skipping the browser tests (install Debian's chromium package; CI or PGMCP_REQUIRE_CHROMIUM=1 makes this a failure)")
	return ""
}
