-- want: multiple_statements
SELECT 1 --; DROP TABLE orders
