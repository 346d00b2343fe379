//go:build unix

package localpg

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStartStop(t *testing.T) {
	c, err := Start(t.Context(), Options{Settings: map[string]string{"work_mem": "8MB"}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), c.URL("postgres"))
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	var wm, listen string
	err = conn.QueryRow(t.Context(), "SELECT current_setting('work_mem'), current_setting('listen_addresses')").Scan(&wm, &listen)
	conn.Close(context.Background())
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	if wm != "8MB" || listen != "" {
		t.Errorf("work_mem=%q listen_addresses=%q, want 8MB and no TCP listener", wm, listen)
	}
	if c.Version == "" {
		t.Error("Version is empty")
	}
	pid := c.PID()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop", c.Dir)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("postmaster %d still runs after Stop", pid)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestOwnerDeathStopsCluster starts a cluster from a child process that is
// then killed with SIGKILL: the postmaster must go too (parent-death signal),
// and the next Start removes the directory left behind.
func TestOwnerDeathStopsCluster(t *testing.T) {
	if os.Getenv("LOCALPG_CHILD") == "1" {
		c, err := Start(context.Background(), Options{})
		if err != nil {
			os.Stderr.WriteString("start: " + err.Error() + "\n")
			os.Exit(3)
		}
		os.Stdout.WriteString(c.Dir + " " + strconv.Itoa(c.PID()) + "\n")
		time.Sleep(time.Minute)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestOwnerDeathStopsCluster$")
	cmd.Env = append(os.Environ(), "LOCALPG_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, _ := out.Read(buf)
	fields := strings.Fields(string(buf[:n]))
	if len(fields) != 2 {
		cmd.Process.Kill()
		t.Fatalf("child said %q", buf[:n])
	}
	dir := fields[0]
	pid, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d outlived its owner", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	removeStale()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		os.RemoveAll(dir)
		t.Errorf("stale directory %s was not removed", dir)
	}
}

func TestFindBinDir(t *testing.T) {
	dir, err := FindBinDir()
	if err != nil {
		t.Skip(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
		t.Errorf("FindBinDir() = %s without postgres", dir)
	}
}

func TestPauseResume(t *testing.T) {
	c, err := Start(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ping := func() error {
		conn, err := pgx.Connect(t.Context(), c.URL("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(context.Background())
	}
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(); err != nil {
		t.Fatal(err)
	}
	if ping() == nil {
		t.Fatal("a paused server accepted a connection")
	}
	if err := c.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := ping(); err != nil {
		t.Fatalf("after Resume: %v", err)
	}
}

// TestStandby makes a streaming standby, reads on it what the primary
// wrote, stops it and starts it again on the same data directory, and
// sees it catch up.
func TestStandby(t *testing.T) {
	ctx := t.Context()
	p, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	s, err := p.StartStandby(ctx, Options{Settings: map[string]string{"max_standby_streaming_delay": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if s.SocketDir == p.SocketDir || s.Port == p.Port || s.Primary != p {
		t.Fatalf("standby at %s:%d, primary at %s:%d", s.SocketDir, s.Port, p.SocketDir, p.Port)
	}
	pc, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	if _, err := pc.Exec(ctx, "CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g"); err != nil {
		t.Fatal(err)
	}
	count := func(want int) {
		t.Helper()
		if err := s.WaitReplayed(ctx); err != nil {
			t.Fatal(err)
		}
		sc, err := pgx.Connect(ctx, s.URL("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close(ctx)
		var n int
		var rec bool
		var delay string
		if err := sc.QueryRow(ctx, "SELECT count(*), pg_is_in_recovery(), current_setting('max_standby_streaming_delay') FROM t").Scan(&n, &rec, &delay); err != nil {
			t.Fatal(err)
		}
		if n != want || !rec || delay != "0" {
			t.Fatalf("standby: count %d (want %d), in recovery %v, max_standby_streaming_delay %s", n, want, rec, delay)
		}
	}
	count(100)
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.Connect(ctx, s.URL("postgres")); err == nil {
		t.Fatal("a paused standby accepted a connection")
	}
	if _, err := pc.Exec(ctx, "INSERT INTO t SELECT g FROM generate_series(1, 50) g"); err != nil {
		t.Fatal(err)
	}
	if err := s.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	count(150)
	if err := p.WaitReplayed(ctx); err == nil {
		t.Fatal("WaitReplayed on a primary: no error")
	}
}
