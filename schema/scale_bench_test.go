package schema

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Large-catalog benchmarks, on the catalog of bench_test.go (2,000 tables;
// PGMCP_BENCH_TABLES=10000 or 30000 for more):
//
//	PGMCP_BENCH_TABLES=10000 go test ./schema -run '^$' -bench 'Introspect$|CatalogRead|LoadMemory|TTLExpiry|Fingerprint' -benchtime 3x

// recordingQueryer runs queries on db and keeps their text and arguments.
type recordingQueryer struct {
	db    Queryer
	calls []recordedQuery
}

type recordedQuery struct {
	sql  string
	args []any
}

func (r *recordingQueryer) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.calls = append(r.calls, recordedQuery{sql, args})
	return r.db.Query(ctx, sql, args...)
}

// BenchmarkCatalogRead is the bare catalog read under a cold load: the
// same queries Introspect sends, their rows read and dropped. A cold load
// (BenchmarkIntrospect) divided by this is what pgmcp adds to reading the
// catalog.
func BenchmarkCatalogRead(b *testing.B) {
	p := benchPool(b)
	ctx := context.Background()
	rec := &recordingQueryer{db: p}
	if _, err := Introspect(ctx, rec, Filter{Schemas: []string{"bench"}}, IntrospectOptions{CommonValues: true}); err != nil {
		b.Fatal(err)
	}
	calls := rec.calls // the fingerprint first, then the catalog
	if os.Getenv("PGMCP_BENCH_EXPLAIN") != "" {
		// The plans, to see which node grows faster than the catalog or
		// spills to disk.
		for i, c := range calls {
			rows, err := p.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+c.sql, c.args...)
			if err != nil {
				b.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					b.Fatal(err)
				}
				plan = append(plan, line)
			}
			rows.Close()
			b.Logf("query %d:\n%s", i, strings.Join(plan, "\n"))
		}
	}
	var rowsRead int
	took := make([]time.Duration, len(calls))
	b.ResetTimer()
	for b.Loop() {
		rowsRead = 0
		for i, c := range calls {
			t0 := time.Now()
			rows, err := p.Query(ctx, c.sql, c.args...)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				_ = rows.RawValues()
				rowsRead++
			}
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			took[i] += time.Since(t0)
		}
	}
	// Each query's share, to see which one grows with the catalog.
	for i := range calls {
		b.ReportMetric(float64(took[i].Milliseconds())/float64(b.N), "q"+strconv.Itoa(i)+"-ms")
	}
	b.ReportMetric(float64(len(calls)), "queries")
	b.ReportMetric(float64(rowsRead), "rows")
}

// BenchmarkLoadMemory reports the process's resident memory and live heap
// after a cold load through a Cache (which returns what the load let go).
func BenchmarkLoadMemory(b *testing.B) {
	p := benchPool(b)
	ctx := context.Background()
	var keep *Prepared
	for b.Loop() {
		c := NewCache(p, Filter{Schemas: []string{"bench"}}, Options{TTL: time.Hour, CommonValues: true}, nil)
		prep, err := c.Get(ctx)
		if err != nil {
			b.Fatal(err)
		}
		keep = prep
		c.Close()
	}
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MB")
	b.ReportMetric(float64(rssKB())/1024, "rss-MB")
	b.ReportMetric(float64(len(keep.Snapshot().Tables)), "tables")
}

// rssKB is the process's resident set size (VmRSS), in KiB.
func rssKB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return -1
}

// BenchmarkTTLExpiry calls Get back to back for two seconds with a TTL of
// 100 ms, so that a change check falls due twenty times, and reports the
// calls' latency: p50, p99 and the longest (the check runs in the
// background; no call should wait for it).
func BenchmarkTTLExpiry(b *testing.B) {
	p := benchPool(b)
	ctx := context.Background()
	q := &slowQueryer{db: p} // counts the queries, no delay
	c := NewCache(q, Filter{Schemas: []string{"bench"}}, Options{TTL: 100 * time.Millisecond, CommonValues: true}, nil)
	defer c.Close()
	if _, err := c.Get(ctx); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	before := q.n.Load()
	for b.Loop() {
		lat = lat[:0]
		end := time.Now().Add(2 * time.Second)
		for time.Now().Before(end) {
			t0 := time.Now()
			if _, err := c.Get(ctx); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			time.Sleep(200 * time.Microsecond) // calls, not a spin
		}
	}
	if err := c.idle(ctx); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	at := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(at(0.5), "p50-us")
	b.ReportMetric(at(0.99), "p99-us")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-us")
	b.ReportMetric(float64(q.n.Load()-before)/float64(b.N), "checks")
	if c.Loads() != 1 {
		b.Errorf("%d loads: the catalog did not change, so the checks must not reload", c.Loads())
	}
}

// BenchmarkFingerprint is the change check's query alone.
func BenchmarkFingerprint(b *testing.B) {
	p := benchPool(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := Fingerprint(ctx, p, Filter{Schemas: []string{"bench"}}); err != nil {
			b.Fatal(err)
		}
	}
}
