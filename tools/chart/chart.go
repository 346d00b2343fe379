// Package chart draws a query result as a PNG, for clients that show
// images but not MCP Apps views (query's chart argument). The chart is
// chosen by rules on the result's column types, the same rules as the
// result view's (tools/webui/render.js, chartOptions): a line for a date
// or timestamp and a number, bars for a category and a number, a scatter
// for two numbers, a histogram for one. No code from the result runs: the
// rules read types, the drawing reads values. Drawing is gonum/plot's.
// It imports nothing of ours.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Column is a result column: its name and PostgreSQL type.
type Column struct{ Name, Type string }

// Kinds of chart.
const (
	Line      = "line"
	Bar       = "bar"
	Scatter   = "scatter"
	Histogram = "histogram"
)

// Spec is a chosen chart: its kind and the columns it draws (Y is -1 for
// a histogram).
type Spec struct {
	Kind string
	X, Y int
}

var (
	numericType  = regexp.MustCompile(`^(smallint|integer|bigint|int2|int4|int8|numeric|decimal|real|double precision|float4|float8|money|oid)(\(.*\))?$`)
	temporalType = regexp.MustCompile(`^(date|timestamp|timestamptz|timestamp with(out)? time zone|timestamp\(\d\) with(out)? time zone)`)
)

func isNumeric(t string) bool  { return numericType.MatchString(strings.ToLower(t)) }
func isTemporal(t string) bool { return temporalType.MatchString(strings.ToLower(t)) }

// Choose is the chart the column types call for, in the view's order of
// preference; false when none fits (no numeric column, or no rows).
func Choose(cols []Column, rows int) (Spec, bool) {
	if rows == 0 {
		return Spec{}, false
	}
	var num, tim, cat []int
	for i, c := range cols {
		switch {
		case isNumeric(c.Type):
			num = append(num, i)
		case isTemporal(c.Type):
			tim = append(tim, i)
		default:
			cat = append(cat, i)
		}
	}
	switch {
	case len(num) == 0:
		return Spec{}, false
	case len(tim) > 0:
		return Spec{Line, tim[0], num[0]}, true
	case len(cat) > 0:
		return Spec{Bar, cat[0], num[0]}, true
	case len(num) >= 2:
		return Spec{Scatter, num[0], num[1]}, true
	}
	return Spec{Histogram, num[len(num)-1], -1}, true
}

// Describe is the chart in words, as the view's menu says it.
func (s Spec) Describe(cols []Column) string {
	switch s.Kind {
	case Line:
		return fmt.Sprintf("Line: %s by %s", cols[s.Y].Name, cols[s.X].Name)
	case Bar:
		return fmt.Sprintf("Bar: %s by %s", cols[s.Y].Name, cols[s.X].Name)
	case Scatter:
		return fmt.Sprintf("Scatter: %s against %s", cols[s.Y].Name, cols[s.X].Name)
	}
	return "Histogram of " + cols[s.X].Name
}

// maxBars is the most bars a bar chart draws (the largest totals).
const maxBars = 40

// ErrNothingToDraw is returned when the chosen columns hold no value a
// chart can draw (every one NULL or not a number).
var ErrNothingToDraw = errors.New("no value to draw")

// PNG draws s over rows as a PNG of width × height pixels (at 96 dpi).
func PNG(s Spec, cols []Column, rows [][]any, width, height int) ([]byte, error) {
	p := plot.New()
	p.Title.Text = s.Describe(cols)
	p.BackgroundColor = color.White
	accent := color.RGBA{R: 0x2f, G: 0x6f, B: 0xdb, A: 0xff}
	p.Add(plotter.NewGrid()) // first: under the series
	switch s.Kind {
	case Bar:
		labels, values := barData(rows, s.X, s.Y)
		if len(values) == 0 {
			return nil, ErrNothingToDraw
		}
		bars, err := plotter.NewBarChart(values, vg.Points(max(2, 400/float64(len(values)))))
		if err != nil {
			return nil, err
		}
		bars.Color, bars.LineStyle.Width = accent, 0
		p.Add(bars)
		p.NominalX(labels...)
		if len(labels) > 8 {
			p.X.Tick.Label.Rotation = math.Pi / 4
			p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = -1, -0.5
		}
		p.X.Label.Text, p.Y.Label.Text = cols[s.X].Name, cols[s.Y].Name
	case Histogram:
		var vals plotter.Values
		for _, r := range rows {
			if v, ok := number(cell(r, s.X)); ok {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			return nil, ErrNothingToDraw
		}
		bins := min(30, max(5, int(math.Ceil(math.Sqrt(float64(len(vals)))))))
		h, err := plotter.NewHist(vals, bins)
		if err != nil {
			return nil, err
		}
		h.FillColor, h.LineStyle.Width = accent, 0
		p.Add(h)
		p.X.Label.Text, p.Y.Label.Text = cols[s.X].Name, "rows"
	default: // Line, Scatter
		var pts plotter.XYs
		for _, r := range rows {
			var x float64
			var ok bool
			if s.Kind == Line {
				x, ok = epoch(cell(r, s.X))
			} else {
				x, ok = number(cell(r, s.X))
			}
			y, oky := number(cell(r, s.Y))
			if ok && oky {
				pts = append(pts, plotter.XY{X: x, Y: y})
			}
		}
		if len(pts) == 0 {
			return nil, ErrNothingToDraw
		}
		if s.Kind == Line {
			sort.Slice(pts, func(i, j int) bool { return pts[i].X < pts[j].X })
			l, err := plotter.NewLine(pts)
			if err != nil {
				return nil, err
			}
			l.Color, l.Width = accent, vg.Points(1.5)
			p.Add(l)
			p.X.Tick.Marker = plot.TimeTicks{Format: "2006-01-02", Time: plot.UTCUnixTime}
		} else {
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, err
			}
			sc.Color, sc.Radius = accent, vg.Points(2)
			p.Add(sc)
		}
		p.X.Label.Text, p.Y.Label.Text = cols[s.X].Name, cols[s.Y].Name
	}
	w, err := p.WriterTo(vg.Length(width)*vg.Inch/96, vg.Length(height)*vg.Inch/96, "png")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// barData sums y by the text of x, in first-seen order; over maxBars
// categories, the largest totals.
func barData(rows [][]any, x, y int) ([]string, plotter.Values) {
	sums := map[string]float64{}
	var order []string
	for _, r := range rows {
		v, ok := number(cell(r, y))
		if !ok {
			continue
		}
		k := text(cell(r, x))
		if _, seen := sums[k]; !seen {
			order = append(order, k)
		}
		sums[k] += v
	}
	if len(order) > maxBars {
		sort.SliceStable(order, func(i, j int) bool { return sums[order[i]] > sums[order[j]] })
		order = order[:maxBars]
	}
	vals := make(plotter.Values, len(order))
	labels := make([]string, len(order))
	for i, k := range order {
		vals[i] = sums[k]
		labels[i] = k
		if r := []rune(k); len(r) > 16 {
			labels[i] = string(r[:15]) + "…"
		}
	}
	return labels, vals
}

func cell(r []any, i int) any {
	if i < 0 || i >= len(r) {
		return nil
	}
	return r[i]
}

// text is a cell as a label.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

// number is a cell as a finite float: JSON numbers (json.Number, exact
// numerics), Go numbers, or numeric strings.
func number(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case nil:
		return 0, false
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case int32:
		f = float64(x)
	case interface{ Float64() (float64, error) }:
		g, err := x.Float64()
		if err != nil {
			return 0, false
		}
		f = g
	default:
		g, err := strconv.ParseFloat(strings.TrimSpace(text(v)), 64)
		if err != nil {
			return 0, false
		}
		f = g
	}
	return f, !math.IsInf(f, 0) && !math.IsNaN(f)
}

// epoch is a date or timestamp cell as Unix seconds.
func epoch(v any) (float64, bool) {
	if t, ok := v.(time.Time); ok {
		return float64(t.Unix()), true
	}
	s := strings.TrimSpace(text(v))
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return float64(t.Unix()), true
		}
	}
	return 0, false
}
