package pgexec

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Read replicas. A database URL may name several hosts (host=h1,h2 and
// port=p1,p2, or postgres://h1:p1,h2:p2/db) with libpq's
// target_session_attrs; pgx tries the hosts in order for every new
// connection and keeps the first that suits (prefer-standby: a standby if
// any answers, else the primary it found). pgmcp keeps that working and
// adds three things:
//
//   - each connection records the server it reached (host, port, and
//     whether it was in recovery), which every call reports (Result.Server,
//     Error.Server) for the audit record and the metrics;
//   - with prefer-standby, a connection that fell back to the primary is
//     closed once it is older than Options.FailbackAfter, when it is next
//     taken from the pool: the next connection tries the standbys first
//     again, so calls return to a standby that came back, with no restart;
//   - read-write, which tests transaction_read_only, can never pass under
//     pgmcp's own pin (default_transaction_read_only=on): it is checked as
//     primary (not in recovery) instead. read-only passes on any server
//     for the same reason (SessionAttrsWarning says so).

// Server is the database server a connection reached.
type Server struct {
	// Host is the unix socket directory, or the IP address, connected to.
	Host string
	// Port is the server's port.
	Port int
	// Standby is whether the server was in recovery (a standby) when the
	// connection was made.
	Standby bool
}

// Role is "standby" or "primary" ("" for the zero Server).
func (s Server) Role() string {
	switch {
	case s.Host == "":
		return ""
	case s.Standby:
		return "standby"
	}
	return "primary"
}

// String is host:port.
func (s Server) String() string {
	if s.Host == "" {
		return ""
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// serverKey is the key of a connection's *connServer in its
// pgconn.CustomData.
const serverKey = "pgmcp.server"

type connServer struct {
	Server
	connected time.Time
}

// defaultFailback is Options.FailbackAfter's default.
const defaultFailback = 10 * time.Second

// Target session attributes, as in libpq.
const (
	AttrsAny           = "any"
	AttrsReadWrite     = "read-write"
	AttrsReadOnly      = "read-only"
	AttrsPrimary       = "primary"
	AttrsStandby       = "standby"
	AttrsPreferStandby = "prefer-standby"
)

// sessionAttrs names pgx's validators of target_session_attrs.
var sessionAttrs = map[uintptr]string{
	reflect.ValueOf(pgconn.ValidateConnectTargetSessionAttrsReadWrite).Pointer():     AttrsReadWrite,
	reflect.ValueOf(pgconn.ValidateConnectTargetSessionAttrsReadOnly).Pointer():      AttrsReadOnly,
	reflect.ValueOf(pgconn.ValidateConnectTargetSessionAttrsPrimary).Pointer():       AttrsPrimary,
	reflect.ValueOf(pgconn.ValidateConnectTargetSessionAttrsStandby).Pointer():       AttrsStandby,
	reflect.ValueOf(pgconn.ValidateConnectTargetSessionAttrsPreferStandby).Pointer(): AttrsPreferStandby,
}

// attrsOf is the target_session_attrs pgx parsed into cfg: from the URL,
// or PGTARGETSESSIONATTRS ("any" when neither sets it).
func attrsOf(cfg *pgconn.Config) string {
	if cfg.ValidateConnect == nil {
		return AttrsAny
	}
	if a, ok := sessionAttrs[reflect.ValueOf(cfg.ValidateConnect).Pointer()]; ok {
		return a
	}
	return "custom"
}

// SessionAttrs returns the target_session_attrs of a database URL (or
// key=value string), as pgx reads it: "any" when it sets none, "" when it
// cannot be parsed.
func SessionAttrs(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return attrsOf(cfg)
}

// SessionAttrsWarning is what an operator should be told about the
// target_session_attrs of dsn ("" when nothing): read-only cannot tell a
// standby from a primary under pgmcp's read-only pin, and read-write is
// checked as primary.
func SessionAttrsWarning(dsn string) string {
	switch SessionAttrs(dsn) {
	case AttrsReadOnly:
		return "target_session_attrs=read-only accepts any server: pgmcp pins default_transaction_read_only=on, so every session is read-only, primaries too; " +
			"use target_session_attrs=standby (standbys only) or prefer-standby (a standby when one is up, else the primary)"
	case AttrsReadWrite:
		return "target_session_attrs=read-write can never be met under pgmcp's read-only pin; pgmcp checks it as primary (a server not in recovery): write target_session_attrs=primary"
	}
	return ""
}

// replicaHooks adds to cfg (after NewPool set its AfterConnect) the
// recording of each connection's server, read-write checked as primary,
// and prefer-standby's return to a standby.
func replicaHooks(cfg *pgxpool.Config, opts Options) {
	attrs := attrsOf(&cfg.ConnConfig.Config)
	if attrs == AttrsReadWrite {
		cfg.ConnConfig.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsPrimary
	}
	after := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if after != nil {
			if err := after(ctx, conn); err != nil {
				return err
			}
		}
		return noteServer(ctx, conn.PgConn())
	}
	if attrs != AttrsPreferStandby {
		return
	}
	failback := opts.FailbackAfter
	if failback <= 0 {
		failback = defaultFailback
	}
	prepare := cfg.PrepareConn
	cfg.PrepareConn = func(ctx context.Context, conn *pgx.Conn) (bool, error) {
		if s, ok := conn.PgConn().CustomData()[serverKey].(*connServer); ok && !s.Standby && time.Since(s.connected) > failback {
			return false, nil // closed: the next connection tries the standbys first
		}
		if prepare != nil {
			return prepare(ctx, conn)
		}
		return true, nil
	}
}

// noteServer records the server pc reached: its address and whether it is
// in recovery.
func noteServer(ctx context.Context, pc *pgconn.PgConn) error {
	s := &connServer{Server: addrServer(pc), connected: time.Now()}
	rows, err := pc.Exec(ctx, "SELECT pg_is_in_recovery()").ReadAll()
	if err != nil {
		return err
	}
	if len(rows) != 1 || len(rows[0].Rows) != 1 || len(rows[0].Rows[0]) != 1 {
		return errors.New("pgexec: pg_is_in_recovery() returned no row")
	}
	s.Standby = string(rows[0].Rows[0][0]) == "t"
	pc.CustomData()[serverKey] = s
	return nil
}

// addrServer is the host and port of pc's socket: for a unix socket, its
// directory and the port in its name (.s.PGSQL.<port>).
func addrServer(pc *pgconn.PgConn) Server {
	addr := pc.Conn().RemoteAddr()
	switch a := addr.(type) {
	case nil:
		return Server{}
	case *net.TCPAddr:
		return Server{Host: a.IP.String(), Port: a.Port}
	case *net.UnixAddr:
		port, _ := strconv.Atoi(strings.TrimPrefix(filepath.Ext(a.Name), "."))
		return Server{Host: filepath.Dir(a.Name), Port: port}
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return Server{Host: addr.String()}
	}
	p, _ := strconv.Atoi(port)
	return Server{Host: host, Port: p}
}

// serverOf is the server pc reached (the zero Server when unknown).
func serverOf(pc *pgconn.PgConn) Server {
	if s, ok := pc.CustomData()[serverKey].(*connServer); ok {
		return s.Server
	}
	return Server{}
}

// ServerOf is the server a pooled connection of a pool made by NewPool
// reached.
func ServerOf(conn *pgxpool.Conn) Server { return serverOf(conn.Conn().PgConn()) }

// CodeReplicaConflict means a standby cancelled the query because replaying
// the primary's changes needed what the query held or read (a hot-standby
// conflict, "canceling statement due to conflict with recovery": SQLSTATE
// 40001, or 40P01 for a buffer-pin deadlock). The query itself is fine: run
// it again. Never rename it.
const CodeReplicaConflict Code = "replica_conflict"

// replicaConflict is the *Error of a hot-standby conflict.
func replicaConflict(pe *pgconn.PgError) *Error {
	return &Error{Code: CodeReplicaConflict,
		Message: "the standby cancelled the query to replay changes from the primary (a conflict with recovery, SQLSTATE " + pe.Code + ")",
		Err:     pe, PG: &PgError{SQLState: pe.Code}}
}

// onServer records on err (an *Error) the server it happened on.
func onServer(err error, s Server) error {
	var e *Error
	if s.Host != "" && errors.As(err, &e) && e.Server == nil {
		e.Server = &s
	}
	return err
}
