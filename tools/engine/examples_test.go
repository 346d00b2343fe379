package engine

import (
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/prompts"
)

func exampleQuestions(ex []prompts.Example) string {
	var qs []string
	for _, e := range ex {
		qs = append(qs, e.Question)
	}
	return strings.Join(qs, " | ")
}

func TestExampleSelection(t *testing.T) {
	examples := []prompts.Example{
		{Question: "List the names of concerts in 2014", SQL: "SELECT concert_name FROM concert WHERE year = 2014"},
		{Question: "How many singers are from each country?", SQL: "SELECT country, count(*) FROM singer GROUP BY country"},
		{Question: "What is the average age of singers from 'France'?", SQL: "SELECT avg(age) FROM singer WHERE country = 'France'"},
		{Question: "How many singers are from each country, by count?", SQL: "SELECT country, count(*) FROM singer GROUP BY country"},
		{Question: "How many concerts are there per stadium?", SQL: "SELECT stadium_id, count(*) FROM concert GROUP BY stadium_id ORDER BY 2 DESC"},
	}
	words := []string{"singer", "country", "concert", "concert_name", "year", "age", "stadium", "stadium_id", "orders", "customer", "customer_id"}
	s := NewExampleSelector(examples, words)

	// Structure, not topic: the group-by count example comes first for a
	// question about other tables.
	got := s.Select("How many orders has each customer placed?", 1)
	if len(got) != 1 || got[0].Question != examples[1].Question {
		t.Errorf("first choice: %s, want %q", exampleQuestions(got), examples[1].Question)
	}
	// Literals are masked: a question about another country and age still
	// finds the average-age example.
	if got := s.Select(`What is the average age of customers from "Peru"?`, 1); got[0].Question != examples[2].Question {
		t.Errorf("masked literals: %s", exampleQuestions(got))
	}
	// Diversity: among equally similar examples, the second slot goes to
	// another SQL shape than the first's.
	same := []prompts.Example{
		{Question: "How many singers are there?", SQL: "SELECT count(*) FROM singer"},
		{Question: "How many singers are there?", SQL: "SELECT count(*) FROM public.singer"},
		{Question: "How many singers are there?", SQL: "SELECT count(DISTINCT singer_id) FROM singer WHERE singer_id IS NOT NULL"},
	}
	if sqlSkeleton(same[0].SQL) != sqlSkeleton(same[1].SQL) || sqlSkeleton(same[0].SQL) == sqlSkeleton(same[2].SQL) {
		t.Fatal("the test's first two skeletons should be the same, the third another")
	}
	two := NewExampleSelector(same, words).Select("How many singers are there?", 2)
	if len(two) != 2 || two[0] != same[0] || two[1] != same[2] {
		t.Errorf("two choices: %v, want the first and the third (another skeleton)", two)
	}
	// By similarity alone, the second slot goes to the same skeleton; the
	// "first" method takes the file's first ones, whatever the question.
	if two := NewExampleSelector(same, words).SelectBy("How many singers are there?", 2, ExamplesQuestion); len(two) != 2 || two[1] != same[1] {
		t.Errorf("by similarity alone: %v, want the first two", two)
	}
	if got := s.SelectBy("How many orders has each customer placed?", 2, ExamplesFirst); len(got) != 2 || got[0] != examples[0] || got[1] != examples[1] {
		t.Errorf("first: %s", exampleQuestions(got))
	}
	// k bounds; k <= 0 and k over the count; no examples.
	if got := s.Select("anything", 0); len(got) != len(examples) || got[0] != examples[0] {
		t.Errorf("k=0: %d examples", len(got))
	}
	if got := s.Select("anything", 50); len(got) != len(examples) {
		t.Errorf("k=50: %d examples", len(got))
	}
	if got := NewExampleSelector(nil, words).Select("anything", 3); len(got) != 0 {
		t.Errorf("no examples: %v", got)
	}
	// Deterministic.
	first := exampleQuestions(s.Select("How many concerts are in each year?", 3))
	for range 5 {
		if got := exampleQuestions(s.Select("How many concerts are in each year?", 3)); got != first {
			t.Fatalf("not deterministic: %s vs %s", got, first)
		}
	}
}

func TestSQLSkeleton(t *testing.T) {
	a := sqlSkeleton("SELECT country, count(*) FROM singer GROUP BY country")
	b := sqlSkeleton("SELECT status, count(*) FROM orders GROUP BY status")
	c := sqlSkeleton("SELECT avg(age) FROM singer WHERE country = 'France'")
	if a != b || a == c {
		t.Errorf("skeletons: %q %q %q", a, b, c)
	}
}

func BenchmarkExampleSelect(b *testing.B) {
	topics := []string{"singers", "orders", "concerts", "customers", "stadiums", "products", "invoices", "employees"}
	shapes := []string{"How many %s are there in each %s?", "List the names of %s in %s 2014", "What is the average price of %s per %s?", "Show %s with more than 3 %s"}
	var ex []prompts.Example
	for i := range 1000 {
		q := strings.Replace(strings.Replace(shapes[i%len(shapes)], "%s", topics[i%len(topics)], 1), "%s", topics[(i/3)%len(topics)], 1)
		ex = append(ex, prompts.Example{Question: q, SQL: "SELECT a, count(*) FROM t GROUP BY a LIMIT " + strings.Repeat("1", i%5+1)})
	}
	s := NewExampleSelector(ex, []string{"singer", "orders", "customer", "price", "name"})
	b.ResetTimer()
	for b.Loop() {
		s.Select("How many orders has each customer placed?", 5)
	}
}
