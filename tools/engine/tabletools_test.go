package engine

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// demoTableTools introspects the demo database as the demo policy shows
// it (phone and date_of_birth of customers blocked) and makes the tools
// of orders, order_items and customers.
func demoTableTools(t *testing.T) (*pgtest.DB, map[string]*TableTool) {
	t.Helper()
	db := pgtest.NewDB(t, pgtest.Demo)
	snap, err := schema.Introspect(t.Context(), db.Pool(t), schema.Filter{Schemas: []string{"public"},
		BlockedColumns: map[string][]string{"public.customers": {"phone", "date_of_birth"}}}, schema.IntrospectOptions{CommonValues: true})
	if err != nil {
		t.Fatal(err)
	}
	tools, note := TableTools(snap.Tables, []string{"orders", "order_items", "public.customers"}, 100)
	if note != "" {
		t.Errorf("note %q for three tables", note)
	}
	byName := map[string]*TableTool{}
	for i := range tools {
		byName[tools[i].Name] = &tools[i]
	}
	return db, byName
}

func TestTableToolsDefinitions(t *testing.T) {
	_, tools := demoTableTools(t)
	if len(tools) != 3 || tools["orders_find"] == nil || tools["order_items_find"] == nil || tools["customers_find"] == nil {
		t.Fatalf("tools: %v", tools)
	}
	orders := tools["orders_find"]
	t.Logf("orders_find:\n%s", orders.Description)
	kinds := map[string]FilterKind{}
	for _, f := range orders.Filters {
		kinds[f.Column] = f.Kind
	}
	for col, want := range map[string]FilterKind{"id": FilterEqual, "customer_id": FilterEqual, "status": FilterEqual, "ordered_at": FilterRange, "total_amount": FilterRange} {
		if got, ok := kinds[col]; ok && got != want {
			t.Errorf("orders.%s: filter %s, want %s", col, got, want)
		}
	}
	if !strings.Contains(orders.Description, "Not for rows of public.order_items") {
		t.Errorf("orders_find should send order items to their own tool:\n%s", orders.Description)
	}
	for _, c := range tools["customers_find"].Columns {
		if c == "phone" || c == "date_of_birth" {
			t.Errorf("customers_find offers the blocked column %s", c)
		}
	}
}

// TestTableToolsBound: a catalog larger than the bound gets tools for its
// most central tables only, and says so; names stay unique and safe when
// two schemas hold the same table name.
func TestTableToolsBound(t *testing.T) {
	var tables []schema.Table
	hub := schema.Table{Schema: "public", Name: "hub", Columns: []schema.Column{{Name: "id", Type: "integer"}}}
	tables = append(tables, hub)
	for i := range 80 {
		tb := schema.Table{Schema: "public", Name: fmt.Sprintf("t%02d", i), Columns: []schema.Column{{Name: "id", Type: "integer"}}}
		if i < 10 {
			tb.ForeignKeys = []schema.ForeignKey{{Columns: []string{"id"}, RefSchema: "public", RefTable: "hub", RefColumns: []string{"id"}}}
		}
		tables = append(tables, tb)
	}
	tables = append(tables, schema.Table{Schema: "Sales Data", Name: "hub", Columns: []schema.Column{{Name: "id", Type: "integer"}}})
	tools, note := TableTools(tables, nil, 100)
	if len(tools) != maxTableTools || !strings.Contains(note, "82 tables match") || !strings.Contains(tools[0].Description, note) {
		t.Fatalf("%d tools, note %q (in each description: the client is told)", len(tools), note)
	}
	names := map[string]bool{}
	for _, tool := range tools {
		if names[tool.Name] || !regexp.MustCompile(`^[a-z0-9_]{1,64}$`).MatchString(tool.Name) {
			t.Errorf("tool name %q repeated or unsafe", tool.Name)
		}
		names[tool.Name] = true
	}
	if !names["public_hub_find"] || !names["t00_find"] || !names["t09_find"] {
		t.Errorf("the hub (qualified: another schema has a hub) and the tables linked to it must be among the tools: %v", names)
	}
	two, _ := TableTools(tables[len(tables)-1:], nil, 100)
	all, _ := TableTools(append([]schema.Table{hub}, tables[len(tables)-1]), nil, 100)
	if len(two) != 1 || two[0].Name != "hub_find" || len(all) != 2 || all[0].Name != "public_hub_find" || all[1].Name != "sales_data_hub_find" {
		t.Errorf("names: alone %v; with public.hub %v", two, all)
	}
}

// TestBuildTableQuery: each filter kind makes SQL with parameters (no
// value in the text), whose rows are those of a hand-written query.
func TestBuildTableQuery(t *testing.T) {
	db, tools := demoTableTools(t)
	orders := tools["orders_find"]
	conn := db.Pool(t)
	policy, err := sqlguard.ParsePolicyJSON(demodb.PolicyJSON)
	if err != nil {
		t.Fatal(err)
	}
	if policy.Catalog, err = pgexec.LoadCatalog(t.Context(), conn, policy.AllowedSchemas); err != nil {
		t.Fatal(err)
	}
	isNull := true
	cases := []struct {
		name string
		args TableQueryArgs
		hand string
	}{
		{"equals", TableQueryArgs{Filters: map[string]ColumnFilter{"status": {Equals: "refunded"}}, Columns: []string{"id"}, OrderBy: []string{"id"}, Limit: 50},
			"SELECT id FROM orders WHERE status = 'refunded' ORDER BY id LIMIT 50"},
		{"in", TableQueryArgs{Filters: map[string]ColumnFilter{"id": {In: []any{3.0, 1.0, 2.0}}}, Columns: []string{"id", "status"}, OrderBy: []string{"-id"}},
			"SELECT id, status FROM orders WHERE id IN (1, 2, 3) ORDER BY id DESC LIMIT 20"},
		{"range", TableQueryArgs{Filters: map[string]ColumnFilter{"ordered_at": {Min: "2024-01-01", Max: "2024-06-30"}}, CountOnly: true},
			"SELECT count(*) FROM orders WHERE ordered_at >= '2024-01-01' AND ordered_at < '2024-07-01'"},
		{"text", TableQueryArgs{Filters: map[string]ColumnFilter{"city": {Contains: "LIS"}}, Columns: []string{"id"}, OrderBy: []string{"id"}, Limit: 100},
			"SELECT id FROM customers WHERE city ILIKE '%lis%' ORDER BY id LIMIT 100"},
		{"is_null", TableQueryArgs{Filters: map[string]ColumnFilter{"shipped_at": {IsNull: &isNull}}, CountOnly: true},
			"SELECT count(*) FROM orders WHERE shipped_at IS NULL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tool := orders
			if c.name == "text" {
				tool = tools["customers_find"]
			}
			sql, params, err := BuildTableQuery(tool, c.args)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s\nparams %q", sql, params)
			for _, p := range params {
				if s, ok := p.(string); ok && strings.Contains(sql, s) {
					t.Errorf("the value %q is in the SQL text", s)
				}
			}
			if len(params) > 0 {
				if _, err := sqlguard.CheckParams(sql, policy, len(params)); err != nil {
					t.Fatalf("the guard refuses the built query: %v", err)
				}
			}
			got, want := rowsOf(t, conn, sql, params...), rowsOf(t, conn, c.hand)
			if len(want) == 0 || !reflect.DeepEqual(got, want) {
				t.Errorf("built query: %d rows, hand-written: %d rows (must be equal and not empty)", len(got), len(want))
			}
		})
	}
}

// rowsOf runs sql with args and returns its rows, each value printed.
func rowsOf(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) [][]string {
	t.Helper()
	rows, err := pool.Query(t.Context(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var row []string
		for _, v := range vals {
			row = append(row, fmt.Sprint(v))
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// TestBuildTableQueryRefuses: bad arguments are invalid_argument errors
// naming what is wrong; text with quotes and SQL stays a parameter.
func TestBuildTableQueryRefuses(t *testing.T) {
	_, tools := demoTableTools(t)
	orders, customers := tools["orders_find"], tools["customers_find"]
	cases := []struct {
		tool *TableTool
		args TableQueryArgs
		want string
	}{
		{orders, TableQueryArgs{Filters: map[string]ColumnFilter{"nope": {Equals: 1.0}}}, `unknown column "nope"`},
		{orders, TableQueryArgs{Filters: map[string]ColumnFilter{"id": {Equals: "one"}}}, "not a number"},
		{orders, TableQueryArgs{Filters: map[string]ColumnFilter{"id": {Equals: 1.5}}}, "not a whole number"},
		{orders, TableQueryArgs{Filters: map[string]ColumnFilter{"ordered_at": {Min: "yesterday"}}}, "not a date"},
		{orders, TableQueryArgs{Filters: map[string]ColumnFilter{"status": {Min: 3.0}}}, "min and max apply to numbers and dates"},
		{orders, TableQueryArgs{Limit: 101}, "limit 101: give 1 to 100"},
		{orders, TableQueryArgs{Limit: -1}, "limit -1"},
		{customers, TableQueryArgs{Filters: map[string]ColumnFilter{"phone": {Equals: "1"}}}, `unknown column "phone"`},
		{customers, TableQueryArgs{Columns: []string{"date_of_birth"}}, `unknown column "date_of_birth"`},
		{customers, TableQueryArgs{OrderBy: []string{"-phone"}}, `unknown column "phone"`},
		{orders, TableQueryArgs{Filters: map[string]ColumnFilter{"id": {}}}, "give equals, in"},
	}
	for _, c := range cases {
		_, _, err := BuildTableQuery(c.tool, c.args)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalidArgument || !strings.Contains(e.Message, c.want) {
			t.Errorf("%+v: %v, want invalid_argument saying %q", c.args, err, c.want)
		}
	}
	nasty := `O'Brien'); DROP TABLE orders; --`
	sql, params, err := BuildTableQuery(customers, TableQueryArgs{Filters: map[string]ColumnFilter{"last_name": {Contains: nasty}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sql, "O'Brien") || strings.Contains(sql, "DROP") || len(params) != 1 || !strings.Contains(params[0].(string), nasty) {
		t.Errorf("text with quotes and SQL must stay a parameter: %s %q", sql, params)
	}
}
