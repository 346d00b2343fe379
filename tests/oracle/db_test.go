package oracle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/pgtest"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// explainTimeout bounds one EXPLAIN (planning can evaluate immutable
// functions of constants).
const explainTimeout = 5 * time.Second

// oracleRole is a SELECT-only login role: a member of pg_read_all_data
// (PostgreSQL 14 and later), so that it may read every table and column of
// every database, blocked ones included. It must: EXPLAIN checks
// privileges, and a role that could not read a blocked column would turn
// an escape into a permission error the oracle cannot see. Its sessions
// default to READ ONLY transactions and a statement timeout.
type oracleRole struct {
	srv            *pgtest.Server
	name, password string
}

var (
	roleMu sync.Mutex
	roles  = map[*pgtest.Server]*oracleRole{}
)

// sharedRole returns the oracle role of the test binary's server, creating
// it on first use. Roles are cluster-wide, so the name is unique to this
// process (an external server may be shared).
func sharedRole(tb testing.TB) *oracleRole {
	tb.Helper()
	srv := pgtest.Shared(tb)
	roleMu.Lock()
	defer roleMu.Unlock()
	if r := roles[srv]; r != nil {
		return r
	}
	r := &oracleRole{srv: srv, name: "pgmcp_oracle_" + randomSuffix(), password: "oracle-" + randomSuffix()}
	err := adminExec(context.Background(), srv, fmt.Sprintf(`
		CREATE ROLE %[1]s LOGIN PASSWORD '%[2]s' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
		GRANT pg_read_all_data TO %[1]s;
		ALTER ROLE %[1]s SET default_transaction_read_only = on;
		ALTER ROLE %[1]s SET statement_timeout = '%[3]dms';`, r.name, r.password, explainTimeout.Milliseconds()))
	if err != nil {
		tb.Fatalf("oracle role: %v", err)
	}
	roles[srv] = r
	return r
}

// dropRoles drops the oracle roles; TestMain calls it before the cluster
// stops (it matters only on an external server).
func dropRoles() {
	roleMu.Lock()
	defer roleMu.Unlock()
	for srv, r := range roles {
		_ = adminExec(context.Background(), srv, "DROP ROLE IF EXISTS "+r.name)
	}
	roles = map[*pgtest.Server]*oracleRole{}
}

func adminExec(ctx context.Context, srv *pgtest.Server, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// createDB creates an empty database named prefix_suffix and drops it
// when the test ends; it returns its name.
func createDB(tb testing.TB, prefix string) string {
	tb.Helper()
	srv := pgtest.Shared(tb)
	name := strings.ToLower(prefix) + "_" + randomSuffix()
	if err := adminExec(context.Background(), srv, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := adminExec(context.Background(), srv, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	return name
}

// target is one database the oracle explains queries in, with the policy
// and catalog the guard checks them against.
type target struct {
	db     string
	pool   *pgxpool.Pool // as the oracle role
	meta   *dbMeta
	policy *sqlguard.Policy
	pv     policyView
}

// newTarget connects to database db as the oracle role, loads the catalog
// of schemas and the oracle's own facts, and completes policy (Database
// and Catalog are set here). The pool closes when the test ends.
func newTarget(tb testing.TB, db string, schemas []string, policy *sqlguard.Policy) *target {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	role := sharedRole(tb)
	u, err := url.Parse(role.srv.URL(db))
	if err != nil {
		tb.Fatal(err)
	}
	u.User = url.UserPassword(role.name, role.password)
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		tb.Fatal(err)
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.RuntimeParams["search_path"] = strings.Join(policy.SearchPath, ",")
	if len(policy.SearchPath) == 0 {
		cfg.ConnConfig.RuntimeParams["search_path"] = "public"
	}
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(explainTimeout.Milliseconds())
	// No statement cache: every query is explained once.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("connect to %s as the oracle role: %v", db, err)
	}
	tb.Cleanup(pool.Close)
	var ro string
	if err := pool.QueryRow(ctx, "SHOW transaction_read_only").Scan(&ro); err != nil || ro != "on" {
		tb.Fatalf("the oracle's transactions are not READ ONLY (%q, %v)", ro, err)
	}
	cat, err := pgexec.LoadCatalog(ctx, pool, schemas)
	if err != nil {
		tb.Fatal(err)
	}
	meta, err := loadMeta(ctx, pool, cat)
	if err != nil {
		tb.Fatal(err)
	}
	policy.Database = db
	policy.Catalog = cat
	return &target{db: db, pool: pool, meta: meta, policy: policy, pv: newPolicyView(policy)}
}

// loadMeta derives the oracle's facts from the catalog, and reads which
// relations each view reads.
func loadMeta(ctx context.Context, pool *pgxpool.Pool, cat *sqlguard.Catalog) (*dbMeta, error) {
	m := &dbMeta{rels: map[string]*relMeta{}, viewBase: map[string]map[string]bool{}}
	parents := map[string][]string{}
	for _, r := range cat.Relations {
		rm := &relMeta{key: r.Schema + "." + r.Name, kind: string(r.Kind), system: r.SystemColumns}
		for _, c := range r.Columns {
			rm.columns = append(rm.columns, c.Name)
		}
		m.rels[rm.key] = rm
		parents[rm.key] = r.Parents
	}
	var anc func(k string, seen map[string]bool) []string
	anc = func(k string, seen map[string]bool) []string {
		var out []string
		for _, p := range parents[k] {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
				out = append(out, anc(p, seen)...)
			}
		}
		return out
	}
	for k, rm := range m.rels {
		rm.ancestors = anc(k, map[string]bool{k: true})
		for _, a := range rm.ancestors {
			if am := m.rels[a]; am != nil {
				am.desc = append(am.desc, k)
			}
		}
	}
	rows, err := pool.Query(ctx, `
		WITH RECURSIVE dep(view, rel) AS (
		    SELECT DISTINCT r.ev_class, d.refobjid
		    FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
		     AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
		    JOIN pg_class v ON v.oid = r.ev_class AND v.relkind = 'v'
		  UNION
		    SELECT dep.view, d.refobjid
		    FROM dep JOIN pg_rewrite r ON r.ev_class = dep.rel
		    JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
		     AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class)
		SELECT vn.nspname || '.' || v.relname, rn.nspname || '.' || c.relname
		FROM dep JOIN pg_class v ON v.oid = dep.view JOIN pg_namespace vn ON vn.oid = v.relnamespace
		JOIN pg_class c ON c.oid = dep.rel JOIN pg_namespace rn ON rn.oid = c.relnamespace`)
	if err != nil {
		return nil, fmt.Errorf("view dependencies: %w", err)
	}
	for rows.Next() {
		var v, r string
		if err := rows.Scan(&v, &r); err != nil {
			rows.Close()
			return nil, err
		}
		if m.viewBase[v] == nil {
			m.viewBase[v] = map[string]bool{}
		}
		m.viewBase[v][r] = true
		if rm := m.rels[r]; rm != nil {
			for _, d := range rm.desc {
				m.viewBase[v][d] = true
			}
		}
	}
	return m, rows.Err()
}

// explain returns EXPLAIN (VERBOSE, FORMAT JSON) of sql, run by the
// oracle role in a READ ONLY transaction (the role's and the session's
// default), through the extended protocol (one statement only).
func (tg *target) explain(ctx context.Context, sql string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*explainTimeout)
	defer cancel()
	var js []byte
	err := tg.pool.QueryRow(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) "+sql).Scan(&js)
	return js, err
}

// isServerError says whether err is PostgreSQL refusing the query (as
// opposed to a broken connection, which fails the test).
func isServerError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}

// policyView is the policy in the form the oracle checks reads against.
type policyView struct {
	blockedRel     map[string]bool            // lower(schema.table)
	blockedCols    map[string]map[string]bool // lower(schema.table) -> lower(column)
	allowedRel     map[string]bool            // schema.table
	allowedSchemas map[string]bool
}

func newPolicyView(p *sqlguard.Policy) policyView {
	pv := policyView{blockedRel: map[string]bool{}, blockedCols: map[string]map[string]bool{},
		allowedRel: map[string]bool{}, allowedSchemas: map[string]bool{}}
	for _, r := range p.BlockedRelations {
		pv.blockedRel[strings.ToLower(r)] = true
	}
	for r, cols := range p.BlockedColumns {
		m := map[string]bool{}
		for _, c := range cols {
			m[strings.ToLower(c)] = true
		}
		pv.blockedCols[strings.ToLower(r)] = m
	}
	for _, r := range p.AllowedRelations {
		pv.allowedRel[r] = true
	}
	for _, s := range p.AllowedSchemas {
		pv.allowedSchemas[s] = true
	}
	return pv
}

// violation says why reading col ("*" for the whole row) of rel breaks the
// policy, or "". Blocks are compared case-insensitively, as the Policy
// documents. A block on a relation covers its partitions and inheritance
// children, and a block on a column covers the column in them; a whole
// row is blocked when the relation has a blocked column.
// A relation is permitted when it, or an ancestor, is allowed.
func (pv policyView) violation(meta *dbMeta, rel, col string) string {
	keys := []string{rel}
	if rm := meta.rels[rel]; rm != nil {
		keys = append(keys, rm.ancestors...)
	}
	for _, k := range keys {
		if pv.blockedRel[strings.ToLower(k)] {
			if k == rel {
				return "blocked relation " + rel
			}
			return "blocked relation " + k + " (through its descendant " + rel + ")"
		}
	}
	for _, k := range keys {
		bc := pv.blockedCols[strings.ToLower(k)]
		if col != "*" {
			if bc[strings.ToLower(col)] {
				return "blocked column " + k + "." + col
			}
			continue
		}
		if rm := meta.rels[rel]; rm != nil {
			for _, c := range rm.columns {
				if bc[strings.ToLower(c)] {
					return "whole row of " + rel + ", which has the blocked column " + k + "." + c
				}
			}
		}
	}
	for _, k := range keys {
		s, _, _ := strings.Cut(k, ".")
		if pv.allowedRel[k] || (len(pv.allowedRel) == 0 && pv.allowedSchemas[s]) {
			return ""
		}
	}
	return "relation " + rel + " is not permitted"
}
