package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/prompts"
	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// DatabaseSpec is how to open one database: what serve and the terminal
// commands share.
type DatabaseSpec struct {
	// Name is what clients pass as the database argument.
	Name string
	// URL is the database URL (a secret: logged only through
	// pgexec.RedactDSN).
	URL string
	// Policy is where the policy comes from; its Database field is set
	// from Name when empty.
	Policy PolicySource
	// ExamplesFile, when set, holds few-shot examples for the model
	// (prompts.LoadExamples), each checked by the guard.
	ExamplesFile string
	// Pool are the pool's options; the search path is the policy's.
	Pool pgexec.Options
	// AllowPrivilegedRole lets a superuser or BYPASSRLS role be used,
	// with a warning (PGMCP_ALLOW_PRIVILEGED_ROLE); otherwise Open refuses
	// one.
	AllowPrivilegedRole bool
	// Schema tunes the schema cache (nil: schema.DefaultOptions()).
	Schema *schema.Options
}

// Open connects to a database, refuses a privileged role (unless
// allowed) and warns about one that can write, resolves its policy against
// the catalog, reads its server settings and examples, and returns it
// ready to serve. It fails within the pool's connect timeout when the
// database cannot be reached.
func Open(ctx context.Context, spec DatabaseSpec, logger *slog.Logger) (*Database, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if spec.Policy.Database == "" {
		spec.Policy.Database = spec.Name
	}
	pol, err := spec.Policy.Build()
	if err != nil {
		return nil, err
	}
	opts := spec.Pool
	opts.SearchPath = pol.SearchPath
	if w := pgexec.SessionAttrsWarning(spec.URL); w != "" {
		logger.Warn(w, "database", spec.Name)
	}
	pool, err := pgexec.NewPool(ctx, spec.URL, opts)
	if err != nil {
		return nil, fmt.Errorf("database %q: %w", spec.Name, err)
	}
	ok := false
	defer func() {
		if !ok {
			pool.Close()
		}
	}()
	timeout := opts.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := CheckRole(ictx, pool, spec.Name, PolicySchemas(pol), spec.AllowPrivilegedRole, logger); err != nil {
		return nil, err
	}
	if err := ResolvePolicy(ictx, pool, pol); err != nil {
		return nil, fmt.Errorf("database %q: %w", spec.Name, err)
	}
	if in := InheritanceOf(pol); !in.Empty() {
		logger.Warn("the policy's blocks reach through partitions and inheritance: "+in.String(),
			"database", spec.Name, "parents", strings.Join(in.ParentNames, ","))
	}
	src := spec.Policy
	resolve := func(ctx context.Context) (*sqlguard.Policy, error) {
		p, err := src.Build()
		if err != nil {
			return nil, err
		}
		if err := ResolvePolicy(ctx, pool, p); err != nil {
			return nil, err
		}
		return p, nil
	}
	db := &Database{Name: spec.Name, Pool: pool, Policy: pol, Resolve: resolve, SchemaOptions: spec.Schema}
	if db.ServerVersion, db.TimeZone, err = pgexec.ServerSettings(ictx, pool); err != nil {
		return nil, fmt.Errorf("database %q: %w", spec.Name, err)
	}
	if spec.ExamplesFile != "" {
		if db.Examples, err = LoadExamples(spec.ExamplesFile, pol); err != nil {
			return nil, configError("database %q: %v", spec.Name, err)
		}
	}
	if pgexec.TransactionPooled(pool) {
		how := "as configured (PGMCP_POOLER=transaction)"
		if opts.Pooler == pgexec.PoolerAuto {
			how = "detected: the server refused pgmcp's start-up parameters, as PgBouncer does"
		}
		logger.Warn("transaction pooling: every transaction sets its own read-only mode, timeouts, role and search_path, "+
			"and nothing is prepared on a session; the pooler must reset each server session after use "+
			"(PgBouncer: server_reset_query = DISCARD ALL and server_reset_query_always = 1)", "database", spec.Name, "pooler", how)
	}
	logger.Info("database ready", "database", spec.Name, "url", pgexec.RedactDSN(spec.URL), "postgres", db.ServerVersion,
		"schemas", strings.Join(PolicySchemas(pol), ","), "relations", len(pol.AllowedRelations), "examples", len(db.Examples))
	ok = true
	return db, nil
}

// LoadExamples reads a few-shot examples file and checks every example's
// SQL with the guard: an example must never show the model a table or
// column the policy hides.
func LoadExamples(path string, pol *sqlguard.Policy) ([]prompts.Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("examples file: %v", err)
	}
	defer f.Close()
	ex, err := prompts.LoadExamples(f)
	if err != nil {
		return nil, fmt.Errorf("examples file %s: %v", path, err)
	}
	for i, e := range ex {
		if _, err := sqlguard.Check(e.SQL, pol); err != nil {
			return nil, fmt.Errorf("examples file %s: example %d (%q) is refused by the guard: %v", path, i+1, e.Question, err)
		}
	}
	return ex, nil
}

// CheckRole refuses a superuser or BYPASSRLS role unless allowPrivileged,
// and warns once when the role can write.
func CheckRole(ctx context.Context, pool *pgxpool.Pool, name string, schemas []string, allowPrivileged bool, logger *slog.Logger) error {
	r, err := pgexec.InspectRole(ctx, pool, schemas)
	if err != nil {
		return fmt.Errorf("database %q: cannot inspect the role: %w", name, err)
	}
	if r.Privileged() {
		what := "a superuser"
		if !r.Superuser {
			what = "a role with BYPASSRLS"
		}
		if !allowPrivileged {
			return &pgexec.Error{Code: pgexec.CodePrivilegedRole, Message: fmt.Sprintf(
				"database %q: refusing to run as %s (role %q); connect as a read-only role, or set PGMCP_ALLOW_PRIVILEGED_ROLE=true to accept the risk", name, what, r.Name)}
		}
		logger.Warn("running as a privileged role because PGMCP_ALLOW_PRIVILEGED_ROLE=true: the read-only guard and session settings are the only protection",
			"database", name, "role", r.Name, "superuser", r.Superuser, "bypassrls", r.BypassRLS)
	}
	if r.CanWrite() && !r.Superuser {
		logger.Warn("the database role can write: pgmcp only reads, but a role that can only read is the safer setup",
			"database", name, "role", r.Name, "grants", strings.Join(r.WriteSummary(), "; "),
			"fix", pgexec.ReadOnlyRoleSQL(r.Database, schemas))
	}
	return nil
}

// LoginRoles are the roles the databases' pools log in as (session_user,
// and current_user if a role setting changes it at connection), each read
// within timeout: no caller may be given one of them as its role.
func LoginRoles(ctx context.Context, dbs []*Database, timeout time.Duration) ([]string, error) {
	var roles []string
	for _, db := range dbs {
		qctx, cancel := context.WithTimeout(ctx, timeout)
		session, current, err := pgexec.SessionRoles(qctx, db.Pool)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("database %q: read the login role: %w", db.Name, err)
		}
		for _, r := range []string{session, current} {
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	return roles, nil
}
