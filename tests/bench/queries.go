package main

// analystQueries is the SQL workload: 50 questions an analyst asks of the
// demo shop, written for this benchmark. They are a mix of point lookups,
// filtered lists, aggregates, joins, window functions and CTEs; every one
// returns at most a few hundred rows (so no server's row cap changes the
// work) and reads only what the demo policy allows. Dates are fixed (the
// data spans 2023-11-01 to 2026-10-31), never now().
var analystQueries = []string{
	// 1-10: orders and revenue
	`SELECT month, orders_placed, orders_kept, revenue, avg_order_value FROM monthly_revenue ORDER BY month DESC LIMIT 12`,
	`SELECT status, count(*) AS orders, sum(total_amount) AS amount FROM orders GROUP BY status ORDER BY orders DESC`,
	`SELECT channel, count(*) AS orders, round(avg(total_amount), 2) AS avg_total
FROM orders WHERE ordered_at >= '2025-01-01' AND ordered_at < '2026-01-01' GROUP BY channel ORDER BY orders DESC`,
	`SELECT c.id, c.first_name, c.last_name, count(*) AS orders, sum(o.total_amount) AS spent
FROM customers c JOIN orders o ON o.customer_id = c.id
WHERE o.status IN ('paid', 'shipped', 'delivered')
GROUP BY c.id, c.first_name, c.last_name ORDER BY spent DESC LIMIT 10`,
	`SELECT p.id, p.name, sum(oi.line_total) AS revenue, sum(oi.quantity) AS units
FROM order_items oi JOIN products p ON p.id = oi.product_id
GROUP BY p.id, p.name ORDER BY revenue DESC LIMIT 10`,
	`SELECT co.name AS country, count(*) AS orders, round(avg(o.total_amount), 2) AS avg_order_value
FROM orders o JOIN countries co ON co.code = o.ship_country_code
WHERE o.status IN ('paid', 'shipped', 'delivered')
GROUP BY co.name ORDER BY orders DESC`,
	`SELECT date_trunc('month', ordered_at) AS month, count(DISTINCT customer_id) AS buyers
FROM orders WHERE ordered_at >= '2026-01-01' AND status IN ('paid', 'shipped', 'delivered')
GROUP BY 1 ORDER BY 1`,
	`SELECT id, customer_id, status, channel, ordered_at, total_amount FROM orders WHERE id = 12345`,
	`SELECT oi.line_no, p.name, oi.quantity, oi.unit_price, oi.discount_amount, oi.line_total
FROM order_items oi JOIN products p ON p.id = oi.product_id WHERE oi.order_id = 20000 ORDER BY oi.line_no`,
	`SELECT id, ordered_at, status, total_amount FROM orders WHERE customer_id = 42 ORDER BY ordered_at DESC LIMIT 20`,

	// 11-20: customers and products
	`SELECT segment, acquisition_channel, count(*) AS customers FROM customers GROUP BY 1, 2 ORDER BY 1, 3 DESC`,
	`SELECT date_trunc('month', signed_up_at) AS month, count(*) AS new_customers
FROM customers WHERE signed_up_at >= '2025-01-01' AND signed_up_at < '2026-01-01' GROUP BY 1 ORDER BY 1`,
	`SELECT id, first_name, last_name, city, segment, signed_up_at FROM customers WHERE email = 'customer.1000@example.com'`,
	`SELECT country_code, count(*) AS n_customers FROM customers GROUP BY country_code ORDER BY n_customers DESC LIMIT 10`,
	`SELECT segment, round(100.0 * avg(CASE WHEN marketing_opt_in THEN 1 ELSE 0 END), 1) AS opt_in_pct
FROM customers GROUP BY segment`,
	`SELECT count(*) AS customers_without_orders FROM customers c
WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)`,
	`SELECT p.id, p.name, p.brand, p.list_price FROM products p
WHERE NOT EXISTS (SELECT 1 FROM order_items oi WHERE oi.product_id = p.id) ORDER BY p.id`,
	`SELECT brand, count(*) AS products, round(avg(list_price), 2) AS avg_price FROM products GROUP BY brand ORDER BY products DESC`,
	`SELECT id, name, list_price, unit_cost, list_price - unit_cost AS margin FROM products ORDER BY margin DESC LIMIT 10`,
	`SELECT d.name AS department, count(p.id) AS products, count(p.id) FILTER (WHERE p.is_active) AS active
FROM categories d JOIN categories c ON c.parent_id = d.id LEFT JOIN products p ON p.category_id = c.id
WHERE d.parent_id IS NULL GROUP BY d.name ORDER BY products DESC`,

	// 21-30: reviews, payments, fulfilment
	`SELECT p.name, round(avg(r.rating), 2) AS avg_rating, count(*) AS reviews
FROM reviews r JOIN products p ON p.id = r.product_id
GROUP BY p.name HAVING count(*) >= 10 ORDER BY avg_rating DESC LIMIT 20`,
	`SELECT rating, count(*) AS reviews FROM reviews GROUP BY rating ORDER BY rating`,
	`SELECT id, product_id, rating, title, helpful_votes FROM reviews ORDER BY helpful_votes DESC, id LIMIT 10`,
	`SELECT method, count(*) AS payments, sum(amount) AS amount FROM payments WHERE status = 'captured' GROUP BY method ORDER BY amount DESC`,
	`SELECT provider, round(100.0 * count(*) FILTER (WHERE status = 'failed') / count(*), 2) AS failed_pct
FROM payments GROUP BY provider ORDER BY failed_pct DESC`,
	`SELECT date_trunc('month', processed_at) AS month,
       sum(amount) FILTER (WHERE status = 'captured') - sum(amount) FILTER (WHERE status = 'refunded') AS net_cash
FROM payments WHERE processed_at >= '2025-01-01' AND processed_at < '2026-01-01' GROUP BY 1 ORDER BY 1`,
	`SELECT c.name AS category, round(100.0 * count(*) FILTER (WHERE o.status = 'refunded') / count(*), 2) AS refund_pct
FROM order_items oi JOIN orders o ON o.id = oi.order_id JOIN products p ON p.id = oi.product_id
JOIN categories c ON c.id = p.category_id GROUP BY c.name ORDER BY refund_pct DESC`,
	`SELECT ship_country_code, round(avg(extract(epoch FROM delivered_at - ordered_at) / 86400)::numeric, 1) AS avg_days
FROM orders WHERE delivered_at IS NOT NULL GROUP BY ship_country_code ORDER BY avg_days DESC`,
	`SELECT date_trunc('month', ordered_at) AS month, count(*) AS late_shipments
FROM orders WHERE shipped_at > ordered_at + interval '3 days' AND ordered_at >= '2026-01-01' GROUP BY 1 ORDER BY 1`,
	`SELECT coupon_code IS NOT NULL AS used_coupon, count(*) AS orders, round(avg(total_amount), 2) AS avg_total
FROM orders WHERE status IN ('paid', 'shipped', 'delivered') GROUP BY 1`,

	// 31-40: windows, CTEs, membership
	`SELECT month, revenue, sum(revenue) OVER (ORDER BY month) AS running_revenue
FROM monthly_revenue WHERE month >= '2025-01-01' AND month < '2026-01-01' ORDER BY month`,
	`WITH ranked AS (
  SELECT d.name AS department, p.name AS product, sum(oi.line_total) AS revenue,
         rank() OVER (PARTITION BY d.name ORDER BY sum(oi.line_total) DESC) AS rnk
  FROM order_items oi JOIN products p ON p.id = oi.product_id
  JOIN categories c ON c.id = p.category_id JOIN categories d ON d.id = c.parent_id
  GROUP BY d.name, p.name)
SELECT department, product, revenue FROM ranked WHERE rnk <= 3 ORDER BY department, rnk`,
	`WITH first_orders AS (
  SELECT customer_id, min(ordered_at) AS first_at FROM orders GROUP BY customer_id)
SELECT date_trunc('month', c.signed_up_at) AS cohort, count(*) AS customers,
       count(f.customer_id) FILTER (WHERE f.first_at < c.signed_up_at + interval '90 days') AS bought_within_90d
FROM customers c LEFT JOIN first_orders f ON f.customer_id = c.id
WHERE c.signed_up_at >= '2024-01-01' AND c.signed_up_at < '2025-01-01' GROUP BY 1 ORDER BY 1`,
	`WITH per_customer AS (SELECT customer_id, count(*) AS n FROM orders GROUP BY customer_id)
SELECT round(100.0 * count(*) FILTER (WHERE n >= 2) / count(*), 2) AS repeat_rate_pct FROM per_customer`,
	`SELECT month, paying_subscriptions, mrr, new_subscriptions, canceled_subscriptions
FROM billing.monthly_recurring_revenue ORDER BY month DESC LIMIT 12`,
	`SELECT status, count(*) AS subscriptions FROM billing.subscriptions GROUP BY status ORDER BY subscriptions DESC`,
	`SELECT p.code, p.name, p.billing_interval, p.price, count(s.id) AS subscriptions
FROM billing.plans p LEFT JOIN billing.subscriptions s ON s.plan_id = p.id GROUP BY p.id ORDER BY subscriptions DESC`,
	`SELECT cancel_reason, count(*) AS cancellations FROM billing.subscriptions
WHERE status = 'canceled' GROUP BY cancel_reason ORDER BY cancellations DESC`,
	`SELECT extract(year FROM issued_at) AS year, status, count(*) AS invoices, sum(amount_due) AS due, sum(amount_paid) AS paid
FROM billing.invoices GROUP BY 1, 2 ORDER BY 1, 2`,
	`SELECT round(avg(extract(epoch FROM paid_at - issued_at) / 86400)::numeric, 2) AS avg_days_to_pay
FROM billing.invoices WHERE status = 'paid'`,

	// 41-50: clickstream and the rest
	`SELECT event_type, device, count(*) AS events FROM analytics.events
WHERE occurred_at >= '2026-10-01' AND occurred_at < '2026-11-01' GROUP BY 1, 2 ORDER BY 1, 2`,
	`SELECT count(DISTINCT session_id) FILTER (WHERE event_type = 'product_view') AS viewed,
       count(DISTINCT session_id) FILTER (WHERE event_type = 'add_to_cart') AS added,
       count(DISTINCT session_id) FILTER (WHERE event_type = 'purchase') AS purchased
FROM analytics.events WHERE occurred_at >= '2026-09-01' AND occurred_at < '2026-10-01'`,
	`SELECT e.product_id, p.name, count(*) AS views FROM analytics.events e JOIN products p ON p.id = e.product_id
WHERE e.event_type = 'product_view' AND e.occurred_at >= '2026-09-01' AND e.occurred_at < '2026-10-01'
GROUP BY e.product_id, p.name ORDER BY views DESC LIMIT 10`,
	`SELECT date_trunc('day', occurred_at) AS day, count(*) AS events FROM analytics.events
WHERE occurred_at >= '2026-10-18' AND occurred_at < '2026-11-01' GROUP BY 1 ORDER BY 1`,
	`SELECT device, round(100.0 * count(DISTINCT session_id) FILTER (WHERE event_type = 'purchase')
       / count(DISTINCT session_id), 2) AS conversion_pct
FROM analytics.events WHERE occurred_at >= '2026-01-01' AND occurred_at < '2026-02-01' GROUP BY device`,
	`SELECT tag, count(*) AS products FROM products, unnest(tags) AS tag GROUP BY tag ORDER BY products DESC LIMIT 15`,
	`SELECT extract(dow FROM ordered_at) AS weekday, extract(hour FROM ordered_at) AS hour, count(*) AS orders
FROM orders WHERE ordered_at >= '2025-01-01' AND ordered_at < '2026-01-01' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 20`,
	`SELECT channel, round(avg(item_count), 2) AS avg_items FROM orders GROUP BY channel`,
	`SELECT o.id, o.ordered_at, o.total_amount, c.first_name, c.last_name FROM orders o JOIN customers c ON c.id = o.customer_id
WHERE o.ordered_at >= '2026-01-01' ORDER BY o.total_amount DESC LIMIT 10`,
	`SELECT p.sku, p.name, p.attributes, p.tags FROM products p JOIN categories c ON c.id = p.category_id
WHERE c.parent_id = (SELECT id FROM categories WHERE parent_id IS NULL ORDER BY id LIMIT 1) ORDER BY p.sku LIMIT 50`,
}
