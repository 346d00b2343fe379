package tools

import (
	"strings"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/prompts"
	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tools/engine"
)

// budgetMargin is what a question may run past its budget in these tests
// (the race detector and two shared cores included).
const budgetMargin = 600 * time.Millisecond

// TestQuestionBudgetCoversRepairs: a model that takes 700ms an answer,
// each refused by the guard, under a 1s LLM timeout and 3 attempts: the
// second answer is cut off at the question's deadline (not 3 × 700ms).
func TestQuestionBudgetCoversRepairs(t *testing.T) {
	slow := fakellm.SQL("SELECT first_name, phone FROM customers LIMIT 5")
	slow.Delay = 700 * time.Millisecond
	f := newQueryFixture(t, fixtureOpts{
		script:  fakellm.Sequence(slow),
		llmConf: func(c *llm.Config) { c.Timeout = time.Second },
	})
	start := time.Now()
	o := f.query(t, map[string]any{"question": "Phone numbers of five customers"})
	took := time.Since(start)
	if !o.isError || o.err.Code != string(llm.CodeTimeout) {
		t.Fatalf("outcome = %+v", o)
	}
	if took > time.Second+budgetMargin {
		t.Errorf("the question took %s, over its 1s budget", took)
	}
	if n := f.fake.Count(); n != 2 {
		t.Errorf("model calls = %d, want 2", n)
	}
	if !strings.Contains(o.err.Message, "1s") || !strings.Contains(o.err.Hint, "PGMCP_LLM_TIMEOUT") || o.err.SQL == "" {
		t.Errorf("error = %+v: want the budget in the message, the setting in the hint, the last SQL", o.err)
	}
	// The same over explain: its model attempts share one budget too.
	start = time.Now()
	e, _ := f.explain(t, map[string]any{"question": "Phone numbers of five customers"})
	if took := time.Since(start); !e.isError || e.err.Code != string(llm.CodeTimeout) || took > time.Second+budgetMargin {
		t.Errorf("explain: %+v after %s", e.err, took)
	}
}

// slowSQL is accepted by the guard and runs far longer than any budget
// here: a count over every triple of orders.
const slowSQL = "SELECT count(*) AS n FROM orders a CROSS JOIN orders b CROSS JOIN orders c WHERE a.id + b.id + c.id > 0"

// TestQuestionBudgetEndsQuery: the query of a question ends at the
// question's deadline (1s), well before the 20s statement timeout, with
// llm_timeout, and PostgreSQL stops running it.
func TestQuestionBudgetEndsQuery(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{
		script:  fakellm.Sequence(fakellm.SQL(slowSQL)),
		llmConf: func(c *llm.Config) { c.Timeout = time.Second },
		deps:    func(d *engine.Config) { d.Limits.StatementTimeout = 20 * time.Second },
	})
	start := time.Now()
	o := f.query(t, map[string]any{"question": "Count every triple of orders"})
	took := time.Since(start)
	if !o.isError || o.err.Code != string(llm.CodeTimeout) {
		t.Fatalf("outcome = %+v", o)
	}
	if took > time.Second+budgetMargin {
		t.Errorf("the question took %s, over its 1s budget", took)
	}
	if f.fake.Count() != 1 || o.err.SQL == "" {
		t.Errorf("model calls = %d, SQL %q: the cut-off query is not sent back for repair", f.fake.Count(), o.err.SQL)
	}
	deadline := time.Now().Add(3 * time.Second)
	for activeBackends(t, f.db.Pool(t), f.db.Name) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("PostgreSQL still runs the question's query 3s after its deadline")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// SQL sent directly is not a question: no model budget applies.
	if o := f.query(t, map[string]any{"sql": "SELECT count(*) AS n FROM orders"}); o.isError {
		t.Errorf("SQL mode: %s", o.text)
	}
}

// TestOversizeAnswerNeverRepaired: an answer over the bound ends the
// question at once with llm_answer_too_large; nothing of it goes back.
func TestOversizeAnswerNeverRepaired(t *testing.T) {
	huge := fakellm.SQL("SELECT first_name, phone FROM customers WHERE first_name <> '" + strings.Repeat("x", 100<<10) + "'")
	f := newQueryFixture(t, fixtureOpts{script: fakellm.Sequence(huge)})
	o := f.query(t, map[string]any{"question": "Phone numbers"})
	if !o.isError || o.err.Code != string(llm.CodeAnswerTooLarge) {
		t.Fatalf("outcome = %+v", o)
	}
	if n := f.fake.Count(); n != 1 {
		t.Errorf("model calls = %d, want 1", n)
	}
	if len(o.text) > 1024 || strings.Contains(o.text, "xxxx") {
		t.Errorf("the error result quotes the answer (%d bytes): %.200s", len(o.text), o.text)
	}
}

// TestRepairPromptBounded: an answer under the bound (60 KiB) that the
// guard refuses goes back for repair as an excerpt: the repair request
// grows by at most two excerpts and the repair text, not by the answer
// twice (assistant message and quoted SQL).
func TestRepairPromptBounded(t *testing.T) {
	long := fakellm.SQL("SELECT first_name, phone FROM customers WHERE first_name <> '" + strings.Repeat("x", 60<<10) + "'")
	f := newQueryFixture(t, fixtureOpts{script: fakellm.Sequence(long,
		fakellm.SQL("SELECT first_name, email FROM customers ORDER BY id LIMIT 5"))})
	o := f.query(t, map[string]any{"question": "Contact details of five customers"})
	if o.isError || o.out.Attempts != 2 {
		t.Fatalf("outcome = %+v %s", o.out, o.text)
	}
	reqs := f.fake.Requests()
	if len(reqs) != 2 || len(reqs[1].Messages) != 4 {
		t.Fatalf("requests = %d", len(reqs))
	}
	grow := reqs[1].Size - reqs[0].Size
	if bound := 2*prompts.MaxExcerptBytes + 4<<10; grow > bound {
		t.Errorf("the repair request is %d bytes larger than the first, over %d", grow, bound)
	}
	answer, repair := reqs[1].Messages[2].Content, reqs[1].Messages[3].Content
	if !strings.HasPrefix(answer, `{"sql":"SELECT first_name, phone`) || !strings.Contains(answer, "more bytes left out]") {
		t.Errorf("the previous answer is not an excerpt: %.120s … %d bytes", answer, len(answer))
	}
	if !strings.Contains(repair, "blocked_column") || !strings.Contains(repair, "SELECT first_name, phone FROM customers") ||
		!strings.Contains(repair, "more bytes left out]") {
		t.Errorf("the repair text lacks the rejection or the SQL excerpt: %.300s", repair)
	}
}
