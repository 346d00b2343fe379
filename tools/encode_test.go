package tools

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// TestEncodeMessage: EncodeMessage writes what json.Marshal writes (the
// same JSON value), with a tool result's pre-encoded structured content
// spliced in, and falls back to json.Marshal for everything else.
func TestEncodeMessage(t *testing.T) {
	structured := map[string]any{"rows": []any{[]any{"<a&b>", json.Number("1.50")}}, "n": 1}
	raw, err := json.Marshal(structured)
	if err != nil {
		t.Fatal(err)
	}
	withRaw := func(r *mcp.CallToolResult) *mcp.CallToolResult {
		r.StructuredContent, r.RawStructuredContent = structured, raw
		return r
	}
	msgs := []any{
		mcp.JSONRPCResponse{JSONRPC: "2.0", ID: mcp.NewRequestId(int64(7)), Result: withRaw(mcp.NewToolResultText("| a |\n"))},
		&mcp.JSONRPCResponse{JSONRPC: "2.0", ID: mcp.NewRequestId("abc"), Result: *withRaw(&mcp.CallToolResult{})},
		mcp.JSONRPCResponse{JSONRPC: "2.0", ID: mcp.NewRequestId(int64(8)), Result: withRaw(&mcp.CallToolResult{
			Result: mcp.Result{Meta: &mcp.Meta{AdditionalFields: map[string]any{"k": "v"}}}, Content: []mcp.Content{mcp.TextContent{Type: "text", Text: "x"}}, IsError: true})},
		mcp.JSONRPCResponse{JSONRPC: "2.0", ID: mcp.NewRequestId(int64(9)), Result: mcp.NewToolResultStructured(structured, "no raw")},
		mcp.JSONRPCResponse{JSONRPC: "2.0", ID: mcp.NewRequestId(int64(10)), Result: map[string]any{"tools": []any{}}},
		mcp.NewJSONRPCError(mcp.NewRequestId(int64(11)), mcp.INVALID_REQUEST, "bad", nil),
		mcp.JSONRPCNotification{JSONRPC: "2.0", Notification: mcp.Notification{Method: "notifications/tools/list_changed"}},
	}
	for i, m := range msgs {
		got, err := EncodeMessage(m)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%d: not JSON: %s (%v)", i, got, err)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%d:\n got %s\nwant %s", i, got, want)
		}
	}
}
