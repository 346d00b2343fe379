// Package fakellm is a scripted OpenAI-compatible chat completions server
// for tests: the one fake the project allows, standing in for a model no
// test can reach. It records every request so tests can assert what the
// model was shown.
package fakellm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is a chat message as the server received it.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is one chat completion request as received.
type Request struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature *float64  `json:"temperature"`
	// Raw is the request body.
	Raw []byte `json:"-"`
	// Size is the request body's length in bytes.
	Size int `json:"-"`
	// Dropped is set when the body was over the server's recording limit
	// (SetRecordLimit): only Size is kept, not Raw nor the messages.
	Dropped bool `json:"-"`
}

// Last returns the content of the last message.
func (r Request) Last() string {
	if len(r.Messages) == 0 {
		return ""
	}
	return r.Messages[len(r.Messages)-1].Content
}

// Reply is what the server answers one request with.
type Reply struct {
	// Status is the HTTP status (0: 200).
	Status int
	// Content is the assistant message (for a 200), or the error body.
	Content string
	// Header holds extra response headers (e.g. Retry-After).
	Header map[string]string
	// Hang makes the server wait until the client gives up.
	Hang bool
	// Delay makes the server wait this long before answering (or until
	// the client gives up, whichever comes first).
	Delay time.Duration
}

// SQL is a 200 reply whose content is {"sql": sql}, as pgmcp asks.
func SQL(sql string) Reply {
	b, _ := json.Marshal(map[string]string{"sql": sql})
	return Reply{Content: string(b)}
}

// Text is a 200 reply with free text content.
func Text(s string) Reply { return Reply{Content: s} }

// Status is an error reply.
func Status(code int) Reply {
	return Reply{Status: code, Content: fmt.Sprintf(`{"error":{"message":"scripted %d","type":"server_error"}}`, code)}
}

// Script answers the n-th request (0-based).
type Script func(n int, req Request) Reply

// Sequence answers the n-th request with replies[n], and the last reply
// for every request after.
func Sequence(replies ...Reply) Script {
	return func(n int, _ Request) Reply {
		if n >= len(replies) {
			n = len(replies) - 1
		}
		return replies[n]
	}
}

// Server is the fake.
type Server struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []Request
	script Script
	done   chan struct{}
	// recordLimit, when positive, is the largest request body kept whole.
	recordLimit int
}

// New starts a fake answering with script; it stops when the test ends.
func New(tb testing.TB, script Script) *Server {
	tb.Helper()
	s := &Server{script: script, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.handle)
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"fake-model","object":"model"}]}`)
	})
	s.srv = httptest.NewServer(mux)
	tb.Cleanup(func() {
		close(s.done)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
	return s
}

// URL is the base URL to configure (it ends in /v1).
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Count returns how many requests arrived.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// SetScript replaces the script.
func (s *Server) SetScript(script Script) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = script
}

// SetRecordLimit makes the server keep only the size of request bodies
// longer than n bytes (0: keep every body), so a test that sends huge
// prompts does not hold them all in its own memory.
func (s *Server) SetRecordLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordLimit = n
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	limit := s.recordLimit
	s.mu.Unlock()
	var req Request
	var promptTokens int
	if limit > 0 && len(body) > limit {
		req = Request{Size: len(body), Dropped: true}
		promptTokens = len(body) / 4
	} else {
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
			return
		}
		req.Raw, req.Size = body, len(body)
		promptTokens = len(strings.Fields(string(body)))
	}
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, req)
	script := s.script
	s.mu.Unlock()
	reply := script(n, req)
	if reply.Hang {
		select {
		case <-r.Context().Done():
		case <-s.done:
		case <-time.After(5 * time.Minute):
		}
		return
	}
	if reply.Delay > 0 {
		t := time.NewTimer(reply.Delay)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-t.C:
		}
	}
	for k, v := range reply.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	if reply.Status != 0 && reply.Status != http.StatusOK {
		w.WriteHeader(reply.Status)
		_, _ = io.WriteString(w, reply.Content)
		return
	}
	completionTokens := len(strings.Fields(reply.Content))
	resp := map[string]any{
		"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
		"choices": []map[string]any{{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": reply.Content}}},
		"usage": map[string]int{"prompt_tokens": promptTokens, "completion_tokens": completionTokens,
			"total_tokens": promptTokens + completionTokens},
	}
	_ = json.NewEncoder(w).Encode(resp)
}
