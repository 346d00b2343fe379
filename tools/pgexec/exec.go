package pgexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgmcp/pgmcp/sqlguard"
)

// Executor error codes. Never rename one.
const (
	// CodeQueryTimeout: the query ran longer than the statement timeout,
	// waited too long for a lock, or did not finish before the call's
	// deadline.
	CodeQueryTimeout Code = "query_timeout"
	// CodeReadOnlyViolation: the query tried to write in the read-only
	// transaction (SQLSTATE 25006).
	CodeReadOnlyViolation Code = "read_only_violation"
	// CodeQueryFailed: PostgreSQL refused or failed the query (PG holds its
	// SQLSTATE and a message without data values), or the query could not
	// be run as asked.
	CodeQueryFailed Code = "query_failed"
	// CodeCancelled: the call was cancelled (by the caller, or on the server
	// by pg_cancel_backend or an administrator) before it finished.
	CodeCancelled Code = "cancelled"
	// CodeResultTooLarge: the server sent a row (or another message) larger
	// than the pool's message bound; none of it was read.
	CodeResultTooLarge Code = "result_too_large"
	// CodeConnectionLost: the connection broke while the call used it (the
	// server crashed, restarted or was shut down, or the network failed).
	CodeConnectionLost Code = "connection_lost"
	// CodePoolExhausted: every connection of the pool stayed busy for the
	// whole acquire timeout (the database itself may be fine).
	CodePoolExhausted Code = "pool_exhausted"
)

// Client-side bounds. The server's statement_timeout cannot fire when the
// server is stopped (a frozen VM, a partition: the kernel may still accept
// TCP), so every call also has a deadline of its own: its statement timeout
// plus deadlineMargin. Past it, pgx sends a cancel request and, after
// deadlineDelay more, closes the connection: a call ends within statement
// timeout + deadlineMargin + deadlineDelay, whatever the server does.
const (
	deadlineMargin = time.Second
	deadlineDelay  = 2 * time.Second
	// unboundedCall is the deadline of a call with no statement timeout of
	// its own (the session's, pinned at connect, applies on the server).
	unboundedCall = 5 * time.Minute
	// catalogBound bounds pgmcp's own catalog reads of a call (type names,
	// plan sizes, what the session check may use).
	catalogBound = 5 * time.Second
)

// errNoAnswer is the cause of a call's context when its own deadline
// passed: the server did not answer, not even with its statement timeout.
var errNoAnswer = errors.New("the database did not answer in time")

// callContext is the context of a call's statements: the caller's, with
// the client-side deadline for timeout.
func callContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		timeout = unboundedCall
	}
	return context.WithTimeoutCause(ctx, timeout+deadlineMargin, errNoAnswer)
}

// Limits bound one execution.
type Limits struct {
	// MaxRows is the most rows returned; one more is read to detect
	// truncation.
	MaxRows int
	// MaxResultBytes caps the JSON size of the rows returned (0: 1 MiB).
	MaxResultBytes int
	// MaxCellBytes caps one value's text (0: 64 KiB); longer values are cut.
	MaxCellBytes int
	// StatementTimeout is SET LOCAL statement_timeout (0: keep the session's).
	StatementTimeout time.Duration
	// ExplainTimeout is the statement_timeout of EXPLAIN, which only plans
	// (0: 3s; never above StatementTimeout when that is set). The planner
	// folds immutable calls on constants, so planning can run code.
	ExplainTimeout time.Duration
	// LockTimeout is SET LOCAL lock_timeout (0: 1s).
	LockTimeout time.Duration
	// IdleTimeout is SET LOCAL idle_in_transaction_session_timeout (0: the
	// statement timeout plus 5s).
	IdleTimeout time.Duration
	// AcquireTimeout bounds the wait for a pooled connection, which
	// includes connecting when none is idle (0: 5s). A database that is
	// down fails calls within it, with db_unavailable.
	AcquireTimeout time.Duration
	// Mentionable, when set, reports names (relations, columns) an error
	// message may show the caller besides those written in the query; every
	// other quoted part of a PostgreSQL message is masked (see
	// SanitizeMessage).
	Mentionable func(name string) bool
	// Role, when set, is SET LOCAL ROLE for the transaction: the query
	// runs with that role's privileges and row-level security. The pool's
	// login role must be a member of it. ROLLBACK resets it.
	Role string
	// TraceSQL records the SQL text (db.query.text) on the execution's
	// trace span; off, a span says what ran where but not the text.
	TraceSQL bool
}

func (l Limits) withDefaults() Limits {
	if l.MaxRows <= 0 {
		l.MaxRows = 1000
	}
	if l.MaxResultBytes <= 0 {
		l.MaxResultBytes = 1 << 20
	}
	if l.MaxCellBytes <= 0 {
		l.MaxCellBytes = 64 << 10
	}
	if l.LockTimeout <= 0 {
		l.LockTimeout = time.Second
	}
	if l.ExplainTimeout <= 0 {
		l.ExplainTimeout = 3 * time.Second
	}
	if l.StatementTimeout > 0 && l.ExplainTimeout > l.StatementTimeout {
		l.ExplainTimeout = l.StatementTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = l.StatementTimeout + 5*time.Second
	}
	if l.AcquireTimeout <= 0 {
		l.AcquireTimeout = 5 * time.Second
	}
	return l
}

// Column describes a result column.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Result is what a query returned. Rows hold JSON-ready values: nil, bool,
// string, json.Number (integers and numerics, exactly as PostgreSQL printed
// them), json.RawMessage (json and jsonb) and []any (arrays).
type Result struct {
	Columns []Column
	Rows    [][]any
	// Truncated is true when the query had more rows than returned.
	Truncated bool
	// TruncatedBy says which limit cut the result: "max_rows" or
	// "max_result_bytes".
	TruncatedBy string
	// CellsTruncated counts values cut to MaxCellBytes.
	CellsTruncated int
	// Elapsed is the time from sending the query to the last row read.
	Elapsed time.Duration
	// Server is the server that ran the query (see replica.go).
	Server Server
}

// Executor runs checked queries on one pool. It caches what it learns
// about the database's types (OIDs of user types are per database).
type Executor struct {
	pool  *pgxpool.Pool
	caps  atomic.Pointer[sessionCaps]
	stats sessionStats

	mu    sync.Mutex
	types map[uint32]typeInfo
	names map[typeKey]string
	// conv is a converter over a copy of types, made when types last
	// changed (nil: to be made): calls share it instead of copying.
	conv *converter

	// targetDesc is what the spans say of the database (see target).
	targetOnce sync.Once
	targetDesc *dbTarget
}

type typeKey struct {
	oid uint32
	mod int32
}

// NewExecutor returns an executor over pool (a pool made by NewPool).
func NewExecutor(pool *pgxpool.Pool) *Executor {
	return &Executor{pool: pool, types: map[uint32]typeInfo{}, names: map[typeKey]string{}}
}

// Pool returns the executor's pool.
func (e *Executor) Pool() *pgxpool.Pool { return e.pool }

// Run executes a checked query read-only: on a pooled connection, in a READ
// ONLY transaction with local timeouts, through the extended protocol (one
// statement only, whatever the text holds), reading at most MaxRows+1 rows,
// and always rolling back; the connection is then checked clean (see
// session.go) before it is reused. Errors are *Error with a message that
// holds no data values.
//
// The transaction costs no extra round trip: BEGIN READ ONLY, the local
// settings, the query, ROLLBACK and the session check go to the server as
// one pipeline, each step skipped by the server if an earlier one failed.
func (e *Executor) Run(ctx context.Context, q *sqlguard.Query, lim Limits) (res *Result, err error) {
	return e.RunParams(ctx, q, nil, lim)
}

// RunParams is Run of a query checked with parameters
// (sqlguard.CheckParams), with their values in PostgreSQL's text format,
// as many as the query takes: they are bound as data (the extended
// protocol's Bind), never part of the SQL text.
func (e *Executor) RunParams(ctx context.Context, q *sqlguard.Query, params [][]byte, lim Limits) (res *Result, err error) {
	ctx, span := e.startSpan(ctx, opSelect, q.SQL(), lim)
	defer func() { endSpan(span, res, err) }()
	if err := paramCount(q, params); err != nil {
		return nil, err
	}
	lim = lim.withDefaults()
	sql, err := q.LimitRows(lim.MaxRows + 1)
	if err != nil {
		return nil, &Error{Code: CodeQueryFailed, Message: "cannot apply the row limit to this query", Err: err}
	}
	return e.runParams(ctx, sql, params, lim)
}

// paramCount refuses values that are not as many as the query's
// parameters (sqlguard.CheckParams).
func paramCount(q *sqlguard.Query, params [][]byte) error {
	if len(params) != q.Params() {
		return &Error{Code: CodeQueryFailed, Message: fmt.Sprintf("the query takes %d parameters, %d were given", q.Params(), len(params))}
	}
	return nil
}

// run is Run of SQL text: only Run (checked queries) and tests call it.
func (e *Executor) run(ctx context.Context, sql string, lim Limits) (*Result, error) {
	return e.runParams(ctx, sql, nil, lim)
}

// runParams is run with parameters. A prepared statement found stale is
// run once more, unprepared.
func (e *Executor) runParams(ctx context.Context, sql string, params [][]byte, lim Limits) (*Result, error) {
	arena := new(textArena) // the result's text
	res, fields, raw, stale, err := e.runOnce(ctx, sql, params, lim, true, arena)
	if stale {
		res, fields, raw, _, err = e.runOnce(ctx, sql, params, lim, false, arena)
	}
	if err != nil {
		return nil, err
	}
	return e.convert(ctx, res, fields, raw, arena)
}

// runOnce is one attempt of run, with the query prepared on the connection
// when prepare is set. stale means the prepared statement could not run
// as prepared: the caller may try again unprepared.
func (e *Executor) runOnce(ctx context.Context, sql string, params [][]byte, lim Limits, prepare bool, arena *textArena) (res *Result, fields []pgconn.FieldDescription, raw [][]cell, stale bool, err error) {
	conn, caps, err := e.begin(ctx, lim)
	if err != nil {
		return nil, nil, nil, false, err
	}
	ctx, cancel := callContext(ctx, lim.StatementTimeout)
	defer cancel()
	pc := conn.Conn().PgConn()
	srv := serverOf(pc)
	st := statementsOf(pc)
	pl := pc.StartPipeline(ctx)
	steps := sendBegin(pl, pinsOf(pc), lim, lim.StatementTimeout)
	// The extended protocol: the server refuses a string holding more
	// than one command. Every column comes back as text, PostgreSQL's
	// exact rendering, converted below.
	qs := st
	if !prepare {
		qs = nil // unnamed (the stale statement was dropped by the attempt before)
	}
	query := qs.send(pl, sql, params)
	check := sendEnd(pl, caps, st)
	start := time.Now()
	if err := pl.Flush(); err != nil {
		_ = pl.Close()
		e.settle(ctx, conn, caps, []string{ReasonAbandoned})
		return nil, nil, nil, false, onServer(execError(ctx, err), srv)
	}

	res, fields, raw, stoppedEarly, qerr := e.readPipeline(pl, steps, lim, st, query, arena)
	res.Elapsed = time.Since(start)
	res.Server = srv
	var pe *pgconn.PgError
	var dirty []string
	switch {
	case stoppedEarly:
		// The rest of a result we will not use is not read: closing the
		// connection stops the statement on the server at once.
		_ = pl.Close()
		dirty = []string{ReasonAbandoned}
	case qerr != nil && !errors.As(qerr, &pe):
		_ = pl.Close() // the connection broke
		dirty = []string{abandonReason(qerr)}
	default:
		dirty = e.finish(pl, st, check)
	}
	stale = prepare && stalePlan(qerr)
	if stale {
		st.drop(sql)
	}
	e.settle(ctx, conn, caps, dirty)
	if qerr != nil {
		return nil, nil, nil, stale, onServer(execErrorIn(ctx, qerr, source{sql: sql, known: lim.Mentionable, standby: srv.Standby}), srv)
	}
	return res, fields, raw, false, nil
}

// convert turns the raw text cells of a result into values, with the
// columns' type names.
func (e *Executor) convert(ctx context.Context, res *Result, fields []pgconn.FieldDescription, raw [][]cell, arena *textArena) (*Result, error) {
	// Type names come from the catalog (only for types not seen before),
	// on any pooled connection.
	conv, err := e.describe(ctx, e.pool, fields)
	if err != nil {
		return nil, execError(ctx, err)
	}
	res.Columns = make([]Column, len(fields))
	for i, f := range fields {
		res.Columns[i] = Column{Name: f.Name, Type: e.typeName(f)}
	}
	res.Rows = make([][]any, len(raw))
	values := make([]any, len(raw)*len(fields)) // one slab for every row
	for r, row := range raw {
		out := values[:len(row):len(row)]
		values = values[len(row):]
		for i, v := range row {
			switch {
			case v.cut:
				out[i] = v.text // a cut value is text, whatever its type
			case v.set:
				out[i] = conv.convertIn(fields[i].DataTypeOID, v.text, arena)
			}
		}
		res.Rows[r] = out
	}
	return res, nil
}

// begin checks the role name, takes a pooled connection and the session
// check's capabilities.
func (e *Executor) begin(ctx context.Context, lim Limits) (*pgxpool.Conn, *sessionCaps, error) {
	if err := checkRole(lim.Role); err != nil {
		return nil, nil, err
	}
	conn, err := e.acquire(ctx, lim)
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeoutCause(ctx, catalogBound, errNoAnswer)
	defer cancel()
	caps, err := e.sessionCaps(cctx, conn)
	if err != nil {
		e.settle(ctx, conn, nil, []string{ReasonCheckFailed})
		return nil, nil, execError(ctx, err)
	}
	return conn, caps, nil
}

// readPipeline reads the pipeline of Run up to the query's rows: the
// steps of sendBegin, then the query's rows within the limits. It returns
// the first error of any step. stoppedEarly means the result was abandoned
// mid-stream (the connection must not be reused).
func (e *Executor) readPipeline(pl *pgconn.Pipeline, steps int, lim Limits, st *statements, query *stmt, arena *textArena) (res *Result, fields []pgconn.FieldDescription, raw [][]cell, stoppedEarly bool, err error) {
	res = &Result{}
	for step := 0; step <= steps; step++ {
		r, err := pl.GetResults()
		if err != nil {
			return res, nil, nil, false, err
		}
		switch r.(type) {
		case *pgconn.CloseComplete: // an evicted statement closed
			step--
			continue
		case *pgconn.StatementDescription:
			if step == steps {
				st.commit(query) // the query's Parse succeeded
				step--
				continue
			}
		}
		rr, ok := r.(*pgconn.ResultReader)
		if !ok {
			return res, nil, nil, false, fmt.Errorf("pgexec: unexpected pipeline result %T at step %d", r, step)
		}
		if step < steps {
			if _, err := rr.Close(); err != nil {
				return res, nil, nil, false, err
			}
			continue
		}
		// A copy: pgconn reuses the slice for the next query.
		fields = append([]pgconn.FieldDescription(nil), rr.FieldDescriptions()...)
		size := 2 // the enclosing brackets of the rows array
		var slab []cell
		for rr.NextRow() {
			if len(raw) == lim.MaxRows {
				// The row past the cap: the rewritten LIMIT means nothing
				// follows it, so the rest is drained, not abandoned.
				res.Truncated, res.TruncatedBy = true, "max_rows"
				break
			}
			vals := rr.Values()
			// The values are only valid until the next row: they are
			// copied into the result's text arena, and the row's cells
			// come from a slab shared by many rows.
			if len(slab) < len(vals) {
				slab = make([]cell, len(vals)*max(64, min(len(raw), 1024)))
			}
			row := slab[:len(vals):len(vals)]
			slab = slab[len(vals):]
			rowSize := 3 // brackets and separator
			for i, v := range vals {
				if v == nil {
					rowSize += 5
					continue
				}
				if len(v) > lim.MaxCellBytes {
					row[i] = cell{text: truncateText(v, lim.MaxCellBytes), cut: true}
					res.CellsTruncated++
				} else {
					row[i] = cell{text: arena.add(v), set: true}
				}
				rowSize += len(row[i].text) + 3
			}
			if size+rowSize > lim.MaxResultBytes {
				res.Truncated, res.TruncatedBy = true, "max_result_bytes"
				return res, fields, raw, true, nil
			}
			size += rowSize
			raw = append(raw, row)
		}
		if _, err := rr.Close(); err != nil {
			return res, fields, raw, false, err
		}
	}
	return res, fields, raw, false, nil
}

func (e *Executor) typeName(f pgconn.FieldDescription) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.names[typeKey{f.DataTypeOID, f.TypeModifier}]
}

// describe makes sure the executor knows every type of the result (and the
// element and base types behind them), asking the catalog only about types
// not seen before, and returns a converter over what it knows.
func (e *Executor) describe(ctx context.Context, tx queryer, fields []pgconn.FieldDescription) (*converter, error) {
	e.mu.Lock()
	var oids []uint32
	var mods []int32
	for _, f := range fields {
		if _, ok := e.names[typeKey{f.DataTypeOID, f.TypeModifier}]; !ok {
			oids = append(oids, f.DataTypeOID)
			mods = append(mods, f.TypeModifier)
		}
	}
	e.mu.Unlock()
	if len(oids) > 0 {
		if err := e.learn(ctx, tx, oids, mods); err != nil {
			return nil, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conv == nil {
		types := make(map[uint32]typeInfo, len(e.types))
		for k, v := range e.types {
			types[k] = v
		}
		e.conv = &converter{types: types} // read-only from here on
	}
	return e.conv, nil
}

// learn reads the names of (oid, typmod) pairs and the element, base and
// delimiter of those types and of the types they are made of.
func (e *Executor) learn(ctx context.Context, tx queryer, oids []uint32, mods []int32) error {
	rows, err := tx.Query(ctx, `SELECT o, m, format_type(o, nullif(m, -1)) FROM unnest($1::oid[], $2::int4[]) AS t(o, m)`, oids, mods)
	if err != nil {
		return err
	}
	names := map[typeKey]string{}
	for rows.Next() {
		var k typeKey
		var name string
		if err := rows.Scan(&k.oid, &k.mod, &name); err != nil {
			rows.Close()
			return err
		}
		names[k] = name
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, `
		WITH RECURSIVE t(oid) AS (
		  SELECT unnest($1::oid[])
		  UNION
		  SELECT x FROM t JOIN pg_type ty ON ty.oid = t.oid,
		    LATERAL (VALUES (CASE WHEN ty.typcategory = 'A' THEN nullif(ty.typelem, 0) END),
		                    (nullif(ty.typbasetype, 0))) AS v(x)
		  WHERE x IS NOT NULL)
		SELECT ty.oid, CASE WHEN ty.typcategory = 'A' THEN ty.typelem ELSE 0 END, ty.typbasetype, ascii(ty.typdelim::text)
		FROM t JOIN pg_type ty ON ty.oid = t.oid`, oids)
	if err != nil {
		return err
	}
	types := map[uint32]typeInfo{}
	for rows.Next() {
		var oid, elem, base uint32
		var delim int32
		if err := rows.Scan(&oid, &elem, &base, &delim); err != nil {
			rows.Close()
			return err
		}
		types[oid] = typeInfo{elem: elem, base: base, delim: byte(delim)}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.names) > 10000 { // a server with endless new types: start over
		e.names, e.types = map[typeKey]string{}, map[uint32]typeInfo{}
	}
	for k, v := range names {
		e.names[k] = v
	}
	for k, v := range types {
		e.types[k] = v
	}
	e.conv = nil // made again from the new types
	return nil
}

// queryer runs catalog queries: a transaction or a pool.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// cell is one value as read: NULL (neither set nor cut), its text, or its
// text cut to the cell limit.
type cell struct {
	text     string
	set, cut bool
}

const truncMark = "…[truncated "

func truncateText(v []byte, max int) string {
	cut := max
	// Do not split a UTF-8 sequence.
	for cut > 0 && v[cut]&0xC0 == 0x80 {
		cut--
	}
	return string(v[:cut]) + truncMark + strconv.Itoa(len(v)-cut) + " bytes]"
}

// acquire takes a pooled connection within the acquire timeout. Errors
// are db_unavailable, or the caller's cancellation.
func (e *Executor) acquire(ctx context.Context, lim Limits) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, lim.AcquireTimeout)
	defer cancel()
	conn, err := e.pool.Acquire(actx)
	if err == nil {
		return conn, nil
	}
	var ce *pgconn.ConnectError
	switch {
	case ctx.Err() != nil:
		return nil, execError(ctx, err)
	case errors.As(err, &ce):
		return nil, &Error{Code: CodeUnreachable, Message: "the database is not reachable (a new connection failed)", Err: err}
	case e.pool.Stat().AcquiredConns() >= e.pool.Stat().MaxConns():
		return nil, &Error{Code: CodePoolExhausted, Message: fmt.Sprintf(
			"all %d database connections stayed busy for %s", e.pool.Stat().MaxConns(), lim.AcquireTimeout), Err: err}
	default:
		return nil, &Error{Code: CodeUnreachable, Message: fmt.Sprintf("the database did not accept a connection within %s", lim.AcquireTimeout), Err: err}
	}
}

// execError maps an execution error to a safe *Error.
func execError(ctx context.Context, err error) error { return execErrorIn(ctx, err, source{}) }

// execErrorIn is execError for an error of the statement src.
func execErrorIn(ctx context.Context, err error, src source) error {
	var pe *pgconn.PgError
	var big *pgproto3.ExceededMaxBodyLenErr
	var own *Error
	switch {
	case errors.As(err, &own):
		return own
	case errors.As(err, &big):
		return &Error{Code: CodeResultTooLarge, Message: fmt.Sprintf(
			"a row of the result is larger than the %d bytes pgmcp reads at once (PGMCP_MAX_ROW_BYTES): select fewer or shorter columns, e.g. left(col, 1000)", big.MaxExpectedBodyLen), Err: err}
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), errNoAnswer):
		return &Error{Code: CodeUnreachable, Message: "the database stopped answering (no reply, not even its statement timeout): it may be frozen or cut off; the connection was closed", Err: err}
	case errors.Is(ctx.Err(), context.Canceled):
		// pgx cancels the statement in the server, which then answers
		// 57014 too: the caller's cancel is what happened, not a timeout.
		msg := "the query was cancelled"
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			msg += " (" + cause.Error() + ")"
		}
		return &Error{Code: CodeCancelled, Message: msg, Err: err}
	case errors.As(err, &pe):
		return pgError(pe, src)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Code: CodeQueryTimeout, Message: "the query did not finish in time", Err: err}
	case pgconn.SafeToRetry(err):
		return &Error{Code: CodeUnreachable, Message: "the database connection failed before the query was sent", Err: err}
	case isNetError(err):
		return &Error{Code: CodeConnectionLost, Message: "the connection to the database was lost during the call (the server crashed, restarted or the network failed)", Err: err}
	default:
		return &Error{Code: CodeQueryFailed, Message: "the query failed", Err: err}
	}
}

// isNetError reports whether err says the connection itself failed: a
// connect error, a network error (*net.OpError and every net.Error), the
// peer resetting the connection or a write into a closed one (ECONNRESET,
// EPIPE, also when not wrapped in a *net.OpError), an end of stream in the
// middle of a message, or a pgx connection already closed by an earlier
// failure (pgconn.ErrConnClosed). It looks at types and sentinels only,
// never at the error's text.
func isNetError(err error) bool {
	var ce *pgconn.ConnectError
	var oe *net.OpError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &oe) || errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// PgError describes a PostgreSQL error the client may see.
type PgError struct {
	SQLState string
	Message  string
	Hint     string
	Position int
}
