-- want: star_on_blocked_table
-- j wraps users, which has blocked columns: j.* would expand password_hash and ssn.
SELECT j.*
FROM (users u JOIN orders o ON o.customer_id = u.id) AS j
