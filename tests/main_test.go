// Package tests holds pgmcp's end-to-end tests: they build the pgmcp binary
// and drive it as real clients do, over stdio and streamable HTTP, against a
// real PostgreSQL started by the harness in tests/pgtest.
package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// binary is the pgmcp binary built for this test run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pgmcp-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pgmcp")
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/pgmcp")
	var out bytes.Buffer
	build.Stdout, build.Stderr = &out, &out
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build pgmcp: %v\n%s", err, out.String())
		os.Exit(1)
	}
	code := pgtest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}
