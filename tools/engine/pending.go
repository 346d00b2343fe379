package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// A server with several databases starts when some cannot be reached: each
// of those is a Pending database, which answers db_unavailable (with when
// pgmcp tries again) and is opened in the background with backoff
// (StartRetries). Once open it is served as if it had been there from the
// start: its own policy resolved against its catalog, its schema cache, and
// the server's Admit check first.

// Retry backoff of Pending databases: the first attempt after
// retryFirst, doubling up to retryMax, each with up to a fifth of jitter.
const (
	retryFirst = time.Second
	retryMax   = 30 * time.Second
)

// pendingOpen is what is known of a database not open yet.
type pendingOpen struct {
	spec  DatabaseSpec
	mu    sync.Mutex
	err   error     // why the last attempt failed
	since time.Time // when it was found unreachable
	tries int       // attempts so far, the first at start-up included
	next  time.Time // the next attempt
	final bool      // the last error will not go away by retrying
}

// Pending is a database that could not be opened at start-up because err
// (a db_unavailable error of Open): the engine serves it once
// StartRetries has opened it.
func Pending(spec DatabaseSpec, err error) *Database {
	now := time.Now()
	return &Database{Name: spec.Name, pending: &pendingOpen{spec: spec, err: err, since: now, tries: 1, next: now.Add(retryFirst)}}
}

// Unreachable reports whether err, from Open, means the database could not
// be reached (worth retrying later), as opposed to a refusal that retrying
// will not change (a bad URL, a privileged role, a policy naming what does
// not exist).
func Unreachable(err error) bool {
	var pe *pgexec.Error
	return errors.As(err, &pe) && pe.Code == pgexec.CodeUnreachable
}

// PendingURL is the URL of a database not opened yet (a secret: log it
// only through pgexec.RedactDSN); empty for an opened one.
func (db *Database) PendingURL() string {
	if db.pending == nil {
		return ""
	}
	return db.pending.spec.URL
}

// available returns db, or the error a call on it gets while it is Pending.
func available(db *Database) (*Database, error) {
	p := db.pending
	if p == nil {
		return db, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.final {
		return nil, &pgexec.Error{Code: pgexec.CodeUnreachable, Err: p.err, Message: fmt.Sprintf(
			"database %q is not served: %s (an operator must fix it and restart pgmcp)", db.Name, problemText(p.err))}
	}
	wait := max(time.Until(p.next), 0).Round(time.Second)
	return nil, &pgexec.Error{Code: pgexec.CodeUnreachable, Err: p.err, Message: fmt.Sprintf(
		"database %q has not been reachable since %s (%s); pgmcp keeps trying in the background, the next attempt in %s",
		db.Name, p.since.UTC().Format(time.RFC3339), problemText(p.err), wait)}
}

// problemText is an error's message without its code.
func problemText(err error) string {
	if info := Describe(err); info.Code != string(CodeInternal) {
		return info.Message
	}
	return err.Error()
}

// DatabaseState is one configured database as /readyz shows it.
type DatabaseState struct {
	Name string
	// Up is false for a database still Pending.
	Up bool
	// For a Pending database: why, since when, how many attempts so far
	// and when the next is (zero when it will not be retried).
	Problem string
	Since   time.Time
	Tries   int
	Next    time.Time
	// Database is the opened database when Up.
	Database *Database
}

// DatabaseStates returns every configured database's state, in order.
func (e *Engine) DatabaseStates() []DatabaseState {
	var out []DatabaseState
	for _, db := range e.all() {
		st := DatabaseState{Name: db.Name, Up: db.pending == nil}
		if p := db.pending; p != nil {
			p.mu.Lock()
			st.Problem, st.Since, st.Tries = problemText(p.err), p.since, p.tries
			if !p.final {
				st.Next = p.next
			}
			p.mu.Unlock()
		} else {
			st.Database = db
		}
		out = append(out, st)
	}
	return out
}

// retrier runs the background openings of Pending databases.
type retrier struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartRetries opens the Pending databases in the background, each with
// backoff, until it is open or StopRetries (or ctx's end). A database that
// opens replaces its Pending entry and is served from the next call on.
func (e *Engine) StartRetries(ctx context.Context) {
	e.retries.mu.Lock()
	defer e.retries.mu.Unlock()
	if e.retries.cancel != nil {
		return
	}
	ctx, e.retries.cancel = context.WithCancel(ctx)
	for _, db := range e.all() {
		if db.pending != nil {
			e.retries.wg.Go(func() { e.retry(ctx, db) })
		}
	}
}

// StopRetries stops the background openings and waits for them: a pool
// opened by an attempt in flight is closed, not served.
func (e *Engine) StopRetries() {
	e.retries.mu.Lock()
	cancel := e.retries.cancel
	if cancel == nil {
		cancel = func() {}
		e.retries.cancel = cancel // none may start after this
	}
	e.retries.mu.Unlock()
	cancel()
	e.retries.wg.Wait()
}

// retry opens pending until it succeeds, fails for good, or ctx ends.
func (e *Engine) retry(ctx context.Context, pending *Database) {
	p := pending.pending
	log := e.cfg.Logger.With("database", pending.Name)
	delay := retryFirst
	for {
		p.mu.Lock()
		wait := time.Until(p.next)
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		db, err := Open(ctx, p.spec, log)
		if err == nil && e.cfg.Admit != nil {
			if err = e.cfg.Admit(ctx, db); err != nil {
				db.Pool.Close()
				db = nil
			}
		}
		if err == nil {
			if err = prepare(db, e.cfg.Logger); err != nil {
				db.Pool.Close()
			}
		}
		if ctx.Err() != nil {
			if err == nil {
				db.StopBackground()
				db.Pool.Close()
			}
			return
		}
		delay = min(2*delay, retryMax)
		p.mu.Lock()
		p.tries++
		tries := p.tries
		if err != nil {
			p.err = err
			p.final = !Unreachable(err)
			p.next = time.Now().Add(delay + time.Duration(rand.Int64N(int64(delay/5))))
		}
		final, since := p.final, p.since
		p.mu.Unlock()
		switch {
		case err == nil:
			e.adopt(pending, db)
			log.Info("database came up: now served", "attempts", tries, "down_for", time.Since(since).Round(time.Millisecond))
			return
		case final:
			log.Error("database reached, but it cannot be served: no more attempts until a restart", "attempts", tries, "err", problemText(err))
			return
		default:
			log.Warn("database still unreachable; trying again later", "attempts", tries, "next_in", delay.Round(time.Second), "err", problemText(err))
		}
	}
}

// adopt replaces the Pending entry with db.
func (e *Engine) adopt(pending, db *Database) {
	e.retries.mu.Lock()
	defer e.retries.mu.Unlock()
	next := slices.Clone(e.all())
	for i, d := range next {
		if d == pending {
			next[i] = db
		}
	}
	e.dbs.Store(&next)
	e.setMetricsDatabases()
}
