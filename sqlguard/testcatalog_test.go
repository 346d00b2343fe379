package sqlguard

import (
	"sync"
)

// testSchemaDDL is the shop schema of the shared corpus (the same tables
// and columns as ../shared/corpus/shop_schema.sql), extended with what the
// resolver tests need:
//
//   - a composite type address and a table shipments with a column of it
//     (and an array of it), for field selection;
//   - tables named like one of their columns, country and gender, each with
//     a blocked column secret, for the false rejects of issue 13 class 6;
//   - a partitioned table events with a blocked partition (events_2023) and
//     a partitioned partition (events_2024) with a blocked sub-partition
//     (events_2024_login); a partitioned table metrics whose partition
//     metrics_us has a blocked column (detail);
//   - an inheritance parent docs with a blocked child (secret_docs), and a
//     parent notes whose child private_notes has a blocked inherited column
//     (body).
//
// testPolicy (sqlguard_test.go) permits and blocks accordingly.
const testSchemaDDL = `
CREATE SCHEMA sales;

CREATE TABLE categories (id int PRIMARY KEY, name text NOT NULL, parent_id int REFERENCES categories(id));
CREATE TABLE products (
  id int PRIMARY KEY, sku text UNIQUE, name text NOT NULL, category_id int REFERENCES categories(id),
  price numeric(10,2) NOT NULL, cost numeric(10,2), attributes jsonb DEFAULT '{}', tags text[] DEFAULT '{}',
  created_at timestamptz DEFAULT now(), discontinued boolean DEFAULT false
);
CREATE TABLE sales.regions (id int PRIMARY KEY, name text NOT NULL, country text, manager text);
CREATE TABLE customers (
  id int PRIMARY KEY, first_name text, last_name text, email text, country text, city text,
  signup_date date, segment text, is_active boolean DEFAULT true, metadata jsonb DEFAULT '{}',
  region_id int REFERENCES sales.regions(id)
);
CREATE TABLE orders (
  id int PRIMARY KEY, customer_id int REFERENCES customers(id), status text, order_date timestamptz,
  shipped_at timestamptz, total_amount numeric(12,2), currency text DEFAULT 'USD',
  region_id int REFERENCES sales.regions(id), channel text, discount numeric(5,2) DEFAULT 0, notes text
);
CREATE TABLE order_items (
  id int PRIMARY KEY, order_id int REFERENCES orders(id), product_id int REFERENCES products(id),
  quantity int NOT NULL, unit_price numeric(10,2) NOT NULL, discount numeric(5,2) DEFAULT 0
);
CREATE TABLE payments (
  id int PRIMARY KEY, order_id int REFERENCES orders(id), amount numeric(12,2), method text,
  status text, paid_at timestamptz, provider_ref text
);
CREATE TABLE users (id int PRIMARY KEY, email text, name text, created_at timestamptz, password_hash text, ssn text);
CREATE TABLE api_keys (
  id int PRIMARY KEY, user_id int REFERENCES users(id), key text, created_at timestamptz, revoked_at timestamptz
);
CREATE TABLE sales.orders (
  id int PRIMARY KEY, region_id int REFERENCES sales.regions(id), order_id int, booked_at date,
  amount numeric(12,2), rep text
);
CREATE VIEW user_directory AS SELECT * FROM users;
CREATE SEQUENCE invoice_seq;

-- Field selection.
CREATE TYPE address AS (street text, city text, zip text);
CREATE TABLE shipments (id int PRIMARY KEY, order_id int REFERENCES orders(id), ship_to address,
  stops address[], carrier text);

-- Tables named like a column of theirs, with a blocked column (secret).
CREATE TABLE country (country text, code text, secret text);
CREATE TABLE gender (gender text, id int, secret text);

-- Partitions: events_2023 and events_2024_login are blocked.
CREATE TABLE events (id int, kind text, payload text, created_at timestamptz) PARTITION BY RANGE (created_at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') PARTITION BY LIST (kind);
CREATE TABLE events_2024_click PARTITION OF events_2024 FOR VALUES IN ('click');
CREATE TABLE events_2024_login PARTITION OF events_2024 FOR VALUES IN ('login');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');

-- A column blocked on a partition: metrics_us.detail.
CREATE TABLE metrics (id int, region text, value numeric, detail text) PARTITION BY LIST (region);
CREATE TABLE metrics_eu PARTITION OF metrics FOR VALUES IN ('eu');
CREATE TABLE metrics_us PARTITION OF metrics FOR VALUES IN ('us');

-- Inheritance: secret_docs is blocked; private_notes.body is blocked.
CREATE TABLE docs (id int, title text, body text);
CREATE TABLE secret_docs (clearance int) INHERITS (docs);
CREATE TABLE notes (id int, author text, body text);
CREATE TABLE private_notes (reviewer text) INHERITS (notes);
`

// testRelations are the relations testPolicy permits: the shop corpus
// policy's, and the test additions that are not blocked.
var testRelations = []string{
	"public.customers", "public.orders", "public.order_items", "public.products",
	"public.categories", "public.payments", "public.users", "sales.regions", "sales.orders",
	"public.shipments", "public.country", "public.gender",
	"public.events", "public.events_2024", "public.events_2024_click", "public.events_2025",
	"public.metrics", "public.metrics_eu", "public.metrics_us",
	"public.docs", "public.notes", "public.private_notes",
}

// testBlockedRelations and testBlockedColumns are testPolicy's blocks.
var (
	testBlockedRelations = []string{"public.api_keys", "public.events_2023", "public.events_2024_login", "public.secret_docs"}
	testBlockedColumns   = map[string][]string{
		"public.users":         {"password_hash", "ssn"},
		"public.country":       {"secret"},
		"public.gender":        {"secret"},
		"public.metrics_us":    {"detail"},
		"public.private_notes": {"body"},
	}
)

var testCatalogOnce = sync.OnceValue(func() *Catalog {
	return mustCatalogFromDDL(testSchemaDDL, []string{"public"})
})

// testCatalog is the Catalog of testSchemaDDL. It is built once and shared:
// a Catalog is never changed once in use.
func testCatalog() *Catalog { return testCatalogOnce() }

// mustCatalogFromDDL is CatalogFromDDL for DDL the tests own.
func mustCatalogFromDDL(ddl string, searchPath []string) *Catalog {
	c, err := CatalogFromDDL(ddl, searchPath)
	if err != nil {
		panic("test DDL: " + err.Error())
	}
	return c
}
