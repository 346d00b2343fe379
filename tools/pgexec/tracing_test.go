package pgexec

import "testing"

func TestQuerySummary(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT t.oid, t.typname FROM pg_catalog.pg_type t WHERE t.oid = ANY($1)": "SELECT pg_catalog.pg_type",
		"select 1":                                "SELECT",
		"  WITH x AS (SELECT 1) SELECT * FROM x":  "WITH x",
		"SELECT a FROM (SELECT 1) s":              "SELECT",
		"SELECT x FROM unnest($1::oid[]) AS u(x)": "SELECT unnest",
		"SELECT 1 FROM pg_class, pg_namespace":    "SELECT pg_class",
		"":                                        "catalog",
	} {
		if got := querySummary(sql); got != want {
			t.Errorf("querySummary(%q) = %q, want %q", sql, got, want)
		}
	}
}
