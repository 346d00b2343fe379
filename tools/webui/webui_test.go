package webui

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// Each page is assembled whole (no placeholder left, the shared renderer
// in it), and its CSP allows exactly its inline script and style.
func TestPages(t *testing.T) {
	for name, p := range map[string]Page{"view": View(), "workbench": Workbench()} {
		if strings.Contains(p.HTML, "/*{{") {
			t.Errorf("%s: a placeholder is left", name)
		}
		if !strings.Contains(p.HTML, "const PgmcpRender") || !strings.Contains(p.HTML, "table.result") {
			t.Errorf("%s: the renderer or the style sheet is missing", name)
		}
		script := between(t, p.HTML, "<script>", "</script>")
		style := between(t, p.HTML, "<style>", "</style>")
		for what, body := range map[string]string{script: p.ScriptHash, style: p.StyleHash} {
			sum := sha256.Sum256([]byte(what))
			if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; body != want || !strings.Contains(p.CSP(), want) {
				t.Errorf("%s: hash %s, want %s in the CSP %s", name, body, want, p.CSP())
			}
		}
		// No markup is built from strings: the renderer creates elements
		// and sets text.
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if strings.Contains(p.HTML, bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
	}
}

func between(t *testing.T, s, open, close string) string {
	t.Helper()
	_, rest, ok := strings.Cut(s, open)
	body, _, ok2 := strings.Cut(rest, close)
	if !ok || !ok2 {
		t.Fatalf("no %s…%s", open, close)
	}
	return body
}
