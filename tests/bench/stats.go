package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-quantile (0 < p <= 1) of sorted by the
// nearest-rank method: the smallest value such that at least p of the
// samples are less than or equal to it. It returns 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	rank := int(math.Ceil(p * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// cellStats is what one measured cell (server × transport × workload ×
// concurrency) reports.
type cellStats struct {
	Server      string  `json:"server"`
	Transport   string  `json:"transport"`
	Workload    string  `json:"workload"`
	Concurrency int     `json:"concurrency"`
	Ops         int     `json:"ops"`    // operations that succeeded
	Errors      int     `json:"errors"` // operations that failed
	WallSeconds float64 `json:"wall_seconds"`
	Throughput  float64 `json:"ops_per_second"`
	P50MS       float64 `json:"p50_ms"`
	P99MS       float64 `json:"p99_ms"`
	MaxMS       float64 `json:"max_ms"`
	PeakRSSMB   float64 `json:"peak_rss_mb"` // -1 when unknown
	// ServerCPUMSPerOp is the server process's CPU time (user+system) per
	// successful operation; PGCPUMSPerOp the same for all PostgreSQL
	// processes. -1 when unknown.
	ServerCPUMSPerOp float64 `json:"server_cpu_ms_per_op"`
	PGCPUMSPerOp     float64 `json:"pg_cpu_ms_per_op"`
	// ClientCPUMSPerOp is the benchmark client's own CPU time per
	// operation (it shares the machine's cores with the servers).
	ClientCPUMSPerOp float64 `json:"client_cpu_ms_per_op"`
	BytesPerOp       float64 `json:"bytes_per_op"` // response text per operation
	CallsPerOp       float64 `json:"calls_per_op"` // MCP requests per operation
	FirstError       string  `json:"first_error,omitempty"`
	Note             string  `json:"note,omitempty"`
}

// summarize fills the latency and throughput figures of s from the
// durations of the successful operations and the wall time of the cell.
func summarize(s *cellStats, durs []time.Duration, wall time.Duration) {
	d := slices.Clone(durs)
	slices.Sort(d)
	s.Ops = len(d)
	s.WallSeconds = wall.Seconds()
	if wall > 0 {
		s.Throughput = float64(len(d)) / wall.Seconds()
	}
	s.P50MS = ms(percentile(d, 0.50))
	s.P99MS = ms(percentile(d, 0.99))
	if len(d) > 0 {
		s.MaxMS = ms(d[len(d)-1])
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratio returns a/b, or NaN when either is not a positive number.
func ratio(a, b float64) float64 {
	if !(a > 0) || !(b > 0) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return math.NaN()
	}
	return a / b
}
