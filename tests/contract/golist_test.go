// Package contract holds the tests of the architecture's rules and of the
// error-code contract (docs/ARCHITECTURE.md, docs/ERRORS.md): the import
// rules, direct and transitive, and the catalogue of error codes. They read
// the module with go list and go/parser; they need no database.
package contract

import (
	"os/exec"
	"strings"
	"testing"
)

// module is the module path; pattern lists all of its packages.
const (
	module  = "github.com/pgmcp/pgmcp"
	pattern = module + "/..."
)

// goList runs go list -f format over the module's packages and returns one
// line per package, each split at tabs (format separates its fields with
// \t, so that no directory name or list can run into the next field).
func goList(t *testing.T, format string) [][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", format, pattern).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += "\n" + string(ee.Stderr)
		}
		t.Fatalf("go list: %s", msg)
	}
	var rows [][]string
	// Only the newlines are trimmed: a last line's trailing tab (an empty
	// last field) is a field.
	for line := range strings.SplitSeq(strings.Trim(string(out), "\n"), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows
}

// moduleDir is the module's root directory.
func moduleDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// rel is an import path of ours relative to the module ("tools/engine";
// "." for the root).
func rel(importPath string) string {
	if importPath == module {
		return "."
	}
	return strings.TrimPrefix(importPath, module+"/")
}

// fields splits a space-separated go list field ("" is no element).
func fields(s string) []string { return strings.Fields(s) }
