package pgexec

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/localpg"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// replicaPair is a primary and a streaming standby of the test's own,
// with a table t of 1000 rows replayed on the standby.
type replicaPair struct {
	primary, standby *localpg.Cluster
}

func newReplicaPair(t *testing.T, standbySettings map[string]string) *replicaPair {
	t.Helper()
	p := pgtest.StartPrimary(t, "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g")
	s := pgtest.StartStandby(t, p, localpg.Options{Settings: standbySettings})
	return &replicaPair{primary: p, standby: s}
}

// url is a two-host URL (primary first, then the standby) with attrs.
func (r *replicaPair) url(attrs string) string {
	return pgtest.HostsURL("postgres", "postgres", attrs, r.primary, r.standby)
}

func (r *replicaPair) primaryExec(t *testing.T, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), r.primary.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatal(err)
	}
}

func TestSessionAttrs(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://u@h1:5432,h2:5433/db":                                     AttrsAny,
		"postgres://u@h1:5432,h2:5433/db?target_session_attrs=prefer-standby": AttrsPreferStandby,
		"postgres://u@/db?host=/a,/b&port=1,2&target_session_attrs=standby":   AttrsStandby,
		"host=/a,/b port=1,2 dbname=db target_session_attrs=primary":          AttrsPrimary,
		"postgres://u@h/db?target_session_attrs=read-only":                    AttrsReadOnly,
		"postgres://u@h/db?target_session_attrs=read-write":                   AttrsReadWrite,
		"postgres://u@h/db?target_session_attrs=any":                          AttrsAny,
		"postgres://u@h/db?target_session_attrs=nonsense":                     "",
	} {
		if got := SessionAttrs(dsn); got != want {
			t.Errorf("SessionAttrs(%q) = %q, want %q", dsn, got, want)
		}
	}
	for _, a := range []string{AttrsReadOnly, AttrsReadWrite} {
		if SessionAttrsWarning("postgres://u@h/db?target_session_attrs="+a) == "" {
			t.Errorf("no warning for %s", a)
		}
	}
	for _, a := range []string{AttrsAny, AttrsPrimary, AttrsStandby, AttrsPreferStandby} {
		if w := SessionAttrsWarning("postgres://u@h/db?target_session_attrs=" + a); w != "" {
			t.Errorf("warning for %s: %s", a, w)
		}
	}
}

// TestReplicaConflictClassification: a hot-standby conflict, as pgconn
// reports it, is replica_conflict on a standby; the same SQLSTATE on a
// primary (a serialization failure, a deadlock) stays query_failed.
func TestReplicaConflictClassification(t *testing.T) {
	for _, code := range []string{"40001", "40P01"} {
		pe := &pgconn.PgError{Severity: "ERROR", Code: code, Message: "canceling statement due to conflict with recovery",
			Detail: "User query might have needed to see row versions that must be removed."}
		var e *Error
		if !errors.As(execErrorIn(t.Context(), fmt.Errorf("wrapped: %w", pe), source{sql: "SELECT 1", standby: true}), &e) || e.Code != CodeReplicaConflict {
			t.Errorf("%s on a standby: %v, want %s", code, e, CodeReplicaConflict)
		} else if e.PG == nil || e.PG.SQLState != code {
			t.Errorf("%s on a standby: PG = %+v", code, e.PG)
		}
		if !errors.As(execErrorIn(t.Context(), pe, source{sql: "SELECT 1"}), &e) || e.Code != CodeQueryFailed {
			t.Errorf("%s on a primary: %v, want %s", code, e, CodeQueryFailed)
		}
	}
}

// TestReplicaTargets connects with each target_session_attrs to a
// two-host URL (primary first) and checks which server every call runs on.
func TestReplicaTargets(t *testing.T) {
	r := newReplicaPair(t, nil)
	for attrs, wantStandby := range map[string]bool{
		AttrsStandby: true, AttrsPreferStandby: true, AttrsPrimary: false,
		AttrsReadWrite: false, // checked as primary: pgx's own check could never pass under the pin
		AttrsReadOnly:  false, // any server: the first host
		AttrsAny:       false,
	} {
		t.Run(attrs, func(t *testing.T) {
			pool, err := NewPool(t.Context(), r.url(attrs), Options{StatementTimeout: 5 * time.Second, MaxConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			ex := NewExecutor(pool)
			for range 3 {
				res, err := ex.run(t.Context(), "SELECT pg_is_in_recovery(), count(*) FROM t", Limits{}.withDefaults())
				if err != nil {
					t.Fatal(err)
				}
				want := r.primary
				if wantStandby {
					want = r.standby
				}
				if res.Rows[0][0] != wantStandby || res.Server.Standby != wantStandby ||
					res.Server.Host != want.SocketDir || res.Server.Port != want.Port {
					t.Fatalf("in recovery %v, server %+v; want standby=%v at %s:%d", res.Rows[0][0], res.Server, wantStandby, want.SocketDir, want.Port)
				}
			}
			rep, err := ReplicationStatus(t.Context(), pool)
			if err != nil {
				t.Fatal(err)
			}
			if rep.InRecovery != wantStandby || rep.Server.Standby != wantStandby {
				t.Errorf("replication status %+v", rep)
			}
		})
	}
}

// TestPreferStandbyFailback: with prefer-standby, calls move to the
// primary while the standby is down, and back to the standby once it
// returns and the fallen-back connections are older than FailbackAfter.
func TestPreferStandbyFailback(t *testing.T) {
	r := newReplicaPair(t, nil)
	pool, err := NewPool(t.Context(), r.url(AttrsPreferStandby), Options{StatementTimeout: 5 * time.Second, MaxConns: 3, FailbackAfter: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ex := NewExecutor(pool)
	role := func() (string, string) {
		res, err := ex.run(t.Context(), "SELECT 1", Limits{AcquireTimeout: 3 * time.Second}.withDefaults())
		if err != nil {
			return "", Describe(err)
		}
		return res.Server.Role(), ""
	}
	if got, _ := role(); got != "standby" {
		t.Fatalf("before the outage: %q", got)
	}
	if err := r.standby.Pause(); err != nil {
		t.Fatal(err)
	}
	// The idle connections broke with the standby; the pool finds that
	// out (a ping, or the call failing) and connects to the primary.
	var roles []string
	for range 5 {
		got, code := role()
		roles = append(roles, got+code)
	}
	if roles[len(roles)-1] != "primary" {
		t.Fatalf("standby down: calls ran on %v, want the primary", roles)
	}
	if err := r.standby.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		got, code := role()
		if got == "standby" {
			t.Logf("back on the standby %s after it returned", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("calls did not return to the standby within 10s (last: %q %s)", got, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every connection ends up on the standby.
	for range 10 {
		if got, code := role(); got != "standby" {
			t.Errorf("after failback: %q %s", got, code)
		}
	}
}

// Describe is the code of a pgexec error, for these tests.
func Describe(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return string(e.Code)
	}
	return err.Error()
}

// TestReplicaConflict provokes a real hot-standby conflict: a query runs
// on a standby with max_standby_streaming_delay=0 while the primary takes
// an ACCESS EXCLUSIVE lock on the table it reads (TRUNCATE); replaying
// the lock cancels the query, which fails with replica_conflict and the
// standby's server.
func TestReplicaConflict(t *testing.T) {
	r := newReplicaPair(t, map[string]string{"max_standby_streaming_delay": "0"})
	pool, err := NewPool(t.Context(), r.url(AttrsStandby), Options{StatementTimeout: 30 * time.Second, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ex := NewExecutor(pool)
	done := make(chan error, 1)
	go func() {
		_, err := ex.run(t.Context(), "SELECT count(*), pg_sleep(20) FROM t", Limits{StatementTimeout: 30 * time.Second}.withDefaults())
		done <- err
	}()
	// Wait until the query holds its lock on the standby.
	sc, err := pgx.Connect(t.Context(), r.standby.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close(context.Background())
	for i := 0; ; i++ {
		var n int
		if err := sc.QueryRow(t.Context(), "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 't' AND l.granted").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if i > 500 {
			t.Fatal("the standby query never took its lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	r.primaryExec(t, "TRUNCATE t")
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the standby query was not cancelled by the conflict")
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeReplicaConflict {
		t.Fatalf("err = %v, want %s", err, CodeReplicaConflict)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || e.PG == nil || e.PG.SQLState != pe.Code {
		t.Fatalf("cause %v, PG %+v", pe, e.PG)
	}
	if e.Server == nil || !e.Server.Standby || e.Server.Port != r.standby.Port {
		t.Errorf("the error's server: %+v", e.Server)
	}
	t.Logf("conflict after %s: SQLSTATE %s, %q (%s)", time.Since(start).Round(time.Millisecond), pe.Code, pe.Message, pe.Detail)
}
