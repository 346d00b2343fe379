package schema

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// demoExtras adds to the demo database the object kinds it lacks — a
// materialized view, an identity column, generated columns, defaults — and
// objects over a blocked column (gift_cards.secret_pin): a unique
// constraint, an expression index, a partial index, a generated column, a
// multi-column foreign key, a comment naming it, and low-cardinality values
// in pg_stats.
const demoExtras = `
CREATE MATERIALIZED VIEW public.category_sales AS
  SELECT c.name AS category, sum(oi.line_total) AS revenue
  FROM public.order_items oi
  JOIN public.products p ON p.id = oi.product_id
  JOIN public.categories c ON c.id = p.category_id
  GROUP BY c.name;
COMMENT ON MATERIALIZED VIEW public.category_sales IS 'Revenue per product category, refreshed nightly.';

CREATE TABLE public.gift_cards (
  id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  code        text NOT NULL UNIQUE,
  secret_pin  text NOT NULL,
  customer_id integer REFERENCES public.customers (id),
  tier        text NOT NULL DEFAULT 'standard',
  balance     numeric(10,2) NOT NULL DEFAULT 0,
  code_upper  text GENERATED ALWAYS AS (upper(code)) STORED,
  pin_digest  text GENERATED ALWAYS AS (md5(secret_pin)) STORED,
  UNIQUE (id, secret_pin)
);
COMMENT ON TABLE public.gift_cards IS 'Gift cards sold to customers. The secret_pin column (gift_cards.secret_pin) is confidential, like billing.payment_cards.';
COMMENT ON COLUMN public.gift_cards.tier IS 'standard, gold or platinum.';
COMMENT ON COLUMN public.gift_cards.pin_digest IS 'md5 of secret_pin.';
CREATE INDEX gift_cards_pin_idx ON public.gift_cards (lower(secret_pin));
CREATE INDEX gift_cards_tier_pin_idx ON public.gift_cards (tier) WHERE secret_pin <> '';
CREATE INDEX gift_cards_customer_tier_idx ON public.gift_cards (customer_id, tier);
INSERT INTO public.gift_cards (code, secret_pin, customer_id, tier, balance)
  SELECT 'GC-' || g, (ARRAY['PIN-AAA', 'PIN-BBB', 'PIN-CCC'])[1 + g % 3], 1 + g % 50,
         (ARRAY['standard', 'gold', 'platinum'])[1 + g % 3], g
  FROM generate_series(1, 300) g;

CREATE TABLE public.gift_card_uses (
  card_id integer NOT NULL REFERENCES public.gift_cards (id),
  pin     text NOT NULL,
  used_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (card_id, pin) REFERENCES public.gift_cards (id, secret_pin)
);

ANALYZE public.gift_cards, public.category_sales;
GRANT SELECT ON public.category_sales, public.gift_card_uses TO pgmcp_reader;
GRANT SELECT (id, code, customer_id, tier, balance, code_upper, pin_digest) ON public.gift_cards TO pgmcp_reader;
`

func demoExtrasFilter(t testing.TB) Filter {
	f := demoFilter(t)
	f.Relations = append(f.Relations, "public.category_sales", "public.gift_cards", "public.gift_card_uses")
	bc := map[string][]string{}
	for k, v := range f.BlockedColumns {
		bc[k] = v
	}
	bc["public.gift_cards"] = []string{"secret_pin"}
	f.BlockedColumns = bc
	return f
}

func table(t *testing.T, s *Snapshot, name string) *Table {
	t.Helper()
	tb, err := s.Lookup(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tb
}

func column(t *testing.T, tb *Table, name string) *Column {
	t.Helper()
	c := tb.Column(name)
	if c == nil {
		t.Fatalf("%s has no column %s", tb.QualifiedName(), name)
	}
	return c
}

func hasFK(tb *Table, cols []string, target string, refCols []string) bool {
	for _, fk := range tb.ForeignKeys {
		if slices.Equal(fk.Columns, cols) && fk.RefQualifiedName() == target && slices.Equal(fk.RefColumns, refCols) {
			return true
		}
	}
	return false
}

// TestIntrospectDemo checks every object kind on the demo database, as the
// read-only role and as the superuser, and that nothing blocked shows.
func TestIntrospectDemo(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Demo)
	db.Exec(t, demoExtras)
	f := demoExtrasFilter(t)
	for _, who := range []struct{ name, url string }{{"reader", db.ReaderURL}, {"superuser", db.URL}} {
		t.Run(who.name, func(t *testing.T) {
			p := pool(t, who.url)
			cq := &countingQueryer{db: p}
			s, err := Introspect(ctxT(t), cq, f, IntrospectOptions{CommonValues: true})
			if err != nil {
				t.Fatal(err)
			}
			if cq.n != 7 {
				t.Errorf("introspection sent %d queries, want 7 (set-based, whatever the table count)", cq.n)
			}
			checkDemo(t, s, p)
			for what, text := range renderAll(t, s, "phone number and birth date of customers", "payment cards of members", "gift card pins") {
				assertNowhere(t, what, text, blockedNames(f))
				assertNowhere(t, what, text, []string{"PIN-AAA", "PIN-BBB", "PIN-CCC"})
			}
		})
	}
}

func checkDemo(t *testing.T, s *Snapshot, p *pgxpool.Pool) {
	t.Helper()
	if s.Database == "" || s.Fingerprint == "" {
		t.Errorf("database %q, fingerprint %q: want both set", s.Database, s.Fingerprint)
	}
	kinds := map[string]string{
		"public.orders":                     KindTable,
		"public.monthly_revenue":            KindView,
		"billing.monthly_recurring_revenue": KindView,
		"public.category_sales":             KindMaterializedView,
		"analytics.events":                  KindPartitionedTable,
	}
	for name, kind := range kinds {
		if got := table(t, s, name).Kind; got != kind {
			t.Errorf("%s kind = %q, want %q", name, got, kind)
		}
	}
	schemas := map[string]bool{}
	for _, tb := range s.Tables {
		schemas[tb.Schema] = true
		if strings.HasPrefix(tb.Name, "events_20") {
			t.Errorf("partition %s shown on its own; partitions fold into their parent", tb.QualifiedName())
		}
		if len(tb.Columns) == 0 {
			t.Errorf("%s has no columns", tb.QualifiedName())
		}
	}
	if len(schemas) != 3 {
		t.Errorf("schemas = %v, want public, billing, analytics", schemas)
	}
	if len(s.Tables) != 17 {
		t.Errorf("%d tables, want 17 (the demo's 14 allowed relations and 3 extras)", len(s.Tables))
	}

	// Partitioned table: partitions folded, rows summed.
	ev := table(t, s, "analytics.events")
	if ev.Partitions != 2 || !strings.Contains(ev.PartitionKey, "occurred_at") {
		t.Errorf("events: %d partitions, key %q; want 2, RANGE (occurred_at)", ev.Partitions, ev.PartitionKey)
	}
	if !slices.Equal(ev.PrimaryKey, []string{"event_id", "occurred_at"}) {
		t.Errorf("events primary key = %v", ev.PrimaryKey)
	}
	// Row estimates after ANALYZE, against the true counts.
	for _, name := range []string{"public.orders", "analytics.events", "public.gift_cards"} {
		var n int64
		if err := p.QueryRow(ctxT(t), "SELECT count(*) FROM "+name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		est := table(t, s, name).Rows
		if n == 0 || math.Abs(float64(est-n)) > 0.1*float64(n) {
			t.Errorf("%s: row estimate %d, count %d", name, est, n)
		}
	}
	if table(t, s, "public.monthly_revenue").Rows != -1 {
		t.Errorf("a view has no row estimate")
	}

	// Keys.
	if pk := table(t, s, "public.orders").PrimaryKey; !slices.Equal(pk, []string{"id"}) {
		t.Errorf("orders primary key = %v", pk)
	}
	if pk := table(t, s, "public.order_items").PrimaryKey; !slices.Equal(pk, []string{"order_id", "line_no"}) {
		t.Errorf("order_items primary key = %v", pk)
	}
	if !hasFK(table(t, s, "public.orders"), []string{"customer_id"}, "public.customers", []string{"id"}) {
		t.Errorf("orders: no foreign key customer_id -> customers(id): %+v", table(t, s, "public.orders").ForeignKeys)
	}
	if !hasFK(table(t, s, "public.reviews"), []string{"order_id", "line_no"}, "public.order_items", []string{"order_id", "line_no"}) {
		t.Errorf("reviews: no multi-column foreign key: %+v", table(t, s, "public.reviews").ForeignKeys)
	}
	inv := table(t, s, "billing.invoices")
	if !hasFK(inv, []string{"subscription_id", "customer_id"}, "billing.subscriptions", []string{"id", "customer_id"}) ||
		!hasFK(inv, []string{"customer_id"}, "public.customers", []string{"id"}) {
		t.Errorf("invoices foreign keys = %+v", inv.ForeignKeys)
	}
	sub := table(t, s, "billing.subscriptions")
	if len(sub.ForeignKeys) != 2 { // customer_id, plan_id; payment_card_id -> blocked payment_cards is dropped
		t.Errorf("subscriptions foreign keys = %+v, want customers and plans only", sub.ForeignKeys)
	}
	if !slices.ContainsFunc(table(t, s, "public.customers").Uniques, func(u []string) bool { return slices.Equal(u, []string{"email"}) }) {
		t.Errorf("customers uniques = %v", table(t, s, "public.customers").Uniques)
	}
	if !slices.ContainsFunc(table(t, s, "public.reviews").Uniques, func(u []string) bool { return slices.Equal(u, []string{"order_id", "line_no"}) }) {
		t.Errorf("reviews uniques = %v", table(t, s, "public.reviews").Uniques)
	}
	// Indexes (those backing keys are not repeated).
	prod := table(t, s, "public.products")
	if !slices.ContainsFunc(prod.Indexes, func(ix Index) bool { return ix.Method == "gin" && slices.Equal(ix.Columns, []string{"tags"}) }) {
		t.Errorf("products indexes = %+v, want gin (tags)", prod.Indexes)
	}
	if !slices.ContainsFunc(ev.Indexes, func(ix Index) bool { return slices.Equal(ix.Columns, []string{"event_type", "occurred_at"}) }) {
		t.Errorf("events indexes = %+v", ev.Indexes)
	}
	for _, ix := range table(t, s, "public.orders").Indexes {
		if slices.Equal(ix.Columns, []string{"id"}) {
			t.Errorf("orders: the primary key's index is listed as an index")
		}
	}

	// Comments, enum labels, common values, defaults, identity, generated.
	ord := table(t, s, "public.orders")
	if !strings.Contains(ord.Comment, "One row per shop order") || !strings.Contains(column(t, ord, "ordered_at").Comment, "placed") {
		t.Errorf("orders comments missing: %q", ord.Comment)
	}
	if got := column(t, ord, "status").EnumValues; !slices.Equal(got, []string{"pending", "paid", "shipped", "delivered", "cancelled", "refunded"}) {
		t.Errorf("orders.status enum labels = %v", got)
	}
	if got := column(t, table(t, s, "public.customers"), "segment").CommonValues; !slices.Contains(got, "consumer") || !slices.Contains(got, "business") {
		t.Errorf("customers.segment common values = %v", got)
	}
	if got := column(t, ord, "channel").CommonValues; !slices.Contains(got, "web") {
		t.Errorf("orders.channel common values = %v", got)
	}
	if got := column(t, table(t, s, "public.customers"), "email").CommonValues; len(got) != 0 {
		t.Errorf("customers.email (unique) has common values %v", got)
	}
	gc := table(t, s, "public.gift_cards")
	if got := column(t, gc, "tier").CommonValues; len(got) != 3 {
		t.Errorf("gift_cards.tier common values = %v", got)
	}
	if c := column(t, gc, "id"); c.Identity != "always" || c.Nullable {
		t.Errorf("gift_cards.id identity = %q nullable %v", c.Identity, c.Nullable)
	}
	if c := column(t, gc, "tier"); c.Default != "'standard'::text" {
		t.Errorf("gift_cards.tier default = %q", c.Default)
	}
	if c := column(t, gc, "code_upper"); c.Generated != "upper(code)" {
		t.Errorf("gift_cards.code_upper generated = %q", c.Generated)
	}
	if c := column(t, gc, "pin_digest"); c.Generated != "(hidden)" {
		t.Errorf("gift_cards.pin_digest generated = %q: it reads the blocked column", c.Generated)
	}
	if c := column(t, table(t, s, "public.order_items"), "line_total"); !strings.Contains(c.Generated, "quantity") {
		t.Errorf("order_items.line_total generated = %q", c.Generated)
	}
	if c := column(t, prod, "is_active"); c.Default != "true" {
		t.Errorf("products.is_active default = %q", c.Default)
	}
	mv := table(t, s, "public.category_sales")
	if mv.Comment == "" || mv.Rows <= 0 {
		t.Errorf("category_sales: comment %q, rows %d", mv.Comment, mv.Rows)
	}

	// Blocked: the table, the columns, and what is built over them.
	if _, err := s.Lookup("billing.payment_cards"); err == nil {
		t.Errorf("blocked table billing.payment_cards is shown")
	}
	cust := table(t, s, "public.customers")
	for _, c := range []string{"phone", "date_of_birth"} {
		if cust.Column(c) != nil {
			t.Errorf("blocked column customers.%s is shown", c)
		}
	}
	if !strings.Contains(cust.Comment, hiddenText) {
		t.Errorf("customers comment not redacted: %q", cust.Comment)
	}
	if gc.Column("secret_pin") != nil {
		t.Errorf("blocked column gift_cards.secret_pin is shown")
	}
	if len(gc.Uniques) != 1 || !slices.Equal(gc.Uniques[0], []string{"code"}) {
		t.Errorf("gift_cards uniques = %v, want only (code)", gc.Uniques)
	}
	if len(gc.Indexes) != 1 || !slices.Equal(gc.Indexes[0].Columns, []string{"customer_id", "tier"}) {
		t.Errorf("gift_cards indexes = %+v, want only (customer_id, tier)", gc.Indexes)
	}
	uses := table(t, s, "public.gift_card_uses")
	if len(uses.ForeignKeys) != 1 || !hasFK(uses, []string{"card_id"}, "public.gift_cards", []string{"id"}) {
		t.Errorf("gift_card_uses foreign keys = %+v, want only card_id -> gift_cards(id)", uses.ForeignKeys)
	}

	// JSON: arrays are never null.
	js, _ := json.Marshal(s)
	if strings.Contains(string(js), ":null") {
		t.Errorf("snapshot JSON has a null: %.300s", js)
	}
}
