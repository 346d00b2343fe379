package engine

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/tests/fakellm"
)

// candidateModel scripts the candidates' round: the request at
// temperature 0 without a repair (candidate 0) gets first, the sampled
// ones get sampled in arrival order (their order among themselves is the
// scheduler's), and any repair request (a longer conversation) gets
// repair.
type candidateModel struct {
	mu      sync.Mutex
	first   string
	sampled []string
	repair  string
	next    int
	temps   []float64
}

func (m *candidateModel) script(n int, req fakellm.Request) fakellm.Reply {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := 0.0
	if req.Temperature != nil {
		t = *req.Temperature
	}
	m.temps = append(m.temps, t)
	switch {
	case len(req.Messages) > 2:
		return fakellm.SQL(m.repair)
	case t == 0:
		return fakellm.SQL(m.first)
	}
	s := m.sampled[min(m.next, len(m.sampled)-1)]
	m.next++
	return fakellm.SQL(s)
}

// demoEngine is an engine over a fresh demo database whose model is
// script.
func demoEngine(t *testing.T, script fakellm.Script, cfg Config) (*Engine, *fakellm.Server) {
	t.Helper()
	db := openDemo(t)
	fake := fakellm.New(t, script)
	model, err := llm.New(llm.Config{BaseURL: fake.URL(), Model: "fake-model", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Databases, cfg.LLM = []*Database{db}, model
	if cfg.MaxRows == 0 {
		cfg.MaxRows = 1000
	}
	cfg.Limits.StatementTimeout = 10 * time.Second
	eng, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return eng, fake
}

// The candidates' vote on scripted disagreements: the result most
// candidates share wins whatever SQL wrote it; equal groups go to the
// cheaper plan, and equal plans to the earlier candidate; with no
// candidate that runs, the first repairable one is repaired.
func TestCandidateVote(t *testing.T) {
	const (
		countA   = "SELECT count(*) AS n FROM customers"
		countB   = "SELECT count(id) AS n FROM customers"
		countBad = "SELECT count(*) - 1 AS n FROM customers"
		rejected = "DELETE FROM customers"
		// Another result (0) from a dearer plan than countA's.
		dear = "SELECT count(*) AS n FROM customers c CROSS JOIN countries k WHERE k.code IS NULL"
	)
	cases := []struct {
		name             string
		first            string
		sampled          []string
		repair           string
		candidates       int
		wantSQL          string
		wantRan, wantAgr int
		wantGroups       int
		wantTie          bool
		wantRepaired     bool
		wantAttempts     int
	}{
		{name: "majority over the first", first: countBad, sampled: []string{countA, countB}, candidates: 3,
			wantSQL: "count", wantRan: 3, wantAgr: 2, wantGroups: 2, wantAttempts: 3},
		{name: "majority is the first", first: countA, sampled: []string{countBad, countB, rejected}, candidates: 4,
			wantSQL: countA, wantRan: 3, wantAgr: 2, wantGroups: 2, wantAttempts: 4},
		{name: "unanimous", first: countA, sampled: []string{countB}, candidates: 3,
			wantSQL: countA, wantRan: 3, wantAgr: 3, wantGroups: 1, wantAttempts: 3},
		{name: "tie goes to the cheaper plan", first: dear, sampled: []string{countA, rejected}, candidates: 3,
			wantSQL: countA, wantRan: 2, wantAgr: 1, wantGroups: 2, wantTie: true, wantAttempts: 3},
		{name: "equal plans go to the earlier", first: "SELECT 1 AS x", sampled: []string{"SELECT 2 AS x"}, candidates: 2,
			wantSQL: "SELECT 1 AS x", wantRan: 2, wantAgr: 1, wantGroups: 2, wantTie: true, wantAttempts: 2},
		{name: "none ran: repaired", first: rejected, sampled: []string{"SELECT nope FROM customers"}, repair: countA, candidates: 2,
			wantSQL: countA, wantRan: 0, wantGroups: 0, wantRepaired: true, wantAttempts: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := &candidateModel{first: tc.first, sampled: tc.sampled, repair: tc.repair}
			eng, _ := demoEngine(t, m.script, Config{Candidates: tc.candidates, CandidateTemperature: 0.8, MaxAttempts: 3})
			res, err := eng.Query(t.Context(), QueryArgs{Question: "how many customers?"})
			if err != nil {
				t.Fatal(err)
			}
			rep := res.Candidates
			if rep == nil {
				t.Fatal("no candidates report")
			}
			if !strings.Contains(res.SQL, tc.wantSQL) || rep.Ran != tc.wantRan || rep.Agreement != tc.wantAgr ||
				rep.TieBreak != tc.wantTie || rep.Repaired != tc.wantRepaired || res.Attempts != tc.wantAttempts || rep.Generated != tc.candidates {
				t.Errorf("sql %q, report %+v, attempts %d", res.SQL, rep, res.Attempts)
			}
			groups := map[int]int{}
			for _, c := range rep.Candidates {
				if c.Group > 0 {
					groups[c.Group]++
				}
				if (c.Outcome == "ran") != (c.Group > 0) {
					t.Errorf("candidate %+v: a group only for those that ran", c)
				}
			}
			if len(groups) != tc.wantGroups || (tc.wantGroups > 0 && groups[1] != tc.wantAgr) {
				t.Errorf("groups %v, want %d with the first of %d", groups, tc.wantGroups, tc.wantAgr)
			}
			if ch := rep.Candidates[rep.Chosen]; !tc.wantRepaired && (ch.Group != 1 || !strings.Contains(res.SQL, ch.SQL[:10])) {
				t.Errorf("chosen %d = %+v, sql %q", rep.Chosen, ch, res.SQL)
			}
			if tc.wantTie {
				for _, c := range rep.Candidates {
					if c.Outcome == "ran" && c.Cost == nil {
						t.Errorf("tie: candidate %q has no cost", c.SQL)
					}
				}
			}
			sampled := 0
			for _, tp := range m.temps {
				if tp == 0.8 {
					sampled++
				}
			}
			if sampled != tc.candidates-1 {
				t.Errorf("temperatures sent %v: want %d sampled at 0.8", m.temps, tc.candidates-1)
			}
		})
	}
}

// A candidate's probe runs with at most probeRows rows; the winner's
// result comes from a run under the call's own row cap.
func TestCandidateWinnerRunsUnderCallLimits(t *testing.T) {
	const sql = "SELECT g FROM generate_series(1, 700) AS g"
	m := &candidateModel{first: sql, sampled: []string{sql}}
	eng, _ := demoEngine(t, m.script, Config{Candidates: 2, CandidateTemperature: 0.5})
	res, err := eng.Query(t.Context(), QueryArgs{Question: "numbers"})
	if err != nil {
		t.Fatal(err)
	}
	if res.RowCount != 700 || res.Truncated || res.Candidates.Agreement != 2 || res.Candidates.Candidates[0].RowCount != probeRows {
		t.Errorf("%d rows (truncated %v), report %+v", res.RowCount, res.Truncated, res.Candidates)
	}
}

// The result checks: an empty result, a column of NULLs and a join that
// multiplies rows each get one repair round that says what was seen; the
// model's revision replaces the first answer only when it runs and
// passes the checks.
func TestResultChecks(t *testing.T) {
	const (
		empty   = "SELECT id FROM customers WHERE country_code = 'zz'"
		full    = "SELECT id FROM customers WHERE country_code = 'DE'"
		nulls   = "SELECT c.id, o.id AS order_id FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND false ORDER BY c.id LIMIT 5"
		fanOut  = "SELECT a.code FROM countries a JOIN countries b ON a.code <> b.code"
		noJoins = "SELECT g FROM generate_series(1, 400) AS g"
		// As many rows as orders: no more than the biggest table.
		oneToMany = "SELECT o.id, c.email FROM orders o JOIN customers c ON c.id = o.customer_id"
	)
	cases := []struct {
		name, first, repair string
		attempts            int
		wantCheck           string
		wantOutcome         string
		wantSQL             string
		wantCalls           int
	}{
		{"empty revised", empty, full, 3, CheckEmptyResult, CheckRevised, full, 2},
		{"empty confirmed", empty, empty, 3, CheckEmptyResult, CheckConfirmed, empty, 2},
		{"empty kept: revision refused", empty, "DELETE FROM customers", 3, CheckEmptyResult, CheckKept, empty, 2},
		{"empty kept: revision also empty", empty, "SELECT id FROM customers WHERE country_code = 'yy'", 3, CheckEmptyResult, CheckKept, empty, 2},
		{"no attempts left", empty, full, 1, CheckEmptyResult, CheckNoAttemptsLeft, empty, 1},
		{"null column", nulls, "SELECT id FROM customers ORDER BY id LIMIT 5", 3, CheckNullColumn, CheckRevised, "LIMIT 5", 2},
		{"fan-out", fanOut, "SELECT count(*) AS n FROM customers", 3, CheckFanOut, CheckRevised, "count", 2},
		{"nothing found", noJoins, "", 3, "", "", noJoins, 1},
		{"nothing found: a one-to-many join", oneToMany, "", 3, "", "", oneToMany, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := &candidateModel{first: tc.first, repair: tc.repair}
			eng, fake := demoEngine(t, m.script, Config{ResultChecks: true, MaxAttempts: tc.attempts, MaxRows: 1000})
			res, err := eng.Query(t.Context(), QueryArgs{Question: "which customers?"})
			if err != nil {
				t.Fatal(err)
			}
			if fake.Count() != tc.wantCalls || res.Attempts != tc.wantCalls || !strings.Contains(res.SQL, tc.wantSQL) {
				t.Errorf("%d model calls, attempts %d, sql %q (want %q)", fake.Count(), res.Attempts, res.SQL, tc.wantSQL)
			}
			if tc.wantCheck == "" {
				if len(res.Checks) != 0 {
					t.Errorf("checks %+v, want none", res.Checks)
				}
				return
			}
			if len(res.Checks) != 1 || res.Checks[0].Check != tc.wantCheck || res.Checks[0].Outcome != tc.wantOutcome {
				t.Fatalf("checks %+v, want %s %s", res.Checks, tc.wantCheck, tc.wantOutcome)
			}
			if tc.wantOutcome == CheckRevised && res.Checks[0].ReplacedSQL == "" {
				t.Error("a revision does not say what it replaced")
			}
			if tc.wantCalls > 1 {
				last := fake.Requests()[tc.wantCalls-1].Last()
				if !strings.Contains(last, "Your query ran, but its result looks wrong") || !strings.Contains(last, res.Checks[0].Message) {
					t.Errorf("the repair prompt does not say what was seen:\n%s", last)
				}
			}
		})
	}
}

// Result checks apply to the candidates' winner too, and the repair
// round counts in attempts after the candidates.
func TestResultChecksAfterVote(t *testing.T) {
	const (
		empty = "SELECT id FROM customers WHERE country_code = 'zz'"
		full  = "SELECT id FROM customers WHERE country_code = 'DE'"
	)
	m := &candidateModel{first: empty, sampled: []string{empty, "SELECT 1 AS id"}, repair: full}
	eng, _ := demoEngine(t, m.script, Config{Candidates: 3, CandidateTemperature: 0.8, ResultChecks: true, MaxAttempts: 2})
	res, err := eng.Query(t.Context(), QueryArgs{Question: "which customers?"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Candidates.Agreement != 2 || len(res.Checks) != 1 || res.Checks[0].Outcome != CheckRevised || res.Attempts != 4 || res.SQL == "" || res.RowCount == 0 {
		t.Errorf("sql %q (%d rows), attempts %d, candidates %+v, checks %+v", res.SQL, res.RowCount, res.Attempts, res.Candidates, res.Checks)
	}
}
