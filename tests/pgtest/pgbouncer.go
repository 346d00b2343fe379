package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/localpg"
)

// EnvRequirePgBouncer makes the tests that need PgBouncer fail, not skip,
// when it is not installed (CI sets it).
const EnvRequirePgBouncer = "PGMCP_REQUIRE_PGBOUNCER"

// PgBouncer is a PgBouncer process in front of the harness's cluster,
// listening on 127.0.0.1, which lets in the Reader role with its password.
type PgBouncer struct {
	// Port is its TCP port on 127.0.0.1.
	Port int
	// Dir holds its configuration and log.
	Dir string
	cmd *exec.Cmd
}

// URL is a URL through PgBouncer to database dbname as the Reader role.
func (b *PgBouncer) URL(dbname string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(Reader, ReaderPassword),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port)), Path: "/" + dbname, RawQuery: "sslmode=disable"}
	return u.String()
}

// Log returns PgBouncer's log so far.
func (b *PgBouncer) Log() string {
	data, _ := os.ReadFile(filepath.Join(b.Dir, "pgbouncer.log"))
	return string(data)
}

// StartPgBouncer starts Debian's pgbouncer in front of the shared cluster
// in pool_mode (transaction or session), with a pool of poolSize server
// sessions per database and user, and stops it when the test ends. It
// resets every server session after each use (server_reset_query =
// DISCARD ALL, in every pool mode), as pgmcp's docs ask of a
// transaction-mode pooler. Without pgbouncer installed the test is
// skipped, or fails when PGMCP_REQUIRE_PGBOUNCER=1.
func StartPgBouncer(tb testing.TB, poolMode string, poolSize int) *PgBouncer {
	tb.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		if os.Getenv(EnvRequirePgBouncer) != "" {
			tb.Fatalf("pgbouncer is not installed (apt-get install pgbouncer) and %s is set", EnvRequirePgBouncer)
		}
		tb.Skip("pgbouncer is not installed (apt-get install pgbouncer)")
	}
	s := Shared(tb)
	if s.cluster == nil {
		tb.Skip("PgBouncer needs the harness's own cluster, not " + EnvDatabaseURL)
	}
	// Not tb.TempDir: its parent is private to us, and pgbouncer may run
	// as another user.
	dir, err := os.MkdirTemp("", "pgmcp-pgbouncer-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	port, err := localpg.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = scram-sha-256
auth_file = %s
pool_mode = %s
default_pool_size = %d
max_client_conn = 1000
server_reset_query = DISCARD ALL
server_reset_query_always = 1
logfile = %s
pidfile = %s
log_connections = 0
log_disconnections = 0
`, s.cluster.SocketDir, s.cluster.Port, port, filepath.Join(dir, "userlist.txt"), poolMode, poolSize,
		filepath.Join(dir, "pgbouncer.log"), filepath.Join(dir, "pgbouncer.pid"))
	files := map[string]string{
		"pgbouncer.ini": ini,
		"userlist.txt":  fmt.Sprintf("%q %q\n", Reader, ReaderPassword),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	args := []string{bin, filepath.Join(dir, "pgbouncer.ini")}
	// PgBouncer refuses to run as root: as root, it runs as the postgres
	// user, as the cluster does.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("running as root, and there is no postgres user to run pgbouncer as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, filepath.Join(dir, "pgbouncer.ini"), filepath.Join(dir, "userlist.txt")} {
			if err := os.Chown(p, uid, gid); err != nil {
				tb.Fatal(err)
			}
		}
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start pgbouncer: %v", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	b := &PgBouncer{Port: port, Dir: dir, cmd: cmd}
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			return b
		}
		select {
		case <-done:
			tb.Fatalf("pgbouncer exited: %v\n%s\n%s", waitErr, out.String(), b.Log())
		case <-ctx.Done():
			tb.Fatalf("pgbouncer did not listen on %d within 15s: %v\n%s", port, errors.Join(err, ctx.Err()), b.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
