package pgtest

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvRequireCorpus names the variable that makes a missing shared corpus or
// data set a test failure instead of a skip. CI (.ci/run) sets it to 1.
const EnvRequireCorpus = "PGMCP_REQUIRE_CORPUS"

// CorpusRequired reports whether PGMCP_REQUIRE_CORPUS=1.
func CorpusRequired() bool { return os.Getenv(EnvRequireCorpus) == "1" }

// SharedPath returns the path of ../shared/<rel> (rel is slash-separated,
// e.g. "corpus/guard_accept.jsonl" or "data/spider"), ../shared being the
// folder next to the repository root (found as RepoRoot finds it, walking
// up from the working directory). A file or a directory will do.
//
// When it does not exist, the test fails (t.Fatalf) if
// PGMCP_REQUIRE_CORPUS=1, and is skipped (t.Skipf) otherwise, the message
// naming the path looked for and the variable. Every test that reads the
// shared corpus or data goes through it (or OptionalSharedPath), so that no
// such test passes in CI without having read its data.
func SharedPath(tb testing.TB, rel string) string {
	tb.Helper()
	p, ok := lookupShared(rel)
	if ok {
		return p
	}
	if CorpusRequired() {
		tb.Fatalf("pgtest: ../shared/%s not found (looked for %s) and %s=1: the shared corpus and data must be in ../shared next to the repository root",
			rel, p, EnvRequireCorpus)
	}
	tb.Skipf("pgtest: ../shared/%s not found (looked for %s); skipped (%s=1 makes this a failure)",
		rel, p, EnvRequireCorpus)
	return ""
}

// OptionalSharedPath is SharedPath for data a test can do without (extra
// fuzz seeds, an extra batch of inputs beside built-in ones): when
// ../shared/<rel> is missing it fails the test if PGMCP_REQUIRE_CORPUS=1,
// and otherwise logs that and returns "" (the test goes on without it).
func OptionalSharedPath(tb testing.TB, rel string) string {
	tb.Helper()
	p, ok := lookupShared(rel)
	if ok {
		return p
	}
	if CorpusRequired() {
		tb.Fatalf("pgtest: ../shared/%s not found (looked for %s) and %s=1: the shared corpus and data must be in ../shared next to the repository root",
			rel, p, EnvRequireCorpus)
	}
	tb.Logf("pgtest: ../shared/%s not found (looked for %s); going on without it (%s=1 makes this a failure)",
		rel, p, EnvRequireCorpus)
	return ""
}

// lookupShared returns the path of ../shared/<rel> and whether it exists;
// the path is what was looked for (for messages) when it does not.
func lookupShared(rel string) (string, bool) {
	root := RepoRoot()
	if root == "" {
		return filepath.Join("..", "shared", filepath.FromSlash(rel)) + " (no go.mod above the working directory)", false
	}
	p := filepath.Join(filepath.Dir(root), "shared", filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		return p, false
	}
	return p, true
}
