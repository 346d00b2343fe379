// Package sqlguard decides whether a SQL text is a safe, read-only query
// under a Policy, using PostgreSQL's own parser (pg_query_go, the
// PostgreSQL 16 grammar).
//
//	q, err := sqlguard.Check(sql, policy)   // *Query, or an *Error with a stable Code
//	text, err := q.LimitRows(maxRows + 1)   // what the executor runs
//
// # Invariants
//
//   - Check never performs I/O: no files, network or environment. The
//     package imports pg_query_go, google.golang.org/protobuf and the
//     standard library only.
//   - Fail closed: everything is an allowlist — the statement type, every
//     parse-node type, relations, functions, operators, cast types, SQL value
//     functions. Anything not listed is rejected, including constructs a
//     future grammar adds.
//   - Every field of every node is visited. The traversal (nodes_gen.go) is
//     generated from the pg_query protobuf descriptors by gen_nodes.go, so no
//     hand-written list of "interesting" fields exists. If the linked
//     pg_query_go's schema differs from the generated one, every walk falls
//     back to protoreflect, which visits fields it has never seen; tests fail
//     until `go generate ./sqlguard` is run.
//   - Rejection messages name the construct and its position, never a literal
//     value of the query (parser messages are cut before "at or near").
//   - The text a Query returns (SQL, LimitRows) is text that passed Check.
//
// # What Check verifies, in order
//
//  1. Size (Policy.MaxSQLBytes, 64 KiB by default): too_large.
//  2. Encoding: no NUL byte (pg_query reads a C string, so "SELECT 1\x00;
//     DROP …" would validate as SELECT 1), valid UTF-8: invalid_encoding.
//  3. Lexer differential: a plain '…' string constant (not E'…', U&'…' or
//     dollar-quoted) whose text contains \' is rejected (lexer_differential).
//     libpg_query lexes with standard_conforming_strings on; a server with it
//     off would end the string elsewhere. This also rejects the harmless
//     '…\\' (use E'…' or dollar quotes); ordinary regexes such as '\s+'
//     stay legal. The server must still pin standard_conforming_strings=on
//     and client_encoding=UTF8.
//  4. Parse: syntax_error; no statement: empty; more than one:
//     multiple_statements; not a SELECT (VALUES and TABLE t are SELECTs):
//     not_select.
//  5. The walk of the whole tree, with a scope per query level (next section).
//
// # The walk
//
//   - no INTO (select_into) and no FOR UPDATE/SHARE (locking_clause) at any
//     level; any other statement nested anywhere (INSERT/UPDATE/DELETE/MERGE
//     in a WITH): data_modifying_cte; every CTE body must be a SELECT;
//   - node types outside the allowlist of gen_nodes.go: unsupported_node
//     (XML, SQL/JSON constructors and IS JSON, XMLTABLE, …); $n parameters:
//     parameter_not_allowed;
//   - relations: a catalog name must equal Policy.Database; schemas
//     pg_* and information_schema: system_catalog; an unqualified name is
//     resolved as the server does — pg_temp never (the role cannot create
//     temporary objects in a read-only transaction), pg_catalog first (so
//     an unqualified pg_class or pg_user is the catalog: every catalog
//     relation is named pg_*), then Policy.SearchPath; blocked:
//     blocked_table; not permitted: relation_not_allowed. With
//     AllowedRelations (the exact list) the first search-path schema that
//     lists the name wins; with AllowedSchemas only, an unqualified name is
//     accepted only if no schema of the path before an allowed one could
//     hold it;
//   - CTE scoping: without RECURSIVE a CTE sees only the CTEs before it,
//     with RECURSIVE all of its siblings; a WITH inside a subquery or CTE is
//     invisible outside it; an unqualified name is a CTE reference only if
//     such a CTE is visible at that point (so a CTE named like a blocked
//     table is fine, and a forward reference reads the real table);
//   - functions, wherever they are (select list, WHERE, JOIN ON, GROUP BY,
//     HAVING, ORDER BY, DISTINCT ON, LIMIT/OFFSET, window definitions and
//     frame offsets, FILTER, aggregate ORDER BY, named arguments, VALUES,
//     FROM, ROWS FROM, TABLESAMPLE): the builtin allowlist of funcs.go,
//     unqualified or pg_catalog-qualified; a quoted name is compared as is
//     (so "PG_SLEEP" or "LOWER" never match); the SQL-syntax forms
//     pg_query reports as pg_catalog functions (extract, substring,
//     position, overlay, btrim, timezone, overlaps, like_escape,
//     similar_to_escape, normalize) are in the list: function_not_allowed;
//   - SQL value functions: CURRENT_DATE/TIME/TIMESTAMP, LOCALTIME and
//     LOCALTIMESTAMP are allowed; CURRENT_USER, SESSION_USER, CURRENT_ROLE,
//     USER, CURRENT_CATALOG and CURRENT_SCHEMA are not (they describe the
//     server's role, database and search path; no analyst question needs
//     them): function_not_allowed;
//   - operators: every operator symbol (in expressions, ANY/ALL, IN,
//     LIKE, subquery comparisons and ORDER BY … USING) must be a builtin
//     symbol of funcs.go, unqualified or OPERATOR(pg_catalog.x):
//     operator_not_allowed. Operators resolve through the search path like
//     functions, so the server checks at start-up that no schema of its
//     search path defines one (AllowedOperators);
//   - types of casts, typed literals (DATE '…') and column definition
//     lists: builtin scalar types of pg_catalog and arrays of them
//     (AllowedTypes); never reg* (catalog probing), xml, record, %TYPE,
//     SETOF, user or domain types (their input functions and CHECK
//     constraints run code): cast_not_allowed. Function-style casts
//     (int4(x), text(x)) are allowlisted functions;
//   - names, resolved against Policy.Catalog as PostgreSQL resolves them
//     (resolve.go): a one-part name is a column of the innermost query
//     level that has it, else a whole-row reference; t.c, s.t.c and
//     db.s.t.c must name a real column (or system column) of the range,
//     since otherwise PostgreSQL calls a function c(t): function_notation;
//     (expr).f only where expr's composite type is known and has a field
//     f: function_notation; names compare exactly after folding; the
//     columns of subqueries, CTEs (and their column lists), VALUES, set
//     operations, functions in FROM, alias lists at every level, USING and
//     NATURAL merges; LATERAL, JOIN … ON and outer-level visibility; ORDER
//     BY and DISTINCT ON prefer output names, GROUP BY input columns. What
//     cannot be decided for certain is refused: unresolved_name;
//   - blocked columns (Policy.BlockedColumns) follow every rename: a
//     reference to one (any clause, even unprojected: WHERE ssn LIKE '1%'
//     is an oracle): blocked_column; *, t.* and (t).* over a range that
//     carries one: star_on_blocked_table; a whole-row reference to such a
//     range (SELECT u, row_to_json(u), u::text, a join alias j):
//     whole_row_reference; USING or NATURAL joining on one: blocked_column;
//   - inheritance and partitions: a child or partition of a blocked table
//     is blocked, and inherits its blocked columns; a parent read without
//     ONLY whose descendant is blocked or not permitted, or a column blocked
//     on a descendant read through the parent: blocked_descendant;
//   - resource heuristics (resource_limit), cheap and not exhaustive:
//     nesting deeper than Policy.MaxDepth (1000) or beyond protobuf's
//     limit; a generate_series with constant bounds (numbers, or
//     date/timestamp literals with an interval step) longer than
//     MaxSeriesRows (1e6), or a product of such series in one FROM above
//     it; repeat/lpad/rpad with a constant size above MaxStringBytes
//     (100,000 bytes; lower than a megabyte so that aggregating many
//     medium strings is caught too); array_fill above MaxArrayElements
//     (1e6); factorial above 1000; a recursive CTE whose recursive term
//     reads only itself with no WHERE and no LIMIT, or with a WHERE bound
//     above MaxSeriesRows; two or more base tables or large series
//     combined without any join condition and no WHERE (a cartesian
//     product).
//
// # Policy
//
// A Policy (ParsePolicyJSON, DefaultPolicy) lists what may be read:
//
//   - Database: the only catalog a three-part name may name;
//   - SearchPath: the search_path the server pins (default public);
//     pg_temp, $user and system schemas are refused, pg_catalog is implicit;
//   - AllowedRelations: the exact list of readable relations ("schema.table",
//     views included); when set, AllowedSchemas is ignored;
//   - AllowedSchemas: every relation of these schemas (when the relation list
//     is unknown, e.g. `pgmcp check` without a database);
//   - BlockedRelations: never readable, even in an allowed schema;
//   - BlockedColumns: "schema.table" -> column names never referenced;
//   - limits: MaxSQLBytes, MaxSeriesRows, MaxStringBytes, MaxArrayElements,
//     MaxDepth (zero means the default).
//
// A Policy is compiled once, on first use, and the compiled form is cached in
// it; replacing or appending to a field is noticed, editing an element in
// place is not.
//
// # Decisions
//
//   - Operators: allowlisted by symbol (see above) rather than checked
//     against pg_operator here; the catalog snapshot has relations and
//     types only. Builtin operators
//     only call builtin functions.
//   - SQL value functions: user, role, database and schema names are refused
//     as an information leak; date and time ones are allowed.
//   - Views in the allowlist are trusted DBA code: their bodies are not
//     checked (list only views you would let the role read).
//   - Volatile but harmless functions (random, clock_timestamp,
//     gen_random_uuid) are allowed; functions that run SQL text, touch files,
//     the network, other sessions, configuration, the catalog, XIDs, locks,
//     sequences, large objects, or belong to an extension are not. Functions
//     whose overloads differ in danger (ts_rewrite(tsquery, text) runs SQL)
//     are left out entirely.
//   - Blocked column names are compared case-insensitively with the
//     catalog's columns (a quoted "SSN" column is as blocked as ssn).
//   - Columns() and Reads() come from the resolution, not from guesses.
//   - LimitRows edits the parse tree and deparses it; see its documentation
//     for LIMIT ALL, FETCH FIRST, WITH TIES and non-constant limits.
//
// # Residual risks
//
//   - Code the parse tree cannot show: DBA-defined views, functions,
//     operators, casts, RLS policies and foreign tables on allowlisted
//     objects run with the caller's privileges. A function or operator
//     created outside pg_catalog with an allowlisted name (the
//     CVE-2018-1058 class) would be called instead of the builtin; the server
//     verifies at start-up that none exists (AllowedFunctions,
//     AllowedOperators) and should revoke CREATE on the schemas of its path.
//   - Unqualified names: sqlguard resolves them against the catalog
//     snapshot; a relation created after the snapshot was taken is unknown
//     to it (refused, or resolved to a later schema of the path until the
//     snapshot is refreshed). A temporary table or type could shadow a name (pg_temp is
//     searched first by the server); the read-only transaction cannot create
//     one, and pooled connections must be reset (DISCARD ALL).
//   - Expensive-but-legal queries: the heuristics above only see constants.
//     statement_timeout, work_mem/temp_file_limit and the executor's row and
//     byte caps are required.
//   - Results are sensitive: the model sees everything the policy permits,
//     and database error messages can echo data (filter them).
//   - The server must run the validated text with the extended protocol
//     (one statement), in a READ ONLY transaction that is rolled back, as a
//     role with only SELECT on the permitted relations (and column grants
//     that exclude blocked columns) — each defence sufficient on its own.
package sqlguard
