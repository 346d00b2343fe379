package engine

import (
	"os"
	"testing"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// TestMain stops the throwaway PostgreSQL cluster the database tests start.
func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
