package prompts

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestExcerpt(t *testing.T) {
	if got := Excerpt("SELECT 1", 8); got != "SELECT 1" {
		t.Errorf("a text at the limit was changed: %q", got)
	}
	got := Excerpt(strings.Repeat("é", 10), 5) // 2 bytes each: the cut falls inside the third
	if got != "éé […16 more bytes left out]" {
		t.Errorf("Excerpt = %q", got)
	}
	if !utf8.ValidString(got) {
		t.Errorf("the excerpt is not valid UTF-8: %q", got)
	}
	if got := Excerpt("abc", -1); got != " […3 more bytes left out]" {
		t.Errorf("a negative limit: %q", got)
	}
}

// TestRepairBounded: however long the answer, the SQL and the failure's
// texts, a repair adds a bounded amount to the conversation.
func TestRepairBounded(t *testing.T) {
	msgs, _ := Build(fixed)
	huge := strings.Repeat("x", 4<<20)
	for _, f := range []Failure{
		{Rejection: &Rejection{Code: "syntax_error", Message: "syntax error at " + huge}},
		{PGError: &PGError{SQLState: "42601", Message: `syntax error at or near "` + huge + `"`, Hint: huge}},
	} {
		out, err := Repair(msgs, `{"sql": "SELECT '`+huge+`'"}`, "SELECT '"+huge+"'", f)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 4 || out[2].Role != RoleAssistant {
			t.Fatalf("repair conversation = %d messages", len(out))
		}
		if n := len(out[2].Content); n > MaxExcerptBytes+64 {
			t.Errorf("the previous answer is quoted with %d bytes", n)
		}
		if n := len(out[3].Content); n > MaxExcerptBytes+3*maxReasonBytes+1024 {
			t.Errorf("the repair text is %d bytes", n)
		}
		if !strings.HasPrefix(out[2].Content, `{"sql": "SELECT 'xxx`) || !strings.Contains(out[3].Content, "Previous query:\nSELECT 'xxx") ||
			!strings.Contains(out[3].Content, "more bytes left out]") {
			t.Errorf("the excerpts lost their beginning or their mark:\n%.300s", out[3].Content)
		}
	}
	// The caller's failure is not modified.
	r := &Rejection{Code: "c", Message: huge}
	if _, err := Repair(msgs, "a", "s", Failure{Rejection: r}); err != nil || r.Message != huge {
		t.Errorf("Repair changed the caller's rejection (%v)", err)
	}
}
