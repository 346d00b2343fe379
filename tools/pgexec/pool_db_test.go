package pgexec

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func TestNewPoolPinsSessions(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	pool, err := NewPool(t.Context(), db.ReaderURL, Options{StatementTimeout: 1500 * time.Millisecond, SearchPath: []string{"public", "billing"}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var ro, st, sp, scs, app string
	err = pool.QueryRow(t.Context(), `SELECT current_setting('default_transaction_read_only'), current_setting('statement_timeout'),
		current_setting('search_path'), current_setting('standard_conforming_strings'), current_setting('application_name')`).
		Scan(&ro, &st, &sp, &scs, &app)
	if err != nil {
		t.Fatal(err)
	}
	if ro != "on" || st != "1500ms" || sp != `"public", "billing"` || scs != "on" || app != "pgmcp" {
		t.Errorf("session settings: read_only=%s statement_timeout=%s search_path=%s scs=%s app=%s", ro, st, sp, scs, app)
	}
	// The session is read-only even without an explicit read-only transaction.
	_, err = pool.Exec(t.Context(), "CREATE TEMP TABLE x (i int)")
	if err == nil || !strings.Contains(err.Error(), "read-only transaction") {
		t.Errorf("CREATE TEMP TABLE in a pinned session: %v, want a read-only error", err)
	}
}

func TestNewPoolUnreachable(t *testing.T) {
	start := time.Now()
	_, err := NewPool(context.Background(), "postgres://u:pw12345@127.0.0.1:1/db?sslmode=disable", Options{ConnectTimeout: 3 * time.Second})
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeUnreachable {
		t.Fatalf("err = %v, want %s", err, CodeUnreachable)
	}
	if strings.Contains(err.Error(), "pw12345") {
		t.Errorf("the password leaks: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

func TestInspectRole(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Demo)
	reader, err := NewPool(t.Context(), db.ReaderURL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	r, err := InspectRole(t.Context(), reader, []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Privileged() || r.CanWrite() || r.Name != pgtest.Reader {
		t.Errorf("reader role report = %+v, want unprivileged and unable to write", r)
	}

	super, err := NewPool(t.Context(), db.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close()
	r, err = InspectRole(t.Context(), super, []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Superuser || !r.Privileged() || !r.CanWrite() || len(r.WriteGrants) == 0 {
		t.Errorf("superuser report = %+v", r)
	}
}

func TestShadowingFunctions(t *testing.T) {
	db := pgtest.NewDB(t, pgtest.Empty)
	db.Exec(t, `CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql AS 'SELECT ''gotcha''';
		CREATE SCHEMA elsewhere; CREATE FUNCTION elsewhere.upper(text) RETURNS text LANGUAGE sql AS 'SELECT 1::text'`)
	pool, err := NewPool(t.Context(), db.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	got, err := ShadowingFunctions(t.Context(), pool, []string{"lower", "upper", "count"}, []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "public.lower(character varying)" {
		t.Errorf("ShadowingFunctions = %v, want [public.lower(character varying)] (elsewhere is not on the path)", got)
	}
}
