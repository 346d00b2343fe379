package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/demodb"
	"github.com/pgmcp/pgmcp/cmd/pgmcp/localpg"
)

// The databases of a run. They all live in one throwaway cluster.
const (
	demoDB     = "bench_demo"    // the built-in demo database
	catalogDB  = "bench_catalog" // the generated 2,000-table catalog
	readerRole = "bench_reader"  // SELECT-only role of the performance runs
)

// env is the throwaway PostgreSQL cluster every server of a run talks to.
// It listens on 127.0.0.1 (TCP, password authentication) besides its
// private unix socket, because one peer (dbhub) cannot connect over a unix
// socket: every server, pgmcp included, then connects the same way.
type env struct {
	cluster  *localpg.Cluster
	port     int
	readerPW string
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startEnv starts the cluster with a TCP listener on 127.0.0.1.
func startEnv(ctx context.Context) (*env, error) {
	c, err := localpg.Start(ctx, localpg.Options{
		Settings: map[string]string{
			"listen_addresses": "127.0.0.1",
			// Who did what, for the security replay (statements and errors
			// are attributed to a server by its login role).
			"log_line_prefix": "%m [%p] %u@%d ",
			// The data never changes; keep statistics (and the catalog
			// fingerprints of the security replay) still.
			"autovacuum":      "off",
			"max_connections": "300",
		},
		StartTimeout: 2 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	e := &env{cluster: c, port: c.Port, readerPW: randomHex(12)}
	// localpg allows unix-socket connections only; let password logins in
	// over loopback TCP too.
	hba := filepath.Join(c.Dir, "data", "pg_hba.conf")
	f, err := os.OpenFile(hba, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		_ = c.Stop()
		return nil, err
	}
	_, err = f.WriteString("host all all 127.0.0.1/32 scram-sha-256\n")
	f.Close()
	if err != nil {
		_ = c.Stop()
		return nil, err
	}
	if err := e.exec(ctx, "postgres", "SELECT pg_reload_conf()"); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return e, nil
}

func (e *env) stop() error { return e.cluster.Stop() }

// adminURL connects as the superuser over the unix socket.
func (e *env) adminURL(db string) string { return e.cluster.URL(db) }

// tcpURL connects as role over TCP.
func (e *env) tcpURL(role, password, db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(role, password),
		Host: fmt.Sprintf("127.0.0.1:%d", e.port), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// exec runs trusted SQL (any number of statements) as the superuser.
func (e *env) exec(ctx context.Context, db, sql string) error {
	conn, err := pgx.Connect(ctx, e.adminURL(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func (e *env) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, e.adminURL(db))
}

// serverVersion returns PostgreSQL's version string.
func (e *env) serverVersion(ctx context.Context) string {
	conn, err := e.connect(ctx, "postgres")
	if err != nil {
		return "?"
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "?"
	}
	return v
}

// createDemo creates the demo database and the reader role that may read
// what the demo policy allows.
func (e *env) createDemo(ctx context.Context) error {
	if err := e.exec(ctx, "postgres", "CREATE DATABASE "+demoDB); err != nil {
		return err
	}
	conn, err := e.connect(ctx, demoDB)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if err := demodb.Load(ctx, conn); err != nil {
		return err
	}
	return demodb.CreateReaderRole(ctx, conn, demoDB, readerRole, e.readerPW)
}

// createCatalog creates the database of n generated tables, readable by the
// reader role.
func (e *env) createCatalog(ctx context.Context, n int) error {
	if err := e.exec(ctx, "postgres", "CREATE DATABASE "+catalogDB); err != nil {
		return err
	}
	conn, err := e.connect(ctx, catalogDB)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	// Batches keep each simple-protocol message reasonably small.
	stmts := catalogDDL(n)
	const batch = 100
	for i := 0; i < len(stmts); i += batch {
		j := min(i+batch, len(stmts))
		if _, err := conn.Exec(ctx, strings.Join(stmts[i:j], ";\n")); err != nil {
			return fmt.Errorf("catalog DDL (statements %d-%d): %w", i, j, err)
		}
	}
	// The role is made by the demo's loader; make it here when the demo
	// is not loaded (the same attributes: a plain login role).
	role := fmt.Sprintf(`DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN
    CREATE ROLE %s LOGIN PASSWORD '%s' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
END $$`, readerRole, readerRole, e.readerPW)
	if _, err := conn.Exec(ctx, role); err != nil {
		return err
	}
	grant := fmt.Sprintf(`REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE %s TO %s;
GRANT USAGE ON SCHEMA public TO %s;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO %s;
ANALYZE`, catalogDB, readerRole, readerRole, readerRole)
	_, err = conn.Exec(ctx, grant)
	return err
}

// catalogDDL returns the statements that create n tables in public, named
// t0000_<noun> ... so that LIKE 't0%' and 't1%' split 2,000 of them in two
// halves of 1,000 (dbhub returns at most 1,000 objects a call). The shape
// is deterministic: 4 to 12 columns of mixed types, a primary key, a
// foreign key to an earlier table on two tables in three, an index on every
// third table, and comments on the table and on some columns, like an
// application schema that grew over years.
func catalogDDL(n int) []string {
	nouns := []string{"account", "invoice", "shipment", "ticket", "device", "contract", "campaign",
		"payout", "asset", "visit", "lead", "quote", "refund", "batch", "region", "vendor"}
	types := []string{"text", "integer", "bigint", "numeric(12,2)", "timestamptz", "date",
		"boolean", "jsonb", "text[]", "uuid", "varchar(64)", "smallint"}
	words := []string{"status", "amount", "created_at", "updated_at", "owner", "note", "code",
		"score", "label", "kind", "flag", "ref", "total", "due_on", "payload", "tags"}
	name := func(i int) string { return fmt.Sprintf("t%04d_%s", i, nouns[i%len(nouns)]) }
	var out []string
	for i := 0; i < n; i++ {
		var cols []string
		cols = append(cols, "id bigint PRIMARY KEY")
		ncols := 3 + (i*7)%10
		for k := 0; k < ncols; k++ {
			w := words[(i+k*3)%len(words)]
			t := types[(i*5+k)%len(types)]
			cols = append(cols, fmt.Sprintf("%s_%d %s", w, k, t))
		}
		if i > 0 && i%3 != 0 {
			cols = append(cols, fmt.Sprintf("parent_id bigint REFERENCES %s (id)", name((i*37+11)%i)))
		}
		out = append(out, fmt.Sprintf("CREATE TABLE %s (%s)", name(i), strings.Join(cols, ", ")))
		out = append(out, fmt.Sprintf("COMMENT ON TABLE %s IS 'Generated table %d: one row per %s of line of business %d.'",
			name(i), i, nouns[i%len(nouns)], i%40))
		if i%2 == 0 {
			out = append(out, fmt.Sprintf("COMMENT ON COLUMN %s.%s_0 IS 'Business meaning of column 0 of table %d.'",
				name(i), words[i%len(words)], i))
		}
		if i%3 == 0 {
			out = append(out, fmt.Sprintf("CREATE INDEX ON %s (%s_1)", name(i), words[(i+3)%len(words)]))
		}
	}
	return out
}
