package tests

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// hugeAnswer is a model answer of about mib MiB: SQL the guard refuses
// (a table that does not exist), so the old loop sent it back for repair.
func hugeAnswer(mib int) fakellm.Reply {
	return fakellm.SQL("SELECT '" + strings.Repeat("x", mib<<20) + "' AS x FROM no_such_table")
}

// TestOversizeModelAnswerBoundedMemory answers every question with a
// 15 MiB model answer and measures the high-water RSS (VmHWM) of
// `pgmcp serve --http` (built without the race detector): one question,
// then 8 at once. Every question ends with llm_answer_too_large after one
// model call, pgmcp never sends the answer back (no request to the model
// is bigger than the first prompt plus a few KiB), and the growth stays
// under 64 MB (without the bounds: +324 MB for one and +1995 MB for 8,
// each question making 3 calls with prompts of up to 31 MB).
//
//	go test -count=1 -run TestOversizeModelAnswerBoundedMemory -v ./tests/
func TestOversizeModelAnswerBoundedMemory(t *testing.T) {
	bin, err := plainBinary()
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDB(t, pgtest.Demo)
	fake := fakellm.New(t, fakellm.Sequence(hugeAnswer(15)))
	fake.SetRecordLimit(1 << 20) // the test keeps only the sizes of huge prompts
	srv := startBinary(t, bin, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
		"PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=fake-model", "PGMCP_LLM_TIMEOUT=60s",
		"PGMCP_MAX_CONNS=8"))
	pid := srv.cmd.Process.Pid
	c := httpClient(t, srv.base+"/mcp")
	initialize(t, c)
	callQuery(t, c, map[string]any{"sql": "SELECT count(*) AS n FROM orders"})
	base := vmHWM(t, pid)

	ask := func() (string, time.Duration) {
		c := httpClient(t, srv.base+"/mcp")
		initialize(t, c)
		return callCode(t, c, "query", map[string]any{"question": "How many orders are there?"})
	}
	code, took := ask()
	one := vmHWM(t, pid)
	calls1 := fake.Count()
	t.Logf("one question with a 15 MiB answer: %q in %s, %d model call(s); VmHWM %d MB → %d MB (+%d MB)",
		code, took.Round(time.Millisecond), calls1, base>>10, one>>10, (one-base)>>10)
	if code != "llm_answer_too_large" {
		t.Errorf("one question: code %q, want llm_answer_too_large", code)
	}
	if calls1 != 1 {
		t.Errorf("one question made %d model calls, want 1: an oversize answer is not worth a repair", calls1)
	}

	const n = 8
	codes := make([]string, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() { codes[i], _ = ask() })
	}
	wg.Wait()
	eight := vmHWM(t, pid)
	t.Logf("%d questions at once: %v in %s, %d model call(s); VmHWM %d MB (+%d MB over the start)",
		n, codes, time.Since(start).Round(time.Millisecond), fake.Count()-calls1, eight>>10, (eight-base)>>10)
	for i, code := range codes {
		if code != "llm_answer_too_large" {
			t.Errorf("question %d of %d: code %q, want llm_answer_too_large", i+1, n, code)
		}
	}
	if got := fake.Count(); got != 1+n {
		t.Errorf("model calls = %d, want %d (one per question)", got, 1+n)
	}
	// Nothing of the answer went back to the model: every prompt is the
	// first one's size (the system prompt, the schema and the question).
	first := fake.Requests()[0].Size
	for i, r := range fake.Requests() {
		if r.Size > first+(8<<10) {
			t.Errorf("request %d to the model is %d bytes, the first was %d: the answer was echoed back", i, r.Size, first)
		}
	}
	if grow := eight - base; grow > 64<<10 {
		t.Errorf("VmHWM grew by %d MB with %d oversize answers at once, over the 64 MB bound", grow>>10, n)
	}
	// Nine oversize answers in a row count as failures of the endpoint:
	// the breaker is open, and the next question fails fast without a
	// call. SQL goes on working.
	if code, _ := callCode(t, c, "query", map[string]any{"question": "How many orders are there?"}); code != "llm_circuit_open" || fake.Count() != 1+n {
		t.Errorf("after %d oversize answers: code %q and %d model calls, want llm_circuit_open and no new call", 1+n, code, fake.Count())
	}
	if out := callQuery(t, c, map[string]any{"sql": "SELECT count(*) AS n FROM orders"}); out["row_count"] != float64(1) {
		t.Errorf("SQL after the oversize answers: %v", out)
	}
	srv.stop(t)
}

// TestQuestionDeadline checks PGMCP_LLM_TIMEOUT bounds a whole question:
// every model attempt, every repair and the queries run between them.
//
//	go test -count=1 -run TestQuestionDeadline -v ./tests/
func TestQuestionDeadline(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	const margin = 1500 * time.Millisecond

	// A slow model: each answer takes 4.5 s and names a blocked column, so
	// the guard refuses it and the loop asks for a repair. With a 5 s
	// timeout and 3 attempts the question used to take 3 × 4.5 s.
	t.Run("slow model, repairs", func(t *testing.T) {
		t.Parallel()
		slow := fakellm.SQL("SELECT first_name, phone FROM customers LIMIT 5")
		slow.Delay = 4500 * time.Millisecond
		fake := fakellm.New(t, fakellm.Sequence(slow))
		srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
			"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
			"PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=fake-model",
			"PGMCP_LLM_TIMEOUT=5s", "PGMCP_LLM_MAX_ATTEMPTS=3"))
		c := httpClient(t, srv.base+"/mcp")
		initialize(t, c)
		code, took := callCode(t, c, "query", map[string]any{"question": "Phone numbers of five customers"})
		t.Logf("slow model (4.5 s an answer), PGMCP_LLM_TIMEOUT=5s, 3 attempts: %q after %s, %d model call(s)",
			code, took.Round(time.Millisecond), fake.Count())
		if code != "llm_timeout" {
			t.Errorf("code %q, want llm_timeout", code)
		}
		if took > 5*time.Second+margin {
			t.Errorf("the question took %s, over its 5 s budget + %s", took, margin)
		}
		if n := fake.Count(); n != 2 {
			t.Errorf("model calls = %d, want 2 (the second cut off by the budget)", n)
		}
		srv.stop(t)
	})

	// A model that never answers: the first attempt ends at the budget.
	t.Run("hanging model", func(t *testing.T) {
		t.Parallel()
		fake := fakellm.New(t, fakellm.Sequence(fakellm.Reply{Hang: true}))
		srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
			"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
			"PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=fake-model",
			"PGMCP_LLM_TIMEOUT=5s", "PGMCP_LLM_MAX_ATTEMPTS=3"))
		c := httpClient(t, srv.base+"/mcp")
		initialize(t, c)
		code, took := callCode(t, c, "query", map[string]any{"question": "How many orders?"})
		t.Logf("hanging model, PGMCP_LLM_TIMEOUT=5s: %q after %s", code, took.Round(time.Millisecond))
		if code != "llm_timeout" || took > 5*time.Second+margin {
			t.Errorf("code %q after %s, want llm_timeout within 5 s + %s", code, took, margin)
		}
		srv.stop(t)
	})

	// A fast model whose query is slow: the execution ends at the
	// question's deadline (3 s), not at the 30 s statement timeout.
	t.Run("slow query", func(t *testing.T) {
		t.Parallel()
		fake := fakellm.New(t, fakellm.Sequence(fakellm.SQL(slowSQL)))
		srv := startHTTP(t, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
			"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_POLICY_FILE="+demoPolicyFile(t),
			"PGMCP_LLM_BASE_URL="+fake.URL(), "PGMCP_LLM_MODEL=fake-model",
			"PGMCP_LLM_TIMEOUT=3s", "PGMCP_STATEMENT_TIMEOUT=30s"))
		c := httpClient(t, srv.base+"/mcp")
		initialize(t, c)
		code, took := callCode(t, c, "query", map[string]any{"question": "Count every triple of orders"})
		t.Logf("slow query, PGMCP_LLM_TIMEOUT=3s, statement timeout 30s: %q after %s", code, took.Round(time.Millisecond))
		if code != "llm_timeout" || took > 3*time.Second+margin {
			t.Errorf("code %q after %s, want llm_timeout within 3 s + %s", code, took, margin)
		}
		srv.stop(t)
	})
}

// slowSQL is a query the guard accepts that runs for far longer than any
// budget in these tests: the count of every triple of orders.
const slowSQL = "SELECT count(*) AS n FROM orders a CROSS JOIN orders b CROSS JOIN orders c WHERE a.id + b.id + c.id > 0"
