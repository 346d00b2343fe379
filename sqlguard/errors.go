package sqlguard

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Code is a stable, machine-readable rejection reason. Clients and tests
// depend on these values: never rename one.
type Code string

// Rejection codes.
const (
	CodeEmpty               Code = "empty"                 // no statement: empty input, whitespace, comments or semicolons only
	CodeTooLarge            Code = "too_large"             // input longer than Policy.MaxSQLBytes
	CodeInvalidEncoding     Code = "invalid_encoding"      // NUL byte or invalid UTF-8
	CodeSyntaxError         Code = "syntax_error"          // the PostgreSQL grammar rejects it
	CodeMultipleStatements  Code = "multiple_statements"   // more than one statement
	CodeNotSelect           Code = "not_select"            // the statement is not a SELECT (DML, DDL, utility, EXPLAIN…)
	CodeSelectInto          Code = "select_into"           // SELECT … INTO creates a table
	CodeLockingClause       Code = "locking_clause"        // FOR UPDATE / SHARE at any depth
	CodeDataModifyingCTE    Code = "data_modifying_cte"    // INSERT/UPDATE/DELETE/MERGE nested in a query
	CodeFunctionNotAllowed  Code = "function_not_allowed"  // a function (or user/session value function) not on the allowlist
	CodeOperatorNotAllowed  Code = "operator_not_allowed"  // an operator symbol not on the allowlist, or schema-qualified outside pg_catalog
	CodeRelationNotAllowed  Code = "relation_not_allowed"  // a relation the policy does not permit
	CodeSystemCatalog       Code = "system_catalog"        // pg_catalog, information_schema, pg_temp, pg_toast…
	CodeBlockedTable        Code = "blocked_table"         // a relation the policy blocks
	CodeBlockedColumn       Code = "blocked_column"        // a blocked column, by name, NATURAL JOIN, USING or alias list
	CodeStarOnBlockedTable  Code = "star_on_blocked_table" // * or t.* over a table with blocked columns
	CodeWholeRowReference   Code = "whole_row_reference"   // a whole row of a table with blocked columns
	CodeParameterNotAllowed Code = "parameter_not_allowed" // a $n parameter: queries are sent without parameters
	CodeCastNotAllowed      Code = "cast_not_allowed"      // cast to a type outside the builtin allowlist
	CodeLexerDifferential   Code = "lexer_differential"    // text a server with other settings would lex differently
	CodeResourceLimit       Code = "resource_limit"        // visibly too expensive, or nested too deeply
	CodeUnsupportedNode     Code = "unsupported_node"      // a construct outside the node-type allowlist
	CodeInvalidPolicy       Code = "invalid_policy"        // the Policy itself is unusable (nil, malformed names, no catalog)
	CodeUnresolvedName      Code = "unresolved_name"       // a name the guard cannot resolve with certainty against the catalog
	CodeFunctionNotation    Code = "function_notation"     // t.f or (expr).f where f is not a column or field: PostgreSQL would call f(t)
	CodeBlockedDescendant   Code = "blocked_descendant"    // a parent read without ONLY that has blocked partitions, children or columns
)

// Error is a rejection. Message is meant for users: it names the construct
// and, when known, its position, and never contains a literal value (string
// or number) from the query.
type Error struct {
	Code     Code
	Message  string
	Position int // 1-based character offset into the SQL; 0 if unknown

	// absent: refused because a name the query uses is not in the catalog
	// (a column or FROM entry that does not exist), which PostgreSQL would
	// refuse too. Tests use it to tell false rejects from wrong queries.
	absent bool
}

// Error is "code: message".
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// newError builds an Error whose position is a 0-based byte offset into sql
// (a parse-tree location); loc < 0 means unknown.
func newError(code Code, sql string, loc int32, msg string) *Error {
	pos := 0
	if loc >= 0 && int(loc) <= len(sql) {
		pos = utf8.RuneCountInString(sql[:loc]) + 1
	}
	return withPosition(code, msg, pos)
}

func withPosition(code Code, msg string, pos int) *Error {
	if pos > 0 {
		msg += " (position " + strconv.Itoa(pos) + ")"
	}
	return &Error{Code: code, Message: msg, Position: pos}
}

// ident quotes an identifier for a message. Identifiers are names, not data,
// but they are still cut to PostgreSQL's maximum identifier length.
func ident(s string) string {
	if len(s) > 63 {
		s = s[:63]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return strconv.Quote(s)
}

// cleanParserMessage drops the part of a parser message that may quote the
// query text ("at or near …", ": detail"), so no literal reaches a user.
func cleanParserMessage(m string) string {
	if i := strings.Index(m, " at or near "); i >= 0 {
		m = m[:i]
	}
	if i := strings.Index(m, ": "); i >= 0 {
		m = m[:i]
	}
	if i := strings.IndexAny(m, "\"'"); i >= 0 {
		m = strings.TrimSpace(m[:i])
	}
	if m == "" {
		m = "syntax error"
	}
	return m
}
