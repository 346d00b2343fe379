package sqlguard

import (
	"sort"

	pg "github.com/pganalyze/pg_query_go/v5"
)

// funcCheck is an extra, argument-dependent check of an allowlisted
// function (the resource heuristics of dos.go).
type funcCheck func(w *walker, n *pg.FuncCall)

// allowedFuncs is the builtin function allowlist, keyed by the name as
// PostgreSQL stores it (lower case; a quoted name with upper-case letters is
// a different function and never matches). A call may be unqualified or
// qualified with pg_catalog only.
//
// Left out on purpose: everything that touches files, the network or other
// sessions; runs SQL text (query_to_xml, table_to_xml, ts_stat, ts_rewrite,
// crosstab, dblink…); reads the catalog or configuration (current_setting,
// version, pg_get_*, has_*_privilege, current_database, inet_server_addr,
// pg_backend_pid…); assigns XIDs (txid_current, pg_current_xact_id); changes
// session state (set_config, setseed); sleeps; locks (pg_advisory_*);
// sequences (nextval, currval, setval, lastval); large objects (lo_*); xml;
// and every extension function. No pg_* function is allowed.
var allowedFuncs = map[string]funcCheck{}

func allow(check funcCheck, names ...string) {
	for _, n := range names {
		allowedFuncs[n] = check
	}
}

func init() {
	// Aggregates, including ordered-set and hypothetical-set ones.
	allow(nil, "count", "sum", "avg", "min", "max", "string_agg", "array_agg",
		"json_agg", "jsonb_agg", "json_agg_strict", "jsonb_agg_strict",
		"json_object_agg", "jsonb_object_agg", "json_object_agg_strict", "jsonb_object_agg_strict",
		"json_object_agg_unique", "jsonb_object_agg_unique", "json_object_agg_unique_strict", "jsonb_object_agg_unique_strict",
		"bool_and", "bool_or", "every", "bit_and", "bit_or", "bit_xor", "any_value",
		"stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
		"corr", "covar_pop", "covar_samp", "regr_avgx", "regr_avgy", "regr_count", "regr_intercept",
		"regr_r2", "regr_slope", "regr_sxx", "regr_sxy", "regr_syy",
		"percentile_cont", "percentile_disc", "mode", "range_agg", "range_intersect_agg")
	// Window functions (rank, dense_rank, percent_rank and cume_dist are also
	// hypothetical-set aggregates).
	allow(nil, "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
		"lag", "lead", "first_value", "last_value", "nth_value")
	// Mathematics.
	allow(nil, "abs", "cbrt", "ceil", "ceiling", "degrees", "div", "exp", "floor", "gcd", "lcm",
		"ln", "log", "log10", "min_scale", "mod", "pi", "power", "pow", "radians", "round", "scale",
		"sign", "sqrt", "trim_scale", "trunc", "width_bucket", "random", "random_normal", "bit_count",
		"acos", "acosd", "asin", "asind", "atan", "atand", "atan2", "atan2d", "cos", "cosd", "cot", "cotd",
		"sin", "sind", "tan", "tand", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh")
	allow(checkFactorial, "factorial")
	// Strings, including the SQL-syntax forms pg_query reports as
	// pg_catalog functions (substring, position, overlay, btrim/ltrim/rtrim
	// for TRIM, normalize, like_escape, similar_to_escape).
	allow(nil, "ascii", "bit_length", "btrim", "char_length", "character_length", "chr", "concat",
		"concat_ws", "format", "initcap", "left", "length", "lower", "ltrim", "md5", "normalize",
		"is_normalized", "octet_length", "overlay", "position", "quote_ident", "quote_literal",
		"quote_nullable", "replace", "reverse", "right", "rtrim", "split_part", "starts_with",
		"strpos", "substr", "substring", "to_hex", "translate", "upper", "unistr",
		"encode", "decode", "convert_from", "convert_to", "sha224", "sha256", "sha384", "sha512",
		"like_escape", "similar_to_escape", "string_to_array", "string_to_table",
		"regexp_count", "regexp_instr", "regexp_like", "regexp_match", "regexp_matches",
		"regexp_replace", "regexp_split_to_array", "regexp_split_to_table", "regexp_substr")
	allow(checkRepeat, "repeat")
	allow(checkPad, "lpad", "rpad")
	// Formatting.
	allow(nil, "to_char", "to_date", "to_number", "to_timestamp")
	// Date and time (AT TIME ZONE is timezone, OVERLAPS is overlaps, EXTRACT
	// is extract; CURRENT_DATE & co. are SQLValueFunction nodes).
	allow(nil, "age", "clock_timestamp", "date_add", "date_bin", "date_part", "date_subtract",
		"date_trunc", "extract", "isfinite", "justify_days", "justify_hours", "justify_interval",
		"make_date", "make_interval", "make_time", "make_timestamp", "make_timestamptz", "now",
		"statement_timestamp", "timeofday", "transaction_timestamp", "timezone", "overlaps")
	// JSON and JSONB (jsonpath cannot run SQL).
	allow(nil, "to_json", "to_jsonb", "row_to_json", "array_to_json",
		"json_array_elements", "json_array_elements_text", "json_array_length", "json_build_array",
		"json_build_object", "json_each", "json_each_text", "json_extract_path", "json_extract_path_text",
		"json_object", "json_object_keys", "json_strip_nulls", "json_to_record", "json_to_recordset",
		"json_typeof",
		"jsonb_array_elements", "jsonb_array_elements_text", "jsonb_array_length", "jsonb_build_array",
		"jsonb_build_object", "jsonb_each", "jsonb_each_text", "jsonb_extract_path",
		"jsonb_extract_path_text", "jsonb_insert", "jsonb_object", "jsonb_object_keys", "jsonb_pretty",
		"jsonb_set", "jsonb_set_lax", "jsonb_strip_nulls", "jsonb_to_record", "jsonb_to_recordset",
		"jsonb_typeof", "jsonb_path_exists", "jsonb_path_exists_tz", "jsonb_path_match",
		"jsonb_path_match_tz", "jsonb_path_query", "jsonb_path_query_tz", "jsonb_path_query_array",
		"jsonb_path_query_array_tz", "jsonb_path_query_first", "jsonb_path_query_first_tz")
	// Arrays.
	allow(nil, "array_append", "array_cat", "array_dims", "array_length", "array_lower", "array_ndims",
		"array_position", "array_positions", "array_prepend", "array_remove", "array_replace",
		"array_to_string", "array_upper", "cardinality", "generate_subscripts", "trim_array", "unnest",
		"array_sample", "array_shuffle")
	allow(checkArrayFill, "array_fill")
	// Set-returning series.
	allow(checkSeries, "generate_series")
	// Ranges.
	allow(nil, "int4range", "int8range", "numrange", "daterange", "tsrange", "tstzrange",
		"int4multirange", "int8multirange", "nummultirange", "datemultirange", "tsmultirange", "tstzmultirange",
		"isempty", "lower_inc", "upper_inc", "lower_inf", "upper_inf", "range_merge")
	// Text search (the regconfig argument is a name lookup, nothing more).
	allow(nil, "to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery",
		"websearch_to_tsquery", "ts_rank", "ts_rank_cd", "ts_headline", "setweight",
		"tsvector_to_array", "array_to_tsvector")
	// Network addresses.
	allow(nil, "host", "hostmask", "masklen", "netmask", "network", "broadcast", "family", "abbrev")
	// Miscellaneous harmless builtins.
	allow(nil, "num_nulls", "num_nonnulls", "gen_random_uuid")
	// Function-style casts to allowlisted types: int4(x), text(x), date(x)…
	allow(nil, "int2", "int4", "int8", "float4", "float8", "numeric", "text", "varchar", "bpchar",
		"bool", "date", "time", "timetz", "timestamp", "timestamptz", "interval")
}

// AllowedFunctions returns the builtin function allowlist (names, sorted),
// for the server to verify against pg_proc at start-up: every name must be
// a pg_catalog function and no schema of the search path may hold a
// function of the same name.
func AllowedFunctions() []string {
	out := make([]string, 0, len(allowedFuncs))
	for n := range allowedFuncs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// allowedOperators are the operator symbols a query may use: the builtin
// comparison, arithmetic, string, pattern, bit, JSON, array, range, network
// and text-search operators. An operator may be written OPERATOR(pg_catalog.x)
// but never qualified with another schema. Operators resolve through the
// search path like functions, so the server must also check at start-up
// that no schema of the search path defines one of these symbols
// (AllowedOperators).
var allowedOperators = map[string]bool{}

func init() {
	for _, op := range []string{
		"=", "<>", "!=", "<", ">", "<=", ">=",
		"+", "-", "*", "/", "%", "^", "|/", "||/", "@",
		"&", "|", "#", "~", "<<", ">>", "<<=", ">>=",
		"||", "~~", "~~*", "!~~", "!~~*", "~*", "!~", "!~*", "^@",
		"->", "->>", "#>", "#>>", "@>", "<@", "?", "?|", "?&", "#-", "@?", "@@", "@@@",
		"&&", "&<", "&>", "-|-", "<->", "!!",
	} {
		allowedOperators[op] = true
	}
}

// AllowedOperators returns the operator-symbol allowlist, sorted.
func AllowedOperators() []string {
	out := make([]string, 0, len(allowedOperators))
	for op := range allowedOperators {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

// allowedTypes are the cast (and column-definition) target types: builtin
// scalar types that exist in pg_catalog, so that pg_catalog, searched first,
// always supplies them. reg* types (catalog lookups), xml, record, and every
// user-defined or domain type (whose input functions and CHECK constraints
// run code) are left out. Arrays of these types are allowed too.
var allowedTypes = map[string]bool{}

func init() {
	for _, t := range []string{
		"bool", "int2", "int4", "int8", "float4", "float8", "numeric", "money",
		"text", "varchar", "bpchar", "char", "name",
		"date", "time", "timetz", "timestamp", "timestamptz", "interval",
		"json", "jsonb", "jsonpath", "uuid", "bytea",
		"inet", "cidr", "macaddr", "macaddr8", "bit", "varbit",
		"tsvector", "tsquery",
		"int4range", "int8range", "numrange", "daterange", "tsrange", "tstzrange",
		"int4multirange", "int8multirange", "nummultirange", "datemultirange", "tsmultirange", "tstzmultirange",
	} {
		allowedTypes[t] = true
	}
}

// AllowedTypes returns the cast-target type allowlist, sorted.
func AllowedTypes() []string {
	out := make([]string, 0, len(allowedTypes))
	for t := range allowedTypes {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// allowedValueFunctions are the SQL value functions allowed. CURRENT_USER,
// SESSION_USER, CURRENT_ROLE, USER, CURRENT_CATALOG and CURRENT_SCHEMA are
// left out: they tell the model about the server's role, database and
// search path, which no analyst question needs.
var allowedValueFunctions = map[pg.SQLValueFunctionOp]bool{
	pg.SQLValueFunctionOp_SVFOP_CURRENT_DATE:        true,
	pg.SQLValueFunctionOp_SVFOP_CURRENT_TIME:        true,
	pg.SQLValueFunctionOp_SVFOP_CURRENT_TIME_N:      true,
	pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP:   true,
	pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N: true,
	pg.SQLValueFunctionOp_SVFOP_LOCALTIME:           true,
	pg.SQLValueFunctionOp_SVFOP_LOCALTIME_N:         true,
	pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP:      true,
	pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:    true,
}

var valueFunctionNames = map[pg.SQLValueFunctionOp]string{
	pg.SQLValueFunctionOp_SVFOP_CURRENT_ROLE:    "CURRENT_ROLE",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_USER:    "CURRENT_USER",
	pg.SQLValueFunctionOp_SVFOP_USER:            "USER",
	pg.SQLValueFunctionOp_SVFOP_SESSION_USER:    "SESSION_USER",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG: "CURRENT_CATALOG",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:  "CURRENT_SCHEMA",
}

// tableSampleMethods are the builtin TABLESAMPLE methods.
var tableSampleMethods = map[string]bool{"system": true, "bernoulli": true}
