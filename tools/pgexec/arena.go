package pgexec

import "unsafe"

// arenaBlock is the size of a textArena's blocks.
const arenaBlock = 32 << 10

// textArena hands out the strings of one result from shared blocks: one
// allocation per block (up to 32 KiB) of text instead of one per row or value, which is
// also far fewer objects for the garbage collector to scan. A block's bytes
// are never written again once handed out (the arena only appends), so the
// strings over them are as immutable as any. The zero value is ready.
type textArena struct{ buf []byte }

// reserve returns n bytes to fill before the next call, and the string
// that will hold them. A nil arena allocates them on their own.
func (a *textArena) reserve(n int) ([]byte, string) {
	if n == 0 {
		return nil, ""
	}
	if a == nil || n > arenaBlock/4 {
		b := make([]byte, n)
		return b, unsafe.String(&b[0], n)
	}
	if cap(a.buf)-len(a.buf) < n {
		// Blocks double from 512 bytes to arenaBlock: a one-value result
		// does not pay for 32 KiB.
		size := min(max(2*cap(a.buf), 512), arenaBlock)
		a.buf = make([]byte, 0, max(size, n))
	}
	start := len(a.buf)
	a.buf = a.buf[:start+n]
	b := a.buf[start : start+n : start+n]
	return b, unsafe.String(&b[0], n)
}

// add returns a string holding a copy of v.
func (a *textArena) add(v []byte) string {
	b, s := a.reserve(len(v))
	copy(b, v)
	return s
}
