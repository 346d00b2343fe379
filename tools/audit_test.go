package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tools/engine"
)

// flakyWriter writes at most room bytes (then fails with ENOSPC, having
// written what fitted, like a full disk) while room is non-negative; with
// room < 0 it writes everything.
type flakyWriter struct {
	mu   sync.Mutex
	room int
	b    bytes.Buffer
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.room < 0 {
		return w.b.Write(p)
	}
	n := min(len(p), w.room)
	w.b.Write(p[:n])
	w.room -= n
	if n < len(p) {
		return n, syscall.ENOSPC
	}
	return n, nil
}

func (w *flakyWriter) setRoom(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.room = n
}

func (w *flakyWriter) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Split(strings.TrimSuffix(w.b.String(), "\n"), "\n")
}

// TestAuditLogShortWrite: a record cut by a full disk on a writer that
// cannot be truncated leaves a fragment, but the next record starts on a
// line of its own, and every failure is counted and reported once.
func TestAuditLogShortWrite(t *testing.T) {
	w := &flakyWriter{room: -1}
	var reports []error
	l := engine.NewAuditLog(w, func(err error) { reports = append(reports, err) })
	rec := &engine.AuditRecord{Tool: "query", SQL: "SELECT 1"}
	if err := l.Write(rec); err != nil {
		t.Fatal(err)
	}
	w.setRoom(10)
	if err := l.Write(rec); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v", err)
	}
	if err := l.Write(rec); err == nil {
		t.Fatal("a write with no room succeeded")
	}
	if l.Healthy() || l.Failures() != 2 {
		t.Errorf("after two failures: healthy %v, failures %d", l.Healthy(), l.Failures())
	}
	w.setRoom(-1)
	if err := l.Write(rec); err != nil {
		t.Fatal(err)
	}
	if !l.Healthy() || l.Failures() != 2 {
		t.Errorf("after a good write: healthy %v, failures %d", l.Healthy(), l.Failures())
	}
	lines := w.lines()
	if len(lines) != 3 {
		t.Fatalf("lines %q, want a record, a fragment, a record", lines)
	}
	for _, i := range []int{0, 2} {
		var r engine.AuditRecord
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil || r.Tool != "query" {
			t.Errorf("line %d %q is not a whole record: %v", i, lines[i], err)
		}
	}
	if len(lines[1]) != 10 {
		t.Errorf("fragment %q", lines[1])
	}
	// Reported when writes start failing and when they work again.
	if len(reports) != 2 || reports[0] == nil || reports[1] != nil {
		t.Errorf("reports %v", reports)
	}
}

// TestAuditFileReopen: after the file is renamed, Reopen makes the next
// record go to a new file at the path (mode 0600); the renamed file keeps
// the records written before.
func TestAuditFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	l, err := engine.OpenAuditFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rec := &engine.AuditRecord{Tool: "query"}
	_ = l.Write(rec)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	_ = l.Write(rec) // still the old file
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	_ = l.Write(rec)
	count := func(p string) int {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Count(b, []byte("\n"))
	}
	if a, b := count(path+".1"), count(path); a != 2 || b != 1 {
		t.Errorf("records: %d in the renamed file, %d in the new one; want 2 and 1", a, b)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the new file: %v %v", fi.Mode(), err)
	}
	// A path that cannot be opened: the log keeps its file.
	if err := os.Rename(dir, dir+".gone"); err != nil {
		t.Fatal(err)
	}
	defer os.Rename(dir+".gone", dir)
	if err := l.Reopen(); err == nil {
		t.Error("Reopen of a path in a missing directory succeeded")
	}
	if err := l.Write(rec); err != nil {
		t.Errorf("a write after a failed reopen: %v", err)
	}
}

// TestAuditRequired: with a required audit log, a call whose record
// cannot be written has its result withheld (audit_unavailable); while the
// log is failing calls are refused before they run (the model is not
// asked); once a record is written again calls run. Without it calls go
// on and the failures are counted.
func TestAuditRequired(t *testing.T) {
	for _, required := range []bool{true, false} {
		t.Run(map[bool]string{true: "required", false: "not required"}[required], func(t *testing.T) {
			w := &flakyWriter{room: -1}
			f := newQueryFixture(t, fixtureOpts{
				script: fakellm.Sequence(fakellm.SQL("SELECT count(*) AS n FROM orders")),
				deps: func(d *engine.Config) {
					d.Audit = engine.NewAuditLog(w, nil)
					d.Audit.SetRequired(required)
					d.Metrics = engine.NewMetrics(d.Databases)
				},
			})
			ask := func() toolOutcome {
				return f.call(t, t.Context(), "query", map[string]any{"question": "How many orders?"})
			}
			want := func(o toolOutcome, code string) {
				t.Helper()
				if got := o.err.Code; (code == "") == o.isError || got != code {
					t.Errorf("outcome %q (%s), want %q", got, o.text, code)
				}
			}
			want(ask(), "")
			asked := f.fake.Count()
			w.setRoom(0) // the disk is full
			if required {
				o := ask()
				want(o, string(engine.CodeAuditUnavailable))
				if strings.Contains(o.text, "row_count") || f.fake.Count() != asked+1 {
					t.Errorf("the withheld call: %s (model asked %d times)", o.text, f.fake.Count()-asked)
				}
				want(ask(), string(engine.CodeAuditUnavailable))
				if f.fake.Count() != asked+1 {
					t.Errorf("a call ran (the model was asked) while the audit log was failing")
				}
				w.setRoom(-1) // room again: the next refusal's record is written,
				want(ask(), string(engine.CodeAuditUnavailable))
				want(ask(), "") // and calls run again
				if n := metricValue(t, f.deps.Metrics, "pgmcp_audit_write_failures_total"); n != 2 {
					t.Errorf("audit failures metric %v, want 2", n)
				}
				if n := metricValue(t, f.deps.Metrics, "pgmcp_tool_calls_total", "tool", "query", "outcome", string(engine.CodeAuditUnavailable)); n != 3 {
					t.Errorf("audit_unavailable calls metric %v, want 3", n)
				}
				return
			}
			want(ask(), "")
			want(ask(), "")
			w.setRoom(-1)
			want(ask(), "")
			if n := metricValue(t, f.deps.Metrics, "pgmcp_audit_write_failures_total"); n != 2 {
				t.Errorf("audit failures metric %v, want 2", n)
			}
			if n := len(w.lines()); n != 2 {
				t.Errorf("%d records, want 2 (the first and the last call)", n)
			}
		})
	}
}

// metricValue reads a counter of m's registry by name and label pairs (0
// when it has no such series).
func metricValue(t *testing.T, m *engine.Metrics, name string, labels ...string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}

// TestAuditFileShortWrite writes records to a file under a file size
// limit (RLIMIT_FSIZE, for the test process, for the few milliseconds of
// the test): the record that does not fit is cut off again, so the file
// holds whole records only, and once the limit is lifted records follow
// on lines of their own.
func TestAuditFileShortWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := engine.OpenAuditFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	limited := old
	limited.Cur = 1000
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limited); err != nil {
		t.Fatal(err)
	}
	rec := &engine.AuditRecord{Tool: "query", SQL: "SELECT 'a record of about a hundred bytes, give or take' AS pad"}
	written, failed := 0, 0
	for range 30 {
		if l.Write(rec) == nil {
			written++
		} else {
			failed++
		}
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if failed == 0 || written == 0 {
		t.Fatalf("%d written, %d failed: the limit did not bite", written, failed)
	}
	if err := l.Write(rec); err != nil {
		t.Fatalf("a write after the limit was lifted: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != written+1 || !strings.HasSuffix(string(b), "\n") {
		t.Errorf("%d lines for %d records written (file of %d bytes)", len(lines), written+1, len(b))
	}
	for i, line := range lines {
		var r engine.AuditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Errorf("line %d is not a whole record: %q", i, line)
		}
	}
	if l.Failures() != int64(failed) {
		t.Errorf("failures %d, want %d", l.Failures(), failed)
	}
}
