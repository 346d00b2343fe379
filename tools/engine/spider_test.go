package engine

import (
	"testing"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// Spider's dev set, graded by SpiderHardness: the published counts are
// 248 easy, 446 medium, 174 hard and 166 extra (1,034); graded from the
// parsed SQL dev.json carries (the official script parses the query text
// again), two medium questions grade as extra. A change to the grading
// that moves any other question fails here.
func TestReadSpiderHardness(t *testing.T) {
	cases, err := ReadSpider(pgtest.SharedPath(t, "data/spider"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, c := range cases {
		got[c.Difficulty]++
	}
	want := map[string]int{SpiderEasy: 248, SpiderMedium: 444, SpiderHard: 174, SpiderExtra: 168}
	if len(cases) != 1034 || len(got) != len(want) {
		t.Fatalf("%d cases, levels %v; want 1034 cases, levels %v", len(cases), got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

func TestSpiderGoldSQL(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT name FROM singer`:                           `SELECT name FROM singer`,
		`SELECT * FROM t WHERE a = "France"`:                `SELECT * FROM t WHERE a = 'France'`,
		`SELECT * FROM t WHERE a = "O'Brien" AND b = 'x"y'`: `SELECT * FROM t WHERE a = 'O''Brien' AND b = 'x"y'`,
		`SELECT * FROM t WHERE a = 'it''s' OR a = "%ab%"`:   `SELECT * FROM t WHERE a = 'it''s' OR a = '%ab%'`,
		`SELECT * FROM t WHERE a = "unclosed`:               `SELECT * FROM t WHERE a = "unclosed`,
		`SELECT * FROM t WHERE a = 'unclosed "x"`:           `SELECT * FROM t WHERE a = 'unclosed "x"`,
		`SELECT count(*) FROM t WHERE a = "" AND b = "B"`:   `SELECT count(*) FROM t WHERE a = '' AND b = 'B'`,
	} {
		if got := SpiderGoldSQL(in); got != want {
			t.Errorf("SpiderGoldSQL(%s) = %s, want %s", in, got, want)
		}
	}
}
