package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// TestEvaluateSpider runs Evaluate over Spider dev (as ReadSpider reads
// it) on the 19 PostgreSQL ports with a scripted model: answering every
// question with its gold SQL scores 100% of the scorable cases (those
// whose gold SQL runs here: 854 of 972; the others use SQLite's dialect
// or names the ports spell otherwise); with a known wrong answer for
// every fifth of them, it scores exactly the expected share, and a wrong
// answer's soft-F1 is below 1.
func TestEvaluateSpider(t *testing.T) {
	dbs, _ := loadSpider(t, false)
	dev, err := ReadSpider(pgtest.SharedPath(t, "data/spider"))
	if err != nil {
		t.Fatal(err)
	}
	loaded := map[string]bool{}
	for _, db := range dbs {
		loaded[db.Name] = true
	}
	fake := fakellm.New(t, fakellm.Sequence())
	model, err := llm.New(llm.Config{BaseURL: fake.URL(), Model: "fake-model", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := New(Config{Databases: dbs, LLM: model, MaxRows: 10000, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	const wrongSQL = "SELECT 'pgmcp: a wrong answer' AS wrong"
	run := func(wrong func(i int) bool) (scorable, correct, wrongs int, goldErrors map[string]int) {
		goldErrors = map[string]int{}
		for i, c := range dev {
			c.Database = strings.ToLower(c.Database)
			if !loaded[c.Database] {
				continue
			}
			answer := c.GoldSQL
			isWrong := wrong(scorable)
			if isWrong {
				answer = wrongSQL
			}
			fake.SetScript(fakellm.Sequence(fakellm.SQL(answer)))
			out := eng.Evaluate(t.Context(), c)
			if out.GoldError != "" {
				goldErrors[out.GoldError]++
				continue
			}
			scorable++
			if isWrong {
				wrongs++
				if out.Correct || out.SoftF1 >= 1 {
					t.Errorf("dev #%d: the wrong answer scored correct=%v soft-F1 %.2f", i, out.Correct, out.SoftF1)
				}
			} else if !out.Correct || out.SoftF1 != 1 || out.Error != "" {
				t.Errorf("dev #%d [%s] %q: the gold answer scored correct=%v soft-F1 %.2f error %q (sql %s)", i, c.Database, c.Question, out.Correct, out.SoftF1, out.Error, out.SQL)
			}
			if out.Correct {
				correct++
			}
		}
		return
	}
	scorable, correct, _, goldErrors := run(func(int) bool { return false })
	t.Logf("gold answers: %d of %d scorable cases correct; gold SQL not runnable here: %v", correct, scorable, goldErrors)
	if scorable < 850 || correct != scorable {
		t.Errorf("gold answers: %d of %d correct (want all, of at least 850)", correct, scorable)
	}
	scorable2, correct2, wrongs, _ := run(func(n int) bool { return n%5 == 0 })
	t.Logf("every fifth answer wrong: %d of %d correct (%d wrong answers)", correct2, scorable2, wrongs)
	if scorable2 != scorable || correct2 != scorable2-wrongs {
		t.Errorf("with %d wrong answers of %d: %d correct, want exactly %d", wrongs, scorable2, correct2, scorable2-wrongs)
	}
}
