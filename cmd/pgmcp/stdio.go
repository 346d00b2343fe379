package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/pgmcp/pgmcp/tools"
)

// MCP over stdio: one JSON-RPC message per line on stdin, answers on
// stdout (which belongs to the protocol: nothing else is written there).
//
// pgmcp reads stdin itself rather than through mcp-go's stdio server,
// which runs at most 100 tool calls at once (5 by default), handles the
// tool calls it cannot queue on the reading goroutine (so a ping waits
// behind them), and reads lines of any length into memory. Here:
//
//   - a line longer than maxRequestBytes is read to its end and
//     discarded (at most that many bytes are held), and answered with a
//     JSON-RPC error (-32600, data.code request_too_large);
//   - tool calls run on workers (PGMCP_STDIO_WORKERS, default the
//     execution cap); more wait their turn, up to stdioMaxQueued calls
//     (and stdioMaxQueuedBytes of requests), beyond which a call is
//     answered at once with a JSON-RPC error (data.code busy). A call
//     cancelled by the client while it waits is dropped;
//   - every other request (ping, initialize, the lists, resources,
//     prompts, completions) is served on its own goroutine at once, never
//     behind a tool call; notifications are handled in order, as read;
//   - when stdin closes, the calls in flight may finish for
//     PGMCP_SHUTDOWN_TIMEOUT and are then cancelled; a signal cancels
//     them at once. Either way Serve returns within shutdownGrace of
//     the cancellation.

// Bounds of the stdio transport.
const (
	stdioMaxQueued      = 1024     // tool calls waiting for a worker
	stdioMaxQueuedBytes = 64 << 20 // the requests of those calls
	stdioMaxOthers      = 256      // other requests being served at once
	stdioReadBuffer     = 64 << 10
)

// stdioConfig is how the stdio transport runs.
type stdioConfig struct {
	workers      int           // tool calls at once
	maxLine      int           // longest message, in bytes
	drainTimeout time.Duration // after stdin closes, how long calls may finish
	// maxQueued and maxQueuedBytes bound the tool calls waiting for a
	// worker (0: stdioMaxQueued, stdioMaxQueuedBytes).
	maxQueued, maxQueuedBytes int
}

type stdioServer struct {
	mcp  *server.MCPServer
	cfg  stdioConfig
	log  *slog.Logger
	out  *stdioWriter
	sess *stdioSession

	slots  chan struct{} // a slot per running tool call
	others chan struct{} // a slot per other request being served
	wg     sync.WaitGroup

	mu          sync.Mutex
	waiting     map[string]*waitingCall // queued tool calls, by JSON id
	queued      int
	queuedBytes int
}

// waitingCall is a tool call waiting for a worker.
type waitingCall struct{ cancel context.CancelFunc }

func newStdioServer(s *server.MCPServer, cfg stdioConfig, log *slog.Logger) *stdioServer {
	if cfg.maxQueued <= 0 {
		cfg.maxQueued = stdioMaxQueued
	}
	if cfg.maxQueuedBytes <= 0 {
		cfg.maxQueuedBytes = stdioMaxQueuedBytes
	}
	return &stdioServer{mcp: s, cfg: cfg, log: log, sess: newStdioSession(),
		slots: make(chan struct{}, max(cfg.workers, 1)), others: make(chan struct{}, stdioMaxOthers),
		waiting: map[string]*waitingCall{}}
}

// defaultStdioWorkers is the least number of tool calls run at once over
// stdio when PGMCP_STDIO_WORKERS is 0.
const defaultStdioWorkers = 64

// serveStdio serves MCP on stdin and stdout until stdin closes or ctx is
// done; ready, when set, is called once it serves.
func (a *app) serveStdio(ctx context.Context, stdin io.Reader, stdout io.Writer, ready func(addr string)) error {
	workers := a.cfg.StdioWorkers
	if workers == 0 {
		// A call waiting on the model holds a worker but no database
		// connection (the execution gate bounds those): as many calls as
		// an HTTP client could have in flight, never fewer than the cap.
		workers = max(a.cfg.Limits.MaxConcurrent, a.cfg.Limits.MaxConns, defaultStdioWorkers)
	}
	a.log.Info("serving MCP over stdio", "workers", workers)
	if ready != nil {
		ready("")
	}
	s := newStdioServer(a.mcp, stdioConfig{workers: workers, maxLine: maxRequestBytes, drainTimeout: a.cfg.ShutdownTimeout}, a.log)
	return s.Serve(ctx, stdin, stdout)
}

// stdinLine is what the reader hands over: a message, a line that was too
// long, or the end of the input.
type stdinLine struct {
	msg     []byte
	tooLong bool
	err     error
}

// Serve serves until stdin ends (then the calls in flight get the drain
// timeout to finish) or ctx is done (then they are cancelled at once).
func (s *stdioServer) Serve(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	s.out = &stdioWriter{w: stdout, log: s.log}
	if err := s.mcp.RegisterSession(ctx, s.sess); err != nil {
		return fmt.Errorf("stdio session: %w", err)
	}
	defer s.mcp.UnregisterSession(context.WithoutCancel(ctx), s.sess.SessionID())
	// The requests' context: a signal (ctx) cancels it at once; the end of
	// stdin after the drain timeout.
	calls, cancelWith := context.WithCancelCause(s.mcp.WithContext(ctx, s.sess))
	cancelCalls := func() { cancelWith(errShuttingDown) }
	defer cancelCalls()
	go s.notifications(calls)

	lines := make(chan stdinLine)
	stop := make(chan struct{})
	defer close(stop)
	go readLines(bufio.NewReaderSize(stdin, stdioReadBuffer), s.cfg.maxLine, lines, stop)

	var readErr error
read:
	for {
		select {
		case <-ctx.Done():
			break read
		case l := <-lines:
			switch {
			case l.err != nil:
				readErr = l.err
				break read
			case l.tooLong:
				s.log.Warn("stdio: a message over the size limit was discarded", "limit_bytes", s.cfg.maxLine)
				s.out.write(rpcError(nil, rpcInvalidRequest, codeRequestTooLarge,
					fmt.Sprintf("the message is too large: a line over %d bytes was discarded", s.cfg.maxLine)))
			default:
				s.dispatch(calls, l.msg)
			}
		}
	}
	if ctx.Err() == nil {
		// stdin is closed (or failed): let the calls in flight finish.
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			s.log.Warn("stdio: reading stdin failed", "err", readErr)
		}
		if !s.wait(s.cfg.drainTimeout, ctx.Done()) && ctx.Err() == nil {
			s.log.Warn("stdin closed and the shutdown timeout is over: the calls still in flight are cancelled", "timeout", s.cfg.drainTimeout)
		}
	}
	cancelCalls()
	if !s.wait(shutdownGrace, nil) {
		s.log.Warn("stdio: cancelled calls did not end within " + shutdownGrace.String() + "; exiting without them")
	}
	return nil
}

// wait waits for every request being served, up to d or until stop is
// closed; it reports whether they all ended.
func (s *stdioServer) wait(d time.Duration, stop <-chan struct{}) bool {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
	case <-stop:
	}
	return false
}

// dispatch routes one message: a tool call to the workers, another
// request to a goroutine of its own, a notification handled at once.
func (s *stdioServer) dispatch(ctx context.Context, msg []byte) {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal(msg, &m) != nil {
		s.handle(ctx, nil, msg) // mcp-go answers the parse error
		return
	}
	if len(m.ID) == 0 || bytes.Equal(m.ID, []byte("null")) {
		if m.Method == string(mcp.MethodNotificationCancelled) {
			s.cancelWaiting(msg)
		}
		s.handle(ctx, nil, msg)
		return
	}
	var id any
	_ = json.Unmarshal(m.ID, &id)
	if m.Method == string(mcp.MethodToolsCall) {
		s.queueCall(ctx, id, string(m.ID), msg)
		return
	}
	select {
	case s.others <- struct{}{}:
	case <-ctx.Done():
		return
	}
	s.wg.Go(func() {
		defer func() { <-s.others }()
		s.handle(ctx, id, msg)
	})
}

// queueCall runs a tool call on a worker, once one is free.
func (s *stdioServer) queueCall(ctx context.Context, id any, key string, msg []byte) {
	s.mu.Lock()
	if s.queued >= s.cfg.maxQueued || s.queuedBytes+len(msg) > s.cfg.maxQueuedBytes {
		queued := s.queued
		s.mu.Unlock()
		s.log.Warn("stdio: a tool call was refused: too many are waiting", "workers", cap(s.slots), "queued", queued)
		s.out.write(rpcError(id, rpcServerError, "busy",
			fmt.Sprintf("too many tool calls are waiting (%d running, %d queued): send more once some have been answered", cap(s.slots), queued)))
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &waitingCall{cancel: cancel}
	s.waiting[key] = w
	s.queued++
	s.queuedBytes += len(msg)
	s.mu.Unlock()
	s.wg.Go(func() {
		defer cancel()
		var got bool
		select {
		case s.slots <- struct{}{}:
			got = true
		case <-wctx.Done():
		}
		s.mu.Lock()
		if s.waiting[key] == w {
			delete(s.waiting, key)
		}
		s.queued--
		s.queuedBytes -= len(msg)
		s.mu.Unlock()
		if !got {
			return // cancelled by the client, or shutting down: no answer
		}
		defer func() { <-s.slots }()
		s.handle(ctx, id, msg)
	})
}

// cancelWaiting drops the queued call a notifications/cancelled names (a
// running call is cancelled by mcp-go, which handles the notification
// too).
func (s *stdioServer) cancelWaiting(msg []byte) {
	var n struct {
		Params struct {
			RequestID json.RawMessage `json:"requestId"`
		} `json:"params"`
	}
	if json.Unmarshal(msg, &n) != nil || len(n.Params.RequestID) == 0 {
		return
	}
	s.mu.Lock()
	w, ok := s.waiting[string(n.Params.RequestID)]
	if ok {
		delete(s.waiting, string(n.Params.RequestID))
	}
	s.mu.Unlock()
	if ok {
		w.cancel()
	}
}

// handle serves one message and writes its answer, if any.
func (s *stdioServer) handle(ctx context.Context, id any, msg []byte) {
	var resp mcp.JSONRPCMessage
	func() {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("stdio: panic serving a message", "panic", r)
				if id != nil {
					resp = rpcError(id, mcp.INTERNAL_ERROR, "internal", "internal error; the server log has the details")
				}
			}
		}()
		resp = s.mcp.HandleMessage(ctx, msg)
	}()
	if resp != nil {
		s.out.write(resp)
	}
}

// notifications writes what the server sends the client unasked.
func (s *stdioServer) notifications(ctx context.Context) {
	for {
		select {
		case n := <-s.sess.notifications:
			s.out.write(n)
		case <-ctx.Done():
			return
		}
	}
}

// rpcError is a JSON-RPC error answer whose data holds pgmcp's stable
// code.
func rpcError(id any, number int, code, message string) mcp.JSONRPCMessage {
	return mcp.NewJSONRPCError(mcp.NewRequestId(id), number, message, map[string]string{"code": code})
}

// readLines reads stdin line by line (at most max bytes held per line)
// and hands each over on out, until the input ends or stop is closed.
func readLines(r *bufio.Reader, max int, out chan<- stdinLine, stop <-chan struct{}) {
	for {
		l := readLine(r, max)
		if l.err == nil && !l.tooLong && len(bytes.TrimSpace(l.msg)) == 0 {
			continue // blank line
		}
		select {
		case out <- l:
		case <-stop:
			return
		}
		if l.err != nil {
			return
		}
	}
}

// readLine reads one line, without its line ending. A line longer than max
// bytes is read to its end and discarded: tooLong is set, and no more than
// max bytes of it are ever held. A last line without a newline counts as a
// line; the end of the input is then reported on the next call.
func readLine(r *bufio.Reader, max int) stdinLine {
	var buf []byte
	tooLong := false
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(bytes.TrimRight(chunk, "\r\n")) > max {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && (len(buf) > 0 || tooLong):
			// The input ended (or failed) after a last line.
			return stdinLine{msg: bytes.TrimRight(buf, "\r\n"), tooLong: tooLong}
		case err != nil:
			return stdinLine{err: err}
		}
		return stdinLine{msg: bytes.TrimRight(buf, "\r\n"), tooLong: tooLong}
	}
}

// stdioWriter writes whole messages to stdout, one at a time.
type stdioWriter struct {
	mu     sync.Mutex
	w      io.Writer
	log    *slog.Logger
	broken bool
}

func (o *stdioWriter) write(msg any) {
	b, err := tools.EncodeMessage(msg)
	if err != nil {
		o.log.Error("stdio: cannot encode an answer", "err", err)
		return
	}
	b = append(b, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.broken {
		return
	}
	if _, err := o.w.Write(b); err != nil {
		o.broken = true
		o.log.Warn("stdio: cannot write to stdout; answers are dropped", "err", err)
	}
}

// stdioSession is the one client session of stdio.
type stdioSession struct {
	notifications chan mcp.JSONRPCNotification
	initialized   atomic.Bool
	clientInfo    atomic.Pointer[mcp.Implementation]
	clientCaps    atomic.Pointer[mcp.ClientCapabilities]
	version       atomic.Pointer[string]
	level         atomic.Pointer[mcp.LoggingLevel]
}

func newStdioSession() *stdioSession {
	return &stdioSession{notifications: make(chan mcp.JSONRPCNotification, 100)}
}

func (s *stdioSession) SessionID() string { return "stdio" }
func (s *stdioSession) NotificationChannel() chan<- mcp.JSONRPCNotification {
	return s.notifications
}
func (s *stdioSession) Initialize()       { s.initialized.Store(true) }
func (s *stdioSession) Initialized() bool { return s.initialized.Load() }

func (s *stdioSession) GetClientInfo() mcp.Implementation {
	if p := s.clientInfo.Load(); p != nil {
		return *p
	}
	return mcp.Implementation{}
}
func (s *stdioSession) SetClientInfo(ci mcp.Implementation) { s.clientInfo.Store(&ci) }
func (s *stdioSession) GetClientCapabilities() mcp.ClientCapabilities {
	if p := s.clientCaps.Load(); p != nil {
		return *p
	}
	return mcp.ClientCapabilities{}
}
func (s *stdioSession) SetClientCapabilities(c mcp.ClientCapabilities) { s.clientCaps.Store(&c) }

func (s *stdioSession) ProtocolVersion() string {
	if p := s.version.Load(); p != nil {
		return *p
	}
	return ""
}
func (s *stdioSession) SetProtocolVersion(v string) { s.version.Store(&v) }

func (s *stdioSession) SetLogLevel(l mcp.LoggingLevel) { s.level.Store(&l) }
func (s *stdioSession) GetLogLevel() mcp.LoggingLevel {
	if p := s.level.Load(); p != nil {
		return *p
	}
	return mcp.LoggingLevelError
}

var (
	_ server.SessionWithClientInfo      = (*stdioSession)(nil)
	_ server.SessionWithLogging         = (*stdioSession)(nil)
	_ server.SessionWithProtocolVersion = (*stdioSession)(nil)
)
