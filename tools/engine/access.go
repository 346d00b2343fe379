package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// CodeForbidden refuses a caller a database its identity does not allow.
// Never rename it.
const CodeForbidden Code = "forbidden"

// Access is what one caller may do on one database: the policy its queries
// are checked against, the schema it is shown, and the role its queries
// run as.
type Access struct {
	db     *Database
	policy *sqlguard.Policy
	schema *schema.Cache
	role   string
	who    string // identity name, "" over stdio
}

// DB is the database.
func (a *Access) DB() *Database { return a.db }

// Policy is the policy the caller's queries are checked against.
func (a *Access) Policy() *sqlguard.Policy { return a.policy }

// Schema is the schema cache the caller is shown.
func (a *Access) Schema() *schema.Cache { return a.schema }

// Access resolves the database argument for the caller in ctx: the
// database must be one the identity may use, and an identity with a policy
// of its own gets the database's policy narrowed by it, and a schema
// filtered the same way.
func (e *Engine) Access(ctx context.Context, name string) (*Access, error) {
	db, err := e.Database(name)
	if err != nil {
		return nil, err
	}
	a := &Access{db: db, policy: db.CurrentPolicy(), schema: db.Schema}
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
	p := sqlguard.Narrow(base, extra)
	opts := db.Schema.Options()
	if id.Role != "" {
		// Values read as the login role would show rows the caller's role
		// may not see (row-level security): no value index for it.
		opts.Values = false
	}
	n := &narrowing{base: base, raw: string(id.Policy), role: id.Role, policy: p,
		cache: schema.NewCache(db.Pool, SchemaFilter(p), opts, nil)}
	if db.narrow.m == nil {
		db.narrow.m = map[string]*narrowing{}
	}
	db.narrow.m[id.Name] = n
	return n, nil
}

// roleLimits adds to extra the relations of base the role cannot read at
// all, and the columns it cannot read of those it can read in part.
func (db *Database) roleLimits(ctx context.Context, role string, base *sqlguard.Policy, extra *sqlguard.Policy) error {
	rels, err := pgexec.RoleAccess(ctx, db.Pool, role, base.AllowedRelations, base.AllowedSchemas)
	var pe *pgexec.Error
	switch {
	case errors.As(err, &pe) && pe.Code == pgexec.CodeRoleUnusable:
		return &Error{Code: CodeForbidden, Message: fmt.Sprintf("cannot use the caller's database role %q; the server log has the details", role),
			Hint: "the role must exist, and pgmcp's login role must be a member of it", Err: err}
	case err != nil:
		return &Error{Code: CodeInternal, Message: "cannot read the caller's privileges", Err: err}
	}
	for _, r := range rels {
		switch {
		case !r.Some:
			extra.BlockedRelations = append(extra.BlockedRelations, r.Name)
		case !r.Whole && len(r.DeniedColumns) > 0:
			if extra.BlockedColumns == nil {
				extra.BlockedColumns = map[string][]string{}
			}
			extra.BlockedColumns[r.Name] = append(extra.BlockedColumns[r.Name], r.DeniedColumns...)
		}
	}
	return nil
}
