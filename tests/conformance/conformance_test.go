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
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// minNodeMajor is the oldest Node the pinned clients run on
// (@modelcontextprotocol/client needs 20; the inspector asks for 22.19 but
// its CLI works on 20).
const minNodeMajor = 20

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
	node, npm := findNode(t)
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	installPackages(t, node, npm, dir)
	// The HTTP server, long-lived and serving concurrent requests, runs
	// with the race detector; stdio clients start a server per session
	// (the inspector one per check), where a race build's slower start
	// would triple the run time.
	bin := buildPgmcp(t, false)
	raceBin := buildPgmcp(t, true)

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
	srv := startHTTP(t, raceBin, append(cleanEnv(), serverEnv...))

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
		{"http", []string{"http", srv.url}},
	}

	// One client at a time, so that each one's lines stay together in the
	// log (in parallel they save a few seconds and interleave).
	for _, c := range clients {
		for _, target := range targets {
			t.Run(c.name+"/"+target.name, func(t *testing.T) {
				args := append([]string{c.script, "--question", question}, target.args...)
				out := runScript(t, node, dir, args)
				checkOutput(t, c, target.name, out)
			})
		}
	}
	if fake.Count() == 0 {
		t.Errorf("the scripted model got no request: question mode was not exercised")
	}
	srv.stop(t)
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

// findNode returns the paths of node and npm. Without them, or with a
// Node older than minNodeMajor, the test fails in CI and is skipped
// elsewhere.
func findNode(t *testing.T) (node, npm string) {
	t.Helper()
	required := os.Getenv("PGMCP_REQUIRE_NODE") == "1"
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		required = true
	}
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if required {
			t.Fatalf("%s; the conformance tests need Node ≥ %d and npm (they are required because CI or PGMCP_REQUIRE_NODE=1 is set)", msg, minNodeMajor)
		}
		t.Skipf("%s; skipping the conformance tests with third-party MCP clients (install Node ≥ %d and npm to run them; CI or PGMCP_REQUIRE_NODE=1 makes this a failure)", msg, minNodeMajor)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not on PATH")
	}
	npm, err = exec.LookPath("npm")
	if err != nil {
		unavailable("npm is not on PATH")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		unavailable("node --version: %v", err)
	}
	version := strings.TrimSpace(string(out))
	major, err := strconv.Atoi(strings.TrimPrefix(strings.SplitN(version, ".", 2)[0], "v"))
	if err != nil || major < minNodeMajor {
		unavailable("node %s is too old", version)
	}
	t.Logf("node %s (%s), npm %s", version, node, npm)
	return node, npm
}

// installPackages runs npm ci in dir unless node_modules already holds
// what package-lock.json pins (a stamp file records it). A file lock keeps
// two test runs from installing at the same time.
func installPackages(t *testing.T, node, npm, dir string) {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(dir, ".npm-install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock %s: %v", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	h := sha256.New()
	for _, f := range []string{"package.json", "package-lock.json", ".npmrc"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	nodeVersion, _ := exec.Command(node, "--version").Output()
	h.Write(nodeVersion)
	want := hex.EncodeToString(h.Sum(nil))
	stamp := filepath.Join(dir, "node_modules", ".pgmcp-installed")
	if got, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(got)) == want {
		t.Logf("npm packages already installed (node_modules matches package-lock.json)")
		return
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	// --ignore-scripts: no package needs its install script here, and none
	// should run as root in CI. The cache is this directory's .npm-cache
	// (git-ignored), so a lock change downloads only what changed.
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline",
		"--cache", filepath.Join(dir, ".npm-cache"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		t.Logf("npm: %s", l)
	}
	if err != nil {
		t.Fatalf("npm ci in %s: %v (the EBADENGINE warnings on Node 20 are expected and harmless)", dir, err)
	}
	// Go walks node_modules for ./... patterns: a .go file in a package
	// would break go build, go vet and staticcheck of the module.
	var goFiles []string
	_ = filepath.WalkDir(filepath.Join(dir, "node_modules"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") {
			goFiles = append(goFiles, p)
		}
		return nil
	})
	if len(goFiles) > 0 {
		t.Fatalf("node_modules holds Go files, which go ./... would build: %v", goFiles)
	}
	if err := os.WriteFile(stamp, []byte(want+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("npm ci took %s", time.Since(start).Round(100*time.Millisecond))
}

// buildPgmcp builds the pgmcp binary, with the race detector if race.
func buildPgmcp(t *testing.T, race bool) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pgmcp")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	start := time.Now()
	out, err := exec.Command("go", append(args, "../../cmd/pgmcp")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("go %s ../../cmd/pgmcp took %s", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	return bin
}

// cleanEnv is a minimal environment: no PGMCP_* or OPENAI_* variable of
// the developer's shell reaches a server.
func cleanEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for _, k := range []string{"CI", "LANG", "USER", "LOGNAME", "SHELL"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// runScript runs a Node script in dir, logs each line of its output as it
// comes, fails the test on a non-zero exit, and returns the lines.
func runScript(t *testing.T, node, dir string, args []string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "NO_COLOR=1")
	cmd.WaitDelay = 10 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			t.Log(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	start := time.Now()
	err := cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		t.Errorf("node %s: %v (after %s)", strings.Join(args, " "), err, time.Since(start).Round(100*time.Millisecond))
	} else {
		t.Logf("node %s finished in %s", args[0], time.Since(start).Round(100*time.Millisecond))
	}
	return lines
}

// httpServer is `pgmcp serve --http 127.0.0.1:0`.
type httpServer struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	done   chan error
}

// startHTTP starts pgmcp serve over HTTP on a free port and waits for the
// url=http://127.0.0.1:PORT/mcp line of its log.
func startHTTP(t *testing.T, bin string, env []string) *httpServer {
	t.Helper()
	s := &httpServer{stderr: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "serve", "--http", "127.0.0.1:0")
	s.cmd.Env = env
	pr, pw := io.Pipe()
	s.cmd.Stderr = io.MultiWriter(s.stderr, pw)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	urlRE := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+/mcp)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case s.url = <-found:
	case err := <-s.done:
		t.Fatalf("pgmcp serve --http exited: %v\n%s", err, s.stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("pgmcp serve --http did not start serving:\n%s", s.stderr.String())
	}
	t.Logf("pgmcp serving %s", s.url)
	return s
}

// stop sends SIGTERM and checks pgmcp exits cleanly.
func (s *httpServer) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("pgmcp exited with %v after SIGTERM:\n%s", err, s.stderr.String())
		} else if strings.Contains(s.stderr.String(), "DATA RACE") {
			t.Errorf("the race detector found a data race in pgmcp:\n%s", s.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("pgmcp did not exit after SIGTERM")
	}
}

// syncBuffer is a buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
