package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/pgmcp/pgmcp/tools/engine"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

type callKey struct{}

// callFrom returns the engine call the middleware started for ctx (nil
// outside a tool call).
func callFrom(ctx context.Context) *engine.Call {
	c, _ := ctx.Value(callKey{}).(*engine.Call)
	return c
}

// errorResult is the one place errors become tool results: isError set,
// the body JSON {code, message, hint}. The call's audit record gets the
// code of this result. Internal errors are logged with their cause.
func errorResult(ctx context.Context, log *slog.Logger, tool string, err error) *mcp.CallToolResult {
	var body engine.ErrorInfo
	if c := callFrom(ctx); c != nil {
		body = c.Failed(err)
	} else {
		body = engine.Describe(err)
	}
	level := slog.LevelInfo
	attrs := []any{"tool", tool, "call", engine.CallID(ctx), "code", body.Code, "err", err}
	switch body.Code {
	case string(engine.CodeInternal):
		level = slog.LevelError
	case string(pgexec.CodeUnreachable), string(pgexec.CodeConnectionLost), string(pgexec.CodePoolExhausted), string(pgexec.CodeQueryTimeout),
		string(pgexec.CodeReplicaConflict):
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
	return errorResult(ctx, h.log, tool, err)
}

// succeed is a tool's structured result with its text, noted in the call's
// audit record.
func (h *handlers) succeed(ctx context.Context, out any, text string) *mcp.CallToolResult {
	if c := callFrom(ctx); c != nil {
		c.Succeeded(out)
	}
	return mcp.NewToolResultStructured(out, text)
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

// middleware wraps every tool call in its trace span and an engine call:
// the caller's rate limit, one audit record, and the call metrics. It is
// the outermost layer, so a call refused by the rate limit is audited,
// counted and traced too.
func (h *handlers) middleware(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ctx, span := startCallSpan(ctx, &req)
		// Ends the span should next panic (WithRecovery answers then);
		// after endCallSpan it does nothing.
		defer span.End()
		args := req.GetArguments()
		info := engine.CallInfo{Tool: req.Params.Name, Client: clientName(ctx)}
		info.Database, _ = args["database"].(string)
		info.Question, _ = args["question"].(string)
		ctx, call := h.eng.StartCall(ctx, info)
		ctx = context.WithValue(ctx, callKey{}, call)
		var res *mcp.CallToolResult
		var err error
		if aerr := call.Admit(); aerr != nil {
			res = h.fail(ctx, req.Params.Name, aerr)
		} else if res, err = next(ctx, req); err != nil {
			// A handler never returns an error for a tool failure; one
			// that does is a bug, counted as internal.
			call.Failed(err)
		}
		if werr := call.Finish(); werr != nil {
			res, err = h.fail(ctx, req.Params.Name, werr), nil
		}
		endCallSpan(span, engine.CallID(ctx), call.Outcome(), res, err)
		return res, err
	}
}

// EncodeMessage encodes a JSON-RPC message as json.Marshal does, except
// that a tool result's pre-encoded structured content (RawStructuredContent,
// already compact and HTML-safe) is written as it is instead of being
// compacted twice more by encoding/json (once in mcp-go's MarshalJSON, once
// around it): for a large result that is most of the encoding's cost.
func EncodeMessage(msg any) ([]byte, error) {
	resp, ok := msg.(mcp.JSONRPCResponse)
	if !ok {
		if p, isPtr := msg.(*mcp.JSONRPCResponse); isPtr && p != nil {
			resp, ok = *p, true
		}
	}
	var res *mcp.CallToolResult
	if ok {
		switch r := resp.Result.(type) {
		case *mcp.CallToolResult:
			res = r
		case mcp.CallToolResult:
			res = &r
		}
	}
	if res == nil || len(res.RawStructuredContent) == 0 {
		return json.Marshal(msg)
	}
	raw := res.RawStructuredContent
	rest := *res
	rest.RawStructuredContent, rest.StructuredContent = nil, nil
	// MarshalJSON directly: json.Marshal would compact its output once more
	// (the whole text content, for a large schema most of the cost).
	body, err := rest.MarshalJSON()
	if err != nil || len(body) < 2 || body[len(body)-1] != '}' {
		return json.Marshal(msg)
	}
	resp.Result = json.RawMessage("0")
	env, err := json.Marshal(resp)
	if err != nil || !bytes.HasSuffix(env, []byte(`"result":0}`)) {
		return json.Marshal(msg)
	}
	out := make([]byte, 0, len(env)+len(body)+len(raw)+24)
	out = append(out, env[:len(env)-2]...) // up to "result":
	out = append(out, body[:len(body)-1]...)
	if len(body) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"structuredContent":`...)
	out = append(out, raw...)
	return append(out, '}', '}'), nil
}
