package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgmcp/pgmcp/tools/engine"
)

// MCP sessions over streamable HTTP, bounded.
//
// mcp-go keeps every session a 2025-11-25 initialize opens (its client
// info and capabilities, channels, entries in several maps) until the
// client sends DELETE, and by default accepts any well-formed session ID.
// pgmcp puts its own session table in front of it:
//
//   - it is mcp-go's session ID manager (through a resolver), so only IDs
//     it gave out and still holds are valid;
//   - a layer before mcp-go answers 404 to a request whose Mcp-Session-Id
//     is unknown, expired or deleted (for POST, GET and DELETE: mcp-go
//     itself would open a stream for any ID on GET), and 400 to one
//     without an ID (other than initialize);
//   - a session unused for the idle timeout is closed, and at most
//     maxSessions are kept: a new initialize closes the session idle the
//     longest, or gets 503 when every session has a request in flight;
//   - closing a session goes through mcp-go's own DELETE handling (a
//     request made in-process), which unregisters the session and drops
//     every per-session entry mcp-go holds, so the memory is freed;
//   - the strings of initialize that mcp-go stores with the session are
//     cut (clientInfo fields to 256 bytes, copied so the cut does not pin
//     the long original; icons dropped; experimental and extension
//     capabilities dropped when over 1 kB) by a before-initialize hook.
//
// Requests of the 2026-07-28 protocol carry no session and keep none: they
// pass through. In stateless mode (PGMCP_HTTP_STATELESS) mcp-go keeps no
// session at all, and GET and DELETE, which only make sense in a session,
// get 405.

// Limits of what pgmcp keeps of an initialize request.
const (
	maxClientStringBytes = 256
	maxClientCapsBytes   = 1024
)

// Stable codes in the data of pgmcp's transport-level JSON-RPC errors.
const (
	codeSessionRequired  = "session_required"
	codeSessionNotFound  = "session_not_found"
	codeTooManySessions  = "too_many_sessions"
	codeNoSessions       = "stateless_server"
	codeOriginNotAllowed = "origin_not_allowed"
	codeRequestTooLarge  = "request_too_large"
)

// JSON-RPC error numbers of those errors.
const (
	rpcInvalidRequest   = -32600
	rpcServerError      = -32000
	rpcSessionNotFound  = -32001
	sessionIDHeader     = "Mcp-Session-Id"
	protocolHeader      = "Mcp-Protocol-Version"
	sessionRetryAfterS  = "5"
	sessionIDRandomSize = 16
)

// sessionConfig is how the HTTP transport keeps sessions.
type sessionConfig struct {
	Stateless   bool
	IdleTimeout time.Duration
	MaxSessions int
	// keepClientStrings skips the initialize hook (tests only: to measure
	// what expiry frees without the cut).
	keepClientStrings bool
}

// mcpHTTP is the streamable HTTP transport: mcp-go's server behind the
// session layer.
type mcpHTTP struct {
	streamable *server.StreamableHTTPServer
	table      *sessionTable // nil when stateless
	stateless  bool
	log        *slog.Logger
}

// newMCPHTTP builds the transport over s. reg, when set, gets the session
// metrics. opts are more options for mcp-go's server.
func newMCPHTTP(s *server.MCPServer, cfg sessionConfig, log *slog.Logger, reg prometheus.Registerer, opts ...server.StreamableHTTPOption) (*mcpHTTP, error) {
	if !cfg.keepClientStrings {
		hooks := s.GetHooks()
		if hooks == nil {
			return nil, errors.New("the MCP server was built without hooks: cannot bound what initialize stores")
		}
		hooks.AddBeforeInitialize(limitInitialize)
	}
	h := &mcpHTTP{stateless: cfg.Stateless, log: log}
	if cfg.Stateless {
		opts = append(opts, server.WithStateLess(true))
	} else {
		h.table = newSessionTable(cfg.IdleTimeout, cfg.MaxSessions, log)
		opts = append(opts, server.WithSessionIdManagerResolver(h.table))
	}
	h.streamable = server.NewStreamableHTTPServer(s, opts...)
	if h.table != nil {
		h.table.closer = h.closeInMCPGo
	}
	if reg != nil {
		for _, c := range h.collectors() {
			if err := reg.Register(c); err != nil {
				log.Warn("cannot register the session metrics", "err", err)
			}
		}
	}
	return h, nil
}

// collectors are the session metrics: the live sessions, and the sessions
// closed by pgmcp (expired, evicted) or by the client (deleted), and the
// initializations refused because every session was busy.
func (h *mcpHTTP) collectors() []prometheus.Collector {
	t := h.table
	live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pgmcp_http_sessions", Help: "MCP sessions kept (2025-11-25 handshake; always 0 in stateless mode).",
	}, func() float64 {
		if t == nil {
			return 0
		}
		return float64(t.count())
	})
	if t == nil {
		return []prometheus.Collector{live}
	}
	return []prometheus.Collector{live, t.closed, t.refused}
}

// run closes expired sessions until ctx is done.
func (h *mcpHTTP) run(ctx context.Context) {
	if h.table == nil {
		return
	}
	interval := min(max(h.table.idle/4, 100*time.Millisecond), 30*time.Second)
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				h.table.sweep()
			}
		}
	}()
}

// Shutdown closes every session.
func (h *mcpHTTP) Shutdown(ctx context.Context) error { return h.streamable.Shutdown(ctx) }

// closeInMCPGo drops mcp-go's state of a session pgmcp has already taken
// out of its table: mcp-go's DELETE handling unregisters the session and
// deletes its entries (the only complete way its API offers).
func (h *mcpHTTP) closeInMCPGo(id string) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodDelete, "/mcp", nil)
	if err != nil {
		return
	}
	req.Header.Set(sessionIDHeader, id)
	rec := &statusRecorder{header: http.Header{}}
	h.streamable.ServeHTTP(rec, req)
	if rec.status != 0 && rec.status != http.StatusOK {
		h.log.Warn("closing an MCP session failed in mcp-go", "status", rec.status)
	}
}

// statusRecorder is a ResponseWriter that keeps only the status.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (h *mcpHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if mcp.IsModernProtocol(r.Header.Get(protocolHeader)) {
		// 2026-07-28: no session; mcp-go serves each request on its own.
		h.streamable.ServeHTTP(w, r)
		return
	}
	if h.stateless {
		if r.Method == http.MethodGet || r.Method == http.MethodDelete {
			w.Header().Set("Allow", "POST")
			writeRPCError(w, http.StatusMethodNotAllowed, nil, rpcInvalidRequest, codeNoSessions,
				"this server keeps no MCP session (stateless mode): send each request as a POST")
			return
		}
		h.streamable.ServeHTTP(w, r)
		return
	}
	owner := ownerOf(r)
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeRPCError(w, http.StatusRequestEntityTooLarge, nil, rpcInvalidRequest, codeRequestTooLarge, "the request body is too large")
				return
			}
			writeRPCError(w, http.StatusBadRequest, nil, rpcInvalidRequest, "bad_request", "the request body could not be read")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		msg := peekMessage(body)
		if msg.Method == string(mcp.MethodInitialize) {
			// A new session, whatever session ID the request carries.
			tk, err := h.table.admit(owner)
			if err != nil {
				w.Header().Set("Retry-After", sessionRetryAfterS)
				writeRPCError(w, http.StatusServiceUnavailable, msg.ID, rpcServerError, codeTooManySessions,
					"the server holds as many MCP sessions as it may (PGMCP_HTTP_MAX_SESSIONS) and every one has a request in flight; retry shortly")
				return
			}
			defer h.table.finish(tk)
			h.streamable.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ticketKey{}, tk)))
			return
		}
	}
	switch r.Method {
	case http.MethodPost, http.MethodGet, http.MethodDelete:
	default:
		h.streamable.ServeHTTP(w, r)
		return
	}
	sid := r.Header.Get(sessionIDHeader)
	if sid == "" {
		writeRPCError(w, http.StatusBadRequest, nil, rpcInvalidRequest, codeSessionRequired,
			"the Mcp-Session-Id header is required: send initialize first and use the session ID it returns")
		return
	}
	if !h.table.acquire(sid, owner) {
		writeRPCError(w, http.StatusNotFound, nil, rpcSessionNotFound, codeSessionNotFound,
			"the MCP session is unknown, expired or closed: initialize a new session")
		return
	}
	defer h.table.release(sid)
	h.streamable.ServeHTTP(w, r)
}

// ownerOf is who a request comes from, as sessions are bound to it: a
// session opened with one identity answers 404 to another.
func ownerOf(r *http.Request) string {
	id, ok := engine.IdentityFrom(r.Context())
	if !ok {
		return ""
	}
	return id.Method + "\x00" + id.Name
}

// rpcMessage is what the session layer reads of a JSON-RPC message.
type rpcMessage struct {
	ID     any    `json:"id"`
	Method string `json:"method"`
}

// peekMessage reads the id and method of a JSON-RPC message (zero when
// the body is not one; mcp-go answers that).
func peekMessage(body []byte) rpcMessage {
	var m rpcMessage
	_ = json.Unmarshal(body, &m)
	switch m.ID.(type) {
	case string, float64, nil:
	default:
		m.ID = nil
	}
	if s, ok := m.ID.(string); ok && len(s) > 128 {
		m.ID = nil
	}
	return m
}

// writeRPCError answers with an HTTP status and a JSON-RPC error whose
// data holds pgmcp's stable code.
func writeRPCError(w http.ResponseWriter, status int, id any, number int, code, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0",
		"id":      id,
		"error": map[string]any{
			"code":    number,
			"message": message,
			"data":    map[string]string{"code": code},
		},
	})
}

// limitInitialize cuts what mcp-go stores of an initialize request with
// the session: the client info's strings (copied, so that the cut string
// does not keep the long one alive), its icons, and oversized experimental
// or extension capabilities (pgmcp uses neither).
func limitInitialize(_ context.Context, _ any, req *mcp.InitializeRequest) {
	if req == nil {
		return
	}
	ci := &req.Params.ClientInfo
	ci.Name = cutString(ci.Name, maxClientStringBytes)
	ci.Version = cutString(ci.Version, maxClientStringBytes)
	ci.Title = cutString(ci.Title, maxClientStringBytes)
	ci.Description = cutString(ci.Description, maxClientStringBytes)
	ci.WebsiteURL = cutString(ci.WebsiteURL, maxClientStringBytes)
	ci.Icons = nil
	req.Params.ProtocolVersion = cutString(req.Params.ProtocolVersion, 64)
	caps := &req.Params.Capabilities
	caps.Experimental = boundedMap(caps.Experimental, maxClientCapsBytes)
	caps.Extensions = boundedMap(caps.Extensions, maxClientCapsBytes)
}

// cutString returns s cut to at most n bytes at a UTF-8 boundary, as a
// copy of its own when cut.
func cutString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return strings.Clone(s[:i])
}

// boundedMap keeps m when its JSON is at most n bytes, else drops it.
func boundedMap(m map[string]any, n int) map[string]any {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil || len(b) > n {
		return nil
	}
	return m
}

// sessionTable is the live sessions: mcp-go's session ID manager and the
// bookkeeping of use, expiry and the cap.
type sessionTable struct {
	idle   time.Duration
	max    int
	log    *slog.Logger
	now    func() time.Time
	closer func(id string) // frees mcp-go's state of a session

	mu      sync.Mutex
	live    map[string]*sessionEntry
	pending int // initializations admitted and not finished

	closed  *prometheus.CounterVec
	refused prometheus.Counter
}

type sessionEntry struct {
	owner    string
	lastUsed time.Time
	inFlight int
	// initializing is true from the ID's creation until its initialize
	// request has returned (mcp-go registers the session last): such a
	// session is never closed.
	initializing bool
}

// initTicket is an admitted initialize request; Generate records the ID
// it gets.
type initTicket struct {
	owner string
	id    string
}

type ticketKey struct{}

// unowned is the owner of a session generated outside an admitted
// initialize (mcp-go does it for a GET without a session ID, which the
// session layer refuses first): it matches no request, and expires.
const unowned = "\x00unowned"

var errTooManySessions = errors.New("too many MCP sessions")

func newSessionTable(idle time.Duration, maxSessions int, log *slog.Logger) *sessionTable {
	t := &sessionTable{
		idle: idle, max: maxSessions, log: log, now: time.Now,
		live: map[string]*sessionEntry{},
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgmcp_http_sessions_closed_total",
			Help: "MCP sessions closed, by reason: expired (idle for PGMCP_HTTP_SESSION_IDLE_TIMEOUT), evicted (for a new one, over PGMCP_HTTP_MAX_SESSIONS), deleted (by the client's DELETE, or at shutdown).",
		}, []string{"reason"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pgmcp_http_sessions_refused_total",
			Help: "Initializations refused with 503 because PGMCP_HTTP_MAX_SESSIONS sessions were all busy.",
		}),
	}
	for _, reason := range []string{"expired", "evicted", "deleted"} {
		t.closed.WithLabelValues(reason)
	}
	return t
}

// ResolveSessionIdManager implements server.SessionIdManagerResolver: an
// initialize admitted by the session layer gets a manager that records
// its ID in the ticket.
//
//lint:ignore ST1003 the name is mcp-go's (server.SessionIdManagerResolver)
func (t *sessionTable) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	if r != nil {
		if tk, ok := r.Context().Value(ticketKey{}).(*initTicket); ok {
			return ticketedManager{t: t, tk: tk}
		}
	}
	return t
}

// ticketedManager is the session table for one admitted initialize.
type ticketedManager struct {
	t  *sessionTable
	tk *initTicket
}

func (m ticketedManager) Generate() string {
	id := m.t.add(m.tk.owner, true)
	m.tk.id = id
	return id
}
func (m ticketedManager) Validate(id string) (bool, error)  { return m.t.Validate(id) }
func (m ticketedManager) Terminate(id string) (bool, error) { return m.t.Terminate(id) }

// Generate implements server.SessionIdManager for a session opened
// outside an admitted initialize (see unowned).
func (t *sessionTable) Generate() string { return t.add(unowned, false) }

// add creates a session with a fresh random ID. For an admitted
// initialization (ticketed) the session takes the place admit counted in
// pending, in the same step, so that it is never counted twice.
func (t *sessionTable) add(owner string, ticketed bool) string {
	var b [sessionIDRandomSize]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never, per crypto/rand
	}
	id := "pgmcp-" + hex.EncodeToString(b[:])
	t.mu.Lock()
	t.live[id] = &sessionEntry{owner: owner, lastUsed: t.now(), initializing: owner != unowned}
	if ticketed {
		t.pending--
	}
	t.mu.Unlock()
	return id
}

// Validate implements server.SessionIdManager: only live sessions are
// valid.
func (t *sessionTable) Validate(id string) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.live[id]; !ok {
		return false, errors.New("unknown MCP session")
	}
	return false, nil
}

// Terminate implements server.SessionIdManager: mcp-go calls it on a
// client's DELETE (and on shutdown).
func (t *sessionTable) Terminate(id string) (bool, error) {
	t.mu.Lock()
	_, ok := t.live[id]
	delete(t.live, id)
	t.mu.Unlock()
	if ok {
		t.closed.WithLabelValues("deleted").Inc()
	}
	return false, nil
}

func (t *sessionTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live)
}

// admit makes room for a new session: below the cap it only counts the
// initialization; at the cap it closes the session idle the longest (no
// request in flight), or refuses when there is none.
func (t *sessionTable) admit(owner string) (*initTicket, error) {
	t.mu.Lock()
	victim := ""
	if len(t.live)+t.pending >= t.max {
		var oldest time.Time
		for id, e := range t.live {
			if e.inFlight > 0 || e.initializing {
				continue
			}
			if victim == "" || e.lastUsed.Before(oldest) {
				victim, oldest = id, e.lastUsed
			}
		}
		if victim == "" {
			t.mu.Unlock()
			t.refused.Inc()
			t.log.Warn("initialize refused: every MCP session is busy", "max_sessions", t.max)
			return nil, errTooManySessions
		}
		delete(t.live, victim)
	}
	t.pending++
	t.mu.Unlock()
	if victim != "" {
		t.closed.WithLabelValues("evicted").Inc()
		t.log.Info("MCP session closed to make room for a new one (PGMCP_HTTP_MAX_SESSIONS)", "max_sessions", t.max)
		t.closer(victim)
	}
	return &initTicket{owner: owner}, nil
}

// finish ends an admitted initialization: its session (if mcp-go made
// one) becomes an ordinary idle session.
func (t *sessionTable) finish(tk *initTicket) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tk.id == "" {
		t.pending-- // no session was made: give back the place admit counted
		return
	}
	if e := t.live[tk.id]; e != nil {
		e.initializing = false
		e.lastUsed = t.now()
	}
}

// acquire marks a request in flight in a live session of this owner; false
// when there is none.
func (t *sessionTable) acquire(id, owner string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.live[id]
	if !ok || e.owner != owner {
		return false
	}
	e.inFlight++
	e.lastUsed = t.now()
	return true
}

// release ends a request acquire let through.
func (t *sessionTable) release(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.live[id]; ok {
		e.inFlight--
		e.lastUsed = t.now()
	}
}

// sweep closes the sessions idle for the idle timeout.
func (t *sessionTable) sweep() {
	now := t.now()
	var expired []string
	t.mu.Lock()
	for id, e := range t.live {
		if e.inFlight == 0 && !e.initializing && now.Sub(e.lastUsed) >= t.idle {
			expired = append(expired, id)
			delete(t.live, id)
		}
	}
	t.mu.Unlock()
	if len(expired) == 0 {
		return
	}
	t.closed.WithLabelValues("expired").Add(float64(len(expired)))
	t.log.Debug("MCP sessions expired", "sessions", len(expired), "idle_timeout", t.idle)
	for _, id := range expired {
		t.closer(id)
	}
}
