package pgtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
	return sharedOr(tb, rel, tb.Skipf, "skipped")
}

// OptionalSharedPath is SharedPath for data a test can do without (extra
// fuzz seeds, an extra batch of inputs beside built-in ones): when
// ../shared/<rel> is missing it fails the test if PGMCP_REQUIRE_CORPUS=1,
// and otherwise logs that and returns "" (the test goes on without it).
func OptionalSharedPath(tb testing.TB, rel string) string {
	tb.Helper()
	return sharedOr(tb, rel, tb.Logf, "going on without it")
}

// sharedOr returns the path of ../shared/<rel>; when it is missing it
// fails the test under PGMCP_REQUIRE_CORPUS=1, else tells it with report
// (saying what happens then) and returns "".
func sharedOr(tb testing.TB, rel string, report func(format string, args ...any), then string) string {
	tb.Helper()
	p, ok := lookupShared(rel)
	if ok {
		return p
	}
	if CorpusRequired() {
		tb.Fatalf("pgtest: ../shared/%s not found (looked for %s) and %s=1: the shared corpus and data must be in ../shared next to the repository root",
			rel, p, EnvRequireCorpus)
	}
	report("pgtest: ../shared/%s not found (looked for %s); %s (%s=1 makes this a failure)", rel, p, then, EnvRequireCorpus)
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

// BIRDPrediction is one predicted query of the BIRD mini-dev set.
type BIRDPrediction struct {
	Source string // file#key
	SQL    string
	DB     string // the BIRD database id
}

// ReadBIRDPredictions reads every *.json prediction file of dir (a map of
// key to "SQL\t----- bird -----\tdb_id"), files and keys in sorted order.
// No file is a test failure.
func ReadBIRDPredictions(tb testing.TB, dir string) []BIRDPrediction {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		tb.Fatalf("no BIRD predictions (*.json) in %s", dir)
	}
	sort.Strings(files)
	var out []BIRDPrediction
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sql, db, _ := strings.Cut(m[k], "\t----- bird -----\t")
			out = append(out, BIRDPrediction{Source: filepath.Base(f) + "#" + k, SQL: sql, DB: strings.TrimSpace(db)})
		}
	}
	return out
}
