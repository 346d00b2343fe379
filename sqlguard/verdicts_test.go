package sqlguard

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestVerdicts: a kept verdict is served only for the same text under the
// same policy version; a changed or narrowed policy is checked afresh;
// rejections and long texts are not kept; the cache stays within its
// bounds, also under concurrent calls.
func TestVerdicts(t *testing.T) {
	v := NewVerdicts(4, 1<<10)
	p := testPolicy()
	const sql = "SELECT id, email FROM users"
	q1, err := v.Check(sql, p)
	if err != nil {
		t.Fatal(err)
	}
	q2, err := v.Check(sql, p)
	if err != nil || q2 != q1 {
		t.Fatalf("second check: %p %v, want the kept %p", q2, err, q1)
	}
	if s := v.Stats(); s.Hits != 1 || s.Misses != 1 || s.Entries != 1 || s.Bytes != len(sql) {
		t.Errorf("stats = %+v", s)
	}
	// Same text, other text: a byte of difference is another query.
	if q, err := v.Check(sql+" ", p); err != nil || q == q1 {
		t.Errorf("a different text was served the kept verdict (%v)", err)
	}

	// The policy changed in place: email blocked. The kept verdict is
	// never served again.
	p.BlockedColumns = map[string][]string{"public.users": {"email"}}
	if _, err := v.Check(sql, p); err == nil {
		t.Error("after blocking users.email, the kept verdict was served")
	}
	// A narrowed policy is a policy of its own.
	base := testPolicy()
	if _, err := v.Check(sql, base); err != nil {
		t.Fatal(err)
	}
	narrow := Narrow(base, &Policy{BlockedColumns: map[string][]string{"public.users": {"email"}}})
	if _, err := v.Check(sql, narrow); err == nil {
		t.Error("a narrowed policy was served the base policy's verdict")
	}
	// A new catalog snapshot is a new version.
	c2 := testCatalog()
	p3 := testPolicy()
	if _, err := v.Check(sql, p3); err != nil {
		t.Fatal(err)
	}
	p3.Catalog = c2
	q3, err := v.Check(sql, p3)
	if err != nil {
		t.Fatal(err)
	}
	if q3.c != p3.compiled() {
		t.Error("a verdict of the old catalog snapshot was served")
	}

	// Rejections are not kept.
	before := v.Stats().Entries
	for range 3 {
		var ge *Error
		if _, err := v.Check("SELECT password_hash FROM users", base); !errors.As(err, &ge) {
			t.Fatalf("blocked column: %v", err)
		}
	}
	if s := v.Stats(); s.Entries != before {
		t.Errorf("rejections kept: %d entries, was %d", s.Entries, before)
	}
	// A text above an eighth of the byte bound is not kept.
	long := "SELECT id FROM users WHERE email = '" + strings.Repeat("x", 200) + "'"
	_, _ = v.Check(long, base)
	_, _ = v.Check(long, base)
	if s := v.Stats(); s.Bytes > 1<<10 {
		t.Errorf("bytes = %d above the bound", s.Bytes)
	}
	for el := v.lru.Front(); el != nil; el = el.Next() {
		if el.Value.(*verdict).key.sql == long {
			t.Error("a long text was kept")
		}
	}

	// Bounds, under concurrent calls (run with -race).
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				sql := fmt.Sprintf("SELECT id FROM users WHERE id = %d", (g*7+i)%20)
				q, err := v.Check(sql, base)
				if err != nil || q.SQL() != sql {
					t.Errorf("%s: %v", sql, err)
					return
				}
			}
		})
	}
	wg.Wait()
	// One kept Query serves calls at once: what they ask of it reads it
	// only (run with -race).
	shared, err := v.Check("SELECT c.id, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id ORDER BY 2 DESC LIMIT 500", base)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := shared.LimitRows(11)
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if got, err := shared.LimitRows(11); err != nil || got != want {
					t.Errorf("LimitRows on a shared query: %q, %v", got, err)
				}
				_ = shared.Shape()
				_ = shared.Fingerprint()
				_ = shared.Relations()
				_ = shared.Columns()
			}
		})
	}
	wg.Wait()
	if s := v.Stats(); s.Entries > 4 || s.Bytes > 1<<10 {
		t.Errorf("after concurrent calls: %+v, above the bounds (4 entries, 1 KiB)", s)
	}
	if len(v.byKey) != v.lru.Len() {
		t.Errorf("index %d entries, list %d", len(v.byKey), v.lru.Len())
	}
	var nilCache *Verdicts
	if _, err := nilCache.Check(sql, base); err != nil {
		t.Errorf("nil cache: %v", err)
	}
}
