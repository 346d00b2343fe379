package schema

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// Cache keeps one database's schema: the Snapshot read through a Filter,
// prepared for rendering and selection. One Cache per database, shared by
// every caller:
//
//   - a loaded schema is served from memory for Options.TTL;
//   - after that, the next call starts a check of the catalog fingerprint
//     (one query) in the background and is served the schema in hand; the
//     check reloads only when the catalog changed, and later calls get
//     the new schema (stale while revalidating: no caller waits for a
//     check or for a reload it triggers);
//   - Refresh reloads now; Invalidate (on SIGHUP) makes the next call
//     reload;
//   - concurrent callers share one load: while it runs, the others wait
//     for it (each can give up with its own context) instead of starting
//     their own.
//
// When a check or reload fails and a schema was loaded before, Get keeps
// serving that one (it is still filtered by the same policy) and logs the
// failure; Refresh returns the error.
type Cache struct {
	db     Queryer
	filter Filter
	opts   Options
	log    *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	cur       *Prepared // nil before the first load
	checkedAt time.Time // when cur was loaded or last found unchanged
	epoch     uint64    // bumped by Invalidate
	curEpoch  uint64    // epoch when the load that produced cur started
	call      *loadCall // in flight
	next      *loadCall // a full reload queued behind call
	loads     int       // full loads done (for tests and logs)

	// bg is the context of background work (value reads); Close ends it.
	bg   context.Context
	stop context.CancelFunc
}

type loadCall struct {
	done   chan struct{}
	full   bool   // reload without looking at the fingerprint
	epoch  uint64 // c.epoch when it started
	filter Filter // c.filter when it started
	res    *Prepared
	err    error
}

// NewCache returns a cache over db (a pool) showing what f allows. Nothing
// is read until the first call.
func NewCache(db Queryer, f Filter, opts Options, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bg, stop := context.WithCancel(context.Background())
	return &Cache{db: db, filter: f, opts: opts.withDefaults(), log: log, now: time.Now, bg: bg, stop: stop}
}

// Close stops the cache's background work (the value reads of a load in
// progress end without a word); call it before closing the pool. The cache
// still serves what it holds.
func (c *Cache) Close() { c.stop() }

// Options returns the cache's options, defaults filled in.
func (c *Cache) Options() Options { return c.opts }

// Get returns the current schema, loading or checking it first when needed
// (see Cache).
func (c *Cache) Get(ctx context.Context) (*Prepared, error) {
	c.mu.Lock()
	if c.cur != nil && c.curEpoch == c.epoch && c.now().Sub(c.checkedAt) < c.opts.TTL {
		p := c.cur
		c.mu.Unlock()
		return p, nil
	}
	var call *loadCall
	switch {
	case c.cur == nil || c.curEpoch != c.epoch:
		// A full load is needed: join one started since the last
		// Invalidate, else start (or queue) one.
		if c.call != nil && c.call.full && c.call.epoch == c.epoch {
			call = c.call
		} else {
			call = c.fullLoadLocked()
		}
	case c.call != nil:
		call = c.call // a check or a load is running: its result will do
	default:
		call = c.startLocked(false)
	}
	if !call.full && c.cur != nil {
		// A change check is never on a caller's time: the schema in hand
		// is served while the check runs; a change it finds is served
		// from the next call on (Stale says when checks keep failing).
		p := c.cur
		c.mu.Unlock()
		return p, nil
	}
	c.mu.Unlock()
	p, err := c.wait(ctx, call)
	if err != nil && ctx.Err() == nil {
		c.mu.Lock()
		stale := c.cur
		c.mu.Unlock()
		if stale != nil {
			return stale, nil
		}
	}
	return p, err
}

// Refresh reloads the schema now, whatever the TTL and fingerprint say,
// and returns it. Callers arriving while a load runs share the reload that
// follows it.
func (c *Cache) Refresh(ctx context.Context) (*Prepared, error) {
	c.mu.Lock()
	call := c.fullLoadLocked()
	c.mu.Unlock()
	return c.wait(ctx, call)
}

// Invalidate makes the next call reload the schema (for SIGHUP). It does
// not wait and never fails.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	c.epoch++
	db := c.database()
	c.mu.Unlock()
	c.log.Info("schema cache invalidated; the next call reloads it", "database", db)
}

// SetFilter replaces what the cache may show (the policy was resolved
// again) and makes the next call reload. A load already running finishes
// with the old filter but is not served after it.
func (c *Cache) SetFilter(f Filter) {
	c.mu.Lock()
	c.filter = f
	c.epoch++
	c.mu.Unlock()
}

// checkWait is the longest a caller waits for a change check (or a load it
// joined while a schema was in hand) before the schema in hand is served;
// checkTimeout bounds the check itself.
const (
	checkWait    = 2 * time.Second
	checkTimeout = 15 * time.Second
)

// Stale reports whether the schema served now is past its TTL without a
// successful check (the database did not answer one, or one is running),
// and since when it was last known current.
func (c *Cache) Stale() (since time.Time, stale bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return time.Time{}, false
	}
	return c.checkedAt, c.now().Sub(c.checkedAt) >= c.opts.TTL+checkWait
}

// idle waits until no check or load is running (tests).
func (c *Cache) idle(ctx context.Context) error {
	for {
		c.mu.Lock()
		call := c.call
		c.mu.Unlock()
		if call == nil {
			return nil
		}
		_, _ = c.wait(ctx, call)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Loads returns how many full loads the cache has done.
func (c *Cache) Loads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loads
}

// database names the database for logs; c.mu must be held.
func (c *Cache) database() string {
	if c.cur != nil {
		return c.cur.snap.Database
	}
	return ""
}

// fullLoadLocked returns a full load that starts now or later: a new one
// when nothing runs, else the one queued behind the running load (a load
// that started earlier may have read the catalog before the caller's
// change).
func (c *Cache) fullLoadLocked() *loadCall {
	if c.call == nil {
		return c.startLocked(true)
	}
	if c.next == nil {
		c.next = &loadCall{done: make(chan struct{}), full: true}
	}
	return c.next
}

func (c *Cache) startLocked(full bool) *loadCall {
	call := &loadCall{done: make(chan struct{}), full: full}
	c.launchLocked(call)
	return call
}

func (c *Cache) launchLocked(call *loadCall) {
	call.epoch = c.epoch
	call.filter = c.filter
	c.call = call
	prev := c.cur
	go c.run(call, prev)
}

func (c *Cache) wait(ctx context.Context, call *loadCall) (*Prepared, error) {
	select {
	case <-call.done:
		return call.res, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run does one load, outside the lock, then publishes it and starts the
// queued load, if any.
func (c *Cache) run(call *loadCall, prev *Prepared) {
	timeout := c.opts.LoadTimeout
	if !call.full && prev != nil {
		timeout = min(timeout, checkTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	res, changed, err := c.load(ctx, call.full, call.filter, prev)
	c.mu.Lock()
	switch {
	case err != nil:
		c.log.Warn("schema load failed", "database", c.database(), "err", err)
		if prev != nil && !call.full {
			// The check failed: keep serving what we have until the next
			// TTL rather than hammering a struggling server.
			c.checkedAt = c.now()
		}
	case !changed:
		c.checkedAt = c.now()
		c.log.Debug("schema unchanged", "database", res.snap.Database, "check", time.Since(start))
	default:
		c.cur, c.checkedAt, c.curEpoch = res, c.now(), call.epoch
		c.loads++
		c.log.Info("schema loaded", "database", res.snap.Database, "tables", len(res.snap.Tables),
			"tokens", res.Tokens(), "took", time.Since(start))
	}
	call.res, call.err = res, err
	close(call.done)
	c.call = nil
	if c.next != nil {
		next := c.next
		c.next = nil
		c.launchLocked(next)
	}
	c.mu.Unlock()
	if err == nil && changed && res.valuesDone == nil {
		releaseMemory() // else once the value index is built (loadValues)
	}
}

// releaseMemory returns to the system the memory a load used and let go
// (the rows read, the previous schema): a load of a large catalog
// allocates several times what the schema it builds keeps, and without
// this the process would hold on to it until the runtime's scavenger got
// round to it. It runs after loads only, in the background.
func releaseMemory() { debug.FreeOSMemory() }

// load checks the fingerprint (unless full) and reloads when it changed.
func (c *Cache) load(ctx context.Context, full bool, f Filter, prev *Prepared) (res *Prepared, changed bool, err error) {
	if !full && prev != nil {
		fp, err := Fingerprint(ctx, c.db, f)
		if err != nil {
			return nil, false, err
		}
		if fp == prev.snap.Fingerprint {
			return prev, false, nil
		}
	}
	snap, err := Introspect(ctx, c.db, f, IntrospectOptions{CommonValues: c.opts.CommonValues})
	if err != nil {
		return nil, false, err
	}
	p := Prepare(snap)
	if c.opts.Values {
		// In the background, never on a caller's time: questions asked
		// before it is done get no value hints.
		p.valuesDone = make(chan struct{})
		go c.loadValues(p)
	}
	return p, true, nil
}

// loadValues builds p's value index (LoadValues, bounded by the values
// timeout) and closes p.valuesDone.
func (c *Cache) loadValues(p *Prepared) {
	defer close(p.valuesDone)
	cols, err := LoadValues(c.bg, c.db, p.snap, c.opts.ValuesPerColumn, c.opts.ValuesTimeout)
	if c.bg.Err() != nil {
		return // closed: the server is stopping
	}
	if err != nil {
		c.log.Warn("some column values could not be read for grounding; questions get hints from the others", "err", err)
	}
	p.values.Store(NewValueIndex(cols, ValueIndexOptions{MaxValuesPerColumn: c.opts.ValuesPerColumn}))
	releaseMemory()
}
