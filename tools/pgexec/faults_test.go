package pgexec

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestFaultCodes: each fault a call can meet ends with its own code, not
// "the query failed" or "not reachable".
func TestFaultCodes(t *testing.T) {
	db, ex := oneConnFixture(t, "", Options{})
	admin := db.Pool(t)
	lim := Limits{MaxRows: 10, StatementTimeout: 10 * time.Second, AcquireTimeout: 500 * time.Millisecond}.withDefaults()
	code := func(err error) Code {
		var pe *Error
		if errors.As(err, &pe) {
			return pe.Code
		}
		return Code("not a pgexec error: " + errorText(err))
	}
	// onBackend runs sql from the admin pool against the executor's one
	// backend while a long query holds it, and returns that query's error.
	onBackend := func(sql string) error {
		pid := value(t, ex, "SELECT pg_backend_pid()", lim)
		done := make(chan error, 1)
		go func() {
			_, err := ex.run(t.Context(), "SELECT pg_sleep(5)", lim)
			done <- err
		}()
		waitFor(t, 5*time.Second, func() bool {
			var n int
			_ = admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep(5)%'", pid).Scan(&n)
			return n == 1
		})
		if sql != "" {
			if _, err := admin.Exec(t.Context(), sql, pid); err != nil {
				t.Fatal(err)
			}
		}
		return <-done
	}

	// A full pool: the one connection is busy for longer than the acquire
	// timeout.
	busy := make(chan error, 1)
	go func() { busy <- onBackend("") }()
	time.Sleep(300 * time.Millisecond)
	waitFor(t, 5*time.Second, func() bool { return ex.pool.Stat().AcquiredConns() == 1 })
	if _, err := ex.run(t.Context(), "SELECT 1", lim); code(err) != CodePoolExhausted {
		t.Errorf("full pool: %v, want %s", err, CodePoolExhausted)
	}
	if err := <-busy; err != nil {
		t.Fatalf("the long query: %v", err)
	}
	// The server ends the connection (pg_terminate_backend, as a restart or
	// an operator would).
	if err := onBackend("SELECT pg_terminate_backend($1)"); code(err) != CodeConnectionLost {
		t.Errorf("terminated backend: %v, want %s", err, CodeConnectionLost)
	}
	// Someone cancels the statement on the server.
	if err := onBackend("SELECT pg_cancel_backend($1)"); code(err) != CodeCancelled {
		t.Errorf("cancelled on the server: %v, want %s", err, CodeCancelled)
	}
	// The statement timeout.
	short := lim
	short.StatementTimeout = 200 * time.Millisecond
	if _, err := ex.run(t.Context(), "SELECT pg_sleep(2)", short); code(err) != CodeQueryTimeout {
		t.Errorf("statement timeout: %v, want %s", err, CodeQueryTimeout)
	}
	// The caller cancels, with a cause (a shutdown, say): the cause is said.
	ctx, cancel := context.WithCancelCause(t.Context())
	time.AfterFunc(300*time.Millisecond, func() { cancel(errors.New("the server is shutting down")) })
	_, err := ex.run(ctx, "SELECT pg_sleep(5)", lim)
	if code(err) != CodeCancelled || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("cancelled by the caller: %v, want %s naming the cause", err, CodeCancelled)
	}
}

func errorText(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}
