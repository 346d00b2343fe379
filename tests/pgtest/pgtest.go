// Package pgtest is the test harness for everything that talks to
// PostgreSQL: it starts one throwaway cluster per test binary and gives each
// test a fresh database of its own, copied from a template that already holds
// the built-in demo database (or the sqlguard corpus schema, or nothing).
//
// Use it from a package's TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
//
// and in a test:
//
//	db := pgtest.NewDB(t, pgtest.Demo)
//	pool := db.Pool(t) // superuser pool; db.ReaderURL is the read-only role
//
// The cluster is started on first use and always stopped: by Run when the
// tests finish, and by the kernel (the postmaster's parent-death signal) when
// the test binary dies from a panic, a timeout or a signal.
//
// If PGMCP_TEST_DATABASE_URL is set (a superuser URL), that server is used
// instead of a throwaway cluster; templates and test databases get unique
// names and are dropped at the end.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/cmd/pgmcp/localpg"
)

// EnvDatabaseURL names the variable that points the harness at an existing
// server instead of a throwaway cluster.
const EnvDatabaseURL = "PGMCP_TEST_DATABASE_URL"

// Reader is the read-only login role the Demo and Shop templates grant SELECT
// to, with ReaderPassword. Roles are cluster-wide, so it is shared by all
// test databases of a cluster.
const (
	Reader         = "pgmcp_reader"
	ReaderPassword = "pgmcp-reader-test"
)

// Template selects what a new test database starts with.
type Template int

const (
	// Empty is a database with nothing in it.
	Empty Template = iota
	// Demo holds the built-in demo database, and the Reader role may read
	// what the demo policy allows.
	Demo
	// Shop holds ../shared/corpus/shop_schema.sql, the schema the sqlguard
	// corpus assumes. Tests using it are skipped when the shared folder is
	// absent, or fail if PGMCP_REQUIRE_CORPUS=1 (see SharedPath).
	Shop
	// Pagila holds the Pagila sample database (../shared/data/pagila), with
	// SELECT on all its tables for the Reader role. Tests using it are
	// skipped when the shared folder is absent, or fail if
	// PGMCP_REQUIRE_CORPUS=1 (see SharedPath).
	Pagila
)

func (t Template) String() string {
	switch t {
	case Demo:
		return "demo"
	case Shop:
		return "shop"
	case Pagila:
		return "pagila"
	default:
		return "empty"
	}
}

// DB is a test's own database.
type DB struct {
	// Name is the database name.
	Name string
	// URL connects as the superuser.
	URL string
	// ReaderURL connects as the read-only Reader role (Demo and Shop only).
	ReaderURL string
	// Server is the server the database lives on.
	Server *Server
}

// Server is the cluster (or external server) the harness uses.
type Server struct {
	cluster  *localpg.Cluster // nil for an external server
	adminURL *url.URL         // superuser URL of the maintenance database
	suffix   string           // makes template names unique on an external server

	mu        sync.Mutex
	templates map[Template]string
	created   []string // test databases to drop at the end (external server only)
}

// URL returns a superuser URL to database dbname.
func (s *Server) URL(dbname string) string { return s.urlFor("", "", dbname) }

func (s *Server) urlFor(role, password, dbname string) string {
	u := *s.adminURL
	u.Path = "/" + dbname
	if role != "" {
		if password != "" {
			u.User = url.UserPassword(role, password)
		} else {
			u.User = url.User(role)
		}
	}
	return u.String()
}

// Cluster returns the throwaway cluster, or nil when an external server is
// used.
func (s *Server) Cluster() *localpg.Cluster { return s.cluster }

var (
	shared   *Server
	sharedMu sync.Mutex
)

// Run runs the tests of m and then stops the shared cluster, if one was
// started. Its result is the exit code for os.Exit.
func Run(m *testing.M) int {
	code := m.Run()
	if err := Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Shutdown stops the shared cluster (or drops the databases made on an
// external server). Run calls it; call it yourself only without Run.
func Shutdown() error {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil {
		return nil
	}
	s := shared
	shared = nil
	if s.cluster != nil {
		return s.cluster.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.adminURL.String())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var errs []error
	names := append([]string{}, s.created...)
	for _, n := range s.templates {
		names = append(names, n)
	}
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Shared returns the server of this test binary, starting it on first use.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil {
		s, err := start()
		if err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
		shared = s
	}
	return shared
}

func start() (*Server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := &Server{templates: map[Template]string{}, suffix: randomSuffix()}
	if env := os.Getenv(EnvDatabaseURL); env != "" {
		u, err := url.Parse(env)
		if err != nil {
			return nil, fmt.Errorf("%s is not a URL: %v", EnvDatabaseURL, err)
		}
		s.adminURL = u
		return s, nil
	}
	c, err := localpg.Start(ctx, localpg.Options{})
	if err != nil {
		return nil, err
	}
	s.cluster = c
	u, _ := url.Parse(c.URL("postgres"))
	s.adminURL = u
	return s, nil
}

// NewDB creates a fresh database for the test from the template and drops it
// when the test ends.
func NewDB(tb testing.TB, tmpl Template) *DB {
	tb.Helper()
	switch tmpl {
	case Shop:
		SharedPath(tb, "corpus/shop_schema.sql")
	case Pagila:
		SharedPath(tb, "data/pagila/pagila-schema.sql")
	}
	s := Shared(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	tplName, err := s.template(ctx, tmpl)
	if err != nil {
		tb.Fatalf("pgtest: template %s: %v", tmpl, err)
	}
	name := "t_" + sanitizeName(tb.Name()) + "_" + randomSuffix()
	if err := s.exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{tplName}.Sanitize())); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	s.mu.Lock()
	s.created = append(s.created, name)
	s.mu.Unlock()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends sessions a test left behind (a leaked pool would
		// otherwise make the drop fail).
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	db := &DB{Name: name, URL: s.URL(name), Server: s}
	if tmpl != Empty {
		db.ReaderURL = s.urlFor(Reader, ReaderPassword, name)
	}
	if tmpl == Demo {
		// A copy does not inherit the template's database-level grants and
		// per-database role settings: make them again for this database.
		conn, err := pgx.Connect(ctx, db.URL)
		if err != nil {
			tb.Fatalf("pgtest: connect: %v", err)
		}
		err = demodb.CreateReaderRole(ctx, conn, name, Reader, ReaderPassword)
		conn.Close(ctx)
		if err != nil {
			tb.Fatalf("pgtest: reader role: %v", err)
		}
	}
	return db
}

// Pool opens a superuser pool to the database, closed when the test ends.
func (db *DB) Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), db.URL)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// Exec runs trusted SQL (one or more statements) as the superuser.
func (db *DB) Exec(tb testing.TB, sql string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("pgtest: exec: %v", err)
	}
}

func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.adminURL.String())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// template returns the name of the template database for tmpl, building it
// on first use.
func (s *Server) template(ctx context.Context, tmpl Template) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name, ok := s.templates[tmpl]; ok {
		return name, nil
	}
	name := "pgmcp_tpl_" + tmpl.String()
	if s.cluster == nil {
		name += "_" + s.suffix
	}
	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	// Until the template is registered, Shutdown would not drop it.
	s.templates[tmpl] = name
	conn, err := pgx.Connect(ctx, s.URL(name))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	switch tmpl {
	case Demo:
		if err := demodb.Load(ctx, conn); err != nil {
			return "", err
		}
		if err := demodb.CreateReaderRole(ctx, conn, name, Reader, ReaderPassword); err != nil {
			return "", err
		}
	case Shop:
		b, err := os.ReadFile(ShopSchemaPath())
		if err != nil {
			return "", err
		}
		ddl := string(b)
		// Roles are cluster-wide: on a server where another run already
		// made the corpus's role, making it again would fail.
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'analyst')").Scan(&exists); err != nil {
			return "", err
		}
		if exists {
			ddl = strings.Replace(ddl, "CREATE ROLE analyst LOGIN;", "", 1)
		}
		if _, err := conn.Exec(ctx, ddl); err != nil {
			return "", fmt.Errorf("load shop schema: %w", err)
		}
		if err := grantShopReader(ctx, conn); err != nil {
			return "", err
		}
	case Pagila:
		conn.Close(ctx)
		for _, f := range []string{"pagila-schema.sql", "pagila-data.sql"} {
			if errs := loadSQL(ctx, s.URL(name), filepath.Join(pagilaDir(), f)); len(errs) > 0 {
				return "", fmt.Errorf("load %s: %d statements failed, the first: %v", f, len(errs), errs[0])
			}
		}
		pc, err := pgx.Connect(ctx, s.URL(name))
		if err != nil {
			return "", err
		}
		// Closed now: a template with a session open cannot be copied.
		defer pc.Close(ctx)
		if err := ensureReader(ctx, pc); err != nil {
			return "", err
		}
		if _, err := pc.Exec(ctx, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO `+Reader+`; ANALYZE`); err != nil {
			return "", err
		}
	}
	return name, nil
}

func pagilaDir() string {
	dir := SharedDir()
	if dir == "" {
		return ""
	}
	p := filepath.Join(dir, "data", "pagila")
	if _, err := os.Stat(filepath.Join(p, "pagila-schema.sql")); err != nil {
		return ""
	}
	return p
}

// ensureReader creates the Reader login role when the cluster lacks it.
func ensureReader(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `DO $$ BEGIN
		   IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '`+Reader+`') THEN
		     CREATE ROLE `+Reader+` LOGIN PASSWORD '`+ReaderPassword+`' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
		   END IF;
		 END $$`)
	if err != nil {
		// A concurrent binary on an external server may have made it meanwhile.
		var exists bool
		if conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = '"+Reader+"')").Scan(&exists) == nil && exists {
			return nil
		}
	}
	return err
}

// grantShopReader gives the Reader role SELECT on what the corpus policy
// permits, with column-level grants on users (its blocked columns left out).
func grantShopReader(ctx context.Context, conn *pgx.Conn) error {
	if err := ensureReader(ctx, conn); err != nil {
		return err
	}
	stmts := []string{
		`REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
		`GRANT USAGE ON SCHEMA public, sales TO ` + Reader,
		`GRANT SELECT ON public.customers, public.orders, public.order_items, public.products,
		   public.categories, public.payments, sales.regions, sales.orders TO ` + Reader,
		`GRANT SELECT (id, email, name, created_at) ON public.users TO ` + Reader,
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("grant shop reader: %w", err)
		}
	}
	return nil
}

// RepoRoot returns the directory holding go.mod, found by walking up from
// the working directory (a test runs in its package's directory).
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// SharedDir returns ../shared relative to the repository root (the shared
// corpus and data), or "" when it does not exist.
func SharedDir() string {
	root := RepoRoot()
	if root == "" {
		return ""
	}
	dir := filepath.Join(filepath.Dir(root), "shared")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir
	}
	return ""
}

// ShopSchemaPath returns the path of the sqlguard corpus schema, or "".
func ShopSchemaPath() string {
	dir := SharedDir()
	if dir == "" {
		return ""
	}
	p := filepath.Join(dir, "corpus", "shop_schema.sql")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 30 {
			break
		}
	}
	return b.String()
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// PrivateReader creates a login role of the test's own that may connect to
// the database and read every table of schema public, and returns it with
// a URL connecting as it; both go when the test ends. Tests that grant
// roles to the login role use it: the shared Reader's memberships are
// revoked whenever another test makes a Demo database.
func (db *DB) PrivateReader(tb testing.TB) (role, url string) {
	tb.Helper()
	role = "r_" + randomSuffix()
	const password = "private-reader"
	db.Exec(tb, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN PASSWORD '%[2]s';
		GRANT CONNECT ON DATABASE %[3]s TO %[1]s;
		GRANT USAGE ON SCHEMA public TO %[1]s;
		GRANT SELECT ON ALL TABLES IN SCHEMA public TO %[1]s;`, role, password, pgx.Identifier{db.Name}.Sanitize()))
	tb.Cleanup(func() {
		db.Exec(tb, fmt.Sprintf(`DROP OWNED BY %[1]s; DROP ROLE %[1]s;`, role))
	})
	return role, db.Server.urlFor(role, password, db.Name)
}
