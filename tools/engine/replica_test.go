package engine

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// TestOpenWarnsReadOnlyAttrs: a URL with target_session_attrs=read-only
// opens (it matches any server) with a warning at start; the database's
// Replication accessor reads its server, a primary.
func TestOpenWarnsReadOnlyAttrs(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	var logs bytes.Buffer
	d, err := Open(t.Context(), DatabaseSpec{Name: "demo", URL: db.ReaderURL + "&target_session_attrs=read-only",
		Policy: PolicySource{JSON: demodb.PolicyJSON}, Pool: pgexec.Options{ConnectTimeout: 10 * time.Second}},
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Pool.Close()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "target_session_attrs=read-only accepts any server") {
		t.Errorf("no warning about read-only:\n%s", logs.String())
	}
	rep, err := d.Replication(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.InRecovery || rep.HasReplay || rep.LagBytes != 0 || rep.Server.Role() != "primary" {
		t.Errorf("replication of a primary: %+v", rep)
	}
}

// TestDescribeReplicaConflict: the code reaches clients with a retry hint
// and the SQLSTATE.
func TestDescribeReplicaConflict(t *testing.T) {
	info := Describe(&pgexec.Error{Code: pgexec.CodeReplicaConflict, Message: "m", PG: &pgexec.PgError{SQLState: "40001"}})
	if info.Code != "replica_conflict" || !strings.Contains(info.Hint, "run it again") || info.SQLState != "40001" {
		t.Errorf("Describe = %+v", info)
	}
}
