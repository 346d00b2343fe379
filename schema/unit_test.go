package schema

import (
	"slices"
	"strings"
	"testing"
)

func TestFilterCanonical(t *testing.T) {
	p := compile(Filter{
		Schemas:        []string{"public"},
		BlockedTables:  []string{` "Public"."API_Keys" `, "audit_log"},
		BlockedColumns: map[string][]string{`public."Users"`: {`"SSN"`, "password_hash"}},
	})
	for _, c := range []struct {
		schema, table string
		want          bool
	}{
		{"public", "api_keys", true}, {"public", "API_KEYS", true}, {"other", "audit_log", true},
		{"public", "users", false}, {"public", "api_keys2", false},
	} {
		if got := p.tableBlocked(c.schema, c.table); got != c.want {
			t.Errorf("tableBlocked(%s.%s) = %v", c.schema, c.table, got)
		}
	}
	if !p.columnBlocked("public", "users", "ssn") || !p.columnBlocked("public", "Users", "Password_Hash") || p.columnBlocked("public", "users", "email") {
		t.Error("column blocks are not case-insensitive")
	}
	allow := compile(Filter{Schemas: []string{"public"}, Relations: []string{"public.orders"}})
	if allow.tableBlocked("public", "orders") || !allow.tableBlocked("public", "customers") {
		t.Error("relation list not applied")
	}
}

func TestMentionsAny(t *testing.T) {
	for _, c := range []struct {
		text string
		want bool
	}{
		{"lower(secret_pin)", true}, {`upper("Secret_Pin")`, true}, {"secret_pin_hash", false},
		{"my_secret_pin", false}, {"(secret_pin IS NOT NULL)", true}, {"", false},
	} {
		if got := mentionsAny(c.text, []string{"secret_pin"}); got != c.want {
			t.Errorf("mentionsAny(%q) = %v", c.text, got)
		}
	}
}

func TestTerms(t *testing.T) {
	for in, want := range map[string]string{
		"How many singers do we have?":     "singer",
		"LifeExpectancy":                   "life expectancy",
		"CDSCode":                          "cds code",
		"countries shipped shipping ships": "country ship ship ship",
		"created_at create events2025":     "creat creat event 2025",
		"order_items of the Customer_ID's": "order item customer id",
		"addresses boxes classes":          "address box class",
	} {
		if got := strings.Join(terms(in, nil), " "); got != want {
			t.Errorf("terms(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIdent(t *testing.T) {
	for in, want := range map[string]string{
		"orders": "orders", "Orders": `"Orders"`, "order": `"order"`, "Academic Year": `"Academic Year"`,
		"a\"b": `"a""b"`, "x1": "x1", "1x": `"1x"`,
	} {
		if got := ident(in); got != want {
			t.Errorf("ident(%q) = %s, want %s", in, got, want)
		}
	}
}

func sampleSnapshot() *Snapshot {
	s := &Snapshot{Database: "shop", Tables: []Table{
		{Schema: "public", Name: "customers", Kind: KindTable, Rows: 1200, Comment: "People who buy.",
			Columns: []Column{
				{Name: "id", Type: "integer", Identity: "always"},
				{Name: "email", Type: "text", Comment: "Login."},
				{Name: "segment", Type: "text", CommonValues: []string{"consumer", "business"}},
				{Name: "signed_up_at", Type: "timestamp with time zone", Default: "now()"},
			},
			PrimaryKey: []string{"id"}, Uniques: [][]string{{"email"}}},
		{Schema: "public", Name: "orders", Kind: KindTable, Rows: 40000,
			Columns: []Column{
				{Name: "id", Type: "integer"},
				{Name: "customer_id", Type: "integer"},
				{Name: "status", Type: "order_status", EnumValues: []string{"new", "paid"}},
				{Name: "total", Type: "numeric(12,2)", Nullable: true, Generated: "(a + b)"},
			},
			PrimaryKey:  []string{"id"},
			ForeignKeys: []ForeignKey{{Columns: []string{"customer_id"}, RefSchema: "public", RefTable: "customers", RefColumns: []string{"id"}}},
			Indexes:     []Index{{Columns: []string{"customer_id", "lower(status::text)"}, Method: "btree"}}},
		{Schema: "sales", Name: "monthly", Kind: KindView, Rows: -1, Columns: []Column{{Name: "month", Type: "date", Nullable: true}}},
	}}
	s.normalize()
	return s
}

func TestRenderTable(t *testing.T) {
	s := sampleSnapshot()
	text := RenderSnapshot(s).Text
	for _, want := range []string{
		"TABLE public.customers (~1,200 rows) -- People who buy.\n",
		"  id integer NOT NULL PK IDENTITY ALWAYS\n",
		"  segment text NOT NULL -- common values: 'consumer', 'business'\n",
		"  signed_up_at timestamptz NOT NULL DEFAULT now()\n",
		"  UNIQUE (email)\n",
		"  customer_id integer NOT NULL -> customers(id)\n",
		"  status order_status NOT NULL -- values: 'new', 'paid'\n",
		"  total numeric(12,2) GENERATED AS (a + b)\n",
		"  INDEX (customer_id, lower(status::text))\n",
		"VIEW sales.monthly\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("rendering lacks %q:\n%s", want, text)
		}
	}
	if got := RenderTableSummary(&s.Tables[0]); got != "TABLE public.customers (~1,200 rows; 4 columns) -- People who buy.\n" {
		t.Errorf("summary = %q", got)
	}
	if RenderSnapshot(s).Text != text {
		t.Error("rendering is not deterministic")
	}
	p := Prepare(s)
	if got := p.Text(&s.Tables[1], FormKeys); got != "public.orders: id PK, customer_id -> customers, ...\n" {
		t.Errorf("keys form = %q", got)
	}
	if got := p.Text(&s.Tables[1], FormColumns); got != "public.orders: id PK, customer_id -> customers, status, total\n" {
		t.Errorf("columns form = %q", got)
	}
}

func TestSelect(t *testing.T) {
	s := sampleSnapshot()
	p := Prepare(s)
	if sel := p.Select("anything", 10_000); !sel.All || len(sel.Tables) != 3 {
		t.Errorf("a schema that fits is sent whole: all %v, %d tables", sel.All, len(sel.Tables))
	}
	for budget := 20; budget <= p.Tokens(); budget += 10 {
		sel := p.Select("total of paid orders per customer segment", budget)
		if sel.Tokens > budget {
			t.Errorf("budget %d: %d tokens", budget, sel.Tokens)
		}
		again := p.Select("total of paid orders per customer segment", budget)
		if sel.Render().Text != again.Render().Text {
			t.Errorf("budget %d: selection is not deterministic", budget)
		}
	}
	sel := p.Select("total of paid orders per customer segment", 60)
	var names []string
	for _, st := range sel.Tables {
		names = append(names, st.Table.Name)
		if st.Reason == "" {
			t.Errorf("%s has no reason", st.Table.Name)
		}
	}
	if len(names) < 2 || !slices.Equal(names[:2], []string{"orders", "customers"}) {
		t.Errorf("selection = %v\n%s", names, sel.Explain())
	}
}

func TestLookup(t *testing.T) {
	s := sampleSnapshot()
	for _, name := range []string{"public.orders", "orders", "ORDERS", `"public"."orders"`} {
		if tb, err := s.Lookup(name); err != nil || tb.Name != "orders" {
			t.Errorf("Lookup(%q) = %v, %v", name, tb, err)
		}
	}
	if _, err := s.Lookup("payment_cards"); err == nil {
		t.Error("Lookup of a missing table succeeded")
	}
}
