package schema

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kinds of Table.
const (
	KindTable            = "table"
	KindView             = "view"
	KindMaterializedView = "materialized view"
	KindPartitionedTable = "partitioned table"
	KindForeignTable     = "foreign table"
)

// Snapshot is what a database holds, as far as the filter lets it be seen.
// It is plain data: it holds no connection and no pgx type, and nothing
// blocked. A Snapshot handed out by a [Cache] is shared: treat it as
// read-only.
type Snapshot struct {
	// Database is the database name (current_database()).
	Database string `json:"database"`
	// Tables are sorted by schema, then name.
	Tables []Table `json:"tables"`
	// LoadedAt is when the catalog was read.
	LoadedAt time.Time `json:"loaded_at"`
	// Fingerprint identifies the catalog state it was read from (see
	// [Fingerprint]); empty when not read from a database.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Table is a table, view, materialized view, partitioned table or foreign
// table. Partitions are folded into their parent: they are never a Table of
// their own; the parent's Rows is the sum over its partitions.
type Table struct {
	Schema  string `json:"schema"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Comment string `json:"comment"`
	// Rows is the planner's row estimate (pg_class.reltuples, summed over
	// partitions); -1 when unknown (never analyzed, or a view).
	Rows int64 `json:"rows"`
	// Partitions is the number of partitions folded into a partitioned
	// table, and PartitionKey its partition key, e.g. "RANGE (occurred_at)".
	Partitions   int    `json:"partitions"`
	PartitionKey string `json:"partition_key"`

	Columns     []Column     `json:"columns"`
	PrimaryKey  []string     `json:"primary_key"`
	Uniques     [][]string   `json:"uniques"`
	ForeignKeys []ForeignKey `json:"foreign_keys"`
	Indexes     []Index      `json:"indexes"`
}

// QualifiedName returns schema.name.
func (t *Table) QualifiedName() string { return t.Schema + "." + t.Name }

// Column returns the column named name, or nil.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// Column is a column of a Table.
type Column struct {
	Name string `json:"name"`
	// Type is format_type(atttypid, atttypmod), e.g. "numeric(10,2)",
	// "timestamp with time zone", "public.order_status" (schema-qualified
	// when not on the search path of the introspecting session).
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
	// Default is the default expression, if any.
	Default string `json:"default"`
	// Identity is "always" or "by default" for an identity column.
	Identity string `json:"identity"`
	// Generated is the expression of a stored generated column. It is
	// "(hidden)" when the expression mentions a blocked column.
	Generated string `json:"generated"`
	Comment   string `json:"comment"`
	// EnumValues are the labels of an enum type, in order.
	EnumValues []string `json:"enum_values"`
	// CommonValues are the most common values of a low-cardinality text
	// or enum column, from pg_stats (most common first).
	CommonValues []string `json:"common_values"`
}

// ForeignKey is a foreign key of a table; its target is always a table of
// the same Snapshot.
type ForeignKey struct {
	Columns    []string `json:"columns"`
	RefSchema  string   `json:"ref_schema"`
	RefTable   string   `json:"ref_table"`
	RefColumns []string `json:"ref_columns"`
}

// RefQualifiedName returns the target's schema.name.
func (fk *ForeignKey) RefQualifiedName() string { return fk.RefSchema + "." + fk.RefTable }

// Index is a secondary index (one that does not back the primary key or a
// unique constraint).
type Index struct {
	// Columns are column names or expressions, in index order.
	Columns []string `json:"columns"`
	Unique  bool     `json:"unique"`
	// Method is the access method, e.g. "btree", "gin".
	Method string `json:"method"`
	// Predicate is the WHERE clause of a partial index.
	Predicate string `json:"predicate"`
}

// Lookup returns the table named "schema.table", or "table" (the first
// match in schema order). Names are matched exactly first, then
// case-insensitively. A blocked table is not found, exactly like a missing
// one.
func (s *Snapshot) Lookup(name string) (*Table, error) {
	name = unquoteName(name)
	for _, exact := range []bool{true, false} {
		eq := strings.EqualFold
		if exact {
			eq = func(a, b string) bool { return a == b }
		}
		for _, qualified := range []bool{true, false} {
			for i := range s.Tables {
				t := &s.Tables[i]
				if qualified && eq(t.QualifiedName(), name) || !qualified && eq(t.Name, name) {
					return t, nil
				}
			}
		}
	}
	return nil, &Error{Code: CodeNotFound, Message: fmt.Sprintf("table %q not found", name)}
}

// normalize sorts what is unordered and makes every slice non-nil, so that
// JSON output never has null arrays and rendering is deterministic.
func (s *Snapshot) normalize() {
	if s.Tables == nil {
		s.Tables = []Table{}
	}
	sort.SliceStable(s.Tables, func(i, j int) bool {
		a, b := &s.Tables[i], &s.Tables[j]
		if a.Schema != b.Schema {
			return a.Schema < b.Schema
		}
		return a.Name < b.Name
	})
	for i := range s.Tables {
		t := &s.Tables[i]
		t.Columns = nonNil(t.Columns)
		t.PrimaryKey = nonNil(t.PrimaryKey)
		t.Uniques = nonNil(t.Uniques)
		t.ForeignKeys = nonNil(t.ForeignKeys)
		t.Indexes = nonNil(t.Indexes)
		for j := range t.Columns {
			c := &t.Columns[j]
			c.EnumValues = nonNil(c.EnumValues)
			c.CommonValues = nonNil(c.CommonValues)
		}
		for j := range t.ForeignKeys {
			t.ForeignKeys[j].Columns = nonNil(t.ForeignKeys[j].Columns)
			t.ForeignKeys[j].RefColumns = nonNil(t.ForeignKeys[j].RefColumns)
		}
		for j := range t.Indexes {
			t.Indexes[j].Columns = nonNil(t.Indexes[j].Columns)
		}
		sort.SliceStable(t.Uniques, func(a, b int) bool { return strings.Join(t.Uniques[a], ",") < strings.Join(t.Uniques[b], ",") })
		sort.SliceStable(t.ForeignKeys, func(a, b int) bool {
			ka := strings.Join(t.ForeignKeys[a].Columns, ",") + ">" + t.ForeignKeys[a].RefQualifiedName()
			kb := strings.Join(t.ForeignKeys[b].Columns, ",") + ">" + t.ForeignKeys[b].RefQualifiedName()
			return ka < kb
		})
		sort.SliceStable(t.Indexes, func(a, b int) bool {
			return strings.Join(t.Indexes[a].Columns, ",")+t.Indexes[a].Predicate < strings.Join(t.Indexes[b].Columns, ",")+t.Indexes[b].Predicate
		})
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Normalize sorts the tables and their keys and replaces nil slices by
// empty ones. Introspect returns normalized snapshots; call it on a
// Snapshot built by hand.
func (s *Snapshot) Normalize() { s.normalize() }
