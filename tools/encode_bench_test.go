package tools

import (
	"syscall"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/tools/engine"
)

// Wide results, for BenchmarkResultEncoding: 1,000 rows of 20 columns and
// 10,000 rows of 5, of the types analysts read (integers, numerics,
// floats, text, timestamps with and without zone, dates, booleans, NULLs).
var encodingQueries = []struct{ name, sql string }{
	{"1000x20", `SELECT i AS id, i * 7 AS qty, (i * 2.5)::numeric(12,2) AS price, i / 3.0 AS ratio, sqrt(i)::float8 AS root,
  'customer ' || i AS name, md5(i::text) AS token, repeat('x', i % 40) AS pad, CASE WHEN i % 5 = 0 THEN NULL ELSE 'note ' || i END AS note,
  timestamptz '2024-01-01 00:00:00+00' + i * interval '37 minutes' AS created_at, timestamp '2024-01-01' + i * interval '1 hour' AS local_at,
  date '2024-01-01' + i AS day, i % 2 = 0 AS even, i % 7 AS bucket, (i * 1000003) % 65536 AS hash16,
  'status_' || (i % 4) AS status, -i AS neg, i::numeric / 7 AS seventh, upper(md5((i * 3)::text)) AS code, i * 0.001 AS milli
FROM generate_series(1, 1000) AS i`},
	{"10000x5", `SELECT i AS id, 'item ' || i AS name, (i * 1.25)::numeric(12,2) AS amount,
  timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute' AS at, i % 3 = 0 AS flag
FROM generate_series(1, 10000) AS i`},
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkResultEncoding compares the process CPU of a query call with a
// wide result (request bytes in, response bytes out, as stdio writes them)
// with the CPU of pgx reading the same rows into Go values (PostgreSQL's
// own work is another process's, in neither). cpu-ns/op is the figure to
// compare; run both in one go:
//
//	go test -run '^$' -bench 'ResultEncoding' -count 6 ./tools
func BenchmarkResultEncoding(b *testing.B) {
	f := newQueryFixture(b, fixtureOpts{deps: func(c *engine.Config) {
		c.MaxRows = 10000
		c.Limits.MaxResultBytes = 64 << 20
	}})
	for _, q := range encodingQueries {
		b.Run("pgmcp/"+q.name, func(b *testing.B) {
			call, size := stdioCall(b, f, q.sql, 1000)
			b.SetBytes(int64(size))
			start := cpuTime(b)
			b.ResetTimer()
			for b.Loop() {
				call()
			}
			b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
		})
		b.Run("pgx/"+q.name, func(b *testing.B) {
			run := func() int { return pgxReadAll(b, f.pool, q.sql) }
			if n := run(); n < 1000 {
				b.Fatalf("warm-up: %d rows", n)
			}
			start := cpuTime(b)
			b.ResetTimer()
			for b.Loop() {
				run()
			}
			b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}
