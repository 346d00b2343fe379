// Package oracle checks sqlguard against PostgreSQL: for every query the
// guard accepts, what PostgreSQL resolves the query to read must be
// contained in what the guard says it reads ((*sqlguard.Query).Reads), and
// none of it may be blocked by the policy.
//
// # Method
//
// Each accepted query is run as EXPLAIN (VERBOSE, FORMAT JSON) <sql> by a
// SELECT-only role (a member of pg_read_all_data, so that privileges never
// hide a read; its sessions are READ ONLY with a 5 s statement_timeout),
// on one throwaway cluster (tests/pgtest) holding one database per schema.
// EXPLAIN plans the query without running it, so empty tables are enough.
// The plan is walked (plan_test.go):
//
//   - every node with "Relation Name" is a base-relation scan; its "Alias"
//     (made unique by EXPLAIN: a second u becomes u_1, an inheritance
//     parent's members p_1, p_2…) maps to "Schema"."Relation Name". The
//     child scans of a parent read without ONLY are scans of the children,
//     so descendants' reads are seen as reads of the children;
//   - every string field of every node (Output, Filter, Join Filter, Index
//     Cond, Recheck Cond, Hash Cond, Merge Cond, Sort Key, Group Key,
//     Grouping Sets, One-Time Filter, Function Call, Cache Key, Run
//     Condition…) is lexed as the ruleutils output it is: alias.col (either
//     part possibly quoted by quote_ident) is a column read, alias.* a
//     whole-row read (a bare alias is taken as one too). Names of CTE Scan,
//     Subquery Scan, Function Scan, Values Scan and WorkTable Scan nodes are
//     not base relations and are ignored: what they read is read by the
//     scans inside their own plans. Type names after ::, COLLATE names, the
//     field of EXTRACT(field FROM…), named arguments (x => …), function
//     names (followed by "(") and string constants are skipped;
//   - PostgreSQL 15 prints a targetlist without the alias when the range
//     table has a single entry (a plan with exactly one aliased node): then
//     unprefixed names that are columns of that relation are reads;
//   - a scan below a join or an aggregate may return every column of its
//     table (a "physical" targetlist) whether the query needs it or not,
//     and Hash, Materialize, Sort, Limit… above it repeat that list. An
//     Output that is exactly every column of one relation, in order, on a
//     node that is not a root (the top, an InitPlan, SubPlan, subquery or
//     Append member) is therefore ignored; the consuming node names what
//     is actually used in its own Output, quals or keys;
//   - reads of a relation that the query does not name (nor a descendant of
//     one it names) but that a view the query names reads are counted as
//     "through views" and not checked (the guard lists a view, not what the
//     view reads);
//   - besides reads, a call of a dangerous function (pg_sleep,
//     current_setting, pg_advisory_lock, set_config, ts_stat… see
//     judge_test.go) anywhere in the plan is a failure: (x).f and t.f are
//     calls PostgreSQL deparses like any other.
//
// A read PostgreSQL reports is covered by Reads when Reads lists it or the
// relation's whole row ("schema.table.*"); a whole-row read is covered by
// the whole row or by every column. A read is blocked when its relation,
// or an ancestor, is a blocked relation; when the column is blocked on the
// relation or an ancestor; when it is a whole row of a relation (or an
// ancestor) with blocked columns; or when neither the relation nor an
// ancestor is permitted. A PostgreSQL error on EXPLAIN (a prediction with a
// wrong column, a type error) is not a failure: it is counted and the
// first few are logged.
//
// Known limits (the oracle is a lower bound of what is read): the planner
// removes what it proves unneeded before EXPLAIN shows it (WHERE false and
// other constant folding, pruned partitions, removed left joins, unused
// subquery outputs), so such reads are not seen; a WindowAgg prints its
// PARTITION BY / ORDER BY as "OVER (?)", so a window key that no Sort node
// names is not seen; an inheritance parent's own alias (p in
// "Hash Cond: (p.id = o.id)" over an Append of p_1, p_2) is not a scan and
// is ignored, its reads being seen in the members. A table whose columns
// are all genuinely read, below a projecting node, is never missed: the
// projecting node names them.
//
// # Corpora (TestGuardAgainstPostgres)
//
//   - shop: ../shared/corpus/guard_accept.jsonl and guard_reject.jsonl on a
//     database "shop" from shop_schema.sql, policy shop_policy.json;
//   - spider: ../shared/data/spider/dev_gold.sql on the 19 databases of
//     pg_dbs/*.sql (queries of wta_1, which has no port, are skipped and
//     counted), policy AllowedSchemas public plus two blocked columns per
//     database (chooseBlocked);
//   - bird: the predictions in ../shared/data/bird/minidev_pg_predictions on
//     empty tables made from mini_dev_tables.json (names: see birdName),
//     same kind of policy;
//   - regress: ../shared/data/corpus/pg16_regress_pure_selects.jsonl against
//     the shop catalog and policy (most are refused as touching unknown
//     tables; those accepted go through the oracle).
//
// A missing corpus skips its subtest, or fails it when PGMCP_REQUIRE_CORPUS=1
// (CI; pgtest.SharedPath). Until the guard's catalog resolution lands, Reads is empty and the
// test reports every read as missing.
//
// # Fuzzing (fuzz_test.go)
//
// FuzzGuardOracle drives a grammar-based query builder over an extended
// shop schema (an inheritance parent with a blocked child, a partitioned
// table with a blocked column on one partition, a composite-typed column,
// columns named like functions and types, a mixed-case table) with the
// fuzz input; each query the guard accepts goes through the same oracle.
// TestGuardOracleGenerated runs 2,000 fixed seeds of the builder in plain
// go test. To fuzz for 30 minutes:
//
//	go test -run '^$' -fuzz FuzzGuardOracle -fuzztime 30m ./tests/oracle
package oracle

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	dropRoles()
	if err := pgtest.Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func TestGuardAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	start := time.Now()
	t.Cleanup(func() { t.Logf("TestGuardAgainstPostgres took %v", time.Since(start).Round(time.Second)) })

	t.Run("shop", func(t *testing.T) {
		t.Parallel()
		acc := readJSONL(t, pgtest.SharedPath(t, "corpus/guard_accept.jsonl"))
		rej := readJSONL(t, pgtest.SharedPath(t, "corpus/guard_reject.jsonl"))
		tg := shopTarget(t, shopPolicy(t))
		var items []item
		for i, s := range acc {
			items = append(items, item{sql: s, tg: tg, src: fmt.Sprintf("guard_accept.jsonl:%d", i+1)})
		}
		for i, s := range rej {
			items = append(items, item{sql: s, tg: tg, src: fmt.Sprintf("guard_reject.jsonl:%d", i+1)})
		}
		runCorpus(t, items, newStats("shop"))
	})

	t.Run("spider", func(t *testing.T) {
		t.Parallel()
		gold := pgtest.SharedPath(t, "data/spider/dev_gold.sql")
		dir := pgtest.SharedPath(t, "data/spider/pg_dbs")
		sqls, dbs := readSpiderGold(t, gold)
		byDB := map[string][]string{}
		for i, s := range sqls {
			byDB[dbs[i]] = append(byDB[dbs[i]], s)
		}
		tgs := spiderTargets(t, dir, byDB)
		st := newStats("spider")
		st.explainRefused = true
		var items []item
		skipped := map[string]int{}
		for i, s := range sqls {
			tg := tgs[dbs[i]]
			if tg == nil {
				skipped[dbs[i]]++
				continue
			}
			items = append(items, item{sql: s, tg: tg, src: fmt.Sprintf("dev_gold.sql:%d (%s)", i+1, dbs[i])})
		}
		for db, n := range skipped {
			st.skipped += n
			t.Logf("spider: %d queries of %s skipped: no PostgreSQL port of that database", n, db)
		}
		logBlocked(t, "spider", tgs)
		runCorpus(t, items, st)
	})

	t.Run("bird", func(t *testing.T) {
		t.Parallel()
		tables := pgtest.SharedPath(t, "data/bird/mini_dev_tables.json")
		dir := pgtest.SharedPath(t, "data/bird/minidev_pg_predictions")
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(files) == 0 {
			pgtest.SharedPath(t, "data/bird/minidev_pg_predictions/predict_mini_dev_gpt-4_postgresql.json")
		}
		schemas, sqls, dbids, srcs := readBird(t, tables, files)
		byDB := map[string][]string{}
		for i, s := range sqls {
			byDB[dbids[i]] = append(byDB[dbids[i]], s)
		}
		tgs := birdTargets(t, schemas, byDB)
		st := newStats("bird")
		st.explainRefused = true
		var items []item
		for i, s := range sqls {
			tg := tgs[dbids[i]]
			if tg == nil {
				st.skipped++
				continue
			}
			items = append(items, item{sql: s, tg: tg, src: srcs[i] + " (" + dbids[i] + ")"})
		}
		logBlocked(t, "bird", tgs)
		runCorpus(t, items, st)
	})

	t.Run("regress", func(t *testing.T) {
		t.Parallel()
		sqls := readJSONL(t, pgtest.SharedPath(t, "data/corpus/pg16_regress_pure_selects.jsonl"))
		tg := shopTarget2(t)
		var items []item
		for i, s := range sqls {
			items = append(items, item{sql: s, tg: tg, src: fmt.Sprintf("pg16_regress_pure_selects.jsonl:%d", i+1)})
		}
		runCorpus(t, items, newStats("regress"))
	})
}

// shopTarget2 is a second shop database (pgtest's unique name) for the
// regression SELECTs, so that they run beside the shop corpus.
func shopTarget2(t *testing.T) *target {
	t.Helper()
	db := pgtest.NewDB(t, pgtest.Shop)
	return newTarget(t, db.Name, []string{"public", "sales"}, shopPolicy(t))
}

func logBlocked(t *testing.T, corpus string, tgs map[string]*target) {
	t.Helper()
	var keys []string
	for k := range tgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%s: %s: blocked columns %v", corpus, k, tgs[k].policy.BlockedColumns)
	}
}
