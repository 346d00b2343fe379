package schema

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

func testValueIndex() *ValueIndex {
	return NewValueIndex([]ColumnValues{
		{Table: "public.singer", Column: "country", Values: []string{"France", "Netherlands", "United States", "São Paulo", "France"}},
		{Table: "public.singer", Column: "name", Values: []string{"Joe Sharp", "Volkan Baga", "O'Brien", "Rose White", "James"}},
		{Table: "public.city", Column: "name", Values: []string{"Lisbon", "São Paulo", "London", "Paris", "The", "of"}},
		{Table: "public.pets", Column: "pet_type", Values: []string{"Dog", "Cats", "Bird"}},
		{Table: "public.secret", Column: "code", Values: []string{"France", "Lisbon"}},
		{Table: "public.country", Column: "code", Values: []string{"UK", "FR", "2010"}},
	}, ValueIndexOptions{})
}

// findMatch returns the match of table.column = value, if any.
func findMatch(ms []ValueMatch, table, column, value string) (ValueMatch, bool) {
	for _, m := range ms {
		if m.Table == table && m.Column == column && m.Value == value {
			return m, true
		}
	}
	return ValueMatch{}, false
}

func TestValueMatch(t *testing.T) {
	ix := testValueIndex()
	for _, tc := range []struct {
		name, question       string
		table, column, value string
		minScore, maxScore   float64
		matched              string
	}{
		{"case", "How many singers are from france?", "public.singer", "country", "France", 1, 1, "france"},
		{"accent", "Which singers live in Sao Paulo?", "public.city", "name", "São Paulo", 1, 1, "sao paulo"},
		{"accent decomposed", "Which singers live in Sa\u0303o Paulo?", "public.singer", "country", "São Paulo", 1, 1, "sao paulo"},
		{"plural", "How many dogs are there?", "public.pets", "pet_type", "Dog", 0.95, 0.95, "dogs"},
		{"singular", "Name every cat older than 3.", "public.pets", "pet_type", "Cats", 0.95, 0.95, "cat"},
		{"typo", "How many people live in Lisbn?", "public.city", "name", "Lisbon", 0.5, 0.9, "lisbn"},
		{"transposition", "Who lives in Lodnon", "public.city", "name", "London", 0.5, 0.9, "lodnon"},
		{"multiword", "List all the paintings that were drawn by Volkan Baga in the 19th century", "public.singer", "name", "Volkan Baga", 1, 1, "volkan baga"},
		{"multiword typo", "songs by volkan bagga", "public.singer", "name", "Volkan Baga", 0.5, 0.9, "volkan bagga"},
		{"apostrophe", "Albums of O'Brien", "public.singer", "name", "O'Brien", 1, 1, "o brien"},
		{"capital code", "Sales in the UK", "public.country", "code", "UK", 1, 1, "uk"},
		{"number", "Which events happened in 2010?", "public.country", "code", "2010", 0.9, 0.9, "2010"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := ix.Match(tc.question, 20)
			m, ok := findMatch(ms, tc.table, tc.column, tc.value)
			if !ok {
				t.Fatalf("Match(%q) = %+v, want %s.%s %q", tc.question, ms, tc.table, tc.column, tc.value)
			}
			if m.Score < tc.minScore || m.Score > tc.maxScore || m.Matched != tc.matched {
				t.Errorf("match %+v: want score in [%v, %v], matched %q", m, tc.minScore, tc.maxScore, tc.matched)
			}
		})
	}
}

func TestValueMatchRejects(t *testing.T) {
	ix := testValueIndex()
	for _, q := range []string{
		"What is the name of the oldest singer?", // 'The', 'of' are never matched
		"the of THE Of",
		"fr uk",                        // short lower-case words are skipped
		"paros",                        // a 5-letter word needs its 1 edit: 'Paris' is 1 edit away …
		"Top 20 singers by route 2011", // numbers match only exactly
		"",
	} {
		for _, m := range ix.Match(q, 20) {
			switch {
			case m.Value == "The" || m.Value == "of":
				t.Errorf("Match(%q) returned a stop word value: %+v", q, m)
			case q == "fr uk":
				t.Errorf("Match(%q) = %+v: short lower-case words must be skipped", q, m)
			case q == "paros" && m.Value != "Paris":
				t.Errorf("Match(%q) = %+v", q, m)
			case strings.Contains(q, "20"):
				t.Errorf("Match(%q) = %+v: numbers match only exactly", q, m)
			}
		}
	}
	if ms := ix.Match("Who lives in Pari?", 10); len(ms) != 0 {
		t.Errorf("a 4-rune word takes no typo: %+v", ms)
	}
	if ms := ix.Match("Show the names of singers", 10); len(ms) != 0 {
		t.Errorf("names is not 'James' (a typo keeps the first letter): %+v", ms)
	}
	if ms := ix.Match("Who lives in Kondon", 10); len(ms) != 0 {
		t.Errorf("a typo in the first letter is not matched: %+v", ms)
	}
	if ms := ix.Match("dogma", 10); len(ms) != 0 {
		t.Errorf("dogma is not a dog: %+v", ms)
	}
	var nilIndex *ValueIndex
	if ms := nilIndex.Match("France", 10); ms != nil || nilIndex.Len() != 0 {
		t.Errorf("nil index: %+v", ms)
	}
}

func TestValueMatchRanking(t *testing.T) {
	ix := testValueIndex()
	ms := ix.Match("singers from France or Lisbn", 10)
	if len(ms) < 3 {
		t.Fatalf("got %+v", ms)
	}
	// Exact matches first (sorted by table), then the typo.
	if ms[0].Score != 1 || ms[len(ms)-1].Value != "Lisbon" || ms[len(ms)-1].Score >= 0.9 {
		t.Errorf("ranking: %+v", ms)
	}
	// One match per (table, column, value) even when France appears twice in
	// the input and twice in the question.
	seen := map[string]bool{}
	for _, m := range ix.Match("France, France and france", 10) {
		k := m.Table + "." + m.Column + "=" + m.Value
		if seen[k] {
			t.Errorf("duplicate %s", k)
		}
		seen[k] = true
	}
	// A longer gram ranks first among equal scores: "sao paulo" (2 words)
	// before "paris" (1 word).
	ms = ix.Match("paris and sao paulo", 10)
	if len(ms) < 2 || ms[0].Value != "São Paulo" || ms[len(ms)-1].Value != "Paris" {
		t.Errorf("longer first: %+v", ms)
	}
}

func TestValueMatchLimit(t *testing.T) {
	ix := testValueIndex()
	q := "France Lisbon London Paris Dog Bird Netherlands"
	if ms := ix.Match(q, 3); len(ms) != 3 {
		t.Errorf("limit 3: got %d: %+v", len(ms), ms)
	}
	if ms := ix.Match(q, 0); len(ms) != min(DefaultValueMatchLimit, len(ix.Match(q, 100))) {
		t.Errorf("limit 0: got %d", len(ms))
	}
	big := NewValueIndex([]ColumnValues{{Table: "t", Column: "c", Values: []string{"alpha", "beta", "gamma", "delta"}}},
		ValueIndexOptions{MaxValuesPerColumn: 2})
	if big.Len() != 2 {
		t.Errorf("MaxValuesPerColumn: Len = %d", big.Len())
	}
	if ms := big.Match("gamma", 10); len(ms) != 0 {
		t.Errorf("a dropped value matched: %+v", ms)
	}
	long := NewValueIndex([]ColumnValues{{Table: "t", Column: "c", Values: []string{"abcdefghijk", "line\nbreak", "ok value"}}},
		ValueIndexOptions{MaxValueLength: 10})
	if long.Len() != 1 {
		t.Errorf("MaxValueLength and control characters: Len = %d", long.Len())
	}
	// A very long question is cut, not refused.
	huge := strings.Repeat("singers from nowhere ", 1000) + "France"
	_ = ix.Match(huge, 10)
}

func TestValueIndexFilter(t *testing.T) {
	ix := testValueIndex()
	f := ix.Filter(func(table, column string) bool { return table != "public.secret" })
	for _, q := range []string{"France", "Lisbon", "Lisbn", "france and lisbon"} {
		for _, m := range f.Match(q, 50) {
			if m.Table == "public.secret" {
				t.Errorf("filtered index returned a hidden column: %+v", m)
			}
		}
	}
	if _, ok := findMatch(ix.Match("france and lisbon", 50), "public.secret", "code", "Lisbon"); !ok {
		t.Error("the unfiltered index lost public.secret")
	}
	// Filters compose; the unfiltered index is unchanged.
	g := f.Filter(func(table, column string) bool { return column != "country" })
	if _, ok := findMatch(g.Match("France", 50), "public.singer", "country", "France"); ok {
		t.Error("second filter not applied")
	}
	if _, ok := findMatch(g.Match("France", 50), "public.secret", "code", "France"); ok {
		t.Error("first filter lost")
	}
	if g.Len() >= f.Len() || f.Len() >= ix.Len() {
		t.Errorf("Len: %d %d %d", ix.Len(), f.Len(), g.Len())
	}
}

func TestValueHints(t *testing.T) {
	ix := testValueIndex()
	got := ix.Hints([]ValueMatch{
		{Table: "public.singer", Column: "country", Value: "France"},
		{Table: "public.singer", Column: "name", Value: "O'Brien"},
	})
	want := "public.singer.country has 'France'\npublic.singer.name has 'O''Brien'\n"
	if got != want {
		t.Errorf("Hints = %q, want %q", got, want)
	}
	if ix.Hints(nil) != "" {
		t.Error("no matches, no hints")
	}
}

func TestValueNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"São Paulo":       "sao paulo",
		"Sa\u0303o Paulo": "sao paulo",
		"Straße":          "strasse",
		"Łódź":            "lodz",
		"Jean-Paul  ÆON":  "jean paul aeon",
		"O'Brien":         "o brien",
		"Ørsted, Œuvre":   "orsted oeuvre",
		"Москва":          "москва",
		"  ":              "",
	} {
		if got := normalizeValue(in); got != want {
			t.Errorf("normalizeValue(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"dogs": "dog", "dog": "dog", "cities": "city", "boxes": "box", "classes": "class",
		"paris": "paris", "status": "status", "new cats": "new cat", "bus": "bus",
	} {
		if got := singularKey(in); got != want {
			t.Errorf("singularKey(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"lisbn", "lisbon", 1}, {"lodnon", "london", 1}, {"kitten", "sitting", 3}, {"same", "same", 0}} {
		var sc matchScratch
		if got := sc.editDistance([]rune(tc.a), tc.b, 5); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}

// TestValueMatchSpider grounds questions on the values of Spider's
// concert_singer database (the COPY blocks of its PostgreSQL dump).
func TestValueMatchSpider(t *testing.T) {
	f, err := os.Open(pgtest.SharedPath(t, "data/spider/pg_dbs/concert_singer.sql"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cols []ColumnValues
	var cur []int // indexes into cols of the current COPY block's columns
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "COPY "):
			head, _, _ := strings.Cut(strings.TrimPrefix(line, "COPY "), " FROM")
			table, list, _ := strings.Cut(head, " (")
			cur = cur[:0]
			for c := range strings.SplitSeq(strings.TrimSuffix(list, ")"), ", ") {
				cur = append(cur, len(cols))
				cols = append(cols, ColumnValues{Table: table, Column: c})
			}
		case line == `\.`:
			cur = cur[:0]
		case len(cur) > 0:
			for i, v := range strings.Split(line, "\t") {
				if i < len(cur) && v != `\N` {
					cols[cur[i]].Values = append(cols[cur[i]].Values, v)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	ix := NewValueIndex(cols, ValueIndexOptions{})
	for _, tc := range []struct{ question, table, column, value string }{
		{"How many singers are from france?", "public.singer", "country", "France"},
		{"What is the name of the singer who sang Hey Oh?", "public.singer", "song_name", "Hey Oh"},
		{"Show the age of Justin Brwn", "public.singer", "name", "Justin Brown"},
	} {
		ms := ix.Match(tc.question, 5)
		if _, ok := findMatch(ms, tc.table, tc.column, tc.value); !ok {
			t.Errorf("Match(%q) = %+v, want %s.%s %q", tc.question, ms, tc.table, tc.column, tc.value)
		}
	}
	t.Logf("%d values; hints for %q:\n%s", ix.Len(), "singers from france", ix.Hints(ix.Match("singers from france", 5)))
}

// syntheticValues is an index of n pseudo-words and two-word names in 40
// columns.
func syntheticValues(n int) []ColumnValues {
	rng := rand.New(rand.NewPCG(17, 17))
	syll := []string{"ka", "lo", "mi", "ra", "ten", "bor", "us", "vel", "an", "dre", "si", "mon", "pa", "ri", "sto", "lin", "gu", "ez", "ha", "no"}
	word := func() string {
		var b strings.Builder
		for range 2 + rng.IntN(3) {
			b.WriteString(syll[rng.IntN(len(syll))])
		}
		s := b.String()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	cols := make([]ColumnValues, 40)
	for i := range cols {
		cols[i] = ColumnValues{Table: fmt.Sprintf("public.t%d", i%10), Column: fmt.Sprintf("c%d", i)}
	}
	for i := range n {
		v := word()
		if i%3 == 0 {
			v += " " + word()
		}
		cols[i%len(cols)].Values = append(cols[i%len(cols)].Values, v)
	}
	return cols
}

// BenchmarkValueMatch matches ordinary questions (about 15 words, one
// value, one typo) against 20k synthetic values, and 100k.
func BenchmarkValueMatch(b *testing.B) {
	questions := []string{
		"How many singers from Kalomi have released an album after 2010 with the label Borusvel?",
		"List the names and ages of all employees working in the Stolinguez department, ordered by salary",
		"What is the average price of products supplied by Tenbor Ramon in the last quarter?",
	}
	for _, n := range []int{20_000, 100_000} {
		ix := NewValueIndex(syntheticValues(n), ValueIndexOptions{MaxValuesPerColumn: n})
		b.Run(fmt.Sprintf("values=%dk", n/1000), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ix.Match(questions[i%len(questions)], 10)
			}
			b.ReportMetric(float64(ix.Len()), "values")
		})
	}
}

// BenchmarkValueMatchWorst is the bound: a 4000-byte question of distinct
// words against 100k values.
func BenchmarkValueMatchWorst(b *testing.B) {
	ix := NewValueIndex(syntheticValues(100_000), ValueIndexOptions{MaxValuesPerColumn: 100_000})
	var q strings.Builder
	rng := rand.New(rand.NewPCG(1, 2))
	syll := []string{"ka", "lo", "mi", "ra", "ten", "bor", "us", "vel", "an", "dre", "si", "mon"}
	for q.Len() < maxQuestionBytes {
		for range 2 + rng.IntN(3) {
			q.WriteString(syll[rng.IntN(len(syll))])
		}
		q.WriteByte(' ')
	}
	b.ReportAllocs()
	for b.Loop() {
		ix.Match(q.String(), 10)
	}
}
