package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// TestEngineWithoutTransport drives the core as a front end other than MCP
// would (the terminal commands, a viewer, an eval): Open, New, the three
// operations, and a call's audit record, whose code is the one of the
// result it records.
func TestEngineWithoutTransport(t *testing.T) {
	db := openDemo(t)
	var audit bytes.Buffer
	eng, err := New(Config{Databases: []*Database{db}, MaxRows: 5, Audit: NewAuditLog(&audit, nil),
		Limits: pgexec.Limits{StatementTimeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}

	// A query, in a call: the record has its row count and no error.
	ctx, call := eng.StartCall(t.Context(), CallInfo{Tool: "query", Client: "test"})
	if err := call.Admit(); err != nil {
		t.Fatal(err)
	}
	res, err := eng.Query(ctx, QueryArgs{SQL: "SELECT id FROM customers ORDER BY id"})
	if err != nil {
		t.Fatal(err)
	}
	if res.RowCount != 5 || !res.Truncated || res.TruncatedBy != "max_rows" || res.Database != "demo" {
		t.Errorf("query result: %d rows, truncated %v by %q, database %q", res.RowCount, res.Truncated, res.TruncatedBy, res.Database)
	}
	if text := RenderQueryText(res); !strings.Contains(text, "5 rows") || !strings.Contains(text, "truncated by max_rows") {
		t.Errorf("text:\n%s", text)
	}
	call.Succeeded(res)
	if err := call.Finish(); err != nil {
		t.Fatal(err)
	}

	// A refused query, in a call: the record carries the guard's code as
	// the verdict and the error, taken from what the caller is told.
	ctx, call = eng.StartCall(t.Context(), CallInfo{Tool: "query"})
	_, err = eng.Query(ctx, QueryArgs{SQL: "DELETE FROM customers"})
	info := call.Failed(err)
	if info.Code != string(sqlguard.CodeNotSelect) {
		t.Errorf("DELETE: %+v, want %s", info, sqlguard.CodeNotSelect)
	}
	if err := call.Finish(); err != nil {
		t.Fatal(err)
	}
	var recs []AuditRecord
	for _, line := range strings.Split(strings.TrimSpace(audit.String()), "\n") {
		var r AuditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 2 || recs[0].RowCount == nil || *recs[0].RowCount != 5 || recs[0].Verdict != "allowed" || recs[0].Error != "" ||
		recs[1].Error != string(sqlguard.CodeNotSelect) || recs[1].Verdict != string(sqlguard.CodeNotSelect) || recs[0].Call == recs[1].Call {
		t.Errorf("audit records: %+v", recs)
	}
	// The allowed query's record has its fingerprint, taken when the
	// record was written; the refused one has none.
	if len(recs) == 2 && (!regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(recs[0].Fingerprint) || recs[1].Fingerprint != "") {
		t.Errorf("fingerprints %q %q, want a pg_query fingerprint and none", recs[0].Fingerprint, recs[1].Fingerprint)
	}

	// Explain: a refusal is a verdict, not an error.
	ex, err := eng.Explain(t.Context(), ExplainArgs{SQL: "SELECT phone FROM customers"})
	if err != nil || ex.Verdict.Allowed || ex.Verdict.Code == "" || ex.Plan != nil {
		t.Errorf("explain of a blocked column: %+v, %v", ex, err)
	}
	ex, err = eng.Explain(t.Context(), ExplainArgs{SQL: "select id from customers where id = 1"})
	if err != nil || !ex.Verdict.Allowed || ex.Plan == nil || !strings.HasPrefix(ex.SQL, "SELECT") {
		t.Errorf("explain: %+v, %v", ex, err)
	}

	// Schema and the model's schema context never show what is blocked.
	sch, text, err := eng.Schema(t.Context(), SchemaArgs{})
	if err != nil || sch.TotalTables == 0 || blockedShown.MatchString(text) {
		t.Errorf("schema: %d tables, %v; phone shown: %v", sch.TotalTables, err, blockedShown.MatchString(text))
	}
	sc, err := eng.SchemaContext(t.Context(), "", "how many orders per customer?")
	if err != nil || sc.Tables == 0 || sc.Tables > sc.Total || blockedShown.MatchString(sc.Text) {
		t.Errorf("schema context: %+v, %v", sc, err)
	}

	// Errors are typed, with stable codes.
	_, err = eng.Query(t.Context(), QueryArgs{SQL: "SELECT 1", Database: "nope"})
	var ee *Error
	if !errors.As(err, &ee) || ee.Code != CodeUnknownDatabase || Describe(err).Hint == "" {
		t.Errorf("unknown database: %v", err)
	}
	if _, err = eng.Query(t.Context(), QueryArgs{Question: "how many?"}); Describe(err).Code != "llm_not_configured" {
		t.Errorf("a question without a model: %v", err)
	}
}

// blockedShown matches the demo's blocked columns as words.
var blockedShown = regexp.MustCompile(`\b(phone|date_of_birth)\b`)

// openDemo opens a fresh demo database as its reader role, under the
// demo policy.
func openDemo(t *testing.T) *Database {
	t.Helper()
	pdb := pgtest.NewDB(t, pgtest.Demo)
	db, err := Open(t.Context(), DatabaseSpec{Name: "demo", URL: pdb.ReaderURL,
		Policy: PolicySource{JSON: demodb.PolicyJSON}, Pool: pgexec.Options{ConnectTimeout: 10 * time.Second}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Pool.Close)
	return db
}
