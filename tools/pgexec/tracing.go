package pgexec

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// catalogTracer is the pgx query tracer of the pools: it makes a span for
// each query pgmcp sends through pgx (the catalog reads, the type
// lookups of an execution) while a traced call is in progress, and none
// otherwise (a background schema refresh makes no traces of its own).
// The executions themselves go through pgconn pipelines, which pgx does
// not trace: Run and Explain make their spans. Catalog SQL is pgmcp's own;
// its text is not recorded.
type catalogTracer struct{}

type catalogSpanKey struct{}

func (catalogTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	cc := conn.Config()
	summary := querySummary(data.SQL)
	ctx, span := tracer.Start(ctx, summary, trace.WithSpanKind(trace.SpanKindClient))
	span.SetAttributes(
		attribute.String("db.query.summary", summary),
		attribute.String("db.system.name", "postgresql"),
		attribute.String("db.namespace", cc.Database),
		attribute.String("server.address", cc.Host),
		attribute.Int("server.port", int(cc.Port)),
		attribute.Bool("pgmcp.catalog", true),
	)
	return context.WithValue(ctx, catalogSpanKey{}, span)
}

func (catalogTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span, ok := ctx.Value(catalogSpanKey{}).(trace.Span)
	if !ok {
		return
	}
	if data.Err != nil {
		span.SetAttributes(attribute.String("error.type", "_OTHER"))
		var pge *pgconn.PgError
		if errors.As(data.Err, &pge) {
			span.SetAttributes(attribute.String("db.response.status_code", pge.Code), attribute.String("error.type", pge.Code))
		}
		span.SetStatus(codes.Error, "catalog query failed")
	} else if data.CommandTag.Select() {
		span.SetAttributes(attribute.Int64("db.response.returned_rows", data.CommandTag.RowsAffected()))
	}
	span.End()
}

// querySummary is a low-cardinality summary of one of pgmcp's own
// queries, as the database conventions name spans: its first keyword and
// the first relation it reads from, e.g. "SELECT pg_catalog.pg_type".
func querySummary(sql string) string {
	fields := strings.Fields(sql)
	if len(fields) == 0 {
		return "catalog"
	}
	op := strings.ToUpper(fields[0])
	for i, f := range fields[:len(fields)-1] {
		if strings.EqualFold(f, "FROM") {
			target := fields[i+1]
			if n := strings.IndexFunc(target, func(r rune) bool {
				return !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
			}); n >= 0 {
				target = target[:n]
			}
			if target != "" {
				return op + " " + target
			}
		}
	}
	return op
}
