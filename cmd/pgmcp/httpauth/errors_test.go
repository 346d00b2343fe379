package httpauth

import (
	"errors"
	"strings"
	"testing"
)

// TestErrorTextOmitsCause: Error() is "code: message"; the cause is for
// the log only.
func TestErrorTextOmitsCause(t *testing.T) {
	e := authErr(CodeBadSignature, "the token is not a valid JWT", errors.New("jws: secret parser detail"))
	if got, want := e.Error(), "bad_signature: the token is not a valid JWT"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, e.Err) {
		t.Error("the cause is not reachable with errors.Is")
	}
}

// TestUnknownField: unknown keys of an entry are found by key, as
// encoding/json matches them (case-insensitively), not by an error text.
func TestUnknownField(t *testing.T) {
	h := HashToken("x")
	for raw, want := range map[string]string{
		`{"name": "a", "token_sha256": "` + h + `"}`:                  "",
		`{"NAME": "a", "Token_SHA256": "` + h + `"}`:                  "",
		`{"name": "a", "tokn": {"x": [1, 2]}, "other": 1}`:            "tokn",
		`{"policy": {"tokn": 1}, "databases": ["a"], "role": "r"}`:    "",
		`{"name": "a", "token_sha256": "` + h + `", "token": "oops"}`: "token",
		`["not", "an", "object"]`:                                     "",
		`{"name": `:                                                   "",
	} {
		got, ok := unknownField([]byte(raw))
		if got != want || ok != (want != "") {
			t.Errorf("unknownField(%s) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	_, err := ParseTokensFile([]byte(`[{"name": "a", "token_sha256": "` + h + `", "Tokn": "x"}]`))
	if err == nil || !strings.Contains(err.Error(), `entry 1: unknown field "Tokn" (the fields are name, token_sha256, role, databases, policy)`) {
		t.Errorf("ParseTokensFile: %v", err)
	}
}
