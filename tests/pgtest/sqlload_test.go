package pgtest

import (
	"strings"
	"testing"
)

func TestNextStatement(t *testing.T) {
	src := "-- c\n\\pset x\nSELECT 'a;b', \"x;\" /* ; */ FROM t; -- tail\nCREATE FUNCTION f() AS $f$ a; b $f$;\n  COPY t (a) FROM stdin;\n1\n\\.\n"
	var got []string
	for pos := 0; ; {
		s, next, ok := nextStatement(src, pos)
		if !ok {
			break
		}
		got = append(got, strings.TrimSpace(s))
		pos = next
		if copyFromStdin.MatchString(s) {
			break
		}
	}
	want := []string{`SELECT 'a;b', "x;" /* ; */ FROM t`, `CREATE FUNCTION f() AS $f$ a; b $f$`, `COPY t (a) FROM stdin`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("statements = %q, want %q", got, want)
	}
}
