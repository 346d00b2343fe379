package main

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// results is everything a run measured.
type results struct {
	Started     time.Time           `json:"started"`
	Finished    time.Time           `json:"finished"`
	Command     string              `json:"command"`
	Machine     map[string]string   `json:"machine"`
	Versions    map[string]string   `json:"versions"`
	Plan        cellPlan            `json:"plan"`
	Cells       []cellStats         `json:"cells"`
	Cold        []coldCall          `json:"cold"`
	Ops         map[string]string   `json:"ops"` // "server/workload" → what one operation is
	QueryErrors map[string][]string `json:"query_errors"`
	Security    []securityResult    `json:"security"`
	Profile     []queryProfile      `json:"query_profile"`
	Notes       []string            `json:"notes"`
}

// coldCall is the first schema operation of a freshly started server.
type coldCall struct {
	Server    string  `json:"server"`
	Transport string  `json:"transport"`
	Workload  string  `json:"workload"`
	MS        float64 `json:"ms"`
	Error     string  `json:"error,omitempty"`
}

// serverLabel names a server in the tables.
func serverLabel(key string) string {
	switch key {
	case srvPgmcp:
		return "pgmcp"
	case srvRefpg:
		return "server-postgres " + refpgVersion
	case srvDbhub:
		return "dbhub " + dbhubVersion
	case "direct":
		return "PostgreSQL direct (pgx, no MCP)"
	}
	return key
}

// fmtNum formats a figure with a precision that suits its size; NaN and
// negative values (unknown) print as a dash.
func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v) || v < 0:
		return "–"
	case v == 0:
		return "0"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// fmtRatio formats a ratio as "2.4×"; NaN prints as a dash.
func fmtRatio(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	if v >= 10 {
		return fmt.Sprintf("%.0f×", v)
	}
	return fmt.Sprintf("%.2f×", v)
}

// findCell returns the cell of server/transport/workload/concurrency.
func findCell(cells []cellStats, server, transport, wl string, conc int) *cellStats {
	for i := range cells {
		c := &cells[i]
		if c.Server == server && c.Transport == transport && c.Workload == wl && c.Concurrency == conc {
			return c
		}
	}
	return nil
}

// pgmcpReference is the pgmcp cell a row is compared with: the same
// transport, or stdio for rows without one of their own (direct pgx).
func pgmcpReference(cells []cellStats, c cellStats) *cellStats {
	if ref := findCell(cells, srvPgmcp, c.Transport, c.Workload, c.Concurrency); ref != nil {
		return ref
	}
	return findCell(cells, srvPgmcp, trStdio, c.Workload, c.Concurrency)
}

var serverOrder = map[string]int{srvPgmcp: 0, srvRefpg: 1, srvDbhub: 2, "direct": 3}
var transportOrder = map[string]int{trStdio: 0, trHTTP: 1, "pgx": 2}

// sortCells orders cells by workload order, concurrency, transport, server.
func sortCells(cells []cellStats) {
	sort.SliceStable(cells, func(i, j int) bool {
		a, b := cells[i], cells[j]
		if a.Concurrency != b.Concurrency {
			return a.Concurrency < b.Concurrency
		}
		if transportOrder[a.Transport] != transportOrder[b.Transport] {
			return transportOrder[a.Transport] < transportOrder[b.Transport]
		}
		return serverOrder[a.Server] < serverOrder[b.Server]
	})
}

// renderPerfTable renders the cells of one workload as a markdown table,
// with each row's throughput and p99 compared with pgmcp's on the same
// transport at the same concurrency.
func renderPerfTable(all []cellStats, wl string) string {
	var cells []cellStats
	for _, c := range all {
		if c.Workload == wl {
			cells = append(cells, c)
		}
	}
	sortCells(cells)
	var b strings.Builder
	b.WriteString("| conc. | server | transport | ops/s | pgmcp ops/s ÷ its | p50 ms | p99 ms | its p99 ÷ pgmcp's | peak RSS MB | server CPU ms/op | PG CPU ms/op | client CPU ms/op | KB/op | errors |\n")
	b.WriteString("|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, c := range cells {
		tput, p99 := "–", "–"
		if ref := pgmcpReference(all, c); ref != nil && c.Server != srvPgmcp {
			tput = fmtRatio(ratio(ref.Throughput, c.Throughput))
			p99 = fmtRatio(ratio(c.P99MS, ref.P99MS))
		}
		errs := fmt.Sprint(c.Errors)
		if c.Note != "" {
			errs += " (" + c.Note + ")"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			c.Concurrency, serverLabel(c.Server), c.Transport, fmtNum(c.Throughput), tput,
			fmtNum(c.P50MS), fmtNum(c.P99MS), p99, fmtNum(c.PeakRSSMB),
			fmtNum(c.ServerCPUMSPerOp), fmtNum(c.PGCPUMSPerOp), fmtNum(c.ClientCPUMSPerOp), fmtNum(c.BytesPerOp/1024), errs)
	}
	return b.String()
}

// targetCheck states, from the measurements, whether pgmcp met the issue's
// target on the SQL workload at concurrency 8: at least twice each peer's
// throughput and a lower p99, transport by transport.
func targetCheck(all []cellStats) []string {
	var out []string
	for _, c := range all {
		if c.Workload != wlSQL || c.Concurrency != 8 || c.Server == srvPgmcp || c.Server == "direct" {
			continue
		}
		ref := findCell(all, srvPgmcp, c.Transport, wlSQL, 8)
		if ref == nil {
			continue
		}
		tr := ratio(ref.Throughput, c.Throughput)
		okT := tr >= 2
		okP := ref.P99MS > 0 && c.P99MS > 0 && ref.P99MS < c.P99MS
		out = append(out, fmt.Sprintf("- vs %s over %s: throughput %s of it (target ≥ 2×: %s); p99 %s ms vs %s ms (target lower: %s)",
			serverLabel(c.Server), c.Transport, fmtRatio(tr), yesNo(okT), fmtNum(ref.P99MS), fmtNum(c.P99MS), yesNo(okP)))
	}
	sort.Strings(out)
	return out
}

func yesNo(b bool) string {
	if b {
		return "met"
	}
	return "**missed**"
}

// renderCold renders the first schema calls after start.
func renderCold(cold []coldCall) string {
	var b strings.Builder
	b.WriteString("| workload | server | transport | first call ms |\n|---|---|---|--:|\n")
	for _, c := range cold {
		v := fmtNum(c.MS)
		if c.Error != "" {
			v = "error: " + clip(c.Error, 80)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Workload, serverLabel(c.Server), c.Transport, v)
	}
	return b.String()
}

// renderSecurityTable renders the replay counts.
func renderSecurityTable(rs []securityResult) string {
	var b strings.Builder
	b.WriteString("| server (read-only mode) | role | cases | refused by the server | refused by PostgreSQL | ran, harmless | **with an effect** | write | file | setting | lock | leak | runaway | notify | server restarts |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rs {
		k := r.Kinds
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | **%d** | %d | %d | %d | %d | %d | %d | %d | %d |\n",
			serverLabel(r.Server)+" ("+r.Mode+")", r.Setup, r.Cases, r.RefusedByServer, r.RefusedByPostgres, r.Harmless,
			r.Effect, k[effWrite], k[effFile], k[effSetting], k[effLock], k[effLeak], k[effRunaway], k[effNotify], r.Restarts)
	}
	return b.String()
}

// renderSecurityExamples lists a few cases with an effect per server.
func renderSecurityExamples(rs []securityResult, perServer int) string {
	var b strings.Builder
	for _, r := range rs {
		if len(r.Examples) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s, role %s:\n\n", serverLabel(r.Server), r.Setup)
		for i, e := range r.Examples {
			if i == perServer {
				break
			}
			fmt.Fprintf(&b, "- `%s` → %s\n", strings.ReplaceAll(clip(e.SQL, 110), "`", "'"), strings.Join(e.Effects, "; "))
		}
	}
	return b.String()
}

// renderReport renders the whole generated part of docs/BENCHMARKS.md.
func renderReport(r *results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s (%s), with:\n\n```sh\n%s\n```\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"),
		r.Finished.Sub(r.Started).Round(time.Second), r.Command)
	b.WriteString("| machine | |\n|---|---|\n")
	for _, k := range sortedKeys(r.Machine) {
		fmt.Fprintf(&b, "| %s | %s |\n", k, r.Machine[k])
	}
	b.WriteString("\n| software | version |\n|---|---|\n")
	for _, k := range sortedKeys(r.Versions) {
		fmt.Fprintf(&b, "| %s | %s |\n", k, r.Versions[k])
	}
	p := r.Plan
	fmt.Fprintf(&b, "\nEach cell: %s of warm-up, then operations back to back for at least %s and %d operations (no new one after %s).\n",
		p.Warmup, p.Duration, p.MinOps, p.MaxTime)
	if len(r.Cells) > 0 {
		b.WriteString("\n### Performance\n")
		for _, wl := range []string{wlSQL, wlSchemaDemo, wlSchema2000} {
			has := false
			for _, c := range r.Cells {
				has = has || c.Workload == wl
			}
			if !has {
				continue
			}
			fmt.Fprintf(&b, "\n#### %s\n\nOne operation:", workloadTitle[wl])
			for _, k := range []string{srvPgmcp, srvRefpg, srvDbhub} {
				if d, ok := r.Ops[k+"/"+wl]; ok {
					fmt.Fprintf(&b, " %s `%s`;", serverLabel(k), d)
				}
			}
			b.WriteString("\n\n")
			b.WriteString(renderPerfTable(r.Cells, wl))
			if wl == wlSQL {
				if lines := targetCheck(r.Cells); len(lines) > 0 {
					b.WriteString("\nTarget at concurrency 8 (pgmcp against each peer, same transport):\n\n")
					b.WriteString(strings.Join(lines, "\n") + "\n")
				}
			}
		}
		if len(r.Profile) > 0 {
			b.WriteString("\n#### Where the time of the SQL workload goes\n\n")
			b.WriteString(renderProfile(r.Profile))
		}
		if len(r.Cold) > 0 {
			b.WriteString("\n#### First schema call after start (pgmcp serves later ones from its cache)\n\n")
			b.WriteString(renderCold(r.Cold))
		}
		for k, errs := range r.QueryErrors {
			if len(errs) > 0 {
				fmt.Fprintf(&b, "\n%s failed %d of the 50 analyst queries in the check before the runs: %s\n", k, len(errs), strings.Join(errs, "; "))
			}
		}
	}
	if len(r.Security) > 0 {
		b.WriteString("\n### Security: the reject corpus replayed through each SQL tool\n\n")
		b.WriteString(renderSecurityTable(r.Security))
		b.WriteString("\nExamples of cases with an effect (the first few of each server):\n")
		b.WriteString(renderSecurityExamples(r.Security, 8))
	}
	for _, n := range r.Notes {
		b.WriteString("\n" + n + "\n")
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Markers of the generated part of docs/BENCHMARKS.md.
const (
	docStart = "<!-- bench-compare:start (generated by `make bench-compare`; edits inside are overwritten) -->"
	docEnd   = "<!-- bench-compare:end -->"
)

// spliceDoc replaces the text between the markers of doc with generated.
func spliceDoc(doc, generated string) (string, error) {
	i := strings.Index(doc, docStart)
	j := strings.Index(doc, docEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("markers %q and %q not found in order", docStart, docEnd)
	}
	return doc[:i+len(docStart)] + "\n" + generated + "\n" + doc[j:], nil
}

// updateDoc rewrites the generated part of the file at path.
func updateDoc(path, generated string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := spliceDoc(string(b), generated)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// renderProfile summarises the cost of the analyst queries on PostgreSQL
// alone and lists the most expensive.
func renderProfile(ps []queryProfile) string {
	var b strings.Builder
	var total, jit float64
	var jitted, over10, under1 int
	for _, p := range ps {
		total += p.MedianMS
		if p.JITMS > 0 {
			jitted++
			jit += p.JITMS
		}
		if p.MedianMS > 10 {
			over10++
		}
		if p.MedianMS < 1 {
			under1++
		}
	}
	fmt.Fprintf(&b, "Run straight on PostgreSQL (one connection, median of 5 runs), the 50 queries take %s ms in all, %s ms on average: "+
		"%d under 1 ms, %d over 10 ms; PostgreSQL JIT-compiles %d of them (%s ms of compilation in one EXPLAIN ANALYZE each).\n\n",
		fmtNum(total), fmtNum(total/float64(len(ps))), under1, over10, jitted, fmtNum(jit))
	sorted := append([]queryProfile(nil), ps...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].MedianMS > sorted[j].MedianMS })
	b.WriteString("| query | median ms | JIT ms | rows | SQL |\n|--:|--:|--:|--:|---|\n")
	for i, p := range sorted {
		if i == 8 {
			break
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %d | `%s` |\n", p.N, fmtNum(p.MedianMS), fmtNum(p.JITMS), p.Rows, strings.ReplaceAll(clip(p.SQL, 90), "|", "\\|"))
	}
	return b.String()
}
