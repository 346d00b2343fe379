package schema

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// The speed benchmarks read one generated catalog: 2,000 tables of 15
// columns, each with a primary key, a unique constraint, two foreign keys,
// two secondary indexes, a table comment and three column comments.
// PGMCP_BENCH_TABLES sets another number of tables (10000 and 30000 for
// the large-catalog figures of docs/BENCHMARKS.md).
const benchColumns = 15

var benchTables = benchTablesFromEnv()

func benchTablesFromEnv() int {
	if n, err := strconv.Atoi(os.Getenv("PGMCP_BENCH_TABLES")); err == nil && n > 0 {
		return n
	}
	return 2000
}

var (
	benchOnce sync.Once
	benchURL  string
	benchName string
	benchErr  error
	benchSrv  *pgtest.Server
)

// benchDDL generates the catalog, in batches of at most 500 tables (one
// transaction for tens of thousands of tables would outgrow the lock
// table).
func benchDDL() []string {
	rng := rand.New(rand.NewPCG(7, 7))
	batches := []string{"CREATE SCHEMA bench"}
	var b strings.Builder
	for i := range benchTables {
		if i > 0 && i%500 == 0 {
			batches = append(batches, b.String())
			b.Reset()
		}
		fmt.Fprintf(&b, `CREATE TABLE bench.t%05d (
  id bigint PRIMARY KEY,
  parent_id bigint%s,
  other_id bigint%s,
  name text NOT NULL,
  code varchar(20) NOT NULL UNIQUE,
  status text NOT NULL DEFAULT 'new',
  amount numeric(12,2),
  quantity integer,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz,
  is_active boolean NOT NULL DEFAULT true,
  note text,
  score double precision,
  external_ref uuid,
  payload jsonb
);
COMMENT ON TABLE bench.t%05d IS 'Generated table %d: records of kind %d.';
COMMENT ON COLUMN bench.t%05d.name IS 'Display name.';
COMMENT ON COLUMN bench.t%05d.status IS 'Lifecycle status: new, active or closed.';
COMMENT ON COLUMN bench.t%05d.amount IS 'Amount in USD.';
CREATE INDEX ON bench.t%05d (parent_id);
CREATE INDEX ON bench.t%05d (status, created_at);
`, i, ref(i, i-1), ref(i, rng.IntN(max(i, 1))), i, i, i%37, i, i, i, i, i)
	}
	return append(batches, b.String())
}

func ref(i, j int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprintf(" REFERENCES bench.t%05d (id)", j)
}

// benchDB creates the catalog once per test binary.
func benchDB(b *testing.B) string {
	b.Helper()
	benchOnce.Do(func() {
		benchSrv = pgtest.Shared(b)
		benchName = "pgmcp_bench_catalog_" + fmt.Sprint(time.Now().UnixNano())
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, benchSrv.URL("postgres"))
		if err != nil {
			benchErr = err
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+benchName); err != nil {
			benchErr = err
			return
		}
		benchURL = benchSrv.URL(benchName)
		conn, err := pgx.Connect(ctx, benchURL)
		if err != nil {
			benchErr = err
			return
		}
		defer conn.Close(ctx)
		start := time.Now()
		for _, ddl := range benchDDL() {
			if _, err := conn.Exec(ctx, ddl); err != nil {
				benchErr = err
				return
			}
		}
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
			benchErr = err
			return
		}
		fmt.Printf("benchmark catalog: %d tables × %d columns generated in %v\n", benchTables, benchColumns, time.Since(start).Round(time.Millisecond))
	})
	if benchErr != nil {
		b.Fatalf("benchmark catalog: %v", benchErr)
	}
	return benchURL
}

func dropBenchDB() {
	if benchName == "" || benchSrv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if admin, err := pgx.Connect(ctx, benchSrv.URL("postgres")); err == nil {
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+benchName+" WITH (FORCE)")
		admin.Close(ctx)
	}
}

func benchPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	p, err := pgxpool.New(context.Background(), benchDB(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	// Warm the connection (the benchmarks measure reading, not connecting).
	if err := p.Ping(context.Background()); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkIntrospect is a cold load: what a new Cache does on its first
// call (fingerprint, the set-based catalog queries, then rendering and the
// search index).
func BenchmarkIntrospect(b *testing.B) {
	p := benchPool(b)
	ctx := context.Background()
	var tables int
	b.ResetTimer()
	for b.Loop() {
		c := NewCache(p, Filter{Schemas: []string{"bench"}}, DefaultOptions(), nil)
		prep, err := c.Get(ctx)
		if err != nil {
			b.Fatal(err)
		}
		tables = len(prep.Snapshot().Tables)
	}
	if tables != benchTables {
		b.Fatalf("%d tables, want %d", tables, benchTables)
	}
	b.ReportMetric(float64(tables), "tables")
}

// BenchmarkInformationSchema reads the same facts the way the usual
// articles and many MCP servers do: list the tables from
// information_schema.tables, then per table its columns (with comments),
// its constraints (key_column_usage and constraint_column_usage for
// primary, unique and foreign keys), its indexes (pg_indexes) and its
// comment — one round trip per table and per kind of fact.
func BenchmarkInformationSchema(b *testing.B) {
	p := benchPool(b)
	ctx := context.Background()
	var tables, columns, constraints, indexes int
	b.ResetTimer()
	for b.Loop() {
		tables, columns, constraints, indexes = 0, 0, 0, 0
		rows, err := p.Query(ctx, `SELECT table_schema, table_name, table_type FROM information_schema.tables
			WHERE table_schema = ANY($1) ORDER BY table_schema, table_name`, []string{"bench"})
		if err != nil {
			b.Fatal(err)
		}
		type tbl struct{ schema, name, kind string }
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tbl, error) {
			var t tbl
			return t, r.Scan(&t.schema, &t.name, &t.kind)
		})
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range list {
			tables++
			columns += countRows(b, p, `
				SELECT column_name, data_type, is_nullable, column_default,
				       col_description(format('%I.%I', table_schema, table_name)::regclass, ordinal_position)
				FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2
				ORDER BY ordinal_position`, t.schema, t.name)
			constraints += countRows(b, p, `
				SELECT tc.constraint_name, tc.constraint_type, kcu.column_name,
				       ccu.table_schema, ccu.table_name, ccu.column_name
				FROM information_schema.table_constraints tc
				JOIN information_schema.key_column_usage kcu
				  ON kcu.constraint_schema = tc.constraint_schema AND kcu.constraint_name = tc.constraint_name
				 AND kcu.table_name = tc.table_name
				LEFT JOIN information_schema.constraint_column_usage ccu
				  ON tc.constraint_type = 'FOREIGN KEY'
				 AND ccu.constraint_schema = tc.constraint_schema AND ccu.constraint_name = tc.constraint_name
				WHERE tc.table_schema = $1 AND tc.table_name = $2
				  AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')
				ORDER BY tc.constraint_name, kcu.ordinal_position`, t.schema, t.name)
			indexes += countRows(b, p, `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2`, t.schema, t.name)
			countRows(b, p, `SELECT obj_description(format('%I.%I', $1::text, $2::text)::regclass, 'pg_class')`, t.schema, t.name)
		}
	}
	if tables != benchTables || columns != benchTables*benchColumns {
		b.Fatalf("%d tables, %d columns; want %d, %d", tables, columns, benchTables, benchTables*benchColumns)
	}
	b.ReportMetric(float64(tables), "tables")
}

func countRows(b *testing.B, p *pgxpool.Pool, sql string, args ...any) int {
	rows, err := p.Query(context.Background(), sql, args...)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return n
}
