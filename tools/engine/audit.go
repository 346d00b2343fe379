package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
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
	// Server and ServerPort are the database server that ran the call's
	// query (its unix socket directory or IP address, and port: with a
	// multi-host URL, which host served it); ServerRole is "primary" or
	// "standby". Empty when no query reached a server.
	Server     string `json:"server,omitempty"`
	ServerPort int    `json:"server_port,omitempty"`
	ServerRole string `json:"server_role,omitempty"`

	// query is the allowed query, whose Fingerprint is taken when the
	// record is written.
	query *sqlguard.Query
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
// The log's onError hears of a change of health after the lock is let go,
// so a callback that logs (or writes audit records) cannot deadlock it.
func (l *AuditLog) Write(r *AuditRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	changed, err := l.write(b)
	if changed && l.onError != nil {
		l.onError(err)
	}
	return err
}

// write writes b under the lock; changed reports a change of health (the
// first failure, or the first success after failures).
func (l *AuditLog) write(b []byte) (changed bool, err error) {
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
		changed, l.broken = !l.broken, true
		return changed, err
	}
	l.ragged = false
	changed, l.broken = l.broken, false
	return changed, nil
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
// there is none, so the operations need not check).
func record(ctx context.Context) *AuditRecord {
	if r, ok := ctx.Value(recordKey{}).(*AuditRecord); ok {
		return r
	}
	return &AuditRecord{}
}

// CallID is the id of the call in ctx ("" outside a call), for logs.
func CallID(ctx context.Context) string { return record(ctx).Call }

// noteChecked records the SQL the guard decided on, and its verdict.
func noteChecked(ctx context.Context, sql string, q *sqlguard.Query, err error) {
	r := record(ctx)
	r.SQL = sql
	switch {
	case q != nil:
		// The fingerprint (another parse) is taken only when the record
		// is written (Finish, with an audit log).
		r.SQL, r.Verdict, r.Fingerprint, r.query = q.SQL(), "allowed", "", q
	case err != nil:
		r.Verdict = Describe(err).Code
	}
}

// CallInfo is what a front end knows of a call before it runs.
type CallInfo struct {
	// Tool names the operation (query, explain, get_schema…).
	Tool string
	// Client names the calling client software, when known.
	Client string
	// Database and Question are the call's arguments of those names, when
	// it has them.
	Database, Question string
}

// Call is one call in flight: its audit record, its metrics and its
// admission (the audit log's health, the caller's rate limit). A front end
// starts one per call (StartCall), asks Admit before running the
// operation, reports the outcome (Succeeded or Failed) and ends it with
// Finish.
type Call struct {
	e       *Engine
	rec     *AuditRecord
	start   time.Time
	release context.CancelFunc
	// outcome is "ok" or the error code of the call's result.
	outcome string
}

// StartCall begins a call: the returned context carries its audit record
// (the operations note the SQL and the guard's verdict in it) and ends when
// the calls context of WithCallsContext does.
func (e *Engine) StartCall(ctx context.Context, in CallInfo) (context.Context, *Call) {
	start := time.Now()
	rec := &AuditRecord{Time: start.UTC(), Call: newCallID(), Tool: in.Tool, Client: in.Client, Database: in.Database, Question: in.Question}
	if id, ok := IdentityFrom(ctx); ok {
		rec.Identity = id.Name
	}
	if len(rec.Question) > MaxQuestionBytes {
		rec.Question = rec.Question[:MaxQuestionBytes] + "…"
	}
	if rec.Database == "" {
		rec.Database = e.all()[0].Name
	}
	ctx = context.WithValue(ctx, recordKey{}, rec)
	ctx, release := bindCalls(ctx)
	return ctx, &Call{e: e, rec: rec, start: start, release: release, outcome: "ok"}
}

// Admit says whether the call may run: not while a required audit log
// cannot be written (audit_unavailable: this call's own record is still
// attempted by Finish, and once one is written calls run again), nor over
// the caller's rate limit.
func (c *Call) Admit() error {
	if a := c.e.cfg.Audit; a != nil && a.Required() && !a.Healthy() {
		return errAuditUnavailable
	}
	return c.e.rate.allow(c.rec.Identity)
}

// Succeeded records the non-data facts of a call's result (row count,
// truncation, model calls, the database used).
func (c *Call) Succeeded(out any) {
	c.outcome = "ok"
	switch o := out.(type) {
	case *QueryResult:
		n := o.RowCount
		c.rec.RowCount, c.rec.Truncated, c.rec.Attempts, c.rec.Database = &n, o.Truncated, o.Attempts, o.Database
	case *ExplainResult:
		c.rec.Attempts, c.rec.Database = o.Attempts, o.Database
	case *SchemaResult:
		c.rec.Database = o.Database
	case *FindValuesResult:
		n := len(o.Matches)
		c.rec.RowCount, c.rec.Database = &n, o.Database
	}
}

// Failed records that the call failed with err and returns what the caller
// is told, so the record carries the code of the result it records.
func (c *Call) Failed(err error) ErrorInfo {
	info := Describe(err)
	c.outcome = info.Code
	return info
}

// Outcome is "ok", or the error code of the call's result so far.
func (c *Call) Outcome() string { return c.outcome }

// Finish ends the call: it writes the audit record and counts the call.
// It returns audit_unavailable when the record could not be written and
// the log is required: the call's result must then be withheld, and the
// front end sends that error instead.
func (c *Call) Finish() error {
	defer c.release()
	e, rec := c.e, c.rec
	rec.DurationMS = float64(time.Since(c.start).Microseconds()) / 1000
	if c.outcome != "ok" {
		rec.Error = c.outcome
	}
	var withheld error
	if audit := e.cfg.Audit; audit != nil {
		if rec.query != nil && rec.Fingerprint == "" {
			rec.Fingerprint = rec.query.Fingerprint()
		}
		if werr := audit.Write(rec); werr != nil {
			e.metrics.observeAuditFailure()
			if audit.Required() && c.outcome != string(CodeAuditUnavailable) {
				// No record, no result: what the call found is withheld
				// from the caller.
				e.cfg.Logger.Warn("audit record not written: the call's result is withheld",
					"tool", rec.Tool, "outcome", c.outcome, "err", werr)
				withheld, c.outcome = errAuditUnavailable, string(CodeAuditUnavailable)
			}
		}
	}
	e.metrics.observeCall(rec.Tool, c.outcome, time.Since(c.start))
	return withheld
}

// noteServer records, for the audit record and the metrics, the server
// that ran (or failed) a query of database db.
func (e *Engine) noteServer(ctx context.Context, db string, res *pgexec.Result, err error) {
	var srv pgexec.Server
	var pe *pgexec.Error
	switch {
	case res != nil:
		srv = res.Server
	case errors.As(err, &pe) && pe.Server != nil:
		srv = *pe.Server
	}
	if srv.Host == "" {
		return
	}
	r := record(ctx)
	r.Server, r.ServerPort, r.ServerRole = srv.Host, srv.Port, srv.Role()
	e.metrics.observeServer(db, srv)
}
