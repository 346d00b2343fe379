// Package pgexec owns pgmcp's connections to PostgreSQL: a pool whose every
// session is pinned read-only, the start-up checks of the role it logs in
// as, and (for the query tool) the read-only executor.
//
// Every session of a pool made by [NewPool] starts with
// default_transaction_read_only=on, the configured statement_timeout, an
// explicit search_path, standard_conforming_strings=on and
// application_name=pgmcp, sent as start-up parameters and verified on each
// new connection. These are defence in depth under sqlguard: a statement
// the guard wrongly let through still runs read-only, bounded in time, with
// the quoting rules the guard assumed.
package pgexec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Code is a stable, machine-readable error class of this package.
type Code string

// Error codes. They are part of pgmcp's interface: never rename one.
const (
	// CodeBadURL: the database URL cannot be parsed (the message shows it
	// with its password redacted).
	CodeBadURL Code = "bad_database_url"
	// CodeUnreachable: the database cannot be reached or does not accept
	// connections now (refused, DNS, no answer within the connect timeout,
	// starting up or shutting down), or it stopped answering during a call.
	CodeUnreachable Code = "db_unavailable"
	// CodeAuthFailed: the database refused pgmcp's login (SQLSTATE 28P01 or
	// 28000).
	CodeAuthFailed Code = "db_auth_failed"
	// CodePrivilegedRole: the login role is a superuser or has BYPASSRLS,
	// which pgmcp refuses to run as (unless
	// PGMCP_ALLOW_PRIVILEGED_ROLE=true).
	CodePrivilegedRole Code = "privileged_role"
	// CodeFunctionShadowed: a function or operator in the search path
	// could be called instead of a builtin the guard allows (the
	// CVE-2018-1058 class), so pgmcp refuses to start.
	CodeFunctionShadowed Code = "function_shadowed"
	// CodeSessionPinning: the server (or a proxy in front of it) did not
	// apply pgmcp's read-only session settings, so it is not used.
	CodeSessionPinning Code = "session_not_pinned"
)

// Error is an error of this package. Message is safe to show a user: it
// never holds a password. Err is the internal cause.
type Error struct {
	Code    Code
	Message string
	Err     error
	// PG is set for errors PostgreSQL reported: its SQLSTATE and sanitized
	// message, for the model to repair its query.
	PG *PgError
	// Server is the server the failed call ran on, when it got a
	// connection.
	Server *Server
}

// Error is "code: message"; the cause (Err) is never part of it.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Options configure a pool.
type Options struct {
	// StatementTimeout is the session's statement_timeout (0: server default).
	StatementTimeout time.Duration
	// SearchPath is pinned as the session's search_path. Empty means "public".
	SearchPath []string
	// MaxConns caps the pool (0: 10).
	MaxConns int32
	// ConnectTimeout bounds opening the pool and its first ping (0: 10s).
	ConnectTimeout time.Duration
	// ApplicationName defaults to "pgmcp".
	ApplicationName string
	// MaxMessageBytes is the largest protocol message (a row, a plan, an
	// error) read from the server (0: 64 MiB). A larger one is refused
	// before any of it is buffered: the call fails with result_too_large
	// and the connection is closed.
	MaxMessageBytes int
	// FailbackAfter is, with target_session_attrs=prefer-standby, the age
	// past which a connection that fell back to the primary is closed
	// when next taken, so the next one tries the standbys first (0: 10s;
	// see replica.go).
	FailbackAfter time.Duration
	// Pooler says what is between pgmcp and PostgreSQL: PoolerNone (a
	// dedicated session per connection: PostgreSQL itself, or a
	// session-mode pooler), PoolerTransaction (a transaction-mode pooler
	// such as PgBouncer's pool_mode=transaction: consecutive transactions
	// of one connection may run on different server sessions), or empty:
	// PoolerNone, unless the server refuses pgmcp's start-up parameters
	// as PgBouncer does, in which case the pool is opened again as
	// PoolerTransaction.
	Pooler string
}

// Pooler modes (Options.Pooler, PGMCP_POOLER).
const (
	PoolerAuto        = ""
	PoolerNone        = "none"
	PoolerTransaction = "transaction"
)

// sessionOnly are the pinned settings a transaction-mode pool does not send
// at start-up (PgBouncer refuses a start-up parameter it does not track),
// and sets in every transaction instead.
var sessionOnly = []string{"default_transaction_read_only", "statement_timeout", "search_path", "standard_conforming_strings",
	"intervalstyle", "datestyle", "bytea_output", "extra_float_digits"}

// transactionPins are the SET LOCAL statements that give each transaction
// of a transaction-mode pool what a dedicated session has from its
// start-up parameters (read-only mode comes from BEGIN READ ONLY). They
// come first in the transaction, so that the call's own settings
// (timeouts, role) override them.
func (o Options) transactionPins() []string {
	p := o.Pinned()
	var out []string
	for _, k := range sessionOnly {
		if k == "default_transaction_read_only" {
			continue
		}
		v := p[k]
		if k != "search_path" && k != "statement_timeout" {
			v = "'" + v + "'" // fixed words of pgmcp's, never input
		}
		out = append(out, "SET LOCAL "+k+" = "+v)
	}
	return out
}

// pinsKey is the key, in a transaction-mode connection's
// pgconn.CustomData, of its transaction pins.
const pinsKey = "pgmcp.pins"

// pinsOf returns the SET LOCAL statements each transaction on pc must
// start with: nil on a dedicated session (its start-up parameters hold).
func pinsOf(pc *pgconn.PgConn) []string {
	p, _ := pc.CustomData()[pinsKey].([]string)
	return p
}

// TransactionPooled reports whether pool was opened for a
// transaction-mode pooler (Options.Pooler, or detected).
func TransactionPooled(pool *pgxpool.Pool) bool {
	_, session := pool.Config().ConnConfig.RuntimeParams["default_transaction_read_only"]
	return !session
}

// Pinned returns the session settings every connection starts with.
func (o Options) Pinned() map[string]string {
	sp := o.SearchPath
	if len(sp) == 0 {
		sp = []string{"public"}
	}
	quoted := make([]string, len(sp))
	for i, s := range sp {
		quoted[i] = pgx.Identifier{s}.Sanitize()
	}
	app := o.ApplicationName
	if app == "" {
		app = "pgmcp"
	}
	return map[string]string{
		"default_transaction_read_only": "on",
		"statement_timeout":             strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10),
		"search_path":                   strings.Join(quoted, ", "),
		"standard_conforming_strings":   "on",
		"application_name":              app,
		"client_encoding":               "UTF8",
		// The output styles the value conversion expects. DateStyle ISO
		// changes only the output format: the server's day/month order
		// for input is kept. A transaction cannot change them for the
		// next call (it is rolled back, settings with it), and the
		// session check verifies them after every call.
		"intervalstyle":      "iso_8601",
		"datestyle":          "ISO",
		"bytea_output":       "hex",
		"extra_float_digits": "1",
	}
}

// NewPool opens a pool to url whose sessions are pinned as the package doc
// says, and checks within ConnectTimeout that the database answers. Errors
// are *Error with a message that names no password.
func NewPool(ctx context.Context, dsn string, opts Options) (*pgxpool.Pool, error) {
	switch opts.Pooler {
	case PoolerAuto:
		pool, err := newPool(ctx, dsn, opts, false)
		var pe *pgconn.PgError
		if err != nil && errors.As(err, &pe) && strings.Contains(pe.Message, "unsupported startup parameter") {
			// PgBouncer refuses the start-up parameters it does not
			// track: transaction pooling is the safe reading (it is
			// also correct behind a session-mode PgBouncer).
			return newPool(ctx, dsn, opts, true)
		}
		return pool, err
	case PoolerNone:
		return newPool(ctx, dsn, opts, false)
	case PoolerTransaction:
		return newPool(ctx, dsn, opts, true)
	default:
		return nil, &Error{Code: CodeBadURL, Message: fmt.Sprintf("unknown pooler mode %q (use %s or %s)", opts.Pooler, PoolerNone, PoolerTransaction)}
	}
}

// newPool is NewPool in one mode: with txPooled, nothing is asked of the
// session that a transaction-mode pooler would not keep (see
// transactionPins).
func newPool(ctx context.Context, dsn string, opts Options, txPooled bool) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &Error{Code: CodeBadURL, Message: "invalid database URL " + RedactDSN(dsn) + ": " + scrub(err.Error(), dsn), Err: err}
	}
	timeout := opts.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	} else {
		cfg.MaxConns = 10
	}
	cfg.ConnConfig.ConnectTimeout = timeout
	cfg.ConnConfig.DialFunc = dialFunc(timeout)
	// No message larger than the bound is ever buffered (a row of one huge
	// value would otherwise be read whole before any cap applies).
	cfg.ConnConfig.MaxProtocolMessageBodyLen = opts.MaxMessageBytes
	if cfg.ConnConfig.MaxProtocolMessageBodyLen <= 0 {
		cfg.ConnConfig.MaxProtocolMessageBodyLen = 64 << 20
	}
	// No named prepared statements of pgx's: pgmcp's own queries leave
	// nothing on the session, so any prepared statement found there after
	// a call is the call's doing (see session.go), and a statement
	// prepared by SQL can never be mistaken for one of pgx's cache. The
	// exec mode sends each query in one round trip (Parse to Sync), which
	// a transaction-mode pooler keeps on one server session.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	// Spans for pgmcp's own queries through pgx, within traced calls.
	cfg.ConnConfig.Tracer = catalogTracer{}
	// A cancelled call must stop its statement on the server at once, not
	// when the server next writes to a dead socket: send a cancel request
	// right away, and give up on the connection if that does not help.
	cfg.ConnConfig.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, CancelRequestDelay: 0, DeadlineDelay: deadlineDelay}
	}
	pinned := opts.Pinned()
	if txPooled {
		pins := opts.transactionPins()
		for _, k := range sessionOnly {
			delete(pinned, k)
		}
		cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
			conn.PgConn().CustomData()[pinsKey] = pins
			return nil
		}
	} else {
		cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
			return verifyPinned(ctx, conn, pinned)
		}
	}
	for k, v := range pinned {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	replicaHooks(cfg, opts)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, connectError(dsn, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, connectError(dsn, err)
	}
	return pool, nil
}

// verifyPinned reads back the pinned settings: a server or proxy that
// ignored a start-up parameter must not be used.
func verifyPinned(ctx context.Context, conn *pgx.Conn, pinned map[string]string) error {
	names := []string{"default_transaction_read_only", "standard_conforming_strings", "intervalstyle", "bytea_output", "extra_float_digits", "datestyle"}
	got := make([]string, len(names))
	dst := make([]any, len(names))
	for i := range got {
		dst[i] = &got[i]
	}
	err := conn.QueryRow(ctx, "SELECT current_setting('default_transaction_read_only'), current_setting('standard_conforming_strings'), "+
		"current_setting('intervalstyle'), current_setting('bytea_output'), current_setting('extra_float_digits'), "+
		"split_part(current_setting('datestyle'), ',', 1)").Scan(dst...)
	if err != nil {
		return err
	}
	want := map[string]string{"standard_conforming_strings": "on"}
	for _, n := range names {
		if v, ok := pinned[n]; ok {
			want[n] = v
		}
	}
	var off []string
	for i, n := range names {
		if !strings.EqualFold(got[i], want[n]) {
			off = append(off, n+"="+got[i])
		}
	}
	if len(off) > 0 {
		return &Error{Code: CodeSessionPinning, Message: fmt.Sprintf(
			"the server did not apply pgmcp's session settings (%s); connect directly, not through a proxy that drops start-up parameters", strings.Join(off, ", "))}
	}
	return nil
}

// connectError turns a connection failure into one clear line.
func connectError(dsn string, err error) error {
	var pe *pgconn.PgError
	msg := "cannot connect to " + RedactDSN(dsn) + ": "
	code := CodeUnreachable
	var pinErr *Error
	switch {
	case errors.As(err, &pinErr):
		return pinErr
	case errors.As(err, &pe):
		switch {
		case strings.Contains(pe.Message, "unsupported startup parameter"):
			// PgBouncer's refusal of a parameter it does not track.
			code = CodeSessionPinning
			msg += pe.Message + "; a pooler such as PgBouncer is in front of the database: set PGMCP_POOLER=transaction (or leave it unset to detect it)"
			return &Error{Code: code, Message: scrub(msg, dsn), Err: err}
		}
		switch pe.Code {
		case "28P01", "28000":
			code = CodeAuthFailed
			msg += "authentication failed (" + pe.Message + ")"
		case "3D000":
			msg += pe.Message
		default:
			msg += pe.Message + " (SQLSTATE " + pe.Code + ")"
		}
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		msg += "no answer within the connect timeout"
	default:
		msg += rootCause(err)
	}
	return &Error{Code: code, Message: scrub(msg, dsn), Err: err}
}

// rootCause returns the innermost useful message of a connect error (pgx
// wraps each attempted address; the last wrapped error says why).
func rootCause(err error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:]
	}
	return s
}

var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactDSN returns the connection string with its password replaced by
// "xxxxx", in URL or key=value form. Use it before a DSN reaches a log or an
// error.
func RedactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "(unparsable database URL)"
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// ScrubPassword removes the DSN's password from s, wherever a library
// echoed it.
func ScrubPassword(s, dsn string) string { return scrub(s, dsn) }

func scrub(s, dsn string) string {
	if pw := passwordOf(dsn); len(pw) >= 3 {
		s = strings.ReplaceAll(s, pw, "xxxxx")
	}
	return s
}

func passwordOf(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
		if pw := u.Query().Get("password"); pw != "" {
			return pw
		}
	}
	if m := kvPassword.FindStringSubmatch(dsn); m != nil {
		return strings.Trim(m[2], "'")
	}
	return ""
}

// LoginUser is the user name a connection to dsn logs in as (the URL's, or
// what libpq's defaults give: PGUSER, the OS user); empty when dsn does not
// parse.
func LoginUser(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return cfg.User
}
