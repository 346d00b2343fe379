-- want: blocked_table
-- Without RECURSIVE, "a" cannot see the later CTE "api_keys": it reads the real table.
WITH a AS (
    SELECT key FROM api_keys
),
api_keys AS (
    SELECT 1 AS key
)
SELECT * FROM a
