package engine

import (
	"container/list"
	"strings"
	"sync"

	"github.com/pgmcp/pgmcp/schema"
)

// describeCache keeps get_schema's built results (structured and text) by
// the schema they describe and the arguments that shape them, so a warm
// call with the same arguments is served without rebuilding. The key's
// schema is the caller's Prepared (a narrowed caller has its own), so a
// result never crosses callers' views; a reload makes a new Prepared, and
// the old entries age out. It holds at most describeCacheSize entries.
type describeCache struct {
	mu    sync.Mutex
	order *list.List // most recent first; values are *describeEntry
	byKey map[describeKey]*list.Element
}

const describeCacheSize = 64

type describeKey struct {
	prep                  *schema.Prepared
	budget                int
	detail, search, names string
}

type describeEntry struct {
	key  describeKey
	out  SchemaResult
	raw  []byte // out as JSON
	text string
}

func newDescribeCache() *describeCache {
	return &describeCache{order: list.New(), byKey: map[describeKey]*list.Element{}}
}

func keyOf(prep *schema.Prepared, budget int, args SchemaArgs) describeKey {
	return describeKey{prep: prep, budget: budget, detail: args.Detail, search: args.Search, names: strings.Join(args.Tables, "\x00")}
}

// get returns a copy of the cached result (its slices are shared and never
// written).
func (c *describeCache) get(k describeKey) (SchemaResult, []byte, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[k]
	if !ok {
		return SchemaResult{}, nil, "", false
	}
	c.order.MoveToFront(el)
	e := el.Value.(*describeEntry)
	return e.out, e.raw, e.text, true
}

func (c *describeCache) put(k describeKey, out SchemaResult, raw []byte, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[k]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.byKey[k] = c.order.PushFront(&describeEntry{key: k, out: out, raw: raw, text: text})
	for c.order.Len() > describeCacheSize {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*describeEntry).key)
	}
}
