package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// repoRoot returns the directory holding go.mod, walking up from the working
// directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory: run from inside the pgmcp repository, or pass --bin or --url")
		}
		dir = parent
	}
}

// goCommand returns the go command: the one on PATH, else $GOROOT/bin/go
// when GOROOT is set.
func goCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// buildServer builds ./cmd/pgmcp of the repository into dir.
func buildServer(ctx context.Context, dir string, race bool) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "pgmcp")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/pgmcp")
	cmd := exec.CommandContext(ctx, goCommand(), args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/pgmcp: %v\n%s", err, out)
	}
	return bin, nil
}

// demoServer is a running `pgmcp demo --http 127.0.0.1:0`.
type demoServer struct {
	URL        string // http://127.0.0.1:PORT/mcp
	PID        int
	ClusterDir string // the demo cluster's directory (its socket directory)
	PMPID      int    // the demo postmaster's pid, 0 if unknown

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error
	log     *serverLog
	stopped bool
}

// serverLog keeps the server's stderr: the last lines, and counts of
// warnings and errors.
type serverLog struct {
	mu       sync.Mutex
	tail     []string
	warnings atomic.Int64
	errors   atomic.Int64
	first    []string // first few warning/error lines
	file     io.Writer
}

const serverLogTail = 40

func (l *serverLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		fmt.Fprintln(l.file, line)
	}
	l.tail = append(l.tail, line)
	if len(l.tail) > serverLogTail {
		l.tail = l.tail[len(l.tail)-serverLogTail:]
	}
	var bad bool
	switch {
	case strings.Contains(line, "level=WARN"):
		l.warnings.Add(1)
		bad = true
	case strings.Contains(line, "level=ERROR"):
		l.errors.Add(1)
		bad = true
	}
	if bad && len(l.first) < 5 {
		l.first = append(l.first, line)
	}
}

func (l *serverLog) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.tail, "\n")
}

func (l *serverLog) First() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.first...)
}

var (
	urlRE  = regexp.MustCompile(`url=(http://[^\s"]+/mcp)`)
	hostRE = regexp.MustCompile(`host=(/[^&\s"]+)`)
)

// startDemo runs bin demo --http 127.0.0.1:0 and waits until it serves. The
// server gets SIGTERM if this process dies (so it deletes its cluster).
func startDemo(ctx context.Context, bin string, extraEnv []string, logFile io.Writer) (*demoServer, error) {
	s := &demoServer{done: make(chan struct{}), log: &serverLog{file: logFile}}
	s.cmd = exec.Command(bin, "demo", "--http", "127.0.0.1:0")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	s.cmd.Env = append(env, extraEnv...)
	pr, pw := io.Pipe()
	s.cmd.Stderr = pw
	s.cmd.Stdout = io.Discard
	s.cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a Ctrl-C at the terminal reaches us only, and
		// we stop the server in order.
		Setpgid: true,
		// If we die, the server is told to stop (and deletes its cluster).
		Pdeathsig: syscall.SIGTERM,
	}
	// The parent-death signal fires when the thread that forked the child
	// exits: fork from a locked thread that lives as long as the server.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			close(s.done)
			return
		}
		started <- nil
		s.waitErr = s.cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s demo: %w", bin, err)
	}
	s.PID = s.cmd.Process.Pid

	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var once bool
		for sc.Scan() {
			line := sc.Text()
			s.log.add(line)
			if once {
				continue
			}
			if m := hostRE.FindStringSubmatch(line); m != nil && s.ClusterDir == "" {
				s.ClusterDir = m[1]
			}
			if m := urlRE.FindStringSubmatch(line); m != nil {
				s.URL = m[1]
				once = true
				close(found)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case <-found:
	case <-s.done:
		return nil, fmt.Errorf("pgmcp demo exited before serving: %v\n%s", s.waitErr, s.log.Tail())
	case <-time.After(3 * time.Minute):
		s.kill()
		return nil, fmt.Errorf("pgmcp demo did not start serving within 3 minutes:\n%s", s.log.Tail())
	case <-ctx.Done():
		s.kill()
		return nil, ctx.Err()
	}
	if s.ClusterDir != "" {
		if b, err := os.ReadFile(filepath.Join(s.ClusterDir, "data", "postmaster.pid")); err == nil {
			line, _, _ := bytes.Cut(b, []byte("\n"))
			s.PMPID, _ = strconv.Atoi(strings.TrimSpace(string(line)))
		}
	}
	return s, nil
}

func (s *demoServer) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// cleanup is what stopping the demo showed.
type cleanup struct {
	ExitedCleanly  bool    `json:"exited_cleanly"`
	Exit           string  `json:"exit"`
	StopSeconds    float64 `json:"stop_seconds"`
	ClusterDir     string  `json:"cluster_dir"`
	ClusterDirGone bool    `json:"cluster_dir_gone"`
	PostmasterPID  int     `json:"postmaster_pid"`
	PostmasterGone bool    `json:"postmaster_gone"`
}

// Stop sends SIGTERM, waits for a clean exit, and checks the demo cluster
// (directory and postmaster) is gone. It is safe to call twice.
func (s *demoServer) Stop() cleanup {
	c := cleanup{ClusterDir: s.ClusterDir, PostmasterPID: s.PMPID}
	if s.stopped {
		return c
	}
	s.stopped = true
	start := time.Now()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.kill()
		c.Exit = "killed: no exit within 30s of SIGTERM"
	}
	c.StopSeconds = time.Since(start).Seconds()
	if c.Exit == "" {
		if s.waitErr != nil {
			c.Exit = s.waitErr.Error()
		} else {
			c.Exit = "exit status 0"
			c.ExitedCleanly = true
		}
	}
	// The demo removes its cluster before it exits; allow a moment anyway.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.ClusterDirGone = s.ClusterDir != "" && !exists(s.ClusterDir)
		c.PostmasterGone = s.PMPID <= 0 || syscall.Kill(s.PMPID, 0) != nil
		if (c.ClusterDirGone && c.PostmasterGone) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
