package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/httpauth"
	"github.com/pgmcp/pgmcp/llm"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/engine"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

const doctorUsage = `usage: pgmcp doctor

Checks, with the same PGMCP_* configuration as serve: the configuration;
each database (reachable, its version, the role is not a superuser and
cannot write, create or reach the server's files and processes, which
functions that run SQL text or change session state the role and the
callers' roles may execute, temp_file_limit, standard_conforming_strings,
no function shadowing a builtin, the policy and what its blocks imply
through partitions and inheritance children); the model endpoint. Prints
a fix for each problem. Exit status 0 when everything passes (warnings
included), 1 when something fails, 2 on a usage error.
`

// doctor collects the checklist's lines and counts the failures.
type doctor struct {
	w        io.Writer
	failures int
	warnings int
}

func (d *doctor) section(title string) { fmt.Fprintf(d.w, "\n%s\n", title) }

func (d *doctor) ok(format string, args ...any) {
	fmt.Fprintf(d.w, "  [ok]   %s\n", fmt.Sprintf(format, args...))
}

func (d *doctor) skip(format string, args ...any) {
	fmt.Fprintf(d.w, "  [skip] %s\n", fmt.Sprintf(format, args...))
}

func (d *doctor) warn(what, fix string) {
	d.warnings++
	fmt.Fprintf(d.w, "  [warn] %s\n", what)
	d.fix(fix)
}

func (d *doctor) fail(what, fix string) {
	d.failures++
	fmt.Fprintf(d.w, "  [FAIL] %s\n", what)
	d.fix(fix)
}

func (d *doctor) fix(fix string) {
	if fix == "" {
		return
	}
	lines := strings.Split(strings.TrimRight(fix, "\n"), "\n")
	fmt.Fprintf(d.w, "         fix: %s\n", lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(d.w, "              %s\n", l)
	}
}

// runDoctor is `pgmcp doctor`.
func runDoctor(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pgmcp doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, doctorUsage) }
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	d := &doctor{w: stdout}
	fmt.Fprintf(stdout, "pgmcp doctor (pgmcp %s)\n", versionString())

	d.section("Configuration")
	cfg, err := LoadConfig(environ)
	if err == nil {
		err = cfg.RequireDatabase()
	}
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				d.fail(p, "see the configuration table in README.md")
			}
		} else {
			d.fail(err.Error(), "")
		}
		return d.end()
	}
	names := make([]string, len(cfg.databases))
	for i, dc := range cfg.databases {
		names[i] = dc.Name
	}
	d.ok("PGMCP_* variables are valid; %d database%s: %s", len(names), plural(len(names), "", "s"), strings.Join(names, ", "))

	for _, dc := range cfg.databases {
		d.section(fmt.Sprintf("Database %s (%s)", dc.Name, pgexec.RedactDSN(dc.URL)))
		d.database(ctx, cfg, dc)
	}

	d.section("Model")
	d.model(ctx, cfg)
	return d.end()
}

func (d *doctor) end() int {
	fmt.Fprintln(d.w)
	switch {
	case d.failures > 0:
		fmt.Fprintf(d.w, "%d problem%s to fix", d.failures, plural(d.failures, "", "s"))
		if d.warnings > 0 {
			fmt.Fprintf(d.w, ", %d warning%s", d.warnings, plural(d.warnings, "", "s"))
		}
		fmt.Fprintln(d.w, ".")
		return exitFailure
	case d.warnings > 0:
		fmt.Fprintf(d.w, "No problem; %d warning%s.\n", d.warnings, plural(d.warnings, "", "s"))
	default:
		fmt.Fprintln(d.w, "All checks passed.")
	}
	return exitOK
}

// database checks one configured database.
func (d *doctor) database(ctx context.Context, cfg *Config, dc DatabaseConfig) {
	pol, err := policySource(cfg, dc).Build()
	if err != nil {
		d.fail("policy: "+problem(err), "fix the policy file or the PGMCP_ALLOWED_SCHEMAS / BLOCKED_* variables")
		return
	}
	start := time.Now()
	pool, err := pgexec.NewPool(ctx, dc.URL, pgexec.Options{SearchPath: pol.SearchPath, MaxConns: 2, ConnectTimeout: cfg.Limits.ConnectTimeout})
	if err != nil {
		d.fail("cannot connect: "+problem(err),
			"check the URL, that PostgreSQL runs and accepts connections from this host (listen_addresses, pg_hba.conf), and the password")
		return
	}
	defer pool.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.Limits.ConnectTimeout+30*time.Second)
	defer cancel()
	schemas := engine.PolicySchemas(pol)
	r, err := pgexec.InspectRole(ctx, pool, schemas)
	if err != nil {
		d.fail("cannot inspect the role: "+problem(err), "")
		return
	}
	d.ok("reachable in %s: PostgreSQL %s, database %s, role %s", time.Since(start).Round(time.Millisecond), r.ServerVersion, r.Database, r.Name)
	d.replication(ctx, pool, dc)

	roleFix := "connect as a read-only role; an administrator can create one with:\n" + pgexec.ReadOnlyRoleSQL(r.Database, schemas)
	roleBad := false
	switch {
	case r.Superuser:
		roleBad = true
		d.fail(fmt.Sprintf("role %s is a superuser: it can read files, run programs and change anything if a query ever got past the guard", r.Name), roleFix)
	case r.BypassRLS:
		roleBad = true
		d.fail(fmt.Sprintf("role %s has BYPASSRLS: row-level security policies do not apply to it", r.Name), roleFix)
	default:
		d.ok("role %s is not a superuser and does not bypass row-level security", r.Name)
	}
	if !r.Superuser {
		var writes []string
		if r.CreateInDatabase {
			writes = append(writes, "CREATE on database "+r.Database)
		}
		for _, s := range r.CreateSchemas {
			writes = append(writes, "CREATE on schema "+s)
		}
		writes = append(writes, r.WriteGrants...)
		if len(writes) > 0 {
			if !roleBad {
				roleBad = true
				d.fail(fmt.Sprintf("role %s can write or create: %s", r.Name, summarize(writes, 4)), roleFix)
			} else {
				d.fail(fmt.Sprintf("role %s can write or create: %s", r.Name, summarize(writes, 4)), "see above")
			}
		} else {
			d.ok("role %s cannot write nor create in %s", r.Name, strings.Join(schemas, ", "))
		}
		if len(r.ServerRoles) > 0 {
			d.fail(fmt.Sprintf("role %s is a member of %s", r.Name, strings.Join(r.ServerRoles, ", ")),
				fmt.Sprintf("REVOKE %s FROM %s;", strings.Join(r.ServerRoles, ", "), pgx.Identifier{r.Name}.Sanitize()))
		} else {
			d.ok("role %s is not in pg_read_server_files, pg_write_server_files, pg_execute_server_program nor pg_signal_backend", r.Name)
		}
		d.functions(ctx, pool, cfg, dc, r)
	}
	d.tempFileLimit(ctx, pool, r)

	// What the server gives a client that does not pin the setting
	// (pgmcp pins it on, but a pooler in transaction mode may drop
	// start-up parameters).
	if scs, err := pgexec.PlainSetting(ctx, dc.URL, cfg.Limits.ConnectTimeout, "standard_conforming_strings"); err != nil {
		d.fail(problem(err), "")
	} else if scs != "on" {
		d.fail("standard_conforming_strings is "+scs+": backslashes in string literals are escapes, which parsers disagree on",
			fmt.Sprintf("ALTER DATABASE %s SET standard_conforming_strings = on;  (pgmcp pins it on in its own sessions, but a connection pooler may not pass that through)",
				pgx.Identifier{r.Database}.Sanitize()))
	} else {
		d.ok("standard_conforming_strings is on")
	}

	shadows, err := pgexec.Shadowing(ctx, pool, sqlguard.AllowedFunctions(), sqlguard.AllowedOperators(), pol.SearchPath)
	switch {
	case err != nil:
		d.fail("cannot list functions and operators: "+problem(err), "")
	case len(shadows) > 0:
		d.fail(fmt.Sprintf("%d function%s or operator%[2]s outside pg_catalog could be called instead of a builtin the guard allows: %s",
			len(shadows), plural(len(shadows), "", "s"), summarize(shadows, 5)),
			"drop or rename them, or take the schemas holding them off PGMCP_SEARCH_PATH and the allowed schemas (pgmcp refuses to start until then)")
	default:
		d.ok("no function or operator shadows a builtin the guard allows (search_path %s)", strings.Join(pol.SearchPath, ", "))
	}

	if len(shadows) == 0 {
		if err := engine.ResolvePolicy(ctx, pool, pol); err != nil {
			d.fail("policy: "+problem(err), "fix the policy so that it matches the database")
		} else {
			p := pol
			d.ok("policy: %d relation%s readable; %d blocked table%s, %d blocked column%s",
				len(p.AllowedRelations), plural(len(p.AllowedRelations), "", "s"),
				len(p.BlockedRelations), plural(len(p.BlockedRelations), "", "s"),
				countColumns(p.BlockedColumns), plural(countColumns(p.BlockedColumns), "", "s"))
			d.inheritance(p)
			d.grants(ctx, pool, r.Name, p.AllowedRelations)
			d.examples(dc, p)
		}
	}
}

// functions checks which of pgexec.FunctionGroups the login role, and
// every role pgmcp may switch to for a caller, may EXECUTE: one line per
// group present in the database, with the REVOKE statements that close it.
//
// A group executable only through PostgreSQL's default grant to PUBLIC is
// a warning: every database starts that way, the guard refuses all of
// these functions and pgmcp needs none of them, and the fix (a REVOKE
// FROM PUBLIC) changes what every role of the database may do, which may
// not be the pgmcp operator's call. A group executable through a grant
// someone made (to the role, or to a role it inherits from), or by a
// superuser caller role, is a failure, like a write grant: the role was
// given more than a read-only role has.
func (d *doctor) functions(ctx context.Context, pool *pgxpool.Pool, cfg *Config, dc DatabaseConfig, r pgexec.RoleReport) {
	callers, source, err := callerRoles(ctx, pool, cfg, dc, r.Name)
	if err != nil {
		d.fail("cannot list the roles pgmcp may switch to: "+problem(err), "fix the tokens file (pgmcp token new writes valid entries)")
		return
	}
	rep, err := pgexec.CheckFunctions(ctx, pool, append([]string{r.Name}, callers...))
	if err != nil {
		d.fail("cannot check which functions the role may execute: "+problem(err), "")
		return
	}
	if n := len(rep.Missing); n > 0 {
		d.warn(fmt.Sprintf("%s names %s that %s not exist in database %s: %s; the calls of those callers fail",
			source, plural(n, "a role", "roles"), plural(n, "does", "do"), r.Database, strings.Join(rep.Missing, ", ")),
			fmt.Sprintf("create %s (CREATE ROLE name NOLOGIN; GRANT name TO %s;), or correct %s", plural(n, "it", "them"), pgx.Identifier{r.Name}.Sanitize(), source))
	}
	who := rep.Roles[0]
	if len(rep.Roles) > 1 {
		who += " and the role" + plural(len(rep.Roles)-1, "", "s") + " of " + source + " (" + list(rep.Roles[1:], 4) + ")"
	}
	caveat := true
	for _, c := range rep.Groups {
		if len(c.Grants) == 0 {
			d.ok("%s may not execute %s", who, c.Group.Title)
			continue
		}
		what := fmt.Sprintf("%s (%s risk): %s; SQL that got past the guard could %s", c.Group.Title, c.Group.Risk, executable(c.Grants), c.Group.Does)
		var fix []string
		public := false
		for _, g := range c.Grants {
			public = public || g.Public
		}
		if public && caveat {
			caveat = false
			fix = append(fix, fmt.Sprintf("in database %s, as its owner or a superuser (function privileges are per database, and FROM PUBLIC takes EXECUTE from every role of this database: grant back what your applications use; see \"Hardening the role\" in docs/ROLES.md):",
				pgx.Identifier{r.Database}.Sanitize()))
		}
		fix = append(fix, c.Revokes()...)
		for _, g := range c.Grants {
			if g.Superuser && !slices.Contains(fix, "-- "+g.Role+" is a superuser: do not let pgmcp switch to it") {
				fix = append(fix, "-- "+g.Role+" is a superuser: do not let pgmcp switch to it")
			}
		}
		if c.Explicit() {
			d.fail(what, strings.Join(fix, "\n"))
		} else {
			d.warn(what, strings.Join(fix, "\n"))
		}
	}
}

// executable says who may execute what, and through which grant: roles
// that may execute the same functions the same way share one clause.
func executable(grants []pgexec.FunctionGrant) string {
	type clause struct {
		roles []string
		names []string
		how   string
	}
	byRole := map[string]*clause{}
	var order []string
	for _, g := range grants {
		c := byRole[g.Role]
		if c == nil {
			c = &clause{}
			byRole[g.Role] = c
			order = append(order, g.Role)
		}
		if !slices.Contains(c.names, g.Name) {
			c.names = append(c.names, g.Name)
		}
		var hows []string
		if g.Superuser {
			hows = append(hows, "as a superuser")
		}
		if g.Public {
			hows = append(hows, "through PUBLIC")
		}
		for _, grantee := range g.Grantees {
			hows = append(hows, "granted to "+grantee)
		}
		for _, h := range hows {
			if !strings.Contains(c.how, h) {
				if c.how != "" {
					c.how += ", "
				}
				c.how += h
			}
		}
	}
	var merged []*clause
	for _, role := range order {
		c := byRole[role]
		found := false
		for _, m := range merged {
			if m.how == c.how && slices.Equal(m.names, c.names) {
				m.roles = append(m.roles, role)
				found = true
				break
			}
		}
		if !found {
			merged = append(merged, &clause{roles: []string{role}, names: c.names, how: c.how})
		}
	}
	parts := make([]string, len(merged))
	for i, m := range merged {
		parts[i] = fmt.Sprintf("%s may execute %s, %s", list(m.roles, 4), strings.Join(m.names, ", "), m.how)
	}
	return strings.Join(parts, "; ")
}

// list joins at most n items with commas and says how many more there are.
func list(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// callerRoles returns the roles pgmcp may switch to for callers of
// database dc, and where they come from: the roles of the tokens file's
// entries that may use dc, and with a JWT role claim every role the login
// role may SET ROLE to that PGMCP_AUTH_ALLOWED_ROLES lets a claim name.
func callerRoles(ctx context.Context, pool *pgxpool.Pool, cfg *Config, dc DatabaseConfig, login string) ([]string, string, error) {
	var roles, sources []string
	if cfg.Auth.TokensFile != "" {
		data, err := os.ReadFile(cfg.Auth.TokensFile)
		if err != nil {
			return nil, "", err
		}
		entries, err := httpauth.ParseTokensFile(data)
		if err != nil {
			return nil, "", fmt.Errorf("tokens file %s: %w", cfg.Auth.TokensFile, err)
		}
		for _, e := range entries {
			if e.Role != "" && e.Role != login && !slices.Contains(roles, e.Role) && (len(e.Databases) == 0 || slices.Contains(e.Databases, dc.Name)) {
				roles = append(roles, e.Role)
			}
		}
		sources = append(sources, "the tokens file")
	}
	if cfg.Auth.JWKSURL != "" && cfg.Auth.RoleClaim != "" {
		// The roles a claim may name: those PGMCP_AUTH_ALLOWED_ROLES
		// matches among the roles the login role may switch to, never a
		// pg_* role (httpauth refuses them whatever the list).
		members, err := pgexec.CallerRoles(ctx, pool, login)
		if err != nil {
			return nil, "", err
		}
		for _, m := range members {
			if slices.Contains(roles, m) || strings.HasPrefix(strings.ToLower(m), "pg_") {
				continue
			}
			for _, pat := range cfg.Auth.AllowedRoles {
				if ok, err := path.Match(pat, m); err == nil && ok {
					roles = append(roles, m)
					break
				}
			}
		}
		sources = append(sources, "the JWT role claim")
	}
	return roles, strings.Join(sources, " and "), nil
}

// tempFileLimit warns when the login role's queries may write temporary
// files without bound. temp_file_limit is a superuser setting that SET
// ROLE does not change: the login role's value bounds every caller.
func (d *doctor) tempFileLimit(ctx context.Context, pool *pgxpool.Pool, r pgexec.RoleReport) {
	v, err := pgexec.TempFileLimit(ctx, pool)
	switch {
	case err != nil:
		d.fail("cannot read temp_file_limit: "+problem(err), "")
	case v == "-1":
		d.warn(fmt.Sprintf("temp_file_limit is unset (-1) for role %s: one query can write temporary files (sorts, hashes) until the disk is full", r.Name),
			fmt.Sprintf("as a superuser (%s is an example: the most temporary file space one query may use; new sessions pick it up, and a caller's role does not change it):\n%s",
				pgexec.TempFileLimitExample, pgexec.TempFileLimitSQL(pgx.Identifier{r.Name}.Sanitize())))
	default:
		d.ok("temp_file_limit is %s for role %s: it bounds the temporary files of each query, whatever the caller's role", v, r.Name)
	}
}

// inheritance says what the policy's blocks imply through partitions and
// inheritance children: a warning when a parent can then be read only with
// ONLY, a note when the partitions or children of a blocked table are
// blocked with it.
func (d *doctor) inheritance(p *sqlguard.Policy) {
	in := engine.InheritanceOf(p)
	switch {
	case len(in.Parents) > 0:
		d.warn("partitions and inheritance: "+in.String(),
			"query such a parent with ONLY (SELECT ... FROM ONLY parent) or query its partitions and children directly;\n"+
				"or, if the whole parent is meant to be readable, unblock and allow its partitions and children (and their columns)")
	case len(in.Children) > 0:
		d.ok("partitions and inheritance: %s", in.String())
	case in.Parented > 0:
		d.ok("partitions and inheritance: no block reaches through the %d partition%s and inheritance children", in.Parented, plural(in.Parented, "", "s"))
	}
}

// grants checks the role may read what the policy allows: a relation the
// policy shows but the role cannot SELECT (not even one column) would be
// offered to the model and fail at run time with "permission denied".
func (d *doctor) grants(ctx context.Context, pool *pgxpool.Pool, role string, relations []string) {
	denied, err := pgexec.UnreadableRelations(ctx, pool, relations)
	switch {
	case err != nil:
		d.fail(problem(err), "")
	case len(denied) > 0:
		d.warn(fmt.Sprintf("role %s cannot read %d relation%s the policy allows, so the model is shown them and queries on them fail: %s",
			role, len(denied), plural(len(denied), "", "s"), summarize(denied, 5)),
			fmt.Sprintf("GRANT SELECT ON %s TO %s;  (and USAGE on their schemas), or block them in the policy (blocked_relations)", strings.Join(denied, ", "), pgx.Identifier{role}.Sanitize()))
	default:
		d.ok("role %s may read every relation the policy allows", role)
	}
}

// examples checks the few-shot examples file as serve does: every example
// must pass the guard.
func (d *doctor) examples(dc DatabaseConfig, pol *sqlguard.Policy) {
	if dc.ExamplesFile == "" {
		return
	}
	ex, err := engine.LoadExamples(dc.ExamplesFile, pol)
	if err != nil {
		d.fail(err.Error(), "fix or remove the example (pgmcp refuses to start until then)")
		return
	}
	d.ok("examples file %s: %d example%s, all accepted by the guard", dc.ExamplesFile, len(ex), plural(len(ex), "", "s"))
}

func countColumns(m map[string][]string) int {
	n := 0
	for _, cols := range m {
		n += len(cols)
	}
	return n
}

// summarize lists at most n items and says how many more there are.
func summarize(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:n], "; ") + fmt.Sprintf("; and %d more", len(items)-n)
}

// model checks the model endpoint: it lists its models, and the
// configured one should be among them.
func (d *doctor) model(ctx context.Context, cfg *Config) {
	m, err := newModel(cfg, newLogger(io.Discard, 0))
	if err != nil {
		d.fail(err.Error(), "set PGMCP_LLM_MODEL and PGMCP_LLM_BASE_URL (or PGMCP_LLM_API_KEY for OpenAI)")
		return
	}
	if m == nil {
		d.skip("no model configured: questions in plain English are refused, SQL works (set PGMCP_LLM_MODEL and PGMCP_LLM_BASE_URL or PGMCP_LLM_API_KEY)")
		return
	}
	start := time.Now()
	models, listErr := m.Models(ctx)
	took := time.Since(start).Round(time.Millisecond)
	if listErr == nil && slices.Contains(models, m.Model()) {
		d.ok("%s answers in %s and serves model %s", m.Host(), took, m.Model())
		return
	}
	// Not listed (local servers often list file names, or nothing), or no
	// model list at all: one tiny completion says whether the model works.
	start = time.Now()
	_, err = m.Complete(ctx, llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Reply with the single word OK."}}, MaxTokens: 16})
	took = time.Since(start).Round(time.Millisecond)
	if err == nil {
		d.ok("%s answers a completion with model %s in %s", m.Host(), m.Model(), took)
		return
	}
	fix := "check PGMCP_LLM_BASE_URL (it usually ends in /v1, e.g. http://localhost:11434/v1 for Ollama) and that the server runs"
	var le *llm.Error
	switch {
	case errors.As(err, &le) && (le.Status == http.StatusUnauthorized || le.Status == http.StatusForbidden):
		fix = "check PGMCP_LLM_API_KEY"
	case listErr == nil && len(models) > 0:
		fix = fmt.Sprintf("set PGMCP_LLM_MODEL to a model the endpoint serves: %s (for Ollama: ollama pull %s)", summarize(models, 5), m.Model())
	case errors.As(err, &le) && le.Code == llm.CodeTimeout:
		fix = "the endpoint is slow or hanging: check it, or raise PGMCP_LLM_TIMEOUT"
	}
	d.fail(fmt.Sprintf("model %s at %s does not answer: %v", m.Model(), m.Host(), err), fix)
}

// replication reports the target_session_attrs of dc's URL when they
// mislead (read-only, read-write), and the server the pool reached: a
// primary, or a standby with its replay lag.
func (d *doctor) replication(ctx context.Context, pool *pgxpool.Pool, dc DatabaseConfig) {
	if w := pgexec.SessionAttrsWarning(dc.URL); w != "" {
		d.warn(w, "set target_session_attrs=standby or prefer-standby in the URL (primary to reach only the primary)")
	}
	rep, err := pgexec.ReplicationStatus(ctx, pool)
	if err != nil {
		d.fail("cannot read the replication status: "+problem(err), "")
		return
	}
	attrs := pgexec.SessionAttrs(dc.URL)
	if !rep.InRecovery {
		if attrs == pgexec.AttrsPreferStandby {
			d.warn(fmt.Sprintf("target_session_attrs=prefer-standby, but the server reached (%s) is a primary: no standby answered", rep.Server),
				"check the standbys of the URL; calls use the primary meanwhile and return to a standby when one is up")
			return
		}
		d.ok("server %s is a primary (target_session_attrs=%s)", rep.Server, attrs)
		return
	}
	lag := "no transaction replayed yet"
	if rep.HasReplay {
		lag = "last replayed transaction committed " + rep.ReplayLag.Round(time.Millisecond).String() + " ago (this grows while the primary is idle)"
	}
	d.ok("server %s is a standby (target_session_attrs=%s): %s; %d bytes of WAL received and not yet replayed (received %s, replayed %s)",
		rep.Server, attrs, lag, rep.LagBytes, orDash(rep.ReceivedLSN), orDash(rep.ReplayedLSN))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
