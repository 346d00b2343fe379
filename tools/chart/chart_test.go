package chart

import (
	"encoding/json"
	"testing"
)

// The rules: the same choices as the result view's chartOptions (its
// first option).
func TestChoose(t *testing.T) {
	c := func(types ...string) []Column {
		out := make([]Column, len(types))
		for i, ty := range types {
			out[i] = Column{Name: string(rune('a' + i)), Type: ty}
		}
		return out
	}
	for _, tc := range []struct {
		cols []Column
		rows int
		want Spec
		ok   bool
	}{
		{c("date", "bigint"), 3, Spec{Line, 0, 1}, true},
		{c("timestamp with time zone", "text", "numeric"), 3, Spec{Line, 0, 2}, true},
		{c("text", "numeric(12,2)"), 3, Spec{Bar, 0, 1}, true},
		{c("integer", "double precision"), 3, Spec{Scatter, 0, 1}, true},
		{c("text", "text", "real"), 3, Spec{Bar, 0, 2}, true},
		{c("bigint"), 3, Spec{Histogram, 0, -1}, true},
		{c("text", "date"), 3, Spec{}, false},
		{c("bigint"), 0, Spec{}, false},
	} {
		got, ok := Choose(tc.cols, tc.rows)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Choose(%v, %d) = %v %v, want %v %v", tc.cols, tc.rows, got, ok, tc.want, tc.ok)
		}
	}
}

func TestValues(t *testing.T) {
	for v, want := range map[any]float64{json.Number("12.50"): 12.5, 3.0: 3, "7": 7, int64(-2): -2} {
		if got, ok := number(v); !ok || got != want {
			t.Errorf("number(%#v) = %v %v", v, got, ok)
		}
	}
	for _, v := range []any{nil, "x", json.Number("NaN"), "Infinity"} {
		if _, ok := number(v); ok {
			t.Errorf("number(%#v) is a number", v)
		}
	}
	for _, s := range []string{"2024-01-31", "2024-01-31T10:00:00Z", "2024-01-31 10:00:00+00", "2024-01-31 10:00:00.5+01:00"} {
		if _, ok := epoch(s); !ok {
			t.Errorf("epoch(%q) failed", s)
		}
	}
	if _, err := PNG(Spec{Bar, 0, 1}, []Column{{"a", "text"}, {"b", "bigint"}}, [][]any{{"x", nil}}, 400, 300); err != ErrNothingToDraw {
		t.Errorf("a chart of NULLs: %v, want ErrNothingToDraw", err)
	}
}
