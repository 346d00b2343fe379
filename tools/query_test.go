package tools

import (
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/fakellm"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/engine"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// queryFixture serves the demo database through the query tool, with an
// optional fake model.
type queryFixture struct {
	c       *client.Client
	srv     *server.MCPServer
	pool    *pgxpool.Pool
	dbs     []*engine.Database
	deps    engine.Config
	db      *pgtest.DB
	fake    *fakellm.Server
	blocked []string
}

type fixtureOpts struct {
	script  fakellm.Script // nil: no model configured
	llmConf func(*llm.Config)
	deps    func(*engine.Config)
	// template is the test database's template (default Demo, with the
	// demo policy; other templates get every relation of public).
	template pgtest.Template
	// setup runs as the superuser before the server connects.
	setup func(db *pgtest.DB)
}

func newQueryFixture(t testing.TB, o fixtureOpts) *queryFixture {
	t.Helper()
	tmpl := o.template
	if tmpl == pgtest.Empty {
		tmpl = pgtest.Demo
	}
	db := pgtest.NewDB(t, tmpl)
	if o.setup != nil {
		o.setup(db)
	}
	pool, err := pgexec.NewPool(t.Context(), db.ReaderURL, pgexec.Options{StatementTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	policy := &sqlguard.Policy{AllowedSchemas: []string{"public"}, SearchPath: []string{"public"}}
	var blocked []string
	if tmpl == pgtest.Demo {
		if policy, err = sqlguard.ParsePolicyJSON(demodb.PolicyJSON); err != nil {
			t.Fatal(err)
		}
		blocked = demoBlocked(t)
	}
	policy.Database = db.Name
	withCatalog(t, pool, policy)
	f := &queryFixture{db: db, pool: pool, blocked: blocked}
	deps := engine.Config{
		Databases: []*engine.Database{{Name: "demo", Pool: pool, Policy: policy, ServerVersion: "15", TimeZone: "UTC"}},
		Logger:    slog.New(slog.DiscardHandler), MaxRows: 100, MaxAttempts: 3,
		Limits: pgexec.Limits{StatementTimeout: 2 * time.Second},
		Now:    func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) },
	}
	if o.script != nil {
		f.fake = fakellm.New(t, o.script)
		conf := llm.Config{BaseURL: f.fake.URL(), Model: "fake-model", Timeout: 5 * time.Second}
		if o.llmConf != nil {
			o.llmConf(&conf)
		}
		model, err := llm.New(conf)
		if err != nil {
			t.Fatal(err)
		}
		deps.LLM = model
	}
	if o.deps != nil {
		o.deps(&deps)
	}
	f.dbs, f.deps = deps.Databases, deps
	srv := newServer(t, deps)
	f.srv = srv
	c, err := client.NewInProcessClient(srv)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "1"}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

// toolOutcome is a tool call's result: its text, its structured output
// as JSON, or its error body.
type toolOutcome struct {
	isError    bool
	text       string
	images     []mcp.ImageContent
	structured []byte
	err        engine.ErrorInfo
}

// queryOutcome is a query call's result, decoded.
type queryOutcome struct {
	toolOutcome
	out engine.QueryResult
}

func (f *queryFixture) query(t testing.TB, args map[string]any) queryOutcome {
	t.Helper()
	return f.queryCtx(t, t.Context(), args)
}

func (f *queryFixture) queryCtx(t testing.TB, ctx context.Context, args map[string]any) queryOutcome {
	t.Helper()
	o := queryOutcome{toolOutcome: f.call(t, ctx, "query", args)}
	if !o.isError {
		if err := json.Unmarshal(o.structured, &o.out); err != nil {
			t.Fatalf("structured content: %v: %s", err, o.structured)
		}
	}
	return o
}

// call calls a tool; a protocol error (instead of a tool result) fails the
// test, and so does an error body without a code and a message.
func (f *queryFixture) call(t testing.TB, ctx context.Context, name string, args map[string]any) toolOutcome {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := f.c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s %v: a protocol error instead of a tool result: %v", name, args, err)
	}
	var o toolOutcome
	o.isError = res.IsError
	for _, c := range res.Content {
		switch c := c.(type) {
		case mcp.TextContent:
			o.text += c.Text
		case mcp.ImageContent:
			o.images = append(o.images, c)
		}
	}
	if res.IsError {
		if err := json.Unmarshal([]byte(o.text), &o.err); err != nil {
			t.Fatalf("error body is not JSON: %q", o.text)
		}
		if o.err.Code == "" || o.err.Message == "" {
			t.Errorf("error body lacks code or message: %q", o.text)
		}
		return o
	}
	if o.structured, err = json.Marshal(res.StructuredContent); err != nil {
		t.Fatal(err)
	}
	return o
}

const revenueSQL = `SELECT c.country_code, round(sum(o.total_amount), 2) AS revenue
FROM orders o JOIN customers c ON c.id = o.customer_id
GROUP BY c.country_code ORDER BY revenue DESC LIMIT 5`

func TestQuerySQLMode(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{})
	o := f.query(t, map[string]any{"sql": revenueSQL})
	if o.isError {
		t.Fatalf("query failed: %s", o.text)
	}
	if o.out.RowCount != 5 || len(o.out.Rows) != 5 || o.out.Truncated || o.out.Attempts != 0 || o.out.Database != "demo" {
		t.Errorf("result = %+v", o.out)
	}
	if len(o.out.Columns) != 2 || o.out.Columns[0].Name != "country_code" || o.out.Columns[1].Type != "numeric" {
		t.Errorf("columns = %+v", o.out.Columns)
	}
	if !strings.Contains(o.text, "```sql") || !strings.Contains(o.text, "| country_code | revenue |") || !strings.Contains(o.text, "5 rows") {
		t.Errorf("text = %q", o.text)
	}

	// max_rows lowers the cap and the result says it was truncated.
	o = f.query(t, map[string]any{"sql": "SELECT id FROM products ORDER BY id", "max_rows": 7})
	if o.isError || o.out.RowCount != 7 || !o.out.Truncated || o.out.TruncatedBy != "max_rows" {
		t.Errorf("max_rows 7: %+v %s", o.out, o.text)
	}
	// dry_run validates without running.
	o = f.query(t, map[string]any{"sql": revenueSQL, "dry_run": true})
	if o.isError || !o.out.DryRun || o.out.SQL == "" || o.out.RowCount != 0 {
		t.Errorf("dry run: %+v", o.out)
	}
}

func TestQueryArgumentErrors(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{})
	cases := []struct {
		args map[string]any
		code string
	}{
		{map[string]any{}, string(engine.CodeInvalidArgument)},
		{map[string]any{"sql": "SELECT 1", "question": "how many?"}, string(engine.CodeInvalidArgument)},
		{map[string]any{"sql": "SELECT 1", "max_rows": 1000000}, string(engine.CodeInvalidArgument)},
		{map[string]any{"sql": "SELECT 1", "database": "nope"}, string(engine.CodeUnknownDatabase)},
		{map[string]any{"question": strings.Repeat("why ", 2000)}, string(engine.CodeInvalidArgument)},
		{map[string]any{"sql": "DELETE FROM orders"}, string(sqlguard.CodeNotSelect)},
		{map[string]any{"sql": "SELECT phone FROM customers"}, string(sqlguard.CodeBlockedColumn)},
		{map[string]any{"sql": "SELECT * FROM billing.payment_cards"}, string(sqlguard.CodeBlockedTable)},
		{map[string]any{"sql": "SELECT 1; COMMIT; DROP TABLE orders"}, string(sqlguard.CodeMultipleStatements)},
		{map[string]any{"sql": "SELEC 1"}, string(sqlguard.CodeSyntaxError)},
		{map[string]any{"sql": "SELECT nosuch FROM orders"}, string(sqlguard.CodeUnresolvedName)},
		{map[string]any{"sql": "SELECT 1 / (id - id) FROM orders"}, string(pgexec.CodeQueryFailed)},
		{map[string]any{"question": "how many orders?"}, string(engine.Code(llm.CodeNotConfigured))},
	}
	for _, tc := range cases {
		o := f.query(t, tc.args)
		if !o.isError || o.err.Code != tc.code {
			t.Errorf("query %.80v: isError=%v code=%q, want %q (%s)", tc.args, o.isError, o.err.Code, tc.code, o.text)
		}
	}
	o := f.query(t, map[string]any{"question": "how many orders?"})
	if !strings.Contains(o.err.Hint, "PGMCP_LLM_BASE_URL") || !strings.Contains(o.err.Hint, "sql") {
		t.Errorf("no-model hint does not say how to configure one or to send SQL: %q", o.err.Hint)
	}
}

func TestQueryQuestionFirstTry(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{script: fakellm.Sequence(fakellm.SQL(revenueSQL))})
	o := f.query(t, map[string]any{"question": "Which 5 countries bring the most revenue?"})
	if o.isError {
		t.Fatalf("query failed: %s", o.text)
	}
	if o.out.Attempts != 1 || o.out.RowCount != 5 || o.out.Question == "" || !strings.Contains(o.out.SQL, "sum(o.total_amount)") {
		t.Errorf("result = %+v", o.out)
	}
	reqs := f.fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("model calls = %d, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Model != "fake-model" || r.Temperature == nil || *r.Temperature != 0 || len(r.Messages) != 2 || r.Messages[0].Role != "system" {
		t.Errorf("request = model %q temperature %v messages %d", r.Model, r.Temperature, len(r.Messages))
	}
	sys := r.Messages[0].Content
	for _, want := range []string{"PostgreSQL 15", "public.orders", "total_amount", "Tuesday 24 November 2026", "UTC", `{"sql"`} {
		if !strings.Contains(sys, want) {
			t.Errorf("the system prompt lacks %q", want)
		}
	}
	if !strings.Contains(r.Last(), "Which 5 countries") {
		t.Errorf("the question is not in the prompt: %q", r.Last())
	}
	assertNoBlockedNames(t, f)
}

func TestQueryRepairsGuardRejection(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{script: fakellm.Sequence(
		fakellm.SQL("SELECT first_name, phone FROM customers LIMIT 5"),
		fakellm.SQL("SELECT first_name, email FROM customers ORDER BY id LIMIT 5"),
	)})
	o := f.query(t, map[string]any{"question": "Contact details of five customers"})
	if o.isError || o.out.Attempts != 2 || o.out.RowCount != 5 {
		t.Fatalf("result = %+v %s", o.out, o.text)
	}
	reqs := f.fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("model calls = %d", len(reqs))
	}
	repair := reqs[1]
	if len(repair.Messages) != 4 || repair.Messages[2].Role != "assistant" || !strings.Contains(repair.Messages[2].Content, "phone") {
		t.Fatalf("the repair conversation should hold the previous answer: %+v", repair.Messages)
	}
	last := repair.Last()
	if !strings.Contains(last, "blocked_column") || !strings.Contains(last, "refused") || !strings.Contains(last, "SELECT first_name, phone FROM customers LIMIT 5") {
		t.Errorf("the repair prompt does not carry the rejection: %q", last)
	}
}

func TestQueryRepairsPostgresError(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{script: fakellm.Sequence(
		fakellm.SQL("SELECT count(*) FROM orders WHERE status = 'lost'"),
		fakellm.SQL("SELECT count(*) AS cancelled FROM orders WHERE status = 'cancelled'"),
	)})
	o := f.query(t, map[string]any{"question": "How many orders were lost?"})
	if o.isError || o.out.Attempts != 2 || o.out.RowCount != 1 {
		t.Fatalf("result = %+v %s", o.out, o.text)
	}
	last := f.fake.Requests()[1].Last()
	if !strings.Contains(last, "SQLSTATE 22P02") || !strings.Contains(last, "invalid input value for enum") {
		t.Errorf("the repair prompt does not carry the PostgreSQL error: %q", last)
	}
	if strings.Contains(last, `"lost"`) {
		t.Errorf("the repair prompt carries a data value: %q", last)
	}
}

func TestQueryGarbageUntilAttemptsRunOut(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{script: fakellm.Sequence(fakellm.Text("Sure! Here are some thoughts about your data."))})
	o := f.query(t, map[string]any{"question": "How many orders?"})
	if !o.isError || o.err.Code != string(engine.CodeAttemptsExceeded) {
		t.Fatalf("outcome = %+v", o)
	}
	if n := f.fake.Count(); n != 3 {
		t.Errorf("model calls = %d, want 3 (PGMCP_LLM_MAX_ATTEMPTS)", n)
	}
	if !strings.Contains(f.fake.Requests()[1].Last(), "no_sql_found") {
		t.Errorf("the repair prompt does not say no SQL was found")
	}
}

func TestQueryUnsafeUntilAttemptsRunOut(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{script: fakellm.Sequence(fakellm.SQL("SELECT 1; COMMIT; DROP TABLE orders"))})
	o := f.query(t, map[string]any{"question": "Drop everything"})
	if !o.isError || o.err.Code != string(engine.CodeAttemptsExceeded) || !strings.Contains(o.err.Message, "only one statement") {
		t.Fatalf("outcome = %+v", o)
	}
	var n int
	if err := f.db.Pool(t).QueryRow(t.Context(), "SELECT count(*) FROM orders").Scan(&n); err != nil || n == 0 {
		t.Errorf("orders after the attack: %d (%v)", n, err)
	}
}

func TestQueryModelRefuses(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{script: fakellm.Sequence(fakellm.Text(`{"sql": null, "error": "There is no weather data in this database."}`))})
	o := f.query(t, map[string]any{"question": "What was the weather yesterday?"})
	if !o.isError || o.err.Code != string(llm.CodeRefused) || f.fake.Count() != 1 {
		t.Fatalf("outcome = %+v, calls %d", o, f.fake.Count())
	}
}

func TestQueryHangingModel(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{
		script:  fakellm.Sequence(fakellm.Reply{Hang: true}),
		llmConf: func(c *llm.Config) { c.Timeout = 300 * time.Millisecond },
	})
	start := time.Now()
	o := f.query(t, map[string]any{"question": "How many orders?"})
	if !o.isError || o.err.Code != string(llm.CodeTimeout) {
		t.Fatalf("outcome = %+v", o)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a hanging model held the call %s (timeout 300ms)", took)
	}
}

func TestQueryRateLimitedThenOK(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{script: fakellm.Sequence(
		fakellm.Reply{Status: 429, Content: `{"error":{"message":"slow down"}}`, Header: map[string]string{"Retry-After": "0"}},
		fakellm.SQL("SELECT count(*) AS n FROM orders"),
	)})
	o := f.query(t, map[string]any{"question": "How many orders?"})
	if o.isError || o.out.RowCount != 1 || f.fake.Count() != 2 || o.out.Attempts != 1 {
		t.Fatalf("outcome = %+v, calls %d", o, f.fake.Count())
	}
}

func TestQueryBreakerOpensAndRecovers(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{
		script: fakellm.Sequence(fakellm.Status(500)),
		llmConf: func(c *llm.Config) {
			c.MaxRetries = -1
			c.BreakerThreshold = 2
			c.BreakerCooldown = 300 * time.Millisecond
		},
	})
	for i := range 2 {
		if o := f.query(t, map[string]any{"question": "How many orders?"}); !o.isError || o.err.Code != string(llm.CodeUnavailable) {
			t.Fatalf("call %d: %+v", i, o)
		}
	}
	before := f.fake.Count()
	o := f.query(t, map[string]any{"question": "How many orders?"})
	if !o.isError || o.err.Code != string(llm.CodeCircuitOpen) || f.fake.Count() != before {
		t.Fatalf("with the breaker open: %+v, calls %d → %d", o, before, f.fake.Count())
	}
	if !strings.Contains(o.err.Hint, "sql") {
		t.Errorf("the breaker hint should offer SQL: %q", o.err.Hint)
	}
	// SQL still works while the model is down.
	if o := f.query(t, map[string]any{"sql": "SELECT 1 AS one"}); o.isError {
		t.Errorf("SQL mode with the breaker open: %s", o.text)
	}
	f.fake.SetScript(fakellm.Sequence(fakellm.SQL("SELECT count(*) AS n FROM orders")))
	time.Sleep(350 * time.Millisecond)
	if o := f.query(t, map[string]any{"question": "How many orders?"}); o.isError {
		t.Fatalf("after the cooldown: %s", o.text)
	}
}

// assertNoBlockedNames checks that nothing pgmcp sent the model names a
// blocked table or column: every message of every request, with the
// user's own question (which may name anything) taken out.
func assertNoBlockedNames(t *testing.T, f *queryFixture, questions ...string) {
	t.Helper()
	for i, r := range f.fake.Requests() {
		for _, m := range r.Messages {
			text := m.Content
			for _, q := range questions {
				text = strings.ReplaceAll(text, q, "")
			}
			text = strings.ToLower(text)
			for _, name := range f.blocked {
				if regexp.MustCompile(`\b` + regexp.QuoteMeta(strings.ToLower(name)) + `\b`).MatchString(text) {
					t.Errorf("request %d (%s message) names the blocked %q", i, m.Role, name)
				}
			}
		}
	}
}

func TestQueryPromptsNeverNameBlocked(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{script: fakellm.Sequence(fakellm.SQL("SELECT count(*) FROM customers"))})
	questions := []string{
		"What are the customers' phone numbers and dates of birth?",
		"Show saved payment cards and their fingerprints",
		"Which customers were born in the 1990s?",
		"revenue by month",
	}
	for _, q := range questions {
		if o := f.query(t, map[string]any{"question": q}); o.isError {
			t.Fatalf("%q: %s", q, o.text)
		}
	}
	if f.fake.Count() != 4 {
		t.Fatalf("model calls = %d", f.fake.Count())
	}
	assertNoBlockedNames(t, f, questions...)
}

func TestQueryTimeoutAndCancel(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{deps: func(d *engine.Config) { d.Limits.StatementTimeout = 300 * time.Millisecond }})
	const slow = "SELECT count(*) FROM order_items a JOIN order_items b ON a.quantity <= b.quantity"
	o := f.query(t, map[string]any{"sql": slow})
	if !o.isError || o.err.Code != string(pgexec.CodeQueryTimeout) {
		t.Fatalf("slow query: %+v", o)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = "query"
	req.Params.Arguments = map[string]any{"sql": slow}
	_, _ = f.c.CallTool(ctx, req)
	admin := f.db.Pool(t)
	deadline := time.Now().Add(5 * time.Second)
	for activeBackends(t, admin, f.db.Name) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("a cancelled call left its query running")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func activeBackends(t *testing.T, admin *pgxpool.Pool, db string) int {
	t.Helper()
	var n int
	if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = $1 AND state = 'active' AND application_name = 'pgmcp'`, db).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// withCatalog gives p the catalog of the test database the guard resolves
// names against, as the server does: the schemas of p's search path and
// those it allows. As the server does too, an exact relation list then
// allows the partitions of the partitioned tables it allows (the demo's
// analytics.events).
func withCatalog(t testing.TB, q pgexec.Querier, p *sqlguard.Policy) *sqlguard.Policy {
	t.Helper()
	schemas := append([]string(nil), p.SearchPath...)
	if len(schemas) == 0 {
		schemas = []string{"public"}
	}
	for _, s := range engine.SchemaFilter(p).Schemas {
		if !slices.Contains(schemas, s) {
			schemas = append(schemas, s)
		}
	}
	cat, err := pgexec.LoadCatalog(context.Background(), q, schemas)
	if err != nil {
		t.Fatal(err)
	}
	p.Catalog = cat
	if len(p.AllowedRelations) > 0 {
		kind := map[string]sqlguard.RelKind{}
		for _, r := range cat.Relations {
			kind[r.Schema+"."+r.Name] = r.Kind
		}
		for added := true; added; {
			added = false
			for _, r := range cat.Relations {
				key := r.Schema + "." + r.Name
				if slices.Contains(p.AllowedRelations, key) || slices.Contains(p.BlockedRelations, key) {
					continue
				}
				for _, parent := range r.Parents {
					if kind[parent] == sqlguard.KindPartitioned && slices.Contains(p.AllowedRelations, parent) {
						p.AllowedRelations = append(p.AllowedRelations, key)
						added = true
						break
					}
				}
			}
		}
	}
	return p
}

// newEngine is engine.New, failing the test on an error.
func newEngine(t testing.TB, cfg engine.Config) *engine.Engine {
	t.Helper()
	eng, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// newServer is the MCP server over a new engine of cfg.
func newServer(t testing.TB, cfg engine.Config) *server.MCPServer {
	t.Helper()
	return NewServer(newEngine(t, cfg), "test")
}
