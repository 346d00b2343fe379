package schema

import (
	"context"
)

// fingerprintSQL summarises, in one query, the catalog rows a Snapshot is
// built from: for each catalog, the row count and the sum of the rows'
// xmin (the transaction that wrote each row version). Any DDL — a table,
// column, constraint, index, default, partition or enum label added,
// dropped, renamed or altered, a comment set or removed, a grant — writes
// a new row version, so it changes a count or a sum; so does a function or
// operator created in one of the schemas (the guard's shadowing check reads
// them, and every query also checks them itself). Row estimates are
// updated in place by VACUUM and ANALYZE (no new xmin); they are summarised
// by their log2, so a reload follows when some table's estimate doubles or
// halves, not on every analyze. Common values (pg_statistic) are not
// summarised: they refresh with the next reload.
const fingerprintSQL = `
WITH ns AS (SELECT oid, xmin FROM pg_namespace WHERE nspname = ANY($1)),
rel AS (SELECT c.oid, c.xmin, c.reltuples, c.relkind FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns))
SELECT concat_ws('/',
  (SELECT count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) FROM ns),
  (SELECT count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) || ':' ||
          coalesce(sum(floor(ln(greatest(reltuples, 0)::float8 + 1) / ln(2.0))::bigint), 0) FROM rel),
  (SELECT count(*) || ':' || coalesce(sum(a.xmin::text::bigint), 0) FROM pg_attribute a
     WHERE a.attnum > 0 AND a.attrelid IN (SELECT oid FROM rel WHERE relkind IN ('r', 'v', 'm', 'p', 'f'))),
  (SELECT count(*) || ':' || coalesce(sum(co.xmin::text::bigint), 0) FROM pg_constraint co
     WHERE co.conrelid IN (SELECT oid FROM rel) OR co.confrelid IN (SELECT oid FROM rel)),
  (SELECT count(*) || ':' || coalesce(sum(i.xmin::text::bigint), 0) FROM pg_index i WHERE i.indrelid IN (SELECT oid FROM rel)),
  (SELECT count(*) || ':' || coalesce(sum(ad.xmin::text::bigint), 0) FROM pg_attrdef ad WHERE ad.adrelid IN (SELECT oid FROM rel)),
  (SELECT count(*) || ':' || coalesce(sum(d.xmin::text::bigint), 0) FROM pg_description d
     WHERE d.classoid = 'pg_class'::regclass AND d.objoid IN (SELECT oid FROM rel)),
  (SELECT count(*) || ':' || coalesce(sum(t.xmin::text::bigint), 0) FROM pg_type t WHERE t.typnamespace IN (SELECT oid FROM ns)),
  (SELECT count(*) || ':' || coalesce(sum(e.xmin::text::bigint), 0) FROM pg_enum e),
  (SELECT count(*) || ':' || coalesce(sum(h.xmin::text::bigint), 0) FROM pg_inherits h WHERE h.inhparent IN (SELECT oid FROM rel)),
  (SELECT count(*) || ':' || coalesce(sum(p.xmin::text::bigint), 0) FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM ns)),
  (SELECT count(*) || ':' || coalesce(sum(o.xmin::text::bigint), 0) FROM pg_operator o WHERE o.oprnamespace IN (SELECT oid FROM ns))
)`

// Fingerprint returns a short summary of the catalog state the filter's
// schemas are read from: it changes when anything a Snapshot shows may
// have changed (see fingerprintSQL). It is one cheap query, used by the
// Cache to skip reloads when nothing changed.
func Fingerprint(ctx context.Context, db Queryer, f Filter) (string, error) {
	fp, err := fingerprint(ctx, db, f.Schemas)
	if err != nil {
		return "", introspectionError(err)
	}
	return fp, nil
}

func fingerprint(ctx context.Context, db Queryer, schemas []string) (string, error) {
	rows, err := db.Query(ctx, fingerprintSQL, schemas)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var fp string
	for rows.Next() {
		if err := rows.Scan(&fp); err != nil {
			return "", err
		}
	}
	return fp, rows.Err()
}

func (in *introspection) readFingerprint(ctx context.Context, db Queryer) error {
	fp, err := fingerprint(ctx, db, in.p.schemas)
	in.fingerprint = fp
	return err
}
