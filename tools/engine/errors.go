package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// Code is a stable, machine-readable error class a failed call carries.
// Codes of other packages (sqlguard, schema, pgexec, llm) pass through
// unchanged; these are the engine's own.
type Code string

// The engine's own codes. Never rename one.
const (
	// CodeInvalidArgument means the call's arguments are wrong (both or neither
	// of question and sql, a value out of range, a malformed argument).
	CodeInvalidArgument Code = "invalid_argument"
	// CodeUnknownDatabase means the database argument names no configured
	// database.
	CodeUnknownDatabase Code = "unknown_database"
	// CodeInternal means an unexpected failure; the server log has the details.
	CodeInternal Code = "internal"
	// CodeTimeout means the call's own deadline passed outside any database or
	// model call (which have codes of their own).
	CodeTimeout Code = "timeout"
)

// Error is a failure whose Code, Message and Hint are safe to send to the
// client (and the model). Err is internal: logged, never sent.
type Error struct {
	Code    Code
	Message string
	Hint    string
	Err     error
	// SQL is the query the failure is about, when there is one.
	SQL string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Err }

// ErrorInfo is a failure as a client sees it: what a failed call returns
// (as JSON text, in MCP). It never holds an internal cause.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	// SQL is the query the failure is about, when there is one.
	SQL string `json:"sql,omitempty"`
	// SQLState is PostgreSQL's error code, for a query PostgreSQL refused.
	SQLState string `json:"sqlstate,omitempty"`
}

// Describe maps any error to a safe (code, message, hint): the one
// classification of errors, for every front end. Errors that are not one
// of pgmcp's typed errors become "internal" with a generic message: their
// text may hold anything.
func Describe(err error) ErrorInfo {
	var te *Error
	var se *schema.Error
	var pe *pgexec.Error
	var ge *sqlguard.Error
	var le *llm.Error
	switch {
	case err == nil:
		return ErrorInfo{Code: string(CodeInternal), Message: "internal error"}
	case errors.As(err, &te):
		return ErrorInfo{Code: string(te.Code), Message: te.Message, Hint: te.Hint, SQL: te.SQL}
	case errors.As(err, &ge):
		return ErrorInfo{Code: string(ge.Code), Message: ge.Message, Hint: guardHint(ge.Code)}
	case errors.As(err, &le):
		return ErrorInfo{Code: string(le.Code), Message: le.Message, Hint: llmHint(le)}
	case errors.As(err, &se):
		return ErrorInfo{Code: string(se.Code), Message: se.Message, Hint: schemaHint(se.Code)}
	case errors.As(err, &pe):
		b := ErrorInfo{Code: string(pe.Code), Message: pe.Message, Hint: execHint(pe.Code)}
		if pe.PG != nil {
			b.SQLState = pe.PG.SQLState
		}
		return b
	case errors.Is(err, context.Canceled):
		return ErrorInfo{Code: string(pgexec.CodeCancelled), Message: "the request was cancelled"}
	case errors.Is(err, context.DeadlineExceeded):
		return ErrorInfo{Code: string(CodeTimeout), Message: "the request took too long"}
	default:
		return ErrorInfo{Code: string(CodeInternal), Message: "internal error; the server log has the details"}
	}
}

func guardHint(c sqlguard.Code) string {
	switch c {
	case sqlguard.CodeRelationNotAllowed, sqlguard.CodeBlockedTable, sqlguard.CodeSystemCatalog:
		return "only the tables and views listed by get_schema may be read"
	case sqlguard.CodeBlockedColumn, sqlguard.CodeStarOnBlockedTable, sqlguard.CodeWholeRowReference:
		return "name the columns you need; get_schema lists the ones that may be read"
	case sqlguard.CodeFunctionNotAllowed, sqlguard.CodeCastNotAllowed:
		return "use common PostgreSQL functions and types for analytics (aggregates, date, string, JSON and array functions)"
	case sqlguard.CodeNotSelect, sqlguard.CodeMultipleStatements, sqlguard.CodeSelectInto, sqlguard.CodeLockingClause, sqlguard.CodeDataModifyingCTE:
		return "send one read-only SELECT statement"
	case sqlguard.CodeSyntaxError:
		return "check the SQL syntax (PostgreSQL dialect)"
	case sqlguard.CodeResourceLimit:
		return "narrow the query: smaller series, a join condition, a bound on recursion"
	}
	return ""
}

func llmHint(e *llm.Error) string {
	switch e.Code {
	case llm.CodeUnavailable, llm.CodeTimeout:
		return "the model endpoint did not answer; try again, or send SQL directly with the sql argument"
	case llm.CodeCircuitOpen:
		if e.RetryAfter > 0 {
			return fmt.Sprintf("the model endpoint failed repeatedly; retry in %s, or send SQL with the sql argument", e.RetryAfter.Round(time.Second))
		}
		return "the model endpoint failed repeatedly; send SQL with the sql argument meanwhile"
	case llm.CodeBadRequest:
		return "check PGMCP_LLM_MODEL, PGMCP_LLM_API_KEY and PGMCP_LLM_BASE_URL"
	case llm.CodeRefused:
		return "rephrase the question in terms of the tables get_schema lists"
	case llm.CodeAnswerTooLarge:
		return "the model's answer was far longer than a query: check that the model server honours max_tokens, or send SQL directly with the sql argument"
	}
	return ""
}

func execHint(c pgexec.Code) string {
	switch c {
	case pgexec.CodeQueryTimeout:
		return "the query ran longer than the statement timeout; add filters or aggregate more"
	case pgexec.CodeUnreachable:
		return "the database is not reachable or stopped answering; try again later (an operator can check it with pgmcp doctor)"
	case pgexec.CodeConnectionLost:
		return "the connection broke during the call (a restart, a crash or the network): run the query again"
	case pgexec.CodePoolExhausted:
		return "every database connection is busy with other calls: try again shortly (operators: PGMCP_MAX_CONNS, PGMCP_ACQUIRE_TIMEOUT)"
	case pgexec.CodeCancelled:
		return "the call was cancelled before it finished; nothing was changed"
	case pgexec.CodeQueryFailed:
		return "fix the query; get_schema lists the tables, columns and types"
	case pgexec.CodeReplicaConflict:
		return "a standby cancelled the query while replaying the primary's changes: run it again (a shorter query conflicts less; operators: max_standby_streaming_delay, hot_standby_feedback)"
	case pgexec.CodeResultTooLarge:
		return "select fewer or shorter columns (left(col, n), length(col)) or aggregate"
	}
	return ""
}

func schemaHint(c schema.Code) string {
	switch c {
	case schema.CodeNotFound:
		return "call get_schema without arguments to list the tables"
	case schema.CodeIntrospection:
		return "check that the database is reachable; the server log has the details"
	}
	return ""
}
