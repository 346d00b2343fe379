package engine

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// CodeInvalidConfig is the code of a start-up failure that is the
// configuration's fault (a policy that does not parse or names another
// database, an examples file the guard refuses). It is never sent to a
// client. Never rename it.
const CodeInvalidConfig Code = "invalid_config"

// configError is an invalid_config error.
func configError(format string, args ...any) error {
	return &Error{Code: CodeInvalidConfig, Message: fmt.Sprintf(format, args...)}
}

// PolicySource is where a database's policy comes from: an inline policy,
// else a policy file (read again at every reload), else the allowed
// schemas; the search path and the blocked lists apply to each (the blocks
// only take away).
type PolicySource struct {
	// Database names the database in messages.
	Database string
	// JSON is an inline policy (sqlguard's JSON format).
	JSON []byte
	// File is a policy file, when JSON is empty.
	File string
	// AllowedSchemas are the schemas allowed without a policy (default
	// public).
	AllowedSchemas []string
	// SearchPath, when set, replaces the policy's search path.
	SearchPath []string
	// BlockedTables are blocked relations (schema.table).
	BlockedTables []string
	// BlockedColumns are blocked columns (schema.table.column).
	BlockedColumns []string
}

// Build makes the policy, not yet resolved against a catalog (see
// ResolvePolicy).
func (src PolicySource) Build() (*sqlguard.Policy, error) {
	var p *sqlguard.Policy
	switch {
	case len(src.JSON) > 0:
		var err error
		if p, err = sqlguard.ParsePolicyJSON(src.JSON); err != nil {
			return nil, configError("database %q: policy: %v", src.Database, err)
		}
	case src.File != "":
		b, err := os.ReadFile(src.File)
		if err != nil {
			return nil, configError("database %q: cannot read policy file %s", src.Database, src.File)
		}
		if p, err = sqlguard.ParsePolicyJSON(b); err != nil {
			return nil, configError("database %q: policy file %s: %v", src.Database, src.File, err)
		}
	default:
		p = &sqlguard.Policy{AllowedSchemas: src.AllowedSchemas}
		if len(p.AllowedSchemas) == 0 {
			p.AllowedSchemas = []string{"public"}
		}
	}
	if len(src.SearchPath) > 0 {
		p.SearchPath = src.SearchPath
	}
	if len(p.SearchPath) == 0 {
		p.SearchPath = p.AllowedSchemas
		if len(p.SearchPath) == 0 {
			p.SearchPath = []string{"public"}
		}
	}
	p.BlockedRelations = append(p.BlockedRelations, src.BlockedTables...)
	for _, c := range src.BlockedColumns {
		parts := strings.Split(c, ".")
		if len(parts) != 3 {
			return nil, configError("blocked column %q: want schema.table.column", c)
		}
		if p.BlockedColumns == nil {
			p.BlockedColumns = map[string][]string{}
		}
		table := parts[0] + "." + parts[1]
		p.BlockedColumns[table] = append(p.BlockedColumns[table], parts[2])
	}
	return p, nil
}

// PolicySchemas returns every schema the policy lets be read.
func PolicySchemas(p *sqlguard.Policy) []string { return SchemaFilter(p).Schemas }

// CatalogSchemas returns the schemas whose catalog the guard resolves a
// policy's names against: those of its search path (public when it has
// none), then those it allows.
func CatalogSchemas(p *sqlguard.Policy) []string {
	out := append([]string(nil), p.SearchPath...)
	if len(out) == 0 {
		out = []string{"public"}
	}
	for _, s := range SchemaFilter(p).Schemas {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// ResolvePolicy fills in what the catalog knows: the database name, the
// exact relation list of the allowed schemas, the blocks that partitions
// inherit from their blocked parents, and the catalog snapshot the guard
// resolves names against (of the search path and the allowed schemas). It
// then checks that no function outside pg_catalog shadows an allowlisted
// builtin.
func ResolvePolicy(ctx context.Context, pool *pgxpool.Pool, p *sqlguard.Policy) error {
	dbname, err := pgexec.CurrentDatabase(ctx, pool)
	if err != nil {
		return fmt.Errorf("read the database name: %w", err)
	}
	if p.Database != "" && p.Database != dbname {
		return configError("the policy is for database %q but the URL connects to %q", p.Database, dbname)
	}
	p.Database = dbname

	cat, err := pgexec.LoadCatalog(ctx, pool, CatalogSchemas(p))
	if err != nil {
		return err
	}
	p.Catalog = cat

	rels, err := pgexec.ListRelations(ctx, pool, PolicySchemas(p))
	if err != nil {
		return err
	}
	blocked := map[string]bool{}
	for _, b := range p.BlockedRelations {
		blocked[strings.ToLower(b)] = true
	}
	blockedCols := map[string][]string{}
	for t, cols := range p.BlockedColumns {
		blockedCols[strings.ToLower(t)] = cols
	}
	explicit := map[string]bool{}
	for _, r := range p.AllowedRelations {
		explicit[strings.ToLower(r)] = true
	}
	var allowed []string
	for _, r := range rels {
		name, root := strings.ToLower(r.Name), strings.ToLower(r.Root)
		// A partition is as blocked as the table it belongs to.
		if r.Root != r.Name {
			if blocked[root] {
				p.BlockedRelations = append(p.BlockedRelations, r.Name)
				blocked[name] = true
			}
			if cols, ok := blockedCols[root]; ok {
				if p.BlockedColumns == nil {
					p.BlockedColumns = map[string][]string{}
				}
				p.BlockedColumns[r.Name] = append(p.BlockedColumns[r.Name], cols...)
			}
		}
		if blocked[name] {
			continue
		}
		if len(explicit) > 0 && !explicit[name] && !explicit[root] {
			continue
		}
		allowed = append(allowed, r.Name)
	}
	p.AllowedRelations = allowed

	shadows, err := pgexec.Shadowing(ctx, pool, sqlguard.AllowedFunctions(), sqlguard.AllowedOperators(), p.SearchPath)
	if err != nil {
		return err
	}
	if len(shadows) > 0 {
		return &pgexec.Error{Code: pgexec.CodeFunctionShadowed, Message: fmt.Sprintf(
			"refusing to start: %s shadow%s builtin functions or operators pgmcp allows (the CVE-2018-1058 class: an unqualified call could run %s); drop or move %s out of the search path (%s)",
			strings.Join(shadows, ", "), pick(len(shadows), "s", ""), pick(len(shadows), "it", "them"), pick(len(shadows), "it", "them"), strings.Join(p.SearchPath, ", "))}
	}
	return nil
}

// LoadPolicyCatalog sets policy's catalog from the database at url (the
// schemas of its search path and those it allows), and its database name
// when the policy has none, within timeout. The session is pgexec's:
// read-only, the policy's search path pinned. Unlike ResolvePolicy it
// leaves the policy's relation lists as they are (pgmcp check).
func LoadPolicyCatalog(ctx context.Context, url string, policy *sqlguard.Policy, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	searchPath := policy.SearchPath
	if len(searchPath) == 0 {
		searchPath = []string{"public"}
	}
	pool, err := pgexec.NewPool(ctx, url, pgexec.Options{SearchPath: searchPath, MaxConns: 1, ConnectTimeout: timeout})
	if err != nil {
		return err
	}
	defer pool.Close()
	if policy.Database == "" {
		var err error
		if policy.Database, err = pgexec.CurrentDatabase(ctx, pool); err != nil {
			return fmt.Errorf("cannot read the database name: %s", pgexec.ScrubPassword(err.Error(), url))
		}
	}
	cat, err := pgexec.LoadCatalog(ctx, pool, CatalogSchemas(policy))
	if err != nil {
		return err
	}
	policy.Catalog = cat
	return nil
}
