package engine

import "testing"

func TestPlausibleSummary(t *testing.T) {
	for _, ok := range []string{"Counts orders per status.", "Selects the top customers by revenue."} {
		if !plausibleSummary(ok) {
			t.Errorf("%q refused", ok)
		}
	}
}
