package engine

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// TestEncodeQueryMatchesEncodingJSON: EncodeQuery's JSON is what
// encoding/json makes of the same result, byte for byte, and its text is
// RenderQueryText's, over values of every kind the executor produces and
// strings of arbitrary bytes.
func TestEncodeQueryMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randString := func() string {
		alphabet := []string{"a", "Z", " ", "|", "\n", "\r\n", "\t", "\"", "\\", "<", ">", "&", "\u2028", "\u2029", "é", "日本",
			"\x00", "\x1f", "\x7f", "\xff", "\xe2\x80", "\U0001F600", "'", "/", "\b", "\f"}
		var b strings.Builder
		for range rng.IntN(120) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	numbers := []string{"0", "-0", "12", "-3.25", "1e10", "1.5E-7", "123456789012345678901234567890.000001"}
	raws := []string{`{"a": 1, "b": [1, 2, {"c": "<&>"}]}`, `[ ]`, `"x\u2028y"`, "\"\u2028\"", `null`, `{"k" : "v"}`}
	value := func(depth int) any {
		var gen func(int) any
		gen = func(d int) any {
			switch rng.IntN(8) {
			case 0:
				return nil
			case 1:
				return rng.IntN(2) == 0
			case 2:
				return json.Number(numbers[rng.IntN(len(numbers))])
			case 3:
				return json.RawMessage(raws[rng.IntN(len(raws))])
			case 4:
				if d > 0 {
					n := rng.IntN(4)
					a := make([]any, n)
					for i := range a {
						a[i] = gen(d - 1)
					}
					return a
				}
			}
			return randString()
		}
		return gen(depth)
	}
	for i := range 300 {
		r := &QueryResult{Database: randString(), SQL: "SELECT " + randString(), RowCount: rng.IntN(100),
			Truncated: rng.IntN(2) == 0, ElapsedMS: rng.Float64() * 1000, Attempts: rng.IntN(3), DryRun: i%17 == 0}
		if i%3 == 0 {
			r.Question = randString()
		}
		if r.Truncated {
			r.TruncatedBy = "max_rows"
		}
		if i%11 != 5 {
			nc := 1 + rng.IntN(5)
			r.Columns = make([]pgexec.Column, nc)
			for c := range r.Columns {
				r.Columns[c] = pgexec.Column{Name: randString(), Type: "text"}
			}
			r.Rows = make([][]any, rng.IntN(70))
			for j := range r.Rows {
				row := make([]any, nc)
				for c := range row {
					row[c] = value(2)
				}
				r.Rows[j] = row
			}
		}
		if i%13 == 0 {
			r.Candidates = &CandidateReport{Generated: 3, Ran: 2, Chosen: 1}
			r.Checks = []ResultCheck{{Check: "empty_result", Outcome: "revised"}}
		}
		if i == 7 {
			r.ElapsedMS = 1e-7 // encoding/json's exponent form
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, text, err := EncodeQuery(r)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d: JSON differs\n got %s\nwant %s", i, got, want)
		}
		if want := RenderQueryText(r); text != want {
			t.Fatalf("case %d: text differs\n got %q\nwant %q", i, text, want)
		}
	}
	// A number that is not one is refused, not written.
	if _, _, err := EncodeQuery(&QueryResult{Columns: []pgexec.Column{{Name: "n"}}, Rows: [][]any{{json.Number("1x")}}}); err == nil {
		t.Error("an invalid json.Number was encoded")
	}
}
