package llm

import (
	"sync"
	"time"
)

// breakerState is the circuit breaker's state.
type breakerState int

const (
	stateClosed   breakerState = iota // calls go through; consecutive failures are counted
	stateOpen                         // calls fail fast until openUntil
	stateHalfOpen                     // one probe call at a time goes through
)

func (s breakerState) String() string {
	switch s {
	case stateOpen:
		return "open"
	case stateHalfOpen:
		return "half-open"
	}
	return "closed"
}

// outcome is what a finished call tells the breaker.
type outcome int

const (
	// outcomeSuccess: the server answered (a completion, or a 4xx: it is
	// reachable and responsive; a bad key is not an outage).
	outcomeSuccess outcome = iota
	// outcomeFailure: the server is unhealthy (unreachable, 5xx/429 after
	// retries, malformed responses, Config.Timeout elapsed).
	outcomeFailure
	// outcomeNeutral: the call says nothing about the server (the caller
	// cancelled, or the caller's own deadline passed).
	outcomeNeutral
)

// breaker is a consecutive-failure circuit breaker. Closed: calls go
// through, and threshold consecutive failed calls open it. Open: calls fail
// fast for cooldown. Then half-open: a single probe goes through (others
// fail fast); its success closes the breaker, its failure reopens it for
// another cooldown, and a neutral outcome frees the probe slot for the next
// caller. A success of a non-probe call that was in flight when the
// breaker opened closes it too (the server evidently works). Safe for
// concurrent use. A nil *breaker is disabled: it allows everything.
type breaker struct {
	threshold    int
	cooldown     time.Duration
	probeTimeout time.Duration // bounds a probe; used to estimate when the slot frees
	// onChange, if set, is called (without the lock held) after a state change.
	onChange func(from, to breakerState, failures int)

	mu           sync.Mutex
	state        breakerState
	failures     int // consecutive failed calls while closed
	openUntil    time.Time
	probing      bool
	probeStarted time.Time
}

func newBreaker(threshold int, cooldown, probeTimeout time.Duration) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown, probeTimeout: probeTimeout}
}

// allow reports whether a call may proceed at now and whether it is the
// half-open probe. When it may not, wait is the time until it is worth
// trying again (never less than a millisecond).
func (b *breaker) allow(now time.Time) (probe bool, wait time.Duration, ok bool) {
	if b == nil {
		return false, 0, true
	}
	b.mu.Lock()
	var changed bool
	var from breakerState
	defer func() {
		failures := b.failures
		b.mu.Unlock()
		if changed && b.onChange != nil {
			b.onChange(from, stateHalfOpen, failures)
		}
	}()
	switch b.state {
	case stateClosed:
		return false, 0, true
	case stateOpen:
		if now.Before(b.openUntil) {
			return false, atLeastMs(b.openUntil.Sub(now)), false
		}
		from, changed = b.state, true
		b.state = stateHalfOpen
	}
	// Half-open.
	if b.probing {
		return false, atLeastMs(b.probeStarted.Add(b.probeTimeout).Sub(now)), false
	}
	b.probing = true
	b.probeStarted = now
	return true, 0, true
}

// done records a finished call's outcome. probe must be what allow returned
// for that call.
func (b *breaker) done(now time.Time, probe bool, o outcome) {
	if b == nil {
		return
	}
	b.mu.Lock()
	from := b.state
	if probe {
		b.probing = false
	}
	switch o {
	case outcomeSuccess:
		b.state = stateClosed
		b.failures = 0
	case outcomeFailure:
		switch {
		case b.state == stateClosed:
			b.failures++
			if b.failures >= b.threshold {
				b.state = stateOpen
				b.openUntil = now.Add(b.cooldown)
			}
		case probe:
			b.state = stateOpen
			b.openUntil = now.Add(b.cooldown)
		}
		// A non-probe call failing while open or half-open changes nothing.
	}
	to, failures := b.state, b.failures
	b.mu.Unlock()
	if from != to && b.onChange != nil {
		b.onChange(from, to, failures)
	}
}

// current returns the state, for tests and logs.
func (b *breaker) current() breakerState {
	if b == nil {
		return stateClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

func atLeastMs(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return time.Millisecond
	}
	return d
}
