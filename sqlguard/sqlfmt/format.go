// Package sqlfmt lays out a PostgreSQL SELECT statement for a human reader.
//
// It changes only the whitespace between tokens and the case of keywords
// (and drops semicolons), so the laid-out text means what the original
// meant. It checks nothing: whether a query may run is the business of
// package sqlguard, which does not depend on this one.
package sqlfmt

import (
	"strings"
	"unicode/utf8"

	pg "github.com/pganalyze/pg_query_go/v5"
)

// Format lays out a single SELECT statement for a human reader. It works on
// pg_query.Scan tokens: every literal, quoted identifier, dollar quote,
// operator and comment is kept byte for byte, keywords may change case,
// semicolons are dropped, and only the whitespace between tokens changes. So
// pg_query.Fingerprint(Format(sql)) == pg_query.Fingerprint(sql), and Format
// is idempotent.
//
// Text that does not parse as exactly one SELECT (VALUES and TABLE t are
// SELECTs), or cannot be scanned, is returned unchanged; so is any result
// that would not scan back to the same tokens (a safety net, never expected
// to trigger).
//
// Layout, at each query level (the statement, and every parenthesised query:
// subqueries, CTE bodies, set-operation branches):
//
//   - each clause starts a line: WITH, SELECT, FROM, WHERE, GROUP BY,
//     HAVING, WINDOW, ORDER BY, LIMIT, OFFSET, FETCH, FOR, VALUES, and
//     UNION / INTERSECT / EXCEPT [ALL | DISTINCT] on a line of their own;
//   - the select list stays on the SELECT line when it has at most 3 items,
//     fits in 80 columns and holds no subquery, no line break and no line
//     comment but at its end; otherwise each item gets its own line,
//     indented by 2;
//   - each JOIN ([NATURAL] [INNER | CROSS | LEFT | RIGHT | FULL [OUTER]]
//     JOIN) starts a line indented by 2 under FROM; each CTE after the first
//     starts a line;
//   - AND and OR at the top level of WHERE, HAVING and JOIN … ON start a
//     line indented by 2 (not the AND of BETWEEN, nor inside CASE or
//     parentheses);
//   - a parenthesised query is laid out recursively, 2 spaces deeper than
//     the line holding its "(", and its ")" starts a line at that line's
//     indent; other parentheses (calls, IN lists, expressions) stay inline;
//     indentation stops growing at 40 spaces;
//   - one space between tokens, none inside ( ) and [ ], before , or
//     around . :: and array-slice colons, none between a function or type
//     name and its "(", none after a unary sign;
//   - a comment that started a line in the input starts a line in the
//     output; a -- comment is always followed by a line break (also at the
//     end of the text).
//
// Upper-case rule. The lexer folds unquoted keywords to lower case, so
// changing their case never changes the query; the rule only decides what
// reads as syntax. Upper-cased are:
//
//   - reserved keywords (SELECT, FROM, AND, NULL, CASE, CAST, DISTINCT…),
//     except where they are names: after a dot (t.order) or as an output
//     label after AS (AS from);
//   - type_func_name keywords used as operators or join words (JOIN, LEFT
//     JOIN, IS, LIKE, ILIKE, SIMILAR, OVERLAPS…), but not when they name a
//     function (left(s, 3)) or a label;
//   - unreserved and col_name keywords only in fixed phrases where they
//     cannot be names: GROUP/ORDER/PARTITION BY, OVER, FILTER (…), WITHIN
//     GROUP, WITH RECURSIVE, [NOT] MATERIALIZED, NULLS FIRST/LAST, FETCH
//     FIRST/NEXT … ROW(S) ONLY / WITH TIES, frame clauses (ROWS/RANGE/GROUPS
//     BETWEEN, UNBOUNDED PRECEDING/FOLLOWING, CURRENT ROW), WITH ORDINALITY,
//     ROWS FROM, AT TIME ZONE, WITH/WITHOUT TIME ZONE, GROUPING SETS, IS
//     UNKNOWN, LIKE … ESCAPE, BETWEEN, EXISTS (…), and VALUES as a clause.
//
// Everything else keeps its spelling: identifiers, quoted identifiers,
// function and type names even when they are keywords (count, coalesce,
// extract, numeric, interval), and unreserved keywords that name columns
// (year, position, name).
func Format(sql string) string {
	out, _ := format(sql, false)
	return out
}

// FormatChecked is Format for a text the caller vouches is exactly one
// SELECT, such as the SQL() of a query that passed sqlguard.Check, and so
// skips Format's parse. On such a text it returns what Format returns.
//
// Do not give it unchecked text: without the parse nothing stops it from
// laying out a text that is not one SELECT, and since semicolons are
// dropped, "SELECT 1; DROP TABLE t" would come out as one statement. A
// text with a NUL byte, one that cannot be scanned and one that trips the
// safety net are still returned unchanged.
func FormatChecked(sql string) string {
	out, _ := format(sql, true)
	return out
}

// format is Format; checked skips the parse (FormatChecked). ok is false
// when sql is returned unchanged because it is not one SELECT or the
// safety net tripped.
func format(sql string, checked bool) (out string, ok bool) {
	if strings.IndexByte(sql, 0) >= 0 {
		return sql, false // pg_query reads a C string: it would not see the rest
	}
	if !checked {
		tree, err := pg.Parse(sql)
		if err != nil || len(tree.Stmts) != 1 || tree.Stmts[0].GetStmt().GetSelectStmt() == nil {
			return sql, false
		}
	}
	res, err := pg.Scan(sql)
	if err != nil {
		return sql, false
	}
	toks, ok := formatTokens(sql, res.Tokens)
	if !ok || len(toks) == 0 {
		return sql, false
	}
	f := &formatter{t: toks, p: &printer{atStart: true}}
	f.caseKeywords()
	f.query(0, len(toks), 0)
	out = f.p.b.String()
	if f.p.brk {
		out += "\n" // a -- comment at the very end
	}
	if !sameTokens(out, toks) {
		return sql, false
	}
	return out, true
}

// Single-character tokens, by their pg_query names.
const (
	tkLParen   = pg.Token_ASCII_40
	tkRParen   = pg.Token_ASCII_41
	tkStar     = pg.Token_ASCII_42
	tkPlus     = pg.Token_ASCII_43
	tkComma    = pg.Token_ASCII_44
	tkMinus    = pg.Token_ASCII_45
	tkDot      = pg.Token_ASCII_46
	tkColon    = pg.Token_ASCII_58
	tkSemi     = pg.Token_ASCII_59
	tkLBracket = pg.Token_ASCII_91
	tkRBracket = pg.Token_ASCII_93
)

type ftok struct {
	typ     pg.Token
	kind    pg.KeywordKind
	text    string
	ownLine bool // a comment that starts a line (or the text)
	match   int  // for ( ) [ ]: the index of the other bracket
	query   bool // a "(" that opens a query
	unary   bool // a prefix + or -
}

func isComment(t pg.Token) bool { return t == pg.Token_SQL_COMMENT || t == pg.Token_C_COMMENT }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// formatTokens turns scanner tokens into ftoks, without semicolons, with
// brackets matched and query parentheses marked. It fails if the scanner
// skipped anything but whitespace or the brackets do not balance.
func formatTokens(sql string, st []*pg.ScanToken) ([]ftok, bool) {
	toks := make([]ftok, 0, len(st))
	prevEnd := 0
	var stack []int
	for k, s := range st {
		start, end, ok := tokenSpan(sql, st, k)
		if !ok || start < prevEnd {
			return nil, false
		}
		gap := sql[prevEnd:start]
		for i := 0; i < len(gap); i++ {
			if !isSpace(gap[i]) {
				return nil, false
			}
		}
		first := prevEnd == 0
		prevEnd = end
		if s.Token == tkSemi {
			continue
		}
		t := ftok{typ: s.Token, kind: s.KeywordKind, text: sql[start:end], match: -1}
		if isComment(t.typ) {
			t.ownLine = first || strings.ContainsAny(gap, "\n\r")
		}
		i := len(toks)
		switch t.typ {
		case tkLParen, tkLBracket:
			stack = append(stack, i)
		case tkRParen, tkRBracket:
			if len(stack) == 0 {
				return nil, false
			}
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if (toks[o].typ == tkLParen) != (t.typ == tkRParen) {
				return nil, false
			}
			toks[o].match, t.match = i, o
		}
		toks = append(toks, t)
		if t.typ == tkRParen {
			o := toks[i].match
			toks[o].query = isQueryParen(toks, o, i)
		}
	}
	for i := prevEnd; i < len(sql); i++ {
		if !isSpace(sql[i]) {
			return nil, false
		}
	}
	return toks, len(stack) == 0
}

// isQueryParen reports whether the parentheses at o and c enclose a query:
// they start with SELECT, WITH, TABLE or VALUES (…), or with a
// parenthesised query followed by a set operation, ORDER BY, LIMIT, OFFSET,
// FETCH or nothing. Inner parentheses are classified first.
func isQueryParen(toks []ftok, o, c int) bool {
	k := nextSig(toks, o)
	if k >= c {
		return false
	}
	switch toks[k].typ {
	case pg.Token_SELECT, pg.Token_WITH, pg.Token_TABLE:
		return true
	case pg.Token_VALUES:
		n := nextSig(toks, k)
		return n < c && toks[n].typ == tkLParen
	case tkLParen:
		if !toks[k].query {
			return false
		}
		m := nextSig(toks, toks[k].match)
		if m == c {
			return true
		}
		switch toks[m].typ {
		case pg.Token_UNION, pg.Token_INTERSECT, pg.Token_EXCEPT, pg.Token_ORDER,
			pg.Token_LIMIT, pg.Token_OFFSET, pg.Token_FETCH:
			return true
		}
	}
	return false
}

// nextSig returns the index of the next token after i that is not a
// comment, or len(toks).
func nextSig(toks []ftok, i int) int {
	for i++; i < len(toks) && isComment(toks[i].typ); i++ {
	}
	return i
}

// prevSig returns the index of the previous token before i that is not a
// comment, or -1.
func prevSig(toks []ftok, i int) int {
	for i--; i >= 0 && isComment(toks[i].typ); i-- {
	}
	return i
}

// tokenSpan returns the byte range of token k. The scanner reports an empty
// or one-byte range for U&'…' and U&"…" (USCONST, UIDENT); they end where
// the whitespace before the next token begins.
func tokenSpan(sql string, st []*pg.ScanToken, k int) (start, end int, ok bool) {
	start, end = int(st[k].Start), int(st[k].End)
	if st[k].Token == pg.Token_USCONST || st[k].Token == pg.Token_UIDENT {
		end = len(sql)
		if k+1 < len(st) {
			end = int(st[k+1].Start)
		}
		for end > start && isSpace(sql[end-1]) {
			end--
		}
	}
	return start, end, start >= 0 && end > start && end <= len(sql)
}

// sameTokens reports whether out scans to the tokens toks (keywords compared
// without case) with only whitespace between them.
func sameTokens(out string, toks []ftok) bool {
	res, err := pg.Scan(out)
	if err != nil || len(res.Tokens) != len(toks) {
		return false
	}
	prevEnd := 0
	for i, s := range res.Tokens {
		start, end, ok := tokenSpan(out, res.Tokens, i)
		if !ok || start < prevEnd || s.Token != toks[i].typ {
			return false
		}
		for j := prevEnd; j < start; j++ {
			if !isSpace(out[j]) {
				return false
			}
		}
		prevEnd = end
		text := out[start:end]
		if text != toks[i].text && !(s.KeywordKind != pg.KeywordKind_NO_KEYWORD && strings.EqualFold(text, toks[i].text)) {
			return false
		}
	}
	return strings.TrimLeft(out[prevEnd:], " \t\n\r\f\v") == ""
}

// --- keyword case -----------------------------------------------------------

type formatter struct {
	t []ftok
	p *printer
}

func (f *formatter) typ(i int) pg.Token {
	if i < 0 || i >= len(f.t) {
		return pg.Token_NUL
	}
	return f.t[i].typ
}

// caseKeywords upper-cases the keywords that act as syntax (see Format)
// and marks prefix signs.
func (f *formatter) caseKeywords() {
	up := make([]bool, len(f.t))
	for i := range f.t {
		up[i] = f.t[i].kind != pg.KeywordKind_NO_KEYWORD && f.upper(i)
	}
	for i := range f.t {
		if up[i] {
			f.t[i].text = strings.ToUpper(f.t[i].text)
		}
	}
	for i := range f.t {
		if ty := f.t[i].typ; ty == tkMinus || ty == tkPlus {
			p := prevSig(f.t, i)
			f.t[i].unary = p < 0 || !endsOperand(&f.t[p])
		}
	}
}

func (f *formatter) upper(i int) bool {
	t := f.t[i]
	pi, ni := prevSig(f.t, i), nextSig(f.t, i)
	p, n := f.typ(pi), f.typ(ni)
	if p == tkDot || n == tkDot {
		return false // a name: t.order, or a qualifier
	}
	switch t.kind {
	case pg.KeywordKind_RESERVED_KEYWORD:
		// After AS a reserved keyword is an output label (AS from), except
		// NOT of AS NOT MATERIALIZED.
		return p != pg.Token_AS || t.typ == pg.Token_NOT || n == tkLParen
	case pg.KeywordKind_TYPE_FUNC_NAME_KEYWORD:
		switch t.typ {
		case pg.Token_JOIN, pg.Token_INNER_P, pg.Token_LEFT, pg.Token_RIGHT, pg.Token_FULL,
			pg.Token_OUTER_P, pg.Token_CROSS, pg.Token_NATURAL:
			return f.joinWord(i)
		}
		return n != tkLParen && p != pg.Token_AS
	}
	if p == pg.Token_AS && t.typ != pg.Token_MATERIALIZED {
		return false // a label, or a type name after CAST(… AS
	}
	pp := f.typ(prevSig(f.t, pi))
	nn := f.typ(nextSig(f.t, ni))
	switch t.typ {
	case pg.Token_BETWEEN:
		return true
	case pg.Token_EXISTS:
		return n == tkLParen
	case pg.Token_VALUES:
		if n != tkLParen {
			return false
		}
		switch p {
		case pg.Token_NUL, tkLParen, pg.Token_UNION, pg.Token_INTERSECT, pg.Token_EXCEPT, pg.Token_ALL, pg.Token_DISTINCT:
			return true
		}
		return false
	case pg.Token_BY:
		return p == pg.Token_GROUP_P || p == pg.Token_ORDER || p == pg.Token_PARTITION
	case pg.Token_PARTITION:
		return n == pg.Token_BY
	case pg.Token_OVER:
		return p == tkRParen
	case pg.Token_FILTER:
		return p == tkRParen && n == tkLParen
	case pg.Token_WITHIN:
		return n == pg.Token_GROUP_P
	case pg.Token_RECURSIVE:
		return p == pg.Token_WITH
	case pg.Token_MATERIALIZED:
		return (p == pg.Token_AS || p == pg.Token_NOT) && n == tkLParen
	case pg.Token_NULLS_P:
		return n == pg.Token_FIRST_P || n == pg.Token_LAST_P
	case pg.Token_FIRST_P, pg.Token_LAST_P:
		return p == pg.Token_NULLS_P || p == pg.Token_FETCH
	case pg.Token_NEXT:
		return p == pg.Token_FETCH
	case pg.Token_ROW, pg.Token_ROWS:
		switch n {
		case pg.Token_ONLY, pg.Token_WITH, pg.Token_FETCH, pg.Token_NUL:
			return true
		case pg.Token_BETWEEN, pg.Token_UNBOUNDED, pg.Token_CURRENT_P:
			return t.typ == pg.Token_ROWS
		case pg.Token_FROM:
			return t.typ == pg.Token_ROWS && nn == tkLParen
		}
		return p == pg.Token_CURRENT_P && t.typ == pg.Token_ROW
	case pg.Token_RANGE, pg.Token_GROUPS:
		return n == pg.Token_BETWEEN || n == pg.Token_UNBOUNDED || n == pg.Token_CURRENT_P
	case pg.Token_UNBOUNDED:
		return n == pg.Token_PRECEDING || n == pg.Token_FOLLOWING
	case pg.Token_PRECEDING, pg.Token_FOLLOWING:
		switch p {
		case pg.Token_UNBOUNDED, pg.Token_ICONST, pg.Token_FCONST, pg.Token_SCONST, tkRParen:
			return true
		}
		return n == pg.Token_AND || n == tkRParen
	case pg.Token_CURRENT_P:
		return n == pg.Token_ROW
	case pg.Token_TIES, pg.Token_ORDINALITY:
		return p == pg.Token_WITH
	case pg.Token_AT:
		return n == pg.Token_TIME || n == pg.Token_LOCAL
	case pg.Token_TIME:
		return (p == pg.Token_AT || p == pg.Token_WITH || p == pg.Token_WITHOUT) && n == pg.Token_ZONE
	case pg.Token_WITHOUT:
		return n == pg.Token_TIME && nn == pg.Token_ZONE
	case pg.Token_ZONE:
		return p == pg.Token_TIME && (pp == pg.Token_AT || pp == pg.Token_WITH || pp == pg.Token_WITHOUT)
	case pg.Token_LOCAL:
		return p == pg.Token_AT
	case pg.Token_GROUPING:
		return n == pg.Token_SETS
	case pg.Token_SETS:
		return p == pg.Token_GROUPING
	case pg.Token_UNKNOWN:
		return p == pg.Token_IS || (p == pg.Token_NOT && pp == pg.Token_IS)
	case pg.Token_ESCAPE:
		return n == pg.Token_SCONST
	case pg.Token_REPEATABLE:
		return p == tkRParen && n == tkLParen
	}
	return false
}

// joinWord reports whether the join keyword at i is part of a join
// ([NATURAL] [INNER | CROSS | LEFT | RIGHT | FULL [OUTER]] JOIN).
func (f *formatter) joinWord(i int) bool {
	for ; i < len(f.t); i = nextSig(f.t, i) {
		switch f.t[i].typ {
		case pg.Token_JOIN:
			return true
		case pg.Token_INNER_P, pg.Token_LEFT, pg.Token_RIGHT, pg.Token_FULL,
			pg.Token_OUTER_P, pg.Token_CROSS, pg.Token_NATURAL:
		default:
			return false
		}
	}
	return false
}

// joinStart reports whether a join begins at i, and returns the index of
// its JOIN keyword.
func (f *formatter) joinStart(i int) (int, bool) {
	switch f.t[i].typ {
	case pg.Token_JOIN, pg.Token_INNER_P, pg.Token_LEFT, pg.Token_RIGHT, pg.Token_FULL,
		pg.Token_CROSS, pg.Token_NATURAL:
	default:
		return 0, false
	}
	for j := i; j < len(f.t); j = nextSig(f.t, j) {
		switch f.t[j].typ {
		case pg.Token_JOIN:
			return j, true
		case pg.Token_INNER_P, pg.Token_LEFT, pg.Token_RIGHT, pg.Token_FULL,
			pg.Token_OUTER_P, pg.Token_CROSS, pg.Token_NATURAL:
		default:
			return 0, false
		}
	}
	return 0, false
}

// --- printer ----------------------------------------------------------------

// maxFormatIndent caps the indentation, so that deeply nested queries do not
// grow quadratically.
const maxFormatIndent = 40

// printer writes tokens with the spacing rules and tracks the line.
type printer struct {
	b       strings.Builder
	atStart bool // nothing written on the current line yet
	ind     int  // indent of the current line
	col     int  // width of the current line so far
	prev    *ftok
	cont    int  // indent of a line break forced inside a construct
	brk     bool // a -- comment was written: break before the next token
	brkInd  int
}

// nl ends the current line (if anything is on it); the next token starts a
// line indented by ind.
func (p *printer) nl(ind int) {
	if !p.atStart {
		p.b.WriteByte('\n')
		p.atStart = true
		p.col = 0
	}
	p.ind = ind
	p.brk = false
}

func (p *printer) write(t *ftok) {
	switch {
	case isComment(t.typ) && t.ownLine && (p.brk || !p.atStart):
		p.nl(p.cont)
	case p.brk:
		p.nl(p.brkInd)
	}
	lineStart := p.atStart
	if p.atStart {
		ind := min(p.ind, maxFormatIndent)
		for range ind {
			p.b.WriteByte(' ')
		}
		p.col = ind
		p.atStart = false
	} else if needSpace(p.prev, t) {
		p.b.WriteByte(' ')
		p.col++
	}
	p.b.WriteString(t.text)
	if i := strings.LastIndexByte(t.text, '\n'); i >= 0 {
		p.col = utf8.RuneCountInString(t.text[i+1:])
	} else {
		p.col += utf8.RuneCountInString(t.text)
	}
	if t.typ == pg.Token_SQL_COMMENT {
		p.brk = true
		p.brkInd = p.cont
		if lineStart {
			p.brkInd = p.ind
		}
	}
	p.prev = t
}

// needSpace decides the space between two tokens on one line. Gluing is
// only done where the lexer cannot join the two tokens into one.
func needSpace(a, b *ftok) bool {
	if a == nil {
		return false
	}
	switch b.typ {
	case tkComma, tkRParen, tkRBracket:
		return false
	}
	if isComment(a.typ) || isComment(b.typ) {
		return true
	}
	switch a.typ {
	case tkLParen, tkLBracket:
		return false
	}
	if a.typ == tkDot || b.typ == tkDot {
		return isNumber(a.typ) || isNumber(b.typ)
	}
	if a.typ == pg.Token_TYPECAST || b.typ == pg.Token_TYPECAST || a.typ == tkColon || b.typ == tkColon {
		return false
	}
	if a.unary && (isOperand(b) || b.typ == tkLParen) {
		return false
	}
	if a.typ == pg.Token_NCHAR && len(a.text) == 1 && b.typ == pg.Token_SCONST {
		return false // N'…' is scanned as NCHAR and a string; N '…' is a typed literal of type n
	}
	switch b.typ {
	case tkLParen:
		return !glueParen(a)
	case tkLBracket:
		return !(a.typ == pg.Token_IDENT || a.typ == tkRParen || a.typ == tkRBracket || a.typ == pg.Token_ARRAY ||
			a.kind == pg.KeywordKind_UNRESERVED_KEYWORD || a.kind == pg.KeywordKind_COL_NAME_KEYWORD)
	}
	return true
}

func isNumber(t pg.Token) bool { return t == pg.Token_ICONST || t == pg.Token_FCONST }

// isOperand reports whether t is a name, a constant or a keyword.
func isOperand(t *ftok) bool {
	switch t.typ {
	case pg.Token_IDENT, pg.Token_UIDENT, pg.Token_ICONST, pg.Token_FCONST, pg.Token_SCONST,
		pg.Token_USCONST, pg.Token_BCONST, pg.Token_XCONST, pg.Token_PARAM:
		return true
	}
	return t.kind != pg.KeywordKind_NO_KEYWORD
}

// endsOperand reports whether an operand can end with t, so that a + or -
// after it is binary: a name, a constant, ")" or "]", or a keyword that is
// a name or a value (NULL, TRUE, END, CURRENT_DATE…).
func endsOperand(t *ftok) bool {
	switch t.typ {
	case pg.Token_IDENT, pg.Token_UIDENT, pg.Token_ICONST, pg.Token_FCONST, pg.Token_SCONST,
		pg.Token_USCONST, pg.Token_BCONST, pg.Token_XCONST, pg.Token_PARAM, tkRParen, tkRBracket, tkStar:
		return true
	case pg.Token_NULL_P, pg.Token_TRUE_P, pg.Token_FALSE_P, pg.Token_END_P, pg.Token_CURRENT_DATE,
		pg.Token_CURRENT_TIME, pg.Token_CURRENT_TIMESTAMP, pg.Token_LOCALTIME, pg.Token_LOCALTIMESTAMP,
		pg.Token_CURRENT_USER, pg.Token_SESSION_USER, pg.Token_CURRENT_ROLE, pg.Token_USER,
		pg.Token_CURRENT_CATALOG, pg.Token_SYSTEM_USER:
		return true
	}
	// A non-reserved keyword left in its spelling is a name.
	return t.kind != pg.KeywordKind_NO_KEYWORD && t.kind != pg.KeywordKind_RESERVED_KEYWORD &&
		t.text != strings.ToUpper(t.text)
}

// glueParen reports whether "(" follows a without a space: a function or
// type name (count(, numeric(, left(), CAST(, ARRAY(, ANY(.
func glueParen(a *ftok) bool {
	switch a.kind {
	case pg.KeywordKind_NO_KEYWORD:
		return a.typ == pg.Token_IDENT || a.typ == pg.Token_UIDENT
	case pg.KeywordKind_RESERVED_KEYWORD:
		switch a.typ {
		case pg.Token_CAST, pg.Token_ARRAY, pg.Token_ANY, pg.Token_SOME, pg.Token_CURRENT_TIME,
			pg.Token_CURRENT_TIMESTAMP, pg.Token_LOCALTIME, pg.Token_LOCALTIMESTAMP:
			return true
		}
		return false
	}
	switch a.typ {
	case pg.Token_OVER, pg.Token_FILTER, pg.Token_VALUES, pg.Token_EXISTS, pg.Token_JOIN, pg.Token_BY,
		pg.Token_BETWEEN, pg.Token_LIKE, pg.Token_ILIKE, pg.Token_SIMILAR, pg.Token_OVERLAPS, pg.Token_IS,
		pg.Token_MATERIALIZED, pg.Token_SETS, pg.Token_REPEATABLE, pg.Token_TABLESAMPLE:
		return false
	}
	return true
}

// --- layout -----------------------------------------------------------------

func (f *formatter) write(i int) { f.p.write(&f.t[i]) }

// inline writes tokens [lo, hi) on the current line, laying out
// parenthesised queries as blocks.
func (f *formatter) inline(lo, hi int) {
	for i := lo; i < hi; i++ {
		if f.t[i].typ == tkLParen && f.t[i].query {
			f.block(i)
			i = f.t[i].match
			continue
		}
		f.write(i)
	}
}

// block writes a parenthesised query: "(", the query 2 deeper than the
// current line, and ")" on a line of its own at the current line's indent.
func (f *formatter) block(o int) {
	c := f.t[o].match
	f.write(o)
	base, cont := f.p.ind, f.p.cont
	f.query(o+1, c, base+2)
	f.p.nl(base)
	f.p.cont = base
	f.write(c)
	f.p.cont = cont
}

type clauseKind int

const (
	clOther clauseKind = iota
	clWith
	clSelect
	clFrom
	clCond // WHERE, HAVING
	clSetOp
)

type clause struct {
	kind      clauseKind
	lead      int // first token: own-line comments before the keyword
	kw        int // the keyword
	body, end int // the tokens after the header
}

// query lays out the query level of tokens [lo, hi) at indent ind.
func (f *formatter) query(lo, hi, ind int) {
	t := f.t
	var cls []clause
	start := true // the next significant token starts a clause
	for i := nextSigFrom(t, lo); i < hi; i = nextSig(t, i) {
		ty := t[i].typ
		isStart := start
		start = false
		kw := ty
		if p := f.typ(prevSig(t, i)); p == pg.Token_AS || p == tkDot {
			kw = pg.Token_NUL // a label or a column: AS from, t.order
		}
		switch kw {
		case pg.Token_SELECT, pg.Token_WHERE, pg.Token_HAVING, pg.Token_WINDOW, pg.Token_LIMIT,
			pg.Token_OFFSET, pg.Token_FETCH, pg.Token_FOR, pg.Token_INTO:
			isStart = true
		case pg.Token_FROM:
			// Not IS [NOT] DISTINCT FROM, nor ROWS FROM (…).
			p := f.typ(prevSig(t, i))
			isStart = isStart || p != pg.Token_DISTINCT && p != pg.Token_ROWS
		case pg.Token_GROUP_P, pg.Token_ORDER:
			isStart = isStart || f.typ(nextSig(t, i)) == pg.Token_BY
		case pg.Token_UNION, pg.Token_INTERSECT, pg.Token_EXCEPT:
			isStart = true
			start = true
		}
		if isStart {
			lead := i
			for lead > lo && isComment(t[lead-1].typ) && t[lead-1].ownLine {
				lead--
			}
			if len(cls) == 0 {
				lead = lo
			}
			if n := len(cls); n > 0 {
				cls[n-1].end = lead
			}
			cls = append(cls, clause{kind: kindOf(ty), lead: lead, kw: i, body: f.header(i, ty, hi)})
			if ty == pg.Token_UNION || ty == pg.Token_INTERSECT || ty == pg.Token_EXCEPT {
				i = prevSig(t, cls[len(cls)-1].body) // the loop moves past ALL/DISTINCT
			}
		}
		if ty == tkLParen || ty == tkLBracket {
			i = t[i].match
		}
	}
	if len(cls) == 0 {
		// Only comments (cannot happen for a statement that parsed).
		f.p.nl(ind)
		f.p.cont = ind
		f.inline(lo, hi)
		return
	}
	// Own-line comments after the last token of the level go on their own
	// lines at ind; trailing comments stay with the last clause.
	last := prevSig(t, hi)
	tail := last + 1
	for tail < hi && !t[tail].ownLine {
		tail++
	}
	cls[len(cls)-1].end = tail
	for _, c := range cls {
		f.p.nl(ind)
		f.p.cont = ind
		if c.lead < c.kw {
			f.inline(c.lead, c.kw)
			f.p.nl(ind)
		}
		f.inline(c.kw, c.body)
		f.p.cont = ind + 2
		switch c.kind {
		case clWith:
			f.list(c.body, c.end, ind, false)
		case clSelect:
			f.selectList(c.body, c.end, ind)
		case clFrom:
			f.fromList(c.body, c.end, ind)
		case clCond:
			f.cond(c.body, c.end, ind+2)
		default:
			f.inline(c.body, c.end)
		}
	}
	for i := tail; i < hi; i++ {
		f.p.cont = ind
		f.write(i)
	}
}

func nextSigFrom(toks []ftok, i int) int {
	if i < len(toks) && !isComment(toks[i].typ) {
		return i
	}
	return nextSig(toks, i)
}

func kindOf(t pg.Token) clauseKind {
	switch t {
	case pg.Token_WITH:
		return clWith
	case pg.Token_SELECT:
		return clSelect
	case pg.Token_FROM:
		return clFrom
	case pg.Token_WHERE, pg.Token_HAVING:
		return clCond
	case pg.Token_UNION, pg.Token_INTERSECT, pg.Token_EXCEPT:
		return clSetOp
	}
	return clOther
}

// header returns the index after the keywords of the clause at i: WITH
// [RECURSIVE], SELECT [ALL | DISTINCT [ON (…)]], GROUP BY, ORDER BY, set
// operations with ALL/DISTINCT; a parenthesised query is a whole clause.
func (f *formatter) header(i int, ty pg.Token, hi int) int {
	t := f.t
	n := nextSig(t, i)
	switch ty {
	case tkLParen:
		if t[i].query {
			return t[i].match + 1
		}
	case pg.Token_WITH:
		if n < hi && t[n].typ == pg.Token_RECURSIVE {
			return n + 1
		}
	case pg.Token_GROUP_P, pg.Token_ORDER:
		if n < hi && t[n].typ == pg.Token_BY {
			return n + 1
		}
	case pg.Token_UNION, pg.Token_INTERSECT, pg.Token_EXCEPT:
		if n < hi && (t[n].typ == pg.Token_ALL || t[n].typ == pg.Token_DISTINCT) {
			return n + 1
		}
	case pg.Token_SELECT:
		if n >= hi {
			break
		}
		switch t[n].typ {
		case pg.Token_ALL:
			return n + 1
		case pg.Token_DISTINCT:
			if m := nextSig(t, n); m < hi && t[m].typ == pg.Token_ON {
				if o := nextSig(t, m); o < hi && t[o].typ == tkLParen {
					return t[o].match + 1
				}
			}
			return n + 1
		}
	}
	return i + 1
}

// items splits tokens [lo, hi) at top-level commas. A comma, and comments
// on its line after it, end the item before.
func (f *formatter) items(lo, hi int) [][2]int {
	var out [][2]int
	s := lo
	for i := lo; i < hi; i++ {
		switch f.t[i].typ {
		case tkLParen, tkLBracket:
			i = f.t[i].match
		case tkComma:
			e := i + 1
			for e < hi && isComment(f.t[e].typ) && !f.t[e].ownLine {
				e++
			}
			out = append(out, [2]int{s, e})
			s, i = e, e-1
		}
	}
	if s < hi {
		out = append(out, [2]int{s, hi})
	}
	return out
}

// selectList writes the select list: on the SELECT line when short, else
// one item per line.
func (f *formatter) selectList(lo, hi, ind int) {
	its := f.items(lo, hi)
	if len(its) == 0 {
		return
	}
	if len(its) <= 3 && f.flat(lo, hi) {
		// Try it on one line. Without subqueries this renders no block, so
		// the trial costs one pass over the items.
		save := f.p
		f.p = &printer{atStart: save.atStart, ind: save.ind, prev: save.prev, cont: save.cont, brk: save.brk, brkInd: save.brkInd}
		f.inline(lo, hi)
		oneLine := f.p.b.String()
		f.p = save
		if !strings.Contains(oneLine, "\n") && save.col+utf8.RuneCountInString(oneLine) <= 80 {
			f.inline(lo, hi)
			return
		}
	}
	f.list(lo, hi, ind+2, true)
}

// flat reports whether tokens [lo, hi) hold no parenthesised query, line
// comment (but at the end) or line break, so they can stay on one line.
func (f *formatter) flat(lo, hi int) bool {
	for i := lo; i < hi; i++ {
		t := &f.t[i]
		if t.query || t.typ == pg.Token_SQL_COMMENT && i < hi-1 || strings.IndexByte(t.text, '\n') >= 0 {
			return false
		}
	}
	return true
}

// list writes comma-separated items each on its own line at ind (the first
// one too when first is set, else after the header).
func (f *formatter) list(lo, hi, ind int, first bool) {
	for k, it := range f.items(lo, hi) {
		if k > 0 || first {
			f.p.nl(ind)
		}
		f.p.cont = ind + 2
		f.inline(it[0], it[1])
	}
}

// fromList writes FROM items, each join on its own line 2 deeper, with the
// AND/OR of its ON condition on lines 4 deeper.
func (f *formatter) fromList(lo, hi, ind int) {
	t := f.t
	seg := lo
	for i := lo; i < hi; i++ {
		if t[i].typ == tkLParen || t[i].typ == tkLBracket {
			i = t[i].match
			continue
		}
		j, ok := f.joinStart(i)
		if !ok || j >= hi {
			continue
		}
		s := i
		for s > seg && isComment(t[s-1].typ) && t[s-1].ownLine {
			s--
		}
		f.joinSegment(seg, s, ind)
		f.p.nl(ind + 2)
		f.p.cont = ind + 4
		seg, i = s, j
	}
	f.joinSegment(seg, hi, ind)
}

// joinSegment writes one FROM item or join, breaking its ON condition.
func (f *formatter) joinSegment(lo, hi, ind int) {
	for i := lo; i < hi; i++ {
		switch f.t[i].typ {
		case tkLParen, tkLBracket:
			i = f.t[i].match
		case pg.Token_ON:
			f.inline(lo, i+1)
			f.cond(i+1, hi, ind+4)
			return
		}
	}
	f.inline(lo, hi)
}

// cond writes a condition, starting a line at ind before each top-level AND
// and OR.
func (f *formatter) cond(lo, hi, ind int) {
	f.p.cont = ind
	between, caseDepth := false, 0
	for i := lo; i < hi; i++ {
		t := &f.t[i]
		switch t.typ {
		case tkLParen, tkLBracket:
			f.inline(i, t.match+1)
			i = t.match
			continue
		case pg.Token_CASE:
			caseDepth++
		case pg.Token_END_P:
			caseDepth--
		case pg.Token_BETWEEN:
			between = true
		case pg.Token_AND:
			if between {
				between = false
			} else if caseDepth == 0 {
				f.p.nl(ind)
			}
		case pg.Token_OR:
			if caseDepth == 0 {
				f.p.nl(ind)
			}
		}
		f.write(i)
	}
}
