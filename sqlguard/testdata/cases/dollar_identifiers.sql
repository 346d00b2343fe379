-- want: function_not_allowed
-- a$x$ and b$x$ are identifiers, not a dollar-quoted string: the call is real.
SELECT 1 AS a$x$, pg_read_file('/etc/passwd') AS b$x$
