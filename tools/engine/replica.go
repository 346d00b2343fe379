package engine

import (
	"context"

	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// Replication reads whether the server d's pool reaches is a standby, and
// its replay lag (pgexec.ReplicationStatus), within ctx: for health pages
// (/readyz detail) and doctor. Errors are *pgexec.Error (db_unavailable
// when the server cannot be reached).
func (db *Database) Replication(ctx context.Context) (*pgexec.Replication, error) {
	return pgexec.ReplicationStatus(ctx, db.Pool)
}
