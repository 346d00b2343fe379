package tools

import (
	"context"
	"encoding/json"
	"io"
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
	Time        time.Time `json:"time"`
	Identity    string    `json:"identity,omitempty"`
	Client      string    `json:"client,omitempty"`
	Tool        string    `json:"tool"`
	Database    string    `json:"database,omitempty"`
	Question    string    `json:"question,omitempty"`
	SQL         string    `json:"sql,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
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

// AuditLog writes audit records as JSON Lines. It is safe for concurrent
// use; a write error is reported once to the server log.
type AuditLog struct {
	mu      sync.Mutex
	w       io.Writer
	failed  bool
	onError func(error)
}

// NewAuditLog writes records to w; onError (optional) hears about the
// first write failure.
func NewAuditLog(w io.Writer, onError func(error)) *AuditLog {
	return &AuditLog{w: w, onError: onError}
}

// Write appends one record.
func (l *AuditLog) Write(r *AuditRecord) {
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(b); err != nil && !l.failed {
		l.failed = true
		if l.onError != nil {
			l.onError(err)
		}
	}
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
		rec := &AuditRecord{Time: start.UTC(), Tool: req.Params.Name, Client: clientName(ctx)}
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

		var res *mcp.CallToolResult
		var err error
		if lerr := h.rate.allow(rec.Identity); lerr != nil {
			res = h.fail(ctx, req.Params.Name, lerr)
		} else {
			res, err = next(ctx, req)
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
		h.metrics.observeCall(rec.Tool, outcome, time.Since(start))
		if h.deps.Audit != nil {
			h.deps.Audit.Write(rec)
		}
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
