package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// smallDisk is a directory where files can hold only about 64 kB: a
// 64 kB tmpfs when the test may mount one (as root), else the directory
// of a test whose pgmcp runs with a file size limit of 64 kB
// (RLIMIT_FSIZE, through the shell's ulimit -f). PGMCP_TEST_FULL_DISK=fsize
// forces the second.
type smallDisk struct {
	dir  string
	kind string // "tmpfs" or "fsize"
}

const smallDiskBytes = 64 << 10

func newSmallDisk(t *testing.T) smallDisk {
	t.Helper()
	dir := t.TempDir()
	if os.Getenv("PGMCP_TEST_FULL_DISK") != "fsize" {
		out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", smallDiskBytes), "tmpfs", dir).CombinedOutput()
		if err == nil {
			t.Cleanup(func() {
				if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
					t.Logf("umount %s: %v %s", dir, err, out)
				}
			})
			return smallDisk{dir: dir, kind: "tmpfs"}
		}
		t.Logf("cannot mount a tmpfs (%v: %s); using a file size limit instead", err, strings.TrimSpace(string(out)))
	}
	return smallDisk{dir: dir, kind: "fsize"}
}

// start runs pgmcp serve --http with env, under the file size limit when
// the disk is one.
func (d smallDisk) start(t *testing.T, env []string) *httpServer {
	t.Helper()
	args := []string{"serve", "--http", "127.0.0.1:0"}
	if d.kind == "tmpfs" {
		return startHTTP(t, args, env)
	}
	// ulimit -f counts 512-byte blocks in sh.
	return startBinary(t, "/bin/sh", append([]string{"-c", fmt.Sprintf(`ulimit -f %d && exec "$0" "$@"`, smallDiskBytes/512), binary}, args...), env)
}

// auditLines reads an audit file: the number of records, and the lines
// that are not a whole JSON record.
func auditLines(t *testing.T, path string) (records int, bad []string) {
	t.Helper()
	recs, bad := auditRecords(t, path)
	return len(recs), bad
}

// auditRecords reads an audit file: each record's error code ("" for a
// call answered), and the lines that are not a whole JSON record.
func auditRecords(t *testing.T, path string) (errs []string, bad []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the audit log: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Tool  string `json:"tool"`
			Time  string `json:"time"`
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Tool == "" || rec.Time == "" {
			bad = append(bad, sc.Text())
			continue
		}
		errs = append(errs, rec.Error)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		bad = append(bad, "(the file does not end with a newline)")
	}
	return errs, bad
}

// rotate moves the audit log out of the way, as logrotate does (renamed,
// then copied elsewhere and removed), sends SIGHUP, and waits for pgmcp to
// open a new file. It returns the records of the rotated file.
func rotate(t *testing.T, srv *httpServer, path, keepAs string) int {
	t.Helper()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("no new audit log at %s 10s after rename and SIGHUP", path)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// What was written to the renamed file until the reopen is kept.
	b, err := os.ReadFile(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keepAs, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + ".1"); err != nil {
		t.Fatal(err)
	}
	n, bad := auditLines(t, keepAs)
	if len(bad) > 0 {
		t.Errorf("the rotated audit log holds %d lines that are not whole records, e.g. %.200q", len(bad), bad[0])
	}
	return n
}

// callSQL calls query with SQL and returns the error code ("" on success).
func callSQL(t *testing.T, c *client.Client, sql string) string {
	t.Helper()
	code, _ := callCode(t, c, "query", map[string]any{"sql": sql})
	return code
}

// TestAuditFullDiskFailClosed fills the audit log's disk with the default
// PGMCP_AUDIT_REQUIRED=true: every call is answered until a record cannot
// be written; that call and every later one get audit_unavailable, and
// pgmcp_audit_write_failures_total counts them; the file holds exactly one
// whole record per answered call (no torn line). Rotating the log (rename,
// SIGHUP) makes room: calls are answered again.
//
//	go test -count=1 -run TestAuditFullDisk -v ./tests/
func TestAuditFullDiskFailClosed(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	disk := newSmallDisk(t)
	path := filepath.Join(disk.dir, "audit.jsonl")
	srv := disk.start(t, baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t), "PGMCP_AUDIT_LOG="+path))
	c := httpClient(t, srv.base+"/mcp")
	initialize(t, c)

	answered, refused := 0, 0
	for i := 0; i < 2000 && refused < 5; i++ {
		switch code := callSQL(t, c, fmt.Sprintf("SELECT %d AS n, 'a record of some length to fill the disk' AS pad", i)); code {
		case "":
			if refused > 0 {
				t.Fatalf("call %d was answered after %d were refused: the log is full", i, refused)
			}
			answered++
		case "audit_unavailable":
			refused++
		default:
			t.Fatalf("call %d: %s", i, code)
		}
	}
	t.Logf("%s of %d kB: %d calls answered, then %d refused with audit_unavailable", disk.kind, smallDiskBytes>>10, answered, refused)
	if refused == 0 {
		t.Fatalf("%d calls answered on a full disk: the audit log does not fail closed", answered)
	}
	recs, bad := auditRecords(t, path)
	if len(bad) > 0 {
		t.Errorf("the audit log holds %d lines that are not whole records, e.g. %.200q", len(bad), bad[0])
	}
	// Every answered call has its record; a refused call may have one
	// (a refusal's record is short, and may fit where the call's did not).
	okRecords, refusedRecords := 0, 0
	for _, e := range recs {
		switch e {
		case "":
			okRecords++
		case "audit_unavailable":
			refusedRecords++
		default:
			t.Errorf("a record with error %q", e)
		}
	}
	t.Logf("records: %d of answered calls, %d of refused calls", okRecords, refusedRecords)
	if okRecords != answered {
		t.Errorf("%d audit records of answered calls for %d answered calls", okRecords, answered)
	}
	if n, want := metric(t, srv.base, "pgmcp_audit_write_failures_total"), answered+refused-len(recs); n != float64(want) {
		t.Errorf("pgmcp_audit_write_failures_total = %v, want %d (calls without a record)", n, want)
	}
	if n := metric(t, srv.base, `pgmcp_tool_calls_total{outcome="audit_unavailable",tool="query"}`); n != float64(refused) {
		t.Errorf(`pgmcp_tool_calls_total{outcome="audit_unavailable"} = %v, want %d`, n, refused)
	}
	if !strings.Contains(srv.stderr.String(), "cannot write the audit log") {
		t.Errorf("the server log does not say the audit log cannot be written:\n%s", srv.stderr.String())
	}

	// Rotation frees the disk: calls are answered and audited again.
	kept := rotate(t, srv, path, filepath.Join(t.TempDir(), "audit.rotated"))
	if kept != len(recs) {
		t.Errorf("the rotated log holds %d records, want %d", kept, len(recs))
	}
	for i := range 3 {
		if code := callSQL(t, c, "SELECT 1 AS one"); code != "" {
			t.Errorf("call %d after the rotation: %s", i, code)
		}
	}
	if n, bad := auditLines(t, path); n != 3 || len(bad) > 0 {
		t.Errorf("the new audit log holds %d records (%d bad lines), want 3", n, len(bad))
	}
	srv.stop(t)
}

// TestAuditFullDiskFailOpen: with PGMCP_AUDIT_REQUIRED=false every call is
// answered on a full disk, and pgmcp_audit_write_failures_total counts
// each record lost; the records written are whole.
func TestAuditFullDiskFailOpen(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	disk := newSmallDisk(t)
	path := filepath.Join(disk.dir, "audit.jsonl")
	srv := disk.start(t, baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_AUDIT_LOG="+path, "PGMCP_AUDIT_REQUIRED=false"))
	c := httpClient(t, srv.base+"/mcp")
	initialize(t, c)
	const calls = 400
	for i := range calls {
		if code := callSQL(t, c, fmt.Sprintf("SELECT %d AS n, 'a record of some length to fill the disk' AS pad", i)); code != "" {
			t.Fatalf("call %d: %s", i, code)
		}
	}
	records, bad := auditLines(t, path)
	if len(bad) > 0 {
		t.Errorf("the audit log holds %d lines that are not whole records, e.g. %.200q", len(bad), bad[0])
	}
	failures := metric(t, srv.base, "pgmcp_audit_write_failures_total")
	t.Logf("%s of %d kB, %d calls: %d records written, pgmcp_audit_write_failures_total %v", disk.kind, smallDiskBytes>>10, calls, records, failures)
	if records >= calls {
		t.Fatalf("%d records for %d calls: the disk did not fill", records, calls)
	}
	if failures != float64(calls-records) {
		t.Errorf("pgmcp_audit_write_failures_total = %v, want %d (calls %d, records %d)", failures, calls-records, calls, records)
	}
	srv.stop(t)
}

// TestAuditRotationUnderLoad renames the audit log and sends SIGHUP twice
// while 4 clients make 600 calls: the three files together hold exactly
// one record per call, and each got records.
//
//	go test -count=1 -run TestAuditRotationUnderLoad -v ./tests/
func TestAuditRotationUnderLoad(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL,
		"PGMCP_POLICY_FILE="+demoPolicyFile(t), "PGMCP_AUDIT_LOG="+path))
	const clients, each = 4, 150
	var made atomic.Int64
	var wg sync.WaitGroup
	for w := range clients {
		c := httpClient(t, srv.base+"/mcp")
		initialize(t, c)
		wg.Go(func() {
			for i := range each {
				if code := callSQL(t, c, fmt.Sprintf("SELECT %d AS w, %d AS i", w, i)); code != "" {
					t.Errorf("client %d call %d: %s", w, i, code)
				}
				made.Add(1)
			}
		})
	}
	var kept []int
	for _, at := range []int64{clients * each / 3, clients * each * 2 / 3} {
		for made.Load() < at {
			time.Sleep(5 * time.Millisecond)
		}
		kept = append(kept, rotate(t, srv, path, filepath.Join(dir, fmt.Sprintf("kept.%d", len(kept)+1))))
	}
	wg.Wait()
	current, bad := auditLines(t, path)
	if len(bad) > 0 {
		t.Errorf("%d bad lines in the current log", len(bad))
	}
	total := current
	for _, k := range kept {
		total += k
	}
	t.Logf("%d calls: records %v in the rotated files, %d in the current one, %d in all", made.Load(), kept, current, total)
	if total != int(made.Load()) {
		t.Errorf("%d records for %d calls", total, made.Load())
	}
	if current == 0 || kept[0] == 0 || kept[1] == 0 {
		t.Errorf("a file got no record: rotated %v, current %d", kept, current)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("the reopened audit log has mode %v, want 0600", fi.Mode().Perm())
	}
	srv.stop(t)
}
