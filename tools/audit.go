package tools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/pgmcp/pgmcp/sqlguard"
)

// AuditRecord is one line of the audit log: one per tool call, allowed or
// refused. It never holds result data or secrets: the question and the SQL
// are what the caller asked, the rest is metadata.
type AuditRecord struct {
	Time time.Time `json:"time"`
	// Call identifies the call in the audit log and in the server log.
	Call        string `json:"call"`
	Identity    string `json:"identity,omitempty"`
	Client      string `json:"client,omitempty"`
	Tool        string `json:"tool"`
	Database    string `json:"database,omitempty"`
	Question    string `json:"question,omitempty"`
	SQL         string `json:"sql,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Verdict is "allowed", or the guard's code for refused SQL; empty
	// when no SQL was checked.
	Verdict    string  `json:"verdict,omitempty"`
	RowCount   *int    `json:"row_count,omitempty"`
	Truncated  bool    `json:"truncated,omitempty"`
	Attempts   int     `json:"attempts,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	// Error is the error code of a failed call; empty on success.
	Error string `json:"error,omitempty"`
}

// CodeAuditUnavailable is the code of a call refused because its audit
// record could not be written and the log is required
// (PGMCP_AUDIT_REQUIRED). Never rename it.
const CodeAuditUnavailable Code = "audit_unavailable"

// errAuditUnavailable is what a caller is told when the audit log fails
// closed.
var errAuditUnavailable = &Error{Code: CodeAuditUnavailable,
	Message: "the call was refused because the server cannot write its audit log, and every call must be audited",
	Hint:    "this is a server problem, not a problem with the call: try again later; operators: check the audit log's disk, then send SIGHUP"}

// AuditLog writes audit records as JSON Lines, one write per record. It is
// safe for concurrent use.
//
// A record is written whole or not at all: when a write stops part-way
// (a full disk, a file size limit), the part written is cut off again
// (the file is truncated to where the record began), so no torn line is
// left for the next record to join. When that is impossible (a writer
// that is not a file, or the truncation fails), the next record starts
// with a newline, so the fragment stays a line of its own and every later
// record is whole.
//
// A log opened with OpenAuditFile can be reopened (Reopen, on SIGHUP), so
// a log rotated by renaming the file loses no record: records go to the
// old file until the reopen, to the new one after.
type AuditLog struct {
	mu       sync.Mutex
	w        io.Writer
	file     *os.File // the file OpenAuditFile opened (w == file), else nil
	path     string   // the file's path, for Reopen
	required bool
	// broken is set while the last write failed, cleared by a write that
	// succeeds (or a successful Reopen).
	broken bool
	// ragged is set when the log may end with a fragment of a record.
	ragged   bool
	failures int64
	onError  func(error)
}

// NewAuditLog writes records to w (stderr, say); onError (optional) hears
// when writes start failing, and when they work again. A record cut short
// on w is not undone (w may be shared): the next one starts on a new line.
func NewAuditLog(w io.Writer, onError func(error)) *AuditLog {
	return &AuditLog{w: w, onError: onError}
}

// OpenAuditFile opens path for appending (created 0600) as an audit log
// that Reopen can reopen.
func OpenAuditFile(path string, onError func(error)) (*AuditLog, error) {
	f, err := openAuditFile(path)
	if err != nil {
		return nil, err
	}
	return &AuditLog{w: f, file: f, path: path, onError: onError}, nil
}

func openAuditFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}

// SetRequired makes the log fail closed: a call is refused when its record
// cannot be written (see the middleware).
func (l *AuditLog) SetRequired(required bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.required = required
}

// Required reports whether calls must be audited.
func (l *AuditLog) Required() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.required
}

// Healthy reports whether the last write succeeded.
func (l *AuditLog) Healthy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.broken
}

// Failures is how many records could not be written.
func (l *AuditLog) Failures() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures
}

// Write appends one record, whole, and reports whether it was written.
func (l *AuditLog) Write(r *AuditRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ragged {
		// The log may end with a fragment: close its line first, in the
		// same write, so this record is a line of its own.
		b = append([]byte{'\n'}, b...)
	}
	n, err := l.w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		l.failures++
		l.ragged = l.ragged || (n > 0 && !l.undo(n))
		if !l.broken {
			l.broken = true
			if l.onError != nil {
				l.onError(err)
			}
		}
		return err
	}
	l.ragged = false
	if l.broken {
		l.broken = false
		if l.onError != nil {
			l.onError(nil)
		}
	}
	return nil
}

// undo cuts off the n bytes a failed write left at the end of the file;
// false when it cannot (not a file of the log's own, or the truncation
// failed).
func (l *AuditLog) undo(n int) bool {
	if l.file == nil {
		return false
	}
	// O_APPEND: the offset is the end of what this write put there.
	end, err := l.file.Seek(0, io.SeekCurrent)
	if err != nil || end < int64(n) {
		return false
	}
	if err := l.file.Truncate(end - int64(n)); err != nil {
		return false
	}
	return true
}

// Reopen opens the log's file again by its path, for log rotation: after a
// rename, records go to a new file at the path. Records written before it
// went to the renamed file, so none is lost. It does nothing for a log
// that is not a file opened by OpenAuditFile; when the file cannot be
// opened, the log keeps writing to the one it has.
func (l *AuditLog) Reopen() error {
	if l.path == "" {
		return nil
	}
	f, err := openAuditFile(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.file
	l.w, l.file, l.ragged, l.broken = f, f, false, false
	l.mu.Unlock()
	return old.Close()
}

// Close closes the log's file (when it opened one).
func (l *AuditLog) Close() error {
	if l.path == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.file.Close()
}

type callsKey struct{}

// WithCallsContext ties the tool calls made with ctx to calls as well: a
// call ends (cancelled) when calls is done, while ctx itself stays live,
// so that the transport still sends the call's answer. The HTTP server
// uses it to cancel the calls left when its shutdown timeout is over.
func WithCallsContext(ctx, calls context.Context) context.Context {
	return context.WithValue(ctx, callsKey{}, calls)
}

// bindCalls derives a call's context that also ends with the calls
// context WithCallsContext put in ctx, if any.
func bindCalls(ctx context.Context) (context.Context, context.CancelFunc) {
	calls, ok := ctx.Value(callsKey{}).(context.Context)
	if !ok {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(calls, func() { cancel(context.Cause(calls)) })
	return ctx, func() { stop(); cancel(nil) }
}

// newCallID returns a random call id (16 hex digits).
func newCallID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type recordKey struct{}

// record returns the audit record of the call in ctx (a throwaway one when
// there is none, so handlers need not check).
func record(ctx context.Context) *AuditRecord {
	if r, ok := ctx.Value(recordKey{}).(*AuditRecord); ok {
		return r
	}
	return &AuditRecord{}
}

// noteChecked records the SQL the guard decided on, and its verdict.
func noteChecked(ctx context.Context, sql string, q *sqlguard.Query, err error) {
	r := record(ctx)
	r.SQL = sql
	switch {
	case q != nil:
		r.SQL, r.Verdict, r.Fingerprint = q.SQL(), "allowed", q.Fingerprint()
	case err != nil:
		r.Verdict = classify(err).Code
	}
}

// clientName names the calling client software: from the request's _meta
// (2026-07-28) or the session's initialize (2025-11-25).
func clientName(ctx context.Context) string {
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.ClientInfo != nil && info.ClientInfo.Name != "" {
		return info.ClientInfo.Name
	}
	if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
		return s.GetClientInfo().Name
	}
	return ""
}

// middleware wraps every tool call: the caller's rate limit, one audit
// record, and the call metrics. It is the outermost layer, so a call
// refused by the rate limit is audited and counted too.
func (h *handlers) middleware(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		start := time.Now()
		rec := &AuditRecord{Time: start.UTC(), Call: newCallID(), Tool: req.Params.Name, Client: clientName(ctx)}
		if id, ok := IdentityFrom(ctx); ok {
			rec.Identity = id.Name
		}
		args := req.GetArguments()
		rec.Database, _ = args["database"].(string)
		rec.Question, _ = args["question"].(string)
		if len(rec.Question) > maxQuestionBytes {
			rec.Question = rec.Question[:maxQuestionBytes] + "…"
		}
		if rec.Database == "" && len(h.deps.Databases) > 0 {
			rec.Database = h.deps.Databases[0].Name
		}
		ctx = context.WithValue(ctx, recordKey{}, rec)
		ctx, release := bindCalls(ctx)
		defer release()

		audit := h.deps.Audit
		required := audit != nil && audit.Required()
		var res *mcp.CallToolResult
		var err error
		switch {
		case required && !audit.Healthy():
			// The last record could not be written: refuse before doing
			// any work. This call's own record is still attempted below,
			// and once one is written calls run again.
			res = h.fail(ctx, req.Params.Name, errAuditUnavailable)
		default:
			if lerr := h.rate.allow(rec.Identity); lerr != nil {
				res = h.fail(ctx, req.Params.Name, lerr)
			} else {
				res, err = next(ctx, req)
			}
		}
		rec.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		outcome := "ok"
		switch {
		case err != nil:
			outcome = string(CodeInternal)
		case res != nil && res.IsError:
			outcome = errorCodeOf(res)
		case res != nil:
			fillRecord(rec, res.StructuredContent)
		}
		if outcome != "ok" {
			rec.Error = outcome
		}
		if audit != nil {
			if werr := audit.Write(rec); werr != nil {
				h.metrics.observeAuditFailure()
				if required && outcome != string(CodeAuditUnavailable) {
					// No record, no result: what the call found is
					// withheld from the caller.
					h.deps.Logger.Warn("audit record not written: the call's result is withheld",
						"tool", rec.Tool, "outcome", outcome, "err", werr)
					res, err, outcome = h.fail(ctx, req.Params.Name, errAuditUnavailable), nil, string(CodeAuditUnavailable)
				}
			}
		}
		h.metrics.observeCall(rec.Tool, outcome, time.Since(start))
		return res, err
	}
}

// errorCodeOf reads the code of an error result's JSON body.
func errorCodeOf(res *mcp.CallToolResult) string {
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			var b errorBody
			if json.Unmarshal([]byte(tc.Text), &b) == nil && b.Code != "" {
				return b.Code
			}
		}
	}
	return string(CodeInternal)
}

// fillRecord copies the non-data facts of a successful result.
func fillRecord(rec *AuditRecord, out any) {
	switch o := out.(type) {
	case *QueryResult:
		n := o.RowCount
		rec.RowCount, rec.Truncated, rec.Attempts, rec.Database = &n, o.Truncated, o.Attempts, o.Database
	case *ExplainResult:
		rec.Attempts, rec.Database = o.Attempts, o.Database
	case SchemaResult:
		rec.Database = o.Database
	}
}
