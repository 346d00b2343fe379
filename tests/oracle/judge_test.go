package oracle

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pgmcp/pgmcp/sqlguard"
)

// dangerous are functions no accepted query may make PostgreSQL call,
// whatever its spelling (attribute notation (x).f and t.f are calls). The
// oracle checks them on top of the reads: EXPLAIN deparses every call.
var dangerous = map[string]bool{
	"pg_sleep": true, "pg_sleep_for": true, "pg_sleep_until": true,
	"current_setting": true, "set_config": true,
	"pg_advisory_lock": true, "pg_advisory_lock_shared": true, "pg_advisory_xact_lock": true,
	"pg_advisory_xact_lock_shared": true, "pg_try_advisory_lock": true, "pg_try_advisory_lock_shared": true,
	"pg_try_advisory_xact_lock": true, "pg_try_advisory_xact_lock_shared": true,
	"pg_advisory_unlock": true, "pg_advisory_unlock_all": true, "pg_advisory_unlock_shared": true,
	"pg_terminate_backend": true, "pg_cancel_backend": true, "pg_reload_conf": true, "pg_rotate_logfile": true,
	"pg_read_file": true, "pg_read_binary_file": true, "pg_ls_dir": true, "pg_stat_file": true,
	"lo_import": true, "lo_export": true, "lo_get": true, "lo_open": true, "lo_creat": true, "lo_create": true,
	"dblink": true, "dblink_exec": true, "query_to_xml": true, "query_to_xml_and_xmlschema": true,
	"cursor_to_xml": true, "table_to_xml": true, "ts_stat": true, "ts_rewrite": true,
	"nextval": true, "setval": true, "pg_notify": true, "txid_current": true, "pg_current_xact_id": true,
	"pg_switch_wal": true, "pg_create_restore_point": true, "pg_logical_emit_message": true,
	"pg_export_snapshot": true, "pg_import_system_collations": true, "pg_stat_reset": true,
}

// verdict is the oracle's judgement of one accepted query.
type verdict struct {
	pg      []read   // what PostgreSQL reads
	missing []string // PostgreSQL reads that Reads does not list
	blocked []string // PostgreSQL reads the policy blocks, with the reason
	calls   []string // dangerous functions PostgreSQL would call
	checked int      // reads checked
	viaView int      // reads through a view, out of scope
}

func (v verdict) failed() bool { return len(v.missing)+len(v.blocked)+len(v.calls) > 0 }

// judge compares what PostgreSQL reads (pr) with what the guard says q
// reads, and with the policy.
func (tg *target) judge(q *sqlguard.Query, pr *planReads) verdict {
	guard := map[string]bool{}
	for _, r := range q.Reads() {
		guard[r] = true
	}
	// The relations the query names, with their descendants; and the views
	// among them, whose base relations are out of scope.
	named := map[string]bool{}
	var views []string
	for _, r := range q.Relations() {
		named[r] = true
		if rm := tg.meta.rels[r]; rm != nil {
			for _, d := range rm.desc {
				named[d] = true
			}
		}
		if tg.meta.viewBase[r] != nil {
			views = append(views, r)
		}
	}
	v := verdict{pg: pr.sorted()}
	for _, r := range v.pg {
		if !named[r.rel] && viaView(tg.meta, views, r.rel) {
			v.viaView++
			continue
		}
		v.checked++
		if !contained(tg.meta, guard, r) {
			v.missing = append(v.missing, r.String())
		}
		if why := tg.pv.violation(tg.meta, r.rel, r.col); why != "" {
			v.blocked = append(v.blocked, r.String()+": "+why)
		}
	}
	for f := range pr.calls {
		if dangerous[f] {
			v.calls = append(v.calls, f)
		}
	}
	sort.Strings(v.calls)
	return v
}

func viaView(meta *dbMeta, views []string, rel string) bool {
	for _, v := range views {
		if meta.viewBase[v][rel] {
			return true
		}
	}
	return false
}

// contained says whether the guard's reads cover r: a column is covered by
// itself or by its relation's whole row; a whole row by the whole row, or
// by every column of the relation.
func contained(meta *dbMeta, guard map[string]bool, r read) bool {
	if guard[r.rel+".*"] {
		return true
	}
	if r.col != "*" {
		return guard[r.String()]
	}
	rm := meta.rels[r.rel]
	if rm == nil || len(rm.columns) == 0 {
		return false
	}
	for _, c := range rm.columns {
		if !guard[r.rel+"."+c] {
			return false
		}
	}
	return true
}

// item is one query of a corpus, with the target it runs on.
type item struct {
	sql string
	tg  *target
	src string // where it comes from, for messages
}

// stats counts one corpus.
type stats struct {
	name string

	mu                         sync.Mutex
	total, accepted, explained int
	pgErrors, checked, viaView int
	failed, missing, blocked   int
	calls, panics, skipped     int
	// explainRefused explains the queries the guard refuses too, to count
	// how many of the corpus run in PostgreSQL at all (runnable); only
	// for corpora of ordinary queries (Spider, BIRD).
	explainRefused              bool
	runnable                    int
	unmappable                  int // explained, but the oracle cannot map the column alias lists
	errSamples                  []string
	refusedCodes                map[string]int
	maxErrSamples, maxFailShown int
}

func newStats(name string) *stats {
	return &stats{name: name, refusedCodes: map[string]int{}, maxErrSamples: 5, maxFailShown: 8}
}

// checkOne runs the guard and, if it accepts, the oracle on one query. It
// returns a failure message, or "".
func checkOne(ctx context.Context, it item, st *stats) (failure string, fatal error) {
	q, err := guardCheck(it.sql, it.tg.policy)
	st.mu.Lock()
	st.total++
	st.mu.Unlock()
	if err != nil {
		if pe, ok := err.(panicError); ok {
			st.mu.Lock()
			st.panics++
			st.mu.Unlock()
			return fmt.Sprintf("%s: sqlguard.Check panicked: %v\n  query: %s", it.src, pe.v, it.sql), nil
		}
		code := "?"
		if ge, ok := err.(*sqlguard.Error); ok {
			code = string(ge.Code)
		}
		runs := false
		if st.explainRefused {
			_, xerr := it.tg.explain(ctx, it.sql)
			if xerr != nil && !isServerError(xerr) {
				return "", fmt.Errorf("%s: explain: %w", it.src, xerr)
			}
			runs = xerr == nil
		}
		st.mu.Lock()
		st.refusedCodes[code]++
		if runs {
			st.runnable++
		}
		st.mu.Unlock()
		return "", nil
	}
	st.mu.Lock()
	st.accepted++
	st.mu.Unlock()
	js, err := it.tg.explain(ctx, q.SQL())
	if err != nil {
		if !isServerError(err) {
			return "", fmt.Errorf("%s: explain: %w", it.src, err)
		}
		st.notJudged(&st.pgErrors, it.src, err, q.SQL())
		return "", nil
	}
	pr, err := readsFromPlan(js, it.tg.meta, q.SQL())
	if errors.Is(err, errUnmappable) {
		st.notJudged(&st.unmappable, it.src, err, q.SQL())
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w\n  query: %s\n  plan: %s", it.src, err, q.SQL(), js)
	}
	v := it.tg.judge(q, pr)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.explained++
	st.runnable++
	st.checked += v.checked
	st.viaView += v.viaView
	if !v.failed() {
		return "", nil
	}
	st.failed++
	st.missing += len(v.missing)
	st.blocked += len(v.blocked)
	st.calls += len(v.calls)
	return describe(it, q, v), nil
}

func describe(it item, q *sqlguard.Query, v verdict) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (database %s):\n  query:      %s\n", it.src, it.tg.db, oneLine(q.SQL()))
	pg := make([]string, len(v.pg))
	for i, r := range v.pg {
		pg[i] = r.String()
	}
	fmt.Fprintf(&b, "  PostgreSQL: %s\n  guard:      %s\n", strings.Join(pg, ", "), strings.Join(q.Reads(), ", "))
	if len(v.missing) > 0 {
		fmt.Fprintf(&b, "  missing from Reads: %s\n", strings.Join(v.missing, ", "))
	}
	for _, x := range v.blocked {
		fmt.Fprintf(&b, "  BLOCKED read: %s\n", x)
	}
	if len(v.calls) > 0 {
		fmt.Fprintf(&b, "  DANGEROUS call: %s\n", strings.Join(v.calls, ", "))
	}
	return b.String()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprint("panic: ", p.v) }

// guardCheck is sqlguard.Check with a panic turned into an error.
func guardCheck(sql string, p *sqlguard.Policy) (q *sqlguard.Query, err error) {
	defer func() {
		if r := recover(); r != nil {
			q, err = nil, panicError{r}
		}
	}()
	return sqlguard.Check(sql, p)
}

// runCorpus checks every item with a few workers and reports: counts in
// the log, the first failures in detail and the number of failures as a
// test error.
func runCorpus(t *testing.T, items []item, st *stats) {
	t.Helper()
	ctx := t.Context()
	work := make(chan item)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	var fatal error
	for range max(2, runtime.GOMAXPROCS(0)+1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				f, err := checkOne(ctx, it, st)
				mu.Lock()
				if err != nil && fatal == nil {
					fatal = err
				}
				if f != "" {
					failures = append(failures, f)
				}
				mu.Unlock()
			}
		}()
	}
	for _, it := range items {
		mu.Lock()
		stop := fatal != nil
		mu.Unlock()
		if stop {
			break
		}
		work <- it
	}
	close(work)
	wg.Wait()
	if fatal != nil {
		t.Fatal(fatal)
	}
	st.report(t, failures)
}

func (st *stats) report(t *testing.T, failures []string) {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	var codes []string
	for c, n := range st.refusedCodes {
		codes = append(codes, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(codes)
	t.Logf("%s: %d queries, %d skipped, %d accepted by the guard (refused: %s), %d explained, %d PostgreSQL errors, %d not mappable, "+
		"%d reads checked, %d reads through views (out of scope), %d failing queries (%d reads missing from Reads, %d blocked reads, %d dangerous calls, %d panics)",
		st.name, st.total+st.skipped, st.skipped, st.accepted, strings.Join(codes, ", "), st.explained, st.pgErrors, st.unmappable,
		st.checked, st.viaView, st.failed+st.panics, st.missing, st.blocked, st.calls, st.panics)
	if st.explainRefused {
		t.Logf("%s: %d of %d queries run in PostgreSQL (EXPLAIN succeeds), accepted by the guard or not", st.name, st.runnable, st.total)
	}
	for _, e := range st.errSamples {
		t.Logf("%s: not judged (not a failure): %s", st.name, e)
	}
	sort.Strings(failures)
	for i, f := range failures {
		if i == st.maxFailShown {
			break
		}
		t.Errorf("%s: %s", st.name, f)
	}
	if len(failures) > st.maxFailShown {
		t.Errorf("%s: %d failing queries in all (%d shown)", st.name, len(failures), st.maxFailShown)
	}
}

// notJudged counts a query the oracle could not judge in *counter and keeps
// a few samples for the log.
func (st *stats) notJudged(counter *int, src string, err error, sql string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	*counter++
	if len(st.errSamples) < st.maxErrSamples {
		st.errSamples = append(st.errSamples, fmt.Sprintf("%s: %v\n    %s", src, err, oneLine(sql)))
	}
}
