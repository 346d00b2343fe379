package engine

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgmcp/pgmcp/schema"
)

// Per-table tools (issue 22, in progress): for teams that will not give
// an agent free SQL, one tool per permitted table, generated from the
// catalog, whose arguments are typed filters. This file holds what needs
// no database: the tools' definitions (TableTools) and the parameterized
// SQL a call's arguments make (BuildTableQuery). Values never enter the
// SQL text: each is a parameter ($n) with an explicit cast to its
// column's type. Running that SQL needs the guard to accept typed
// parameters and the executor to pass them, which is the next step; no
// tool is served yet.

// FilterKind is what a column's filter accepts.
type FilterKind string

const (
	// FilterEqual: equality, or IN with a list (keys, booleans, enums,
	// low-cardinality text).
	FilterEqual FilterKind = "equal"
	// FilterRange: min and max, inclusive (numbers, dates, times).
	FilterRange FilterKind = "range"
	// FilterText: case-insensitive substring search, or exact equality.
	FilterText FilterKind = "text"
)

// TableFilter is one column's filter.
type TableFilter struct {
	Column   string
	Type     string // the column's type, as format_type prints it
	Kind     FilterKind
	Nullable bool     // is_null may be asked for
	Enum     bool     // Values are all the type's labels: nothing else is accepted
	Values   []string // enum labels or common values, shown as examples
}

// TableTool is the definition of the tool of one table.
type TableTool struct {
	Name        string // stable: {table}_find, schema-prefixed when two schemas have the table
	Table       string // schema.table
	Description string
	Columns     []string // what columns may return, in the table's order
	Filters     []TableFilter
	MaxLimit    int
}

// Bounds of the per-table tools.
const (
	// maxTableTools is how many tools are listed at most; a larger
	// catalog gets the most central tables' only, and a note.
	maxTableTools  = 50
	maxToolName    = 64
	maxFilterItems = 100 // values of one IN list
	maxTextFilter  = 200 // characters of a text search
)

var toolNameUnsafe = regexp.MustCompile(`[^a-z0-9_]+`)

// toolName is schema_table or table, lower-cased, made of [a-z0-9_], cut
// to fit with its suffix.
func toolName(schemaName, table string, qualified bool) string {
	base := table
	if qualified {
		base = schemaName + "_" + table
	}
	base = strings.Trim(toolNameUnsafe.ReplaceAllString(strings.ToLower(base), "_"), "_")
	if base == "" {
		base = "table"
	}
	const suffix = "_find"
	if len(base) > maxToolName-len(suffix) {
		base = base[:maxToolName-len(suffix)]
	}
	return base + suffix
}

// filterKind is the filter a column of type typ takes.
func filterKind(c schema.Column) (FilterKind, bool) {
	t := strings.ToLower(c.Type)
	switch {
	case len(c.EnumValues) > 0, t == "boolean", t == "uuid":
		return FilterEqual, true
	case t == "smallint", t == "integer", t == "bigint", t == "real", t == "double precision",
		strings.HasPrefix(t, "numeric"), t == "money",
		t == "date", strings.HasPrefix(t, "timestamp"), strings.HasPrefix(t, "time"):
		return FilterRange, true
	case t == "text", strings.HasPrefix(t, "character varying"), strings.HasPrefix(t, "character("),
		strings.HasPrefix(t, "varchar"), t == "citext", t == "name":
		return FilterText, true
	}
	return "", false // json, arrays, geometry…: returned, not filtered
}

// TableTools makes the tools of the tables of tables (what the caller may
// read: blocked tables and columns are already gone) that match patterns
// (schema.table or table, path.Match style; none: every table). With more
// than maxTableTools, the most central tables (most foreign keys in and
// out, then most rows) get one, and note says what was left out.
func TableTools(tables []schema.Table, patterns []string, maxRows int) (tools []TableTool, note string) {
	var picked []*schema.Table
	for i := range tables {
		t := &tables[i]
		if len(patterns) == 0 || matchesAny(patterns, t) {
			picked = append(picked, t)
		}
	}
	if len(picked) > maxTableTools {
		degree := map[string]int{}
		for _, t := range picked {
			for _, fk := range t.ForeignKeys {
				degree[t.QualifiedName()]++
				degree[fk.RefSchema+"."+fk.RefTable]++
			}
		}
		sort.SliceStable(picked, func(i, j int) bool {
			a, b := picked[i], picked[j]
			if degree[a.QualifiedName()] != degree[b.QualifiedName()] {
				return degree[a.QualifiedName()] > degree[b.QualifiedName()]
			}
			return a.Rows > b.Rows
		})
		note = fmt.Sprintf("%d tables match; tools are listed for the %d most central (most foreign keys, then most rows): query reads the others, or narrow PGMCP_TABLE_TOOLS", len(picked), maxTableTools)
		picked = picked[:maxTableTools]
		sort.SliceStable(picked, func(i, j int) bool { return picked[i].QualifiedName() < picked[j].QualifiedName() })
	}
	// A name is qualified by its schema when another matching table has
	// it, listed or not: a tool keeps its name whatever the bound picks.
	names := map[string]int{}
	for i := range tables {
		if len(patterns) == 0 || matchesAny(patterns, &tables[i]) {
			names[tables[i].Name]++
		}
	}
	used := map[string]bool{}
	for _, t := range picked {
		tool := TableTool{Name: toolName(t.Schema, t.Name, names[t.Name] > 1), Table: t.QualifiedName(), MaxLimit: maxRows}
		for n := 2; used[tool.Name]; n++ { // names cut to the same prefix
			tool.Name = strings.TrimSuffix(toolName(t.Schema, t.Name, true), "_find") + "_" + strconv.Itoa(n) + "_find"
		}
		used[tool.Name] = true
		for _, c := range t.Columns {
			tool.Columns = append(tool.Columns, c.Name)
			kind, ok := filterKind(c)
			if !ok {
				continue
			}
			f := TableFilter{Column: c.Name, Type: c.Type, Kind: kind, Nullable: c.Nullable}
			switch {
			case len(c.EnumValues) > 0:
				f.Values, f.Enum = c.EnumValues, true
			case len(c.CommonValues) > 0 && kind == FilterText:
				f.Kind, f.Values = FilterEqual, c.CommonValues // low cardinality: equality and IN
			}
			if slices.Contains(t.PrimaryKey, c.Name) || isFKColumn(t, c.Name) {
				if kind == FilterRange && !strings.Contains(strings.ToLower(c.Type), "time") && c.Type != "date" {
					f.Kind = FilterEqual // keys: equality and IN, not ranges
				}
			}
			tool.Filters = append(tool.Filters, f)
		}
		tool.Description = describeTableTool(t, &tool, picked)
		if note != "" {
			tool.Description += "\n(" + note + ".)"
		}
		tools = append(tools, tool)
	}
	return tools, note
}

func matchesAny(patterns []string, t *schema.Table) bool {
	for _, p := range patterns {
		name := t.Name
		if strings.Contains(p, ".") {
			name = t.QualifiedName()
		}
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func isFKColumn(t *schema.Table, col string) bool {
	for _, fk := range t.ForeignKeys {
		if slices.Contains(fk.Columns, col) {
			return true
		}
	}
	return false
}

// describeTableTool writes a tool's description: the table's purpose
// (its comment), its columns with types and comments, the filters, an
// example call, and a "not for" line naming look-alike tables.
func describeTableTool(t *schema.Table, tool *TableTool, all []*schema.Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Find rows of the table %s", t.QualifiedName())
	if t.Comment != "" {
		fmt.Fprintf(&b, ": %s", strings.TrimRight(oneLineText(t.Comment), "."))
	}
	b.WriteString(". Read-only; pgmcp builds the query itself.\nColumns:")
	for _, c := range t.Columns {
		fmt.Fprintf(&b, " %s (%s", c.Name, c.Type)
		if c.Comment != "" {
			fmt.Fprintf(&b, ": %s", oneLineText(c.Comment))
		}
		b.WriteString(");")
	}
	b.WriteString("\nFilters (all must hold): ")
	var parts []string
	for _, f := range tool.Filters {
		switch f.Kind {
		case FilterEqual:
			parts = append(parts, f.Column+" (equals, or one of a list)")
		case FilterRange:
			parts = append(parts, f.Column+" (min and/or max, inclusive)")
		case FilterText:
			parts = append(parts, f.Column+" (contains, case-insensitive; or equals)")
		}
	}
	b.WriteString(strings.Join(parts, ", "))
	fmt.Fprintf(&b, "; any nullable column: is_null. Also columns (what to return), order_by, limit (at most %d), count_only.", tool.MaxLimit)
	if ex := exampleCall(tool); ex != "" {
		fmt.Fprintf(&b, "\nExample: %s", ex)
	}
	if alike := lookAlikes(t, all); len(alike) > 0 {
		fmt.Fprintf(&b, "\nNot for rows of %s: use their own tools.", strings.Join(alike, ", "))
	}
	return b.String()
}

func oneLineText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return s
}

// exampleCall is a call with the first filter of each kind the tool has.
func exampleCall(tool *TableTool) string {
	seen := map[FilterKind]bool{}
	var parts []string
	for _, f := range tool.Filters {
		if seen[f.Kind] || len(parts) == 2 {
			continue
		}
		seen[f.Kind] = true
		switch f.Kind {
		case FilterEqual:
			v := `"…"`
			if len(f.Values) > 0 {
				v = strconv.Quote(f.Values[0])
			} else if isNumericType(f.Type) {
				v = "42"
			}
			parts = append(parts, fmt.Sprintf(`"%s": {"equals": %s}`, f.Column, v))
		case FilterRange:
			if isNumericType(f.Type) {
				parts = append(parts, fmt.Sprintf(`"%s": {"min": 10, "max": 100}`, f.Column))
			} else {
				parts = append(parts, fmt.Sprintf(`"%s": {"min": "2024-01-01"}`, f.Column))
			}
		case FilterText:
			parts = append(parts, fmt.Sprintf(`"%s": {"contains": "…"}`, f.Column))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return `{"filters": {` + strings.Join(parts, ", ") + `}, "limit": 20}`
}

func isNumericType(typ string) bool {
	t := strings.ToLower(typ)
	return t == "smallint" || t == "integer" || t == "bigint" || t == "real" || t == "double precision" ||
		strings.HasPrefix(t, "numeric") || t == "money"
}

// lookAlikes are the other tables whose name shares a word with t's (as
// orders and order_items, customer and customers_archive): the model
// otherwise picks the wrong tool.
func lookAlikes(t *schema.Table, all []*schema.Table) []string {
	words := func(s string) []string {
		var out []string
		for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == '_' || r == '-' || r == ' ' }) {
			out = append(out, strings.TrimSuffix(w, "s"))
		}
		return out
	}
	mine := words(t.Name)
	var out []string
	for _, o := range all {
		if o == t {
			continue
		}
		for _, w := range words(o.Name) {
			if len(w) >= 4 && slices.Contains(mine, w) {
				out = append(out, o.QualifiedName())
				break
			}
		}
	}
	if len(out) > 5 {
		out = out[:5]
	}
	return out
}

// TableQueryArgs are a per-table tool's arguments.
type TableQueryArgs struct {
	Filters   map[string]ColumnFilter `json:"filters"`
	Columns   []string                `json:"columns"`
	OrderBy   []string                `json:"order_by"` // column, or -column for descending
	Limit     int                     `json:"limit"`
	CountOnly bool                    `json:"count_only"`
}

// ColumnFilter is one column's condition; the fields its kind allows.
type ColumnFilter struct {
	Equals   any    `json:"equals"`
	In       []any  `json:"in"`
	Min      any    `json:"min"`
	Max      any    `json:"max"`
	Contains string `json:"contains"`
	IsNull   *bool  `json:"is_null"`
}

// BuildTableQuery turns a call's arguments into SQL with parameters: every
// identifier from the tool's definition (quoted), every value a parameter
// cast to its column's type. Bad arguments are *Error with
// CodeInvalidArgument, naming the argument.
func BuildTableQuery(tool *TableTool, args TableQueryArgs) (string, []any, error) {
	bad := func(format string, a ...any) (string, []any, error) {
		return "", nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf(format, a...)}
	}
	filterOf := map[string]*TableFilter{}
	for i := range tool.Filters {
		filterOf[tool.Filters[i].Column] = &tool.Filters[i]
	}
	var params []any
	param := func(v any, typ string) string {
		params = append(params, v)
		return "$" + strconv.Itoa(len(params)) + "::" + typ
	}
	// A column of a type of its own (an enum, a domain) is compared as
	// text: parameters are cast to builtin types only, as the guard
	// requires of every cast.
	operand := func(f *TableFilter) (string, string) {
		if builtinType(f.Type) {
			return quoteIdent(f.Column), f.Type
		}
		return quoteIdent(f.Column) + "::text", "text"
	}
	var where []string
	cols := make([]string, 0, len(args.Filters))
	for c := range args.Filters {
		cols = append(cols, c)
	}
	sort.Strings(cols) // one SQL text per set of arguments
	for _, c := range cols {
		cf := args.Filters[c]
		f := filterOf[c]
		if f == nil {
			if slices.Contains(tool.Columns, c) {
				return bad("column %q of %s cannot be filtered (its type %s takes no filter here)", c, tool.Table, columnType(tool, c))
			}
			return bad("unknown column %q in filters: %s has %s", c, tool.Table, strings.Join(tool.Columns, ", "))
		}
		id := quoteIdent(c)
		used := 0
		if cf.IsNull != nil {
			used++
			if !f.Nullable && *cf.IsNull {
				return bad("column %q is never NULL: is_null cannot be true", c)
			}
			if *cf.IsNull {
				where = append(where, id+" IS NULL")
			} else {
				where = append(where, id+" IS NOT NULL")
			}
		}
		if cf.Equals != nil {
			used++
			v, err := checkValue(f, cf.Equals)
			if err != nil {
				return bad("filters.%s.equals: %v", c, err)
			}
			lhs, typ := operand(f)
			where = append(where, lhs+" = "+param(v, typ))
		}
		if cf.In != nil {
			used++
			if f.Kind == FilterRange {
				return bad("filters.%s.in: %s takes min and max, not a list", c, c)
			}
			if len(cf.In) == 0 || len(cf.In) > maxFilterItems {
				return bad("filters.%s.in: give 1 to %d values", c, maxFilterItems)
			}
			var list []any
			for i, raw := range cf.In {
				v, err := checkValue(f, raw)
				if err != nil {
					return bad("filters.%s.in[%d]: %v", c, i, err)
				}
				list = append(list, v)
			}
			lhs, typ := operand(f)
			where = append(where, lhs+" = ANY("+param(list, typ+"[]")+")")
		}
		if cf.Min != nil || cf.Max != nil {
			used++
			if f.Kind != FilterRange {
				return bad("filters.%s: min and max apply to numbers and dates; %s is %s", c, c, f.Type)
			}
			for _, b := range []struct {
				v  any
				op string
				n  string
			}{{cf.Min, ">=", "min"}, {cf.Max, "<=", "max"}} {
				if b.v == nil {
					continue
				}
				v, err := checkValue(f, b.v)
				if err != nil {
					return bad("filters.%s.%s: %v", c, b.n, err)
				}
				if s, ok := v.(string); ok && b.n == "max" && isDateOnly(s) && strings.HasPrefix(strings.ToLower(f.Type), "timestamp") {
					// A day as the maximum of a time: up to the day's end.
					where = append(where, id+" < "+param(v, "date")+" + 1")
					continue
				}
				where = append(where, id+" "+b.op+" "+param(v, f.Type))
			}
		}
		if cf.Contains != "" {
			used++
			if f.Kind != FilterText {
				return bad("filters.%s.contains: text search applies to text columns; %s is %s", c, c, f.Type)
			}
			if len([]rune(cf.Contains)) > maxTextFilter {
				return bad("filters.%s.contains: at most %d characters", c, maxTextFilter)
			}
			where = append(where, id+"::text ILIKE "+param("%"+likeEscaper.Replace(cf.Contains)+"%", "text")+" ESCAPE '!'")
		}
		if used == 0 {
			return bad("filters.%s: give equals, in, min/max, contains or is_null", c)
		}
	}
	table := quoteQualified(tool.Table)
	var sql strings.Builder
	if args.CountOnly {
		sql.WriteString("SELECT count(*) AS count FROM " + table)
	} else {
		sel := args.Columns
		if len(sel) == 0 {
			sel = tool.Columns
		}
		var ids []string
		for _, c := range sel {
			if !slices.Contains(tool.Columns, c) {
				return bad("unknown column %q in columns: %s has %s", c, tool.Table, strings.Join(tool.Columns, ", "))
			}
			ids = append(ids, quoteIdent(c))
		}
		sql.WriteString("SELECT " + strings.Join(ids, ", ") + " FROM " + table)
	}
	if len(where) > 0 {
		sql.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	if !args.CountOnly {
		var order []string
		for _, o := range args.OrderBy {
			c, dir := strings.TrimPrefix(o, "-"), " ASC"
			if strings.HasPrefix(o, "-") {
				dir = " DESC"
			}
			if !slices.Contains(tool.Columns, c) {
				return bad("unknown column %q in order_by: %s has %s", c, tool.Table, strings.Join(tool.Columns, ", "))
			}
			order = append(order, quoteIdent(c)+dir)
		}
		if len(order) > 0 {
			sql.WriteString(" ORDER BY " + strings.Join(order, ", "))
		}
		limit := args.Limit
		switch {
		case limit == 0:
			limit = min(20, tool.MaxLimit)
		case limit < 1 || limit > tool.MaxLimit:
			return bad("limit %d: give 1 to %d", args.Limit, tool.MaxLimit)
		}
		sql.WriteString(" LIMIT " + strconv.Itoa(limit))
	}
	return sql.String(), params, nil
}

// builtinType: typ (as format_type prints it) is a type of PostgreSQL's
// own that the filters cast parameters to.
func builtinType(typ string) bool {
	t := strings.ToLower(typ)
	for _, b := range []string{"smallint", "integer", "bigint", "real", "double precision", "numeric", "boolean",
		"date", "timestamp", "time", "text", "character varying", "character", "uuid"} {
		if t == b || strings.HasPrefix(t, b+"(") || strings.HasPrefix(t, b+" ") {
			return true
		}
	}
	return false
}

func isDateOnly(s string) bool {
	_, err := time.Parse("2006-01-02", s)
	return err == nil
}

func columnType(tool *TableTool, c string) string {
	for _, f := range tool.Filters {
		if f.Column == c {
			return f.Type
		}
	}
	return "not filterable"
}

func quoteQualified(q string) string {
	s, t, _ := strings.Cut(q, ".")
	return quoteIdent(s) + "." + quoteIdent(t)
}

// checkValue checks a JSON value against a filter's column type and
// returns it as the parameter to send (text, which the cast in the SQL
// turns into the column's type; PostgreSQL checks the rest).
func checkValue(f *TableFilter, v any) (any, error) {
	t := strings.ToLower(f.Type)
	switch {
	case isNumericType(t):
		switch x := v.(type) {
		case json.Number:
			if strings.Contains(t, "int") {
				if _, err := strconv.ParseInt(string(x), 10, 64); err != nil {
					return nil, fmt.Errorf("%s is not a whole number in range (%s is %s)", x, f.Column, f.Type)
				}
			} else if _, err := strconv.ParseFloat(string(x), 64); err != nil {
				return nil, fmt.Errorf("%s is not a number (%s is %s)", x, f.Column, f.Type)
			}
			return string(x), nil
		case float64:
			if strings.Contains(t, "int") && x != float64(int64(x)) {
				return nil, fmt.Errorf("%v is not a whole number (%s is %s)", x, f.Column, f.Type)
			}
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		case string:
			if _, err := strconv.ParseFloat(x, 64); err != nil {
				return nil, fmt.Errorf("%q is not a number (%s is %s)", x, f.Column, f.Type)
			}
			return x, nil
		}
		return nil, fmt.Errorf("want a number (%s is %s)", f.Column, f.Type)
	case t == "boolean":
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), nil
		}
		return nil, fmt.Errorf("want true or false (%s is boolean)", f.Column)
	case t == "date" || strings.HasPrefix(t, "timestamp"):
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a date as text, e.g. \"2024-01-31\" (%s is %s)", f.Column, f.Type)
		}
		if _, err := time.Parse("2006-01-02", s); err != nil {
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				return nil, fmt.Errorf("%q is not a date (YYYY-MM-DD) or an RFC 3339 time (%s is %s)", s, f.Column, f.Type)
			}
		}
		return s, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("want text (%s is %s)", f.Column, f.Type)
	}
	if f.Enum {
		if !slices.Contains(f.Values, s) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(f.Values, ", "))
		}
	}
	return s, nil
}
