package prompts

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./prompts -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./prompts -update rewrites it)\n--- got:\n%s\n--- want:\n%s", name, got, want)
	}
}

func join(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("=== " + string(m.Role) + "\n" + m.Content)
		if !strings.HasSuffix(m.Content, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

const schemaText = `public.customers (table, ~5,000 rows) -- People who bought at least once.
  id integer PK
  email text -- Login email.
  country_code char(2) → public.countries.code
public.orders (table, ~40,415 rows)
  id integer PK
  customer_id integer → public.customers.id
  status order_status -- values: pending, paid, shipped, delivered, cancelled, refunded
  ordered_at timestamptz
  total_amount numeric(12,2) -- USD
`

var fixed = Request{
	Database: "demo", ServerVersion: "15", Schema: schemaText,
	Now: time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC), TimeZone: "Europe/Berlin", MaxRows: 1000,
	Question: "Top 5 customers by revenue last month?",
}

func TestBuildGolden(t *testing.T) {
	msgs, err := Build(fixed)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Role != RoleSystem || msgs[1].Role != RoleUser {
		t.Fatalf("messages = %+v", msgs)
	}
	// Today in the database's time zone: 23:30 UTC is already the 25th in Berlin.
	if !strings.Contains(msgs[0].Content, "Wednesday 25 November 2026") || !strings.Contains(msgs[0].Content, "Europe/Berlin") {
		t.Errorf("the system prompt lacks today's date in the time zone")
	}
	golden(t, "question.golden", join(msgs))
}

func TestBuildWithExamplesGolden(t *testing.T) {
	r := fixed
	r.Examples = []Example{
		{Question: "How many orders were cancelled?", SQL: "SELECT count(*) FROM orders WHERE status = 'cancelled'"},
		{Question: "Revenue per month", SQL: "SELECT date_trunc('month', ordered_at) AS month,\n  sum(total_amount) AS revenue\nFROM orders GROUP BY 1 ORDER BY 1"},
	}
	msgs, err := Build(r)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "examples.golden", join(msgs))
}

func TestRepairGuardGolden(t *testing.T) {
	msgs, _ := Build(fixed)
	prev := `{"sql": "SELECT * FROM customers; DROP TABLE orders"}`
	out, err := Repair(msgs, prev, "SELECT * FROM customers; DROP TABLE orders", Failure{Rejection: &Rejection{
		Code: "multiple_statements", Message: "only one statement is allowed; found 2 (position 26)"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 4 || out[2].Role != RoleAssistant || out[2].Content != prev || out[3].Role != RoleUser {
		t.Fatalf("repair conversation = %+v", out)
	}
	golden(t, "repair_guard.golden", join(out))
}

func TestRepairPostgresGolden(t *testing.T) {
	msgs, _ := Build(fixed)
	out, err := Repair(msgs, "SELECT emial FROM customers", "SELECT emial FROM customers", Failure{PGError: &PGError{
		SQLState: "42703", Message: `column "emial" does not exist`, Hint: `Perhaps you meant to reference the column "customers.email".`}})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "repair_postgres.golden", join(out))
}

func TestRepairObservationGolden(t *testing.T) {
	msgs, _ := Build(fixed)
	out, err := Repair(msgs, "SELECT id FROM customers WHERE country = 'france'", "SELECT id FROM customers WHERE country = 'france'",
		Failure{Observation: &Observation{Message: "it returned no rows."}})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "repair_observation.golden", join(out))
}

func TestRepairNeedsOneFailure(t *testing.T) {
	if _, err := Repair(nil, "", "", Failure{}); err == nil {
		t.Error("a repair without a failure was accepted")
	}
	if _, err := Repair(nil, "", "", Failure{Rejection: &Rejection{}, PGError: &PGError{}}); err == nil {
		t.Error("a repair with two failures was accepted")
	}
	if _, err := Repair(nil, "", "", Failure{PGError: &PGError{}, Observation: &Observation{}}); err == nil {
		t.Error("a repair with an error and an observation was accepted")
	}
}

func TestBuildEmptyQuestion(t *testing.T) {
	r := fixed
	r.Question = "  "
	if _, err := Build(r); err == nil {
		t.Error("an empty question was accepted")
	}
}

func TestLoadExamples(t *testing.T) {
	in := `# few-shot examples
{"question": "How many customers?", "sql": "SELECT count(*) FROM customers"}

{"question": "Orders today", "sql": "SELECT * FROM orders WHERE ordered_at >= current_date"}
`
	ex, err := LoadExamples(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 2 || ex[1].Question != "Orders today" {
		t.Errorf("examples = %+v", ex)
	}
	for _, bad := range []string{`{"question": "q"}`, `{"question": "q", "sql": "s", "x": 1}`, `not json`} {
		if _, err := LoadExamples(strings.NewReader(bad)); err == nil {
			t.Errorf("LoadExamples(%q) accepted it", bad)
		}
	}
}

func TestSummaryGolden(t *testing.T) {
	msgs, err := Summary("SELECT status, count(*) FROM orders GROUP BY status", "Reads public.orders; groups by status; computes count.")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Role != RoleUser {
		t.Fatalf("messages = %+v", msgs)
	}
	golden(t, "summary.golden", join(msgs))
}
