package demodb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/localpg"
)

// envDatabaseURL names a superuser URL of an existing PostgreSQL server.
// Without it the tests that need a server are skipped.
const envDatabaseURL = "PGMCP_TEST_DATABASE_URL"

// testServerURL is the superuser URL of the test server: the one in
// PGMCP_TEST_DATABASE_URL, else a throwaway cluster TestMain starts (the
// harness in tests/pgtest imports this package, so these tests start their
// cluster with localpg directly).
var testServerURL string

// adminConfig returns the connection config of the test server.
func adminConfig(tb testing.TB) *pgx.ConnConfig {
	tb.Helper()
	cfg, err := pgx.ParseConfig(testServerURL)
	if err != nil {
		tb.Fatalf("parse %s: %v", envDatabaseURL, err)
	}
	return cfg
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

func connectTo(ctx context.Context, tb testing.TB, cfg *pgx.ConnConfig, dbname string) *pgx.Conn {
	tb.Helper()
	c := cfg.Copy()
	c.Database = dbname
	conn, err := pgx.ConnectConfig(ctx, c)
	if err != nil {
		tb.Fatalf("connect to %s: %v", dbname, err)
	}
	return conn
}

// createDB creates an empty database with a random name.
func createDB(ctx context.Context, cfg *pgx.ConnConfig) (string, error) {
	name := randomName("demodb_test_")
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return name, err
}

func dropDB(ctx context.Context, cfg *pgx.ConnConfig, name string) error {
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// loadFresh creates a database, loads the demo into it and returns its
// name and how long Load took.
func loadFresh(ctx context.Context, cfg *pgx.ConnConfig) (string, time.Duration, error) {
	name, err := createDB(ctx, cfg)
	if err != nil {
		return "", 0, err
	}
	c := cfg.Copy()
	c.Database = name
	conn, err := pgx.ConnectConfig(ctx, c)
	if err != nil {
		_ = dropDB(ctx, cfg, name)
		return "", 0, err
	}
	defer conn.Close(ctx)
	start := time.Now()
	if err := Load(ctx, conn); err != nil {
		_ = dropDB(ctx, cfg, name)
		return "", 0, err
	}
	return name, time.Since(start), nil
}

// The demo database shared by the tests of this package: loaded once, dropped
// by TestMain.
var (
	sharedOnce sync.Once
	sharedName string
	sharedErr  error
	sharedCfg  *pgx.ConnConfig
)

func sharedDB(tb testing.TB) (*pgx.ConnConfig, string) {
	tb.Helper()
	cfg := adminConfig(tb)
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		sharedCfg = cfg
		var took time.Duration
		sharedName, took, sharedErr = loadFresh(ctx, cfg)
		if sharedErr == nil {
			tb.Logf("demo database loaded in %v", took.Round(time.Millisecond))
		}
	})
	if sharedErr != nil {
		tb.Fatalf("load demo database: %v", sharedErr)
	}
	return cfg, sharedName
}

func TestMain(m *testing.M) {
	testServerURL = os.Getenv(envDatabaseURL)
	var cluster *localpg.Cluster
	if testServerURL == "" {
		var err error
		cluster, err = localpg.Start(context.Background(), localpg.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "demodb: start a throwaway cluster:", err)
			os.Exit(1)
		}
		testServerURL = cluster.URL("postgres")
	}
	code := m.Run()
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "demodb: stop the cluster:", err)
			code = 1
		}
		os.Exit(code)
	}()
	if sharedName != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := dropDB(ctx, sharedCfg, sharedName); err != nil {
			fmt.Fprintln(os.Stderr, "demodb: drop test database:", err)
			code = 1
		}
		cancel()
	}
}

func queryInt(ctx context.Context, tb testing.TB, conn *pgx.Conn, sql string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}

// demoTables lists every table of the demo (partitions included) with its
// expected row count range.
var demoTables = []struct {
	name     string
	min, max int64
}{
	{"public.countries", 15, 15},
	{"public.customers", 5000, 5000},
	{"public.categories", 24, 24},
	{"public.products", 200, 200},
	{"public.orders", 35000, 45000},
	{"public.order_items", 90000, 115000},
	{"public.payments", 37000, 50000},
	{"public.reviews", 8000, 20000},
	{"billing.plans", 6, 6},
	{"billing.payment_cards", 800, 3000},
	{"billing.subscriptions", 800, 3000},
	{"billing.invoices", 4000, 20000},
	{"analytics.events", 150000, 260000},
	{"analytics.events_2025", 60000, 130000},
	{"analytics.events_2026", 60000, 130000},
}

func TestLoad(t *testing.T) {
	cfg, name := sharedDB(t)
	ctx := context.Background()
	conn := connectTo(ctx, t, cfg, name)
	defer conn.Close(ctx)

	t.Run("schemas and tables", func(t *testing.T) {
		var tables, schemas, views, fks, multiFKs, enums int64
		err := conn.QueryRow(ctx, `
			SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			        WHERE n.nspname IN ('public','billing','analytics') AND c.relkind IN ('r','p') AND NOT c.relispartition),
			       (SELECT count(DISTINCT n.nspname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			        WHERE n.nspname IN ('public','billing','analytics') AND c.relkind IN ('r','p')),
			       (SELECT count(*) FROM pg_views WHERE schemaname IN ('public','billing','analytics')),
			       (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0),
			       (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 AND cardinality(conkey) > 1),
			       (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
			        WHERE t.typtype = 'e' AND n.nspname IN ('public','billing'))`).
			Scan(&tables, &schemas, &views, &fks, &multiFKs, &enums)
		if err != nil {
			t.Fatal(err)
		}
		if tables < 8 || schemas < 2 {
			t.Errorf("%d tables in %d schemas, want >= 8 in >= 2", tables, schemas)
		}
		if views < 1 || fks < 10 || multiFKs < 1 || enums < 1 {
			t.Errorf("views=%d fks=%d multi-column fks=%d enums=%d", views, fks, multiFKs, enums)
		}
		if n := queryInt(ctx, t, conn, `SELECT count(*) FROM pg_namespace WHERE nspname = 'demodb_gen'`); n != 0 {
			t.Errorf("generator schema demodb_gen left behind")
		}
		if n := queryInt(ctx, t, conn, `SELECT count(*) FROM pg_class WHERE relname = 'events' AND relkind = 'p'`); n != 1 {
			t.Errorf("analytics.events is not partitioned")
		}
	})

	t.Run("comments", func(t *testing.T) {
		rows, err := conn.Query(ctx, `
			SELECT n.nspname || '.' || c.relname
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname IN ('public','billing','analytics') AND c.relkind IN ('r','p','v','m')
			  AND coalesce(obj_description(c.oid, 'pg_class'), '') = ''
			ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Errorf("tables or views without a comment: %v", missing)
		}
		var cols, commented int64
		err = conn.QueryRow(ctx, `
			SELECT count(*), count(*) FILTER (WHERE coalesce(col_description(c.oid, a.attnum), '') <> '')
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
			WHERE n.nspname IN ('public','billing','analytics') AND c.relkind IN ('r','p','v') AND NOT c.relispartition`).
			Scan(&cols, &commented)
		if err != nil {
			t.Fatal(err)
		}
		if commented*10 < cols*9 {
			t.Errorf("%d of %d columns have a comment, want >= 90%%", commented, cols)
		}
	})

	t.Run("row counts", func(t *testing.T) {
		for _, tb := range demoTables {
			n := queryInt(ctx, t, conn, "SELECT count(*) FROM "+tb.name)
			t.Logf("%-24s %7d", tb.name, n)
			if n < tb.min || n > tb.max {
				t.Errorf("%s has %d rows, want %d..%d", tb.name, n, tb.min, tb.max)
			}
		}
		for _, v := range []string{"public.monthly_revenue", "billing.monthly_recurring_revenue"} {
			if n := queryInt(ctx, t, conn, "SELECT count(*) FROM "+v); n != 36 {
				t.Errorf("%s has %d rows, want 36 months", v, n)
			}
		}
	})

	// Each query counts rows that break a rule of the data; all must be 0.
	consistency := []struct{ name, sql string }{
		{"order total = sum of its lines", `
			SELECT count(*) FROM public.orders o
			LEFT JOIN (SELECT order_id, sum(line_total) AS total, sum(quantity) AS units
			           FROM public.order_items GROUP BY order_id) i ON i.order_id = o.id
			WHERE i.total IS DISTINCT FROM o.total_amount OR i.units IS DISTINCT FROM o.item_count`},
		{"line total = quantity * price - discount", `
			SELECT count(*) FROM public.order_items WHERE line_total <> quantity * unit_price - discount_amount OR line_total < 0`},
		{"orders after the customer's signup, inside the window", `
			SELECT count(*) FROM public.orders o JOIN public.customers c ON c.id = o.customer_id
			WHERE o.ordered_at < c.signed_up_at
			   OR o.ordered_at NOT BETWEEN '2023-11-01 00:00:00+00' AND '2026-10-31 23:59:59+00'
			   OR c.signed_up_at NOT BETWEEN '2023-11-01 00:00:00+00' AND '2026-10-31 23:59:59+00'`},
		{"status timestamps", `
			SELECT count(*) FROM public.orders
			WHERE (status IN ('shipped','delivered','refunded')) <> (shipped_at IS NOT NULL)
			   OR (status IN ('delivered','refunded')) <> (delivered_at IS NOT NULL)
			   OR (status = 'cancelled') <> (cancelled_at IS NOT NULL)
			   OR shipped_at < ordered_at OR delivered_at < shipped_at OR cancelled_at < ordered_at
			   OR greatest(shipped_at, delivered_at, cancelled_at) > '2026-10-31 23:59:59+00'`},
		{"products sold only while on sale", `
			SELECT count(*) FROM public.order_items i
			JOIN public.orders o ON o.id = i.order_id JOIN public.products p ON p.id = i.product_id
			WHERE p.launched_at > o.ordered_at`},
		{"kept and refunded orders captured their total", `
			SELECT count(*) FROM public.orders o
			WHERE o.status IN ('paid','shipped','delivered','refunded')
			  AND (SELECT coalesce(sum(amount), 0) FROM public.payments p
			       WHERE p.order_id = o.id AND p.status = 'captured') <> o.total_amount`},
		{"cancelled and refunded orders net to zero, others have no refund", `
			SELECT count(*) FROM public.orders o
			CROSS JOIN LATERAL (SELECT coalesce(sum(amount) FILTER (WHERE status = 'captured'), 0)
			                         - coalesce(sum(amount) FILTER (WHERE status = 'refunded'), 0) AS net,
			                           count(*) FILTER (WHERE status = 'refunded') AS refunds
			                    FROM public.payments p WHERE p.order_id = o.id) p
			WHERE (o.status IN ('cancelled','refunded') AND p.net <> 0)
			   OR (o.status NOT IN ('cancelled','refunded') AND p.refunds > 0)
			   OR (o.status = 'pending' AND p.net <> 0)`},
		{"reviews match their order line, after delivery", `
			SELECT count(*) FROM public.reviews r
			JOIN public.order_items i ON (i.order_id, i.line_no) = (r.order_id, r.line_no)
			JOIN public.orders o ON o.id = r.order_id
			WHERE r.product_id <> i.product_id OR r.customer_id <> o.customer_id
			   OR o.delivered_at IS NULL OR r.created_at < o.delivered_at`},
		{"invoices", `
			SELECT count(*) FROM billing.invoices i JOIN billing.subscriptions s ON s.id = i.subscription_id
			WHERE (i.status = 'paid') <> (i.amount_paid = i.amount_due AND i.paid_at IS NOT NULL)
			   OR i.period_start < coalesce(s.trial_ends_at, s.started_at)
			   OR i.issued_at > '2026-10-31 23:59:59+00'`},
		{"subscription states", `
			SELECT count(*) FROM billing.subscriptions s JOIN public.customers c ON c.id = s.customer_id
			WHERE s.started_at < c.signed_up_at
			   OR (s.status = 'canceled') <> (s.canceled_at IS NOT NULL)
			   OR (s.status = 'canceled') <> (s.cancel_reason IS NOT NULL)
			   OR (s.status IN ('active','past_due')) <> (s.current_period_end IS NOT NULL)
			   OR s.current_period_end <= '2026-10-31 23:59:59+00'`},
		{"purchase events point at their order", `
			SELECT count(*) FROM analytics.events e
			LEFT JOIN public.orders o ON o.id = (e.properties ->> 'order_id')::integer
			WHERE e.event_type = 'purchase'
			  AND (o.id IS NULL OR o.customer_id <> e.customer_id OR o.total_amount <> (e.properties ->> 'revenue')::numeric)`},
	}
	for _, c := range consistency {
		t.Run(c.name, func(t *testing.T) {
			if n := queryInt(ctx, t, conn, c.sql); n != 0 {
				t.Errorf("%d rows break the rule", n)
			}
		})
	}

	t.Run("distributions", func(t *testing.T) {
		var delivered, cancelled, refunded float64
		err := conn.QueryRow(ctx, `
			SELECT avg((status = 'delivered')::int), avg((status = 'cancelled')::int), avg((status = 'refunded')::int)
			FROM public.orders`).Scan(&delivered, &cancelled, &refunded)
		if err != nil {
			t.Fatal(err)
		}
		if delivered < 0.8 || cancelled < 0.02 || cancelled > 0.08 || refunded < 0.02 || refunded > 0.08 {
			t.Errorf("status mix delivered=%.3f cancelled=%.3f refunded=%.3f", delivered, cancelled, refunded)
		}
		// Holiday season: December 2025 well above September 2025.
		var dec, sep int64
		err = conn.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE ordered_at >= '2025-12-01 00:00+00' AND ordered_at < '2026-01-01 00:00+00'),
			       count(*) FILTER (WHERE ordered_at >= '2025-09-01 00:00+00' AND ordered_at < '2025-10-01 00:00+00')
			FROM public.orders`).Scan(&dec, &sep)
		if err != nil {
			t.Fatal(err)
		}
		if float64(dec) < 1.4*float64(sep) {
			t.Errorf("December 2025 has %d orders, September %d: no holiday peak", dec, sep)
		}
		// Skewed popularity: the 10 best-selling products have >= 12% of the lines.
		top := queryInt(ctx, t, conn, `
			SELECT (sum(n) * 1000 / (SELECT count(*) FROM public.order_items))::bigint
			FROM (SELECT count(*) AS n FROM public.order_items GROUP BY product_id ORDER BY n DESC LIMIT 10) s`)
		if top < 120 {
			t.Errorf("top 10 products have %.1f%% of the lines, want a skew", float64(top)/10)
		}
		// ANALYZE ran: the planner knows the most common order statuses.
		if n := queryInt(ctx, t, conn, `
			SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'orders'
			AND attname = 'status' AND most_common_vals IS NOT NULL`); n != 1 {
			t.Errorf("no pg_stats most_common_vals for orders.status")
		}
	})
}

// fingerprints returns an md5 of the full contents of every demo table.
func fingerprints(ctx context.Context, tb testing.TB, conn *pgx.Conn) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for _, t := range demoTables {
		var sum string
		err := conn.QueryRow(ctx, `SELECT md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM `+t.name+` AS t`).Scan(&sum)
		if err != nil {
			tb.Fatalf("fingerprint %s: %v", t.name, err)
		}
		out[t.name] = sum
	}
	return out
}

func TestDeterministic(t *testing.T) {
	cfg, first := sharedDB(t)
	ctx := context.Background()
	second, took, err := loadFresh(ctx, cfg)
	if err != nil {
		t.Fatalf("second load: %v", err)
	}
	t.Logf("second load took %v", took.Round(time.Millisecond))
	defer func() {
		if err := dropDB(ctx, cfg, second); err != nil {
			t.Errorf("drop %s: %v", second, err)
		}
	}()
	c1 := connectTo(ctx, t, cfg, first)
	defer c1.Close(ctx)
	c2 := connectTo(ctx, t, cfg, second)
	defer c2.Close(ctx)
	f1, f2 := fingerprints(ctx, t, c1), fingerprints(ctx, t, c2)
	for _, tb := range demoTables {
		if f1[tb.name] != f2[tb.name] {
			t.Errorf("%s differs between two loads", tb.name)
		}
	}
}

// policy mirrors policy.json.
type policy struct {
	Database         string              `json:"database"`
	SearchPath       []string            `json:"search_path"`
	AllowedSchemas   []string            `json:"allowed_schemas"`
	AllowedRelations []string            `json:"allowed_relations"`
	BlockedRelations []string            `json:"blocked_relations"`
	BlockedColumns   map[string][]string `json:"blocked_columns"`
}

func readPolicy(tb testing.TB) policy {
	tb.Helper()
	var p policy
	dec := json.NewDecoder(strings.NewReader(string(PolicyJSON)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		tb.Fatalf("policy.json: %v", err)
	}
	return p
}

func TestPolicy(t *testing.T) {
	p := readPolicy(t)
	if !slices.Equal(p.SearchPath, []string{"public"}) || len(p.AllowedSchemas) < 2 ||
		len(p.BlockedRelations) == 0 || len(p.BlockedColumns) == 0 {
		t.Fatalf("unexpected policy: %+v", p)
	}
	cfg, name := sharedDB(t)
	ctx := context.Background()
	conn := connectTo(ctx, t, cfg, name)
	defer conn.Close(ctx)

	// allowed_relations = the tables and views of the allowed schemas, minus
	// the blocked ones, partitions left out.
	rows, err := conn.Query(ctx, `
		SELECT n.nspname || '.' || c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY ($1) AND c.relkind IN ('r','p','v','m','f') AND NOT c.relispartition
		  AND NOT (n.nspname || '.' || c.relname = ANY ($2))`, p.AllowedSchemas, p.BlockedRelations)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(p.AllowedRelations)
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("allowed_relations = %v\nwant %v", got, want)
	}
	for _, rel := range p.BlockedRelations {
		if queryInt(ctx, t, conn, `SELECT count(*) FROM pg_class WHERE oid = to_regclass($1)`, rel) != 1 {
			t.Errorf("blocked relation %s does not exist", rel)
		}
	}
	for rel, cols := range p.BlockedColumns {
		for _, col := range cols {
			if queryInt(ctx, t, conn, `SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2`, rel, col) != 1 {
				t.Errorf("blocked column %s.%s does not exist", rel, col)
			}
		}
	}
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestReaderRole(t *testing.T) {
	cfg, name := sharedDB(t)
	ctx := context.Background()
	admin := connectTo(ctx, t, cfg, name)
	defer admin.Close(ctx)

	role, password := randomName("demodb_reader_"), "pw-'quoted\"-"+randomName("")
	t.Cleanup(func() {
		ctx := context.Background()
		conn := connectTo(ctx, t, cfg, name)
		defer conn.Close(ctx)
		id := pgx.Identifier{role}.Sanitize()
		if _, err := conn.Exec(ctx, "DROP OWNED BY "+id+"; DROP ROLE "+id); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	// Twice: the second call must reset and re-grant, not fail.
	for i := 0; i < 2; i++ {
		if err := CreateReaderRole(ctx, admin, name, role, password); err != nil {
			t.Fatalf("CreateReaderRole (call %d): %v", i+1, err)
		}
	}

	var super, createDB, createRole, bypassRLS, login bool
	var members int64
	err := admin.QueryRow(ctx, `
		SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolcanlogin,
		       (SELECT count(*) FROM pg_auth_members WHERE member = r.oid)
		FROM pg_roles r WHERE rolname = $1`, role).Scan(&super, &createDB, &createRole, &bypassRLS, &login, &members)
	if err != nil {
		t.Fatal(err)
	}
	if super || createDB || createRole || bypassRLS || !login || members != 0 {
		t.Errorf("role attributes: super=%v createdb=%v createrole=%v bypassrls=%v login=%v memberships=%d",
			super, createDB, createRole, bypassRLS, login, members)
	}

	// Refuses to demote the current (super)user.
	var me string
	if err := admin.QueryRow(ctx, "SELECT current_user").Scan(&me); err != nil {
		t.Fatal(err)
	}
	if err := CreateReaderRole(ctx, admin, name, me, "x"); err == nil {
		t.Errorf("CreateReaderRole accepted the current user %s", me)
	}

	rcfg := cfg.Copy()
	rcfg.User, rcfg.Password, rcfg.Database = role, password, name
	reader, err := pgx.ConnectConfig(ctx, rcfg)
	if err != nil {
		t.Fatalf("connect as reader: %v", err)
	}
	defer reader.Close(ctx)

	var ro string
	if err := reader.QueryRow(ctx, "SHOW default_transaction_read_only").Scan(&ro); err != nil || ro != "on" {
		t.Errorf("default_transaction_read_only = %q (%v), want on", ro, err)
	}

	p := readPolicy(t)
	t.Run("select allowed", func(t *testing.T) {
		for _, rel := range p.AllowedRelations {
			if rel == "public.customers" {
				continue
			}
			if _, err := reader.Exec(ctx, "SELECT * FROM "+rel+" LIMIT 1"); err != nil {
				t.Errorf("SELECT * FROM %s: %v", rel, err)
			}
		}
		for _, q := range []string{
			"SELECT id, email, first_name, last_name, country_code, city, segment, signed_up_at, preferences FROM public.customers LIMIT 1",
			"SELECT count(*) FROM analytics.events_2025",
			"SELECT c.country_code, sum(o.total_amount) FROM public.orders o JOIN public.customers c ON c.id = o.customer_id GROUP BY 1",
		} {
			if _, err := reader.Exec(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})

	// denied runs sql as the reader and wants permission denied (42501), or
	// one of the other SQLSTATEs given.
	denied := func(t *testing.T, sql string, orCodes ...string) {
		t.Helper()
		_, err := reader.Exec(ctx, sql)
		if code := sqlState(err); code != "42501" && !slices.Contains(orCodes, code) {
			t.Errorf("%s: got %v (SQLSTATE %q), want permission denied (42501)", sql, err, code)
		}
	}
	t.Run("blocked", func(t *testing.T) {
		for _, rel := range p.BlockedRelations {
			denied(t, "SELECT * FROM "+rel)
			denied(t, "SELECT count(*) FROM "+rel)
		}
		for rel, cols := range p.BlockedColumns {
			denied(t, "SELECT * FROM "+rel)
			for _, col := range cols {
				denied(t, "SELECT "+pgx.Identifier{col}.Sanitize()+" FROM "+rel)
				denied(t, "SELECT count(*) FROM "+rel+" WHERE "+pgx.Identifier{col}.Sanitize()+" IS NOT NULL")
			}
		}
	})

	t.Run("no writes", func(t *testing.T) {
		// Lift the read-only default so the privileges themselves are tested.
		if _, err := reader.Exec(ctx, "SET default_transaction_read_only = off"); err != nil {
			t.Fatal(err)
		}
		for _, rel := range append(slices.Clone(p.AllowedRelations), p.BlockedRelations...) {
			var orCodes []string
			if queryInt(ctx, t, admin, `SELECT count(*) FROM pg_views WHERE schemaname || '.' || viewname = $1`, rel) > 0 {
				// aggregate views are not updatable whatever the privileges
				orCodes = []string{"55000"}
			}
			denied(t, "INSERT INTO "+rel+" DEFAULT VALUES", orCodes...)
			denied(t, "DELETE FROM "+rel, orCodes...)
		}
		denied(t, "UPDATE public.customers SET city = city")
		denied(t, "UPDATE public.orders SET status = 'delivered'")
		denied(t, "TRUNCATE public.order_items")
		for _, s := range []string{"public", "billing", "analytics"} {
			denied(t, "CREATE TABLE "+s+".demodb_probe (i int)")
			denied(t, "CREATE VIEW "+s+".demodb_probe AS SELECT 1")
			denied(t, "CREATE FUNCTION "+s+".demodb_probe() RETURNS int LANGUAGE sql AS 'SELECT 1'")
		}
		denied(t, "CREATE TEMP TABLE demodb_probe (i int)")
		denied(t, "CREATE SCHEMA demodb_probe")
		denied(t, "SELECT lo_create(0)")
		denied(t, "SELECT lo_from_bytea(0, '\\x00')")
	})
}

// BenchmarkLoad measures Load into a fresh database per iteration:
//
//	PGMCP_TEST_DATABASE_URL=... go test -bench Load -run '^$' ./cmd/pgmcp/demodb
func BenchmarkLoad(b *testing.B) {
	cfg := adminConfig(b)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		name, err := createDB(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		conn := connectTo(ctx, b, cfg, name)
		b.StartTimer()
		err = Load(ctx, conn)
		b.StopTimer()
		conn.Close(ctx)
		if dropErr := dropDB(ctx, cfg, name); dropErr != nil && err == nil {
			err = dropErr
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
