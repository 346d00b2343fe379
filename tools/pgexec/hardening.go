package pgexec

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The guard refuses every function below, and pgmcp's own SQL calls none of
// them. They are listed here because the role is the layer that must hold
// when the guard is wrong: PostgreSQL lets every role (PUBLIC) EXECUTE most
// of them, and each lets SQL that slipped past the guard do something a
// read-only role should not. HardeningSQL is the SQL that revokes them;
// CheckFunctions tells which of them a set of roles may still execute.
//
// Functions deliberately left out, PUBLIC-executable by default but
// harmless to a read-only role or needed by pgmcp:
//   - current_setting: reads settings a role may read anyway (SHOW);
//     pgmcp's own pool check, explain and session check use it.
//   - pg_listening_channels: lists the session's own channels; pgmcp's
//     session check uses it.
//   - pg_advisory_unlock*: release only the session's own locks.
//   - lo_open, loread, lo_get, lowrite, lo_put, lo_truncate, lo_unlink…:
//     act on an existing large object only with that object's own grants
//     (lo_compat_privileges off, the default).
//   - dblink_get_connections and the other dblink functions that only use
//     a connection dblink_connect opened: pgmcp's session check calls
//     dblink_get_connections when it may, and without it never reuses a
//     connection.
//   - replication slot and collation import functions: PostgreSQL checks
//     the REPLICATION attribute or superuser itself.

// catalogReader runs catalog queries: a pool, a connection or a
// transaction.
type catalogReader interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// FunctionGroup is a family of functions with one risk.
type FunctionGroup struct {
	// Key names the group in code and tests.
	Key string
	// Title is the group as doctor names it.
	Title string
	// Risk is high, medium or low: what the group gives SQL that got past
	// the guard, for a role with pgmcp's grants.
	Risk string
	// Does says what a caller could do with the group.
	Does string
	// Public is true when PostgreSQL grants EXECUTE to PUBLIC by default:
	// HardeningSQL revokes the group from PUBLIC. The others are
	// superuser-only (or granted to predefined roles) by default and need a
	// revoke only from whom they were granted to.
	Public bool
	// Extension, when set, is the extension holding the functions, in the
	// schema it was installed in; the group applies only where it is
	// installed. Otherwise the functions are pg_catalog's.
	Extension string
	// Functions are the signatures (name and argument types, as
	// pg_get_function_identity_arguments prints them), unqualified. Those
	// a server lacks (another version, an extension not installed) are
	// skipped.
	Functions []string
}

// FunctionGroups are the functions pgmcp's role should not be able to
// execute, by risk. The signatures are PostgreSQL 14 and later's.
var FunctionGroups = []FunctionGroup{
	{
		Key: "set_config", Title: "set_config", Risk: "high", Public: true,
		Does: "switch to any role the login role is a member of (another caller's, past their row-level security) and change settings for the rest of the session",
		Functions: []string{
			"set_config(text, text, boolean)",
		},
	},
	{
		Key: "sql_text", Title: "functions that run SQL text", Risk: "high", Public: true,
		Does: "run a string as SQL the guard never saw (or read a cursor by name)",
		Functions: []string{
			"query_to_xml(text, boolean, boolean, text)",
			"query_to_xmlschema(text, boolean, boolean, text)",
			"query_to_xml_and_xmlschema(text, boolean, boolean, text)",
			"cursor_to_xml(refcursor, integer, boolean, boolean, text)",
			"cursor_to_xmlschema(refcursor, boolean, boolean, text)",
			"ts_stat(text)",
			"ts_stat(text, text)",
			"ts_rewrite(tsquery, text)",
		},
	},
	{
		Key: "whole_tables", Title: "functions that dump whole tables", Risk: "high", Public: true,
		Does: "dump whole tables, schemas or the database as XML, columns the policy blocks included (only grants stop them)",
		Functions: []string{
			"table_to_xml(regclass, boolean, boolean, text)",
			"table_to_xmlschema(regclass, boolean, boolean, text)",
			"table_to_xml_and_xmlschema(regclass, boolean, boolean, text)",
			"schema_to_xml(name, boolean, boolean, text)",
			"schema_to_xmlschema(name, boolean, boolean, text)",
			"schema_to_xml_and_xmlschema(name, boolean, boolean, text)",
			"database_to_xml(boolean, boolean, text)",
			"database_to_xmlschema(boolean, boolean, text)",
			"database_to_xml_and_xmlschema(boolean, boolean, text)",
		},
	},
	{
		Key: "dblink", Title: "dblink", Risk: "high", Public: true, Extension: "dblink",
		Does: "connect to any server that accepts a password: send data out, or write through a session that is not read-only",
		Functions: []string{
			"dblink_connect(text)",
			"dblink_connect(text, text)",
			"dblink(text)",
			"dblink(text, boolean)",
			"dblink(text, text)",
			"dblink(text, text, boolean)",
			"dblink_exec(text)",
			"dblink_exec(text, boolean)",
			"dblink_exec(text, text)",
			"dblink_exec(text, text, boolean)",
			"dblink_open(text, text)",
			"dblink_open(text, text, boolean)",
			"dblink_open(text, text, text)",
			"dblink_open(text, text, text, boolean)",
			"dblink_send_query(text, text)",
			"dblink_build_sql_insert(text, int2vector, integer, text[], text[])",
			"dblink_build_sql_update(text, int2vector, integer, text[], text[])",
		},
	},
	{
		Key: "other_sessions", Title: "functions that reach other sessions", Risk: "medium", Public: true,
		Does: "end or cancel other sessions of the same role (pgmcp's other connections: other callers' queries), notify listeners",
		Functions: []string{
			"pg_terminate_backend(integer, bigint)",
			"pg_cancel_backend(integer)",
			"pg_notify(text, text)",
		},
	},
	{
		Key: "session_state", Title: "advisory lock functions and setseed", Risk: "medium", Public: true,
		Does: "fill the cluster's shared lock table with advisory locks while a call runs, and set the random() seed",
		Functions: []string{
			"pg_advisory_lock(bigint)",
			"pg_advisory_lock(integer, integer)",
			"pg_advisory_lock_shared(bigint)",
			"pg_advisory_lock_shared(integer, integer)",
			"pg_advisory_xact_lock(bigint)",
			"pg_advisory_xact_lock(integer, integer)",
			"pg_advisory_xact_lock_shared(bigint)",
			"pg_advisory_xact_lock_shared(integer, integer)",
			"pg_try_advisory_lock(bigint)",
			"pg_try_advisory_lock(integer, integer)",
			"pg_try_advisory_lock_shared(bigint)",
			"pg_try_advisory_lock_shared(integer, integer)",
			"pg_try_advisory_xact_lock(bigint)",
			"pg_try_advisory_xact_lock(integer, integer)",
			"pg_try_advisory_xact_lock_shared(bigint)",
			"pg_try_advisory_xact_lock_shared(integer, integer)",
			"setseed(double precision)",
		},
	},
	{
		Key: "large_objects", Title: "functions that create large objects", Risk: "low", Public: true,
		Does: "create large objects, even in a read-only transaction",
		Functions: []string{
			"lo_creat(integer)",
			"lo_create(oid)",
			"lo_from_bytea(oid, bytea)",
		},
	},
	{
		Key: "sleep", Title: "pg_sleep", Risk: "low", Public: true,
		Does: "hold a connection and an execution slot idle until the statement timeout",
		Functions: []string{
			"pg_sleep(double precision)",
			"pg_sleep_for(interval)",
			"pg_sleep_until(timestamp with time zone)",
		},
	},
	{
		Key: "server", Title: "server file and administration functions", Risk: "high", Public: false,
		Does: "read the server's files and directories, reload or rotate its configuration and logs, reset statistics, control WAL and backups",
		Functions: []string{
			"pg_read_file(text)",
			"pg_read_file(text, bigint, bigint)",
			"pg_read_file(text, bigint, bigint, boolean)",
			"pg_read_binary_file(text)",
			"pg_read_binary_file(text, bigint, bigint)",
			"pg_read_binary_file(text, bigint, bigint, boolean)",
			"pg_ls_dir(text)",
			"pg_ls_dir(text, boolean, boolean)",
			"pg_stat_file(text)",
			"pg_stat_file(text, boolean)",
			"lo_import(text)",
			"lo_import(text, oid)",
			"lo_export(oid, text)",
			"pg_ls_logdir()",
			"pg_ls_waldir()",
			"pg_ls_tmpdir()",
			"pg_ls_tmpdir(oid)",
			"pg_ls_archive_statusdir()",
			"pg_current_logfile()",
			"pg_current_logfile(text)",
			"pg_reload_conf()",
			"pg_rotate_logfile()",
			"pg_log_backend_memory_contexts(integer)",
			"pg_stat_reset()",
			"pg_stat_reset_shared(text)",
			"pg_stat_reset_single_table_counters(oid)",
			"pg_stat_reset_single_function_counters(oid)",
			"pg_stat_reset_slru(text)",
			"pg_switch_wal()",
			"pg_create_restore_point(text)",
			"pg_backup_start(text, boolean)",
			"pg_backup_stop(boolean)",
			"pg_promote(boolean, integer)",
			"pg_wal_replay_pause()",
			"pg_wal_replay_resume()",
			// adminpack, which installs into pg_catalog
			"pg_file_write(text, text, boolean)",
			"pg_file_rename(text, text, text)",
			"pg_file_unlink(text)",
			"pg_file_sync(text)",
		},
	},
}

// TempFileLimitExample is the temp_file_limit HardeningSQL and doctor
// suggest. It is an example: the most temporary file space one query of
// pgmcp's may take.
const TempFileLimitExample = "1GB"

// RevokeSQL is the statement that takes EXECUTE on function (a qualified
// signature) from grantee (an SQL identifier, or PUBLIC).
func RevokeSQL(function, grantee string) string {
	return "REVOKE EXECUTE ON FUNCTION " + function + " FROM " + grantee + ";"
}

// TempFileLimitSQL sets temp_file_limit for the login role role (an SQL
// identifier, quoted as needed). Only a superuser may run it.
func TempFileLimitSQL(role string) string {
	return fmt.Sprintf("ALTER ROLE %s SET temp_file_limit = '%s';", role, TempFileLimitExample)
}

// HardeningSQL is the SQL docs/ROLES.md gives to harden pgmcp's login role
// role (an SQL identifier, quoted as needed): revoke from PUBLIC, in the
// current database, every pg_catalog function of a Public group, and bound
// the role's temporary files. The dblink group is not in it (the extension
// may be absent): see DblinkHardeningSQL.
func HardeningSQL(role string) string {
	var b strings.Builder
	for _, g := range FunctionGroups {
		if !g.Public || g.Extension != "" {
			continue
		}
		fmt.Fprintf(&b, "-- %s (%s risk)\n", g.Title, g.Risk)
		for _, f := range g.Functions {
			b.WriteString(RevokeSQL("pg_catalog."+f, "PUBLIC") + "\n")
		}
	}
	fmt.Fprintf(&b, "-- temporary files of one query (needs a superuser; %s is an example)\n", TempFileLimitExample)
	b.WriteString(TempFileLimitSQL(role) + "\n")
	return b.String()
}

// DblinkHardeningSQL revokes from PUBLIC the dblink functions that open
// connections or run SQL, for dblink installed in schema (an SQL
// identifier).
func DblinkHardeningSQL(schema string) string {
	var b strings.Builder
	for _, g := range FunctionGroups {
		if g.Extension != "dblink" {
			continue
		}
		fmt.Fprintf(&b, "-- %s, installed in schema %s (%s risk)\n", g.Title, schema, g.Risk)
		for _, f := range g.Functions {
			b.WriteString(RevokeSQL(schema+"."+f, "PUBLIC") + "\n")
		}
	}
	return b.String()
}

// FunctionGrant is one function of a group that a checked role may
// execute.
type FunctionGrant struct {
	// Function is the qualified signature, as RevokeSQL takes it.
	Function string
	// Name is the function's bare name.
	Name string
	// Role is the checked role that may execute it.
	Role string
	// Superuser is true when Role is a superuser, which may execute
	// anything whatever the grants.
	Superuser bool
	// Public is true when the role may execute it because PUBLIC may.
	Public bool
	// Grantees are the roles other than PUBLIC holding EXECUTE through
	// which Role may execute it: Role itself (a direct grant) or a role
	// whose privileges it inherits. SQL identifiers, quoted as needed.
	Grantees []string
}

// FunctionCheck is what CheckFunctions found for one group.
type FunctionCheck struct {
	Group FunctionGroup
	// Present counts the group's functions that exist in the database.
	Present int
	// Grants are the executable functions, in the group's order, each
	// role after another.
	Grants []FunctionGrant
}

// Explicit reports whether a role may execute one of the group's
// functions through a grant other than PUBLIC's default (or because it is
// a superuser).
func (c FunctionCheck) Explicit() bool {
	for _, g := range c.Grants {
		if len(g.Grantees) > 0 || g.Superuser {
			return true
		}
	}
	return false
}

// Revokes returns the statements that take the group's functions from
// every checked role: from PUBLIC, and from each other grantee, with a
// comment saying which checked roles hold the function through it.
func (c FunctionCheck) Revokes() []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range c.Grants {
		if s := RevokeSQL(g.Function, "PUBLIC"); g.Public && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	type key struct{ function, grantee string }
	var keys []key
	holders := map[key][]string{}
	for _, g := range c.Grants {
		for _, grantee := range g.Grantees {
			k := key{g.Function, grantee}
			if _, ok := holders[k]; !ok {
				keys = append(keys, k)
			}
			holders[k] = append(holders[k], g.Role)
		}
	}
	for _, k := range keys {
		var direct bool
		var through []string
		for _, h := range holders[k] {
			if h == k.grantee {
				direct = true
			} else {
				through = append(through, h)
			}
		}
		var notes []string
		if direct {
			notes = append(notes, "granted to "+k.grantee+" directly")
		}
		if len(through) > 0 {
			notes = append(notes, strings.Join(through, ", ")+" "+map[bool]string{true: "holds", false: "hold"}[len(through) == 1]+" it through "+k.grantee)
		}
		out = append(out, RevokeSQL(k.function, k.grantee)+"  -- "+strings.Join(notes, "; "))
	}
	return out
}

// FunctionReport is what CheckFunctions found.
type FunctionReport struct {
	// Roles are the roles checked that exist, quoted as SQL identifiers.
	Roles []string
	// Missing are roles asked about that do not exist.
	Missing []string
	// Groups are the groups with at least one function in the database,
	// in FunctionGroups' order.
	Groups []FunctionCheck
}

// CheckFunctions reads which functions of FunctionGroups each of roles
// may EXECUTE in the current database, and through which grants. The
// current role's name may be among roles; roles that do not exist are
// reported as Missing. It runs catalog queries only.
func CheckFunctions(ctx context.Context, db catalogReader, roles []string) (FunctionReport, error) {
	var rep FunctionReport
	// The schemas of the extensions the groups need.
	var exts []string
	for _, g := range FunctionGroups {
		if g.Extension != "" && !slices.Contains(exts, g.Extension) {
			exts = append(exts, g.Extension)
		}
	}
	type extSchema struct{ name, quoted string }
	extSchemas := map[string]extSchema{}
	rows, err := db.Query(ctx, `
		SELECT e.extname, n.nspname, pg_catalog.quote_ident(n.nspname)
		FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = ANY($1)`, exts)
	if err != nil {
		return rep, fmt.Errorf("list extensions: %w", err)
	}
	for rows.Next() {
		var ext string
		var s extSchema
		if err := rows.Scan(&ext, &s.name, &s.quoted); err != nil {
			rows.Close()
			return rep, fmt.Errorf("list extensions: %w", err)
		}
		extSchemas[ext] = s
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("list extensions: %w", err)
	}

	// The functions to look for, matched on schema, name and argument
	// types in pg_proc (to_regprocedure would need USAGE on the schema,
	// which the login role may lack while a caller role has it).
	var groupIdx []int32
	var sigs, schemas, names, args []string
	for i, g := range FunctionGroups {
		schema := extSchema{"pg_catalog", "pg_catalog"}
		if g.Extension != "" {
			s, ok := extSchemas[g.Extension]
			if !ok {
				continue
			}
			schema = s
		}
		for _, f := range g.Functions {
			name, rest, _ := strings.Cut(f, "(")
			groupIdx = append(groupIdx, int32(i))
			sigs = append(sigs, schema.quoted+"."+f)
			schemas = append(schemas, schema.name)
			names = append(names, name)
			args = append(args, strings.TrimSuffix(rest, ")"))
		}
	}

	rows, err = db.Query(ctx, `
		SELECT r.rolname::text, pg_catalog.quote_ident(r.rolname)
		FROM pg_catalog.pg_roles r WHERE r.rolname = ANY($1)`, roles)
	if err != nil {
		return rep, fmt.Errorf("list roles: %w", err)
	}
	quoted := map[string]string{}
	for rows.Next() {
		var name, q string
		if err := rows.Scan(&name, &q); err != nil {
			rows.Close()
			return rep, fmt.Errorf("list roles: %w", err)
		}
		quoted[name] = q
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("list roles: %w", err)
	}
	var existing []string
	for _, r := range roles {
		if q, ok := quoted[r]; ok {
			if !slices.Contains(rep.Roles, q) {
				rep.Roles = append(rep.Roles, q)
				existing = append(existing, r)
			}
		} else if !slices.Contains(rep.Missing, r) {
			rep.Missing = append(rep.Missing, r)
		}
	}

	// One row per function that exists, and per (function, role) it is
	// executable by: the PUBLIC path and the other grantees the role has
	// the privileges of. A NULL proacl is the default: the owner and PUBLIC.
	rows, err = db.Query(ctx, `
		WITH f AS (
		  SELECT t.ord, t.grp, t.sig, p.oid
		  FROM unnest($1::int4[], $2::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS t(grp, sig, nsp, name, args, ord)
		  JOIN pg_catalog.pg_namespace n ON n.nspname = t.nsp
		  JOIN pg_catalog.pg_proc p ON p.pronamespace = n.oid AND p.proname = t.name
		                           AND pg_catalog.oidvectortypes(p.proargtypes) = t.args),
		r AS (
		  SELECT rr.oid, rr.rolname, rr.rolsuper, pg_catalog.quote_ident(rr.rolname) AS quoted, u.ord
		  FROM unnest($3::text[]) WITH ORDINALITY AS u(name, ord)
		  JOIN pg_catalog.pg_roles rr ON rr.rolname = u.name)
		SELECT f.grp, f.sig, p.proname::text, r.quoted, coalesce(r.rolsuper, false),
		       coalesce(bool_or(a.grantee = 0), false),
		       coalesce(array_agg(pg_catalog.quote_ident(g.rolname) ORDER BY g.rolname) FILTER (WHERE g.rolname IS NOT NULL), '{}')
		FROM f
		JOIN pg_catalog.pg_proc p ON p.oid = f.oid
		LEFT JOIN r ON pg_catalog.has_function_privilege(r.oid, p.oid, 'EXECUTE')
		LEFT JOIN LATERAL pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
		  ON r.oid IS NOT NULL AND a.privilege_type = 'EXECUTE'
		     AND (a.grantee = 0 OR pg_catalog.pg_has_role(r.oid, a.grantee, 'USAGE'))
		LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee AND a.grantee <> 0
		GROUP BY f.ord, f.grp, f.sig, p.proname, r.ord, r.quoted, r.rolsuper
		ORDER BY f.grp, r.ord NULLS FIRST, f.ord`, groupIdx, sigs, existing, schemas, names, args)
	if err != nil {
		return rep, fmt.Errorf("check function privileges: %w", err)
	}
	checks := map[int32]*FunctionCheck{}
	present := map[int32]map[string]bool{}
	for rows.Next() {
		var grp int32
		var sig, name string
		var role *string
		var super, public bool
		var grantees []string
		if err := rows.Scan(&grp, &sig, &name, &role, &super, &public, &grantees); err != nil {
			rows.Close()
			return rep, fmt.Errorf("check function privileges: %w", err)
		}
		c := checks[grp]
		if c == nil {
			c = &FunctionCheck{Group: FunctionGroups[grp]}
			checks[grp] = c
			present[grp] = map[string]bool{}
		}
		if !present[grp][sig] {
			present[grp][sig] = true
			c.Present++
		}
		if role == nil {
			continue // exists, executable by none of the roles
		}
		c.Grants = append(c.Grants, FunctionGrant{Function: sig, Name: name, Role: *role, Superuser: super, Public: public, Grantees: grantees})
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("check function privileges: %w", err)
	}
	for i := range FunctionGroups {
		if c := checks[int32(i)]; c != nil {
			rep.Groups = append(rep.Groups, *c)
		}
	}
	return rep, nil
}

// CallerRoles returns the roles role (the login role) is a member of,
// which it may therefore SET ROLE to: the roles a JWT's role claim could
// name. The login role itself is not among them.
func CallerRoles(ctx context.Context, db catalogReader, role string) ([]string, error) {
	rows, err := db.Query(ctx, `
		SELECT r.rolname::text FROM pg_catalog.pg_roles r, pg_catalog.pg_roles l
		WHERE l.rolname = $1 AND r.oid <> l.oid AND pg_catalog.pg_has_role(l.oid, r.oid, 'MEMBER')
		ORDER BY 1`, role)
	if err != nil {
		return nil, fmt.Errorf("list member roles: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list member roles: %w", err)
	}
	return out, nil
}

// TempFileLimit returns the session's temp_file_limit as PostgreSQL shows
// it ("-1" when unlimited). It is a superuser setting: pgmcp cannot set it,
// and SET ROLE does not change it, so the login role's value bounds every
// caller's query.
func TempFileLimit(ctx context.Context, db catalogReader) (string, error) {
	var v string
	if err := db.QueryRow(ctx, "SELECT pg_catalog.current_setting('temp_file_limit')").Scan(&v); err != nil {
		return "", fmt.Errorf("read temp_file_limit: %w", err)
	}
	return v, nil
}
