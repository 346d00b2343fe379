package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serverMetrics is what the load test reads from the server's /metrics
// (Prometheus text exposition).
type serverMetrics struct {
	Goroutines int   // go_goroutines; -1 when absent
	RSSBytes   int64 // process_resident_memory_bytes; -1 when absent
	// ToolCalls is pgmcp_tool_calls_total by "tool outcome" (e.g.
	// "query ok"); nil when the server does not export it.
	ToolCalls map[string]int64
}

// scrapeMetrics fetches base+"/metrics". found is false when the server has
// no /metrics (404). The connection is not kept open afterwards, so the
// scrape itself leaves no goroutine behind in the server.
func scrapeMetrics(ctx context.Context, base string) (m serverMetrics, found bool, err error) {
	m = serverMetrics{Goroutines: -1, RSSBytes: -1}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return m, false, err
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return m, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return m, false, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return m, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return m, false, fmt.Errorf("GET %s/metrics: HTTP %d", base, resp.StatusCode)
	}
	return parseMetrics(body), true, nil
}

// parseMetrics picks the samples the load test uses out of a Prometheus
// text exposition.
func parseMetrics(body []byte) serverMetrics {
	m := serverMetrics{Goroutines: -1, RSSBytes: -1}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, labels, v, ok := parseSample(sc.Text())
		if !ok {
			continue
		}
		switch name {
		case "go_goroutines":
			m.Goroutines = int(v)
		case "process_resident_memory_bytes":
			m.RSSBytes = int64(v)
		case "pgmcp_tool_calls_total":
			if m.ToolCalls == nil {
				m.ToolCalls = map[string]int64{}
			}
			m.ToolCalls[labels["tool"]+" "+labels["outcome"]] += int64(v)
		}
	}
	return m
}

// parseSample parses one sample line: name{label="value",...} value
// [timestamp]. Comments, blank and malformed lines give ok == false.
func parseSample(line string) (name string, labels map[string]string, value float64, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return "", nil, 0, false
	}
	end := strings.IndexAny(line, "{ \t")
	if end <= 0 {
		return "", nil, 0, false
	}
	name, rest := line[:end], line[end:]
	if rest[0] == '{' {
		var err error
		if labels, rest, err = parseLabels(rest[1:]); err != nil {
			return "", nil, 0, false
		}
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", nil, 0, false
	}
	return name, labels, v, true
}

// parseLabels parses `a="x",b="y"}` (after the opening brace) and returns
// the labels and what follows the closing brace.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return nil, "", fmt.Errorf("unterminated labels")
		}
		if s[0] == '}' {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return nil, "", fmt.Errorf("bad label in %q", s)
		}
		key := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var val strings.Builder
		i := 0
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[i])
				}
				continue
			}
			val.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, "", fmt.Errorf("unterminated label value")
		}
		labels[key] = val.String()
		s = s[i+1:]
	}
}
