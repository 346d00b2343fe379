package pgexec

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Relation is a table, view, materialized view, partitioned table, partition
// or foreign table, by canonical "schema.name".
type Relation struct {
	Name string
	// Root is the top partitioned table of a partition, else Name.
	Root string
}

// ListRelations returns every readable kind of relation in the schemas.
func ListRelations(ctx context.Context, pool *pgxpool.Pool, schemas []string) ([]Relation, error) {
	rows, err := pool.Query(ctx, `
		SELECT n.nspname || '.' || c.relname,
		       coalesce((SELECT rn.nspname || '.' || rc.relname
		                 FROM pg_class rc JOIN pg_namespace rn ON rn.oid = rc.relnamespace
		                 WHERE rc.oid = pg_partition_root(c.oid)), n.nspname || '.' || c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
		ORDER BY 1`, schemas)
	if err != nil {
		return nil, fmt.Errorf("list relations: %w", err)
	}
	rels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Relation, error) {
		var rel Relation
		err := r.Scan(&rel.Name, &rel.Root)
		return rel, err
	})
	if err != nil {
		return nil, fmt.Errorf("list relations: %w", err)
	}
	return rels, nil
}

// ShadowingFunctions returns the functions named like one of names that
// live in a schema of the search path other than pg_catalog, as
// "schema.name(argument types)". PostgreSQL resolves an unqualified call
// among every visible function by argument types, so such a function can be
// picked over the builtin even though pg_catalog is searched first
// (CVE-2018-1058). The "$user" entry of a search path means the role's own
// schema.
func ShadowingFunctions(ctx context.Context, pool *pgxpool.Pool, names, searchPath []string) ([]string, error) {
	rows, err := pool.Query(ctx, `
		SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE p.proname = ANY($1)
		  AND n.nspname <> 'pg_catalog'
		  AND (n.nspname = ANY($2) OR (n.nspname = current_user AND '$user' = ANY($2)))
		ORDER BY 1`, names, searchPath)
	if err != nil {
		return nil, fmt.Errorf("check function shadowing: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("check function shadowing: %w", err)
	}
	return out, nil
}

// ShadowingOperators is ShadowingFunctions for operators: those named like
// one of ops in a schema of the search path other than pg_catalog, as
// "schema.op(left type, right type)". An operator is resolved by argument
// types among every visible one, so such an operator (and the function
// behind it) can be picked over the builtin.
func ShadowingOperators(ctx context.Context, pool *pgxpool.Pool, ops, searchPath []string) ([]string, error) {
	rows, err := pool.Query(ctx, `
		SELECT n.nspname || '.' || o.oprname || '(' ||
		       CASE WHEN o.oprleft = 0 THEN 'NONE' ELSE format_type(o.oprleft, NULL) END || ', ' ||
		       CASE WHEN o.oprright = 0 THEN 'NONE' ELSE format_type(o.oprright, NULL) END || ')'
		FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
		WHERE o.oprname = ANY($1)
		  AND n.nspname <> 'pg_catalog'
		  AND (n.nspname = ANY($2) OR (n.nspname = current_user AND '$user' = ANY($2)))
		ORDER BY 1`, ops, searchPath)
	if err != nil {
		return nil, fmt.Errorf("check operator shadowing: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("check operator shadowing: %w", err)
	}
	return out, nil
}

// Shadowing lists the functions and operators of the search path that
// could be called instead of a builtin the guard allows.
func Shadowing(ctx context.Context, pool *pgxpool.Pool, funcs, ops, searchPath []string) ([]string, error) {
	f, err := ShadowingFunctions(ctx, pool, funcs, searchPath)
	if err != nil {
		return nil, err
	}
	o, err := ShadowingOperators(ctx, pool, ops, searchPath)
	if err != nil {
		return nil, err
	}
	return append(f, o...), nil
}
