package sqlguard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Default limits, used when the Policy field is zero.
const (
	DefaultMaxSQLBytes      = 64 << 10  // 64 KiB of SQL text
	DefaultMaxSeriesRows    = 1_000_000 // rows of one constant generate_series, and of a product of them
	DefaultMaxStringBytes   = 100_000   // constant result size of repeat/lpad/rpad
	DefaultMaxArrayElements = 1_000_000 // constant array_fill size
	DefaultMaxDepth         = 1000      // nesting depth of the parse tree
)

// Policy says what may be read. The zero value allows no relation at all.
//
// Relation and column names are compared as PostgreSQL stores them (after
// the parser's case folding: unquoted names are lower case). Blocks are
// compared case-insensitively, so they also catch quoted spellings.
//
// A Policy is compiled on its first use by Check and the compiled form is
// cached in it. Replacing or appending to its fields afterwards is noticed
// (the cache is rebuilt), but writing into an existing slice element or map
// value in place is not: build a new Policy instead. A Policy may be used by
// many goroutines at once.
type Policy struct {
	// Database is the current database name. A three-part name
	// db.schema.table is allowed only when db equals it; when empty, every
	// three-part name is rejected.
	Database string
	// SearchPath is the search_path the server pins on its connections,
	// e.g. ["public"]; nil means ["public"]. pg_catalog is implicitly
	// searched first (as PostgreSQL does), so an unqualified pg_class is the
	// catalog. pg_temp is never allowed.
	SearchPath []string
	// AllowedSchemas allows every relation of these schemas. It is used when
	// AllowedRelations is empty, e.g. `pgmcp check` without a database.
	AllowedSchemas []string
	// AllowedRelations, "schema.table" (views and materialized views
	// included), is the exact list of readable relations when non-empty;
	// AllowedSchemas is then ignored. Every relation of a SearchPath schema
	// that the server's role can see should be in it or in BlockedRelations,
	// so that unqualified names resolve here as they do on the server.
	AllowedRelations []string
	// BlockedRelations, "schema.table", are never readable, even inside an
	// allowed schema.
	BlockedRelations []string
	// BlockedColumns maps "schema.table" to column names that may not be
	// referenced at all.
	BlockedColumns map[string][]string

	// Catalog is the snapshot of the database every name is resolved
	// against (required: Check refuses every query with invalid_policy
	// without one). Per-caller narrowing keeps the same Catalog.
	Catalog *Catalog

	// MaxSQLBytes caps the input size (default 64 KiB).
	MaxSQLBytes int
	// MaxSeriesRows caps the row count of a generate_series with constant
	// bounds, and the product of such series joined in one FROM (default 1e6).
	MaxSeriesRows int64
	// MaxStringBytes caps constant sizes given to repeat, lpad and rpad
	// (default 100,000).
	MaxStringBytes int64
	// MaxArrayElements caps constant array_fill sizes (default 1e6).
	MaxArrayElements int64
	// MaxDepth caps the nesting depth of the parse tree (default 1000).
	MaxDepth int

	cache atomic.Value // *compiled
}

// DefaultPolicy allows every relation of schema public, with search_path
// public, and blocks nothing.
func DefaultPolicy() *Policy {
	return &Policy{SearchPath: []string{"public"}, AllowedSchemas: []string{"public"}}
}

// policyJSON is the file format (see /work/shared/corpus/shop_policy.json).
type policyJSON struct {
	Database         string              `json:"database"`
	SearchPath       []string            `json:"search_path"`
	AllowedSchemas   []string            `json:"allowed_schemas"`
	AllowedRelations []string            `json:"allowed_relations"`
	BlockedRelations []string            `json:"blocked_relations"`
	BlockedColumns   map[string][]string `json:"blocked_columns"`
	MaxSQLBytes      int                 `json:"max_sql_bytes"`
	MaxSeriesRows    int64               `json:"max_series_rows"`
	MaxStringBytes   int64               `json:"max_string_bytes"`
	MaxArrayElements int64               `json:"max_array_elements"`
	MaxDepth         int                 `json:"max_depth"`
}

// ParsePolicyJSON reads a policy:
//
//	{
//	  "database": "shop",
//	  "search_path": ["public"],
//	  "allowed_schemas": ["public"],                      (optional)
//	  "allowed_relations": ["public.orders", "sales.regions"],
//	  "blocked_relations": ["public.api_keys"],
//	  "blocked_columns": {"public.users": ["password_hash", "ssn"]},
//	  "max_sql_bytes": 65536, "max_series_rows": 1000000,  (optional limits)
//	  "max_string_bytes": 100000, "max_array_elements": 1000000, "max_depth": 1000
//	}
//
// Unknown fields are an error, and so are malformed names, system schemas
// among the allowed ones, a relation both allowed and blocked, negative
// limits, and a policy that allows no relation at all.
func ParsePolicyJSON(data []byte) (*Policy, error) { return parsePolicyJSON(data, true) }

// ParseNarrowingJSON reads a policy in the same format that narrows
// another (a caller's restrictions: more blocked relations and columns,
// fewer allowed ones). It is checked like ParsePolicyJSON, except that it
// may allow nothing by itself.
func ParseNarrowingJSON(data []byte) (*Policy, error) { return parsePolicyJSON(data, false) }

func parsePolicyJSON(data []byte, strict bool) (*Policy, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var pj policyJSON
	if err := dec.Decode(&pj); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if dec.More() {
		return nil, errors.New("policy: trailing data after the JSON object")
	}
	p := &Policy{
		Database:         pj.Database,
		SearchPath:       pj.SearchPath,
		AllowedSchemas:   pj.AllowedSchemas,
		AllowedRelations: pj.AllowedRelations,
		BlockedRelations: pj.BlockedRelations,
		BlockedColumns:   pj.BlockedColumns,
		MaxSQLBytes:      pj.MaxSQLBytes,
		MaxSeriesRows:    pj.MaxSeriesRows,
		MaxStringBytes:   pj.MaxStringBytes,
		MaxArrayElements: pj.MaxArrayElements,
		MaxDepth:         pj.MaxDepth,
	}
	if err := p.validate(strict); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate reports what is wrong with a policy, or nil. Check runs the same
// checks (except the strict ones of ParsePolicyJSON: overlap of allowed and
// blocked relations, and a policy allowing nothing) and rejects every query
// with CodeInvalidPolicy when they fail.
func (p *Policy) Validate() error { return p.validate(false) }

func (p *Policy) validate(strict bool) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if p.Database != "" && !validName(p.Database) {
		bad("database %q is not a valid name", p.Database)
	}
	for _, s := range p.SearchPath {
		switch {
		case !validName(s) || strings.Contains(s, "."):
			bad("search_path entry %q is not a valid schema name", s)
		case strings.HasPrefix(s, "$"):
			bad("search_path entry %q is not allowed (name the schema itself)", s)
		case isTempSchema(s):
			bad("search_path entry %q is not allowed: pg_temp is never searched", s)
		case isSystemSchema(s) && !strings.EqualFold(s, "pg_catalog"):
			bad("search_path entry %q is a system schema", s)
		}
	}
	for _, s := range p.AllowedSchemas {
		switch {
		case !validName(s) || strings.Contains(s, "."):
			bad("allowed schema %q is not a valid schema name", s)
		case isSystemSchema(s):
			bad("allowed schema %q is a system schema", s)
		}
	}
	allowed := map[string]bool{}
	for _, r := range p.AllowedRelations {
		s, _, ok := splitRelation(r)
		switch {
		case !ok:
			bad("allowed relation %q is not of the form schema.table", r)
		case isSystemSchema(s):
			bad("allowed relation %q is in a system schema", r)
		}
		allowed[strings.ToLower(r)] = true
	}
	for _, r := range p.BlockedRelations {
		if _, _, ok := splitRelation(r); !ok {
			bad("blocked relation %q is not of the form schema.table", r)
		} else if strict && allowed[strings.ToLower(r)] {
			bad("relation %q is both allowed and blocked", r)
		}
	}
	tables := make([]string, 0, len(p.BlockedColumns))
	for t := range p.BlockedColumns {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		if _, _, ok := splitRelation(t); !ok {
			bad("blocked_columns key %q is not of the form schema.table", t)
		}
		if len(p.BlockedColumns[t]) == 0 {
			bad("blocked_columns of %q is empty", t)
		}
		for _, c := range p.BlockedColumns[t] {
			if !validName(c) {
				bad("blocked column %q of %q is not a valid column name", c, t)
			}
		}
	}
	if p.MaxSQLBytes < 0 || p.MaxSeriesRows < 0 || p.MaxStringBytes < 0 || p.MaxArrayElements < 0 || p.MaxDepth < 0 {
		bad("limits must not be negative")
	}
	if strict && len(p.AllowedRelations) == 0 && len(p.AllowedSchemas) == 0 {
		bad("the policy allows no relation: set allowed_relations or allowed_schemas")
	}
	if len(problems) > 0 {
		return errors.New("policy: " + strings.Join(problems, "; "))
	}
	return nil
}

// validName accepts what PostgreSQL accepts as an identifier once quoted:
// non-empty, at most 63 bytes, no NUL.
func validName(s string) bool {
	return s != "" && len(s) <= 63 && !strings.ContainsRune(s, 0) && strings.TrimSpace(s) == s
}

func splitRelation(r string) (schema, table string, ok bool) {
	schema, table, ok = strings.Cut(r, ".")
	if !ok || !validName(schema) || !validName(table) || strings.Contains(table, ".") {
		return "", "", false
	}
	return schema, table, true
}

// isSystemSchema: PostgreSQL reserves the pg_ prefix for system schemas
// (pg_catalog, pg_toast, pg_temp_N, pg_toast_temp_N); information_schema is
// the standard catalog views.
func isSystemSchema(s string) bool {
	return hasPrefixFold(s, "pg_") || strings.EqualFold(s, "information_schema")
}

func isTempSchema(s string) bool {
	return hasPrefixFold(s, "pg_temp") || hasPrefixFold(s, "pg_toast_temp")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// lower lowercases ASCII without allocating when s is already lower case.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

// relRule is what the policy says about one relation of the catalog.
type relRule struct {
	key     string   // canonical schema.table
	info    *relInfo // the catalog relation (nil when the catalog lacks it)
	blocked []string // lower-cased blocked column names, its own and its ancestors'
	allowed bool     // the policy lets it be read
	denied  bool     // blocked, itself or through an ancestor
	// blockedDesc is a descendant that is blocked or not allowed: reading
	// the relation without ONLY would read it.
	blockedDesc string
	// descCols are columns blocked on a descendant only (lower-cased name
	// -> that descendant): reading them without ONLY reads blocked data.
	descCols map[string]string

	colsOnce  [2]sync.Once
	colsCache [2]*relColumns
}

// compiled is the lookup form of a Policy.
type compiled struct {
	owner *Policy
	sig   policySig
	err   *Error

	database      string
	searchPath    []string
	exact         bool
	allowedRel    map[string]*relRule // exact mode: key -> rule
	allowedSchema map[string]bool
	blockedRel    map[string]bool     // lower-cased keys
	blockedCols   map[string][]string // lower-cased table key -> lower-cased columns
	blockedNames  map[string]bool     // every blocked column name, lower-cased
	cat           *catalogIndex
	rules         map[string]*relRule // catalog relation key -> rule
	namesCache

	maxSQLBytes      int
	maxSeriesRows    float64
	maxStringBytes   float64
	maxArrayElements float64
	maxDepth         int
}

// policySig notices the usual ways a Policy is changed after use: fields
// replaced or appended to.
type policySig struct {
	database                                        string
	nSearch, nSchemas, nAllowed, nBlocked, nBlkCols int
	pSearch, pSchemas, pAllowed, pBlocked           *string
	pBlkCols                                        uintptr
	limits                                          [5]int64
	catalog                                         *Catalog
}

func first(s []string) *string {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

func (p *Policy) signature() policySig {
	sig := policySig{
		database: p.Database,
		nSearch:  len(p.SearchPath), nSchemas: len(p.AllowedSchemas), nAllowed: len(p.AllowedRelations),
		nBlocked: len(p.BlockedRelations), nBlkCols: len(p.BlockedColumns),
		pSearch: first(p.SearchPath), pSchemas: first(p.AllowedSchemas), pAllowed: first(p.AllowedRelations),
		pBlocked: first(p.BlockedRelations),
		limits:   [5]int64{int64(p.MaxSQLBytes), p.MaxSeriesRows, p.MaxStringBytes, p.MaxArrayElements, int64(p.MaxDepth)},
		catalog:  p.Catalog,
	}
	if p.BlockedColumns != nil {
		sig.pBlkCols = reflect.ValueOf(p.BlockedColumns).Pointer()
	}
	return sig
}

// compiled returns the cached compiled form, building it when missing or
// stale.
func (p *Policy) compiled() *compiled {
	sig := p.signature()
	if c, _ := p.cache.Load().(*compiled); c != nil && c.owner == p && c.sig == sig {
		return c
	}
	c := compilePolicy(p)
	c.sig = sig
	p.cache.Store(c)
	return c
}

func compilePolicy(p *Policy) *compiled {
	c := &compiled{
		owner:            p,
		database:         p.Database,
		searchPath:       p.SearchPath,
		exact:            len(p.AllowedRelations) > 0,
		allowedRel:       map[string]*relRule{},
		allowedSchema:    map[string]bool{},
		blockedRel:       map[string]bool{},
		blockedCols:      map[string][]string{},
		blockedNames:     map[string]bool{},
		maxSQLBytes:      p.MaxSQLBytes,
		maxSeriesRows:    float64(p.MaxSeriesRows),
		maxStringBytes:   float64(p.MaxStringBytes),
		maxArrayElements: float64(p.MaxArrayElements),
		maxDepth:         p.MaxDepth,
	}
	if err := p.validate(false); err != nil {
		c.err = &Error{Code: CodeInvalidPolicy, Message: "the sqlguard policy is invalid: " + err.Error()}
		return c
	}
	if len(c.searchPath) == 0 {
		c.searchPath = []string{"public"}
	}
	if c.maxSQLBytes == 0 {
		c.maxSQLBytes = DefaultMaxSQLBytes
	}
	if c.maxSeriesRows == 0 {
		c.maxSeriesRows = DefaultMaxSeriesRows
	}
	if c.maxStringBytes == 0 {
		c.maxStringBytes = DefaultMaxStringBytes
	}
	if c.maxArrayElements == 0 {
		c.maxArrayElements = DefaultMaxArrayElements
	}
	if c.maxDepth == 0 {
		c.maxDepth = DefaultMaxDepth
	}
	for t, cols := range p.BlockedColumns {
		lt := strings.ToLower(t)
		for _, col := range cols {
			lc := strings.ToLower(col)
			c.blockedCols[lt] = append(c.blockedCols[lt], lc)
			c.blockedNames[lc] = true
		}
	}
	for _, r := range p.BlockedRelations {
		c.blockedRel[strings.ToLower(r)] = true
	}
	for _, s := range p.AllowedSchemas {
		c.allowedSchema[s] = true
	}
	for _, r := range p.AllowedRelations {
		if c.blockedRel[strings.ToLower(r)] {
			continue
		}
		c.allowedRel[r] = &relRule{key: r, blocked: c.blockedCols[strings.ToLower(r)], allowed: true}
	}
	if p.Catalog == nil {
		c.err = &Error{Code: CodeInvalidPolicy, Message: "the sqlguard policy has no catalog to resolve names against"}
		return c
	}
	c.compileCatalog(p.Catalog.index())
	return c
}

// compileCatalog makes the rule of every catalog relation: allowed or not,
// blocked itself or through an ancestor (a partition of a blocked table is
// blocked), its blocked columns and its ancestors', and what of its
// descendants is blocked (which makes a read without ONLY unsafe).
func (c *compiled) compileCatalog(x *catalogIndex) {
	c.cat = x
	c.rules = make(map[string]*relRule, len(x.rels))
	for key, ri := range x.rels {
		r := &relRule{key: key, info: ri, blocked: c.blockedCols[lower(key)]}
		r.allowed = c.allowedRel[key] != nil || (!c.exact && c.allowedSchema[ri.rel.Schema])
		r.denied = c.blockedRel[lower(key)]
		for _, a := range x.ancestors(key) {
			if c.blockedRel[lower(a)] {
				r.denied = true
			}
			r.blocked = append(r.blocked, c.blockedCols[lower(a)]...)
		}
		c.rules[key] = r
	}
	for key, r := range c.rules {
		desc := append([]string(nil), x.rels[key].desc...)
		sort.Strings(desc)
		for _, d := range desc {
			dr := c.rules[d]
			if dr == nil {
				continue
			}
			if (dr.denied || !dr.allowed) && r.blockedDesc == "" {
				r.blockedDesc = d
			}
			for _, col := range dr.blocked {
				if !containsFold(r.blocked, col) {
					if r.descCols == nil {
						r.descCols = map[string]string{}
					}
					if _, ok := r.descCols[col]; !ok {
						r.descCols[col] = d
					}
				}
			}
		}
	}
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// allows reports whether the policy lets relation key of schema be read,
// for a relation the catalog does not have.
func (c *compiled) allows(schema, key string) bool {
	if c.exact {
		return c.allowedRel[key] != nil
	}
	return c.allowedSchema[schema]
}
