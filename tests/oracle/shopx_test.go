package oracle

import (
	"testing"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// shopxDDL extends the shop schema for the fuzz target with what the
// guard's resolution must get right: an inheritance parent with a blocked
// child, a partitioned table with a blocked column on one partition, a
// composite-typed column (and an array of it), columns named like
// functions and types, a table named like its column, and a mixed-case
// table.
const shopxDDL = `
CREATE TYPE public.address AS (street text, city text, zip text);
CREATE TABLE public.people (id int PRIMARY KEY, name text, home public.address, secret text, past public.address[]);
INSERT INTO public.people VALUES (1, 'Ann', ROW('Main St', 'Springfield', '12345'), 's1', ARRAY[ROW('Old St', 'X', '1')::public.address]);

CREATE TABLE public.accounts (id int, owner text, balance numeric);
CREATE TABLE public.std_accounts (tier int) INHERITS (public.accounts);
CREATE TABLE public.vip_accounts (perk text) INHERITS (public.accounts);
INSERT INTO public.std_accounts VALUES (1, 'a', 10, 1);
INSERT INTO public.vip_accounts VALUES (2, 'b', 20, 'lounge');

CREATE TABLE public.events (id int, kind text, at date, payload text) PARTITION BY LIST (kind);
CREATE TABLE public.events_web PARTITION OF public.events FOR VALUES IN ('web');
CREATE TABLE public.events_app PARTITION OF public.events FOR VALUES IN ('app');
INSERT INTO public.events VALUES (1, 'web', '2024-01-01', 'w'), (2, 'app', '2024-01-02', 'secret');

CREATE TABLE public.gadgets (id int, to_json text, text text, int4 int, current_setting text, secret text);
INSERT INTO public.gadgets VALUES (1, 'j', 't', 4, 'c', 's');

CREATE TABLE public.country (id int, country text, name text);
INSERT INTO public.country VALUES (1, 'DE', 'Germany');

CREATE TABLE public."Users" (id int, "Name" text, email text);
INSERT INTO public."Users" VALUES (1, 'N', 'e');
ANALYZE;
`

// shopxPolicy is the corpus policy plus the tables of shopxDDL: the
// inheritance child vip_accounts is blocked, and so are events_app.payload
// (on a partition only), people.secret and gadgets.secret.
func shopxPolicy(t testing.TB) *sqlguard.Policy {
	p := shopPolicy(t)
	p.AllowedRelations = append(p.AllowedRelations, "public.people", "public.accounts", "public.std_accounts",
		"public.events", "public.events_web", "public.events_app", "public.gadgets", "public.country", "public.Users")
	p.BlockedRelations = append(p.BlockedRelations, "public.vip_accounts")
	bc := map[string][]string{}
	for k, v := range p.BlockedColumns {
		bc[k] = v
	}
	bc["public.events_app"] = []string{"payload"}
	bc["public.people"] = []string{"secret"}
	bc["public.gadgets"] = []string{"secret"}
	p.BlockedColumns = bc
	return p
}

// shopxTarget makes a shop database with shopxDDL.
func shopxTarget(t testing.TB) *target {
	t.Helper()
	db := pgtest.NewDB(t, pgtest.Shop)
	db.Exec(t, shopxDDL)
	return newTarget(t, db.Name, []string{"public", "sales"}, shopxPolicy(t))
}
