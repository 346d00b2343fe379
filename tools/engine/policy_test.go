package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

func TestCatalogSchemas(t *testing.T) {
	for _, tc := range []struct {
		p    sqlguard.Policy
		want string
	}{
		{sqlguard.Policy{}, "public"},
		{sqlguard.Policy{SearchPath: []string{"app", "public"}, AllowedSchemas: []string{"public", "billing"}}, "app,public,billing"},
		{sqlguard.Policy{SearchPath: []string{"public"}, AllowedRelations: []string{"sales.orders", "public.a", "hr.people"}}, "public,hr,sales"},
	} {
		if got := strings.Join(CatalogSchemas(&tc.p), ","); got != tc.want {
			t.Errorf("CatalogSchemas(%+v) = %s, want %s", tc.p, got, tc.want)
		}
	}
}

// TestOpenDatabaseCatalog: start-up resolves the policy against the
// database's catalog (search path and allowed schemas), warns about what a
// blocked partition implies, and every reload reads the catalog again.
func TestOpenDatabaseCatalog(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	var logs bytes.Buffer
	d, err := Open(t.Context(), DatabaseSpec{Name: "demo", URL: db.ReaderURL,
		Policy: PolicySource{JSON: demodb.PolicyJSON, BlockedTables: []string{"analytics.events_2025"}},
		Pool:   pgexec.Options{ConnectTimeout: 10 * time.Second}},
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Pool.Close()
	cat := d.Policy.Catalog
	if cat == nil {
		t.Fatal("no catalog")
	}
	if got := strings.Join(cat.Schemas, ","); got != "public,analytics,billing" {
		t.Errorf("catalog schemas %s, want public,analytics,billing", got)
	}
	var names []string
	for _, r := range cat.Relations {
		names = append(names, r.Schema+"."+r.Name)
	}
	for _, want := range []string{"public.customers", "billing.payment_cards", "analytics.events", "analytics.events_2025"} {
		if !slices.Contains(names, want) {
			t.Errorf("the catalog lacks %s: %v", want, names)
		}
	}
	warn := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "ONLY") {
			warn = l
		}
	}
	if !strings.Contains(warn, "parents=analytics.events") || !strings.Contains(warn, "blocked_descendant") || !strings.Contains(warn, "analytics.events_2025") {
		t.Errorf("no start-up warning naming the parent of the blocked partition:\n%s", logs.String())
	}
	for sql, code := range map[string]sqlguard.Code{
		"SELECT count(*) FROM analytics.events":      sqlguard.CodeBlockedDescendant,
		"SELECT count(*) FROM ONLY analytics.events": "",
		"SELECT count(*) FROM analytics.events_2026": "",
		"SELECT id FROM customers":                   "",
	} {
		_, err := sqlguard.Check(sql, d.Policy)
		var ge *sqlguard.Error
		if (code == "" && err != nil) || (code != "" && (!errors.As(err, &ge) || ge.Code != code)) {
			t.Errorf("%s: %v, want %q", sql, err, code)
		}
	}

	// A reload reads the catalog again.
	db.Exec(t, "CREATE TABLE public.added (id int); GRANT SELECT ON public.added TO "+pgtest.Reader)
	p, err := d.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p.Catalog == nil || p.Catalog == cat || !slices.ContainsFunc(p.Catalog.Relations, func(r sqlguard.Relation) bool { return r.Name == "added" }) {
		t.Errorf("the reloaded policy does not have a fresh catalog")
	}
}
