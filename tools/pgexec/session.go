package pgexec

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A call runs in a transaction that is always rolled back, which undoes
// every setting, the role and every object the SQL could make. What a
// ROLLBACK does not undo is session state: session-level advisory locks,
// prepared statements, the random() seed, connections an extension keeps
// (dblink, postgres_fdw), a temporary schema. This file makes each pooled
// connection start the next call in the pinned state, whatever the SQL did,
// without trusting the guard:
//
//   - the transaction's settings and role are SET LOCAL statements of
//     pgmcp's own pipeline (no EXECUTE on set_config is needed, so an
//     operator can revoke it from the role);
//   - after the ROLLBACK, in the same round trip, one statement checks the
//     session state the SQL could have changed and re-seeds random();
//   - a session found changed is reset with DISCARD ALL and checked again;
//     if it is still not clean, the connection is closed.
//
// Resets and closes are counted by reason ([Executor.SessionStats]).

// maxRoleName is the longest role name PostgreSQL keeps (NAMEDATALEN-1):
// a longer identifier is cut by the server, and the cut name could be
// another role.
const maxRoleName = 63

// sessionCaps is what the session check may use on this database: it
// depends on the login role's privileges and the installed extensions,
// and is learnt on the first call.
type sessionCaps struct {
	// checkSQL returns the session's state (see sessionState); with
	// reseed, it takes the new seed as $1.
	checkSQL string
	// recheckSQL is checkSQL without the re-seed, run after a reset.
	recheckSQL string
	reseed     bool
	// unverifiable names state that could be changed but not checked (an
	// extension whose connection list the login role may not read): such
	// a connection is never reused.
	unverifiable string
}

// Session-state reasons, the label of pgmcp_session_resets_total and
// pgmcp_session_discards_total. Never rename one.
const (
	ReasonAdvisoryLocks      = "advisory_locks"
	ReasonPreparedStatements = "prepared_statements"
	ReasonCursors            = "cursors"
	ReasonListeners          = "listeners"
	ReasonRole               = "role"
	ReasonSettings           = "settings"
	ReasonTempSchema         = "temp_schema"
	ReasonRemoteConnections  = "remote_connections"
	ReasonCheckFailed        = "check_failed"
	ReasonUnverifiable       = "unverifiable"
	// ReasonAbandoned: a result was left unread (a byte cap), an error
	// broke the connection, or the call was cancelled.
	ReasonAbandoned = "abandoned"
	// ReasonTooLarge: the server sent a message above the size bound.
	ReasonTooLarge = "message_too_large"
)

// the checked columns, in checkSQL's order, with the reason each reports.
var stateReasons = []string{ReasonAdvisoryLocks, ReasonPreparedStatements, ReasonCursors, ReasonListeners,
	ReasonRole, ReasonSettings, ReasonTempSchema}

// baseCheck selects one column per stateReasons entry, each 0 or "t"
// when clean; %s is the advisory-lock column (see learnCaps). Everything
// is schema-qualified: nothing here resolves through the search path.
const baseCheck = `SELECT %s,
  (SELECT count(*) FROM pg_catalog.pg_prepared_statements WHERE from_sql),
  (SELECT count(*) FROM pg_catalog.pg_cursors WHERE name <> ''),
  (SELECT count(*) FROM pg_catalog.pg_listening_channels()),
  CURRENT_USER = SESSION_USER,
  ` + settingsCheck + `,
  pg_catalog.pg_my_temp_schema() = 0`

// settingsCheck is baseCheck's column for the pinned settings.
const settingsCheck = `pg_catalog.current_setting('default_transaction_read_only') = 'on' AND pg_catalog.current_setting('standard_conforming_strings') = 'on'
    AND pg_catalog.current_setting('intervalstyle') = 'iso_8601' AND pg_catalog.split_part(pg_catalog.current_setting('datestyle'), ',', 1) = 'ISO'
    AND pg_catalog.current_setting('bytea_output') = 'hex' AND pg_catalog.current_setting('extra_float_digits') = '1'`

// learnCaps reads what the session check may use: whether the login role
// may re-seed random(), and which extension functions list the session's
// remote connections.
//
// On a transaction-mode pooler's connection the session's settings are
// not pgmcp's (each transaction sets its own), so the check does not look
// at them.
func learnCaps(ctx context.Context, conn *pgx.Conn) (*sessionCaps, error) {
	base := baseCheck
	if pinsOf(conn.PgConn()) != nil {
		base = strings.Replace(base, settingsCheck, "true", 1)
	}
	var reseed, unlock bool
	var remotes []string
	err := conn.QueryRow(ctx, `
		SELECT pg_catalog.has_function_privilege('pg_catalog.setseed(double precision)', 'EXECUTE'),
		  pg_catalog.has_function_privilege('pg_catalog.pg_advisory_unlock_all()', 'EXECUTE'),
		  ARRAY(SELECT p.proname || ' ' || n.nspname || ' ' || pg_catalog.has_function_privilege(p.oid, 'EXECUTE')
		        FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
		        WHERE p.proname IN ('dblink_get_connections', 'postgres_fdw_get_connections') AND p.pronargs = 0
		        ORDER BY 1)`).Scan(&reseed, &unlock, &remotes)
	if err != nil {
		return nil, fmt.Errorf("read the session check's privileges: %w", err)
	}
	caps := &sessionCaps{reseed: reseed}
	var extra []string
	for _, r := range remotes {
		f := strings.Fields(r)
		if len(f) != 3 {
			continue
		}
		name, schema, ok := f[0], f[1], f[2] == "true"
		if !ok {
			caps.unverifiable = name
			continue
		}
		fn := pgx.Identifier{schema, name}.Sanitize()
		if name == "dblink_get_connections" {
			extra = append(extra, "coalesce(pg_catalog.array_length("+fn+"(), 1), 0)")
		} else {
			extra = append(extra, "(SELECT count(*) FROM "+fn+"())")
		}
	}
	remote := "0"
	if len(extra) > 0 {
		remote = strings.Join(extra, " + ")
	}
	// Advisory locks: released outright when the role may (cheap: the
	// session's own locks), else looked for in pg_locks (which copies the
	// whole lock table) and reset with DISCARD ALL.
	const lookForLocks = "(SELECT count(*) FROM pg_catalog.pg_locks WHERE pid = pg_catalog.pg_backend_pid() AND locktype = 'advisory')"
	caps.recheckSQL = fmt.Sprintf(base, lookForLocks) + ",\n  " + remote
	if unlock {
		caps.checkSQL = fmt.Sprintf(base, "0") + ",\n  " + remote + ",\n  pg_catalog.pg_advisory_unlock_all()"
	} else {
		caps.checkSQL = caps.recheckSQL
	}
	if reseed {
		caps.checkSQL += ",\n  pg_catalog.setseed($1::float8)"
	}
	return caps, nil
}

// sessionState is one row of the session check: the reasons it is not
// clean (empty when it is).
func sessionState(row [][]byte) []string {
	if len(row) < len(stateReasons)+1 {
		return []string{ReasonCheckFailed}
	}
	var dirty []string
	for i, reason := range stateReasons {
		if v := string(row[i]); v != "0" && v != "t" {
			dirty = append(dirty, reason)
		}
	}
	if string(row[len(stateReasons)]) != "0" {
		dirty = append(dirty, ReasonRemoteConnections)
	}
	return dirty
}

// newSeed returns a seed for setseed, in [-1, 1], from the system's
// random source.
func newSeed() []byte {
	var b [8]byte
	_, _ = rand.Read(b[:])
	f := float64(binary.LittleEndian.Uint64(b[:])>>11)/float64(1<<53)*2 - 1
	return []byte(strconv.FormatFloat(f, 'g', -1, 64))
}

// sendBegin queues BEGIN READ ONLY and the transaction's settings, with
// timeout as its statement_timeout, and returns how many results they
// produce. Values are formatted by pgmcp (integers, a quoted identifier),
// never taken from SQL text.
//
// On a transaction-mode pooler's connection, the pins (see
// transactionPins) come first: nothing is taken from the server session,
// which may be another one at every transaction.
func sendBegin(pl *pgconn.Pipeline, pins []string, lim Limits, timeout time.Duration) int {
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	stmts := append([]string{"BEGIN READ ONLY"}, pins...)
	if timeout > 0 { // else the session's, pinned at connect
		stmts = append(stmts, "SET LOCAL statement_timeout = "+ms(timeout))
	}
	stmts = append(stmts,
		"SET LOCAL lock_timeout = "+ms(lim.LockTimeout),
		"SET LOCAL idle_in_transaction_session_timeout = "+ms(lim.IdleTimeout),
	)
	if lim.Role != "" {
		stmts = append(stmts, "SET LOCAL ROLE "+pgx.Identifier{lim.Role}.Sanitize())
	}
	for _, s := range stmts {
		pl.SendQueryParams(s, nil, nil, nil, nil)
	}
	return len(stmts)
}

// sendEnd queues what follows the caller's statements: the sync that ends
// them, ROLLBACK, the session check (re-seeding random() when it may; a
// prepared statement of st's when st is not nil), and a sync. The ROLLBACK
// runs even when a statement before it failed. It returns the check's
// statement to commit once finish has seen it prepared.
func sendEnd(pl *pgconn.Pipeline, caps *sessionCaps, st *statements) *stmt {
	pl.SendPipelineSync()
	pl.SendQueryParams("ROLLBACK", nil, nil, nil, nil)
	var params [][]byte
	if caps.reseed {
		params = [][]byte{newSeed()}
	}
	pending := st.send(pl, caps.checkSQL, params)
	pl.SendPipelineSync()
	return pending
}

// checkRole refuses role names the server would not take as they are.
func checkRole(role string) error {
	if len(role) > maxRoleName || strings.ContainsRune(role, 0) {
		return &Error{Code: CodeQueryFailed, Message: "the caller's role name is not a valid PostgreSQL role name (at most 63 bytes, no NUL)"}
	}
	return nil
}

// finish reads the rest of a pipeline sent with sendEnd, once the caller
// has read its own results (a failed statement of the caller's is fine:
// the server skips to the sync), and commits the check's statement to st
// once it is seen prepared. It closes the pipeline and returns why the
// session is not clean, or nil when the connection may be reused.
func (e *Executor) finish(pl *pgconn.Pipeline, st *statements, check *stmt) (dirty []string) {
	syncs, after := 0, 0
	var row [][]byte
	failed := false
	for syncs < 2 {
		r, err := pl.GetResults()
		if err != nil {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) {
				_ = pl.Close()
				return []string{abandonReason(err)}
			}
			if syncs == 1 {
				failed = true // ROLLBACK or the check failed
			}
			continue
		}
		switch r := r.(type) {
		case nil:
			_ = pl.Close()
			return []string{ReasonAbandoned}
		case *pgconn.PipelineSync:
			syncs++
		case *pgconn.StatementDescription:
			if syncs == 1 {
				st.commit(check)
			}
		case *pgconn.CloseComplete: // an evicted statement closed
		case *pgconn.ResultReader:
			res := r.Read()
			if syncs == 1 {
				after++
				if res.Err != nil {
					failed = true
				} else if after == 2 && len(res.Rows) == 1 {
					row = res.Rows[0]
				}
			}
		}
	}
	if err := pl.Close(); err != nil {
		return []string{abandonReason(err)}
	}
	if failed || row == nil {
		return []string{ReasonCheckFailed}
	}
	return sessionState(row)
}

// abandonReason names why a connection broke.
func abandonReason(err error) string {
	var big *pgproto3.ExceededMaxBodyLenErr
	if errors.As(err, &big) {
		return ReasonTooLarge
	}
	return ReasonAbandoned
}

// settle decides what becomes of a connection after a call: reused when
// clean; reset with DISCARD ALL and checked again when not; closed when
// still not clean or in doubt. It releases the connection in every case.
func (e *Executor) settle(ctx context.Context, conn *pgxpool.Conn, caps *sessionCaps, dirty []string) {
	if len(dirty) == 0 && caps != nil && caps.unverifiable != "" {
		dirty = []string{ReasonUnverifiable}
	}
	if len(dirty) == 0 && conn.Conn().PgConn().TxStatus() == 'I' {
		conn.Release()
		return
	}
	if slices.Contains(dirty, ReasonCheckFailed) {
		e.caps.Store(nil) // the role's privileges may have changed: learn them again
	}
	pc := conn.Conn().PgConn()
	if pinsOf(pc) != nil {
		// Through a transaction-mode pooler, the session the call left
		// changed is the pooler's now: a DISCARD ALL would go to whichever
		// session the pooler picks. The pooler must reset sessions itself
		// (PgBouncer: server_reset_query = DISCARD ALL with
		// server_reset_query_always = 1); this connection is not reused.
		if slices.ContainsFunc(dirty, func(r string) bool { return r != ReasonAbandoned && r != ReasonTooLarge }) {
			e.stats.count(&e.stats.pooled, dirty)
		}
	} else if caps != nil && resettable(dirty) && !pc.IsClosed() && pc.TxStatus() == 'I' {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, err := pc.Exec(rctx, "DISCARD ALL").ReadAll()
		statementsOf(pc).reset() // DISCARD ALL deallocated them
		var again []string
		if err == nil {
			res := pc.ExecParams(rctx, caps.recheckSQL, nil, nil, nil, nil).Read()
			if res.Err != nil || len(res.Rows) != 1 {
				err = errors.Join(res.Err, errors.New("no row"))
			} else {
				again = sessionState(res.Rows[0])
			}
		}
		cancel()
		if err == nil && len(again) == 0 {
			e.stats.count(&e.stats.resets, dirty)
			conn.Release()
			return
		}
	}
	e.stats.count(&e.stats.discards, dirty)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	_ = conn.Conn().Close(cctx)
	cancel()
	conn.Release()
}

// resettable reports whether DISCARD ALL undoes every reason of dirty.
func resettable(dirty []string) bool {
	if len(dirty) == 0 {
		return false
	}
	for _, r := range dirty {
		switch r {
		case ReasonAdvisoryLocks, ReasonPreparedStatements, ReasonCursors, ReasonListeners, ReasonRole, ReasonSettings:
		default:
			return false
		}
	}
	return true
}

// sessionStats counts resets and discards by reason.
type sessionStats struct {
	mu       sync.Mutex
	resets   map[string]int64
	discards map[string]int64
	// pooled counts, among discards, the server sessions a call left
	// changed behind a transaction-mode pooler: pgmcp could not reset
	// them (the pooler's reset must).
	pooled map[string]int64
}

func (s *sessionStats) count(m *map[string]int64, reasons []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *m == nil {
		*m = map[string]int64{}
	}
	for _, r := range reasons {
		(*m)[r]++
	}
}

// SessionStats are the executor's connection resets and discards so far,
// by reason (a connection may count under several reasons at once).
type SessionStats struct {
	Resets, Discards map[string]int64
	// PoolerLeft counts, among Discards, sessions left changed behind a
	// transaction-mode pooler, which only the pooler can reset.
	PoolerLeft map[string]int64
}

// SessionStats returns a copy of the counts.
func (e *Executor) SessionStats() SessionStats {
	e.stats.mu.Lock()
	defer e.stats.mu.Unlock()
	out := SessionStats{Resets: map[string]int64{}, Discards: map[string]int64{}, PoolerLeft: map[string]int64{}}
	for k, v := range e.stats.pooled {
		out.PoolerLeft[k] = v
	}
	for k, v := range e.stats.resets {
		out.Resets[k] = v
	}
	for k, v := range e.stats.discards {
		out.Discards[k] = v
	}
	return out
}

// sessionCaps returns the session capabilities, learning them on conn the first
// time.
func (e *Executor) sessionCaps(ctx context.Context, conn *pgxpool.Conn) (*sessionCaps, error) {
	if c := e.caps.Load(); c != nil {
		return c, nil
	}
	c, err := learnCaps(ctx, conn.Conn())
	if err != nil {
		return nil, err
	}
	e.caps.Store(c)
	return c, nil
}
