package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// dbPolicy is the sqlguard policy of one database, plus what start-up
// learns from its catalog.
type dbPolicy struct {
	*sqlguard.Policy
}

// buildPolicy makes a database's policy: from its inline policy or policy
// file, else from PGMCP_ALLOWED_SCHEMAS / PGMCP_SEARCH_PATH; the
// PGMCP_BLOCKED_* lists are added either way (they only take away).
func buildPolicy(cfg *Config, dc DatabaseConfig) (*dbPolicy, error) {
	var p *sqlguard.Policy
	switch {
	case len(dc.Policy) > 0:
		var err error
		if p, err = sqlguard.ParsePolicyJSON(dc.Policy); err != nil {
			return nil, &ConfigError{Problems: []string{fmt.Sprintf("database %q: policy: %v", dc.Name, err)}}
		}
	case dc.PolicyFile != "":
		b, err := os.ReadFile(dc.PolicyFile)
		if err != nil {
			return nil, &ConfigError{Problems: []string{fmt.Sprintf("database %q: cannot read policy file %s", dc.Name, dc.PolicyFile)}}
		}
		if p, err = sqlguard.ParsePolicyJSON(b); err != nil {
			return nil, &ConfigError{Problems: []string{fmt.Sprintf("database %q: policy file %s: %v", dc.Name, dc.PolicyFile, err)}}
		}
	default:
		p = &sqlguard.Policy{AllowedSchemas: cfg.AllowedSchemas}
		if len(p.AllowedSchemas) == 0 {
			p.AllowedSchemas = []string{"public"}
		}
	}
	if len(cfg.SearchPath) > 0 {
		p.SearchPath = cfg.SearchPath
	}
	if len(p.SearchPath) == 0 {
		p.SearchPath = p.AllowedSchemas
		if len(p.SearchPath) == 0 {
			p.SearchPath = []string{"public"}
		}
	}
	p.BlockedRelations = append(p.BlockedRelations, cfg.BlockedTables...)
	for _, c := range cfg.BlockedColumns {
		parts := strings.Split(c, ".")
		if p.BlockedColumns == nil {
			p.BlockedColumns = map[string][]string{}
		}
		table := parts[0] + "." + parts[1]
		p.BlockedColumns[table] = append(p.BlockedColumns[table], parts[2])
	}
	return &dbPolicy{Policy: p}, nil
}

// schemas returns every schema the policy lets be read.
func (p *dbPolicy) schemas() []string { return tools.SchemaFilter(p.Policy).Schemas }

// catalogSchemas returns the schemas whose catalog the guard resolves a
// policy's names against: those of its search path (public when it has
// none), then those it allows.
func catalogSchemas(p *sqlguard.Policy) []string {
	out := append([]string(nil), p.SearchPath...)
	if len(out) == 0 {
		out = []string{"public"}
	}
	for _, s := range tools.SchemaFilter(p).Schemas {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// resolve fills in what the catalog knows: the database name, the exact
// relation list of the allowed schemas, the blocks that partitions
// inherit from their blocked parents, and the catalog snapshot the guard
// resolves names against (of the search path and the allowed schemas). It
// then checks that no function outside pg_catalog shadows an allowlisted
// builtin.
func (p *dbPolicy) resolve(ctx context.Context, pool *pgxpool.Pool) error {
	var dbname string
	if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&dbname); err != nil {
		return fmt.Errorf("read the database name: %w", err)
	}
	if p.Database != "" && p.Database != dbname {
		return &ConfigError{Problems: []string{fmt.Sprintf("the policy is for database %q but the URL connects to %q", p.Database, dbname)}}
	}
	p.Database = dbname

	cat, err := pgexec.LoadCatalog(ctx, pool, catalogSchemas(p.Policy))
	if err != nil {
		return err
	}
	p.Catalog = cat

	rels, err := pgexec.ListRelations(ctx, pool, p.schemas())
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
			strings.Join(shadows, ", "), plural(len(shadows), "s", ""), plural(len(shadows), "it", "them"), plural(len(shadows), "it", "them"), strings.Join(p.SearchPath, ", "))}
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
