package pgexec

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestFastRFC3339MatchesParse: the textual rewrite of timestamps gives
// what time.Parse and Format give, for every form it takes, and declines
// the others.
func TestFastRFC3339MatchesParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fracs := []string{"", ".1", ".123456", ".5", ".000001", ".10", ".1234567", ".", ".000000"}
	zones := []string{"+00", "-00", "+01", "-08", "+05:30", "-03:30", "+00:00", "+14", "+05:53:28", "Z", "+1", " BC", "", "+00 BC"}
	tried, fast := 0, 0
	for range 20000 {
		base := fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", 1+rng.IntN(9999), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60))
		if rng.IntN(50) == 0 {
			base = fmt.Sprintf("%05d-01-01 00:00:00", 10000+rng.IntN(9999)) // past 9999
		}
		s := base + fracs[rng.IntN(len(fracs))]
		for _, withZone := range []bool{true, false} {
			in := s
			if withZone {
				in += zones[rng.IntN(len(zones))]
			}
			tried++
			want := parsedRFC3339(in, withZone)
			if got, ok := fastRFC3339(in, withZone, nil); ok {
				fast++
				if got != want {
					t.Fatalf("%q (zone %v): fast %q, parsed %q", in, withZone, got, want)
				}
			}
			if got := rfc3339(in, withZone, nil); got != want {
				t.Fatalf("%q: rfc3339 %q, want %q", in, got, want)
			}
		}
	}
	if fast < tried/3 {
		t.Errorf("the fast path took %d of %d inputs: it should take the common forms", fast, tried)
	}
}

// TestIsJSONNumber agrees with encoding/json on what a number literal is.
func TestIsJSONNumber(t *testing.T) {
	cases := []string{"", "0", "-0", "00", "01", "1", "-1", "1.", ".5", "1.5", "1e5", "1E+5", "1e-5", "1e", "1e+", "-", "+1", "1.5e3x",
		"NaN", "Infinity", "-Infinity", "123456789012345678901234567890.0001", "0.0", "-0.5e-10", "1 ", " 1", "0x10", "1_000", "١"}
	for _, c := range cases {
		var n json.Number
		want := json.Unmarshal([]byte(c), &n) == nil && c != "" && (c[0] == '-' || (c[0] >= '0' && c[0] <= '9')) && string(n) == c
		if got := IsJSONNumber(c); got != want {
			t.Errorf("IsJSONNumber(%q) = %v, want %v", c, got, want)
		}
	}
}
