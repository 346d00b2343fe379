package sqlguard

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	pg "github.com/pganalyze/pg_query_go/v5"
	pgparser "github.com/pganalyze/pg_query_go/v5/parser"
)

// Query is a statement that passed Check. Only sqlguard constructs one.
type Query struct {
	sql  string
	tree *pg.ParseResult
	c    *compiled

	rels  []*relRule
	funcs []string
	cols  []colRef
	reads []string

	params int // parameters the query takes ($1 … $params): CheckParams

	fpOnce sync.Once
	fp     string

	listsOnce sync.Once
	relNames  []string
	funcNames []string
	colNames  []string
}

// Check validates sql against p. It returns a *Query, or an *Error (as
// error) saying why the statement is rejected. It performs no I/O.
func Check(sql string, p *Policy) (*Query, error) {
	if p == nil {
		return nil, &Error{Code: CodeInvalidPolicy, Message: "no sqlguard policy"}
	}
	c := p.compiled()
	if c.err != nil {
		return nil, c.err
	}
	q, err := check(sql, c, forceReflectWalk || len(schemaDrift) > 0, 0)
	if err != nil {
		return nil, err
	}
	return q, nil
}

// CheckParams is Check for a query that pgmcp built itself with n
// parameters ($1 … $n, each used). A parameter is accepted only as the
// operand of a cast to an allowed type ($1::integer, $2::text[]): a typed
// value, like a typed literal, whatever it holds, since PostgreSQL binds it
// as data and never parses it as SQL. Anywhere else, or numbered outside
// 1 … n, it is refused (CodeParameterNotAllowed), as Check refuses every
// parameter.
func CheckParams(sql string, p *Policy, n int) (*Query, error) {
	if p == nil {
		return nil, &Error{Code: CodeInvalidPolicy, Message: "no sqlguard policy"}
	}
	if n < 1 || n > maxParams {
		return nil, &Error{Code: CodeParameterNotAllowed, Message: "a query built with " + strconv.Itoa(n) + " parameters (1 to " + strconv.Itoa(maxParams) + " are accepted)"}
	}
	c := p.compiled()
	if c.err != nil {
		return nil, c.err
	}
	q, err := check(sql, c, forceReflectWalk || len(schemaDrift) > 0, n)
	if err != nil {
		return nil, err
	}
	return q, nil
}

// maxParams bounds CheckParams' parameters.
const maxParams = 1000

// Params is how many parameters the query takes (0 unless it was checked
// by CheckParams).
func (q *Query) Params() int { return q.params }

func check(sql string, c *compiled, slow bool, params int) (*Query, *Error) {
	if c.err != nil {
		return nil, c.err
	}
	// Before parsing.
	if len(sql) > c.maxSQLBytes {
		return nil, &Error{Code: CodeTooLarge, Message: "the query is longer than " + strconv.Itoa(c.maxSQLBytes) + " bytes"}
	}
	if i := strings.IndexByte(sql, 0); i >= 0 {
		return nil, newError(CodeInvalidEncoding, sql, int32(i), "the query contains a NUL byte")
	}
	if !utf8.ValidString(sql) {
		return nil, &Error{Code: CodeInvalidEncoding, Message: "the query is not valid UTF-8"}
	}
	if strings.TrimSpace(sql) == "" {
		return nil, &Error{Code: CodeEmpty, Message: "the query is empty"}
	}
	if strings.IndexByte(sql, '\\') >= 0 {
		if err := lexerDifferential(sql); err != nil {
			return nil, err
		}
	}

	tree, err := pg.Parse(sql)
	if err != nil {
		var pe *pgparser.Error
		if errors.As(err, &pe) {
			return nil, withPosition(CodeSyntaxError, cleanParserMessage(pe.Message), pe.Cursorpos)
		}
		// The parse tree could not be decoded: protobuf's nesting limit.
		return nil, &Error{Code: CodeResourceLimit, Message: "the query is nested too deeply"}
	}
	switch len(tree.Stmts) {
	case 0:
		return nil, &Error{Code: CodeEmpty, Message: "the query has no statement (only comments or semicolons)"}
	case 1:
	default:
		return nil, newError(CodeMultipleStatements, sql, tree.Stmts[1].StmtLocation,
			"only one statement is allowed; found "+strconv.Itoa(len(tree.Stmts)))
	}
	raw := tree.Stmts[0]
	sel := raw.GetStmt().GetSelectStmt()
	if sel == nil {
		kind := "unknown"
		if raw.GetStmt() != nil {
			m := raw.Stmt.ProtoReflect()
			if fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("node")); fd != nil {
				kind = stmtKind(string(fd.Message().Name()))
			}
		}
		return nil, newError(CodeNotSelect, sql, raw.StmtLocation, "only SELECT queries are allowed; this is "+article(kind)+" statement")
	}

	w := walker{c: c, sql: sql, maxDepth: c.maxDepth, slow: slow, params: make([]bool, params)}
	w.selectStmt(sel)
	if w.err != nil {
		return nil, w.err
	}
	for i, used := range w.params {
		if !used {
			return nil, &Error{Code: CodeParameterNotAllowed, Message: "parameter $" + strconv.Itoa(i+1) + " is given but the query does not use it"}
		}
	}
	return &Query{sql: statementText(sql, raw), tree: tree, c: c, rels: w.rels, funcs: w.funcs, cols: w.cols,
		reads: sortedUnique(w.reads), params: params}, nil
}

func article(kind string) string {
	if kind != "" && strings.ContainsRune("AEIOUaeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

// statementText is the text of the one statement: without what follows it
// (the semicolon, trailing comments) and trimmed.
func statementText(sql string, raw *pg.RawStmt) string {
	start, n := int(raw.StmtLocation), int(raw.StmtLen)
	if start < 0 || start > len(sql) {
		start = 0
	}
	end := len(sql)
	if n > 0 && start+n <= len(sql) {
		end = start + n
	}
	s := strings.TrimSpace(sql[start:end])
	for strings.HasSuffix(s, ";") {
		s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	}
	return s
}

// lexerDifferential rejects a plain '…' string constant (not E'…', U&'…'
// or dollar-quoted) whose text contains \' — a backslash before a quote,
// inside or at the end. libpg_query lexes with standard_conforming_strings
// on; a server with it off reads \' as an escaped quote, so the string would
// end elsewhere and hide, or reveal, other SQL.
func lexerDifferential(sql string) *Error {
	res, err := pg.Scan(sql)
	if err != nil {
		var pe *pgparser.Error
		if errors.As(err, &pe) {
			return withPosition(CodeSyntaxError, cleanParserMessage(pe.Message), pe.Cursorpos)
		}
		return &Error{Code: CodeSyntaxError, Message: "the query cannot be tokenized"}
	}
	for _, t := range res.Tokens {
		if t.Token != pg.Token_SCONST {
			continue
		}
		s, e := int(t.Start), int(t.End)
		if s < 0 || e > len(sql) || s >= e || sql[s] != '\'' {
			continue
		}
		if strings.Contains(sql[s:e], `\'`) {
			return newError(CodeLexerDifferential, sql, t.Start,
				`a string literal contains a backslash before a quote, which a server with standard_conforming_strings off would read differently; use E'…' or double the quote`)
		}
	}
	return nil
}

// SQL returns the text to run: the original statement, trimmed, without a
// trailing semicolon or what follows it (a comment before the semicolon,
// or at the very end, stays: anything appended must start on a new line).
// It passed the lexer-differential check.
func (q *Query) SQL() string { return q.sql }

// Fingerprint returns the pg_query fingerprint (hex) of the statement; it
// is the same for queries that differ only in constants and formatting.
func (q *Query) Fingerprint() string {
	q.fpOnce.Do(func() {
		q.fp, _ = pg.Fingerprint(q.sql)
	})
	return q.fp
}

func (q *Query) lists() {
	q.listsOnce.Do(func() {
		for _, r := range q.rels {
			q.relNames = append(q.relNames, r.key)
		}
		q.relNames = sortedUnique(q.relNames)
		q.funcNames = sortedUnique(append([]string(nil), q.funcs...))
		for _, c := range q.cols {
			q.colNames = append(q.colNames, c.rel+"."+c.col)
		}
		q.colNames = sortedUnique(q.colNames)
	})
}

func sortedUnique(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Relations returns the relations the query reads, as canonical
// schema.table, sorted and without duplicates (CTE names are not relations).
func (q *Query) Relations() []string {
	q.lists()
	return append([]string(nil), q.relNames...)
}

// Columns returns the base-table columns the query references by name,
// resolved against the catalog, as "schema.table.column", sorted and without
// duplicates. Columns of subqueries, CTEs and functions in FROM are not
// listed (their own base columns are, at the level that reads them), and
// neither are * and whole-row references (Reads lists those).
func (q *Query) Columns() []string {
	q.lists()
	return append([]string(nil), q.colNames...)
}

// Reads returns what the query reads from base relations, resolved against
// the catalog, sorted and without duplicates: "schema.table.column" for a
// column, "schema.table.*" for a whole row (a whole-row reference, or * that
// the guard could not narrow). A read of a parent without ONLY lists its
// descendants' columns too. Blocked columns never appear: a query that
// would read one is refused.
func (q *Query) Reads() []string {
	return append([]string(nil), q.reads...)
}

// Functions returns the names of the functions the query calls (without a
// pg_catalog qualifier), sorted and without duplicates.
func (q *Query) Functions() []string {
	q.lists()
	return append([]string(nil), q.funcNames...)
}
