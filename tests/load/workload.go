package main

// The workload: what an analyst's client asks of pgmcp. Calls are numbered
// 0..N-1 and call k's tool and arguments depend only on k, so two runs with
// the same flags make the same calls in the same proportions (which client
// makes which call depends on timing).

// callSpec is one kind of call.
type callSpec struct {
	Tool string         // get_schema or query
	Name string         // short label for the report
	Args map[string]any // the tool's arguments
}

// schemaCalls are the get_schema calls, in rotation: the whole schema in
// summary and in full, and filtered by names and by a pattern.
var schemaCalls = []callSpec{
	{"get_schema", "summary", map[string]any{"detail": "summary"}},
	{"get_schema", "full", map[string]any{"detail": "full"}},
	{"get_schema", "tables=orders,order_items,customers", map[string]any{"tables": []any{"orders", "order_items", "customers"}, "detail": "full"}},
	{"get_schema", "tables=billing.*", map[string]any{"tables": []any{"billing.*"}}},
}

// queryCalls are the query calls (SQL mode), in rotation: questions an
// analyst asks of the demo shop, each returning at least one row.
var queryCalls = []callSpec{
	sqlCall("revenue per month", `SELECT month, orders_kept, revenue, avg_order_value
FROM monthly_revenue
ORDER BY month DESC
LIMIT 12`),
	sqlCall("revenue per month 2025 (orders)", `SELECT date_trunc('month', ordered_at) AS month,
       count(*) AS orders,
       sum(total_amount) AS revenue
FROM orders
WHERE status IN ('paid', 'shipped', 'delivered')
  AND ordered_at >= '2025-01-01' AND ordered_at < '2026-01-01'
GROUP BY 1
ORDER BY 1`),
	sqlCall("top customers", `SELECT c.id, c.first_name, c.last_name, c.country_code,
       count(*) AS orders, sum(o.total_amount) AS spent
FROM customers AS c
JOIN orders AS o ON o.customer_id = c.id
WHERE o.status IN ('paid', 'shipped', 'delivered')
GROUP BY c.id, c.first_name, c.last_name, c.country_code
ORDER BY spent DESC
LIMIT 10`),
	sqlCall("orders by status", `SELECT status, count(*) AS orders, sum(total_amount) AS amount
FROM orders
GROUP BY status
ORDER BY orders DESC`),
	sqlCall("average rating per category", `SELECT d.name AS department, cat.name AS category,
       round(avg(r.rating), 2) AS avg_rating, count(*) AS reviews
FROM reviews AS r
JOIN products AS p ON p.id = r.product_id
JOIN categories AS cat ON cat.id = p.category_id
LEFT JOIN categories AS d ON d.id = cat.parent_id
GROUP BY d.name, cat.name
ORDER BY avg_rating DESC`),
	sqlCall("MRR by plan", `SELECT p.tier, p.name, p.billing_interval,
       count(*) AS subscriptions,
       sum(CASE p.billing_interval WHEN 'year' THEN round(p.price / 12, 2) ELSE p.price END) AS mrr
FROM billing.subscriptions AS s
JOIN billing.plans AS p ON p.id = s.plan_id
WHERE s.status IN ('active', 'past_due')
GROUP BY p.tier, p.name, p.billing_interval
ORDER BY mrr DESC`),
	sqlCall("MRR trend", `SELECT month, paying_subscriptions, mrr, new_subscriptions, canceled_subscriptions
FROM billing.monthly_recurring_revenue
ORDER BY month DESC
LIMIT 12`),
	sqlCall("best-selling products", `SELECT p.sku, p.name, sum(oi.quantity) AS units, sum(oi.line_total) AS revenue
FROM order_items AS oi
JOIN orders AS o ON o.id = oi.order_id
JOIN products AS p ON p.id = oi.product_id
WHERE o.status IN ('paid', 'shipped', 'delivered')
GROUP BY p.sku, p.name
ORDER BY revenue DESC
LIMIT 10`),
	sqlCall("revenue by region", `SELECT co.region, count(DISTINCT o.customer_id) AS customers, sum(o.total_amount) AS revenue
FROM orders AS o
JOIN countries AS co ON co.code = o.ship_country_code
WHERE o.status IN ('paid', 'shipped', 'delivered')
GROUP BY co.region
ORDER BY revenue DESC`),
	sqlCall("net cash by payment method", `SELECT method,
       sum(amount) FILTER (WHERE status = 'captured') - sum(amount) FILTER (WHERE status = 'refunded') AS net_cash,
       count(*) FILTER (WHERE status = 'failed') AS failed_attempts
FROM payments
GROUP BY method
ORDER BY net_cash DESC`),
	sqlCall("churn reasons", `SELECT cancel_reason, count(*) AS subscriptions
FROM billing.subscriptions
WHERE status = 'canceled'
GROUP BY cancel_reason
ORDER BY subscriptions DESC`),
	sqlCall("2026 funnel", `SELECT event_type, count(*) AS events, count(DISTINCT session_id) AS sessions
FROM analytics.events
WHERE occurred_at >= '2026-01-01' AND occurred_at < '2026-04-01'
GROUP BY event_type
ORDER BY events DESC`),
}

func sqlCall(name, sql string) callSpec {
	return callSpec{Tool: "query", Name: name, Args: map[string]any{"sql": sql}}
}

// workload maps a call number to its call.
type workload struct {
	schemaShare, queryShare int
}

// call returns the spec of call k: of every schemaShare+queryShare calls,
// schemaShare are get_schema, spread evenly (Bresenham), and each tool
// rotates through its variants.
func (w workload) call(k int) *callSpec {
	total := w.schemaShare + w.queryShare
	// Number of get_schema calls among calls 0..k-1, and among 0..k.
	before := k * w.schemaShare / total
	upto := (k + 1) * w.schemaShare / total
	if upto > before {
		return &schemaCalls[before%len(schemaCalls)]
	}
	q := k - before // query calls among 0..k-1
	return &queryCalls[q%len(queryCalls)]
}
