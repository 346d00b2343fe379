package schema

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

const cacheSchema = `
CREATE SCHEMA shop;
CREATE TYPE shop.status AS ENUM ('new', 'done');
CREATE TABLE shop.customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int REFERENCES shop.customers (id), status shop.status NOT NULL);
COMMENT ON TABLE shop.orders IS 'Orders.';
INSERT INTO shop.customers SELECT g, 'c' || g FROM generate_series(1, 100) g;
ANALYZE;
`

// fakeClock is a settable clock for the cache.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// slowQueryer delays every query and counts them; fail makes them fail;
// a gate set holds every query until it is closed.
type slowQueryer struct {
	db    Queryer
	delay time.Duration
	n     atomic.Int64
	fail  atomic.Bool
	gate  atomic.Pointer[chan struct{}]
}

func (q *slowQueryer) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	q.n.Add(1)
	if g := q.gate.Load(); g != nil {
		select {
		case <-*g:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if q.fail.Load() {
		return nil, errors.New("connection refused")
	}
	time.Sleep(q.delay)
	return q.db.Query(ctx, sql, args...)
}

func newTestCache(t *testing.T, q Queryer) (*Cache, *fakeClock) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	c := NewCache(q, Filter{Schemas: []string{"shop"}}, Options{TTL: time.Minute, CommonValues: true}, nil)
	c.now = clock.now
	return c, clock
}

// loadedCache is a test cache over a new database holding cacheSchema,
// loaded once.
func loadedCache(t *testing.T) (*pgtest.DB, *slowQueryer, *Cache, *fakeClock, *Prepared) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Empty)
	db.Exec(t, cacheSchema)
	q := &slowQueryer{db: pool(t, db.URL)}
	c, clock := newTestCache(t, q)
	p, err := c.Get(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return db, q, c, clock, p
}

func TestCacheChangeDetection(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Empty)
	db.Exec(t, cacheSchema)
	q := &slowQueryer{db: pool(t, db.URL)}
	c, clock := newTestCache(t, q)
	ctx := ctxT(t)

	p1, err := c.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Loads() != 1 || len(p1.Snapshot().Tables) != 2 {
		t.Fatalf("loads %d, tables %d", c.Loads(), len(p1.Snapshot().Tables))
	}
	// Within the TTL: served from memory, no query.
	before := q.n.Load()
	if p, _ := c.Get(ctx); p != p1 || q.n.Load() != before {
		t.Errorf("a call within the TTL queried the database")
	}
	// After the TTL, nothing changed: one fingerprint query, in the
	// background, and the same schema.
	clock.add(2 * time.Minute)
	if p, _ := c.Get(ctx); p != p1 {
		t.Errorf("past the TTL, the call was not served the schema in hand")
	}
	if err := c.idle(ctx); err != nil {
		t.Fatal(err)
	}
	if q.n.Load() != before+1 || c.Loads() != 1 {
		t.Errorf("unchanged catalog: %d queries, %d loads; want 1 query, no reload", q.n.Load()-before, c.Loads())
	}

	changes := []struct {
		name, sql string
		check     func(*Snapshot) bool
	}{
		{"table comment", "COMMENT ON TABLE shop.orders IS 'All orders.'", func(s *Snapshot) bool {
			tb, _ := s.Lookup("shop.orders")
			return tb.Comment == "All orders."
		}},
		{"column comment", "COMMENT ON COLUMN shop.customers.name IS 'Full name.'", func(s *Snapshot) bool {
			tb, _ := s.Lookup("shop.customers")
			return tb.Column("name").Comment == "Full name."
		}},
		{"comment removed", "COMMENT ON TABLE shop.orders IS NULL", func(s *Snapshot) bool {
			tb, _ := s.Lookup("shop.orders")
			return tb.Comment == ""
		}},
		{"column added", "ALTER TABLE shop.orders ADD COLUMN total numeric", func(s *Snapshot) bool {
			tb, _ := s.Lookup("shop.orders")
			return tb.Column("total") != nil
		}},
		{"column dropped", "ALTER TABLE shop.orders DROP COLUMN total", func(s *Snapshot) bool {
			tb, _ := s.Lookup("shop.orders")
			return tb.Column("total") == nil
		}},
		{"index created", "CREATE INDEX ON shop.orders (status)", func(s *Snapshot) bool {
			tb, _ := s.Lookup("shop.orders")
			return len(tb.Indexes) == 1
		}},
		{"enum label added", "ALTER TYPE shop.status ADD VALUE 'cancelled'", func(s *Snapshot) bool {
			tb, _ := s.Lookup("shop.orders")
			return len(tb.Column("status").EnumValues) == 3
		}},
		{"table created", "CREATE TABLE shop.items (id int)", func(s *Snapshot) bool {
			_, err := s.Lookup("shop.items")
			return err == nil
		}},
		{"table renamed", "ALTER TABLE shop.items RENAME TO lines", func(s *Snapshot) bool {
			_, err := s.Lookup("shop.lines")
			return err == nil
		}},
		// A function or operator in a served schema can shadow a builtin:
		// the change check notices it.
		{"function created", "CREATE FUNCTION shop.upper(varchar) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$", func(*Snapshot) bool { return true }},
		{"operator created", "CREATE OPERATOR shop.= (LEFTARG = text, RIGHTARG = text, FUNCTION = pg_catalog.texteq)", func(*Snapshot) bool { return true }},
		{"rows doubled", "INSERT INTO shop.customers SELECT g, 'c' FROM generate_series(101, 1000) g; ANALYZE shop.customers", func(s *Snapshot) bool {
			tb, _ := s.Lookup("shop.customers")
			return tb.Rows == 1000
		}},
	}
	prev := p1
	for i, ch := range changes {
		db.Exec(t, ch.sql)
		clock.add(2 * time.Minute)
		// The first call past the TTL gets the schema in hand and starts
		// the check; the calls after the check get the change.
		if p, err := c.Get(ctx); err != nil || p != prev {
			t.Fatalf("%s: the call past the TTL waited for the check (%v)", ch.name, err)
		}
		if err := c.idle(ctx); err != nil {
			t.Fatal(err)
		}
		p, err := c.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p == prev || c.Loads() != i+2 || !ch.check(p.Snapshot()) {
			t.Errorf("%s: not detected (reloads %d, want %d)", ch.name, c.Loads(), i+2)
		}
		prev = p
	}

	// Refresh reloads even when nothing changed.
	loads := c.Loads()
	if p, err := c.Refresh(ctx); err != nil || p == prev || c.Loads() != loads+1 {
		t.Errorf("Refresh: err %v, loads %d, want %d", err, c.Loads(), loads+1)
	}
	// Invalidate: the next call reloads, without waiting for the TTL.
	c.Invalidate()
	if _, err := c.Get(ctx); err != nil || c.Loads() != loads+2 {
		t.Errorf("after Invalidate: err %v, loads %d, want %d", err, c.Loads(), loads+2)
	}
	if _, err := c.Get(ctx); err != nil || c.Loads() != loads+2 {
		t.Errorf("second call after Invalidate reloaded again")
	}
}

// TestCacheSharedLoad checks that concurrent callers share one load, and
// that a caller can give up waiting.
func TestCacheSharedLoad(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t, pgtest.Empty)
	db.Exec(t, cacheSchema)
	q := &slowQueryer{db: pool(t, db.URL), delay: 50 * time.Millisecond}
	c, _ := newTestCache(t, q)
	ctx := ctxT(t)

	var wg sync.WaitGroup
	got := make([]*Prepared, 20)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.Get(ctx)
			if err != nil {
				t.Error(err)
			}
			got[i] = p
		}()
	}
	// One gives up early; the load goes on for the others.
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := c.Get(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a cancelled caller got %v, want its deadline", err)
	}
	wg.Wait()
	for _, p := range got {
		if p == nil || p != got[0] {
			t.Fatalf("concurrent callers got different schemas")
		}
	}
	if c.Loads() != 1 || q.n.Load() != 7 {
		t.Errorf("%d loads, %d queries; want one load of 7 queries", c.Loads(), q.n.Load())
	}

	// Refreshes arriving during a load share the one reload after it.
	c.Invalidate()
	var wg2 sync.WaitGroup
	for range 5 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			if _, err := c.Refresh(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg2.Wait()
	if n := c.Loads(); n < 2 || n > 3 {
		t.Errorf("5 concurrent refreshes made %d loads, want 1 or 2 more", n-1)
	}
}

// TestCacheServesStaleOnFailure: a failed check keeps the loaded schema;
// Refresh reports the failure.
func TestCacheServesStaleOnFailure(t *testing.T) {
	_, q, c, clock, p1 := loadedCache(t)
	ctx := ctxT(t)
	q.fail.Store(true)
	clock.add(2 * time.Minute)
	if p, err := c.Get(ctx); err != nil || p != p1 {
		t.Errorf("failed check: got %v, %v; want the loaded schema", p, err)
	}
	var se *Error
	if _, err := c.Refresh(ctx); !errors.As(err, &se) || se.Code != CodeIntrospection || strings.Contains(se.Message, "refused") {
		t.Errorf("Refresh on a failing database: %v, want %s with a safe message", err, CodeIntrospection)
	}
	// No schema yet and the database fails: an error.
	c2, _ := newTestCache(t, q)
	if _, err := c2.Get(ctx); err == nil {
		t.Error("first load on a failing database succeeded")
	}
}

// TestCacheCheckOffCallerPath: past the TTL, calls are served the schema
// in hand while the change check runs, however long it takes; a change
// it finds is served once it is done.
func TestCacheCheckOffCallerPath(t *testing.T) {
	db, q, c, clock, p1 := loadedCache(t)
	ctx := ctxT(t)
	db.Exec(t, "CREATE TABLE shop.extra (id int)")
	gate := make(chan struct{})
	q.gate.Store(&gate)
	clock.add(2 * time.Minute)
	served := make(chan *Prepared, 10)
	go func() {
		for range 10 {
			p, err := c.Get(ctx)
			if err != nil {
				t.Error(err)
			}
			served <- p
		}
	}()
	for range 10 {
		select {
		case p := <-served:
			if p != p1 {
				t.Fatal("a call during the check got another schema")
			}
		case <-time.After(20 * time.Second):
			t.Fatal("calls past the TTL wait for the change check")
		}
	}
	if _, stale := c.Stale(); !stale {
		t.Error("Stale() = false while the check is held past the TTL")
	}
	close(gate)
	if err := c.idle(ctx); err != nil {
		t.Fatal(err)
	}
	p2, err := c.Get(ctx)
	if err != nil || p2 == p1 || c.Loads() != 2 {
		t.Fatalf("after the check: reloads %d, new schema %v (%v)", c.Loads(), p2 != p1, err)
	}
	if _, err := p2.Snapshot().Lookup("shop.extra"); err != nil {
		t.Errorf("the new table is not served after the check: %v", err)
	}
}
