package pgexec

import (
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// source is the statement an error is about: its text, and the names the
// caller may see besides (Limits.Mentionable).
type source struct {
	sql   string
	known func(string) bool
	// standby: the statement ran on a server in recovery.
	standby bool
}

// pgError maps an error PostgreSQL raised to an *Error whose message holds
// no data values. The full text stays in Err, for the debug log only.
func pgError(pe *pgconn.PgError, src source) *Error {
	switch {
	case pe.Code == "57014" && strings.Contains(pe.Message, "user request"):
		return &Error{Code: CodeCancelled, Message: "the query was cancelled on the server (pg_cancel_backend, or an administrator)", Err: pe, PG: &PgError{SQLState: pe.Code}}
	case pe.Code == "57014":
		return &Error{Code: CodeQueryTimeout, Message: "the query was stopped by the statement timeout", Err: pe, PG: &PgError{SQLState: pe.Code}}
	case src.standby && (pe.Code == "40001" || pe.Code == "40P01"):
		return replicaConflict(pe)
	case pe.Code == "25006":
		return &Error{Code: CodeReadOnlyViolation, Message: "the query tried to write in a read-only transaction", Err: pe, PG: &PgError{SQLState: pe.Code}}
	case pe.Code == "55P03":
		return &Error{Code: CodeQueryTimeout, Message: "the query waited too long for a lock", Err: pe, PG: &PgError{SQLState: pe.Code}}
	case pe.Code == "57P03" || pe.Code == "08001" || pe.Code == "08004":
		return &Error{Code: CodeUnreachable, Message: "the database does not accept connections now (SQLSTATE " + pe.Code + ")", Err: pe, PG: &PgError{SQLState: pe.Code}}
	case strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02":
		return &Error{Code: CodeConnectionLost, Message: "the database ended the connection during the call: it is restarting or shutting down, or the network failed (SQLSTATE " + pe.Code + ")", Err: pe, PG: &PgError{SQLState: pe.Code}}
	}
	msg := sanitize(pe.Code, pe.Message, src)
	pg := &PgError{SQLState: pe.Code, Message: msg, Position: int(pe.Position)}
	if strings.HasPrefix(pe.Code, "42") && pe.Hint != "" {
		pg.Hint = sanitize(pe.Code, pe.Hint, src)
	}
	return &Error{Code: CodeQueryFailed, Message: msg + " (SQLSTATE " + pe.Code + ")", Err: pe, PG: pg}
}

var (
	quotedPart = regexp.MustCompile(`"(?:[^"]|"")*"`)
	digitRun   = regexp.MustCompile(`\d+`)
	maskedTail = regexp.MustCompile(`^(?:\s*"[^"]*"\s*,?)*\s*$`)
)

// freeText are the SQLSTATE classes whose message is text a function, an
// extension or a remote server wrote (RAISE in PL/pgSQL, external routines,
// foreign data wrappers), or an internal or system error naming files:
// none of it can be told apart from data, so none of it is shown.
var freeText = map[string]bool{"P0": true, "38": true, "39": true, "2F": true, "HV": true, "XX": true, "58": true}

// SanitizeMessage removes data values from a PostgreSQL error message
// about the statement sql, keeping what names objects. Anything that is not
// written in the statement itself could come from a row — "invalid input
// syntax for type integer: "alice@example.com"", "syntax error in tsquery:
// "User 1"" — so, in every class:
//   - a double-quoted part is kept only when it is a name known reports
//     the caller may see or, in class 42, written in the statement (a name
//     or a token the caller wrote); otherwise it becomes "…" (outside class
//     42 a quoted part is a value, even one the statement spelt out);
//   - in classes other than 42 (syntax, names, privileges, whose unquoted
//     text names types and objects), an unquoted tail after ": " becomes
//     "…" (it describes a value: "invalid byte sequence …: 0xe2 0x80"), and
//     so does a number not written in the statement;
//   - in the classes of freeText the message is replaced whole.
//
// DETAIL is never passed on (it holds key values and failing rows).
func SanitizeMessage(sqlstate, msg, sql string, known func(string) bool) string {
	return sanitize(sqlstate, msg, source{sql: sql, known: known})
}

func sanitize(sqlstate, msg string, src source) string {
	class := sqlstate
	if len(class) > 2 {
		class = class[:2]
	}
	if freeText[class] {
		return "the statement failed in a function or extension (SQLSTATE " + sqlstate + "; its message is not shown, it may hold data)"
	}
	lowerSQL := strings.ToLower(src.sql)
	msg = quotedPart.ReplaceAllStringFunc(msg, func(q string) string {
		inner := strings.ReplaceAll(q[1:len(q)-1], `""`, `"`)
		if src.shows(inner, lowerSQL, class == "42") {
			return q
		}
		return `"…"`
	})
	if class == "42" {
		return msg
	}
	if i := strings.Index(msg, ": "); i >= 0 && !maskedTail.MatchString(msg[i+2:]) {
		msg = msg[:i] + ": …"
	}
	// Numbers outside quotes: lengths, code points, positions in a value.
	var b strings.Builder
	last := 0
	for _, m := range digitRun.FindAllStringIndex(msg, -1) {
		if insideQuotes(msg, m[0]) || strings.Contains(lowerSQL, msg[m[0]:m[1]]) {
			continue
		}
		b.WriteString(msg[last:m[0]])
		b.WriteString("…")
		last = m[1]
	}
	b.WriteString(msg[last:])
	return b.String()
}

// shows reports whether a quoted part of a message may be shown: empty, a
// name the caller may see, or (with written, for class 42 whose quoted
// parts are names and tokens) written in the statement.
func (src source) shows(inner, lowerSQL string, written bool) bool {
	if inner == "" || inner == "…" {
		return true
	}
	if src.known != nil && src.known(inner) {
		return true
	}
	return written && lowerSQL != "" && strings.Contains(lowerSQL, strings.ToLower(inner))
}

// insideQuotes reports whether byte i of msg is inside a double-quoted part.
func insideQuotes(msg string, i int) bool {
	return strings.Count(msg[:i], `"`)%2 == 1
}
