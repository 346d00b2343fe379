package oracle

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// This file is the oracle proper: it turns the JSON of
// EXPLAIN (VERBOSE, FORMAT JSON) into the set of base-relation reads
// PostgreSQL resolved the query to. See the comment at the top of
// oracle_test.go for the method and its limits.

// relMeta is what the oracle knows about one relation of a database.
type relMeta struct {
	key       string   // schema.name
	kind      string   // pg_class.relkind
	columns   []string // user columns, attnum order
	system    []string // system columns
	ancestors []string // inheritance and partition ancestors, transitively
	desc      []string // descendants, transitively
}

// dbMeta is what the oracle knows about a database.
type dbMeta struct {
	rels map[string]*relMeta
	// viewBase maps a view to every relation a scan of it reads (the
	// relations its query names, through nested views, and their
	// descendants).
	viewBase map[string]map[string]bool
}

// read is one read of a base relation: a column, or "*" for the whole row.
type read struct{ rel, col string }

// String spells a read as Query.Reads does: "schema.table.column" or
// "schema.table.*".
func (r read) String() string { return r.rel + "." + r.col }

// planReads is what one plan reads.
type planReads struct {
	reads map[read]bool
	// scanned are the base relations the plan scans, "schema.table".
	scanned map[string]bool
	// calls are the names of the functions the plan's expressions call
	// (the last part of a qualified name).
	calls map[string]bool
}

func (p *planReads) sorted() []read {
	out := make([]read, 0, len(p.reads))
	for r := range p.reads {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// metaKeys are plan fields that hold names or labels, never expressions.
var metaKeys = map[string]bool{
	"Node Type": true, "Parent Relationship": true, "Relation Name": true, "Schema": true,
	"Alias": true, "Index Name": true, "CTE Name": true, "Subplan Name": true,
	"Function Name": true, "Join Type": true, "Strategy": true, "Partial Mode": true,
	"Scan Direction": true, "Operation": true, "Command": true, "Sampling Method": true,
	"Table Function Name": true, "Setop": true,
}

// rootRelationships are the Parent Relationship values whose node's
// targetlist is exactly what its consumer needs (the planner never gives
// such a node a "physical" targetlist): subquery, InitPlan, SubPlan and
// Append/MergeAppend members.
var rootRelationships = map[string]bool{"InitPlan": true, "SubPlan": true, "Subquery": true, "Member": true}

type planNode = map[string]any

// readsFromPlan extracts the reads of an EXPLAIN (VERBOSE, FORMAT JSON)
// result.
// sql is the query explained: its column alias lists tell how EXPLAIN
// names the columns (colnames_test.go).
func readsFromPlan(js []byte, meta *dbMeta, sql string) (*planReads, error) {
	var doc []map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("plan JSON: %w", err)
	}
	if len(doc) != 1 {
		return nil, fmt.Errorf("plan JSON: %d top-level entries", len(doc))
	}
	root, ok := doc[0]["Plan"].(planNode)
	if !ok {
		return nil, fmt.Errorf("plan JSON: no Plan")
	}
	x := &extractor{meta: meta, base: map[string]string{}, other: map[string]bool{},
		printed: map[string][]string{}, real: map[string]map[string]string{},
		out: &planReads{reads: map[read]bool{}, scanned: map[string]bool{}, calls: map[string]bool{}}}
	if err := x.aliases(root); err != nil {
		return nil, err
	}
	rvs, err := rangeVars(sql)
	if err != nil {
		return nil, fmt.Errorf("parse the query: %w", err)
	}
	for alias, rel := range x.base {
		names, err := printedColumns(meta, rvs, alias, rel)
		if err != nil {
			return nil, err
		}
		x.printed[alias] = names
		m := map[string]string{}
		for i, n := range names {
			m[n] = meta.rels[rel].columns[i]
		}
		x.real[alias] = m
	}
	// EXPLAIN prints a targetlist without the relation prefix when the
	// range table has a single entry (PostgreSQL 15's show_plan_tlist);
	// quals and keys are always prefixed under VERBOSE. A single entry
	// shows as a plan with exactly one node carrying an alias, and no
	// targetlist naming a column as alias.col (a flattened subquery or a
	// view keeps its range-table entry without a node of its own).
	// A relation planned away (ONLY of a partitioned table, a constant-false
	// qual) leaves a dummy Result whose targetlist may print its columns
	// unprefixed too; bare names are then not attributed at all.
	x.dummy = hasDummyResult(root)
	if len(x.base) == 1 && len(x.other) == 0 && !x.dummy {
		for alias, rel := range x.base {
			if !prefixedOutput(root, alias) {
				x.bareRel, x.bareAlias = rel, alias
			}
		}
	}
	x.walk(root, nil, "")
	return x.out, nil
}

type extractor struct {
	meta      *dbMeta
	base      map[string]string            // plan alias (as EXPLAIN made it unique) -> schema.table
	other     map[string]bool              // aliases of CTE, subquery, function, VALUES... scans
	bareRel   string                       // the one relation unprefixed columns belong to, or ""
	bareAlias string                       // its plan alias
	printed   map[string][]string          // plan alias -> column names as EXPLAIN prints them, attnum order
	real      map[string]map[string]string // plan alias -> printed name -> catalog name
	out       *planReads
	// noBare is set while walking a subtree with no scan of the bare
	// relation: an unprefixed name there (the targetlist of a dummy Result
	// left where ONLY of a partitioned table planned to nothing, say) is
	// not that relation's column.
	noBare bool
	dummy  bool // the plan has a relation planned away (hasDummyResult)
}

func (x *extractor) aliases(n planNode) error {
	alias, hasAlias := n["Alias"].(string)
	if rel, ok := n["Relation Name"].(string); ok {
		schema, _ := n["Schema"].(string)
		key := schema + "." + rel
		if prev, dup := x.base[alias]; dup && prev != key {
			return fmt.Errorf("plan alias %q names both %s and %s", alias, prev, key)
		}
		x.base[alias] = key
		x.out.scanned[key] = true
	} else if hasAlias {
		x.other[alias] = true
	}
	for _, c := range children(n) {
		if err := x.aliases(c); err != nil {
			return err
		}
	}
	return nil
}

// prefixedOutput says whether some targetlist of the plan names a column
// as alias.col.
func prefixedOutput(n planNode, alias string) bool {
	out, _ := n["Output"].([]any)
	for _, o := range out {
		s, _ := o.(string)
		toks := lex(s)
		for i := 0; i+2 < len(toks); i++ {
			if toks[i].kind == tkIdent && toks[i].val == alias && toks[i+1].kind == tkPunct && toks[i+1].val == "." &&
				toks[i+2].kind == tkIdent && (i == 0 || toks[i-1].val != ".") {
				return true
			}
		}
	}
	for _, c := range children(n) {
		if prefixedOutput(c, alias) {
			return true
		}
	}
	return false
}

func children(n planNode) []planNode {
	ps, _ := n["Plans"].([]any)
	out := make([]planNode, 0, len(ps))
	for _, p := range ps {
		if c, ok := p.(planNode); ok {
			out = append(out, c)
		}
	}
	return out
}

// hasDummyResult reports whether the plan has a Result node with a
// constant-false filter (what a relation planned away leaves).
func hasDummyResult(n planNode) bool {
	if n["Node Type"] == "Result" && n["One-Time Filter"] == "false" {
		return true
	}
	for _, c := range children(n) {
		if hasDummyResult(c) {
			return true
		}
	}
	return false
}

// scansAlias reports whether n or a node below it scans plan alias alias.
func scansAlias(n planNode, alias string) bool {
	if a, _ := n["Alias"].(string); a == alias {
		if _, ok := n["Relation Name"]; ok {
			return true
		}
	}
	for _, c := range children(n) {
		if scansAlias(c, alias) {
			return true
		}
	}
	return false
}

// walk collects the reads of n and its children. parent is nil at the top.
func (x *extractor) walk(n, parent planNode, rel string) {
	saved := x.noBare
	if x.bareRel != "" && !scansAlias(n, x.bareAlias) {
		x.noBare = true
	}
	defer func() { x.noBare = saved }()
	for k, v := range n {
		if k == "Plans" || metaKeys[k] {
			continue
		}
		if k == "Output" && !x.outputCounts(n, parent, rel) {
			// Still look for function calls: a call is made whatever
			// reads the result.
			x.strings(v, true)
			continue
		}
		x.strings(v, false)
	}
	for _, c := range children(n) {
		r, _ := c["Parent Relationship"].(string)
		x.walk(c, n, r)
	}
}

// outputCounts says whether n's targetlist is evidence of reads. It is,
// except when it may be a "physical" targetlist: the planner lets a scan
// below a join, an aggregate and a few other nodes return every column of
// the table (build_physical_tlist), whether the query needs it or not, and
// nodes that pass rows through (Hash, Materialize, Limit, Sort…) repeat it.
// A targetlist that is exactly every column of one relation, in order, on
// a node that is not a root (the top, an InitPlan, SubPlan, subquery or
// Append member, which always get exact targetlists), is ignored: the
// columns the query does use from it are then named by the consuming
// node's own targetlist, quals or keys.
func (x *extractor) outputCounts(n, parent planNode, rel string) bool {
	if parent == nil || rootRelationships[rel] {
		return true
	}
	switch parent["Node Type"] {
	case "Append", "Merge Append", "Recursive Union":
		// These print no targetlist (and plan their children with exact
		// ones): the children's is the one that tells. A node with an
		// empty targetlist prints none either (a join under count(*)),
		// but that says its children's columns are not needed.
		return true
	}
	out, _ := n["Output"].([]any)
	return !x.physical(out)
}

func (x *extractor) physical(out []any) bool {
	if len(out) == 0 {
		return false
	}
	for alias := range x.base {
		names := x.printed[alias]
		if len(names) != len(out) {
			continue
		}
		// Prefixed, or not when the range table has one entry.
		for _, prefix := range []string{quoteIdent(alias) + ".", ""} {
			match := true
			for i, c := range names {
				if s, _ := out[i].(string); s != prefix+quoteIdent(c) {
					match = false
					break
				}
			}
			if match {
				return true
			}
		}
	}
	return false
}

// strings extracts reads (unless callsOnly) and calls from every string in
// v (a string, or arrays and objects of them: Grouping Sets nest).
func (x *extractor) strings(v any, callsOnly bool) {
	switch v := v.(type) {
	case string:
		x.expr(v, callsOnly)
	case []any:
		for _, e := range v {
			x.strings(e, callsOnly)
		}
	case map[string]any:
		for k, e := range v {
			if !metaKeys[k] {
				x.strings(e, callsOnly)
			}
		}
	}
}

// read records a read of column col (as printed, or "*") through plan
// alias alias.
func (x *extractor) read(alias, col string) {
	if c, ok := x.real[alias][col]; ok {
		col = c
	}
	x.out.reads[read{x.base[alias], col}] = true
}

// bareColumn says whether an unprefixed name is a column (as printed) or a
// system column of the single relation.
func (x *extractor) bareColumn(name string) bool {
	if _, ok := x.real[x.bareAlias][name]; ok {
		return true
	}
	if rm := x.meta.rels[x.bareRel]; rm != nil {
		for _, c := range rm.system {
			if c == name {
				return true
			}
		}
	}
	return false
}

// expr scans one deparsed expression (ruleutils output) for column
// references alias.col, whole-row references alias.* (and a bare alias),
// unprefixed columns of the single relation, and function calls.
func (x *extractor) expr(s string, callsOnly bool) {
	toks := lex(s)
	skip := make([]bool, len(toks))
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.kind {
		case tkCast:
			// A type name follows: public.address, character varying(10)[],
			// timestamp with time zone, interval year to month…
			j := i + 1
			j = skipQualified(toks, j, skip)
			for j < len(toks) {
				switch {
				case toks[j].kind == tkIdent && !toks[j].quoted && typeWords[toks[j].val]:
					skip[j] = true
					j++
				case toks[j].kind == tkPunct && toks[j].val == "(":
					j = skipParens(toks, j, skip)
				case toks[j].kind == tkPunct && toks[j].val == "[" && j+1 < len(toks) && toks[j+1].val == "]":
					j += 2
				default:
					goto done
				}
			}
		done:
			continue
		case tkKeyword:
			switch t.val {
			case "EXTRACT":
				// EXTRACT(year FROM x): the field is a bare word.
				if i+2 < len(toks) && toks[i+1].val == "(" && toks[i+2].kind == tkIdent {
					skip[i+2] = true
				}
			case "COLLATE":
				skipQualified(toks, i+1, skip)
			}
			continue
		case tkIdent:
		default:
			continue
		}
		if skip[i] || (i > 0 && toks[i-1].kind == tkPunct && toks[i-1].val == ".") {
			continue
		}
		// A (possibly qualified) name: parts[0].parts[1]…
		parts := []token{t}
		j := i + 1
		for j+1 < len(toks) && toks[j].kind == tkPunct && toks[j].val == "." &&
			(toks[j+1].kind == tkIdent || toks[j+1].kind == tkStar) {
			parts = append(parts, toks[j+1])
			j += 2
		}
		next := token{}
		if j < len(toks) {
			next = toks[j]
		}
		if next.kind == tkPunct && next.val == "(" {
			x.out.calls[parts[len(parts)-1].val] = true
			continue
		}
		if callsOnly {
			continue
		}
		if next.kind == tkOp && next.val == "=>" {
			continue // a named argument
		}
		if !t.quoted && bareWords[t.val] {
			continue
		}
		if len(parts) >= 2 {
			if _, ok := x.base[parts[0].val]; !ok {
				continue // a CTE, subquery, function or VALUES column, or an inheritance parent's alias
			}
			if parts[1].kind == tkStar {
				x.read(parts[0].val, "*")
			} else {
				x.read(parts[0].val, parts[1].val)
			}
			continue
		}
		if x.bareRel != "" && !x.noBare && x.bareColumn(t.val) {
			x.read(x.bareAlias, t.val)
			continue
		}
		if _, ok := x.base[t.val]; ok && !x.dummy {
			// A whole-row reference printed without .* (beside a relation
			// planned away, a bare name may be that relation's column).
			x.read(t.val, "*")
		}
	}
}

// typeWords are the words that may follow a type's first word in
// format_type output.
var typeWords = map[string]bool{
	"with": true, "without": true, "time": true, "zone": true, "varying": true, "precision": true,
	"year": true, "month": true, "day": true, "hour": true, "minute": true, "second": true, "to": true,
}

// bareWords are lower-case words ruleutils prints unquoted that are not
// names: boolean constants and "hashed SubPlan".
var bareWords = map[string]bool{"true": true, "false": true, "hashed": true}

func skipQualified(toks []token, j int, skip []bool) int {
	if j < len(toks) && toks[j].kind == tkIdent {
		skip[j] = true
		j++
		for j+1 < len(toks) && toks[j].val == "." && toks[j].kind == tkPunct && toks[j+1].kind == tkIdent {
			skip[j+1] = true
			j += 2
		}
	}
	return j
}

func skipParens(toks []token, j int, skip []bool) int {
	depth := 0
	for ; j < len(toks); j++ {
		if toks[j].kind == tkPunct {
			switch toks[j].val {
			case "(":
				depth++
			case ")":
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		skip[j] = true
	}
	return j
}

type tokKind int

const (
	tkNone    tokKind = iota
	tkIdent           // a name: unquoted lower case, or quoted
	tkKeyword         // an unquoted word with an upper-case letter (ruleutils spells keywords so)
	tkString          // '…' or E'…'
	tkNumber          // 1, 1.5, 1e10
	tkParam           // $1
	tkCast            // ::
	tkStar            // *
	tkPunct           // ( ) [ ] , . ;
	tkOp              // any other operator
)

type token struct {
	kind   tokKind
	val    string
	quoted bool
}

// lex splits ruleutils output into tokens. It need not be a full SQL
// lexer: its input is what PostgreSQL itself deparsed, so identifiers are
// either lower-case [a-z_][a-z0-9_]* or double-quoted (quote_ident), and
// string constants are '…' with quotes doubled, or E'…' with backslashes
// doubled too.
func lex(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			esc := len(out) > 0 && out[len(out)-1].kind == tkKeyword && out[len(out)-1].val == "E" && i > 0 && s[i-1] == 'E'
			if esc {
				out = out[:len(out)-1]
			}
			j := i + 1
			for j < len(s) {
				if esc && s[j] == '\\' {
					j += 2
					continue
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			out = append(out, token{kind: tkString, val: s[i:min(j+1, len(s))]})
			i = j + 1
		case c == '"':
			var b strings.Builder
			j := i + 1
			for j < len(s) {
				if s[j] == '"' {
					if j+1 < len(s) && s[j+1] == '"' {
						b.WriteByte('"')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, token{kind: tkIdent, val: b.String(), quoted: true})
			i = j + 1
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80:
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == '$' || (s[j] >= 'a' && s[j] <= 'z') ||
				(s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9') || s[j] >= 0x80) {
				j++
			}
			w := s[i:j]
			if strings.ToLower(w) != w {
				out = append(out, token{kind: tkKeyword, val: w})
			} else {
				out = append(out, token{kind: tkIdent, val: w})
			}
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (s[j] == '.' || (s[j] >= '0' && s[j] <= '9') || s[j] == 'e' || s[j] == 'E' ||
				((s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			out = append(out, token{kind: tkNumber, val: s[i:j]})
			i = j
		case c == '$':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			out = append(out, token{kind: tkParam, val: s[i:j]})
			i = max(j, i+1)
		case c == ':' && i+1 < len(s) && s[i+1] == ':':
			out = append(out, token{kind: tkCast, val: "::"})
			i += 2
		case c == '*':
			out = append(out, token{kind: tkStar, val: "*"})
			i++
		case strings.IndexByte("()[],.;", c) >= 0:
			out = append(out, token{kind: tkPunct, val: string(c)})
			i++
		default:
			j := i
			for j < len(s) && strings.IndexByte("+-/<>=~!@#%^&|`?:", s[j]) >= 0 {
				j++
			}
			if j == i {
				j = i + 1
			}
			out = append(out, token{kind: tkOp, val: s[i:j]})
			i = j
		}
	}
	return out
}

// quoteIdent quotes a name as PostgreSQL's quote_identifier does (keywords
// aside, which the relations of the corpora do not use unquoted).
func quoteIdent(s string) string {
	safe := s != "" && (s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z'))
	for i := 0; safe && i < len(s); i++ {
		c := s[i]
		safe = c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
	}
	if safe && !reservedWords[s] {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// reservedWords are the keywords quote_identifier quotes (every keyword
// that is not UNRESERVED_KEYWORD) that can plausibly be column names.
var reservedWords = map[string]bool{
	"all": true, "analyse": true, "analyze": true, "and": true, "any": true, "array": true, "as": true,
	"asc": true, "asymmetric": true, "authorization": true, "between": true, "bigint": true, "binary": true,
	"bit": true, "boolean": true, "both": true, "case": true, "cast": true, "char": true, "character": true,
	"check": true, "coalesce": true, "collate": true, "collation": true, "column": true, "concurrently": true,
	"constraint": true, "create": true, "cross": true, "current_catalog": true, "current_date": true,
	"current_role": true, "current_schema": true, "current_time": true, "current_timestamp": true,
	"current_user": true, "dec": true, "decimal": true, "default": true, "deferrable": true, "desc": true,
	"distinct": true, "do": true, "else": true, "end": true, "except": true, "exists": true, "extract": true,
	"false": true, "fetch": true, "float": true, "for": true, "foreign": true, "freeze": true, "from": true,
	"full": true, "grant": true, "greatest": true, "group": true, "grouping": true, "having": true, "ilike": true,
	"in": true, "initially": true, "inner": true, "inout": true, "int": true, "integer": true, "intersect": true,
	"interval": true, "into": true, "is": true, "isnull": true, "join": true, "lateral": true, "leading": true,
	"least": true, "left": true, "like": true, "limit": true, "localtime": true, "localtimestamp": true,
	"national": true, "natural": true, "nchar": true, "none": true, "normalize": true, "not": true,
	"notnull": true, "null": true, "nullif": true, "numeric": true, "offset": true, "on": true, "only": true,
	"or": true, "order": true, "out": true, "outer": true, "overlaps": true, "overlay": true, "placing": true,
	"position": true, "precision": true, "primary": true, "real": true, "references": true, "returning": true,
	"right": true, "row": true, "select": true, "session_user": true, "setof": true, "similar": true,
	"smallint": true, "some": true, "substring": true, "symmetric": true, "system_user": true, "table": true,
	"tablesample": true, "then": true, "time": true, "timestamp": true, "to": true, "trailing": true,
	"treat": true, "trim": true, "true": true, "union": true, "unique": true, "user": true, "using": true,
	"values": true, "varchar": true, "variadic": true, "verbose": true, "when": true, "where": true,
	"window": true, "with": true, "xmlattributes": true, "xmlconcat": true, "xmlelement": true,
	"xmlexists": true, "xmlforest": true, "xmlnamespaces": true, "xmlparse": true, "xmlpi": true,
	"xmlroot": true, "xmlserialize": true, "xmltable": true,
}
