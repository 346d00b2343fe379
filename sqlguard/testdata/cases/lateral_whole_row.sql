-- want: whole_row_reference
SELECT l.doc
FROM users u
CROSS JOIN LATERAL (
    SELECT to_jsonb(u) AS doc
) l
