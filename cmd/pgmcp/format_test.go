package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/tools/pgexec"
)

var fmtCols = []pgexec.Column{{Name: "name", Type: "text"}, {Name: "total", Type: "numeric(10,2)"}, {Name: "tags", Type: "text[]"}}

var fmtRows = [][]any{
	{"Zoë | \"quoted\"", json.Number("1234.50"), []any{"a", "b"}},
	{nil, json.Number("7.00"), nil},
	{"line\nbreak", json.Number("-0.01"), []any{}},
}

func TestWriteAligned(t *testing.T) {
	var b bytes.Buffer
	writeAligned(&b, fmtCols, fmtRows)
	want := `name           | total   | tags
---------------+---------+----------
Zoë | "quoted" | 1234.50 | ["a","b"]
NULL           |    7.00 | NULL
line break     |   -0.01 | []
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	// A long value is cut with an ellipsis, counted in characters.
	b.Reset()
	writeAligned(&b, fmtCols[:1], [][]any{{strings.Repeat("é", 100)}})
	if !strings.Contains(b.String(), strings.Repeat("é", maxTableCell-1)+"…\n") {
		t.Errorf("long value not cut:\n%s", b.String())
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	writeMarkdown(&b, fmtCols, fmtRows)
	want := `| name | total | tags |
|---|---:|---|
| Zoë \| "quoted" | 1234.50 | ["a","b"] |
| NULL | 7.00 | NULL |
| line<br>break | -0.01 | [] |
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := writeCSV(&b, fmtCols, fmtRows); err != nil {
		t.Fatal(err)
	}
	want := "name,total,tags\n\"Zoë | \"\"quoted\"\"\",1234.50,\"[\"\"a\"\",\"\"b\"\"]\"\n,7.00,\n\"line\nbreak\",-0.01,[]\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

// TestSpinnerOnlyOnTerminals checks the spinner stays off when stderr is
// not a terminal (a buffer, a pipe, a file), so scripts see clean output.
func TestSpinnerOnlyOnTerminals(t *testing.T) {
	if s := startSpinner(&bytes.Buffer{}, "x"); s != nil {
		t.Error("a spinner on a buffer")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if s := startSpinner(w, "x"); s != nil {
		s.stop()
		t.Error("a spinner on a pipe")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if s := startSpinner(f, "x"); s != nil {
		s.stop()
		t.Error("a spinner on a file")
	}
	var none *spinner
	none.stop() // a nil spinner stops quietly
}
