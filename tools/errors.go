package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// Code is a stable, machine-readable error class a tool result carries.
// Codes of other packages (sqlguard, schema, pgexec, llm) pass through
// unchanged; these are the tools' own.
type Code string

// The tools' own codes. Never rename one.
const (
	CodeInvalidArgument Code = "invalid_argument"
	CodeUnknownDatabase Code = "unknown_database"
	CodeInternal        Code = "internal"
)

// Error is a tool failure whose Code, Message and Hint are safe to send to
// the client (and the model). Err is internal: logged, never sent.
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

// errorBody is what a failed tool call returns, as JSON text.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	// SQL is the query the failure is about, when there is one.
	SQL string `json:"sql,omitempty"`
	// SQLState is PostgreSQL's error code, for a query PostgreSQL refused.
	SQLState string `json:"sqlstate,omitempty"`
}

// classify maps any error to a safe (code, message, hint). Errors that are
// not one of pgmcp's typed errors become "internal" with a generic message:
// their text may hold anything.
func classify(err error) errorBody {
	var te *Error
	var se *schema.Error
	var pe *pgexec.Error
	var ge *sqlguard.Error
	var le *llm.Error
	switch {
	case err == nil:
		return errorBody{Code: string(CodeInternal), Message: "internal error"}
	case errors.As(err, &te):
		return errorBody{Code: string(te.Code), Message: te.Message, Hint: te.Hint, SQL: te.SQL}
	case errors.As(err, &ge):
		return errorBody{Code: string(ge.Code), Message: ge.Message, Hint: guardHint(ge.Code)}
	case errors.As(err, &le):
		return errorBody{Code: string(le.Code), Message: le.Message, Hint: llmHint(le)}
	case errors.As(err, &se):
		return errorBody{Code: string(se.Code), Message: se.Message, Hint: schemaHint(se.Code)}
	case errors.As(err, &pe):
		b := errorBody{Code: string(pe.Code), Message: pe.Message, Hint: execHint(pe.Code)}
		if pe.PG != nil {
			b.SQLState = pe.PG.SQLState
		}
		return b
	case errors.Is(err, context.Canceled):
		return errorBody{Code: "cancelled", Message: "the request was cancelled"}
	case errors.Is(err, context.DeadlineExceeded):
		return errorBody{Code: "timeout", Message: "the request took too long"}
	default:
		return errorBody{Code: string(CodeInternal), Message: "internal error; the server log has the details"}
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

// errorResult is the one place errors become tool results: isError set,
// the body JSON {code, message, hint}. Internal errors are logged with
// their cause.
func errorResult(ctx context.Context, log *slog.Logger, tool string, err error) *mcp.CallToolResult {
	body := classify(err)
	level := slog.LevelInfo
	attrs := []any{"tool", tool, "call", record(ctx).Call, "code", body.Code, "err", err}
	switch body.Code {
	case string(CodeInternal):
		level = slog.LevelError
	case string(pgexec.CodeUnreachable), string(pgexec.CodeConnectionLost), string(pgexec.CodePoolExhausted), string(pgexec.CodeQueryTimeout):
		// A fault of the database or of its capacity: the operator's
		// concern, with what pgx or the network said (never row data).
		level = slog.LevelWarn
		var pe *pgexec.Error
		if errors.As(err, &pe) && pe.Err != nil && pe.PG == nil {
			attrs = append(attrs, "cause", pe.Err.Error())
		}
	}
	log.Log(ctx, level, "tool call failed", attrs...)
	// PostgreSQL's own text may hold row values: only at debug level.
	var pge *pgconn.PgError
	if errors.As(err, &pge) && log.Enabled(ctx, slog.LevelDebug) {
		log.DebugContext(ctx, "postgres error, full text", "tool", tool, "sqlstate", pge.Code, "message", pge.Message, "detail", pge.Detail, "hint", pge.Hint)
	}
	text, _ := json.Marshal(body)
	return &mcp.CallToolResult{
		Content: []mcp.Content{mcp.TextContent{Type: "text", Text: string(text)}},
		IsError: true,
	}
}

// fail is errorResult with the handlers' logger.
func (h *handlers) fail(ctx context.Context, tool string, err error) *mcp.CallToolResult {
	return errorResult(ctx, h.deps.Logger, tool, err)
}
