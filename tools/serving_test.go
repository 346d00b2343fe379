package tools

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	dto "github.com/prometheus/client_model/go"

	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tools/engine"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) records(t *testing.T) []engine.AuditRecord {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []engine.AuditRecord
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var r engine.AuditRecord
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// TestAuditOneRecordPerCall makes calls of every kind — allowed, refused by
// the guard, failed in PostgreSQL, rate-limited, a question, explain,
// get_schema — and checks the audit log has exactly one record per call,
// with the right facts and no result data.
func TestAuditOneRecordPerCall(t *testing.T) {
	audit := &syncBuffer{}
	f := newQueryFixture(t, fixtureOpts{
		script: fakellm.Sequence(fakellm.SQL("SELECT count(*) AS n FROM orders WHERE status = 'cancelled'")),
		deps: func(d *engine.Config) {
			d.Audit = engine.NewAuditLog(audit, nil)
			d.Metrics = engine.NewMetrics(d.Databases)
			d.RateLimit = engine.RateLimit{Rate: 0.01, Burst: 2}
		},
	})
	var email string
	if err := f.db.Pool(t).QueryRow(t.Context(), "SELECT email FROM customers ORDER BY id LIMIT 1").Scan(&email); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		tool    string
		args    map[string]any
		ctx     context.Context
		verdict string
		errCode string
		rows    int
	}{
		{"query", map[string]any{"sql": "SELECT email FROM customers ORDER BY id LIMIT 3"}, nil, "allowed", "", 3},
		{"query", map[string]any{"sql": "SELECT phone FROM customers"}, nil, "blocked_column", "blocked_column", -1},
		{"query", map[string]any{"sql": "SELECT 1 / (id - id) FROM orders"}, nil, "allowed", "query_failed", -1},
		{"query", map[string]any{"question": "How many orders were cancelled?"}, nil, "allowed", "", 1},
		{"explain", map[string]any{"sql": "SELECT id FROM orders WHERE id = 5"}, nil, "allowed", "", -1},
		{"explain", map[string]any{"sql": "DELETE FROM orders"}, nil, "not_select", "", -1},
		{"get_schema", map[string]any{"detail": "summary"}, nil, "", "", -1},
		{"query", map[string]any{"sql": "SELECT 1 AS one"}, engine.WithIdentity(t.Context(), engine.Identity{Name: "erin"}), "allowed", "", 1},
		{"query", map[string]any{"sql": "SELECT 2 AS two"}, engine.WithIdentity(t.Context(), engine.Identity{Name: "erin"}), "allowed", "", 1},
		{"query", map[string]any{"sql": "SELECT 3 AS three"}, engine.WithIdentity(t.Context(), engine.Identity{Name: "erin"}), "", "rate_limited", -1},
	}
	for _, c := range calls {
		ctx := c.ctx
		if ctx == nil {
			ctx = t.Context()
		}
		o := f.call(t, ctx, c.tool, c.args)
		if (c.errCode == "") == o.isError || (c.errCode != "" && o.err.Code != c.errCode) {
			t.Errorf("%s %v: %+v", c.tool, c.args, o)
		}
		if c.errCode == "rate_limited" && !strings.Contains(o.err.Hint, "retry in") {
			t.Errorf("rate_limited hint %q", o.err.Hint)
		}
	}
	recs := audit.records(t)
	if len(recs) != len(calls) {
		t.Fatalf("%d audit records for %d calls", len(recs), len(calls))
	}
	for i, c := range calls {
		r := recs[i]
		if r.Tool != c.tool || r.Verdict != c.verdict || r.Error != c.errCode || r.Database != "demo" || r.DurationMS <= 0 || r.Time.IsZero() {
			t.Errorf("record %d = %+v, want tool %s verdict %q error %q", i, r, c.tool, c.verdict, c.errCode)
		}
		if c.rows >= 0 && (r.RowCount == nil || *r.RowCount != c.rows) {
			t.Errorf("record %d row count %v, want %d", i, r.RowCount, c.rows)
		}
		if c.verdict == "allowed" && (r.SQL == "" || len(r.Fingerprint) != 16) {
			t.Errorf("record %d lacks the SQL or its fingerprint: %+v", i, r)
		}
	}
	if recs[3].Question == "" || recs[3].Attempts != 1 {
		t.Errorf("question record: %+v", recs[3])
	}
	if recs[7].Identity != "erin" || recs[0].Identity != "" {
		t.Errorf("identities: %q %q", recs[7].Identity, recs[0].Identity)
	}
	if strings.Contains(audit.b.String(), email) {
		t.Error("the audit log holds result data (a customer's email)")
	}

	// The metrics saw the same calls.
	families, err := f.deps.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, fam := range families {
		for _, m := range fam.GetMetric() {
			counts[fam.GetName()+labels(m)] += m.GetCounter().GetValue()
		}
	}
	for key, want := range map[string]float64{
		"pgmcp_tool_calls_total{outcome=ok,tool=query}":           4,
		"pgmcp_tool_calls_total{outcome=rate_limited,tool=query}": 1,
		"pgmcp_tool_calls_total{outcome=ok,tool=explain}":         2,
		"pgmcp_guard_rejections_total{code=blocked_column}":       1,
		"pgmcp_model_calls_total{outcome=ok}":                     2, // the question, and explain's summary
	} {
		if counts[key] != want {
			t.Errorf("%s = %v, want %v", key, counts[key], want)
		}
	}
	if counts["pgmcp_model_tokens_total{kind=prompt}"] <= 0 {
		t.Error("no prompt tokens counted")
	}
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestBusyWhenExecutionsAreFull(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{deps: func(d *engine.Config) {
		d.MaxConcurrent = 1
		d.QueueWait = 200 * time.Millisecond
		d.Limits.StatementTimeout = 10 * time.Second
	}})
	const slow = "SELECT count(*) FROM order_items a JOIN order_items b ON a.quantity <= b.quantity"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		req := mcp.CallToolRequest{}
		req.Params.Name = "query"
		req.Params.Arguments = map[string]any{"sql": slow}
		_, _ = f.c.CallTool(ctx, req) // cancelled below
	}()
	deadline := time.Now().Add(10 * time.Second)
	for activeBackends(t, f.db.Pool(t), f.db.Name) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow query did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	o := f.query(t, map[string]any{"sql": "SELECT 1 AS one"})
	if !o.isError || o.err.Code != string(engine.CodeBusy) {
		t.Fatalf("second call with the only slot taken: %+v", o)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 3*time.Second {
		t.Errorf("busy after %s, want after the 200ms queue wait", took)
	}
	cancel()
	// The slot comes back: calls run again.
	deadline = time.Now().Add(10 * time.Second)
	for {
		if o := f.query(t, map[string]any{"sql": "SELECT 1 AS one"}); !o.isError {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the execution slot never came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
