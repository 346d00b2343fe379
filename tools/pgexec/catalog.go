package pgexec

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/sqlguard"
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

// CodeCatalogUnreadable means the catalog snapshot the guard resolves
// names against could not be read. Never rename it.
const CodeCatalogUnreadable Code = "catalog_unreadable"

// Querier is what LoadCatalog reads through: a *pgxpool.Pool, a *pgx.Conn
// or a pgx.Tx (a savepoint is then used).
type Querier interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// catalogSQL reads, in one statement (one snapshot), the schemas of $1 the
// current role has USAGE on; in them every relation of a readable kind and
// every standalone composite type (relkind c); and every relation, in any
// schema, that inherits from or is a partition of one of those relations,
// transitively (reading a parent without ONLY reads them, whatever the
// privileges on them). Each comes with its columns in attnum order, system
// columns and parents.
//
// A column's type is named "schema.name" when it is a composite type (a
// standalone one or a relation's row type), "schema.name[]" when it is an
// array of one, after looking through domains; any other type is named by
// format_type. Every name and operator is qualified with pg_catalog,
// whatever the session's search_path.
const catalogSQL = `
WITH RECURSIVE ns AS (
	SELECT n.oid, n.nspname::pg_catalog.text AS nspname
	FROM pg_catalog.pg_namespace n
	WHERE n.nspname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
	  AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
), rel(oid) AS (
	SELECT c.oid FROM pg_catalog.pg_class c JOIN ns ON c.relnamespace OPERATOR(pg_catalog.=) ns.oid
	WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,v,m,f,c}'::pg_catalog."char"[])
	UNION
	SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN rel ON i.inhparent OPERATOR(pg_catalog.=) rel.oid
)
SELECT ns.nspname, ''::pg_catalog.text, ''::pg_catalog.text,
       '{}'::pg_catalog.text[], '{}'::pg_catalog.text[], '{}'::pg_catalog.text[], '{}'::pg_catalog.text[]
FROM ns
UNION ALL
SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, c.relkind::pg_catalog.text,
       coalesce(cols.names, '{}'), coalesce(cols.types, '{}'),
       ARRAY(SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a
             WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.<) 0
             ORDER BY a.attnum DESC),
       ARRAY(SELECT pn.nspname::pg_catalog.text OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pc.relname::pg_catalog.text
             FROM pg_catalog.pg_inherits i
             JOIN pg_catalog.pg_class pc ON pc.oid OPERATOR(pg_catalog.=) i.inhparent
             JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) pc.relnamespace
             WHERE i.inhrelid OPERATOR(pg_catalog.=) c.oid
             ORDER BY i.inhseqno)
FROM rel
JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) rel.oid
JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
LEFT JOIN LATERAL (
	SELECT pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY a.attnum) AS names,
	       pg_catalog.array_agg(CASE
	           WHEN bt.typtype OPERATOR(pg_catalog.=) 'c'
	               THEN btn.nspname::pg_catalog.text OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) bt.typname::pg_catalog.text
	           WHEN et.typtype OPERATOR(pg_catalog.=) 'c'
	               THEN etn.nspname::pg_catalog.text OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) et.typname::pg_catalog.text OPERATOR(pg_catalog.||) '[]'
	           ELSE pg_catalog.format_type(a.atttypid, a.atttypmod)
	       END ORDER BY a.attnum) AS types
	FROM pg_catalog.pg_attribute a
	JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
	JOIN pg_catalog.pg_type bt ON bt.oid OPERATOR(pg_catalog.=) CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'd' THEN (
		WITH RECURSIVE d(oid, typtype, typbasetype) AS (
			SELECT t.oid, t.typtype, t.typbasetype
			UNION ALL
			SELECT dt.oid, dt.typtype, dt.typbasetype FROM pg_catalog.pg_type dt JOIN d ON dt.oid OPERATOR(pg_catalog.=) d.typbasetype
			WHERE d.typtype OPERATOR(pg_catalog.=) 'd')
		SELECT d.oid FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd') ELSE t.oid END
	JOIN pg_catalog.pg_namespace btn ON btn.oid OPERATOR(pg_catalog.=) bt.typnamespace
	LEFT JOIN pg_catalog.pg_type e0 ON bt.typcategory OPERATOR(pg_catalog.=) 'A' AND e0.oid OPERATOR(pg_catalog.=) bt.typelem
	LEFT JOIN pg_catalog.pg_type et ON et.oid OPERATOR(pg_catalog.=) CASE WHEN e0.typtype OPERATOR(pg_catalog.=) 'd' THEN (
		WITH RECURSIVE d(oid, typtype, typbasetype) AS (
			SELECT e0.oid, e0.typtype, e0.typbasetype
			UNION ALL
			SELECT dt.oid, dt.typtype, dt.typbasetype FROM pg_catalog.pg_type dt JOIN d ON dt.oid OPERATOR(pg_catalog.=) d.typbasetype
			WHERE d.typtype OPERATOR(pg_catalog.=) 'd')
		SELECT d.oid FROM d WHERE d.typtype OPERATOR(pg_catalog.<>) 'd') ELSE e0.oid END
	LEFT JOIN pg_catalog.pg_namespace etn ON etn.oid OPERATOR(pg_catalog.=) et.typnamespace
	WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
) cols ON true
ORDER BY 1, 2`

// LoadCatalog reads the catalog snapshot sqlguard resolves names against:
// of the schemas given, those the current role has USAGE on (they become
// Catalog.Schemas, in the order given), with every table, partitioned
// table, view, materialized view and foreign table in them (columns in
// order, dropped ones left out, each composite-typed column's type named;
// system columns; parents, also those in other schemas, by "schema.name"),
// and their standalone composite types. The partitions and inheritance
// children of those relations that live in other schemas are listed too
// (a read of the parent reads them), so that the guard can refuse reading
// a parent whose descendants it does not allow. It runs one catalog query,
// so the snapshot is consistent, in a transaction of its own with JIT
// compilation off (the planner's estimate of the query is high enough to
// trigger it, and compiling would take longer than running the query).
func LoadCatalog(ctx context.Context, q Querier, schemas []string) (*sqlguard.Catalog, error) {
	cat := &sqlguard.Catalog{}
	if len(schemas) == 0 {
		return cat, nil
	}
	tx, err := q.Begin(ctx)
	if err != nil {
		return nil, catalogError(ctx, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
		return nil, catalogError(ctx, err)
	}
	rows, err := tx.Query(ctx, catalogSQL, schemas)
	if err != nil {
		return nil, catalogError(ctx, err)
	}
	usable := map[string]bool{}
	var (
		schema, name, kind               string
		colNames, colTypes, sys, parents []string
	)
	_, err = pgx.ForEachRow(rows, []any{&schema, &name, &kind, &colNames, &colTypes, &sys, &parents}, func() error {
		if kind == "" {
			usable[schema] = true
			return nil
		}
		if len(colNames) != len(colTypes) {
			return fmt.Errorf("relation %s.%s: %d column names but %d types", schema, name, len(colNames), len(colTypes))
		}
		cols := make([]sqlguard.Column, len(colNames))
		for i := range colNames {
			cols[i] = sqlguard.Column{Name: colNames[i], Type: colTypes[i]}
		}
		if kind == string(relKindComposite) {
			cat.Types = append(cat.Types, sqlguard.CompositeType{Schema: schema, Name: name, Fields: cols})
			return nil
		}
		cat.Relations = append(cat.Relations, sqlguard.Relation{Schema: schema, Name: name, Kind: sqlguard.RelKind(kind),
			Columns: cols, SystemColumns: slices.Clone(sys), Parents: slices.Clone(parents)})
		return nil
	})
	if err != nil {
		return nil, catalogError(ctx, err)
	}
	for _, s := range schemas {
		if usable[s] && !slices.Contains(cat.Schemas, s) {
			cat.Schemas = append(cat.Schemas, s)
		}
	}
	return cat, nil
}

// relKindComposite is the relkind of a standalone composite type.
const relKindComposite sqlguard.RelKind = "c"

// catalogError maps a failure to read the catalog to an *Error: a lost
// connection, a timeout or a cancellation keep their codes, anything else
// is catalog_unreadable.
func catalogError(ctx context.Context, err error) error {
	e, ok := execError(ctx, err).(*Error)
	if !ok {
		return err
	}
	switch e.Code {
	case CodeUnreachable, CodeQueryTimeout, CodeCancelled:
		e.Message = "cannot read the catalog: " + e.Message
	default:
		msg := "cannot read the catalog"
		if e.PG != nil && e.PG.Message != "" {
			msg += ": " + e.PG.Message
		}
		e = &Error{Code: CodeCatalogUnreadable, Message: msg, Err: err}
	}
	return e
}
