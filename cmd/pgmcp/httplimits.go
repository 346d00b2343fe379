package main

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Bounds on HTTP connections, so that slow or idle clients cannot hold
// the server's connections (and file descriptors) without end:
//
//   - a request's headers must arrive within the read-header timeout
//     (net/http's ReadHeaderTimeout; it covers the TLS handshake too), and
//     its body within the read-body timeout after that. The body deadline
//     is set per request and lifted once the body has been read, so it
//     never cuts the tool call the request makes: a call may run as long
//     as its own limits allow.
//   - a kept-alive connection waiting for its next request is closed after
//     the idle timeout.
//   - each write of a response is bounded by the write timeout: the
//     deadline is set before a write (or flush) and lifted after it, so a
//     client that stops reading is cut off, while a long call (nothing
//     written yet) or an SSE stream quiet between events is not.
//   - at most maxConns connections are open at once. At the cap, the
//     connection idle the longest is closed to make room for a new one;
//     when none is idle, new connections wait in the listen backlog until
//     one closes (which the timeouts above guarantee happens). The cap is
//     lowered at start to fit the file descriptor limit, so the database
//     pools and the audit log always get theirs.

// httpLimits are the bounds of the HTTP server.
type httpLimits struct {
	readHeader, readBody, write, idle time.Duration
	maxConns                          int
}

func (c *Config) httpLimits() httpLimits {
	return httpLimits{readHeader: c.HTTP.ReadHeaderTimeout, readBody: c.HTTP.ReadBodyTimeout, write: c.HTTP.WriteTimeout,
		idle: c.HTTP.IdleTimeout, maxConns: c.HTTP.MaxConnections}
}

// fdReserve is how many file descriptors are kept out of the connection
// cap beyond the database pools: the listener, the audit log, the JWKS
// fetches, the model's connections, the runtime's own.
const fdReserve = 64

// fitConnections lowers maxConns so that the connections, the database
// pools (poolConns in all) and fdReserve fit within the process's open
// file limit.
func fitConnections(maxConns, poolConns int, log *slog.Logger) int {
	limit, ok := openFileLimit()
	if !ok {
		return maxConns
	}
	room := int64(limit) - int64(poolConns) - fdReserve
	if int64(maxConns) <= room {
		return maxConns
	}
	fit := int(max(room, 1))
	log.Warn("PGMCP_HTTP_MAX_CONNECTIONS lowered to fit the open file limit: raise the limit (ulimit -n, LimitNOFILE=) to allow more",
		"configured", maxConns, "used", fit, "open_file_limit", limit)
	return fit
}

// connLimiter is a listener that holds at most max connections open, and
// closes idle ones to make room. It tracks the server's connection states
// (connState is the http.Server's ConnState hook).
type connLimiter struct {
	net.Listener
	slots chan struct{}
	log   *slog.Logger

	mu   sync.Mutex
	idle map[net.Conn]time.Time // idle connections, and since when

	done      chan struct{}
	closeOnce sync.Once

	open    prometheus.GaugeFunc
	evicted prometheus.Counter
	waited  prometheus.Counter
}

func newConnLimiter(ln net.Listener, maxConns int, log *slog.Logger) *connLimiter {
	l := &connLimiter{
		Listener: ln, slots: make(chan struct{}, maxConns), log: log,
		idle: map[net.Conn]time.Time{}, done: make(chan struct{}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pgmcp_http_connections_evicted_total",
			Help: "Idle HTTP connections closed to make room for a new one at PGMCP_HTTP_MAX_CONNECTIONS.",
		}),
		waited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pgmcp_http_connections_waited_total",
			Help: "HTTP connections that had to wait for another to close (at PGMCP_HTTP_MAX_CONNECTIONS, none idle).",
		}),
	}
	l.open = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pgmcp_http_connections", Help: "HTTP connections open.",
	}, func() float64 { return float64(len(l.slots)) })
	return l
}

func (l *connLimiter) collectors() []prometheus.Collector {
	return []prometheus.Collector{l.open, l.evicted, l.waited}
}

// Accept accepts a connection and waits for a slot for it: at the cap, it
// closes the connection idle the longest, or waits for one to close.
func (l *connLimiter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
		return l.wrap(c), nil
	default:
	}
	if l.evictIdle() {
		l.evicted.Inc()
	} else {
		l.waited.Inc()
		l.log.Debug("HTTP connection cap reached with no idle connection: a new connection waits", "max_connections", cap(l.slots))
	}
	// An idle connection appearing while this one waits is closed too.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case l.slots <- struct{}{}:
			return l.wrap(c), nil
		case <-tick.C:
			if l.evictIdle() {
				l.evicted.Inc()
			}
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
}

func (l *connLimiter) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *connLimiter) wrap(c net.Conn) net.Conn {
	return &limitedConn{Conn: c, release: func() { <-l.slots }}
}

// evictIdle closes the connection idle the longest; false when none is.
func (l *connLimiter) evictIdle() bool {
	l.mu.Lock()
	var victim net.Conn
	var since time.Time
	for c, t := range l.idle {
		if victim == nil || t.Before(since) {
			victim, since = c, t
		}
	}
	if victim == nil {
		l.mu.Unlock()
		return false
	}
	delete(l.idle, victim)
	// Closed under the lock: connState cannot mark it active in between
	// (a request read from it after the choice would be cut off). Close
	// takes no lock of the limiter's.
	victim.Close()
	l.mu.Unlock()
	return true
}

// connState follows the server's connections: an idle one may be closed
// to make room.
func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == http.StateIdle {
		l.idle[c] = time.Now()
	} else {
		delete(l.idle, c)
	}
}

// limitedConn gives its slot back when closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// deadlines bounds each request's body read and each write of its
// response (see the comment at the top).
func (lim httpLimits) deadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body != nil && r.Body != http.NoBody {
			// Once the body has been read, net/http lifts the deadline
			// itself (as it starts watching for the client going away),
			// so it never cuts the call; a body that is not read whole
			// keeps it, which bounds what net/http reads of the rest
			// after the handler.
			_ = rc.SetReadDeadline(time.Now().Add(lim.readBody))
		}
		// A deadline left from an earlier response on this connection
		// must not hit this one.
		_ = rc.SetWriteDeadline(time.Time{})
		next.ServeHTTP(&writeDeadline{ResponseWriter: w, rc: rc, d: lim.write}, r)
		// net/http writes what is left buffered after the handler returns.
		_ = rc.SetWriteDeadline(time.Now().Add(lim.write))
	})
}

// writeDeadline bounds each write and flush of a response by d.
type writeDeadline struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *writeDeadline) arm()    { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }
func (w *writeDeadline) disarm() { _ = w.rc.SetWriteDeadline(time.Time{}) }

func (w *writeDeadline) Write(p []byte) (int, error) {
	w.arm()
	defer w.disarm()
	return w.ResponseWriter.Write(p)
}

func (w *writeDeadline) WriteHeader(status int) {
	w.arm()
	defer w.disarm()
	w.ResponseWriter.WriteHeader(status)
}

func (w *writeDeadline) Flush() {
	w.arm()
	defer w.disarm()
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *writeDeadline) Unwrap() http.ResponseWriter { return w.ResponseWriter }
