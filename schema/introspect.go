package schema

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Queryer is what Introspect needs of a connection or pool (*pgxpool.Pool,
// *pgx.Conn and pgx.Tx all qualify). When it can also begin transactions,
// the catalog is read in one read-only REPEATABLE READ transaction, so that
// every query sees the same catalog state.
type Queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type txBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// IntrospectOptions tune what Introspect reads.
type IntrospectOptions struct {
	// CommonValues reads, from pg_stats, the most common values of
	// low-cardinality text and enum columns the filter allows. It reads
	// planner statistics only, never the tables.
	CommonValues bool
}

// Limits of the common values read from pg_stats.
const (
	// commonValuesMaxDistinct: a column qualifies when it has at most this
	// many distinct values (pg_stats.n_distinct, absolute or scaled by the
	// row estimate) ...
	commonValuesMaxDistinct = 20
	// commonValuesMaxFraction: ... and, when n_distinct is a fraction, at
	// most this share of its rows are distinct (so a unique column of a tiny
	// table never qualifies).
	commonValuesMaxFraction = 0.5
	// commonValuesShown values at most are kept per column, most common
	// first, and a value longer than commonValuesMaxLen is left out.
	commonValuesShown  = 10
	commonValuesMaxLen = 40
)

// Introspect reads what the filter lets be seen of the database, from
// pg_catalog, in a fixed number of set-based queries (relations, columns,
// constraints, indexes, enum labels and, optionally, common values) —
// never one query per table. Blocked tables and columns are dropped here,
// with everything that would name them (see the package documentation).
func Introspect(ctx context.Context, db Queryer, f Filter, opts IntrospectOptions) (*Snapshot, error) {
	if tb, ok := db.(txBeginner); ok {
		tx, err := tb.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return nil, introspectionError(err)
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		db = tx
	}
	in := &introspection{p: compile(f), opts: opts, rels: map[uint32]*rel{}}
	steps := []func(context.Context, Queryer) error{
		in.readFingerprint, in.readRelations, in.readColumns, in.readConstraints, in.readIndexes, in.readEnums,
	}
	if opts.CommonValues {
		steps = append(steps, in.readCommonValues)
	}
	for _, step := range steps {
		if err := step(ctx, db); err != nil {
			return nil, introspectionError(err)
		}
	}
	return in.snapshot(), nil
}

// rel is a relation as read, before filtering.
type rel struct {
	oid     uint32
	schema  string
	name    string
	hidden  bool // blocked or not allowed: read only to be redacted
	table   *Table
	attrs   map[int16]string // every column by attnum, blocked ones too
	blocked map[int16]bool   // blocked attnums
	cols    map[int16]int    // visible attnum → index in table.Columns
	enumOf  map[int]uint32   // column index → enum type oid
}

type introspection struct {
	p           *policy
	opts        IntrospectOptions
	database    string
	rels        map[uint32]*rel
	order       []*rel
	hidden      []string // hidden relation names (qualified), partitions of hidden parents included
	fingerprint string
	partitions  map[uint32]uint32 // leaf partition → root (filled by readRelations)
	leaves      map[uint32]int    // root → number of leaf partitions
}

func (in *introspection) readRelations(ctx context.Context, db Queryer) error {
	rows, err := db.Query(ctx, `
		SELECT current_database(), c.oid, n.nspname, c.relname, c.relkind::text, c.relispartition,
		       coalesce(rn.nspname || '.' || rc.relname, ''), coalesce(rc.oid, 0),
		       c.reltuples::float8, coalesce(d.description, ''),
		       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) ELSE '' END,
		       CASE WHEN c.relkind = 'p' THEN (
		         SELECT ARRAY[count(*), CASE WHEN bool_or(lc.reltuples >= 0) THEN sum(greatest(lc.reltuples, 0)) ELSE -1 END]::float8[]
		         FROM pg_partition_tree(c.oid) t JOIN pg_class lc ON lc.oid = t.relid
		         WHERE t.isleaf) END
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
		LEFT JOIN pg_class rc ON c.relispartition AND rc.oid = pg_partition_root(c.oid)
		LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
		WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')`, in.p.schemas)
	if err != nil {
		return err
	}
	defer rows.Close()
	type partition struct {
		name, root   string
		oid, rootOID uint32
		leaf         bool
	}
	var parts []partition
	hiddenRoots := map[string]bool{}
	for rows.Next() {
		var (
			oid, rootOID                            uint32
			schema, name, kind, root, comment, pkey string
			isPart                                  bool
			tuples                                  float64
			part                                    []float64 // leaf partitions, their rows (-1: unknown)
		)
		if err := rows.Scan(&in.database, &oid, &schema, &name, &kind, &isPart, &root, &rootOID, &tuples, &comment, &pkey, &part); err != nil {
			return err
		}
		if isPart {
			parts = append(parts, partition{schema + "." + name, root, oid, rootOID, kind != "p"})
			continue
		}
		r := &rel{oid: oid, schema: schema, name: name, attrs: map[int16]string{}, blocked: map[int16]bool{}, cols: map[int16]int{}, enumOf: map[int]uint32{}}
		in.rels[oid] = r
		if in.p.tableBlocked(schema, name) {
			r.hidden = true
			in.hidden = append(in.hidden, schema+"."+name)
			hiddenRoots[schema+"."+name] = true
			continue
		}
		t := &Table{Schema: schema, Name: name, Comment: comment, Rows: -1, PartitionKey: pkey}
		switch kind {
		case "r":
			t.Kind = KindTable
		case "v":
			t.Kind = KindView
		case "m":
			t.Kind = KindMaterializedView
		case "p":
			t.Kind = KindPartitionedTable
			tuples = -1
			if len(part) == 2 {
				t.Partitions, tuples = int(part[0]), part[1]
			}
		case "f":
			t.Kind = KindForeignTable
		}
		if kind != "v" && tuples >= 0 {
			t.Rows = int64(math.Round(tuples))
		}
		r.table = t
		in.order = append(in.order, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, pt := range parts {
		if hiddenRoots[pt.root] || in.p.blockedTables[strings.ToLower(pt.name)] {
			in.hidden = append(in.hidden, pt.name)
		}
	}
	in.partitions = map[uint32]uint32{}
	in.leaves = map[uint32]int{}
	for _, pt := range parts {
		if r := in.rels[pt.rootOID]; pt.leaf && r != nil && !r.hidden {
			in.partitions[pt.oid] = pt.rootOID
			in.leaves[pt.rootOID]++
		}
	}
	return nil
}

func (in *introspection) readColumns(ctx context.Context, db Queryer) error {
	rows, err := db.Query(ctx, `
		SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
		       coalesce(pg_get_expr(ad.adbin, ad.adrelid, true), ''), a.attidentity::text, a.attgenerated::text,
		       coalesce(d.description, ''), CASE WHEN t.typtype = 'e' THEN t.oid ELSE 0 END
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_type t ON t.oid = a.atttypid
		LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
		LEFT JOIN pg_description d ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
		WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition
		  AND a.attnum > 0 AND NOT a.attisdropped`, in.p.schemas)
	if err != nil {
		return err
	}
	defer rows.Close()
	// Rows come in no particular order (sorting 30,000 wide rows in the
	// server costs more than here): collected, then sorted by attnum.
	type col struct {
		attnum int16
		enum   uint32
		c      Column
	}
	cols := map[*rel][]col{}
	for rows.Next() {
		var (
			relid, enumOID                         uint32
			attnum                                 int16
			name, typ, def, identity, gen, comment string
			nullable                               bool
		)
		if err := rows.Scan(&relid, &attnum, &name, &typ, &nullable, &def, &identity, &gen, &comment, &enumOID); err != nil {
			return err
		}
		r := in.rels[relid]
		if r == nil || r.hidden {
			continue
		}
		r.attrs[attnum] = name
		if in.p.columnBlocked(r.schema, r.name, name) {
			r.blocked[attnum] = true
			continue
		}
		c := Column{Name: name, Type: typ, Nullable: nullable, Comment: comment}
		switch identity {
		case "a":
			c.Identity = "always"
		case "d":
			c.Identity = "by default"
		}
		if gen == "s" {
			c.Generated = def
		} else {
			c.Default = def
		}
		cols[r] = append(cols[r], col{attnum, enumOID, c})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for r, cs := range cols {
		sort.Slice(cs, func(i, j int) bool { return cs[i].attnum < cs[j].attnum })
		r.table.Columns = make([]Column, len(cs))
		for i, c := range cs {
			r.table.Columns[i] = c.c
			r.cols[c.attnum] = i
			if c.enum != 0 {
				r.enumOf[i] = c.enum
			}
		}
	}
	return nil
}

// visible reports whether every column is a visible column of r.
func (r *rel) visible(cols []string) bool {
	for _, c := range cols {
		if r.table.Column(c) == nil {
			return false
		}
	}
	return len(cols) > 0
}

// readConstraints reads primary keys, unique constraints and foreign keys
// of the visible relations (column names resolved in the query), and the
// foreign keys declared on leaf partitions only: one that most (more than
// half) of a table's leaf partitions declare alike is shown as a key of the
// table, for the join path it documents (Pagila declares its payment keys
// that way, on six of its seven partitions).
func (in *introspection) readConstraints(ctx context.Context, db Queryer) error {
	rows, err := db.Query(ctx, `
		SELECT co.conrelid, co.conname::text, co.contype::text, co.conkey, co.confrelid, co.confkey,
		       CASE WHEN c.relispartition THEN
		         ARRAY(SELECT a.attname FROM unnest(co.conkey) WITH ORDINALITY k(n, i)
		               JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.n ORDER BY k.i)::text[]
		       END
		FROM pg_constraint co
		JOIN pg_class c ON c.oid = co.conrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY($1) AND co.contype IN ('p', 'u', 'f') AND co.conparentid = 0
		  AND (NOT c.relispartition OR co.contype = 'f')`, in.p.schemas)
	if err != nil {
		return err
	}
	defer rows.Close()
	type partFK struct {
		root       uint32
		cols, refs string
		target     uint32
	}
	// Rows are sorted here, by table then name (name sorts bytewise, as
	// the C collation of PostgreSQL's name type): an ORDER BY in the
	// server sorts every constraint of a large catalog in work_mem, and
	// spills to disk beyond it.
	type conRow struct {
		relid, frelid  uint32
		name, kind     string
		keyNums, fNums []int16
		partKey        []string
	}
	var cons []conRow
	for rows.Next() {
		var c conRow
		if err := rows.Scan(&c.relid, &c.name, &c.kind, &c.keyNums, &c.frelid, &c.fNums, &c.partKey); err != nil {
			return err
		}
		cons = append(cons, c)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	slices.SortFunc(cons, func(a, b conRow) int {
		if a.relid != b.relid {
			return cmp.Compare(a.relid, b.relid)
		}
		return strings.Compare(a.name, b.name)
	})
	partFKs := map[partFK]int{}
	var partOrder []partFK
	for _, c := range cons {
		relid, frelid, kind, keyNums, fNums, partKey := c.relid, c.frelid, c.kind, c.keyNums, c.fNums, c.partKey
		fkey := in.attnames(frelid, fNums)
		if root, ok := in.partitions[relid]; ok {
			k := partFK{root, strings.Join(partKey, "\x00"), strings.Join(fkey, "\x00"), frelid}
			if partFKs[k] == 0 {
				partOrder = append(partOrder, k)
			}
			partFKs[k]++
			continue
		}
		r := in.rels[relid]
		if r == nil || r.hidden {
			continue
		}
		key := in.attnames(relid, keyNums)
		if !r.visible(key) {
			continue // over a blocked column: dropped
		}
		switch kind {
		case "p":
			r.table.PrimaryKey = key
		case "u":
			r.table.Uniques = append(r.table.Uniques, key)
		case "f":
			in.addFK(r, key, frelid, fkey)
		}
	}
	for _, k := range partOrder {
		if 2*partFKs[k] <= in.leaves[k.root] {
			continue
		}
		r := in.rels[k.root]
		cols := strings.Split(k.cols, "\x00")
		if r.visible(cols) {
			in.addFK(r, cols, k.target, strings.Split(k.refs, "\x00"))
		}
	}
	return nil
}

// attnames returns the column names of a relation's attnums; nil when the
// relation is not one read (a partition, another schema, hidden) or a
// column is unknown.
func (in *introspection) attnames(relid uint32, attnums []int16) []string {
	r := in.rels[relid]
	if r == nil || len(attnums) == 0 {
		return nil
	}
	out := make([]string, len(attnums))
	for i, a := range attnums {
		name, ok := r.attrs[a]
		if !ok {
			return nil
		}
		out[i] = name
	}
	return out
}

// addFK adds a foreign key to r unless its target is hidden or not in the
// snapshot, or one of its target columns is blocked, or r has it already.
func (in *introspection) addFK(r *rel, cols []string, target uint32, refCols []string) {
	t := in.rels[target]
	if t == nil || t.hidden || !t.visible(refCols) {
		return // target blocked, not allowed, or outside the schemas
	}
	fk := ForeignKey{Columns: cols, RefSchema: t.schema, RefTable: t.name, RefColumns: refCols}
	for _, have := range r.table.ForeignKeys {
		if slices.Equal(have.Columns, fk.Columns) && have.RefQualifiedName() == fk.RefQualifiedName() && slices.Equal(have.RefColumns, fk.RefColumns) {
			return
		}
	}
	r.table.ForeignKeys = append(r.table.ForeignKeys, fk)
}

func (in *introspection) readIndexes(ctx context.Context, db Queryer) error {
	rows, err := db.Query(ctx, `
		SELECT i.indrelid, i.indisunique, am.amname, i.indkey::int2[], i.indnkeyatts,
		       CASE WHEN i.indexprs IS NOT NULL THEN
		         ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k ORDER BY k)
		       END,
		       coalesce(pg_get_expr(i.indpred, i.indrelid, true), '')
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_am am ON am.oid = ic.relam
		WHERE n.nspname = ANY($1) AND NOT c.relispartition
		  AND NOT EXISTS (SELECT FROM pg_constraint co
		                  WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid AND co.contype IN ('p', 'u', 'x'))`, in.p.schemas)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			relid        uint32
			unique       bool
			method, pred string
			key          []int16
			nkey         int16
			exprs        []string // each key column's definition, when some are expressions
		)
		if err := rows.Scan(&relid, &unique, &method, &key, &nkey, &exprs, &pred); err != nil {
			return err
		}
		r := in.rels[relid]
		if r == nil || r.hidden || r.table == nil || int(nkey) > len(key) {
			continue
		}
		blocked := in.blockedColumnNames(r)
		if mentionsAny(pred, blocked) {
			continue
		}
		cols := make([]string, 0, nkey)
		for k, attnum := range key[:nkey] {
			switch {
			case attnum != 0 && r.blocked[attnum]:
				cols = nil
			case attnum != 0:
				cols = append(cols, r.attrs[attnum])
			case k < len(exprs) && !mentionsAny(exprs[k], blocked):
				cols = append(cols, exprs[k])
			default:
				cols = nil
			}
			if cols == nil {
				break
			}
		}
		if cols == nil {
			continue // over a blocked column
		}
		r.table.Indexes = append(r.table.Indexes, Index{Columns: cols, Unique: unique, Method: method, Predicate: pred})
	}
	return rows.Err()
}

// blockedColumnNames returns the names of r's blocked columns.
func (in *introspection) blockedColumnNames(r *rel) []string {
	if len(r.blocked) == 0 {
		return nil
	}
	out := make([]string, 0, len(r.blocked))
	for a := range r.blocked {
		out = append(out, r.attrs[a])
	}
	return out
}

func (in *introspection) readEnums(ctx context.Context, db Queryer) error {
	set := map[uint32]bool{}
	for _, r := range in.order {
		for _, oid := range r.enumOf {
			set[oid] = true
		}
	}
	if len(set) == 0 {
		return nil
	}
	oids := make([]uint32, 0, len(set))
	for oid := range set {
		oids = append(oids, oid)
	}
	rows, err := db.Query(ctx, `
		SELECT enumtypid, array_agg(enumlabel::text ORDER BY enumsortorder)
		FROM pg_enum WHERE enumtypid = ANY($1) GROUP BY enumtypid`, oids)
	if err != nil {
		return err
	}
	defer rows.Close()
	labels := map[uint32][]string{}
	for rows.Next() {
		var oid uint32
		var l []string
		if err := rows.Scan(&oid, &l); err != nil {
			return err
		}
		labels[oid] = l
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range in.order {
		for i, oid := range r.enumOf {
			r.table.Columns[i].EnumValues = labels[oid]
		}
	}
	return nil
}

// readCommonValues reads pg_stats for the low-cardinality text and enum
// columns of visible tables. Blocked tables and columns are excluded in the
// query itself: their statistics are never read.
func (in *introspection) readCommonValues(ctx context.Context, db Queryer) error {
	blockedTables, blockedCols := in.p.sqlBlocks()
	rows, err := db.Query(ctx, `
		SELECT c.oid, a.attnum, s.most_common_vals::text::text[]
		FROM pg_stats s
		JOIN pg_namespace n ON n.nspname = s.schemaname
		JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname
		JOIN pg_type t ON t.oid = a.atttypid
		WHERE s.schemaname = ANY($1)
		  AND c.relkind IN ('r', 'm', 'p', 'f') AND NOT c.relispartition
		  AND s.inherited = (c.relkind = 'p')
		  AND (t.typcategory = 'S' OR t.typtype = 'e')
		  AND s.most_common_vals IS NOT NULL
		  AND ((s.n_distinct > 0 AND s.n_distinct <= $2)
		    OR (s.n_distinct < 0 AND s.n_distinct >= -$3::float8 AND c.reltuples > 0 AND -s.n_distinct * c.reltuples <= $2))
		  AND lower(s.schemaname || '.' || s.tablename) <> ALL($4)
		  AND lower(s.tablename) <> ALL($4)
		  AND lower(s.schemaname || '.' || s.tablename || '.' || s.attname) <> ALL($5)
		  AND lower(s.tablename || '.' || s.attname) <> ALL($5)
		  AND ($6::text[] IS NULL OR s.schemaname || '.' || s.tablename = ANY($6))`,
		in.p.schemas, commonValuesMaxDistinct, commonValuesMaxFraction, blockedTables, blockedCols, in.p.relationList())
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var relid uint32
		var attnum int16
		var vals []string
		if err := rows.Scan(&relid, &attnum, &vals); err != nil {
			return err
		}
		r := in.rels[relid]
		if r == nil || r.hidden || r.blocked[attnum] {
			continue // cannot happen: the query excludes them
		}
		i, ok := r.cols[attnum]
		if !ok {
			continue
		}
		var kept []string
		for _, v := range vals {
			if len(kept) == commonValuesShown {
				break
			}
			if v == "" || len(v) > commonValuesMaxLen || strings.ContainsAny(v, "\n\r") {
				continue
			}
			kept = append(kept, v)
		}
		r.table.Columns[i].CommonValues = kept
	}
	return rows.Err()
}

// snapshot assembles the result: redaction of blocked names in free text,
// then normalization.
func (in *introspection) snapshot() *Snapshot {
	s := &Snapshot{Database: in.database, LoadedAt: time.Now(), Fingerprint: in.fingerprint, Tables: make([]Table, 0, len(in.order))}
	red := in.redactor()
	for _, r := range in.order {
		t := r.table
		blocked := in.blockedColumnNames(r)
		if mentionsAny(t.PartitionKey, blocked) {
			t.PartitionKey = "(hidden)"
		}
		for i := range t.Columns {
			c := &t.Columns[i]
			if c.Generated != "" && mentionsAny(c.Generated, blocked) {
				c.Generated = "(hidden)"
			}
		}
		red.table(blocked, t)
		s.Tables = append(s.Tables, *t)
	}
	s.normalize()
	return s
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
