package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
)

// CodeForbidden refuses a caller a database its identity does not allow.
// Never rename it.
const CodeForbidden Code = "forbidden"

// access is what one caller may do on one database: the policy its queries
// are checked against, the schema it is shown, and the role its queries
// run as.
type access struct {
	db     *Database
	policy *sqlguard.Policy
	schema *schema.Cache
	role   string
	who    string // identity name, "" over stdio
}

// access resolves the database argument for the caller: the database must
// be one the identity may use, and an identity with a policy of its own
// gets the database's policy narrowed by it, and a schema filtered the
// same way.
func (h *handlers) access(ctx context.Context, name string) (*access, error) {
	db, err := h.database(name)
	if err != nil {
		return nil, err
	}
	a := &access{db: db, policy: db.CurrentPolicy(), schema: db.Schema}
	id, ok := IdentityFrom(ctx)
	if !ok {
		return a, nil
	}
	a.role, a.who = id.Role, id.Name
	if len(id.Databases) > 0 && !slices.Contains(id.Databases, db.Name) {
		return nil, &Error{Code: CodeForbidden, Message: fmt.Sprintf("%s may not use database %q", id.Name, db.Name),
			Hint: "use one of: " + strings.Join(id.Databases, ", ")}
	}
	if len(id.Policy) == 0 && id.Role == "" {
		return a, nil
	}
	n, err := db.narrowed(ctx, id, a.policy)
	if err != nil {
		return nil, err
	}
	a.policy, a.schema = n.policy, n.cache
	return a, nil
}

// narrowing is a database's policy narrowed for one identity (by its own
// policy and by what its role may read), and the schema cache that goes
// with it.
type narrowing struct {
	base   *sqlguard.Policy // the database policy it was derived from
	raw    string           // the identity's policy JSON
	role   string           // the identity's role
	policy *sqlguard.Policy
	cache  *schema.Cache
}

// narrowings holds, per database, the narrowed policies by identity name.
type narrowings struct {
	mu sync.Mutex
	m  map[string]*narrowing
}

// narrowed returns the database's policy narrowed for id, derived again
// when the database's policy was reloaded (refresh, SIGHUP) or the
// identity changed. An identity with a role is also kept from what the role
// may not read: relations it has no SELECT on (nor USAGE on their schema)
// and columns it has no SELECT on are blocked, so the model is never shown
// them and a query on them is refused by the guard rather than by
// PostgreSQL.
func (db *Database) narrowed(ctx context.Context, id Identity, base *sqlguard.Policy) (*narrowing, error) {
	db.narrow.mu.Lock()
	defer db.narrow.mu.Unlock()
	if n, ok := db.narrow.m[id.Name]; ok && n.base == base && n.raw == string(id.Policy) && n.role == id.Role {
		return n, nil
	}
	extra := &sqlguard.Policy{}
	if len(id.Policy) > 0 {
		var err error
		if extra, err = sqlguard.ParseNarrowingJSON(id.Policy); err != nil {
			return nil, &Error{Code: CodeInternal, Message: "the caller's policy is invalid; the server log has the details",
				Err: fmt.Errorf("identity %s: policy: %w", id.Name, err)}
		}
	}
	if id.Role != "" {
		if err := db.roleLimits(ctx, id.Role, base, extra); err != nil {
			return nil, err
		}
	}
	p := Narrow(base, extra)
	n := &narrowing{base: base, raw: string(id.Policy), role: id.Role, policy: p,
		cache: schema.NewCache(db.Pool, SchemaFilter(p), db.Schema.Options(), nil)}
	if db.narrow.m == nil {
		db.narrow.m = map[string]*narrowing{}
	}
	db.narrow.m[id.Name] = n
	return n, nil
}

// roleLimits adds to extra the relations of base the role cannot read at
// all, and the columns it cannot read of those it can read in part.
func (db *Database) roleLimits(ctx context.Context, role string, base *sqlguard.Policy, extra *sqlguard.Policy) error {
	rows, err := db.Pool.Query(ctx, `
		SELECT n.nspname || '.' || c.relname,
		       has_schema_privilege($1, n.oid, 'USAGE') AND has_table_privilege($1, c.oid, 'SELECT'),
		       has_schema_privilege($1, n.oid, 'USAGE') AND has_any_column_privilege($1, c.oid, 'SELECT'),
		       ARRAY(SELECT a.attname::text FROM pg_attribute a
		             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		               AND NOT has_column_privilege($1, c.oid, a.attnum, 'SELECT'))
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
		  AND (n.nspname || '.' || c.relname = ANY($2)
		       OR (coalesce(cardinality($2::text[]), 0) = 0 AND n.nspname = ANY($3)))`,
		role, base.AllowedRelations, base.AllowedSchemas)
	if err != nil {
		return &Error{Code: CodeForbidden, Message: fmt.Sprintf("cannot use the caller's database role %q; the server log has the details", role),
			Hint: "the role must exist, and pgmcp's login role must be a member of it", Err: err}
	}
	defer rows.Close()
	for rows.Next() {
		var rel string
		var whole, some bool
		var denied []string
		if err := rows.Scan(&rel, &whole, &some, &denied); err != nil {
			return &Error{Code: CodeInternal, Message: "cannot read the caller's privileges", Err: err}
		}
		switch {
		case !some:
			extra.BlockedRelations = append(extra.BlockedRelations, rel)
		case !whole && len(denied) > 0:
			if extra.BlockedColumns == nil {
				extra.BlockedColumns = map[string][]string{}
			}
			extra.BlockedColumns[rel] = append(extra.BlockedColumns[rel], denied...)
		}
	}
	if err := rows.Err(); err != nil {
		return &Error{Code: CodeForbidden, Message: fmt.Sprintf("cannot use the caller's database role %q; the server log has the details", role),
			Hint: "the role must exist, and pgmcp's login role must be a member of it", Err: err}
	}
	return nil
}

// Narrow returns base restricted by extra: extra's blocked relations and
// columns are added, and when extra lists allowed relations or schemas,
// only what both allow stays allowed. It never widens base. The result
// resolves names against base's Catalog.
func Narrow(base, extra *sqlguard.Policy) *sqlguard.Policy {
	p := &sqlguard.Policy{
		Database:         base.Database,
		SearchPath:       base.SearchPath,
		AllowedSchemas:   append([]string(nil), base.AllowedSchemas...),
		AllowedRelations: append([]string(nil), base.AllowedRelations...),
		BlockedRelations: append(append([]string(nil), base.BlockedRelations...), extra.BlockedRelations...),
		BlockedColumns:   map[string][]string{},
		MaxSQLBytes:      base.MaxSQLBytes, MaxSeriesRows: base.MaxSeriesRows, MaxStringBytes: base.MaxStringBytes,
		MaxArrayElements: base.MaxArrayElements, MaxDepth: base.MaxDepth,
		// The same snapshot: narrowing only takes away.
		Catalog: base.Catalog,
	}
	for _, m := range []map[string][]string{base.BlockedColumns, extra.BlockedColumns} {
		for t, cols := range m {
			p.BlockedColumns[t] = append(p.BlockedColumns[t], cols...)
		}
	}
	fold := func(list []string) map[string]bool {
		set := map[string]bool{}
		for _, s := range list {
			set[strings.ToLower(s)] = true
		}
		return set
	}
	keep := func(rel string) bool {
		if len(extra.AllowedRelations) > 0 && !fold(extra.AllowedRelations)[strings.ToLower(rel)] {
			return false
		}
		if len(extra.AllowedSchemas) > 0 {
			s, _, _ := strings.Cut(rel, ".")
			return fold(extra.AllowedSchemas)[strings.ToLower(s)]
		}
		return true
	}
	if len(extra.AllowedRelations) == 0 && len(extra.AllowedSchemas) == 0 {
		return p
	}
	if len(p.AllowedRelations) == 0 {
		// A base by schema: intersect the schemas first.
		inBase := fold(base.AllowedSchemas)
		if len(extra.AllowedSchemas) > 0 {
			p.AllowedSchemas = slices.DeleteFunc(p.AllowedSchemas, func(s string) bool { return !fold(extra.AllowedSchemas)[strings.ToLower(s)] })
		}
		if len(extra.AllowedRelations) == 0 {
			if len(p.AllowedSchemas) == 0 {
				p.AllowedSchemas = nil // nothing both allow
			}
			return p
		}
		p.AllowedRelations = slices.DeleteFunc(append([]string(nil), extra.AllowedRelations...), func(r string) bool {
			s, _, _ := strings.Cut(r, ".")
			return !inBase[strings.ToLower(s)] || !keep(r)
		})
	} else {
		p.AllowedRelations = slices.DeleteFunc(p.AllowedRelations, func(r string) bool { return !keep(r) })
	}
	// An exact list now decides; when it is empty nothing is allowed, and
	// the schemas must not take over.
	p.AllowedSchemas = nil
	if len(p.AllowedRelations) == 0 {
		p.AllowedRelations = nil
	}
	return p
}
