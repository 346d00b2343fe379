// Package nodetest is what the tests that drive pgmcp from Node share
// (tests/conformance: third-party MCP clients; tests/browser: Chromium):
// finding Node and npm (a failure, not a skip, in CI or with
// PGMCP_REQUIRE_NODE=1), installing a directory's pinned npm packages once,
// building the binary, a clean environment, running a script with its
// output in the test log, and pgmcp serving HTTP on a free port.
package nodetest

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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// minNodeMajor is the oldest Node the pinned packages run on
// (@modelcontextprotocol/client needs 20; the inspector asks for 22.19 but
// its CLI works on 20).
const minNodeMajor = 20

// FindNode returns the paths of node and npm. Without them, or with a
// Node older than minNodeMajor, the test fails in CI and is skipped
// elsewhere.
func FindNode(t *testing.T) (node, npm string) {
	t.Helper()
	required := os.Getenv("PGMCP_REQUIRE_NODE") == "1"
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		required = true
	}
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if required {
			t.Fatalf("%s; these tests need Node ≥ %d and npm (they are required because CI or PGMCP_REQUIRE_NODE=1 is set)", msg, minNodeMajor)
		}
		t.Skipf("%s; skipping (install Node ≥ %d and npm to run them; CI or PGMCP_REQUIRE_NODE=1 makes this a failure)", msg, minNodeMajor)
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

// Install runs npm ci in dir unless node_modules already holds
// what package-lock.json pins (a stamp file records it). A file lock keeps
// two test runs from installing at the same time.
func Install(t *testing.T, node, npm, dir string) {
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

// BuildPgmcp builds the pgmcp binary, with the race detector if race.
func BuildPgmcp(t *testing.T, race bool) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pgmcp")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	start := time.Now()
	out, err := exec.Command("go", append(args, "github.com/pgmcp/pgmcp/cmd/pgmcp")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("go %s github.com/pgmcp/pgmcp/cmd/pgmcp took %s", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	return bin
}

// CleanEnv is a minimal environment: no PGMCP_* or OPENAI_* variable of
// the developer's shell reaches a server.
func CleanEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for _, k := range []string{"CI", "LANG", "USER", "LOGNAME", "SHELL"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// RunScript runs a Node script in dir, logs each line of its output as it
// comes, fails the test on a non-zero exit, and returns the lines.
func RunScript(t *testing.T, node, dir string, args []string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = append(CleanEnv(), "NO_COLOR=1")
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

// HTTPServer is pgmcp serving HTTP on a free port.
type HTTPServer struct {
	cmd *exec.Cmd
	// URL is http(s)://127.0.0.1:PORT/mcp.
	URL    string
	stderr *SyncBuffer
	done   chan error
}

// Cmd is the running process; Done receives its Wait error when it ends;
// Stderr is what it has logged so far.
func (s *HTTPServer) Cmd() *exec.Cmd       { return s.cmd }
func (s *HTTPServer) Done() <-chan error   { return s.done }
func (s *HTTPServer) Stderr() fmt.Stringer { return s.stderr }

// StartHTTP starts pgmcp serve over HTTP on a free port and waits for the
// url=http://127.0.0.1:PORT/mcp line of its log.
func StartHTTP(t *testing.T, bin string, env []string) *HTTPServer {
	t.Helper()
	return StartHTTPArgs(t, bin, []string{"serve", "--http", "127.0.0.1:0"}, env)
}

// StartHTTPArgs is StartHTTP with other arguments, which must serve HTTP
// or HTTPS on a free port (e.g. demo --http 127.0.0.1:0); the listener may
// be a wildcard address, and URL is then on 127.0.0.1.
func StartHTTPArgs(t *testing.T, bin string, args, env []string) *HTTPServer {
	t.Helper()
	s := &HTTPServer{stderr: &SyncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, args...)
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
	urlRE := regexp.MustCompile(`url=(https?)://\S*:(\d+)/mcp`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1] + "://127.0.0.1:" + m[2] + "/mcp"
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case s.URL = <-found:
	case err := <-s.done:
		t.Fatalf("pgmcp %v exited: %v\n%s", args, err, s.stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("pgmcp %v did not start serving:\n%s", args, s.stderr.String())
	}
	t.Logf("pgmcp serving %s", s.URL)
	return s
}

// Stop sends SIGTERM and checks pgmcp exits cleanly.
func (s *HTTPServer) Stop(t *testing.T) {
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

// SyncBuffer is a buffer safe for concurrent writes and reads (a
// process's stderr read while it runs).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
