package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records what SharedPath does instead of
// failing or skipping the real test.
type recorder struct {
	testing.TB
	fatal, skip, log string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Logf(format string, args ...any) { r.log = fmt.Sprintf(format, args...) }

// call runs f with a recorder on a goroutine of its own (Fatalf and Skipf
// end it, as they end a test).
func call(t *testing.T, f func(testing.TB) string) (*recorder, string) {
	r := &recorder{TB: t}
	var got string
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = f(r)
	}()
	<-done
	return r, got
}

func TestSharedPath(t *testing.T) {
	// A repository next to a shared folder holding corpus/a.jsonl.
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	for _, d := range []string{filepath.Join(repo, "pkg"), filepath.Join(top, "shared", "corpus")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(repo, "go.mod"), filepath.Join(top, "shared", "corpus", "a.jsonl")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(filepath.Join(repo, "pkg"))
	want := filepath.Join(top, "shared", "corpus", "a.jsonl")
	missing := filepath.Join(top, "shared", "data", "b.json")

	for _, required := range []bool{false, true} {
		t.Run(fmt.Sprintf("required=%v", required), func(t *testing.T) {
			if required {
				t.Setenv(EnvRequireCorpus, "1")
			} else {
				t.Setenv(EnvRequireCorpus, "")
			}
			for name, f := range map[string]func(testing.TB, string) string{"SharedPath": SharedPath, "OptionalSharedPath": OptionalSharedPath} {
				// Present: the path, nothing else.
				r, got := call(t, func(tb testing.TB) string { return f(tb, "corpus/a.jsonl") })
				if got != want || r.fatal != "" || r.skip != "" || r.log != "" {
					t.Errorf("%s(present) = %q (fatal %q, skip %q, log %q), want %q", name, got, r.fatal, r.skip, r.log, want)
				}
				// A directory will do.
				if _, got := call(t, func(tb testing.TB) string { return f(tb, "corpus") }); got != filepath.Dir(want) {
					t.Errorf("%s(directory) = %q", name, got)
				}

				// Missing: a failure when required; otherwise a skip
				// (SharedPath) or a log line (OptionalSharedPath).
				r, got = call(t, func(tb testing.TB) string { return f(tb, "data/b.json") })
				var msg string
				switch {
				case required:
					msg = r.fatal
					if r.skip != "" || r.log != "" {
						t.Errorf("%s(missing, required): skip %q, log %q", name, r.skip, r.log)
					}
				case name == "SharedPath":
					msg = r.skip
					if r.fatal != "" || r.log != "" {
						t.Errorf("%s(missing): fatal %q, log %q", name, r.fatal, r.log)
					}
				default:
					msg = r.log
					if r.fatal != "" || r.skip != "" || got != "" {
						t.Errorf("%s(missing) = %q: fatal %q, skip %q", name, got, r.fatal, r.skip)
					}
				}
				if !strings.Contains(msg, "../shared/data/b.json not found") || !strings.Contains(msg, missing) ||
					!strings.Contains(msg, EnvRequireCorpus+"=1") {
					t.Errorf("%s(missing, required=%v): message %q does not name the file, the path looked for and the variable",
						name, required, msg)
				}
			}
		})
	}
}
