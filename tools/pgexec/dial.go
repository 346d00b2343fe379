package pgexec

import (
	"context"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Keepalive and user timeout of TCP connections to PostgreSQL: a peer that
// vanished (a frozen VM, a partition that drops packets) is found by the
// kernel within about idle + interval × count while pgmcp waits for an
// answer, and data the peer does not acknowledge fails the connection after
// tcpUserTimeout. These do not bound a server that is up but stopped (its
// kernel still acknowledges); the client-side deadlines of every call do.
const (
	keepAliveIdle     = 10 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 3
	tcpUserTimeout    = 20 * time.Second
)

// dialFunc dials with keepalives and, where the system has it, a TCP user
// timeout (setUserTimeout). Unix sockets get neither.
func dialFunc(timeout time.Duration) pgconn.DialFunc {
	d := &net.Dialer{
		Timeout: timeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount,
		},
		Control: setUserTimeout,
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}
