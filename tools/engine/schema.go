package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/pgmcp/pgmcp/schema"
)

// Detail levels of get_schema.
const (
	DetailSummary = "summary"
	DetailFull    = "full"
)

// SchemaArgs are the arguments of Schema (the get_schema tool).
type SchemaArgs struct {
	Database string   `json:"database,omitempty"`
	Tables   []string `json:"tables,omitempty"`
	Search   string   `json:"search,omitempty"`
	Detail   string   `json:"detail,omitempty"`
	Refresh  bool     `json:"refresh,omitempty"`
}

// SchemaResult is get_schema's structured output. Its own fields are always
// present and arrays are never null; a table's and a column's optional
// fields (what a summary does not describe, empty lists, empty strings) are
// left out, so that the structured form of a large catalog is not mostly
// empty fields.
type SchemaResult struct {
	Database    string        `json:"database" jsonschema:"the database described"`
	Detail      string        `json:"detail" jsonschema:"summary (tables without columns) or full"`
	TotalTables int           `json:"total_tables" jsonschema:"number of tables and views the caller may query in this database"`
	Search      string        `json:"search" jsonschema:"the search text the tables were chosen for; empty when none"`
	Tokens      int           `json:"tokens" jsonschema:"estimated tokens of the text content (bytes / 4)"`
	Note        string        `json:"note" jsonschema:"what was left out and how to get more; empty when nothing was"`
	NotFound    []string      `json:"not_found" jsonschema:"requested table names that matched no table the caller may see"`
	LoadedAt    string        `json:"loaded_at" jsonschema:"when the schema was read from the catalog (RFC 3339)"`
	Tables      []TableResult `json:"tables" jsonschema:"tables, views and materialized views the caller may query"`
}

// TableResult describes one table.
type TableResult struct {
	Schema       string             `json:"schema"`
	Name         string             `json:"name"`
	Kind         string             `json:"kind" jsonschema:"table, view, materialized view, partitioned table or foreign table"`
	Comment      string             `json:"comment"`
	Rows         int64              `json:"rows" jsonschema:"the planner's row estimate; -1 when unknown"`
	ColumnCount  int                `json:"column_count" jsonschema:"number of columns the caller may see"`
	Partitions   int                `json:"partitions,omitempty" jsonschema:"number of partitions of a partitioned table (folded into it)"`
	PartitionKey string             `json:"partition_key,omitempty"`
	Form         string             `json:"form" jsonschema:"how much is described: summary (no columns), full, columns (names and types only) or keys (key columns only)"`
	Reason       string             `json:"reason,omitempty" jsonschema:"why search chose this table; empty without search"`
	Columns      []ColumnResult     `json:"columns,omitempty" jsonschema:"the columns, when the form describes them"`
	PrimaryKey   []string           `json:"primary_key,omitempty"`
	Uniques      [][]string         `json:"uniques,omitempty" jsonschema:"unique constraints, each a list of columns"`
	ForeignKeys  []ForeignKeyResult `json:"foreign_keys,omitempty"`
	Indexes      []IndexResult      `json:"indexes,omitempty" jsonschema:"secondary indexes (not those of the primary key or unique constraints)"`
}

// ColumnResult describes one column.
type ColumnResult struct {
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	Nullable     bool     `json:"nullable"`
	Default      string   `json:"default,omitempty"`
	Identity     string   `json:"identity,omitempty" jsonschema:"always or by default for an identity column"`
	Generated    string   `json:"generated,omitempty" jsonschema:"expression of a generated column"`
	Comment      string   `json:"comment,omitempty"`
	EnumValues   []string `json:"enum_values,omitempty" jsonschema:"labels of an enum type, in order"`
	CommonValues []string `json:"common_values,omitempty" jsonschema:"most common values of a low-cardinality column (planner statistics)"`
}

// ForeignKeyResult is a foreign key.
type ForeignKeyResult struct {
	Columns    []string `json:"columns"`
	RefSchema  string   `json:"ref_schema"`
	RefTable   string   `json:"ref_table"`
	RefColumns []string `json:"ref_columns"`
}

// IndexResult is a secondary index.
type IndexResult struct {
	Columns   []string `json:"columns" jsonschema:"column names or expressions"`
	Unique    bool     `json:"unique"`
	Method    string   `json:"method"`
	Predicate string   `json:"predicate" jsonschema:"WHERE clause of a partial index"`
}

// Schema describes the schema as the caller in ctx may see it: get_schema's
// structured result and its text. With Refresh, the policy and the schema
// are read from the catalog again first.
func (e *Engine) Schema(ctx context.Context, args SchemaArgs) (*SchemaResult, string, error) {
	out, _, text, err := e.SchemaJSON(ctx, args)
	return out, text, err
}

// SchemaJSON is Schema with the structured result also as JSON (what
// encoding/json makes of it), encoded once per built result and kept with
// it: a warm call costs no encoding.
func (e *Engine) SchemaJSON(ctx context.Context, args SchemaArgs) (*SchemaResult, []byte, string, error) {
	args.Detail = strings.ToLower(strings.TrimSpace(args.Detail))
	if args.Detail != "" && args.Detail != DetailSummary && args.Detail != DetailFull {
		return nil, nil, "", &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("invalid detail %q", args.Detail), Hint: "use summary or full"}
	}
	a, err := e.Access(ctx, args.Database)
	if err != nil {
		return nil, nil, "", err
	}
	var prep *schema.Prepared
	if args.Refresh {
		if prep, err = a.db.Reload(ctx); err == nil && a.schema != a.db.Schema {
			// A narrowed schema follows the reloaded policy.
			if a, err = e.Access(ctx, args.Database); err == nil {
				prep, err = a.schema.Refresh(ctx)
			}
		}
	} else {
		prep, err = a.schema.Get(ctx)
	}
	if err != nil {
		return nil, nil, "", err
	}
	key := keyOf(prep, a.schema.Options().TokenBudget, args)
	out, raw, text, ok := e.described.get(key)
	if !ok {
		if out, text, err = e.describe(ctx, a, prep, args); err != nil {
			return nil, nil, "", err
		}
		text = FrameData(FrameSchema, text)
		out.Tokens = schema.EstimateTokens(text) // of the text as sent, quoted
		if raw, err = json.Marshal(out); err != nil {
			return nil, nil, "", &Error{Code: CodeInternal, Message: "the schema could not be encoded", Err: err}
		}
		e.described.put(key, out, raw, text)
	}
	if since, stale := a.schema.Stale(); stale {
		note := fmt.Sprintf("the database did not answer the schema change check: this is the schema as of %s, which may be stale", since.UTC().Format(time.RFC3339))
		out.Note = strings.TrimPrefix(out.Note+"; "+note, "; ")
		text += "\n-- " + note + "\n"
		raw = nil // the kept encoding lacks the note
	}
	return &out, raw, text, nil
}

// describe builds get_schema's structured and text output.
func (e *Engine) describe(ctx context.Context, a *Access, prep *schema.Prepared, args SchemaArgs) (SchemaResult, string, error) {
	snap := prep.Snapshot()
	out := SchemaResult{
		Database: a.db.Name, TotalTables: len(snap.Tables), Search: args.Search,
		NotFound: []string{}, Tables: []TableResult{}, LoadedAt: snap.LoadedAt.UTC().Format(time.RFC3339),
	}
	budget := a.schema.Options().TokenBudget

	// The tables in play: all, or those the patterns name.
	tables := make([]*schema.Table, len(snap.Tables))
	for i := range snap.Tables {
		tables[i] = &snap.Tables[i]
	}
	if len(args.Tables) > 0 {
		var notFound []string
		tables, notFound = filterTables(tables, args.Tables)
		out.NotFound = notFound
		if len(tables) == 0 {
			return out, "", &schema.Error{Code: schema.CodeNotFound,
				Message: fmt.Sprintf("no table matches %s", strings.Join(quoteAll(args.Tables), ", "))}
		}
	}

	var chosen []chosenTable
	if strings.TrimSpace(args.Search) != "" {
		p := prep
		if len(args.Tables) > 0 {
			sub := *snap
			sub.Tables = make([]schema.Table, len(tables))
			for i, t := range tables {
				sub.Tables[i] = *t
			}
			p = schema.Prepare(&sub)
		}
		sel := p.Select(args.Search, budget)
		e.cfg.Logger.DebugContext(ctx, "schema selection", "database", a.db.Name, "search", args.Search,
			"budget", budget, "explain", sel.Explain())
		for i := range sel.Tables {
			s := &sel.Tables[i]
			chosen = append(chosen, chosenTable{t: s.Table, form: s.Form, reason: s.Reason})
		}
		if len(sel.Tables) < len(tables) {
			out.Note = fmt.Sprintf("%d of %d tables chosen for the search within ~%d tokens; name others with tables", len(sel.Tables), len(tables), budget)
		}
	} else {
		for _, t := range tables {
			chosen = append(chosen, chosenTable{t: t, form: schema.FormFull})
		}
	}

	detail := args.Detail
	if detail == "" {
		detail = DetailFull
		if args.Search == "" && fullBytes(prep, chosen) > budget*4 {
			detail = DetailSummary
			out.Note = fmt.Sprintf("the full description of these %d tables exceeds ~%d tokens: only listed; pass search (the question) or tables for columns, or detail=full", len(chosen), budget)
		}
	}
	out.Detail = detail

	var text strings.Builder
	how := detail
	if args.Search != "" {
		how += ", chosen for the search"
	}
	fmt.Fprintf(&text, "Database %s: %d of %d tables (%s)\n", a.db.Name, len(chosen), len(snap.Tables), how)
	for _, c := range chosen {
		form := c.form
		if detail == DetailSummary {
			out.Tables = append(out.Tables, tableResult(c.t, "summary", c.reason))
			text.WriteString(schema.RenderTableSummary(c.t))
			continue
		}
		if args.Detail == DetailFull {
			form = schema.FormFull
		}
		out.Tables = append(out.Tables, tableResult(c.t, form.String(), c.reason))
		text.WriteByte('\n')
		text.WriteString(prep.Text(c.t, form))
	}
	if len(out.NotFound) > 0 {
		fmt.Fprintf(&text, "\nNot found: %s\n", strings.Join(out.NotFound, ", "))
	}
	if out.Note != "" {
		fmt.Fprintf(&text, "\n-- %s\n", out.Note)
	}
	out.Tokens = schema.EstimateTokens(text.String())
	return out, text.String(), nil
}

type chosenTable struct {
	t      *schema.Table
	form   schema.Form
	reason string
}

func fullBytes(prep *schema.Prepared, ts []chosenTable) int {
	if len(ts) == len(prep.Snapshot().Tables) {
		return prep.Tokens() * 4
	}
	n := 0
	for _, c := range ts {
		n += len(prep.Text(c.t, schema.FormFull)) + 1
	}
	return n
}

// tableResult converts a table to its structured form: summary has no
// columns or keys; keys keeps the key columns only; columns drops comments
// and values.
func tableResult(t *schema.Table, form, reason string) TableResult {
	r := TableResult{
		Schema: t.Schema, Name: t.Name, Kind: t.Kind, Comment: t.Comment, Rows: t.Rows,
		ColumnCount: len(t.Columns), Partitions: t.Partitions, PartitionKey: t.PartitionKey,
		Form: form, Reason: reason,
		Columns: []ColumnResult{}, PrimaryKey: []string{}, Uniques: [][]string{},
		ForeignKeys: []ForeignKeyResult{}, Indexes: []IndexResult{},
	}
	if form == "summary" {
		return r
	}
	keyCols := map[string]bool{}
	for _, c := range t.PrimaryKey {
		keyCols[c] = true
	}
	for _, fk := range t.ForeignKeys {
		for _, c := range fk.Columns {
			keyCols[c] = true
		}
	}
	for _, c := range t.Columns {
		if form == schema.FormKeys.String() && !keyCols[c.Name] {
			continue
		}
		cr := ColumnResult{Name: c.Name, Type: c.Type, Nullable: c.Nullable, EnumValues: []string{}, CommonValues: []string{}}
		if form == schema.FormFull.String() {
			cr.Default, cr.Identity, cr.Generated, cr.Comment = c.Default, c.Identity, c.Generated, c.Comment
			cr.EnumValues = append(cr.EnumValues, c.EnumValues...)
			cr.CommonValues = append(cr.CommonValues, c.CommonValues...)
		}
		r.Columns = append(r.Columns, cr)
	}
	r.PrimaryKey = append(r.PrimaryKey, t.PrimaryKey...)
	for _, fk := range t.ForeignKeys {
		r.ForeignKeys = append(r.ForeignKeys, ForeignKeyResult{
			Columns: append([]string{}, fk.Columns...), RefSchema: fk.RefSchema, RefTable: fk.RefTable,
			RefColumns: append([]string{}, fk.RefColumns...)})
	}
	if form == schema.FormFull.String() {
		for _, u := range t.Uniques {
			r.Uniques = append(r.Uniques, append([]string{}, u...))
		}
		for _, ix := range t.Indexes {
			r.Indexes = append(r.Indexes, IndexResult{Columns: append([]string{}, ix.Columns...), Unique: ix.Unique, Method: ix.Method, Predicate: ix.Predicate})
		}
	}
	return r
}

// filterTables keeps the tables matching one of the patterns and returns
// the patterns that matched nothing. A pattern is a name (schema.table or
// table) or a glob, matched case-insensitively against schema.table and
// table.
func filterTables(tables []*schema.Table, patterns []string) (kept []*schema.Table, notFound []string) {
	hit := make([]bool, len(patterns))
	for _, t := range tables {
		match := false
		for i, p := range patterns {
			if matches(t, p) {
				hit[i], match = true, true
			}
		}
		if match {
			kept = append(kept, t)
		}
	}
	notFound = []string{}
	for i, p := range patterns {
		if !hit[i] {
			notFound = append(notFound, p)
		}
	}
	return kept, notFound
}

func matches(t *schema.Table, pattern string) bool {
	p := strings.ToLower(strings.TrimSpace(pattern))
	p = strings.ReplaceAll(p, `"`, "")
	q, n := strings.ToLower(t.QualifiedName()), strings.ToLower(t.Name)
	if p == q || p == n {
		return true
	}
	if ok, _ := path.Match(p, q); ok {
		return true
	}
	ok, _ := path.Match(p, n)
	return ok
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
