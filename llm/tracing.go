package llm

import (
	"context"
	"errors"
	"net"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracer makes the model call's span. It is the global provider's (a
// no-op one unless the program installs another), looked up again by the
// global delegate once one is installed.
var tracer = otel.Tracer("github.com/pgmcp/pgmcp/llm")

// startSpan starts the span of one chat completion, named and described
// per OpenTelemetry's GenAI conventions ("chat {model}", a client span).
// Neither the prompt nor the answer is recorded: only sizes and counts.
func (c *Client) startSpan(ctx context.Context, req Request) (context.Context, trace.Span) {
	ctx, span := tracer.Start(ctx, "chat "+c.model, trace.WithSpanKind(trace.SpanKindClient))
	if !span.IsRecording() {
		return ctx, span
	}
	span.SetAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", c.model),
		attribute.Float64("gen_ai.request.temperature", req.Temperature),
	)
	host, port := c.host, 0
	if h, p, err := net.SplitHostPort(c.host); err == nil {
		host = h
		port, _ = strconv.Atoi(p)
	}
	span.SetAttributes(attribute.String("server.address", host))
	if port > 0 {
		span.SetAttributes(attribute.Int("server.port", port))
	}
	if req.MaxTokens > 0 {
		span.SetAttributes(attribute.Int("gen_ai.request.max_tokens", req.MaxTokens))
	}
	return ctx, span
}

// endSpan records the call's outcome on its span and ends it.
func endSpan(span trace.Span, resp *Response, err error) {
	if !span.IsRecording() {
		return
	}
	if resp != nil {
		span.SetAttributes(
			attribute.String("gen_ai.response.model", resp.Model),
			attribute.Int("gen_ai.usage.input_tokens", resp.Usage.PromptTokens),
			attribute.Int("gen_ai.usage.output_tokens", resp.Usage.CompletionTokens),
			attribute.Int("pgmcp.llm.attempts", resp.Attempts),
		)
		if resp.FinishReason != "" {
			span.SetAttributes(attribute.StringSlice("gen_ai.response.finish_reasons", []string{resp.FinishReason}))
		}
	}
	if err != nil {
		code := "_OTHER"
		var e *Error
		if errors.As(err, &e) {
			code = string(e.Code)
			if e.Status != 0 {
				span.SetAttributes(attribute.Int("http.response.status_code", e.Status))
			}
		}
		span.SetAttributes(attribute.String("error.type", code))
		span.SetStatus(codes.Error, code)
	}
	span.End()
}
