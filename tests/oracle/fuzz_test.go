package oracle

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// An input whose first byte is 0 is raw SQL (the rest of the bytes), so
// that corpus queries seed the fuzzer and byte-level mutations of them are
// explored too; any other input drives the query builder (gen_test.go).
func fromInput(data []byte, db string) string {
	if len(data) > 0 && data[0] == 0 {
		return string(data[1:])
	}
	if len(data) > 0 {
		data = data[1:]
	}
	return generate(data, db)
}

// generatedSeeds is how many builder inputs seed the fuzzer.
const generatedSeeds = 300

// FuzzGuardOracle: every query the guard accepts must read, in
// PostgreSQL, only what Reads lists and nothing blocked, and call no
// dangerous function; Check must never panic.
//
//	go test -run '^$' -fuzz FuzzGuardOracle -fuzztime 30m ./tests/oracle
func FuzzGuardOracle(f *testing.F) {
	tg := shopxTarget(f)
	for i := range generatedSeeds {
		f.Add(seedInput(i))
	}
	for _, s := range readJSONL(f, pgtest.SharedPath(f, "corpus/guard_accept.jsonl")) {
		f.Add(append([]byte{0}, s...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sql := fromInput(data, tg.db)
		st := newStats("fuzz")
		failure, err := checkOne(context.Background(), item{sql: sql, tg: tg, src: "fuzz input"}, st)
		if err != nil {
			t.Fatal(err)
		}
		if failure != "" {
			t.Fatal(failure)
		}
	})
}

// TestGuardOracleGenerated runs the builder on fixed seeds (2,000 by
// default; PGMCP_ORACLE_SEEDS=N for more) so that plain go test exercises
// the fuzz target's grammar through the oracle.
func TestGuardOracleGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("PGMCP_ORACLE_SEEDS")); err == nil && v > 0 {
		n = v
	}
	tg := shopxTarget(t)
	items := make([]item, n)
	for i := range items {
		items[i] = item{sql: fromInput(seedInput(i), tg.db), tg: tg, src: fmt.Sprintf("seed %d", i)}
	}
	for i := range min(5, n) {
		t.Logf("generated, seed %d: %s", i, items[i].sql)
	}
	st := newStats("generated")
	st.explainRefused = true
	st.maxFailShown = 15
	if testing.Verbose() {
		st.maxErrSamples = 10
	}
	runCorpus(t, items, st)
}
