package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// Workloads.
const (
	wlSchemaDemo = "schema-demo"
	wlSQL        = "sql"
	wlSchema2000 = "schema-2000"
	// One query again and again: trivial (nearly all the cost is the
	// server's own) and medium (a join and an aggregate, 20 rows).
	wlTrivial = "trivial"
	wlMedium  = "medium"
)

// sqlWorkloads are the workloads of SQL queries, which direct pgx runs too.
var sqlWorkloads = []string{wlSQL, wlTrivial, wlMedium}

func isSQLWorkload(wl string) bool { return slices.Contains(sqlWorkloads, wl) }

// queriesOf returns the SQL of a SQL workload.
func queriesOf(wl string) []string {
	switch wl {
	case wlTrivial:
		return []string{"SELECT 1 AS one"}
	case wlMedium:
		return []string{`SELECT p.name, count(*) AS orders, round(sum(i.quantity * i.unit_price), 2) AS revenue
FROM order_items i JOIN products p ON p.id = i.product_id
WHERE i.order_id < 500
GROUP BY p.name ORDER BY revenue DESC LIMIT 20`}
	}
	return analystQueries
}

// workloadTitle describes a workload for the report.
var workloadTitle = map[string]string{
	wlSchemaDemo: "Schema of the demo database",
	wlSQL:        "SQL: 50 analyst queries on the demo database",
	wlSchema2000: "Schema of a generated catalog of 2,000 tables",
	wlTrivial:    "SQL: SELECT 1, again and again",
	wlMedium:     "SQL: one join and aggregate of 20 rows on the demo database, again and again",
}

// opResult is what one operation did.
type opResult struct {
	calls int // MCP requests
	bytes int // response text
	err   error
}

// opFunc runs operation number i of a workload on a connection.
type opFunc func(ctx context.Context, c *client.Client, i int) opResult

// callTool calls a tool and returns the length of its text content; a
// result with isError is an error carrying the start of its text.
func callTool(ctx context.Context, c *client.Client, name string, args map[string]any) (string, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return "", err
	}
	text := resultText(res)
	if res.IsError {
		return text, &toolError{text}
	}
	return text, nil
}

// toolError is a tool result with isError set.
type toolError struct{ text string }

func (e *toolError) Error() string { return "isError: " + clip(e.text, 300) }

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if t, ok := c.(mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// operation returns the operation of workload wl on server key (whose SQL
// tool is sqlTool), and a description of what one operation is.
//
// The schema workloads ask each server for the same thing with the tools
// it has:
//   - demo, "full" detail: pgmcp get_schema detail=full (all three schemas
//     in one call); dbhub search_objects(table, detail_level=full) once per
//     schema; server-postgres has no schema tool, only resources, and those
//     cover the public schema only: resources/list then resources/read of
//     every table.
//   - 2,000 tables, "summary" detail (names, comments, row and column
//     counts; a full description of 2,000 tables is megabytes no client
//     should ask for): pgmcp get_schema detail=summary; dbhub
//     search_objects(table, detail_level=summary) twice (LIKE 't0%' and
//     't1%': it returns at most 1,000 objects a call); server-postgres
//     resources/list (names only: it has no summary).
func operation(key, wl, sqlTool string) (opFunc, string) {
	switch wl {
	case wlSQL, wlTrivial, wlMedium:
		qs := queriesOf(wl)
		return func(ctx context.Context, c *client.Client, i int) opResult {
			t, err := callTool(ctx, c, sqlTool, map[string]any{"sql": qs[i%len(qs)]})
			return opResult{1, len(t), err}
		}, sqlTool + "(sql)"
	case wlSchemaDemo:
		switch key {
		case srvPgmcp:
			return func(ctx context.Context, c *client.Client, _ int) opResult {
				t, err := callTool(ctx, c, "get_schema", map[string]any{"detail": "full"})
				return opResult{1, len(t), err}
			}, "get_schema(detail=full)"
		case srvDbhub:
			return func(ctx context.Context, c *client.Client, _ int) opResult {
				r := opResult{}
				for _, s := range []string{"public", "billing", "analytics"} {
					t, err := callTool(ctx, c, "search_objects", map[string]any{
						"object_type": "table", "schema": s, "detail_level": "full", "limit": 1000})
					r.calls++
					r.bytes += len(t)
					if err != nil {
						r.err = err
						return r
					}
				}
				return r
			}, "search_objects(table, full) × 3 schemas"
		case srvRefpg:
			return readAllResources, "resources/list + resources/read × each table (public only)"
		}
	case wlSchema2000:
		switch key {
		case srvPgmcp:
			return func(ctx context.Context, c *client.Client, _ int) opResult {
				t, err := callTool(ctx, c, "get_schema", map[string]any{"detail": "summary"})
				return opResult{1, len(t), err}
			}, "get_schema(detail=summary)"
		case srvDbhub:
			return func(ctx context.Context, c *client.Client, _ int) opResult {
				r := opResult{}
				for _, p := range []string{"t0%", "t1%"} {
					t, err := callTool(ctx, c, "search_objects", map[string]any{
						"object_type": "table", "pattern": p, "detail_level": "summary", "limit": 1000})
					r.calls++
					r.bytes += len(t)
					if err != nil {
						r.err = err
						return r
					}
				}
				return r
			}, "search_objects(table, summary) × 2 patterns"
		case srvRefpg:
			return func(ctx context.Context, c *client.Client, _ int) opResult {
				res, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
				if err != nil {
					return opResult{1, 0, err}
				}
				n := 0
				for _, r := range res.Resources {
					n += len(r.URI) + len(r.Name)
				}
				return opResult{1, n, nil}
			}, "resources/list (names only)"
		}
	}
	return nil, ""
}

// readAllResources lists server-postgres's resources and reads each.
func readAllResources(ctx context.Context, c *client.Client, _ int) opResult {
	r := opResult{calls: 1}
	list, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
	if err != nil {
		r.err = err
		return r
	}
	for _, res := range list.Resources {
		req := mcp.ReadResourceRequest{}
		req.Params.URI = res.URI
		rr, err := c.ReadResource(ctx, req)
		r.calls++
		if err != nil {
			r.err = err
			return r
		}
		for _, ct := range rr.Contents {
			if t, ok := ct.(mcp.TextResourceContents); ok {
				r.bytes += len(t.Text)
			}
		}
	}
	return r
}

// cellPlan says how long a cell runs.
type cellPlan struct {
	Warmup    time.Duration // per cell, not measured
	Duration  time.Duration // measured, at least
	MinOps    int           // and at least this many operations
	MaxTime   time.Duration // but no new operation starts after this
	OpTimeout time.Duration
}

// runCell measures one cell: conc workers make operations back to back on
// server r (for HTTP each worker has its own session; over stdio they share
// the process's one connection, with conc requests in flight).
func runCell(ctx context.Context, r *running, wl string, conc int, plan cellPlan, pmPID int) cellStats {
	st := cellStats{Server: r.key, Transport: r.transport, Workload: wl, Concurrency: conc,
		PeakRSSMB: -1, ServerCPUMSPerOp: -1, PGCPUMSPerOp: -1}
	op, _ := operation(r.key, wl, r.sqlTool)
	if op == nil {
		st.Note = "not applicable"
		return st
	}
	conns := make([]*mcpConn, conc)
	for i := range conns {
		c, err := r.client(ctx)
		if err != nil {
			for _, c := range conns[:i] {
				c.close()
			}
			st.Errors = 1
			st.FirstError = "connect: " + err.Error()
			return st
		}
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()

	var next atomic.Int64
	// Warm-up, on one connection (the sessions of the others are open
	// already): at least one operation, then more until the warm-up time
	// is over. pgmcp's schema cache fills here, as Node's JIT warms.
	deadline := time.Now().Add(plan.Warmup)
	for first := true; first || time.Now().Before(deadline); first = false {
		octx, cancel := context.WithTimeout(ctx, plan.OpTimeout)
		op(octx, conns[0].c, int(next.Add(1)-1))
		cancel()
	}

	resetPeakRSS(r.pid)
	self0 := selfCPUSeconds()
	cpu0 := cpuTicks(r.pid, false)
	pg0 := treeCPUSeconds(pmPID)
	var (
		mu        sync.Mutex
		durs      []time.Duration
		errs      int
		firstErr  string
		bytes     int64
		calls     int64
		completed atomic.Int64
	)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				el := time.Since(start)
				if el >= plan.MaxTime || (el >= plan.Duration && int(completed.Load()) >= plan.MinOps) || ctx.Err() != nil {
					return
				}
				i := int(next.Add(1) - 1)
				octx, cancel := context.WithTimeout(ctx, plan.OpTimeout)
				t0 := time.Now()
				res := op(octx, conns[w].c, i)
				d := time.Since(t0)
				cancel()
				completed.Add(1)
				mu.Lock()
				calls += int64(res.calls)
				if res.err != nil {
					errs++
					if firstErr == "" {
						firstErr = res.err.Error()
					}
				} else {
					durs = append(durs, d)
					bytes += int64(res.bytes)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	summarize(&st, durs, wall)
	st.Errors = errs
	st.FirstError = clip(firstErr, 300)
	if hwm := procStatusKB(r.pid, "VmHWM"); hwm > 0 {
		st.PeakRSSMB = float64(hwm) / 1024
	}
	if st.Ops > 0 {
		if cpu1 := cpuTicks(r.pid, false); cpu0 >= 0 && cpu1 >= 0 {
			st.ServerCPUMSPerOp = float64(cpu1-cpu0) * 1000 / clockTicks / float64(st.Ops)
		}
		if pg1 := treeCPUSeconds(pmPID); pg0 >= 0 && pg1 >= 0 {
			st.PGCPUMSPerOp = (pg1 - pg0) * 1000 / float64(st.Ops)
		}
		st.ClientCPUMSPerOp = (selfCPUSeconds() - self0) * 1000 / float64(st.Ops)
		st.BytesPerOp = float64(bytes) / float64(st.Ops)
		st.CallsPerOp = float64(calls) / float64(st.Ops+errs)
	}
	if !r.alive() {
		st.Note = "server exited during the cell"
	}
	return st
}

// runDirectCell runs the SQL workload straight on PostgreSQL with pgx (a
// pool of 10 connections, like each server's), as the floor no MCP server
// can beat.
func runDirectCell(ctx context.Context, url, wl string, conc int, plan cellPlan, pmPID int) cellStats {
	st := cellStats{Server: "direct", Transport: "pgx", Workload: wl, Concurrency: conc,
		PeakRSSMB: -1, ServerCPUMSPerOp: -1, PGCPUMSPerOp: -1}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		st.FirstError = err.Error()
		return st
	}
	cfg.MaxConns = 10
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		st.FirstError = err.Error()
		return st
	}
	defer pool.Close()
	run := func(ctx context.Context, i int) (int, error) {
		qs := queriesOf(wl)
		rows, err := pool.Query(ctx, qs[i%len(qs)])
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				return n, err
			}
			n += len(fmt.Sprint(v...))
		}
		return n, rows.Err()
	}
	var next atomic.Int64
	deadline := time.Now().Add(plan.Warmup)
	for time.Now().Before(deadline) {
		if _, err := run(ctx, int(next.Add(1)-1)); err != nil {
			st.FirstError = err.Error()
		}
	}
	pg0 := treeCPUSeconds(pmPID)
	self0 := selfCPUSeconds()
	var (
		mu        sync.Mutex
		durs      []time.Duration
		errs      int
		completed atomic.Int64
	)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				el := time.Since(start)
				if el >= plan.MaxTime || (el >= plan.Duration && int(completed.Load()) >= plan.MinOps) || ctx.Err() != nil {
					return
				}
				octx, cancel := context.WithTimeout(ctx, plan.OpTimeout)
				t0 := time.Now()
				_, err := run(octx, int(next.Add(1)-1))
				d := time.Since(t0)
				cancel()
				completed.Add(1)
				mu.Lock()
				if err != nil {
					errs++
					if st.FirstError == "" {
						st.FirstError = err.Error()
					}
				} else {
					durs = append(durs, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	summarize(&st, durs, time.Since(start))
	st.Errors = errs
	if pg1 := treeCPUSeconds(pmPID); st.Ops > 0 && pg0 >= 0 && pg1 >= 0 {
		st.PGCPUMSPerOp = (pg1 - pg0) * 1000 / float64(st.Ops)
	}
	if st.Ops > 0 {
		st.ClientCPUMSPerOp = (selfCPUSeconds() - self0) * 1000 / float64(st.Ops)
	}
	st.CallsPerOp = 1
	return st
}

// coldSchemaCall times the first schema operation of a freshly started
// server (pgmcp answers later ones from its cache).
func coldSchemaCall(ctx context.Context, r *running, wl string) (time.Duration, error) {
	op, _ := operation(r.key, wl, r.sqlTool)
	if op == nil {
		return 0, errors.New("not applicable")
	}
	c, err := r.client(ctx)
	if err != nil {
		return 0, err
	}
	defer c.close()
	t0 := time.Now()
	res := op(ctx, c.c, 0)
	return time.Since(t0), res.err
}

// checkQueries runs every analyst query once on r and returns the ones
// that failed.
func checkQueries(ctx context.Context, r *running) []string {
	c, err := r.client(ctx)
	if err != nil {
		return []string{"connect: " + err.Error()}
	}
	defer c.close()
	var bad []string
	for i, q := range analystQueries {
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := callTool(qctx, c.c, r.sqlTool, map[string]any{"sql": q})
		cancel()
		if err != nil {
			bad = append(bad, fmt.Sprintf("query %d: %v", i+1, clip(err.Error(), 200)))
		}
	}
	return bad
}

// queryProfile is the cost of one analyst query run straight on
// PostgreSQL.
type queryProfile struct {
	N        int     `json:"n"` // 1-based
	MedianMS float64 `json:"median_ms"`
	JITMS    float64 `json:"jit_ms"` // JIT compilation in EXPLAIN ANALYZE, 0 without
	Rows     int     `json:"rows"`
	SQL      string  `json:"sql"`
}

// profileQueries times each analyst query on PostgreSQL directly (median
// of runs, one connection), and reads the JIT time of one EXPLAIN ANALYZE.
func profileQueries(ctx context.Context, url string, runs int) ([]queryProfile, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	var out []queryProfile
	for i, q := range analystQueries {
		p := queryProfile{N: i + 1, SQL: q}
		var durs []time.Duration
		for k := 0; k < runs; k++ {
			t0 := time.Now()
			rows, err := pool.Query(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("query %d: %w", i+1, err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("query %d: %w", i+1, err)
			}
			durs = append(durs, time.Since(t0))
			p.Rows = n
		}
		slices.Sort(durs)
		p.MedianMS = ms(percentile(durs, 0.5))
		var plan []byte
		if err := pool.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+q).Scan(&plan); err == nil {
			var ex []struct {
				JIT struct {
					Timing struct {
						Total float64 `json:"Total"`
					} `json:"Timing"`
				} `json:"JIT"`
			}
			if json.Unmarshal(plan, &ex) == nil && len(ex) > 0 {
				p.JITMS = ex[0].JIT.Timing.Total
			}
		}
		out = append(out, p)
	}
	return out, nil
}
