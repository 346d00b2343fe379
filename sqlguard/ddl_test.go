package sqlguard

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// describeRelation is a relation in one line: "schema.name kind (col type,
// …) <- parent …".
func describeRelation(r Relation) string {
	var b strings.Builder
	b.WriteString(r.Schema + "." + r.Name + " " + string(r.Kind) + " (")
	for i, c := range r.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Name)
		if c.Type != "" {
			b.WriteString(" " + c.Type)
		}
	}
	b.WriteString(")")
	if len(r.Parents) > 0 {
		b.WriteString(" <- " + strings.Join(r.Parents, " "))
	}
	return b.String()
}

// describeType is a composite type in one line: "schema.name (field type, …)".
func describeType(t CompositeType) string {
	return describeRelation(Relation{Schema: t.Schema, Name: t.Name, Kind: "c", Columns: t.Fields})
}

// catalogLines describes every relation and composite type of c, in order
// (view and materialized view columns without their types: those are
// viewColumns' business, tested in TestCatalogFromDDLViews).
func catalogLines(c *Catalog) []string {
	var out []string
	for _, r := range c.Relations {
		if r.Kind == KindView || r.Kind == KindMatView {
			r.Columns = slices.Clone(r.Columns)
			for i := range r.Columns {
				r.Columns[i].Type = ""
			}
		}
		out = append(out, describeRelation(r))
	}
	for _, t := range c.Types {
		out = append(out, describeType(t))
	}
	return out
}

// findRelation returns the relation "schema.name" of c, or nil.
func findRelation(c *Catalog, key string) *Relation {
	for i := range c.Relations {
		if r := &c.Relations[i]; r.Schema+"."+r.Name == key {
			return r
		}
	}
	return nil
}

// ddlFeatureCases hold, for each construct, what PostgreSQL 15 holds after
// the same DDL (checked with pg_attribute and pg_inherits).
var ddlFeatureCases = []struct {
	name string
	ddl  string
	path []string
	want []string // relations (and types, after them) in creation order
}{
	{"column types", `CREATE TABLE t (a int, b integer, c bigint, d text, e varchar(3), f character(2),
			g numeric(10,2), h timestamptz, i timestamp with time zone, j boolean, k text[], l int[][], m jsonb, n serial, o double precision)`,
		nil, []string{"public.t r (a int4, b int4, c int8, d text, e varchar, f bpchar, g numeric, h timestamptz, " +
			"i timestamptz, j bool, k text[], l int4[], m jsonb, n int4, o float8)"}},
	{"schema-qualified and quoted names", `CREATE SCHEMA "Sales"; CREATE TABLE "Sales"."Big Orders" ("Id" int, "total $" numeric, Plain int)`,
		nil, []string{`Sales.Big Orders r (Id int4, total $ numeric, plain int4)`}},
	{"INHERITS: parents' columns first, merged by name", `CREATE TABLE p1 (a int, b text); CREATE TABLE p2 (b text, c int);
			CREATE TABLE ch (d int, a int, e text) INHERITS (p1, p2)`,
		nil, []string{"public.p1 r (a int4, b text)", "public.p2 r (b text, c int4)",
			"public.ch r (a int4, b text, c int4, d int4, e text) <- public.p1 public.p2"}},
	{"PARTITION OF, nested, with column options", `CREATE TABLE m (id int, region text, v numeric) PARTITION BY LIST (region);
			CREATE TABLE m_eu PARTITION OF m (id WITH OPTIONS NOT NULL) FOR VALUES IN ('eu') PARTITION BY RANGE (id);
			CREATE TABLE m_eu_1 PARTITION OF m_eu FOR VALUES FROM (0) TO (10);
			CREATE TABLE m_def PARTITION OF m DEFAULT`,
		nil, []string{"public.m p (id int4, region text, v numeric)", "public.m_eu p (id int4, region text, v numeric) <- public.m",
			"public.m_eu_1 r (id int4, region text, v numeric) <- public.m_eu", "public.m_def r (id int4, region text, v numeric) <- public.m"}},
	{"LIKE copies columns in place", `CREATE TABLE src (a int, b text); CREATE TABLE dst (x int, LIKE src INCLUDING ALL, y text)`,
		nil, []string{"public.src r (a int4, b text)", "public.dst r (x int4, a int4, b text, y text)"}},
	{"composite types and row types", `CREATE TYPE addr AS (street text, city text);
			CREATE TABLE person (id int, home addr, past addr[], other public.addr);
			CREATE TABLE team (lead person, members person[])`,
		nil, []string{"public.person r (id int4, home public.addr, past public.addr[], other public.addr)",
			"public.team r (lead public.person, members public.person[])", "public.addr c (street text, city text)"}},
	{"nested composite type", `CREATE TYPE inner_t AS (x int); CREATE TYPE outer_t AS (i inner_t, n text)`,
		nil, []string{"public.inner_t c (x int4)", "public.outer_t c (i public.inner_t, n text)"}},
	{"builtin type names are pg_catalog's", `CREATE TABLE date (x int); CREATE TABLE name (y int);
			CREATE TABLE ev (d date, n name, q public.date)`,
		nil, []string{"public.date r (x int4)", "public.name r (y int4)", "public.ev r (d date, n name, q public.date)"}},
	// PostgreSQL refuses the first table (type "later_t" does not exist);
	// an unknown type is kept by name, as it may come from an extension.
	{"a type defined later is not known yet", `CREATE TABLE early (a later_t); CREATE TYPE later_t AS (x int)`,
		nil, []string{"public.early r (a later_t)", "public.later_t c (x int4)"}},
	{"domains and enums", `CREATE TYPE addr AS (street text); CREATE DOMAIN posint AS int CHECK (VALUE > 0);
			CREATE DOMAIN home AS addr; CREATE TYPE mood AS ENUM ('ok', 'sad');
			CREATE TABLE t (p posint, h home, hs home[], m mood)`,
		nil, []string{"public.t r (p posint, h public.addr, hs public.addr[], m mood)", "public.addr c (street text)"}},
	{"typed table", `CREATE TYPE addr AS (street text, zip text); CREATE TABLE th OF addr (street WITH OPTIONS NOT NULL)`,
		nil, []string{"public.th r (street text, zip text)", "public.addr c (street text, zip text)"}},
	{"foreign table", `CREATE SERVER s FOREIGN DATA WRAPPER w; CREATE FOREIGN TABLE ft (a int, b text) SERVER s OPTIONS (x 'y')`,
		nil, []string{"public.ft f (a int4, b text)"}},
	{"views with a column list", `CREATE TABLE users (id int, email text);
			CREATE VIEW v (x, y) AS SELECT id, email FROM users;
			CREATE MATERIALIZED VIEW mv (a) AS SELECT id FROM users WITH NO DATA`,
		nil, []string{"public.users r (id int4, email text)", "public.v v (x, y)", "public.mv m (a)"}},
	{"search_path set by SET and set_config", `CREATE SCHEMA sales;
			SET search_path = sales, public; CREATE TABLE a (x int);
			SET search_path TO nosuch, "$user", public; CREATE TABLE b (x int);
			SELECT pg_catalog.set_config('search_path', 'sales', false); CREATE TABLE c (x int);
			SELECT pg_catalog.set_config('search_path', '', false); CREATE TABLE public.d (x int);
			RESET search_path; CREATE TABLE e (x int);
			SET search_path = sales, public; CREATE TABLE f () INHERITS (e); CREATE TABLE a2 (LIKE a)`,
		nil, []string{"sales.a r (x int4)", "public.b r (x int4)", "sales.c r (x int4)", "public.d r (x int4)",
			"public.e r (x int4)", "sales.f r (x int4) <- public.e", "sales.a2 r (x int4)"}},
	{"relations and types are looked up in their own namespaces", `CREATE SCHEMA a; CREATE TABLE public.p (x int);
		CREATE DOMAIN a.p AS int; SET search_path = a, public; CREATE TABLE c () INHERITS (p); CREATE TABLE d (v p, w public.p)`,
		nil, []string{"public.p r (x int4)", "a.c r (x int4) <- public.p", "a.d r (v p, w public.p)"}},
	{"the caller's search path", `CREATE SCHEMA app; CREATE TABLE t (a int); CREATE TABLE public.u (b int)`,
		[]string{"app", "public"}, []string{"app.t r (a int4)", "public.u r (b int4)"}},
	{"CREATE SCHEMA with elements", `CREATE TABLE public.staff (x int); CREATE TABLE public.other (y int);
		CREATE SCHEMA hr CREATE TABLE staff (id int, name text) CREATE TABLE boss (LIKE staff, LIKE other)`,
		nil, []string{"public.staff r (x int4)", "public.other r (y int4)", "hr.staff r (id int4, name text)",
			"hr.boss r (id int4, name text, y int4)"}},
	{"ADD COLUMN reaches children and partitions", `CREATE TABLE p (a int); CREATE TABLE c () INHERITS (p);
			CREATE TABLE q (a int) PARTITION BY LIST (a); CREATE TABLE q1 PARTITION OF q FOR VALUES IN (1);
			ALTER TABLE p ADD COLUMN b text; ALTER TABLE q ADD COLUMN IF NOT EXISTS b text, ADD c2 int;
			ALTER TABLE ONLY p ADD COLUMN z int; ALTER TABLE c ADD COLUMN own int`,
		nil, []string{"public.p r (a int4, b text)", "public.c r (a int4, b text, own int4) <- public.p",
			"public.q p (a int4, b text, c2 int4)", "public.q1 r (a int4, b text, c2 int4) <- public.q"}},
	{"DROP COLUMN drops inherited-only copies", `CREATE TABLE p (a int, b text, c int); CREATE TABLE ch (b text) INHERITS (p);
			ALTER TABLE p DROP COLUMN a, DROP COLUMN b; ALTER TABLE ONLY p DROP COLUMN c; ALTER TABLE p DROP COLUMN IF EXISTS nope`,
		nil, []string{"public.p r ()", "public.ch r (b text, c int4) <- public.p"}},
	{"ALTER COLUMN TYPE", `CREATE TYPE addr AS (s text); CREATE TABLE p (a int); CREATE TABLE c () INHERITS (p);
			ALTER TABLE p ALTER COLUMN a TYPE addr USING NULL`,
		nil, []string{"public.p r (a public.addr)", "public.c r (a public.addr) <- public.p", "public.addr c (s text)"}},
	{"ATTACH and DETACH PARTITION", `CREATE TABLE pay (id int, d date) PARTITION BY RANGE (d);
			CREATE TABLE pay1 (id int, d date); CREATE TABLE pay2 (id int, d date);
			ALTER TABLE ONLY pay ATTACH PARTITION pay1 FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
			ALTER TABLE pay ATTACH PARTITION public.pay2 FOR VALUES FROM ('2022-02-01') TO ('2022-03-01');
			ALTER TABLE pay DETACH PARTITION pay2`,
		nil, []string{"public.pay p (id int4, d date)", "public.pay1 r (id int4, d date) <- public.pay", "public.pay2 r (id int4, d date)"}},
	{"INHERIT and NO INHERIT", `CREATE TABLE a (x int); CREATE TABLE a2 (x int); CREATE TABLE b (x int, y int);
			ALTER TABLE b INHERIT a; ALTER TABLE b INHERIT a2; ALTER TABLE b NO INHERIT a`,
		nil, []string{"public.a r (x int4)", "public.a2 r (x int4)", "public.b r (x int4, y int4) <- public.a2"}},
	{"renames and SET SCHEMA", `CREATE SCHEMA s; CREATE TYPE addr AS (street text);
			CREATE TABLE p (a int, h addr); CREATE TABLE c () INHERITS (p);
			ALTER TABLE p RENAME COLUMN a TO a2; ALTER TABLE p RENAME TO parent; ALTER TABLE parent SET SCHEMA s;
			ALTER TYPE addr RENAME TO address; ALTER TYPE address RENAME ATTRIBUTE street TO line1;
			ALTER TABLE c RENAME TO child`,
		nil, []string{"s.parent r (a2 int4, h public.address)", "public.child r (a2 int4, h public.address) <- s.parent",
			"public.address c (line1 text)"}},
	{"ALTER TYPE ADD and DROP ATTRIBUTE", `CREATE TYPE addr AS (a text, b text); ALTER TYPE addr ADD ATTRIBUTE c int, DROP ATTRIBUTE a`,
		nil, []string{"public.addr c (b text, c int4)"}},
	{"DROP", `CREATE TYPE addr AS (s text); CREATE TABLE t (a int, h addr); CREATE TABLE gone (x int);
			CREATE TABLE p (x int); CREATE TABLE c () INHERITS (p);
			CREATE TABLE q (x int) PARTITION BY LIST (x); CREATE TABLE q1 PARTITION OF q FOR VALUES IN (1);
			DROP TABLE gone; DROP TABLE IF EXISTS nope; DROP TYPE addr; DROP TABLE p; DROP TABLE q`,
		nil, []string{"public.t r (a int4, h public.addr)", "public.p r (x int4)", "public.c r (x int4) <- public.p",
			"public.addr c (s text)"}},
	{"DROP … CASCADE", `CREATE TYPE addr AS (s text); CREATE TABLE t (a int, h addr);
			CREATE TABLE p (x int); CREATE TABLE c () INHERITS (p); CREATE TABLE other (y int);
			DROP TYPE addr CASCADE; DROP TABLE p CASCADE`,
		nil, []string{"public.t r (a int4)", "public.other r (y int4)"}},
	{"names taken, IF NOT EXISTS, temporary tables", `CREATE TABLE t (a int); CREATE TABLE IF NOT EXISTS t (b int);
			CREATE TABLE t (c int); CREATE TEMP TABLE tmp (a int); CREATE TABLE pg_temp.tmp2 (a int);
			CREATE SEQUENCE s; CREATE TABLE s (x int); CREATE OR REPLACE VIEW v (x) AS SELECT 1; CREATE OR REPLACE VIEW v (x, y) AS SELECT 1, 2`,
		nil, []string{"public.t r (a int4)", "public.v v (x, y)"}},
	// PostgreSQL runs the DO block (and creates not_run); CatalogFromDDL
	// runs nothing.
	{"other statements are ignored", `CREATE TABLE t (a int);
			INSERT INTO t VALUES (1); CREATE INDEX ON t (a); GRANT SELECT ON t TO PUBLIC; COMMENT ON TABLE t IS 'x';
			CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ CREATE TABLE fake (a int); SELECT 1 $$;
			CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;
			DO $$ BEGIN CREATE TABLE not_run (a int); END $$; ALTER TABLE t OWNER TO someone; ANALYZE; SELECT 1;
			SELECT set_config('search_path', 'elsewhere', true); CREATE TABLE after (b int)`,
		nil, []string{"public.t r (a int4)", "public.after r (b int4)"}},
	{"COPY data and psql meta-commands", "CREATE TABLE t (a int, b text);\n" +
		"COPY public.t (a, b) FROM stdin;\n1\tit's; DROP TABLE t;\n2\t\"quoted\n\\.\n" +
		"\\connect other\n\\set ON_ERROR_STOP on\n" +
		"copy t from STDIN with (format csv);\n3,'x\n\\.\n" +
		"COPY t TO stdout; CREATE TABLE after (c int);\n",
		nil, []string{"public.t r (a int4, b text)", "public.after r (c int4)"}},
}

func TestCatalogFromDDLFeatures(t *testing.T) {
	for _, tc := range ddlFeatureCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := CatalogFromDDL(tc.ddl, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := catalogLines(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
			for _, r := range c.Relations {
				want := SystemColumnNames
				if r.Kind == KindView {
					want = nil
				}
				if !slices.Equal(r.SystemColumns, want) {
					t.Errorf("%s: system columns %q", r.Name, r.SystemColumns)
				}
			}
		})
	}
}

func TestCatalogFromDDLSchemas(t *testing.T) {
	for _, tc := range []struct {
		ddl  string
		path []string
		want []string
	}{
		{"CREATE TABLE t (a int)", nil, []string{"public"}},
		{"CREATE SCHEMA s; CREATE TABLE s.t (a int)", nil, []string{"s", "public"}},
		{"CREATE SCHEMA AUTHORIZATION bob; CREATE SCHEMA IF NOT EXISTS s2", []string{"app", "public"}, []string{"bob", "s2", "app", "public"}},
		{"CREATE SCHEMA s; DROP SCHEMA s", nil, []string{"public"}},
		{"CREATE SCHEMA s; ALTER SCHEMA s RENAME TO s3; CREATE TABLE s3.t (a int)", nil, []string{"s3", "public"}},
		{"", []string{"$user", "public"}, []string{"public"}},
	} {
		c, err := CatalogFromDDL(tc.ddl, tc.path)
		if err != nil {
			t.Errorf("%q: %v", tc.ddl, err)
			continue
		}
		if !reflect.DeepEqual(c.Schemas, tc.want) {
			t.Errorf("%q, path %q: Schemas = %q, want %q", tc.ddl, tc.path, c.Schemas, tc.want)
		}
	}
}

// TestCatalogFromDDLViews: a view without a column list gets the columns
// viewColumns resolves; when it cannot, the view has no columns and the
// DDL is still read.
func TestCatalogFromDDLViews(t *testing.T) {
	c, err := CatalogFromDDL(`CREATE TYPE addr AS (street text);
		CREATE TABLE users (id int, email text, home addr);
		CREATE VIEW v AS SELECT id, email AS mail, home FROM users;
		CREATE VIEW partial (a) AS SELECT id, email FROM users;
		CREATE VIEW broken AS SELECT x FROM nowhere;
		CREATE MATERIALIZED VIEW mv AS SELECT id FROM users;
		CREATE TABLE tas AS SELECT id, email FROM users;
		SELECT id INTO sel_into FROM users;
		CREATE VIEW after AS SELECT * FROM v`, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		kind RelKind
		cols []string // when viewColumns resolves the query
	}{
		{"public.v", KindView, []string{"id", "mail", "home"}},
		{"public.partial", KindView, []string{"a", "email"}},
		{"public.broken", KindView, nil},
		{"public.mv", KindMatView, []string{"id"}},
		{"public.tas", KindTable, []string{"id", "email"}},
		{"public.sel_into", KindTable, []string{"id"}},
		{"public.after", KindView, []string{"id", "mail", "home"}},
	} {
		r := findRelation(c, tc.key)
		if r == nil {
			t.Errorf("%s missing", tc.key)
			continue
		}
		if r.Kind != tc.kind {
			t.Errorf("%s: kind %s, want %s", tc.key, r.Kind, tc.kind)
		}
		var names []string
		for _, col := range r.Columns {
			names = append(names, col.Name)
		}
		switch {
		case tc.key == "public.partial" && len(names) == 1 && names[0] == "a":
			// viewColumns did not resolve the query: the column list alone.
		case len(names) > 0 && !slices.Equal(names, tc.cols):
			t.Errorf("%s: columns %q, want %q (or none)", tc.key, names, tc.cols)
		}
		if tc.key == "public.v" && len(r.Columns) == 3 && r.Columns[2].Type != "public.addr" {
			t.Errorf("%s: home has type %q, want public.addr", tc.key, r.Columns[2].Type)
		}
	}
}

func TestCatalogFromDDLErrors(t *testing.T) {
	for _, tc := range []struct{ ddl, want string }{
		{"CREATE TABLE t (a int", "syntax error"},
		{"CREATE TABLE t (a int); CREATE TABL u (b int)", "syntax error"},
		{"CREATE TABLE c () INHERITS (nowhere)", `unknown table "nowhere" in INHERITS`},
		{"CREATE TABLE c PARTITION OF s.nowhere DEFAULT", `unknown table "s.nowhere" in PARTITION OF`},
		{"CREATE TABLE c (LIKE nowhere)", `unknown relation "nowhere" in LIKE`},
		{"CREATE TABLE c OF nowhere", `unknown composite type "nowhere" in OF`},
		{"CREATE TABLE p (a int) PARTITION BY LIST (a);\n\nALTER TABLE p ATTACH PARTITION nowhere DEFAULT", `line 3: unknown table "nowhere" in ATTACH PARTITION`},
		{"CREATE TABLE t (a int); ALTER TABLE t INHERIT nowhere", `unknown table "nowhere" in INHERIT`},
		{"ALTER TABLE nowhere ADD COLUMN a int", `unknown relation "nowhere" in ALTER`},
		{"SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE t (a int)", "line 2: no schema has been selected to create in"},
	} {
		_, err := CatalogFromDDL(tc.ddl, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.ddl, err, tc.want)
		}
	}
	// Statements on missing relations that PostgreSQL skips are no error.
	for _, ddl := range []string{"ALTER TABLE IF EXISTS nowhere ADD COLUMN a int", "ALTER TABLE nowhere OWNER TO x",
		"DROP TABLE IF EXISTS nowhere", "ALTER TABLE nowhere RENAME TO x", "COMMENT ON TABLE nowhere IS 'x'"} {
		if _, err := CatalogFromDDL(ddl, nil); err != nil {
			t.Errorf("%q: %v", ddl, err)
		}
	}
}

func TestCatalogFromDDLSplitIdentifierList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{"", []string{}, true},
		{"public", []string{"public"}, true},
		{` Sales ,"$user", "My ""Schema""",public `, []string{"sales", "$user", `My "Schema"`, "public"}, true},
		{"a,,b", nil, false},
		{`"open`, nil, false},
		{"a b", nil, false},
	} {
		got, ok := splitIdentifierList(tc.in)
		if ok != tc.ok || (ok && !slices.Equal(got, tc.want)) {
			t.Errorf("splitIdentifierList(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestCatalogFromDDLShopSchema reads the shared corpus schema.
func TestCatalogFromDDLShopSchema(t *testing.T) {
	c := shopCatalog(t, []string{"public"})
	if !slices.Equal(c.Schemas, []string{"sales", "public"}) {
		t.Errorf("Schemas = %q", c.Schemas)
	}
	want := map[string]int{
		"public.categories": 3, "public.products": 10, "sales.regions": 4, "public.customers": 11,
		"public.orders": 11, "public.order_items": 6, "public.payments": 7, "public.users": 6,
		"public.api_keys": 5, "sales.orders": 6, "public.user_directory": 6,
	}
	if len(c.Relations) != len(want) {
		t.Errorf("%d relations, want %d:\n%s", len(c.Relations), len(want), strings.Join(catalogLines(c), "\n"))
	}
	for key, n := range want {
		r := findRelation(c, key)
		switch {
		case r == nil:
			t.Errorf("%s missing", key)
		case key == "public.user_directory":
			if r.Kind != KindView || (len(r.Columns) != 0 && len(r.Columns) != n) {
				t.Errorf("%s", describeRelation(*r))
			}
		case r.Kind != KindTable || len(r.Columns) != n || !slices.Equal(r.SystemColumns, SystemColumnNames):
			t.Errorf("%s: want %d columns", describeRelation(*r), n)
		}
	}
	if r := findRelation(c, "public.users"); r != nil {
		if got := describeRelation(*r); got != "public.users r (id int4, email text, name text, created_at timestamptz, password_hash text, ssn text)" {
			t.Errorf("users: %s", got)
		}
	}
}

// TestCatalogFromDDLSpiderDumps reads every PostgreSQL port of the Spider
// dev databases and compares it with tables.json: the same tables (by
// count) and the same number of columns.
func TestCatalogFromDDLSpiderDumps(t *testing.T) {
	dir := pgtest.SharedPath(t, "data/spider/pg_dbs")
	files, _ := filepath.Glob(filepath.Join(dir, "*.sql"))
	if len(files) == 0 {
		t.Fatalf("no Spider databases (*.sql) in %s", dir)
	}
	b, err := os.ReadFile(pgtest.SharedPath(t, "data/spider/tables.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dbs []struct {
		DBID    string   `json:"db_id"`
		Tables  []string `json:"table_names_original"`
		Columns [][2]any `json:"column_names_original"`
	}
	if err := json.Unmarshal(b, &dbs); err != nil {
		t.Fatal(err)
	}
	type counts struct{ tables, columns int }
	want := map[string]counts{}
	for _, db := range dbs {
		var n counts
		skip := map[int]bool{}
		for i, name := range db.Tables {
			if name == "sqlite_sequence" { // SQLite's own table, not ported
				skip[i] = true
				continue
			}
			n.tables++
		}
		for _, col := range db.Columns {
			if ti, ok := col[0].(float64); ok && ti >= 0 && !skip[int(ti)] {
				n.columns++
			}
		}
		want[strings.ToLower(db.DBID)] = n
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ddl, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := CatalogFromDDL(string(ddl), []string{"public"})
			if err != nil {
				t.Fatal(err)
			}
			var got counts
			for _, r := range c.Relations {
				if r.Schema != "public" || r.Kind != KindTable || len(r.Columns) == 0 || len(r.Parents) != 0 {
					t.Errorf("unexpected relation %s", describeRelation(r))
				}
				got.tables++
				got.columns += len(r.Columns)
			}
			w, ok := want[strings.ToLower(strings.TrimSuffix(filepath.Base(f), ".sql"))]
			if !ok {
				t.Fatalf("no tables.json entry")
			}
			if got != w {
				t.Errorf("%d tables, %d columns; tables.json has %d, %d:\n%s", got.tables, got.columns, w.tables, w.columns,
					strings.Join(catalogLines(c), "\n"))
			}
		})
	}
}

// TestCatalogFromDDLPagila reads the Pagila dump: 15 tables (payment
// partitioned, with 7 partitions attached by ALTER TABLE), 7 views, a
// materialized view, domains, an enum, functions and a pg_dump preamble
// with an empty search_path.
func TestCatalogFromDDLPagila(t *testing.T) {
	ddl, err := os.ReadFile(pgtest.SharedPath(t, "data/pagila/pagila-schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := CatalogFromDDL(string(ddl), []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[RelKind]int{}
	for _, r := range c.Relations {
		kinds[r.Kind]++
		if r.Schema != "public" {
			t.Errorf("relation %s outside public", describeRelation(r))
		}
		if r.Kind != KindView && len(r.Columns) == 0 {
			t.Errorf("no columns: %s", describeRelation(r))
		}
	}
	if want := map[RelKind]int{KindTable: 21, KindPartitioned: 1, KindView: 7, KindMatView: 1}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("relation kinds %v, want %v", kinds, want)
	}
	payment := findRelation(c, "public.payment")
	if payment == nil || payment.Kind != KindPartitioned {
		t.Fatalf("payment: %+v", payment)
	}
	const cols = "(payment_id int4, customer_id int4, staff_id int4, rental_id int4, amount numeric, payment_date timestamptz)"
	if got := describeRelation(*payment); got != "public.payment p "+cols {
		t.Errorf("payment: %s", got)
	}
	for m := 1; m <= 7; m++ {
		key := "public.payment_p2022_0" + string(rune('0'+m))
		r := findRelation(c, key)
		if r == nil {
			t.Errorf("%s missing", key)
			continue
		}
		if got, want := describeRelation(*r), key+" r "+cols+" <- public.payment"; got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
	film := findRelation(c, "public.film")
	if film == nil {
		t.Fatal("film missing")
	}
	types := map[string]string{}
	for _, col := range film.Columns {
		types[col.Name] = col.Type
	}
	if types["rating"] != "mpaa_rating" || types["release_year"] != "year" || types["special_features"] != "text[]" ||
		types["fulltext"] != "tsvector" || len(film.Columns) != 14 {
		t.Errorf("film: %s", describeRelation(*film))
	}
	if !slices.Equal(c.Schemas, []string{"public"}) || len(c.Types) != 0 {
		t.Errorf("Schemas %q, Types %v", c.Schemas, c.Types)
	}
}

// TestDDLTestCatalog checks the test catalog against testPolicy: every
// relation it permits or blocks exists, and every blocked column is a
// column of its relation.
func TestDDLTestCatalog(t *testing.T) {
	c := testCatalog()
	for _, key := range append(append([]string(nil), testRelations...), testBlockedRelations...) {
		if findRelation(c, key) == nil {
			t.Errorf("%s is not in testCatalog", key)
		}
	}
	for key, cols := range testBlockedColumns {
		r := findRelation(c, key)
		if r == nil {
			t.Errorf("%s is not in testCatalog", key)
			continue
		}
		for _, col := range cols {
			if !slices.ContainsFunc(r.Columns, func(c Column) bool { return c.Name == col }) {
				t.Errorf("%s has no column %s", key, col)
			}
		}
	}
	for _, want := range []string{
		"public.shipments r (id int4, order_id int4, ship_to public.address, stops public.address[], carrier text)",
		"public.events_2024 p (id int4, kind text, payload text, created_at timestamptz) <- public.events",
		"public.events_2024_login r (id int4, kind text, payload text, created_at timestamptz) <- public.events_2024",
		"public.secret_docs r (id int4, title text, body text, clearance int4) <- public.docs",
		"public.private_notes r (id int4, author text, body text, reviewer text) <- public.notes",
	} {
		key, _, _ := strings.Cut(want, " ")
		if r := findRelation(c, key); r == nil || describeRelation(*r) != want {
			t.Errorf("got  %v\nwant %s", r, want)
		}
	}
	if len(c.Types) != 1 || describeType(c.Types[0]) != "public.address c (street text, city text, zip text)" {
		t.Errorf("types %v", c.Types)
	}
}
