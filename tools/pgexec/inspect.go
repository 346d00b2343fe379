package pgexec

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The reads of this file are the catalog and setting queries pgmcp runs
// besides LoadCatalog, InspectRole and the hardening checks: the server's
// version and time zone, the login roles, the database name, what a
// caller's role may read, and the setting a plain connection gets. Each is
// one statement on whatever db is (a pool, a connection or a transaction:
// no transaction of its own is opened), bounded by ctx only. Their errors
// are *Error.

// CodeRoleUnusable means the privileges of a role named for a caller could
// not be read, most often because the role does not exist (SQLSTATE 42704
// in the cause). Never rename it.
const CodeRoleUnusable Code = "role_unusable"

// readError maps a failed read of what to an *Error: the code execError
// gives (db_unavailable, connection_lost, query_timeout, cancelled, …;
// query_failed for an error PostgreSQL raised, with PG set), a message
// "cannot read <what>: …" that holds no data value nor password (a quoted
// part of PostgreSQL's message is shown only when it is one of names), and
// err as the cause (errors.As finds a *pgconn.PgError in it).
func readError(ctx context.Context, what string, err error, names ...string) *Error {
	code, msg, pg := failure(ctx, err, names)
	return &Error{Code: code, Message: "cannot read " + what + ": " + msg, Err: err, PG: pg}
}

// failure is what execError says of err: its code, its safe message and,
// for an error PostgreSQL raised, its SQLSTATE and sanitized message, in
// which names (a role, a setting: what the call was given, no data) are
// not masked.
func failure(ctx context.Context, err error, names []string) (Code, string, *PgError) {
	known := func(s string) bool { return slices.Contains(names, s) }
	var e *Error
	if !errors.As(execErrorIn(ctx, err, source{known: known}), &e) {
		return CodeQueryFailed, "the query failed", nil
	}
	return e.Code, e.Message, e.PG
}

// ServerSettings returns the server's major version (server_version_num
// / 10000, e.g. "15") and the session's TimeZone setting (e.g. "UTC"), as
// PostgreSQL prints them.
func ServerSettings(ctx context.Context, db catalogReader) (major, timeZone string, err error) {
	err = db.QueryRow(ctx, "SELECT (current_setting('server_version_num')::int / 10000)::text, current_setting('TimeZone')").
		Scan(&major, &timeZone)
	if err != nil {
		return "", "", readError(ctx, "the server settings", err)
	}
	return major, timeZone, nil
}

// SessionRoles returns the session's session_user (the role it logged in
// as) and current_user (the same, unless a role setting of the login role
// or the database, ALTER ROLE … SET role, switched it at connection).
func SessionRoles(ctx context.Context, db catalogReader) (session, current string, err error) {
	err = db.QueryRow(ctx, "SELECT session_user::text, current_user::text").Scan(&session, &current)
	if err != nil {
		return "", "", readError(ctx, "the login role", err)
	}
	return session, current, nil
}

// CurrentDatabase returns the name of the database db is connected to.
func CurrentDatabase(ctx context.Context, db catalogReader) (string, error) {
	var name string
	if err := db.QueryRow(ctx, "SELECT pg_catalog.current_database()").Scan(&name); err != nil {
		return "", readError(ctx, "the database name", err)
	}
	return name, nil
}

// RelationAccess is what a role may read of one relation.
type RelationAccess struct {
	// Name is the relation, "schema.name" (unquoted).
	Name string
	// Whole: the role has USAGE on the schema and SELECT on the relation.
	Whole bool
	// Some: the role has USAGE on the schema and SELECT on the relation or
	// on at least one of its columns. When false, it may read nothing of it.
	Some bool
	// DeniedColumns are the relation's columns (dropped ones left out) the
	// role has no SELECT on, in no particular order; with Whole false and
	// Some true they are what it may not read. Without USAGE on the schema
	// they list only the column privileges missing, not every column.
	DeniedColumns []string
}

// RoleAccess reads what role may read of the tables, partitioned tables,
// views, materialized views and foreign tables among relations ("schema.name"
// each), or, when relations is empty, of those in schemas. Relations that
// do not exist, and relations of other kinds, are left out; the order is
// PostgreSQL's. The privileges are role's own and those it inherits,
// whatever role db is logged in as (no membership is needed to read them).
//
// A failure of the query itself, most often a role that does not exist
// (the cause is then a *pgconn.PgError with SQLSTATE 42704), but also a lost
// connection or a timeout, is an *Error with Code CodeRoleUnusable; a row
// that cannot be read is an *Error with Code CodeCatalogUnreadable.
func RoleAccess(ctx context.Context, db catalogReader, role string, relations, schemas []string) ([]RelationAccess, error) {
	rows, err := db.Query(ctx, `
		SELECT n.nspname || '.' || c.relname,
		       has_schema_privilege($1, n.oid, 'USAGE') AND has_table_privilege($1, c.oid, 'SELECT'),
		       has_schema_privilege($1, n.oid, 'USAGE') AND has_any_column_privilege($1, c.oid, 'SELECT'),
		       ARRAY(SELECT a.attname::text FROM pg_attribute a
		             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		               AND NOT has_column_privilege($1, c.oid, a.attnum, 'SELECT'))
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
		  AND (n.nspname || '.' || c.relname = ANY($2)
		       OR (coalesce(cardinality($2::text[]), 0) = 0 AND n.nspname = ANY($3)))`,
		role, relations, schemas)
	if err != nil {
		return nil, roleUnusable(ctx, role, err)
	}
	defer rows.Close()
	var out []RelationAccess
	for rows.Next() {
		var r RelationAccess
		if err := rows.Scan(&r.Name, &r.Whole, &r.Some, &r.DeniedColumns); err != nil {
			return nil, &Error{Code: CodeCatalogUnreadable, Message: fmt.Sprintf("cannot read the privileges of role %q", role), Err: err}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, roleUnusable(ctx, role, err)
	}
	return out, nil
}

// roleUnusable is the CodeRoleUnusable error of RoleAccess.
func roleUnusable(ctx context.Context, role string, err error) error {
	_, msg, pg := failure(ctx, err, []string{role})
	return &Error{Code: CodeRoleUnusable, Message: fmt.Sprintf("cannot read the privileges of role %q: %s", role, msg), Err: err, PG: pg}
}

// UnreadableRelations returns, sorted, the relations among relations
// ("schema.name" each) the current role may read nothing of: it lacks
// USAGE on the schema, or has SELECT neither on the relation nor on any of
// its columns. Relations that do not exist are left out.
func UnreadableRelations(ctx context.Context, db catalogReader, relations []string) ([]string, error) {
	rows, err := db.Query(ctx, `
		SELECT n.nspname || '.' || c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname || '.' || c.relname = ANY($1)
		  AND NOT (has_schema_privilege(n.oid, 'USAGE')
		           AND (has_table_privilege(c.oid, 'SELECT') OR has_any_column_privilege(c.oid, 'SELECT')))
		ORDER BY 1`, relations)
	if err != nil {
		return nil, readError(ctx, "the role's grants", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, readError(ctx, "the role's grants", err)
	}
	return out, nil
}

// PlainSetting connects to url on a connection of its own that pins
// nothing (no start-up parameters beyond the URL's, unlike NewPool's), reads
// current_setting(name) and closes the connection: the value a client that
// does not set it gets, from the server, the database and the role. timeout
// is the connect timeout (0: none); the read is bounded by ctx only. Errors
// are *Error: bad_database_url, db_auth_failed or db_unavailable when the
// connection fails, as NewPool's; a failed read is query_failed (PG set:
// an unknown setting is SQLSTATE 42704), db_unavailable, connection_lost,
// query_timeout or cancelled. No message holds the password.
func PlainSetting(ctx context.Context, url string, timeout time.Duration, name string) (string, error) {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return "", &Error{Code: CodeBadURL, Message: "invalid database URL " + RedactDSN(url) + ": " + scrub(err.Error(), url), Err: err}
	}
	cc.ConnectTimeout = timeout
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return "", connectError(url, err)
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
		e := readError(ctx, "setting "+name, err, name)
		e.Message = scrub(e.Message, url)
		return "", e
	}
	return v, nil
}

// Replication is what a server says of its recovery: whether it is a
// standby and, for one, how far behind its primary it is.
type Replication struct {
	// Server is the server the pool's connection reached (with a
	// multi-host URL, the one its target_session_attrs chose).
	Server Server
	// InRecovery: the server is a standby (pg_is_in_recovery()).
	InRecovery bool
	// ReplayLag is now() - pg_last_xact_replay_timestamp(): how long ago
	// the last transaction the standby replayed was committed on the
	// primary. It also grows while the primary commits nothing (then
	// LagBytes is 0). Valid only when HasReplay.
	ReplayLag time.Duration
	// HasReplay: the standby has replayed a transaction since it started.
	HasReplay bool
	// ReceivedLSN and ReplayedLSN are pg_last_wal_receive_lsn() and
	// pg_last_wal_replay_lsn() ("" when unknown: not a standby, or not
	// streaming).
	ReceivedLSN, ReplayedLSN string
	// LagBytes is WAL received but not yet replayed, in bytes.
	LagBytes int64
}

// ReplicationStatus reads, on a connection of pool (a pool made by
// NewPool), whether its server is in recovery and its replay lag. One
// statement; errors are *Error.
func ReplicationStatus(ctx context.Context, pool *pgxpool.Pool) (*Replication, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, readError(ctx, "the replication status", err)
	}
	defer conn.Release()
	r := &Replication{Server: ServerOf(conn)}
	var lag *float64
	var recv, replay *string
	var bytes *int64
	err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery(),
		extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8,
		pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,
		pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::int8`).Scan(&r.InRecovery, &lag, &recv, &replay, &bytes)
	if err != nil {
		return nil, readError(ctx, "the replication status", err)
	}
	if lag != nil {
		r.HasReplay, r.ReplayLag = true, time.Duration(max(*lag, 0)*float64(time.Second))
	}
	if recv != nil {
		r.ReceivedLSN = *recv
	}
	if replay != nil {
		r.ReplayedLSN = *replay
	}
	if bytes != nil {
		r.LagBytes = max(*bytes, 0)
	}
	return r, nil
}
