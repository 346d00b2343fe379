package schema

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// TestIntrospectPagila loads Pagila (pg_dump output: COPY FROM stdin data,
// a partitioned payment table whose foreign keys are declared on each
// partition, a materialized view, domains, an enum) and checks what
// introspection shows, with a table and columns blocked.
func TestIntrospectPagila(t *testing.T) {
	t.Parallel()
	dir := pgtest.SharedPath(t, "data/pagila")
	db := pgtest.NewDB(t, pgtest.Empty)
	for _, f := range []string{"pagila-schema.sql", "pagila-data.sql"} {
		if errs := pgtest.LoadSQLFile(t, db.URL, filepath.Join(dir, f)); len(errs) > 0 {
			t.Fatalf("%s: %d statements failed, first: %v", f, len(errs), errs[0])
		}
	}
	db.Exec(t, "ANALYZE")
	f := Filter{
		Schemas:       []string{"public"},
		BlockedTables: []string{"public.staff"},
		// The views customer_list and staff_list show address.phone: a
		// policy that blocks a column blocks it in the views that show it.
		BlockedColumns: map[string][]string{"public.customer": {"email"}, "public.address": {"phone"},
			"public.customer_list": {"phone"}, "public.staff_list": {"phone"}},
	}
	s, err := Introspect(ctxT(t), pool(t, db.URL), f, IntrospectOptions{CommonValues: true})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{
		"public.film": KindTable, "public.actor_info": KindView, "public.rental_by_category": KindMaterializedView,
		"public.payment": KindPartitionedTable,
	}
	for name, kind := range kinds {
		if got := table(t, s, name).Kind; got != kind {
			t.Errorf("%s kind = %q, want %q", name, got, kind)
		}
	}
	for _, tb := range s.Tables {
		if strings.HasPrefix(tb.Name, "payment_p") {
			t.Errorf("partition %s shown on its own", tb.Name)
		}
	}
	pay := table(t, s, "public.payment")
	if pay.Partitions != 7 || pay.Rows < 15000 {
		t.Errorf("payment: %d partitions, ~%d rows; want 7 and the sum of the partitions", pay.Partitions, pay.Rows)
	}
	// Declared on every partition, hence keys of the table; the one to the
	// blocked staff table is dropped.
	if !hasFK(pay, []string{"customer_id"}, "public.customer", []string{"customer_id"}) ||
		!hasFK(pay, []string{"rental_id"}, "public.rental", []string{"rental_id"}) || len(pay.ForeignKeys) != 2 {
		t.Errorf("payment foreign keys = %+v, want customer and rental (staff is blocked)", pay.ForeignKeys)
	}
	fa := table(t, s, "public.film_actor")
	if !slices.Equal(fa.PrimaryKey, []string{"actor_id", "film_id"}) || !hasFK(fa, []string{"film_id"}, "public.film", []string{"film_id"}) {
		t.Errorf("film_actor: primary key %v, foreign keys %+v", fa.PrimaryKey, fa.ForeignKeys)
	}
	film := table(t, s, "public.film")
	if got := column(t, film, "rating").EnumValues; !slices.Equal(got, []string{"G", "PG", "PG-13", "R", "NC-17"}) {
		t.Errorf("film.rating labels = %v", got)
	}
	if got := column(t, film, "release_year").Type; got != "year" {
		t.Errorf("film.release_year type = %q, want the domain year", got)
	}
	if got := column(t, film, "film_id").Default; !strings.Contains(got, "nextval") {
		t.Errorf("film.film_id default = %q", got)
	}
	if !slices.ContainsFunc(film.Indexes, func(ix Index) bool { return ix.Method == "gist" && slices.Equal(ix.Columns, []string{"fulltext"}) }) {
		t.Errorf("film indexes = %+v, want gist (fulltext)", film.Indexes)
	}
	if !slices.ContainsFunc(table(t, s, "public.rental").Indexes, func(ix Index) bool {
		return ix.Unique && slices.Equal(ix.Columns, []string{"rental_date", "inventory_id", "customer_id"})
	}) {
		t.Errorf("rental indexes = %+v", table(t, s, "public.rental").Indexes)
	}
	if n := table(t, s, "public.rental").Rows; n < 15000 || n > 17500 {
		t.Errorf("rental row estimate = %d, want about 16,044", n)
	}
	if got := column(t, film, "rating").CommonValues; len(got) != 5 {
		t.Errorf("film.rating common values = %v, want the 5 ratings", got)
	}
	if got := column(t, table(t, s, "public.category"), "name").CommonValues; len(got) != 0 {
		t.Errorf("category.name (unique) common values = %v", got)
	}
	if got := column(t, table(t, s, "public.customer"), "activebool").CommonValues; len(got) != 0 {
		t.Errorf("a boolean has no common values: %v", got)
	}
	// Blocked.
	if _, err := s.Lookup("public.staff"); err == nil {
		t.Error("blocked table staff is shown")
	}
	for _, tb := range s.Tables {
		for _, fk := range tb.ForeignKeys {
			if fk.RefTable == "staff" {
				t.Errorf("%s has a foreign key to the blocked staff table", tb.Name)
			}
		}
	}
	if table(t, s, "public.customer").Column("email") != nil || table(t, s, "public.address").Column("phone") != nil {
		t.Error("a blocked column is shown")
	}
	for what, text := range renderAll(t, s, "staff emails and phone numbers", "which films did each actor play in", "payments per store manager") {
		assertNowhere(t, what, text, blockedNames(f))
	}
}

// TestIntrospectAdventureWorks loads the AdventureWorks schema (no data;
// one foreign key fails to be created, as documented) and checks its five
// schemas and 427 comments.
func TestIntrospectAdventureWorks(t *testing.T) {
	t.Parallel()
	path := pgtest.SharedPath(t, "data/adventureworks/install_schema_only.sql")
	db := pgtest.NewDB(t, pgtest.Empty)
	errs := pgtest.LoadSQLFile(t, db.URL, path)
	if len(errs) != 1 {
		t.Fatalf("%d statements failed, want the one documented foreign key error: %v", len(errs), errs)
	}
	if !strings.Contains(errs[0].Error(), "foreign key") {
		t.Errorf("the failed statement is not the expected foreign key: %v", errs[0])
	}
	f := Filter{
		Schemas:        []string{"humanresources", "person", "production", "purchasing", "sales"},
		BlockedTables:  []string{"person.password"},
		BlockedColumns: map[string][]string{"humanresources.employee": {"nationalidnumber"}, "sales.creditcard": {"cardnumber"}},
	}
	s, err := Introspect(ctxT(t), pool(t, db.URL), f, IntrospectOptions{CommonValues: true})
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]bool{}
	comments, tables, views, matviews, fks, pks, uniques, indexes := 0, 0, 0, 0, 0, 0, 0, 0
	for _, tb := range s.Tables {
		if len(tb.PrimaryKey) > 0 {
			pks++
		}
		uniques += len(tb.Uniques)
		indexes += len(tb.Indexes)
		if tb.Kind == KindMaterializedView {
			matviews++
		}
		schemas[tb.Schema] = true
		if tb.Comment != "" {
			comments++
		}
		for _, c := range tb.Columns {
			if c.Comment != "" {
				comments++
			}
		}
		switch tb.Kind {
		case KindTable:
			tables++
		case KindView:
			views++
		}
		fks += len(tb.ForeignKeys)
	}
	if len(schemas) != 5 {
		t.Errorf("schemas = %v, want 5", schemas)
	}
	// 427 comments in all; the blocked person.password table and the two
	// blocked columns carry 5 of them.
	var total int
	if err := pool(t, db.URL).QueryRow(ctxT(t), `
		SELECT count(*) FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY($1)`, f.Schemas).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != 427 {
		t.Errorf("the catalog has %d comments in the 5 schemas, want 427", total)
	}
	var hiddenComments int
	if err := pool(t, db.URL).QueryRow(ctxT(t), `
		SELECT count(*) FROM pg_description d WHERE d.classoid = 'pg_class'::regclass AND (
		  d.objoid = 'person.password'::regclass
		  OR (d.objoid = 'humanresources.employee'::regclass AND d.objsubid = (SELECT attnum FROM pg_attribute WHERE attrelid = 'humanresources.employee'::regclass AND attname = 'nationalidnumber'))
		  OR (d.objoid = 'sales.creditcard'::regclass AND d.objsubid = (SELECT attnum FROM pg_attribute WHERE attrelid = 'sales.creditcard'::regclass AND attname = 'cardnumber')))`).Scan(&hiddenComments); err != nil {
		t.Fatal(err)
	}
	if comments != total-hiddenComments {
		t.Errorf("snapshot shows %d comments, want %d (427 minus %d on blocked objects)", comments, total-hiddenComments, hiddenComments)
	}
	var wantTables, wantViews, wantMatviews int
	if err := pool(t, db.URL).QueryRow(ctxT(t), `
		SELECT count(*) FILTER (WHERE c.relkind = 'r'), count(*) FILTER (WHERE c.relkind = 'v'), count(*) FILTER (WHERE c.relkind = 'm')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY($1)`, f.Schemas).Scan(&wantTables, &wantViews, &wantMatviews); err != nil {
		t.Fatal(err)
	}
	if wantTables != 68 || tables != wantTables-1 || views != wantViews || matviews != wantMatviews || matviews == 0 {
		t.Errorf("%d tables, %d views, %d materialized views; want %d (68 minus the blocked one), %d, %d", tables, views, matviews, wantTables-1, wantViews, wantMatviews)
	}
	if pks < 60 || uniques == 0 || indexes == 0 {
		t.Errorf("%d primary keys, %d unique constraints, %d indexes", pks, uniques, indexes)
	}
	t.Logf("AdventureWorks: %d schemas, %d tables, %d views, %d materialized views, %d primary keys, %d unique constraints, %d indexes, %d foreign keys, %d comments shown (%d in the catalog)",
		len(schemas), tables, views, matviews, pks, uniques, indexes, fks, comments, total)
	emp := table(t, s, "humanresources.employee")
	if !strings.Contains(emp.Comment, "Employee information") || emp.Column("nationalidnumber") != nil {
		t.Errorf("employee: comment %q; nationalidnumber shown: %v", emp.Comment, emp.Column("nationalidnumber") != nil)
	}
	if !hasFK(table(t, s, "sales.salesorderheader"), []string{"customerid"}, "sales.customer", []string{"customerid"}) {
		t.Errorf("salesorderheader foreign keys = %+v", table(t, s, "sales.salesorderheader").ForeignKeys)
	}
	for what, text := range renderAll(t, s, "employee national id numbers and passwords", "credit card numbers of customers") {
		assertNowhere(t, what, text, blockedNames(f))
	}
}
