package pgexec

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// RoleReport describes the role pgmcp logged in as: what it is, and what it
// could do beyond reading.
type RoleReport struct {
	Name      string
	Superuser bool
	BypassRLS bool
	// CreateDB is true when the role may create schemas in the database.
	CreateInDatabase bool
	// CreateSchemas are allowed schemas the role may create objects in.
	CreateSchemas []string
	// WriteGrants are "schema.table: INSERT, UPDATE" lines for relations of
	// the allowed schemas the role may change.
	WriteGrants []string
	// ServerRoles are the predefined roles with server-level powers the role
	// is a member of (pg_read_server_files, pg_write_server_files,
	// pg_execute_server_program, pg_signal_backend).
	ServerRoles []string
	// ServerVersion is the server's version string (server_version).
	ServerVersion string
	// Database is the current database's name.
	Database string
}

// Privileged reports whether the role is one pgmcp refuses by default.
func (r RoleReport) Privileged() bool { return r.Superuser || r.BypassRLS }

// CanWrite reports whether the role can change or create anything in the
// allowed schemas.
func (r RoleReport) CanWrite() bool {
	return r.CreateInDatabase || len(r.CreateSchemas) > 0 || len(r.WriteGrants) > 0 || len(r.ServerRoles) > 0
}

// InspectRole reads what the current role is and may do in the given
// schemas. It runs catalog queries only, in a read-only transaction.
func InspectRole(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, schemas []string) (RoleReport, error) {
	var r RoleReport
	tx, err := db.Begin(ctx)
	if err != nil {
		return r, err
	}
	defer func() { _ = tx.Rollback(ctx) }()

	err = tx.QueryRow(ctx, `
		SELECT current_user, r.rolsuper, r.rolbypassrls,
		       has_database_privilege(current_database(), 'CREATE'),
		       current_setting('server_version'), current_database()
		FROM pg_roles r WHERE r.rolname = current_user`).
		Scan(&r.Name, &r.Superuser, &r.BypassRLS, &r.CreateInDatabase, &r.ServerVersion, &r.Database)
	if err != nil {
		return r, fmt.Errorf("inspect role: %w", err)
	}

	rows, err := tx.Query(ctx, `
		SELECT n.nspname FROM pg_namespace n
		WHERE n.nspname = ANY($1) AND has_schema_privilege(n.oid, 'CREATE')
		ORDER BY 1`, schemas)
	if err != nil {
		return r, fmt.Errorf("inspect schema grants: %w", err)
	}
	r.CreateSchemas, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return r, fmt.Errorf("inspect schema grants: %w", err)
	}

	rows, err = tx.Query(ctx, `
		SELECT n.nspname, c.relname,
		       array_remove(ARRAY[
		         CASE WHEN has_table_privilege(c.oid, 'INSERT') THEN 'INSERT' END,
		         CASE WHEN has_table_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
		         CASE WHEN has_table_privilege(c.oid, 'DELETE') THEN 'DELETE' END,
		         CASE WHEN has_table_privilege(c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
		         CASE WHEN has_table_privilege(c.oid, 'TRIGGER') THEN 'TRIGGER' END,
		         CASE WHEN has_table_privilege(c.oid, 'REFERENCES') THEN 'REFERENCES' END], NULL)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
		ORDER BY 1, 2`, schemas)
	if err != nil {
		return r, fmt.Errorf("inspect table grants: %w", err)
	}
	for rows.Next() {
		var schema, table string
		var privs []string
		if err := rows.Scan(&schema, &table, &privs); err != nil {
			rows.Close()
			return r, fmt.Errorf("inspect table grants: %w", err)
		}
		if len(privs) > 0 {
			r.WriteGrants = append(r.WriteGrants, schema+"."+table+": "+strings.Join(privs, ", "))
		}
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("inspect table grants: %w", err)
	}

	rows, err = tx.Query(ctx, `
		SELECT rolname FROM pg_roles
		WHERE rolname IN ('pg_read_server_files', 'pg_write_server_files',
		                  'pg_execute_server_program', 'pg_signal_backend')
		  AND pg_has_role(current_user, oid, 'USAGE')
		ORDER BY 1`)
	if err != nil {
		return r, fmt.Errorf("inspect role memberships: %w", err)
	}
	r.ServerRoles, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return r, fmt.Errorf("inspect role memberships: %w", err)
	}
	return r, nil
}

// WriteSummary describes, one item a line, what the role could change.
func (r RoleReport) WriteSummary() []string {
	var out []string
	if r.CreateInDatabase {
		out = append(out, "CREATE on database "+r.Database+" (can create schemas)")
	}
	for _, s := range r.CreateSchemas {
		out = append(out, "CREATE on schema "+s)
	}
	out = append(out, r.WriteGrants...)
	for _, s := range r.ServerRoles {
		out = append(out, "member of "+s)
	}
	return out
}

// ReadOnlyRoleSQL returns SQL that creates a login role able to read the
// given schemas and nothing else, for an administrator to run.
func ReadOnlyRoleSQL(database string, schemas []string) string {
	s := append([]string{}, schemas...)
	sort.Strings(s)
	q := make([]string, len(s))
	for i, n := range s {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	list := strings.Join(q, ", ")
	db := pgx.Identifier{database}.Sanitize()
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE ROLE pgmcp_reader LOGIN PASSWORD 'change-me' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;\n")
	fmt.Fprintf(&b, "GRANT CONNECT ON DATABASE %s TO pgmcp_reader;\n", db)
	fmt.Fprintf(&b, "GRANT USAGE ON SCHEMA %s TO pgmcp_reader;\n", list)
	fmt.Fprintf(&b, "GRANT SELECT ON ALL TABLES IN SCHEMA %s TO pgmcp_reader;\n", list)
	fmt.Fprintf(&b, "REVOKE CREATE ON SCHEMA %s FROM PUBLIC;\n", list)
	fmt.Fprintf(&b, "-- then leave out sensitive data, e.g.: REVOKE SELECT ON secret_table FROM pgmcp_reader;\n")
	fmt.Fprintf(&b, "-- or grant column by column: GRANT SELECT (id, name) ON people TO pgmcp_reader;")
	return b.String()
}
