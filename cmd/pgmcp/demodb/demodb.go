// Package demodb holds pgmcp's built-in demo database: the schema and a
// deterministic data generator of a fictional online retailer ("Larkspur",
// shop plus paid membership plus clickstream), the SQL that creates a
// read-only role for it, and the demo's default policy.
//
// Everything is embedded SQL run on the server:
//
//   - SchemaSQL creates the schemas public, billing and analytics: 13 tables
//     (one of them partitioned by year, with two partitions), 2 views, 6 enum
//     types, jsonb and array columns, and comments on every table, view and
//     column for the LLM that writes the queries.
//   - DataSQL fills them with set-based INSERT ... SELECT statements over
//     generate_series: 5,000 customers, 200 products, ~40,000 orders, ~100,000
//     order lines, payments, reviews, membership subscriptions and invoices,
//     and ~200,000 clickstream events, from 2023-11-01 to 2026-10-31 (UTC).
//     Its pseudo-random numbers are hashes of row numbers (hashint8extended),
//     never random(), and it never reads the clock, so every load produces
//     the same data. It then adds keys and indexes and runs ANALYZE.
//   - ReaderRoleSQL creates the read-only login role (see CreateReaderRole).
//   - PolicyJSON is the default policy: the schemas an analyst may query, the
//     sensitive table billing.payment_cards and the sensitive columns
//     public.customers.phone and public.customers.date_of_birth.
//
// Load and CreateReaderRole run the SQL in a transaction on a connection the
// caller opened as a superuser (or the database owner, for Load; creating a
// role needs CREATEROLE).
package demodb

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SchemaSQL is the DDL of the demo database: schemas, types, tables, views and
// comments. Keys and indexes are created by DataSQL after the bulk inserts.
//
//go:embed schema.sql
var SchemaSQL string

// DataSQL is the deterministic data generator. It must run after SchemaSQL,
// in the same transaction (it uses SET LOCAL).
//
//go:embed data.sql
var DataSQL string

// ReaderRoleSQL creates or updates the read-only role. It reads its inputs
// from the transaction-local settings pgmcp.reader_role,
// pgmcp.reader_password, pgmcp.reader_database and pgmcp.reader_policy;
// CreateReaderRole sets them.
//
//go:embed reader_role.sql
var ReaderRoleSQL string

// PolicyJSON is the demo's default policy, in the format of the shared
// corpus policy (shop_policy.json) with allowed_schemas added: search_path,
// allowed_schemas, allowed_relations (the tables and views of those schemas
// that are not blocked, partitions left out), blocked_relations and
// blocked_columns. It names no database: the demo connects to the one it
// created.
//
//go:embed policy.json
var PolicyJSON []byte

// Load creates the demo schema and data in the database conn is connected
// to, which should be empty (the schemas billing and analytics must not
// exist). The role of conn must be a superuser or the database owner. It
// runs in one transaction: on error nothing is left behind.
func Load(ctx context.Context, conn *pgx.Conn) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("demodb: load: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// Trusted, embedded, multi-statement SQL without arguments: pgx sends it
	// through the simple query protocol.
	if _, err := tx.Exec(ctx, SchemaSQL); err != nil {
		return fmt.Errorf("demodb: load schema: %w", err)
	}
	if _, err := tx.Exec(ctx, DataSQL); err != nil {
		return fmt.Errorf("demodb: load data: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("demodb: load: commit: %w", err)
	}
	return nil
}

// CreateReaderRole creates (or replaces the grants of) a LOGIN role with only
// SELECT on what the default policy allows, column-level on tables with
// blocked columns, and nothing on blocked relations. dbname is the database
// to grant CONNECT on; conn must be connected to it (the table grants are
// made in conn's database).
//
// The role gets NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
// NOBYPASSRLS, no role memberships, and default_transaction_read_only = on
// in dbname. CREATE on the schemas, TEMPORARY on the database and the
// large-object creation functions are revoked from PUBLIC in this database,
// so the role can write nothing. Roles are cluster-wide: calling it again,
// for the same or another database, resets the role's attributes and
// password and redoes the grants; it refuses a role that is a superuser,
// the current user, or owns objects. Concurrent calls on one cluster are
// retried.
func CreateReaderRole(ctx context.Context, conn *pgx.Conn, dbname, role, password string) error {
	if role == "" {
		return errors.New("demodb: create reader role: empty role name")
	}
	if dbname == "" {
		return errors.New("demodb: create reader role: empty database name")
	}
	if !json.Valid(PolicyJSON) {
		return errors.New("demodb: create reader role: embedded policy is not valid JSON")
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = createReaderRole(ctx, conn, dbname, role, password)
		if err == nil || attempt == 5 || !retryable(err) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demodb: create reader role %s: %w", role, ctx.Err())
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("demodb: create reader role %s: %w", role, err)
	}
	return nil
}

func createReaderRole(ctx context.Context, conn *pgx.Conn, dbname, role, password string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// The inputs travel as bind parameters; ReaderRoleSQL quotes them with
	// format('%I') and format('%L').
	if _, err := tx.Exec(ctx, `SELECT set_config('pgmcp.reader_role', $1, true),
	                                  set_config('pgmcp.reader_password', $2, true),
	                                  set_config('pgmcp.reader_database', $3, true),
	                                  set_config('pgmcp.reader_policy', $4, true)`,
		role, password, dbname, string(PolicyJSON)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, ReaderRoleSQL); err != nil {
		return err
	}
	// The settings are transaction-local: the password does not outlive
	// the transaction in the session.
	return tx.Commit(ctx)
}

// retryable reports errors caused by another session changing the same
// role or grants at the same time (roles are shared by all databases of a
// cluster).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001", "40P01", "23505": // serialization failure, deadlock, duplicate key
		return true
	case "XX000":
		return strings.Contains(pgErr.Message, "concurrently")
	}
	return false
}

// CreateDatabase creates the (empty) database name on the connection of a
// role that may create databases; Load then fills it.
func CreateDatabase(ctx context.Context, admin *pgx.Conn, name string) error {
	_, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}
