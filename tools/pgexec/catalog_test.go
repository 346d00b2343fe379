package pgexec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// catalogSetup is the schema TestLoadCatalog reads: a table with composite,
// array-of-composite and domain-typed columns and a dropped one, a view, a
// materialized view, a partitioned table with its partitions (one of them
// partitioned again), inheritance children with a parent in another schema,
// a row-typed column, a composite type, a quoted name, and a schema the
// reader has no USAGE on, holding a partition and a child of listed tables.
const catalogSetup = `
CREATE SCHEMA cat;
CREATE SCHEMA other;
CREATE SCHEMA hidden;
CREATE SCHEMA "Empty";
GRANT USAGE ON SCHEMA cat, other, "Empty" TO pgmcp_reader;
CREATE TABLE hidden.secret (x int);
CREATE TYPE cat.addr AS (street text, zip int);
CREATE TYPE cat.nothing AS ();
CREATE TYPE hidden.htype AS (h int);
CREATE DOMAIN cat.addr_d AS cat.addr;
CREATE DOMAIN cat.addr_dd AS cat.addr_d;
CREATE DOMAIN cat.posint AS int CHECK (VALUE > 0);
CREATE TABLE cat.plain (id int, a cat.addr, aa cat.addr[], gone int, d cat.addr_dd, dd cat.addr_d[], n numeric(10,2), p cat.posint, tags text[]);
ALTER TABLE cat.plain DROP COLUMN gone;
ALTER TABLE cat.plain ADD COLUMN late int;
CREATE TYPE cat.nested AS (home cat.addr, homes cat.addr[], k int);
CREATE VIEW cat.v AS SELECT id, a FROM cat.plain;
CREATE MATERIALIZED VIEW cat.mv AS SELECT id FROM cat.plain;
CREATE TABLE cat.meas (id int, at date, v int) PARTITION BY RANGE (at);
CREATE TABLE cat.meas_2024 PARTITION OF cat.meas FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE cat.meas_2025 PARTITION OF cat.meas FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY RANGE (id);
CREATE TABLE cat.meas_2025_low PARTITION OF cat.meas_2025 FOR VALUES FROM (0) TO (100);
CREATE TABLE other.base (id int, note text);
CREATE TABLE cat.child (extra text) INHERITS (other.base);
CREATE TABLE cat.multi (more int) INHERITS (other.base, cat.child);
CREATE TABLE cat.holder (row_of cat.plain, rows_of cat.plain[], base_row other.base);
CREATE TABLE cat."Odd.Name" ("Col" int, "two words" text);
CREATE TABLE hidden.kid () INHERITS (cat.child);
CREATE TABLE hidden.meas_2026 PARTITION OF cat.meas FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE hidden.orphan () INHERITS (other.base);
`

func TestLoadCatalog(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	db.Exec(t, catalogSetup)
	pool, err := NewPool(t.Context(), db.ReaderURL, Options{SearchPath: []string{"public"}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	cat, err := LoadCatalog(t.Context(), pool, []string{"cat", "hidden", "nope", "Empty", "cat"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cat.Schemas, ","); got != "cat,Empty" {
		t.Errorf("Schemas = %s, want cat,Empty (hidden has no USAGE, nope does not exist)", got)
	}

	sys := "ctid xmin cmin xmax cmax tableoid"
	want := map[string]string{ // "schema.name" -> kind | columns | system columns | parents
		"cat.plain":         "r | id:integer a:cat.addr aa:cat.addr[] d:cat.addr dd:cat.addr[] n:numeric(10,2) p:cat.posint tags:text[] late:integer | " + sys + " | ",
		"cat.v":             "v | id:integer a:cat.addr |  | ",
		"cat.mv":            "m | id:integer | " + sys + " | ",
		"cat.meas":          "p | id:integer at:date v:integer | " + sys + " | ",
		"cat.meas_2024":     "r | id:integer at:date v:integer | " + sys + " | cat.meas",
		"cat.meas_2025":     "p | id:integer at:date v:integer | " + sys + " | cat.meas",
		"cat.meas_2025_low": "r | id:integer at:date v:integer | " + sys + " | cat.meas_2025",
		"cat.child":         "r | id:integer note:text extra:text | " + sys + " | other.base",
		"cat.multi":         "r | id:integer note:text extra:text more:integer | " + sys + " | other.base cat.child",
		"cat.holder":        "r | row_of:cat.plain rows_of:cat.plain[] base_row:other.base | " + sys + " | ",
		"cat.Odd.Name":      "r | Col:integer two words:text | " + sys + " | ",
		// Descendants in a schema without USAGE: listed, for the guard to
		// know that reading their parent reads them.
		"hidden.kid":       "r | id:integer note:text extra:text | " + sys + " | cat.child",
		"hidden.meas_2026": "r | id:integer at:date v:integer | " + sys + " | cat.meas",
	}
	got := map[string]string{}
	for _, r := range cat.Relations {
		got[r.Schema+"."+r.Name] = fmt.Sprintf("%s | %s | %s | %s", r.Kind, columnsString(r.Columns), strings.Join(r.SystemColumns, " "), strings.Join(r.Parents, " "))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s:\n got %q\nwant %q", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected relation %s: %s", k, got[k])
		}
	}

	wantTypes := map[string]string{
		"cat.addr":    "street:text zip:integer",
		"cat.nothing": "",
		"cat.nested":  "home:cat.addr homes:cat.addr[] k:integer",
	}
	gotTypes := map[string]string{}
	for _, ty := range cat.Types {
		gotTypes[ty.Schema+"."+ty.Name] = columnsString(ty.Fields)
	}
	if fmt.Sprint(gotTypes) != fmt.Sprint(wantTypes) {
		t.Errorf("Types = %v\nwant %v", gotTypes, wantTypes)
	}

	// The guard resolves against the snapshot: field selection on a
	// composite column, and a parent whose descendants live in a schema it
	// does not allow is readable only with ONLY.
	pol := &sqlguard.Policy{Database: db.Name, SearchPath: []string{"cat"}, AllowedSchemas: []string{"cat"}, Catalog: cat}
	for _, sql := range []string{"SELECT id, (a).zip FROM plain", "SELECT (d).street, (v.a).zip FROM cat.plain JOIN v USING (id)",
		"SELECT v FROM ONLY meas", "SELECT v FROM meas_2024", "SELECT extra FROM ONLY child", "SELECT note FROM cat.multi"} {
		if _, err := sqlguard.Check(sql, pol); err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
	for _, sql := range []string{"SELECT v FROM meas", "SELECT extra FROM child"} {
		var ge *sqlguard.Error
		if _, err := sqlguard.Check(sql, pol); !errors.As(err, &ge) || ge.Code != sqlguard.CodeBlockedDescendant {
			t.Errorf("%s: %v, want %s", sql, err, sqlguard.CodeBlockedDescendant)
		}
	}
}

func columnsString(cols []sqlguard.Column) string {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = c.Name + ":" + c.Type
	}
	return strings.Join(s, " ")
}

// TestLoadCatalogQueriers reads the catalog through a connection and a
// transaction as well as a pool, and through none with no schema at all.
func TestLoadCatalogQueriers(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	conn, err := pgx.Connect(t.Context(), db.ReaderURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	c1, err := LoadCatalog(t.Context(), conn, []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c1.Schemas) != 1 || len(c1.Relations) == 0 {
		t.Fatalf("public of the demo: %+v", c1)
	}
	tx, err := conn.BeginTx(t.Context(), pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	c2, err := LoadCatalog(t.Context(), tx, []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.Relations) != len(c1.Relations) {
		t.Errorf("in a transaction: %d relations, else %d", len(c2.Relations), len(c1.Relations))
	}
	if c, err := LoadCatalog(t.Context(), nil, nil); err != nil || len(c.Schemas)+len(c.Relations)+len(c.Types) != 0 {
		t.Errorf("no schema: %+v, %v", c, err)
	}
}

// TestLoadCatalogErrors: a cancelled context and a closed connection are
// typed errors.
func TestLoadCatalogErrors(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	pool, err := NewPool(t.Context(), db.ReaderURL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = LoadCatalog(ctx, pool, []string{"public"})
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeCancelled {
		t.Errorf("cancelled: %v, want %s", err, CodeCancelled)
	}
	pool.Close()
	_, err = LoadCatalog(t.Context(), pool, []string{"public"})
	if !errors.As(err, &pe) || (pe.Code != CodeUnreachable && pe.Code != CodeCatalogUnreadable) {
		t.Errorf("closed pool: %v, want a typed error", err)
	}
}
