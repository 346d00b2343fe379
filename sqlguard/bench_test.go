package sqlguard

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	pg "github.com/pganalyze/pg_query_go/v5"
)

// The benchmarks run over the whole accept corpus per iteration and report
// the mean ("ns/query") and the median ("p50-ns/query") time per query.
// Compare them:
//
//	go test -run '^$' -bench 'Check|Parse|CallPath' -count 6 ./sqlguard

func benchQueries(b *testing.B) []string {
	var out []string
	for _, c := range loadCorpus(b, "guard_accept.jsonl") {
		out = append(out, c.SQL)
	}
	return out
}

func runPerQuery(b *testing.B, qs []string, f func(string)) {
	durs := make([]time.Duration, 0, 64*len(qs))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for _, q := range qs {
			t0 := time.Now()
			f(q)
			if len(durs) < cap(durs) {
				durs = append(durs, time.Since(t0))
			}
		}
	}
	total := time.Since(start)
	b.StopTimer()
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*len(qs)), "ns/query")
	if len(durs) > 0 {
		b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns/query")
	}
}

func BenchmarkCheck(b *testing.B) {
	qs := benchQueries(b)
	p := shopPolicy(b)
	for _, q := range qs {
		if _, err := Check(q, p); err != nil {
			b.Fatalf("%q: %v", q, err)
		}
	}
	runPerQuery(b, qs, func(q string) {
		if _, err := Check(q, p); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	qs := benchQueries(b)
	runPerQuery(b, qs, func(q string) {
		if _, err := pg.Parse(q); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkCallPath is what a query call asks of the guard: Check, then
// the row cap (LimitRows with max_rows+1, 1001 by default). Its time over
// BenchmarkCheck's, in the same run, is the guard call path's overhead.
func BenchmarkCallPath(b *testing.B) {
	qs := benchQueries(b)
	p := shopPolicy(b)
	runPerQuery(b, qs, func(sql string) {
		q, err := Check(sql, p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := q.LimitRows(1001); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkLargeIN is Check and the call path on one query with a
// 5,000-element IN list, where a second parse or a deparse costs most.
func BenchmarkLargeIN(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("SELECT id FROM orders WHERE id IN (")
	for i := range 5000 {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprint(&sb, i)
	}
	sb.WriteString(")")
	sql := sb.String()
	p := shopPolicy(b)
	b.Run("check", func(b *testing.B) {
		runPerQuery(b, []string{sql}, func(s string) {
			if _, err := Check(s, p); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("callpath", func(b *testing.B) {
		runPerQuery(b, []string{sql}, func(s string) {
			q, err := Check(s, p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := q.LimitRows(1001); err != nil {
				b.Fatal(err)
			}
		})
	})
}
