package tools

import (
	"context"
	"fmt"
	"strconv"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracer makes the span of each MCP call: the global provider's (a no-op
// one unless the program installs another).
var tracer = otel.Tracer("github.com/pgmcp/pgmcp/tools")

// requestIDKey is where noteRequestID leaves a call's JSON-RPC id in its
// _meta, for the middleware (mcp-go hands the id to hooks, not to tool
// handlers). The value is a Go type no JSON decoding produces, so a client
// cannot put one there itself.
const requestIDKey = "pgmcp.internal/jsonrpc.request.id"

type rpcRequestID struct{ id any }

// noteRequestID is the before-call-tool hook that keeps the request's id
// on the request the middleware gets.
func noteRequestID(_ context.Context, id any, req *mcp.CallToolRequest) {
	if id == nil {
		return
	}
	if req.Params.Meta == nil {
		req.Params.Meta = &mcp.Meta{}
	}
	if req.Params.Meta.AdditionalFields == nil {
		req.Params.Meta.AdditionalFields = map[string]any{}
	}
	req.Params.Meta.AdditionalFields[requestIDKey] = rpcRequestID{id}
}

// requestID is the string form of the call's JSON-RPC id ("" unknown).
func requestID(req *mcp.CallToolRequest) string {
	if req.Params.Meta == nil {
		return ""
	}
	v, ok := req.Params.Meta.AdditionalFields[requestIDKey].(rpcRequestID)
	if !ok {
		return ""
	}
	return idString(v.id)
}

// idString writes a JSON-RPC id as the client wrote it: a string as it is,
// a number in plain decimal.
func idString(id any) string {
	switch id := id.(type) {
	case nil:
		return ""
	case string:
		return id
	case float64:
		return strconv.FormatFloat(id, 'f', -1, 64)
	case mcp.RequestId:
		return idString(id.Value())
	case *mcp.RequestId:
		if id == nil {
			return ""
		}
		return idString(id.Value())
	default:
		return fmt.Sprint(id)
	}
}

// metaCarrier reads the W3C trace context keys (traceparent, tracestate,
// baggage) a client puts, unprefixed, in a request's _meta.
type metaCarrier map[string]any

func (m metaCarrier) Get(key string) string {
	s, _ := m[key].(string)
	return s
}
func (m metaCarrier) Set(string, string) {}
func (m metaCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// parentContext is ctx with the remote parent the client sent: the trace
// context of the request's _meta, as OpenTelemetry's MCP conventions
// propagate it, else the HTTP request's traceparent header.
func parentContext(ctx context.Context, req *mcp.CallToolRequest) context.Context {
	prop := otel.GetTextMapPropagator()
	if m := req.Params.Meta; m != nil {
		if tp, _ := m.AdditionalFields["traceparent"].(string); tp != "" {
			return prop.Extract(ctx, metaCarrier(m.AdditionalFields))
		}
	}
	if req.Header.Get("traceparent") != "" {
		return prop.Extract(ctx, propagation.HeaderCarrier(req.Header))
	}
	return ctx
}

// startCallSpan starts the server span of one tools/call, named and
// described per OpenTelemetry's MCP conventions ("tools/call {tool}").
func startCallSpan(ctx context.Context, req *mcp.CallToolRequest) (context.Context, trace.Span) {
	ctx = parentContext(ctx, req)
	ctx, span := tracer.Start(ctx, string(mcp.MethodToolsCall)+" "+req.Params.Name, trace.WithSpanKind(trace.SpanKindServer))
	if !span.IsRecording() {
		return ctx, span
	}
	span.SetAttributes(
		attribute.String("mcp.method.name", string(mcp.MethodToolsCall)),
		attribute.String("gen_ai.tool.name", req.Params.Name),
		attribute.String("gen_ai.operation.name", "execute_tool"),
	)
	if id := requestID(req); id != "" {
		span.SetAttributes(attribute.String("jsonrpc.request.id", id))
	}
	if v := server.RequestProtocolVersion(ctx); v != "" {
		span.SetAttributes(attribute.String("mcp.protocol.version", v))
	}
	if len(req.Header) > 0 {
		// Streamable HTTP (over stdio mcp-go hands handlers an empty
		// header): the session is the Mcp-Session-Id one. Over stdio the
		// process is the session: there is no id to record.
		span.SetAttributes(attribute.String("network.transport", "tcp"), attribute.String("network.protocol.name", "http"))
		if s := server.ClientSessionFromContext(ctx); s != nil && s.SessionID() != "" {
			span.SetAttributes(attribute.String("mcp.session.id", s.SessionID()))
		}
	} else {
		span.SetAttributes(attribute.String("network.transport", "pipe"))
	}
	return ctx, span
}

// endCallSpan records the call's outcome and ends its span: a result
// with isError is error.type tool_error (the conventions' value), with
// pgmcp's stable code beside it.
func endCallSpan(span trace.Span, callID, code string, res *mcp.CallToolResult, err error) {
	if !span.IsRecording() {
		return
	}
	if callID != "" {
		span.SetAttributes(attribute.String("pgmcp.call.id", callID))
	}
	switch {
	case err != nil:
		span.SetAttributes(attribute.String("error.type", "_OTHER"))
		span.SetStatus(codes.Error, "internal error")
	case res != nil && res.IsError:
		span.SetAttributes(
			attribute.String("error.type", "tool_error"),
			attribute.Bool("pgmcp.tool.is_error", true),
			attribute.String("pgmcp.error.code", code),
		)
		span.SetStatus(codes.Error, code)
	default:
		span.SetAttributes(attribute.Bool("pgmcp.tool.is_error", false))
	}
	span.End()
}
