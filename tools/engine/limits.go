package engine

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Codes of the serving limits. Never rename one.
const (
	// CodeRateLimited means the caller made more calls than its rate limit
	// allows (PGMCP_RATE_LIMIT); the hint says when to retry.
	CodeRateLimited Code = "rate_limited"
	// CodeBusy means every execution slot stayed taken for the queue wait
	// (PGMCP_MAX_CONCURRENT_QUERIES, PGMCP_QUEUE_TIMEOUT): retry shortly.
	CodeBusy Code = "busy"
)

// RateLimit is a token bucket per identity: Rate calls per second on
// average, bursts of up to Burst. The zero value (or a Rate of 0) is no
// limit.
type RateLimit struct {
	Rate  float64
	Burst int
}

// rateLimiter keeps a bucket per identity name.
type rateLimiter struct {
	limit RateLimit
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(l RateLimit) *rateLimiter {
	return &rateLimiter{limit: l, now: time.Now, buckets: map[string]*bucket{}}
}

// maxBuckets bounds the limiter's memory: beyond it, idle full buckets
// are dropped (a full bucket carries no state worth keeping).
const maxBuckets = 10000

// allow takes a token from who's bucket, or returns a rate_limited error
// saying when the next token is due. Calls without an identity (stdio,
// the local user) are not limited.
func (r *rateLimiter) allow(who string) error {
	if r == nil || r.limit.Rate <= 0 || who == "" {
		return nil
	}
	burst := float64(max(r.limit.Burst, 1))
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.buckets[who]
	if !ok {
		if len(r.buckets) >= maxBuckets {
			r.sweepLocked(now, burst)
		}
		b = &bucket{tokens: burst, at: now}
		r.buckets[who] = b
	}
	b.tokens = math.Min(burst, b.tokens+now.Sub(b.at).Seconds()*r.limit.Rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return nil
	}
	wait := time.Duration((1 - b.tokens) / r.limit.Rate * float64(time.Second))
	return &Error{Code: CodeRateLimited,
		Message: fmt.Sprintf("too many calls from %s: the limit is %g per minute (bursts of %d)", who, r.limit.Rate*60, int(burst)),
		Hint:    fmt.Sprintf("retry in %s", wait.Round(100*time.Millisecond))}
}

func (r *rateLimiter) sweepLocked(now time.Time, burst float64) {
	for k, b := range r.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*r.limit.Rate >= burst {
			delete(r.buckets, k)
		}
	}
}

// gate caps the database executions running at once across the server;
// a call waits up to wait for a slot, then gets busy.
type gate struct {
	slots chan struct{}
	wait  time.Duration
}

func newGate(n int, wait time.Duration) *gate {
	if n <= 0 {
		return nil
	}
	return &gate{slots: make(chan struct{}, n), wait: wait}
}

// enter takes a slot; the returned function gives it back.
func (g *gate) enter(ctx context.Context) (func(), error) {
	if g == nil {
		return func() {}, nil
	}
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	case <-t.C:
		return nil, &Error{Code: CodeBusy,
			Message: fmt.Sprintf("the server is busy: %d queries are running and none finished within %s", cap(g.slots), g.wait),
			Hint:    "retry in a few seconds"}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
