package pgexec

import (
	"strings"
	"testing"
)

func TestRedactDSN(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://bob:hunter2@db:5432/shop?sslmode=require", "postgres://bob:xxxxx@db:5432/shop?sslmode=require"},
		{"postgresql://bob@db/shop", "postgresql://bob@db/shop"},
		{"postgres://bob@db/shop?password=hunter2", "postgres://bob@db/shop?password=xxxxx"},
		{"host=db user=bob password=hunter2 dbname=shop", "host=db user=bob password=xxxxx dbname=shop"},
		{"host=db password='hun ter2' dbname=shop", "host=db password=xxxxx dbname=shop"},
		{"host=db PASSWORD = hunter2", "host=db PASSWORD = xxxxx"},
	}
	for _, tc := range cases {
		got := RedactDSN(tc.in)
		if got != tc.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "hunter2") || strings.Contains(got, "hun ter2") {
			t.Errorf("RedactDSN(%q) leaks the password", tc.in)
		}
	}
}

func TestScrubPassword(t *testing.T) {
	got := ScrubPassword("failed: user=bob password=hunter2 at postgres://bob:hunter2@h", "postgres://bob:hunter2@h/db")
	if strings.Contains(got, "hunter2") {
		t.Errorf("ScrubPassword left the password: %q", got)
	}
}

func TestPinned(t *testing.T) {
	p := Options{SearchPath: []string{"public", "Sales"}}.Pinned()
	if p["default_transaction_read_only"] != "on" || p["standard_conforming_strings"] != "on" ||
		p["application_name"] != "pgmcp" || p["search_path"] != `"public", "Sales"` || p["statement_timeout"] != "0" {
		t.Errorf("Pinned() = %v", p)
	}
}
