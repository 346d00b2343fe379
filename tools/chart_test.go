package tools

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"strings"
	"testing"
)

// query's chart argument adds a PNG of the rule-chosen chart (a line for
// a month and a count here), a line saying why there is none when the
// types allow no chart, and nothing without the argument.
func TestQueryChart(t *testing.T) {
	f := newQueryFixture(t, fixtureOpts{})
	ctx := context.Background()
	monthly := "SELECT date_trunc('month', ordered_at)::date AS month, count(*) AS orders FROM orders GROUP BY 1 ORDER BY 1"
	for _, tc := range []struct {
		name string
		args map[string]any
		png  bool
		note string
	}{
		{"line", map[string]any{"sql": monthly, "chart": true}, true, ""},
		{"bar", map[string]any{"sql": "SELECT channel, count(*) FROM orders GROUP BY 1", "chart": true}, true, ""},
		{"histogram", map[string]any{"sql": "SELECT total_amount FROM orders LIMIT 500", "chart": true}, true, ""},
		{"no numeric column", map[string]any{"sql": "SELECT channel FROM orders GROUP BY 1", "chart": true}, false, "No chart: a chart needs rows and a numeric column."},
		{"no rows", map[string]any{"sql": "SELECT id FROM orders WHERE false", "chart": true}, false, "No chart"},
		{"not asked", map[string]any{"sql": monthly}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := f.call(t, ctx, "query", tc.args)
			if o.isError {
				t.Fatalf("query: %s", o.text)
			}
			if !tc.png {
				if len(o.images) != 0 {
					t.Errorf("%d images, want none", len(o.images))
				}
				if tc.note != "" && !strings.Contains(o.text, tc.note) {
					t.Errorf("no note %q in %q", tc.note, o.text)
				}
				if tc.note == "" && strings.Contains(o.text, "No chart") {
					t.Errorf("a chart note without the argument: %q", o.text)
				}
				return
			}
			if len(o.images) != 1 || o.images[0].MIMEType != "image/png" {
				t.Fatalf("images %d, want one PNG", len(o.images))
			}
			b, err := base64.StdEncoding.DecodeString(o.images[0].Data)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if r := img.Bounds(); r.Dx() != chartWidth || r.Dy() != chartHeight {
				t.Errorf("size %v, want %dx%d", r, chartWidth, chartHeight)
			}
			// Not blank: the chart drew in the accent colour.
			found := false
			for y := 0; y < img.Bounds().Dy() && !found; y += 2 {
				for x := 0; x < img.Bounds().Dx() && !found; x += 2 {
					r, g, b, _ := img.At(x, y).RGBA()
					found = b>>8 > 0xc0 && r>>8 < 0x80 && g>>8 < 0xa0
				}
			}
			if !found {
				t.Error("the chart has no drawn series")
			}
		})
	}
}
