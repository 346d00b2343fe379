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
