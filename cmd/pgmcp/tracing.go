package main

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// tracingFlushTimeout bounds the flush of the spans left at exit: a
// collector that does not answer costs the exit this much at most.
const tracingFlushTimeout = 2 * time.Second

// tracingErrorInterval is the least time between two logged export
// errors: a collector that is down is said once in a while, not per batch.
const tracingErrorInterval = 30 * time.Second

// tracingWanted says whether the standard OpenTelemetry variables of
// environ ask for traces: off unless an OTLP endpoint is set or
// OTEL_TRACES_EXPORTER is otlp, and always off with OTEL_SDK_DISABLED=true
// or OTEL_TRACES_EXPORTER=none. Only OTLP over HTTP (protobuf) is built in;
// problem says why a request for something else is not honoured.
func tracingWanted(environ []string) (on bool, problem string) {
	get := func(k string) string { return strings.TrimSpace(envValue(environ, k)) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return false, ""
	}
	exporter := strings.ToLower(get("OTEL_TRACES_EXPORTER"))
	switch exporter {
	case "none":
		return false, ""
	case "", "otlp":
	default:
		return false, "OTEL_TRACES_EXPORTER=" + exporter + " is not supported (only otlp): tracing is off"
	}
	if exporter == "" && get("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return false, ""
	}
	proto := get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = get("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if proto != "" && proto != "http/protobuf" {
		return false, "OTLP protocol " + proto + " is not supported (only http/protobuf): tracing is off"
	}
	return true, ""
}

// startTracing installs OpenTelemetry tracing when the environment asks
// for it (see tracingWanted): an OTLP/HTTP exporter, the sampler and the
// batching the standard OTEL_* variables configure (read by the SDK from
// the process environment), the resource of OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES (service.name defaults to pgmcp), and W3C trace
// context propagation. Otherwise the global no-op provider stays, and
// spans cost nothing. The returned function flushes what is left, within
// tracingFlushTimeout; export errors are logged, never fatal, and nothing
// is ever written to stdout.
func startTracing(ctx context.Context, environ []string, log *slog.Logger) (shutdown func()) {
	on, problem := tracingWanted(environ)
	if problem != "" {
		log.Warn(problem)
	}
	if !on {
		return func() {}
	}
	var lastErr atomic.Int64
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		now := time.Now().UnixNano()
		last := lastErr.Load()
		if now-last < int64(tracingErrorInterval) || !lastErr.CompareAndSwap(last, now) {
			return
		}
		log.Warn("tracing: spans not exported", "err", err)
	}))
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		log.Warn("tracing: the OTLP exporter cannot be made: tracing is off", "err", err)
		return func() {}
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", "pgmcp"),
			attribute.String("service.version", versionString()),
		),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		// A partial resource is still usable (a bad OTEL_RESOURCE_ATTRIBUTES
		// entry): say so and go on with it.
		log.Warn("tracing: resource attributes", "err", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	log.Info("tracing: exporting spans over OTLP/HTTP")
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingFlushTimeout)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			log.Warn("tracing: spans left unexported at exit", "err", err)
		}
	}
}
