package engine

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
)

// FindValuesArgs are the arguments of FindValues (the find_values tool).
type FindValuesArgs struct {
	Text     string   `json:"text"`
	Database string   `json:"database,omitempty"`
	Tables   []string `json:"tables,omitempty"`
	Limit    int      `json:"limit,omitempty"`
}

// FindValuesResult is find_values' structured output.
type FindValuesResult struct {
	Database string       `json:"database" jsonschema:"the database searched"`
	Text     string       `json:"text" jsonschema:"the text searched for"`
	Mode     string       `json:"mode" jsonschema:"index: the schema's value index (case, accent, plural and typo tolerant); live: looked up now as the caller's database role (substring, case-insensitive)"`
	Matches  []ValueFound `json:"matches" jsonschema:"the stored values that match, best first"`
	Note     string       `json:"note" jsonschema:"what was left out; empty when nothing was"`
}

// ValueFound is one stored value that matches.
type ValueFound struct {
	Table      string  `json:"table" jsonschema:"schema.table"`
	Column     string  `json:"column"`
	Value      string  `json:"value" jsonschema:"the value as stored: compare with it exactly"`
	Similarity float64 `json:"similarity" jsonschema:"1 for the same text; lower for a plural, a typo or a longer value"`
}

// Bounds of FindValues.
const (
	maxFindValuesText  = 500
	defaultFindLimit   = 10
	maxFindLimit       = 50
	liveMaxColumns     = 60 // text columns looked up live, at most
	livePerColumnLimit = 5
)

// FindValues finds where text (a name, a place, a code) is stored: the
// tables and columns whose values match it, with the values as stored.
// Callers without a database role of their own are answered from the
// schema's value index (built for their schema, so never from a column
// their policy hides). A caller with a role, or a database without an
// index, is answered live: one bounded, guard-checked SELECT DISTINCT per
// text column, in the caller's read-only transaction, as the caller's role,
// through the executor and its limits, so row-level security applies.
func (e *Engine) FindValues(ctx context.Context, args FindValuesArgs) (*FindValuesResult, error) {
	text := strings.TrimSpace(args.Text)
	switch {
	case text == "":
		return nil, &Error{Code: CodeInvalidArgument, Message: "text is empty", Hint: "give the name, place or code to look for"}
	case len(text) > maxFindValuesText:
		return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("text is longer than %d bytes", maxFindValuesText)}
	case args.Limit < 0 || args.Limit > maxFindLimit:
		return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("limit must be between 1 and %d", maxFindLimit)}
	}
	limit := args.Limit
	if limit == 0 {
		limit = defaultFindLimit
	}
	a, err := e.Access(ctx, args.Database)
	if err != nil {
		return nil, err
	}
	prep, err := a.schema.Get(ctx)
	if err != nil {
		return nil, err
	}
	tables := prep.Snapshot().Tables
	ptrs := make([]*schema.Table, len(tables))
	for i := range tables {
		ptrs[i] = &tables[i]
	}
	out := &FindValuesResult{Database: a.db.Name, Text: text, Matches: []ValueFound{}}
	if len(args.Tables) > 0 {
		var notFound []string
		ptrs, notFound = filterTables(ptrs, args.Tables)
		if len(ptrs) == 0 {
			return nil, &schema.Error{Code: schema.CodeNotFound, Message: fmt.Sprintf("no table matches %s", strings.Join(quoteAll(args.Tables), ", "))}
		}
		if len(notFound) > 0 {
			out.Note = "no table matches " + strings.Join(quoteAll(notFound), ", ")
		}
	}
	keep := map[string]bool{}
	for _, t := range ptrs {
		keep[t.QualifiedName()] = true
	}
	if vi := prep.Values(); vi != nil && a.role == "" {
		out.Mode = "index"
		for _, m := range vi.Filter(func(table, _ string) bool { return keep[table] }).Match(text, limit) {
			out.Matches = append(out.Matches, ValueFound{Table: m.Table, Column: m.Column, Value: m.Value, Similarity: m.Score})
		}
		return out, nil
	}
	out.Mode = "live"
	return out, e.findLive(ctx, a, ptrs, text, limit, out)
}

// findLive looks text up in the text columns of tables, as the caller.
func (e *Engine) findLive(ctx context.Context, a *Access, tables []*schema.Table, text string, limit int, out *FindValuesResult) error {
	pattern := "%" + likeEscaper.Replace(text) + "%"
	columns := 0
	for _, t := range tables {
		for _, c := range t.Columns {
			if !schema.TextLike(c.Type) {
				continue
			}
			if columns == liveMaxColumns {
				out.Note = strings.TrimPrefix(out.Note+fmt.Sprintf("; only the first %d text columns were searched: name tables to search others", liveMaxColumns), "; ")
				return nil
			}
			columns++
			col := quoteIdent(c.Name)
			sql := fmt.Sprintf("SELECT DISTINCT %s::text AS value FROM %s.%s WHERE %s::text ILIKE %s ESCAPE '!' LIMIT %d",
				col, quoteIdent(t.Schema), quoteIdent(t.Name), col, quoteLiteral(pattern), livePerColumnLimit)
			q, err := sqlguard.Check(sql, a.policy)
			if err != nil {
				// The schema shows only what the policy allows, so this is
				// the text (say, a backslash before a quote): the guard's
				// refusal stands, and the caller is told.
				return err
			}
			res, err := e.execute(ctx, a, q, livePerColumnLimit)
			if err != nil {
				return err
			}
			for _, row := range res.Rows {
				v, _ := row[0].(string)
				out.Matches = append(out.Matches, ValueFound{Table: t.QualifiedName(), Column: c.Name, Value: v, Similarity: similarity(text, v)})
			}
		}
	}
	sortFound(out.Matches)
	if len(out.Matches) > limit {
		out.Matches = out.Matches[:limit]
	}
	return nil
}

// similarity of a live match: 1 for the same text (case aside), else the
// share of the value the text covers.
func similarity(text, value string) float64 {
	if strings.EqualFold(text, value) {
		return 1
	}
	n, m := utf8.RuneCountInString(text), utf8.RuneCountInString(value)
	if m == 0 || n > m {
		return 0
	}
	return float64(n) / float64(m)
}

// sortFound orders matches best first, then by table, column and value.
func sortFound(ms []ValueFound) {
	slices.SortStableFunc(ms, func(a, b ValueFound) int {
		if a.Similarity != b.Similarity {
			return cmp.Compare(b.Similarity, a.Similarity)
		}
		return cmp.Compare(a.Table+"."+a.Column+"."+a.Value, b.Table+"."+b.Column+"."+b.Value)
	})
}

// likeEscaper escapes a LIKE pattern for ESCAPE '!' (a backslash escape
// would put a backslash before a quote, which the guard refuses).
var likeEscaper = strings.NewReplacer(`!`, `!!`, `%`, `!%`, `_`, `!_`)

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// RenderFindValuesText is find_values' text output.
func RenderFindValuesText(r *FindValuesResult) string {
	var b strings.Builder
	if len(r.Matches) == 0 {
		fmt.Fprintf(&b, "No stored value of database %s matches %q.\n", r.Database, r.Text)
	} else {
		fmt.Fprintf(&b, "Stored values of database %s matching %q:\n", r.Database, r.Text)
		var list strings.Builder
		for _, m := range r.Matches {
			fmt.Fprintf(&list, "- %s.%s = %s (similarity %.2f)\n", m.Table, m.Column, quoteLiteral(m.Value), m.Similarity)
		}
		writeFrame(&b, FrameValues, list.String())
	}
	if r.Note != "" {
		fmt.Fprintf(&b, "-- %s\n", r.Note)
	}
	return b.String()
}
