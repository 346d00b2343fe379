// Package schema reads what a database holds from pg_catalog — the tables,
// views and columns pgmcp may show — keeps it in a per-database cache,
// renders it compactly for a model's prompt, and picks the part of it that
// matters to a question when all of it does not fit.
//
// It imports nothing of pgmcp's and no MCP package; a Snapshot is plain
// data (no pgx type) that any package can render.
//
// # Introspection
//
// [Introspect] reads the filter's schemas in a fixed number of set-based
// queries, whatever the number of tables, inside one read-only REPEATABLE
// READ transaction when the connection can begin one (so they agree):
//
//  1. a catalog fingerprint (see [Fingerprint]);
//  2. relations: tables, views, materialized views, partitioned tables
//     (with their leaf-partition count and summed row estimate), foreign
//     tables, their comments, partition keys; partitions themselves only
//     to fold them into their root;
//  3. columns: format_type, NOT NULL, default or generation expression,
//     identity, comment, enum type;
//  4. constraints: primary keys, unique constraints, foreign keys
//     (multi-column), by attnum — and the foreign keys declared on leaf
//     partitions only: one that more than half of a table's leaf
//     partitions declare alike is shown on the table (pg_dump'ed schemas
//     such as Pagila declare them that way, on six of seven partitions);
//  5. secondary indexes (not those backing a primary key or a unique
//     constraint): columns or expressions, method, predicate;
//  6. enum labels of the enum types in use;
//  7. optionally ([IntrospectOptions.CommonValues]), from pg_stats, the most
//     common values of low-cardinality text and enum columns: at most 20
//     distinct values (n_distinct absolute, or a fraction of at most 0.5 of
//     the row estimate), up to 10 values of at most 40 bytes each. Planner
//     statistics only: no table is scanned. pg_stats only shows columns
//     the connected role may SELECT.
//
// Row estimates are pg_class.reltuples (-1 when never analyzed, and for
// views); a partitioned table's is the sum over its leaf partitions.
// On a generated catalog of 2,000 tables × 15 columns (bench_test.go) a cold
// load — the queries plus rendering and the search index — takes about
// 0.27 s; reading the same facts through information_schema, table by
// table, takes minutes.
//
// # What is never shown
//
// The server builds the [Filter] from the sqlguard policy. Blocked tables
// and columns are dropped at the source, so nothing rendered from a
// Snapshot can name them:
//
//   - a blocked table (or one outside Filter.Relations) is not a Table; a
//     partition folds into its root, so a partition of a blocked table is
//     never shown either;
//   - a blocked column is not a Column;
//   - a primary key, unique constraint or foreign key over a blocked column
//     is dropped, and so is a foreign key whose target table is blocked,
//     outside the schemas or outside the relation list, or whose target
//     columns include a blocked column;
//   - an index whose columns, expressions or predicate mention a blocked
//     column is dropped; a generated column or partition key whose
//     expression mentions one shows "(hidden)" instead;
//   - common values of a blocked column or table are excluded in the
//     pg_stats query itself (its WHERE clause), so they are never read;
//   - a view's definition is never read or shown;
//   - blocked names are removed from free text — table and column
//     comments, defaults, index expressions — and replaced by "[hidden]",
//     because comments written for people name other objects ("phone and
//     date_of_birth are personal data", "references
//     billing.payment_cards"). A name counts as a whole word (letters,
//     digits and _ form words), case-insensitively: a blocked table as
//     schema.table everywhere and as a bare name unless a visible table has
//     that name; a blocked column as table.column and schema.table.column
//     everywhere, bare in its own table's text, and bare everywhere unless
//     a visible table or column has that name. Tables hidden because they
//     are outside Filter.Relations are treated like blocked ones.
//
// Blocked names are compared case-insensitively after canonicalisation
// (surrounding space and double quotes removed, lower case); a blocked
// name without a schema blocks that name in every schema. Allowed names
// (Filter.Schemas, Filter.Relations) are compared as PostgreSQL stores them,
// as sqlguard does. A view that selects a blocked column shows it under the
// view's name unless the policy blocks it in the view too: the policy, not
// this package, decides what a view exposes.
//
// # Cache
//
// A [Cache] per database serves the loaded schema for Options.TTL
// (PGMCP_SCHEMA_CACHE_TTL, default 5m). The first call after the TTL runs
// the fingerprint query (one round trip; 50–70 ms on the 2,000-table benchmark catalog) and
// reloads only when it changed. The fingerprint is, per catalog (pg_class,
// pg_attribute, pg_constraint, pg_index, pg_attrdef, pg_description,
// pg_type, pg_enum, pg_inherits, pg_namespace, restricted to the filter's
// schemas), the row count and the sum of the rows' xmin: any DDL, comment
// or grant writes a new row version. Row estimates are updated in place
// (no new xmin); their log2 is summed, so a reload follows when an
// estimate doubles or halves. Common values are not fingerprinted: they
// refresh with the next reload. [Cache.Refresh] (get_schema refresh=true)
// reloads now; [Cache.Invalidate] (SIGHUP) makes the next call reload.
// Concurrent callers share one load (sync primitives; each waiter can give
// up with its own context while the load goes on). When a check or reload
// fails and a schema was loaded before, Get keeps serving it (it is still
// filtered) and logs the failure; Refresh returns the error.
//
// # Rendering
//
// [RenderTable] writes one block per table, DDL-like and compact:
//
//	TABLE public.orders (~40,415 rows) -- One row per shop order.
//	  id integer NOT NULL PK -- Order id.
//	  customer_id integer NOT NULL -> customers(id) -- Who ordered.
//	  status order_status NOT NULL -- Status. values: 'pending', 'paid'
//	  channel text NOT NULL -- Where. common values: 'web', 'ios_app'
//	  PRIMARY KEY (order_id, line_no)
//	  FOREIGN KEY (order_id, line_no) -> order_items(order_id, line_no)
//	  UNIQUE (email)
//	  INDEX gin (tags)
//
// Tables in schema then name order, columns in attnum order, keys and
// indexes sorted: the text is deterministic. Identifiers are quoted when
// SQL needs it; long type names are shortened (timestamptz, varchar).
// [RenderTableForm] also writes two one-line forms used by selection:
// FormColumns (column names, keys marked) and FormKeys (key columns only,
// "..." for the rest; "-> customers" means the target's primary key, as in
// SQL's REFERENCES customers).
//
// Token counts are estimated as bytes / 4, rounded up ([EstimateTokens]):
// the usual rule of thumb for BPE tokenizers on English and identifiers.
// It is an estimate, not a tokenizer count, and budgets are approximate by
// the same margin. The structured (JSON) form of the schema is built by the
// tools package from the Snapshot.
//
// # Relevance selection
//
// [Prepared.Select] (or [Select]) chooses what to show for a question
// within a token budget (PGMCP_SCHEMA_TOKEN_BUDGET, default 6000). When the
// whole rendering fits, everything is sent. Otherwise each table is a
// BM25 document (k1 1.2, b 0.75; BM25F-style weighted term frequencies):
// table-name words ×3, schema and column names ×1, comments, enum labels,
// common values and foreign-key target names ×0.5. Words are split at
// non-alphanumerics, snake_case and camelCase ("CDSCode" → cds, code),
// lower-cased, stop words (question phrasing) removed, and lightly stemmed
// (plural -s/-es/-ies, -ing, -ed, a doubled final consonant, a final -e).
// A question word also matches, at half weight, a longer schema word
// containing it ("schooler" → "highschooler"), and three generic synonyms
// are known (nation → country, qty → quantity, dob → birth); each was kept
// because it raised measured recall.
//
// The core set is the seeds (the up to 6 best tables scoring at least 10%
// of the best) plus the foreign-key neighbours, both directions, of the 3
// best seeds. The budget is filled breadth first: every core table in its
// keys-only form, then upgraded to its column list, then to its full
// block, in rank order; then the other tables by rank, each in the fullest
// form that fits; and a last line says how many tables were left out. The
// choice and the reason for each table are available for debug logs
// ([Selection.Explain]).
//
// Measured (recall_test.go, ground truth from
// ../shared/data/results/gold_tables_per_question.jsonl; a question counts
// when all its gold tables are kept, in any form): at a budget of 40% of
// each database's full rendering, Spider dev 0.971 (1,002/1,032) and BIRD
// mini-dev 0.966 (480/497; the question with its evidence); on one catalog
// of 1,201 tables (every Spider and BIRD schema, names prefixed with the
// database, plus 250 generated tables) at the default budget, 0.969
// (1,481/1,529), every kept gold table in full. The tests print the share
// in full and column forms too, and fail below 0.95.
package schema
