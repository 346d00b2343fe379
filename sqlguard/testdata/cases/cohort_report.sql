-- want: accept
WITH first_orders AS (
    SELECT customer_id, min(order_date) AS first_order
    FROM orders
    WHERE status <> 'cancelled'
    GROUP BY customer_id
),
cohorts AS (
    SELECT c.id,
           date_trunc('month', f.first_order) AS cohort,
           c.country
    FROM customers c
    JOIN first_orders f ON f.customer_id = c.id
)
SELECT cohort,
       country,
       count(*) AS customers,
       round(avg(o.total_amount)::numeric, 2) AS avg_order,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY o.total_amount) AS median_order,
       rank() OVER (PARTITION BY cohort ORDER BY count(*) DESC) AS country_rank
FROM cohorts
JOIN orders o ON o.customer_id = cohorts.id
GROUP BY cohort, country
HAVING count(*) > 1
ORDER BY cohort, country_rank
FETCH FIRST 50 ROWS ONLY;
