package pgexec

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

type corpusCase struct {
	SQL      string `json:"sql"`
	Category string `json:"category"`
}

func readCorpus(t *testing.T, name string) []corpusCase {
	t.Helper()
	f, err := os.Open(pgtest.SharedPath(t, "corpus/"+name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var c corpusCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// shopPolicy is the corpus policy for database db, resolving names against
// the catalog q reads.
func shopPolicy(t *testing.T, db string, q Querier) *sqlguard.Policy {
	t.Helper()
	b, err := os.ReadFile(pgtest.SharedPath(t, "corpus/shop_policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := sqlguard.ParsePolicyJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	p.Database = db
	// The search path and the schemas of the allowed relations (sales).
	schemas := append([]string(nil), p.SearchPath...)
	for _, r := range p.AllowedRelations {
		if s, _, _ := strings.Cut(r, "."); !slices.Contains(schemas, s) {
			schemas = append(schemas, s)
		}
	}
	if p.Catalog, err = LoadCatalog(t.Context(), q, schemas); err != nil {
		t.Fatal(err)
	}
	return p
}

// tableChecksums returns an md5 of every row of every table of the shop
// schema (and the sequence), read as the superuser.
func tableChecksums(t *testing.T, db *pgtest.DB) map[string]string {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('public', 'sales') AND c.relkind = 'r' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	for _, n := range names {
		var sum string
		if err := conn.QueryRow(ctx, "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), 'empty') FROM "+n+" t").Scan(&sum); err != nil {
			t.Fatal(err)
		}
		sums[n] = sum
	}
	// A sequence, objects and locks count as effects too.
	var seq string
	var objects, locks int
	if err := conn.QueryRow(ctx, `SELECT (SELECT last_value || '/' || is_called FROM public.invoice_seq),
		(SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')`).Scan(&seq, &objects, &locks); err != nil {
		t.Fatal(err)
	}
	sums["public.invoice_seq"] = seq
	sums["(pg_class rows)"] = strconv.Itoa(objects)
	sums["(advisory locks)"] = strconv.Itoa(locks)
	if len(names) < 9 {
		t.Fatalf("only %d tables in the shop schema: %v", len(names), names)
	}
	return sums
}

// TestAcceptedCorpusRunsReadOnly runs every accept-corpus query through the
// executor, as a SELECT-only role in a READ ONLY transaction, and checks
// each one succeeds and no table changed: the guard's verdict and the
// database agree.
func TestAcceptedCorpusRunsReadOnly(t *testing.T) {
	cases := readCorpus(t, "guard_accept.jsonl")
	db := pgtest.NewDB(t, pgtest.Shop)
	before := tableChecksums(t, db)
	pool, err := NewPool(t.Context(), db.ReaderURL, Options{SearchPath: []string{"public"}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pol := shopPolicy(t, db.Name, pool)
	ex := NewExecutor(pool)
	ok := 0
	for _, c := range cases {
		// The corpus assumes the database is named shop; a test database
		// has a name of its own.
		c.SQL = strings.ReplaceAll(c.SQL, "shop.public.", db.Name+".public.")
		q, err := sqlguard.Check(c.SQL, pol)
		if err != nil {
			t.Errorf("guard rejects an accept case (%s): %v\n%s", c.Category, err, c.SQL)
			continue
		}
		if _, err := ex.Run(t.Context(), q, Limits{MaxRows: 1000, StatementTimeout: 5 * time.Second}); err != nil {
			t.Errorf("accept case failed in PostgreSQL (%s): %v\n%s", c.Category, err, c.SQL)
			continue
		}
		ok++
	}
	t.Logf("%d of %d accepted corpus queries ran read-only as a SELECT-only role", ok, len(cases))
	after := tableChecksums(t, db)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed", k)
		}
	}
}

// TestDOSCasesEndWithinTimeout runs every dos case of the reject corpus
// straight on the database — as if the guard had let it through — as the
// SELECT-only role in a READ ONLY transaction with a 500 ms statement
// timeout, and checks each ends within the timeout plus a margin: the run
// time limit is a layer of its own.
func TestDOSCasesEndWithinTimeout(t *testing.T) {
	var dos []corpusCase
	for _, c := range readCorpus(t, "guard_reject.jsonl") {
		if c.Category == "dos" {
			dos = append(dos, c)
		}
	}
	if len(dos) < 10 {
		t.Fatalf("only %d dos cases in the corpus", len(dos))
	}
	db := pgtest.NewDB(t, pgtest.Shop)
	conn, err := pgx.Connect(t.Context(), db.ReaderURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	const timeout = 500 * time.Millisecond
	stopped := 0
	for _, c := range dos {
		start := time.Now()
		err := func() error {
			tx, err := conn.BeginTx(t.Context(), pgx.TxOptions{AccessMode: pgx.ReadOnly})
			if err != nil {
				return err
			}
			defer tx.Rollback(context.Background())
			if _, err := tx.Exec(t.Context(), "SET LOCAL statement_timeout = 500"); err != nil {
				return err
			}
			// Up to 1001 rows, as the executor reads.
			rows, err := tx.Query(t.Context(), c.SQL, pgx.QueryExecModeExec)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() && n <= 1000 {
				n++
			}
			rows.Close()
			return rows.Err()
		}()
		took := time.Since(start)
		if took > timeout+2*time.Second {
			t.Errorf("a dos case ran %s despite a %s timeout:\n%s", took, timeout, c.SQL)
		}
		var pe interface{ SQLState() string }
		if errors.As(err, &pe) && pe.SQLState() == "57014" {
			stopped++
		}
	}
	t.Logf("%d dos cases: all ended within %s + 2s; %d were stopped by the statement timeout", len(dos), timeout, stopped)
	if stopped == 0 {
		t.Error("no dos case hit the statement timeout: the cases are not exercising it")
	}
}
