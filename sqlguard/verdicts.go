package sqlguard

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// Verdicts keeps Check's accepted queries by policy version and exact SQL
// text, so that SQL a client or a model sends again is not parsed and
// walked again. The policy version is its compiled form: a policy changed
// in any way Check would see (its rules, its catalog snapshot) compiles
// anew, and its old verdicts are never found again. Per-caller narrowed
// policies are policies of their own. A Query is read-only once checked,
// so one may serve any number of calls at once.
//
// The cache is bounded by entries and by the bytes of SQL it holds (a
// parse tree is a small multiple of its text); a text longer than an
// eighth of the byte bound is never kept. Rejections are not kept: they are
// cheap to repeat and an attacker's variations would only evict useful
// entries. The zero value is not usable; a nil *Verdicts checks every time.
type Verdicts struct {
	maxEntries, maxBytes int

	mu    sync.Mutex
	bytes int
	byKey map[verdictKey]*list.Element // of *verdict
	lru   list.List                    // front: most recently used

	hits, misses atomic.Int64
}

type verdictKey struct {
	c   *compiled
	sql string
}

type verdict struct {
	key verdictKey
	q   *Query
}

// NewVerdicts returns a cache of at most entries verdicts holding at most
// bytes of SQL text.
func NewVerdicts(entries, bytes int) *Verdicts {
	return &Verdicts{maxEntries: max(entries, 1), maxBytes: max(bytes, 1), byKey: map[verdictKey]*list.Element{}}
}

// Check is [Check] with the verdict kept for the next call with the same
// text and policy version.
func (v *Verdicts) Check(sql string, p *Policy) (*Query, error) {
	if v == nil || p == nil {
		return Check(sql, p)
	}
	key := verdictKey{c: p.compiled(), sql: sql}
	v.mu.Lock()
	if el, ok := v.byKey[key]; ok {
		v.lru.MoveToFront(el)
		q := el.Value.(*verdict).q
		v.mu.Unlock()
		v.hits.Add(1)
		return q, nil
	}
	v.mu.Unlock()
	v.misses.Add(1)
	q, err := Check(sql, p)
	if err != nil || len(sql) > v.maxBytes/8 || q.c != key.c {
		return q, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.byKey[key]; ok { // checked at the same time by another call
		return q, nil
	}
	v.byKey[key] = v.lru.PushFront(&verdict{key: key, q: q})
	v.bytes += len(sql)
	for v.lru.Len() > v.maxEntries || v.bytes > v.maxBytes {
		old := v.lru.Remove(v.lru.Back()).(*verdict)
		delete(v.byKey, old.key)
		v.bytes -= len(old.key.sql)
	}
	return q, nil
}

// VerdictStats are a cache's counts so far.
type VerdictStats struct {
	Hits, Misses int64
	Entries      int
	Bytes        int
}

// Stats returns the cache's counts.
func (v *Verdicts) Stats() VerdictStats {
	if v == nil {
		return VerdictStats{}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return VerdictStats{Hits: v.hits.Load(), Misses: v.misses.Load(), Entries: v.lru.Len(), Bytes: v.bytes}
}
