package pgexec

import (
	"context"
	"errors"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracer makes the executions' spans: the global provider's (a no-op one
// unless the program installs another).
var tracer = otel.Tracer("github.com/pgmcp/pgmcp/tools/pgexec")

// The operations of the executor's spans.
const (
	opSelect  = "SELECT"
	opExplain = "EXPLAIN"
)

// dbTarget is what the database spans say of where the pool connects,
// taken once from the pool's configuration.
type dbTarget struct {
	// names are the span names by operation: "SELECT {db.namespace}".
	names map[string]string
	attrs []attribute.KeyValue
}

func (e *Executor) target() *dbTarget {
	e.targetOnce.Do(func() {
		t := &dbTarget{names: map[string]string{}}
		db := ""
		if e.pool != nil {
			cc := e.pool.Config().ConnConfig
			db = cc.Database
			t.attrs = []attribute.KeyValue{
				attribute.String("db.system.name", "postgresql"),
				attribute.String("db.namespace", cc.Database),
			}
			if strings.HasPrefix(cc.Host, "/") {
				// A unix socket: its directory and port name the socket file.
				t.attrs = append(t.attrs, attribute.String("network.transport", "unix"),
					attribute.String("server.address", cc.Host))
			} else {
				t.attrs = append(t.attrs, attribute.String("server.address", cc.Host))
			}
			if cc.Port != 0 {
				t.attrs = append(t.attrs, attribute.Int("server.port", int(cc.Port)))
			}
		}
		for _, op := range []string{opSelect, opExplain} {
			t.names[op] = strings.TrimSpace(op + " " + db)
		}
		e.targetDesc = t
	})
	return e.targetDesc
}

// startSpan starts the client span of one statement the executor runs for
// a call (operation: SELECT or EXPLAIN), per OpenTelemetry's database
// conventions. The SQL text is recorded only with lim.TraceSQL.
func (e *Executor) startSpan(ctx context.Context, operation, sql string, lim Limits) (context.Context, trace.Span) {
	t := e.target()
	ctx, span := tracer.Start(ctx, t.names[operation], trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(t.attrs...)
		span.SetAttributes(attribute.String("db.operation.name", operation))
		if lim.TraceSQL {
			span.SetAttributes(attribute.String("db.query.text", sql))
		}
	}
	return ctx, span
}

// endSpan records an execution's outcome: the rows returned, or the
// error's code (error.type) and SQLSTATE.
func endSpan(span trace.Span, res *Result, err error) {
	if !span.IsRecording() {
		return
	}
	if res != nil {
		span.SetAttributes(attribute.Int("db.response.returned_rows", len(res.Rows)))
		if res.Truncated {
			span.SetAttributes(attribute.String("pgmcp.result.truncated_by", res.TruncatedBy))
		}
	}
	if err != nil {
		code := "_OTHER"
		var pe *Error
		if errors.As(err, &pe) {
			code = string(pe.Code)
			if pe.PG != nil && pe.PG.SQLState != "" {
				span.SetAttributes(attribute.String("db.response.status_code", pe.PG.SQLState))
			}
		}
		span.SetAttributes(attribute.String("error.type", code))
		span.SetStatus(codes.Error, code)
	}
	span.End()
}
