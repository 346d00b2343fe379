package main

import "testing"

func TestTracingWanted(t *testing.T) {
	for _, tc := range []struct {
		env     []string
		on      bool
		problem bool
	}{
		{nil, false, false},
		{[]string{"OTEL_SERVICE_NAME=x"}, false, false},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318"}, true, false},
		{[]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://c:4318/v1/traces"}, true, false},
		{[]string{"OTEL_TRACES_EXPORTER=otlp"}, true, false},
		{[]string{"OTEL_TRACES_EXPORTER=OTLP"}, true, false},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", "OTEL_SDK_DISABLED=true"}, false, false},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", "OTEL_SDK_DISABLED=false"}, true, false},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", "OTEL_TRACES_EXPORTER=none"}, false, false},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", "OTEL_TRACES_EXPORTER=zipkin"}, false, true},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"}, false, true},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf"}, true, false},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}, true, false},
		// The last value wins, as in a shell.
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", "OTEL_EXPORTER_OTLP_ENDPOINT="}, false, false},
	} {
		on, problem := tracingWanted(tc.env)
		if on != tc.on || (problem != "") != tc.problem {
			t.Errorf("%v: on=%t problem=%q, want on=%t problem=%t", tc.env, on, problem, tc.on, tc.problem)
		}
	}
}
