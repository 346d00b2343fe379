-- want: accept
-- With RECURSIVE every sibling is visible: "api_keys" is the CTE below.
WITH RECURSIVE a AS (
    SELECT key FROM api_keys
),
api_keys AS (
    SELECT 1 AS key
)
SELECT * FROM a
