package schema

import (
	"slices"
	"strconv"
	"strings"
)

// Rendered is text for a prompt with its token estimate.
type Rendered struct {
	Text   string
	Tokens int
}

// EstimateTokens estimates the tokens text costs a model: one token per 4
// bytes, rounded up. This is the usual rule of thumb for English and SQL
// identifiers with BPE tokenizers (cl100k/o200k average 3.5–4.5 bytes per
// token on schema text); it is an estimate, not a count, and budgets are
// approximate by the same margin.
func EstimateTokens(text string) int { return (len(text) + 3) / 4 }

// RenderCompact renders tables in the compact prompt format, one block per
// table, in the order given (a Snapshot's tables are sorted by schema and
// name), blocks separated by a blank line.
func RenderCompact(tables []Table) Rendered {
	var b strings.Builder
	for i := range tables {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(RenderTable(&tables[i]))
	}
	return Rendered{Text: b.String(), Tokens: EstimateTokens(b.String())}
}

// RenderSnapshot renders every table of s (see RenderCompact).
func RenderSnapshot(s *Snapshot) Rendered { return RenderCompact(s.Tables) }

// kindWord is the keyword a block starts with.
func kindWord(kind string) string {
	switch kind {
	case KindView:
		return "VIEW"
	case KindMaterializedView:
		return "MATERIALIZED VIEW"
	case KindPartitionedTable:
		return "PARTITIONED TABLE"
	case KindForeignTable:
		return "FOREIGN TABLE"
	}
	return "TABLE"
}

// RenderTable renders one table as a compact block:
//
//	TABLE public.orders (~40,000 rows) -- One row per shop order.
//	  id integer NOT NULL PK -- Order id.
//	  customer_id integer NOT NULL -> customers(id) -- Who ordered.
//	  status order_status NOT NULL -- Status. values: 'pending', 'paid'
//	  PRIMARY KEY (order_id, line_no)
//	  FOREIGN KEY (order_id, line_no) -> order_items(order_id, line_no)
//	  UNIQUE (email)
//	  INDEX (customer_id, ordered_at)
//
// A single-column primary key or foreign key is written on its column;
// multi-column ones on their own line. A foreign-key target is qualified
// when it is in another schema. Enum columns list their labels ("values:"),
// low-cardinality text columns their most common values ("common values:").
// A view's definition is never shown. Every line ends with a newline.
func RenderTable(t *Table) string {
	var b strings.Builder
	b.Grow(64 + 48*len(t.Columns))
	header(&b, t, "")
	if t.Comment != "" {
		b.WriteString(" -- ")
		b.WriteString(oneLine(t.Comment))
	}
	b.WriteByte('\n')
	singlePK := ""
	if len(t.PrimaryKey) == 1 {
		singlePK = t.PrimaryKey[0]
	}
	fkOf := map[string]*ForeignKey{}
	for i := range t.ForeignKeys {
		fk := &t.ForeignKeys[i]
		if len(fk.Columns) == 1 && fkOf[fk.Columns[0]] == nil {
			fkOf[fk.Columns[0]] = fk
		}
	}
	for i := range t.Columns {
		c := &t.Columns[i]
		b.WriteString("  ")
		b.WriteString(ident(c.Name))
		b.WriteByte(' ')
		b.WriteString(shortType(c.Type))
		if !c.Nullable {
			b.WriteString(" NOT NULL")
		}
		if c.Name == singlePK {
			b.WriteString(" PK")
		}
		switch {
		case c.Identity != "":
			b.WriteString(" IDENTITY")
			if c.Identity == "always" {
				b.WriteString(" ALWAYS")
			}
		case c.Generated != "":
			b.WriteString(" GENERATED AS ")
			b.WriteString(oneLine(c.Generated))
		case c.Default != "":
			b.WriteString(" DEFAULT ")
			b.WriteString(oneLine(c.Default))
		}
		if fk := fkOf[c.Name]; fk != nil {
			b.WriteString(" -> ")
			writeTarget(&b, t, fk)
		}
		note := oneLine(c.Comment)
		switch {
		case len(c.EnumValues) > 0:
			note = joinNote(note, "values: "+quoteList(c.EnumValues))
		case len(c.CommonValues) > 0:
			note = joinNote(note, "common values: "+quoteList(c.CommonValues))
		}
		if note != "" {
			b.WriteString(" -- ")
			b.WriteString(note)
		}
		b.WriteByte('\n')
	}
	if len(t.PrimaryKey) > 1 {
		b.WriteString("  PRIMARY KEY (")
		writeIdents(&b, t.PrimaryKey)
		b.WriteString(")\n")
	}
	for i := range t.ForeignKeys {
		fk := &t.ForeignKeys[i]
		if len(fk.Columns) == 1 && fkOf[fk.Columns[0]] == fk {
			continue
		}
		b.WriteString("  FOREIGN KEY (")
		writeIdents(&b, fk.Columns)
		b.WriteString(") -> ")
		writeTarget(&b, t, fk)
		b.WriteByte('\n')
	}
	for _, u := range t.Uniques {
		b.WriteString("  UNIQUE (")
		writeIdents(&b, u)
		b.WriteString(")\n")
	}
	for _, ix := range t.Indexes {
		b.WriteString("  ")
		if ix.Unique {
			b.WriteString("UNIQUE ")
		}
		b.WriteString("INDEX ")
		if ix.Method != "" && ix.Method != "btree" {
			b.WriteString(ix.Method)
			b.WriteByte(' ')
		}
		b.WriteByte('(')
		for k, c := range ix.Columns {
			if k > 0 {
				b.WriteString(", ")
			}
			if t.Column(c) != nil {
				b.WriteString(ident(c)) // a column; else an expression, as PostgreSQL prints it
			} else {
				b.WriteString(oneLine(c))
			}
		}
		b.WriteByte(')')
		if ix.Predicate != "" {
			b.WriteString(" WHERE ")
			b.WriteString(oneLine(ix.Predicate))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Form is how much of a table a rendering shows.
type Form int

const (
	// FormFull is RenderTable's block: every column with its type,
	// nullability, default, comment and values, then keys and indexes.
	FormFull Form = iota
	// FormColumns is one line: the column names, keys marked, nothing else.
	FormColumns
	// FormKeys is one line: the primary- and foreign-key columns only.
	FormKeys
)

func (f Form) String() string {
	switch f {
	case FormColumns:
		return "columns"
	case FormKeys:
		return "keys"
	}
	return "full"
}

// RenderTableForm renders a table in the given form. FormColumns and
// FormKeys are one line each, for a relevant table that does not fit in
// full:
//
//	public.orders: id PK, customer_id -> customers, status, ordered_at
//	public.orders: id PK, customer_id -> customers, ...
//
// "-> customers" is SQL's REFERENCES customers: the target's primary key
// (the columns are spelled out when they are not the primary key). "..."
// stands for the columns left out. A kind other than table is named in
// parentheses after the name.
func RenderTableForm(t *Table, f Form) string { return renderForm(t, f, nil) }

// renderForm renders t in form f; pkOf, when not nil, returns the primary
// key of a foreign key's target so that it need not be spelled out.
func renderForm(t *Table, f Form, pkOf func(schema, name string) []string) string {
	if f == FormFull {
		return RenderTable(t)
	}
	var b strings.Builder
	pk := map[string]bool{}
	for _, c := range t.PrimaryKey {
		pk[c] = true
	}
	fkOf := map[string]*ForeignKey{}
	inMultiFK := map[string]bool{}
	for i := range t.ForeignKeys {
		fk := &t.ForeignKeys[i]
		if len(fk.Columns) == 1 && fkOf[fk.Columns[0]] == nil {
			fkOf[fk.Columns[0]] = fk
		} else {
			for _, c := range fk.Columns {
				inMultiFK[c] = true
			}
		}
	}
	target := func(fk *ForeignKey) {
		if fk.RefSchema != t.Schema {
			b.WriteString(ident(fk.RefSchema))
			b.WriteByte('.')
		}
		b.WriteString(ident(fk.RefTable))
		if pkOf == nil || !slices.Equal(pkOf(fk.RefSchema, fk.RefTable), fk.RefColumns) {
			b.WriteByte('(')
			writeIdents(&b, fk.RefColumns)
			b.WriteByte(')')
		}
	}
	b.WriteString(ident(t.Schema))
	b.WriteByte('.')
	b.WriteString(ident(t.Name))
	if t.Kind != KindTable {
		b.WriteString(" (")
		b.WriteString(t.Kind)
		b.WriteByte(')')
	}
	b.WriteByte(':')
	n, left := 0, 0
	for i := range t.Columns {
		c := &t.Columns[i]
		fk := fkOf[c.Name]
		if f == FormKeys && !pk[c.Name] && fk == nil && !inMultiFK[c.Name] {
			left++
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteByte(' ')
		b.WriteString(ident(c.Name))
		if pk[c.Name] {
			b.WriteString(" PK")
		}
		if fk != nil {
			b.WriteString(" -> ")
			target(fk)
		}
	}
	if left > 0 {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(" ...")
	}
	for i := range t.ForeignKeys {
		fk := &t.ForeignKeys[i]
		if len(fk.Columns) > 1 || fkOf[fk.Columns[0]] != fk {
			b.WriteString("; (")
			writeIdents(&b, fk.Columns)
			b.WriteString(") -> ")
			target(fk)
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// RenderTableSummary lists a table in one line: kind, name, row estimate,
// column count and the first sentence of its comment (at most 160 bytes).
//
//	TABLE public.orders (~40,415 rows; 13 columns) -- One row per shop order.
func RenderTableSummary(t *Table) string {
	var b strings.Builder
	header(&b, t, strconv.Itoa(len(t.Columns))+" columns")
	if t.Comment != "" {
		b.WriteString(" -- ")
		b.WriteString(firstSentence(t.Comment, 160))
	}
	b.WriteByte('\n')
	return b.String()
}

// firstSentence shortens a comment to its first sentence, at most max
// bytes (cut at a space).
func firstSentence(s string, max int) string {
	s = oneLine(s)
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	if len(s) <= max {
		return s
	}
	cut := strings.LastIndexByte(s[:max], ' ')
	if cut <= 0 {
		cut = max
	}
	return s[:cut] + "..."
}

func header(b *strings.Builder, t *Table, extra string) {
	b.WriteString(kindWord(t.Kind))
	b.WriteByte(' ')
	b.WriteString(ident(t.Schema))
	b.WriteByte('.')
	b.WriteString(ident(t.Name))
	var notes []string
	if t.Rows >= 0 {
		notes = append(notes, "~"+thousands(t.Rows)+" rows")
	}
	if t.Kind == KindPartitionedTable {
		p := strconv.Itoa(t.Partitions) + " partitions"
		if t.PartitionKey != "" {
			p += " by " + t.PartitionKey
		}
		notes = append(notes, p)
	}
	if extra != "" {
		notes = append(notes, extra)
	}
	if len(notes) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(notes, "; "))
		b.WriteByte(')')
	}
}

func writeTarget(b *strings.Builder, t *Table, fk *ForeignKey) {
	if fk.RefSchema != t.Schema {
		b.WriteString(ident(fk.RefSchema))
		b.WriteByte('.')
	}
	b.WriteString(ident(fk.RefTable))
	b.WriteByte('(')
	writeIdents(b, fk.RefColumns)
	b.WriteByte(')')
}

func writeIdents(b *strings.Builder, names []string) {
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ident(n))
	}
}

// ident quotes an identifier the way SQL must spell it: as is when it is
// a lower-case plain name and not a reserved word, else in double quotes
// ("Academic Year", "Order", "user").
func ident(name string) string {
	plain := name != ""
	for i := 0; i < len(name) && plain; i++ {
		c := name[i]
		plain = c == '_' || c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '$')
	}
	if plain && !reservedWords[name] {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// reservedWords are PostgreSQL's reserved key words and those that cannot
// be a column name (SQL key words appendix: "reserved" and "reserved (can
// be function or type)"): a column or table of that name must be quoted.
var reservedWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`all analyse analyze and any array as asc asymmetric authorization binary both
		case cast check collate collation column concurrently constraint create cross current_catalog
		current_date current_role current_schema current_time current_timestamp current_user default
		deferrable desc distinct do else end except false fetch for foreign freeze from full grant group
		having ilike in initially inner intersect into is isnull join lateral leading left like limit
		localtime localtimestamp natural not notnull null offset on only or order outer overlaps placing
		primary references returning right select session_user similar some symmetric system_user table
		tablesample then to trailing true union unique user using variadic verbose when where window with`) {
		m[w] = true
	}
	return m
}()

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	if !strings.HasSuffix(a, ".") {
		a += "."
	}
	return a + " " + b
}

// quoteList writes values as SQL string literals.
func quoteList(vals []string) string {
	var b strings.Builder
	for i, v := range vals {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(oneLine(v), "'", "''"))
		b.WriteByte('\'')
	}
	return b.String()
}

// typeAliases are PostgreSQL's short spellings of long type names.
var typeAliases = strings.NewReplacer(
	"timestamp with time zone", "timestamptz",
	"timestamp without time zone", "timestamp",
	"time with time zone", "timetz",
	"time without time zone", "time",
	"character varying", "varchar",
	"character(", "char(",
)

// shortType writes a type name the short way (timestamptz, varchar(20)).
func shortType(t string) string {
	if !strings.Contains(t, "with") && !strings.Contains(t, "character") {
		return t
	}
	return typeAliases.Replace(t)
}

// oneLine collapses whitespace runs (newlines included) to one space.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\n\r\t") && !strings.Contains(s, "  ") {
		return strings.TrimSpace(s)
	}
	return strings.Join(strings.Fields(s), " ")
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 || len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}
