package engine

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// Metrics are pgmcp's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	// Registry holds every metric; serve it at /metrics.
	Registry *prometheus.Registry

	toolCalls       *prometheus.CounterVec
	toolLatency     *prometheus.HistogramVec
	guardRejections *prometheus.CounterVec
	modelCalls      *prometheus.CounterVec
	modelLatency    prometheus.Histogram
	modelTokens     *prometheus.CounterVec
	auditFailures   prometheus.Counter
	pools           *poolCollector
	serverQueries   *prometheus.CounterVec
}

// NewMetrics makes the metrics, with the Go runtime and process
// collectors, and pool statistics of each database.
func NewMetrics(dbs []*Database) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		pools:    &poolCollector{},
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgmcp_tool_calls_total", Help: "Tool calls by tool and outcome (ok, or the error code).",
		}, []string{"tool", "outcome"}),
		toolLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pgmcp_tool_call_duration_seconds", Help: "Tool call latency by tool.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"tool"}),
		guardRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgmcp_guard_rejections_total", Help: "SQL refused by the guard, by reason code (model attempts included).",
		}, []string{"code"}),
		modelCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgmcp_model_calls_total", Help: "Model calls by outcome (ok, or the error code).",
		}, []string{"outcome"}),
		modelLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pgmcp_model_call_duration_seconds", Help: "Model call latency, retries included.",
			Buckets: []float64{.1, .25, .5, 1, 2, 4, 8, 15, 30, 60, 120},
		}),
		modelTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgmcp_model_tokens_total", Help: "Model tokens used, by kind (prompt, completion).",
		}, []string{"kind"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pgmcp_audit_write_failures_total", Help: "Audit records that could not be written (each one a call refused, or unaudited when PGMCP_AUDIT_REQUIRED=false).",
		}),
		serverQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgmcp_server_queries_total",
			Help: "Queries run (or failed) on a database server, by database, server (host:port of a host of its URL) and role (primary, standby).",
		}, []string{"database", "server", "role"}),
	}
	m.pools.dbs.Store(&dbs)
	reg.MustRegister(m.toolCalls, m.toolLatency, m.guardRejections, m.modelCalls, m.modelLatency, m.modelTokens, m.auditFailures, m.serverQueries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.pools)
	return m
}

func (m *Metrics) observeCall(tool, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.toolCalls.WithLabelValues(tool, outcome).Inc()
	m.toolLatency.WithLabelValues(tool).Observe(d.Seconds())
}

// observeServer counts a query of database db on server s. The servers
// are the hosts of the database's URL: few.
func (m *Metrics) observeServer(db string, s pgexec.Server) {
	if m == nil {
		return
	}
	m.serverQueries.WithLabelValues(db, s.String(), s.Role()).Inc()
}

func (m *Metrics) observeAuditFailure() {
	if m == nil {
		return
	}
	m.auditFailures.Inc()
}

func (m *Metrics) observeRejection(code string) {
	if m == nil {
		return
	}
	m.guardRejections.WithLabelValues(code).Inc()
}

func (m *Metrics) observeModel(resp *llm.Response, err error, d time.Duration) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = Describe(err).Code
	}
	m.modelCalls.WithLabelValues(outcome).Inc()
	m.modelLatency.Observe(d.Seconds())
	if resp != nil {
		m.modelTokens.WithLabelValues("prompt").Add(float64(resp.Usage.PromptTokens))
		m.modelTokens.WithLabelValues("completion").Add(float64(resp.Usage.CompletionTokens))
	}
}

// poolCollector reports each database pool's statistics when scraped.
type poolCollector struct {
	dbs atomic.Pointer[[]*Database] // every configured database, Pending ones included
}

var (
	poolConns = prometheus.NewDesc("pgmcp_pool_connections", "Pool connections by state (acquired, idle, total, max).",
		[]string{"database", "state"}, nil)
	poolAcquires = prometheus.NewDesc("pgmcp_pool_acquires_total", "Connection acquisitions by kind (all, waited, canceled).",
		[]string{"database", "kind"}, nil)
	poolWait = prometheus.NewDesc("pgmcp_pool_acquire_wait_seconds_total", "Time spent waiting for a connection.",
		[]string{"database"}, nil)
	sessionResets = prometheus.NewDesc("pgmcp_session_resets_total",
		"Connections found with session state left by a call (advisory locks, prepared statements…) and reset with DISCARD ALL, by reason.",
		[]string{"database", "reason"}, nil)
	databaseUp = prometheus.NewDesc("pgmcp_database_up",
		"1 for a database being served, 0 for one not reachable since start-up (retried in the background).",
		[]string{"database"}, nil)
	sessionDiscards = prometheus.NewDesc("pgmcp_session_discards_total",
		"Connections closed after a call instead of reused (state that could not be reset, a result left unread, a broken or oversized message), by reason.",
		[]string{"database", "reason"}, nil)
)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConns
	ch <- poolAcquires
	ch <- poolWait
	ch <- sessionResets
	ch <- sessionDiscards
	ch <- databaseUp
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	var dbs []*Database
	if p := c.dbs.Load(); p != nil {
		dbs = *p
	}
	for _, db := range dbs {
		up := 0.0
		if db.pending == nil {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(databaseUp, prometheus.GaugeValue, up, db.Name)
		if db.Pool == nil {
			continue
		}
		s := db.Pool.Stat()
		for state, v := range map[string]int32{"acquired": s.AcquiredConns(), "idle": s.IdleConns(), "total": s.TotalConns(), "max": s.MaxConns()} {
			ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(v), db.Name, state)
		}
		for kind, v := range map[string]int64{"all": s.AcquireCount(), "waited": s.EmptyAcquireCount(), "canceled": s.CanceledAcquireCount()} {
			ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(v), db.Name, kind)
		}
		ch <- prometheus.MustNewConstMetric(poolWait, prometheus.CounterValue, s.AcquireDuration().Seconds(), db.Name)
		if db.Exec == nil {
			continue
		}
		st := db.Exec.SessionStats()
		for reason, n := range st.Resets {
			ch <- prometheus.MustNewConstMetric(sessionResets, prometheus.CounterValue, float64(n), db.Name, reason)
		}
		for reason, n := range st.Discards {
			ch <- prometheus.MustNewConstMetric(sessionDiscards, prometheus.CounterValue, float64(n), db.Name, reason)
		}
	}
}

// setMetricsDatabases points the pool statistics at the databases as they
// are now.
func (e *Engine) setMetricsDatabases() {
	if e.metrics != nil {
		all := e.all()
		e.metrics.pools.dbs.Store(&all)
	}
}
