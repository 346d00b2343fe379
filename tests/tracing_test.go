package tests

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// otlpReceiver is an in-process OTLP/HTTP trace receiver: it decodes the
// protobuf export requests pgmcp's exporter sends and keeps their spans.
type otlpReceiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	spans    []*receivedSpan
	services []string
	bad      []string // what could not be decoded
}

// receivedSpan is one span with its resource's service.name.
type receivedSpan struct {
	*tracepb.Span
	service string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.handle))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) handle(w http.ResponseWriter, req *http.Request) {
	fail := func(format string, args ...any) {
		r.mu.Lock()
		r.bad = append(r.bad, fmt.Sprintf(format, args...))
		r.mu.Unlock()
		http.Error(w, "bad request", http.StatusBadRequest)
	}
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		fail("%s %s", req.Method, req.URL.Path)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		fail("content type %q", ct)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			fail("gzip: %v", err)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		fail("read: %v", err)
		return
	}
	var export coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &export); err != nil {
		fail("decode: %v", err)
		return
	}
	r.mu.Lock()
	for _, rs := range export.ResourceSpans {
		service := attrString(rs.GetResource().GetAttributes(), "service.name")
		r.services = append(r.services, service)
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, &receivedSpan{Span: s, service: service})
			}
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// waitTrace waits until the receiver holds a span that match accepts,
// then returns every span of its trace (after a moment for a later batch:
// children end before their parent and are exported on their own).
func (r *otlpReceiver) waitTrace(t *testing.T, what string, match func(*receivedSpan) bool) []*receivedSpan {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		var found []byte
		for _, s := range r.spans {
			if match(s) {
				found = s.TraceId
			}
		}
		bad := slices.Clone(r.bad)
		r.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("the receiver got requests it could not read: %v", bad)
		}
		if found != nil {
			time.Sleep(300 * time.Millisecond)
			r.mu.Lock()
			defer r.mu.Unlock()
			var trace []*receivedSpan
			for _, s := range r.spans {
				if bytes.Equal(s.TraceId, found) {
					trace = append(trace, s)
				}
			}
			return trace
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s reached the receiver in time", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func attrString(attrs []*commonpb.KeyValue, key string) string {
	for _, a := range attrs {
		if a.Key == key {
			return anyValueText(a.Value)
		}
	}
	return ""
}

func hasAttr(s *receivedSpan, key string) bool {
	for _, a := range s.Attributes {
		if a.Key == key {
			return true
		}
	}
	return false
}

func anyValueText(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	case *commonpb.AnyValue_ArrayValue:
		var parts []string
		for _, e := range x.ArrayValue.Values {
			parts = append(parts, anyValueText(e))
		}
		return "[" + strings.Join(parts, ",") + "]"
	default:
		return fmt.Sprint(v)
	}
}

// listing is the trace span by span, children under their parent, with
// every attribute: what the test logs.
func listing(spans []*receivedSpan) string {
	byParent := map[string][]*receivedSpan{}
	ids := map[string]bool{}
	for _, s := range spans {
		ids[hex.EncodeToString(s.SpanId)] = true
	}
	var roots []*receivedSpan
	for _, s := range spans {
		p := hex.EncodeToString(s.ParentSpanId)
		if ids[p] {
			byParent[p] = append(byParent[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	var b strings.Builder
	var walk func(s *receivedSpan, depth int)
	walk = func(s *receivedSpan, depth int) {
		ind := strings.Repeat("    ", depth)
		dur := time.Duration(s.EndTimeUnixNano - s.StartTimeUnixNano)
		fmt.Fprintf(&b, "%s%q kind=%s span=%x parent=%x status=%s %s (service %s)\n", ind, s.Name,
			strings.TrimPrefix(s.Kind.String(), "SPAN_KIND_"), s.SpanId, s.ParentSpanId,
			strings.TrimPrefix(s.Status.GetCode().String(), "STATUS_CODE_"), dur.Round(time.Microsecond), s.service)
		attrs := slices.Clone(s.Attributes)
		sort.Slice(attrs, func(i, j int) bool { return attrs[i].Key < attrs[j].Key })
		for _, a := range attrs {
			fmt.Fprintf(&b, "%s    %s = %s\n", ind, a.Key, anyValueText(a.Value))
		}
		kids := byParent[hex.EncodeToString(s.SpanId)]
		sort.Slice(kids, func(i, j int) bool { return kids[i].StartTimeUnixNano < kids[j].StartTimeUnixNano })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	fmt.Fprintf(&b, "trace %x\n", spans[0].TraceId)
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}

// only returns the one span named name among spans, failing otherwise.
func only(t *testing.T, spans []*receivedSpan, name string) *receivedSpan {
	t.Helper()
	var found []*receivedSpan
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one span %q, got %d:\n%s", name, len(found), listing(spans))
	}
	return found[0]
}

func wantAttrs(t *testing.T, s *receivedSpan, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := attrString(s.Attributes, k); got != v {
			t.Errorf("span %q: %s = %q, want %q", s.Name, k, got, v)
		}
	}
}

// TestTracing runs pgmcp over stdio with an OTLP endpoint set (the
// receiver above) and checks the trace of a query with a question: the
// MCP server span, a child of the client's span sent in _meta, and under
// it the model, guard and database spans with their conventions'
// attributes; the SQL text only with PGMCP_TRACE_SQL. A refused SQL query
// (no traceparent) makes a root span marked as a tool error.
func TestTracing(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	const answer = "SELECT status, count(*) AS orders FROM orders GROUP BY status ORDER BY orders DESC"
	fake := fakellm.New(t, fakellm.Sequence(fakellm.SQL(answer)))

	for _, traceSQL := range []bool{false, true} {
		t.Run(fmt.Sprintf("trace_sql=%t", traceSQL), func(t *testing.T) {
			recv := newOTLPReceiver(t)
			env := baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
				"PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=fake-model",
				"PGMCP_SCHEMA_VALUES=false",
				"OTEL_EXPORTER_OTLP_ENDPOINT="+recv.srv.URL, "OTEL_SERVICE_NAME=pgmcp-under-test",
				"OTEL_BSP_SCHEDULE_DELAY=100")
			if traceSQL {
				env = append(env, "PGMCP_TRACE_SQL=true")
			}
			var stderr bytes.Buffer
			var stderrMu sync.Mutex
			tr := transport.NewStdioWithOptions(binary, env, []string{"serve"},
				transport.WithCommandStderrWriter(lockedWriter{&stderrMu, &stderr}))
			if err := tr.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			c := client.NewClient(tr)
			defer c.Close()
			initialize(t, c)

			// The client's own span: its trace context goes in _meta.
			const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
			fake.SetScript(fakellm.Sequence(fakellm.SQL(answer)))
			req := mcp.CallToolRequest{}
			req.Params.Name = "query"
			req.Params.Arguments = map[string]any{"question": "How many orders are in each status?"}
			req.Params.Meta = &mcp.Meta{AdditionalFields: map[string]any{
				"traceparent": "00-" + clientTrace + "-" + clientSpan + "-01",
				"tracestate":  "pgmcptest=1",
			}}
			res, err := c.CallTool(t.Context(), req)
			if err != nil || res.IsError {
				t.Fatalf("query with a question: %v %+v", err, res)
			}

			spans := recv.waitTrace(t, "MCP span in the client's trace", func(s *receivedSpan) bool {
				return s.Name == "tools/call query" && hex.EncodeToString(s.TraceId) == clientTrace
			})
			t.Logf("the trace of one query with a question (PGMCP_TRACE_SQL=%t), as the OTLP receiver got it:\n%s", traceSQL, listing(spans))

			call := only(t, spans, "tools/call query")
			if call.Kind != tracepb.Span_SPAN_KIND_SERVER {
				t.Errorf("MCP span kind %v, want server", call.Kind)
			}
			if got := hex.EncodeToString(call.ParentSpanId); got != clientSpan {
				t.Errorf("MCP span's parent is %q, want the client's span %s from _meta", got, clientSpan)
			}
			if call.TraceState != "pgmcptest=1" {
				t.Errorf("MCP span trace state %q, want the client's", call.TraceState)
			}
			if call.service != "pgmcp-under-test" {
				t.Errorf("service.name %q, want OTEL_SERVICE_NAME's", call.service)
			}
			wantAttrs(t, call, map[string]string{
				"mcp.method.name":       "tools/call",
				"gen_ai.tool.name":      "query",
				"gen_ai.operation.name": "execute_tool",
				"network.transport":     "pipe",
				"pgmcp.tool.is_error":   "false",
			})
			if attrString(call.Attributes, "jsonrpc.request.id") == "" || attrString(call.Attributes, "pgmcp.call.id") == "" {
				t.Errorf("MCP span without its JSON-RPC request id or call id:\n%s", listing(spans))
			}
			if hasAttr(call, "error.type") || call.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("a successful call's span says it failed:\n%s", listing(spans))
			}

			model := only(t, spans, "chat fake-model")
			guard := only(t, spans, "sqlguard check")
			dbSpan := only(t, spans, "SELECT "+db.Name)
			// pgmcp's own queries through pgx (the type lookups of the
			// execution): spans of their own, marked, never with text.
			var catalog []*receivedSpan
			for _, s := range spans {
				if attrString(s.Attributes, "pgmcp.catalog") == "true" {
					catalog = append(catalog, s)
					if hasAttr(s, "db.query.text") || attrString(s.Attributes, "db.system.name") != "postgresql" {
						t.Errorf("catalog span %q: no SQL text, db.system.name postgresql expected", s.Name)
					}
				}
			}
			if len(catalog) == 0 {
				t.Errorf("no span for pgmcp's catalog queries:\n%s", listing(spans))
			}
			for _, s := range []*receivedSpan{model, guard, dbSpan} {
				if !bytes.Equal(s.ParentSpanId, call.SpanId) {
					t.Errorf("span %q is not a child of the MCP span", s.Name)
				}
				if s.StartTimeUnixNano < call.StartTimeUnixNano || s.EndTimeUnixNano > call.EndTimeUnixNano {
					t.Errorf("span %q is not within the MCP span", s.Name)
				}
			}
			if !(model.EndTimeUnixNano <= guard.StartTimeUnixNano && guard.EndTimeUnixNano <= dbSpan.StartTimeUnixNano) {
				t.Errorf("want model, then guard, then database:\n%s", listing(spans))
			}

			if model.Kind != tracepb.Span_SPAN_KIND_CLIENT || dbSpan.Kind != tracepb.Span_SPAN_KIND_CLIENT {
				t.Errorf("model and database spans should be client spans")
			}
			wantAttrs(t, model, map[string]string{
				"gen_ai.operation.name": "chat",
				"gen_ai.request.model":  "fake-model",
				"gen_ai.response.model": "fake-model",
				"server.address":        "127.0.0.1",
			})
			for _, k := range []string{"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "server.port"} {
				if v := attrString(model.Attributes, k); v == "" || v == "0" {
					t.Errorf("model span: %s = %q", k, v)
				}
			}

			wantAttrs(t, guard, map[string]string{"pgmcp.guard.verdict": "allowed"})
			wantAttrs(t, dbSpan, map[string]string{
				"db.system.name":            "postgresql",
				"db.namespace":              db.Name,
				"db.operation.name":         "SELECT",
				"db.response.returned_rows": fmt.Sprint(len(demoStatuses(t, res))),
			})
			if dbSpan.Name != "SELECT "+db.Name {
				t.Errorf("database span %q, want SELECT %s", dbSpan.Name, db.Name)
			}
			if !hasAttr(dbSpan, "server.address") {
				t.Errorf("database span without server.address")
			}

			// The SQL text: only with the option, and then the checked text.
			for _, s := range []*receivedSpan{guard, dbSpan} {
				text := attrString(s.Attributes, "db.query.text")
				switch {
				case !traceSQL && hasAttr(s, "db.query.text"):
					t.Errorf("span %q records the SQL text without PGMCP_TRACE_SQL: %q", s.Name, text)
				case traceSQL && !strings.Contains(text, "GROUP BY status"):
					t.Errorf("span %q: db.query.text = %q, want the checked SQL", s.Name, text)
				}
			}
			for _, s := range spans {
				for _, a := range s.Attributes {
					if !traceSQL && strings.Contains(anyValueText(a.Value), "GROUP BY") {
						t.Errorf("span %q attribute %s holds SQL text without PGMCP_TRACE_SQL", s.Name, a.Key)
					}
				}
			}

			// A refused query, no trace context sent: a root span of a
			// trace of its own, marked as a tool error with pgmcp's code.
			bad := mcp.CallToolRequest{}
			bad.Params.Name = "query"
			bad.Params.Arguments = map[string]any{"sql": "DELETE FROM orders"}
			res, err = c.CallTool(t.Context(), bad)
			if err != nil || !res.IsError {
				t.Fatalf("DELETE should be refused as a tool error: %v %+v", err, res)
			}
			refused := recv.waitTrace(t, "MCP span of the refused call", func(s *receivedSpan) bool {
				return s.Name == "tools/call query" && hex.EncodeToString(s.TraceId) != clientTrace
			})
			t.Logf("a refused query's trace:\n%s", listing(refused))
			rcall := only(t, refused, "tools/call query")
			if len(rcall.ParentSpanId) != 0 {
				t.Errorf("without a traceparent the MCP span should be a root, has parent %x", rcall.ParentSpanId)
			}
			wantAttrs(t, rcall, map[string]string{"error.type": "tool_error", "pgmcp.tool.is_error": "true"})
			if attrString(rcall.Attributes, "pgmcp.error.code") == "" || rcall.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("a refused call's span has no code or no error status:\n%s", listing(refused))
			}
			rguard := only(t, refused, "sqlguard check")
			wantAttrs(t, rguard, map[string]string{"pgmcp.guard.verdict": "rejected",
				"pgmcp.guard.code": attrString(rcall.Attributes, "pgmcp.error.code")})
			if traceSQL != hasAttr(rguard, "db.query.text") {
				t.Errorf("refused guard span: db.query.text present=%t with PGMCP_TRACE_SQL=%t", hasAttr(rguard, "db.query.text"), traceSQL)
			}
			for _, s := range refused {
				if s.Name == "SELECT "+db.Name || strings.HasPrefix(s.Name, "chat ") {
					t.Errorf("a refused SQL query made a %q span", s.Name)
				}
			}

			c.Close()
			stderrMu.Lock()
			logs := stderr.String()
			stderrMu.Unlock()
			if strings.Contains(logs, "spans not exported") {
				t.Errorf("the exporter reported failures:\n%s", logs)
			}
		})
	}
}

// demoStatuses is the rows of a query result, from its structured content.
func demoStatuses(t *testing.T, res *mcp.CallToolResult) []any {
	t.Helper()
	m, ok := res.StructuredContent.(map[string]any)
	if !ok {
		t.Fatalf("structured content %T", res.StructuredContent)
	}
	rows, _ := m["rows"].([]any)
	if len(rows) == 0 {
		t.Fatalf("no rows in %v", m)
	}
	return rows
}

// lockedWriter serializes writes to a buffer read by the test.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestTracingHTTP checks the MCP span over streamable HTTP with an MCP
// session (2025-11-25 handshake): the session id and the transport are
// recorded, and _meta's trace context is the parent there too.
func TestTracingHTTP(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	recv := newOTLPReceiver(t)
	env := baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_SCHEMA_VALUES=false",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+recv.srv.URL+"/v1/traces", "OTEL_BSP_SCHEDULE_DELAY=100")
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, env)
	c := httpClient(t, srv.base+"/mcp", client.WithProtocolVersion(mcp.ProtocolVersion20251125))
	initialize(t, c)

	const clientTrace, clientSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	req := mcp.CallToolRequest{}
	req.Params.Name = "query"
	req.Params.Arguments = map[string]any{"sql": "SELECT id FROM customers ORDER BY id", "max_rows": 4}
	req.Params.Meta = &mcp.Meta{AdditionalFields: map[string]any{"traceparent": "00-" + clientTrace + "-" + clientSpan + "-01"}}
	res, err := c.CallTool(t.Context(), req)
	if err != nil || res.IsError {
		t.Fatalf("query: %v %+v", err, res)
	}
	spans := recv.waitTrace(t, "MCP span in the client's trace", func(s *receivedSpan) bool {
		return s.Name == "tools/call query" && hex.EncodeToString(s.TraceId) == clientTrace
	})
	t.Logf("a SQL query over HTTP:\n%s", listing(spans))
	call := only(t, spans, "tools/call query")
	if got := hex.EncodeToString(call.ParentSpanId); got != clientSpan {
		t.Errorf("MCP span's parent is %q, want %s", got, clientSpan)
	}
	wantAttrs(t, call, map[string]string{"network.transport": "tcp", "mcp.protocol.version": mcp.ProtocolVersion20251125})
	if attrString(call.Attributes, "mcp.session.id") == "" {
		t.Errorf("no mcp.session.id over an HTTP session:\n%s", listing(spans))
	}
	dbSpan := only(t, spans, "SELECT "+db.Name)
	if !bytes.Equal(dbSpan.ParentSpanId, call.SpanId) {
		t.Errorf("the database span is not the MCP span's child")
	}
	wantAttrs(t, dbSpan, map[string]string{"db.response.returned_rows": "4"})
	for _, s := range spans {
		if strings.HasPrefix(s.Name, "chat ") {
			t.Errorf("SQL given: no model call expected, got %q", s.Name)
		}
	}
	c.Close()
	srv.stop(t)
}

// TestTracingDisabled: OTEL_SDK_DISABLED=true wins over an endpoint, and
// nothing reaches the receiver, not even at exit.
func TestTracingDisabled(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	recv := newOTLPReceiver(t)
	env := baseEnv("PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_SCHEMA_VALUES=false", "PGMCP_TRACE_SQL=true",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+recv.srv.URL, "OTEL_BSP_SCHEDULE_DELAY=100", "OTEL_SDK_DISABLED=true")
	srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, env)
	c := httpClient(t, srv.base+"/mcp")
	initialize(t, c)
	out := callQuery(t, c, map[string]any{"sql": "SELECT id FROM customers ORDER BY id", "max_rows": 2})
	if out["row_count"] != float64(2) {
		t.Fatalf("query: %v", out)
	}
	c.Close()
	srv.stop(t) // the process has exited: anything batched would have been flushed
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.spans) != 0 || len(recv.bad) != 0 {
		t.Errorf("with OTEL_SDK_DISABLED=true the receiver got %d spans (%v)", len(recv.spans), recv.bad)
	}
}
