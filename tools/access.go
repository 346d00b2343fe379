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
	if len(id.Policy) == 0 {
		return a, nil
	}
	n, err := db.narrowed(id, a.policy)
	if err != nil {
		return nil, err
	}
	a.policy, a.schema = n.policy, n.cache
	return a, nil
}

// narrowing is a database's policy narrowed for one identity, and the
// schema cache that goes with it.
type narrowing struct {
	base   *sqlguard.Policy // the database policy it was derived from
	raw    string           // the identity's policy JSON
	policy *sqlguard.Policy
	cache  *schema.Cache
}

// narrowings holds, per database, the narrowed policies by identity name.
type narrowings struct {
	mu sync.Mutex
	m  map[string]*narrowing
}

// narrowed returns the database's policy narrowed for id, derived again
// when the database's policy was reloaded or the identity's changed.
func (db *Database) narrowed(id Identity, base *sqlguard.Policy) (*narrowing, error) {
	db.narrow.mu.Lock()
	defer db.narrow.mu.Unlock()
	if n, ok := db.narrow.m[id.Name]; ok && n.base == base && n.raw == string(id.Policy) {
		return n, nil
	}
	extra, err := sqlguard.ParseNarrowingJSON(id.Policy)
	if err != nil {
		return nil, &Error{Code: CodeInternal, Message: "the caller's policy is invalid; the server log has the details",
			Err: fmt.Errorf("identity %s: policy: %w", id.Name, err)}
	}
	p := Narrow(base, extra)
	n := &narrowing{base: base, raw: string(id.Policy), policy: p,
		cache: schema.NewCache(db.Pool, SchemaFilter(p), db.Schema.Options(), nil)}
	if db.narrow.m == nil {
		db.narrow.m = map[string]*narrowing{}
	}
	db.narrow.m[id.Name] = n
	return n, nil
}

// Narrow returns base restricted by extra: extra's blocked relations and
// columns are added, and when extra lists allowed relations or schemas,
// only what both allow stays allowed. It never widens base.
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
