package engine

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgmcp/pgmcp/sqlguard"
)

// tracer makes the engine's spans: the global provider's (a no-op one
// unless the program installs another). The guard itself stays pure: its
// span is made here, around the call.
var tracer = otel.Tracer("github.com/pgmcp/pgmcp/tools/engine")

// guardSpanName names the span of one guard check.
const guardSpanName = "sqlguard check"

// startGuardSpan starts the span of one guard check.
func startGuardSpan(ctx context.Context) (context.Context, trace.Span) {
	return tracer.Start(ctx, guardSpanName, trace.WithSpanKind(trace.SpanKindInternal))
}

// endGuardSpan records the guard's verdict on its span: allowed, or
// rejected with the reason's stable code; the SQL text only with
// traceSQL. A rejection is the guard doing its work, not a failure of the
// span's operation: the status stays unset.
func endGuardSpan(span trace.Span, sql string, q *sqlguard.Query, err error, traceSQL bool) {
	if !span.IsRecording() {
		return
	}
	if q != nil {
		span.SetAttributes(attribute.String("pgmcp.guard.verdict", "allowed"))
		sql = q.SQL()
	} else if err != nil {
		span.SetAttributes(
			attribute.String("pgmcp.guard.verdict", "rejected"),
			attribute.String("pgmcp.guard.code", Describe(err).Code),
		)
	}
	if traceSQL {
		span.SetAttributes(attribute.String("db.query.text", sql))
	}
	span.End()
}
