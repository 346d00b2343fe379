// Package localpg runs a private, throwaway PostgreSQL cluster for the demo
// command and for tests.
//
// The cluster lives in a fresh temporary directory: initdb creates it, the
// postmaster is started as a child process listening only on a unix socket in
// that directory (no TCP listener), and Stop shuts it down and deletes the
// directory. PostgreSQL refuses to run as root, so when the caller is root the
// binaries run as the "postgres" OS user (initdb through runuser; the
// postmaster with dropped credentials).
//
// The postmaster is started with a parent-death signal: if the process that
// started it dies without calling Stop (a panic, SIGKILL, a test timeout) the
// kernel sends the postmaster SIGQUIT, which makes it exit at once together
// with its backends, so no server outlives its owner. A later Start removes
// directories left behind by owners that are gone.
package localpg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// dirPrefix names the temporary directories of clusters, so stale ones can be
// found and removed.
const dirPrefix = "pgmcp-pg-"

// Options tune a cluster. The zero value is a good default.
type Options struct {
	// BinDir holds initdb and postgres. Empty means: search PATH, then
	// /usr/lib/postgresql/*/bin (newest version first).
	BinDir string
	// Settings are extra postgresql.conf settings (name → value).
	Settings map[string]string
	// StartTimeout bounds initdb plus start-up. Zero means 60s.
	StartTimeout time.Duration
}

// Cluster is a running throwaway cluster. Its superuser is "postgres", with
// trust authentication over the unix socket; other roles authenticate with
// their password (scram-sha-256). There is no TCP listener.
type Cluster struct {
	// Dir is the temporary directory holding the data directory and the socket.
	Dir string
	// SocketDir is the directory of the unix socket (the libpq "host").
	SocketDir string
	// Port is the port number in the socket's name.
	Port int
	// Version is the server's major version, e.g. "15".
	Version string
	// Primary is the cluster this one streams from, for a standby made by
	// StartStandby; nil for a primary.
	Primary *Cluster

	cmd  *exec.Cmd
	done chan struct{}
	logf string

	binDir string
	args   []string
	owner  *osUser
}

// URL returns a connection URL for the superuser to database dbname.
func (c *Cluster) URL(dbname string) string {
	return c.URLFor("postgres", "", dbname)
}

// URLFor returns a connection URL for a role (with an optional password) to
// database dbname over the cluster's unix socket.
func (c *Cluster) URLFor(role, password, dbname string) string {
	userinfo := role
	if password != "" {
		userinfo = role + ":" + password
	}
	return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", userinfo, dbname, c.SocketDir, c.Port)
}

// FindBinDir returns the directory holding initdb and postgres: the one of
// initdb on PATH, else the newest /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool {
		return versionOf(matches[i]) > versionOf(matches[j])
	})
	for _, m := range matches {
		dir := filepath.Dir(m)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("localpg: PostgreSQL server binaries not found (looked for initdb on PATH and in /usr/lib/postgresql/*/bin); install the PostgreSQL server package")
}

func versionOf(initdbPath string) float64 {
	v := filepath.Base(filepath.Dir(filepath.Dir(initdbPath)))
	f, _ := strconv.ParseFloat(v, 64)
	return f
}

// Start creates and starts a new cluster. The caller must call Stop.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if runtime.GOOS == "windows" {
		return nil, errors.New("localpg: a throwaway PostgreSQL needs Linux or macOS (it listens on a unix socket); on Windows, set PGMCP_DATABASE_URL to a PostgreSQL server")
	}
	ctx, cancel := opts.startContext(ctx)
	defer cancel()

	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	removeStale()

	owner, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := makeDir(owner)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, SocketDir: dir, logf: filepath.Join(dir, "postgres.log")}
	fail := func(err error) (*Cluster, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}

	data := filepath.Join(dir, "data")
	initdb := []string{filepath.Join(binDir, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"}
	var cmd *exec.Cmd
	if owner != nil {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", owner.name, "--"}, initdb...)...)
	} else {
		cmd = exec.CommandContext(ctx, initdb[0], initdb[1:]...)
	}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("localpg: initdb failed: %w: %s", err, lastLines(out, 5)))
	}
	c.Version = readVersion(data)
	// The superuser may connect without a password over the socket (only
	// the owner can reach it: the directory is private); every other role
	// must give its password, so a wrong one is refused as on a real server.
	// The superuser may also stream WAL (a standby made by StartStandby).
	hba := "# written by pgmcp's localpg\nlocal all postgres trust\nlocal replication postgres trust\nlocal all all scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return fail(fmt.Errorf("localpg: write pg_hba.conf: %w", err))
	}
	if owner != nil {
		if err := os.Chown(filepath.Join(data, "pg_hba.conf"), int(owner.uid), int(owner.gid)); err != nil {
			return fail(fmt.Errorf("localpg: %w", err))
		}
	}

	port, err := FreePort()
	if err != nil {
		return fail(err)
	}
	c.Port = port
	c.binDir, c.args, c.owner = binDir, serverArgs(data, dir, port, opts.Settings), owner
	if err := c.startPostmaster(ctx); err != nil {
		return fail(err)
	}
	return c, nil
}

// serverArgs are the postmaster's arguments: the data directory, the socket
// directory and port, the throwaway cluster's settings, then settings.
func serverArgs(data, dir string, port int, settings map[string]string) []string {
	args := []string{"-D", data, "-k", dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "unix_socket_permissions=0777",
		"-c", "max_connections=200",
		"-c", "shared_buffers=128MB",
		"-c", "log_min_messages=warning",
		"-c", "logging_collector=off",
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	return args
}

// startPostmaster starts the postmaster on the data directory and waits
// until it accepts connections.
func (c *Cluster) startPostmaster(ctx context.Context) error {
	logFile, err := os.OpenFile(c.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	pm := exec.Command(filepath.Join(c.binDir, "postgres"), c.args...)
	pm.Dir = c.Dir
	pm.Stdout = logFile
	pm.Stderr = logFile
	pm.SysProcAttr = postmasterAttr(c.owner)
	done := make(chan struct{})
	// The parent-death signal fires when the OS thread that forked the child
	// exits, not the process. Go ends a thread only when a goroutine locked to
	// it returns, so fork from a goroutine that locks its thread and stays
	// alive, waiting, for as long as the postmaster runs.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := pm.Start()
		started <- err
		if err != nil {
			close(done)
			return
		}
		_ = pm.Wait()
		close(done)
	}()
	err = <-started
	logFile.Close()
	if err != nil {
		return fmt.Errorf("localpg: start postgres: %w", err)
	}
	c.cmd, c.done = pm, done
	if err := c.waitReady(ctx); err != nil {
		c.kill()
		return err
	}
	return nil
}

// Pause stops the server (fast shutdown) but keeps its data, as an outage
// would; Resume starts it again on the same socket. For fault tests.
func (c *Cluster) Pause() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
		return nil
	case <-time.After(15 * time.Second):
		c.kill()
		return errors.New("localpg: the server did not stop within 15s; killed")
	}
}

// Resume starts a paused server again.
func (c *Cluster) Resume(ctx context.Context) error {
	select {
	case <-c.done:
	default:
		return errors.New("localpg: the server is running")
	}
	return c.startPostmaster(ctx)
}

// waitReady waits until the socket file exists and accepts connections.
func (c *Cluster) waitReady(ctx context.Context) error {
	sock := filepath.Join(c.SocketDir, fmt.Sprintf(".s.PGSQL.%d", c.Port))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return fmt.Errorf("localpg: postgres exited during start-up: %s", c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("localpg: postgres did not start in time: %s", c.logTail())
		case <-tick.C:
		}
		// The socket appears before the server accepts connections; the
		// postmaster.pid "ready" status line is the reliable signal.
		if _, err := os.Stat(sock); err != nil {
			continue
		}
		// A hot standby says "standby" once it accepts read-only
		// connections.
		pid, err := os.ReadFile(filepath.Join(c.Dir, "data", "postmaster.pid"))
		if err == nil && (bytes.Contains(pid, []byte("ready")) || bytes.Contains(pid, []byte("standby"))) {
			return nil
		}
	}
}

// Stop shuts the cluster down (fast shutdown, then immediate, then kill) and
// deletes its directory. It is safe to call more than once.
func (c *Cluster) Stop() error {
	if c == nil || c.cmd == nil {
		return nil
	}
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
			select {
			case <-c.done:
			case <-time.After(5 * time.Second):
				c.kill()
			}
		}
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("localpg: remove %s: %w", c.Dir, err)
	}
	return nil
}

// LogFile is the server's log file (statements appear in it when
// log_statement is set).
func (c *Cluster) LogFile() string { return c.logf }

// Done is closed when the postmaster has exited.
func (c *Cluster) Done() <-chan struct{} { return c.done }

// PID returns the postmaster's process id.
func (c *Cluster) PID() int { return c.cmd.Process.Pid }

func (c *Cluster) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.logf)
	return lastLines(b, 5)
}

type osUser struct {
	name     string
	uid, gid uint32
}

// runAs returns the user to run PostgreSQL as: nil to run as ourselves, or
// the "postgres" user when we are root.
func runAs() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("localpg: running as root, and there is no \"postgres\" OS user to run PostgreSQL as (PostgreSQL refuses to run as root)")
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &osUser{name: u.Username, uid: uint32(uid), gid: uint32(gid)}, nil
}

// startContext bounds ctx by o.StartTimeout (60 seconds when 0).
func (o Options) startContext(ctx context.Context) (context.Context, context.CancelFunc) {
	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	return context.WithTimeout(ctx, timeout)
}

// makeDir makes a fresh cluster directory, owned by owner when not nil,
// holding our pid in owner.pid: that lets a later Start tell whether the
// directory is stale.
func makeDir(owner *osUser) (string, error) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return "", fmt.Errorf("localpg: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("localpg: %w", err)
	}
	if owner != nil {
		if err := os.Chown(dir, int(owner.uid), int(owner.gid)); err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("localpg: give %s to the postgres user: %w", dir, err)
		}
	}
	return dir, nil
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago. A
// cluster does not listen on TCP; the port only names its socket, but a free
// one also keeps a later TCP listener possible and avoids clashing with a
// system server. Test helpers use it for listeners of their own.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("localpg: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func readVersion(data string) string {
	b, err := os.ReadFile(filepath.Join(data, "PG_VERSION"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// removeStale deletes cluster directories whose owner process is gone (left
// by an owner that was killed). Their postmasters are already gone: the
// parent-death signal stopped them.
func removeStale() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range matches {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if pmAlive(filepath.Join(dir, "data", "postmaster.pid")) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

func pmAlive(pidFile string) bool {
	f, err := os.Open(pidFile)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	if !s.Scan() {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s.Text()))
	return err == nil && processAlive(pid)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
