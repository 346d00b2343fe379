package pgexec

import (
	"encoding/json"
	"strings"
	"time"
)

// Builtin type OIDs (stable across PostgreSQL versions).
const (
	oidBool        = 16
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidNumeric     = 1700
	oidJSONB       = 3802
)

// typeInfo is what converting a value needs to know about its type.
type typeInfo struct {
	elem uint32 // element type of an array type, else 0
	base uint32 // base type of a domain, else 0
	// delim is the array delimiter of the element type (',' for nearly all).
	delim byte
}

// converter turns PostgreSQL's text rendering of values into JSON-ready
// values, knowing every type by OID.
type converter struct {
	types map[uint32]typeInfo
}

// convert returns the JSON-ready value of text of type oid: exactly the
// value PostgreSQL printed, never rounded.
//
//   - bool → true/false
//   - integers, numeric, float → a JSON number with PostgreSQL's digits
//     (NaN and ±Infinity → strings)
//   - json, jsonb → the JSON itself
//   - timestamptz → RFC 3339 with its offset; timestamp → RFC 3339 without
//     offset (it has none); date, time → ISO 8601; interval → ISO 8601
//     duration (IntervalStyle iso_8601); ±infinity → strings
//   - bytea → "\x…" hex
//   - arrays → JSON arrays (of converted elements; bounds other than 1
//     are dropped)
//   - domains → as their base type
//   - everything else (uuid, inet, enums, ranges, composites…) → the text
func (c *converter) convert(oid uint32, text string) any { return c.convertIn(oid, text, nil) }

// convertIn is convert with the strings it makes taken from a (nil: each
// allocated).
func (c *converter) convertIn(oid uint32, text string, a *textArena) any {
	for range 8 { // domains over domains
		ti, ok := c.types[oid]
		if !ok || ti.base == 0 {
			break
		}
		oid = ti.base
	}
	switch oid {
	case oidBool:
		return text == "t"
	case oidInt2, oidInt4, oidInt8, oidOID:
		return json.Number(text)
	case oidNumeric, oidFloat4, oidFloat8:
		if IsJSONNumber(text) {
			return json.Number(text)
		}
		return text // NaN, Infinity, -Infinity
	case oidJSON, oidJSONB:
		if json.Valid([]byte(text)) {
			return json.RawMessage(text)
		}
		return text
	case oidTimestamptz:
		return rfc3339(text, true, a)
	case oidTimestamp:
		return rfc3339(text, false, a)
	}
	if ti, ok := c.types[oid]; ok && ti.elem != 0 {
		delim := byte(',')
		if et, ok := c.types[ti.elem]; ok && et.delim != 0 {
			delim = et.delim
		}
		if v, ok := c.parseArray(text, ti.elem, delim); ok {
			return v
		}
	}
	return text
}

// IsJSONNumber reports whether s is a valid JSON number literal (RFC
// 8259), read by hand: PostgreSQL prints numbers that are, except NaN and
// the infinities.
func IsJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// rfc3339 turns PostgreSQL's ISO timestamp ("2024-01-02 03:04:05.123+01")
// into RFC 3339 ("2024-01-02T03:04:05.123+01:00"), as text: the common
// forms are rewritten in place (fastRFC3339), the others go through
// time.Parse. Values Go cannot hold (BC dates, years past 9999, infinity)
// are returned as printed.
func rfc3339(text string, withZone bool, a *textArena) string {
	if out, ok := fastRFC3339(text, withZone, a); ok {
		return out
	}
	return parsedRFC3339(text, withZone)
}

// fastRFC3339 rewrites "YYYY-MM-DD HH:MM:SS[.fraction][±HH[:MM]]" as
// parsedRFC3339 would (a T for the space, a zero offset as Z, ±HH as
// ±HH:00), without parsing it into a time; ok is false for any other form
// (or a fraction ending in 0, which PostgreSQL does not print), left to
// parsedRFC3339.
func fastRFC3339(s string, withZone bool, a *textArena) (string, bool) {
	const dt = "dddd-dd-dd dd:dd:dd"
	if len(s) < len(dt) {
		return "", false
	}
	for i := 0; i < len(dt); i++ {
		if dt[i] == 'd' {
			if s[i] < '0' || s[i] > '9' {
				return "", false
			}
		} else if s[i] != dt[i] {
			return "", false
		}
	}
	end := len(dt)
	if end < len(s) && s[end] == '.' {
		j := end + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == end+1 || j-end-1 > 9 || s[j-1] == '0' {
			return "", false
		}
		end = j
	}
	zone := s[end:]
	digits := func(z string) bool {
		for i := 0; i < len(z); i++ {
			if z[i] < '0' || z[i] > '9' {
				return false
			}
		}
		return true
	}
	var suffix string // what replaces zone
	switch {
	case !withZone:
		if zone != "" {
			return "", false
		}
	case len(zone) == 3 && (zone[0] == '+' || zone[0] == '-') && digits(zone[1:]):
		if zone[1:] == "00" {
			suffix = "Z"
		} else {
			suffix = zone + ":00"
		}
	case len(zone) == 6 && (zone[0] == '+' || zone[0] == '-') && digits(zone[1:3]) && zone[3] == ':' && digits(zone[4:]):
		if zone[1:] == "00:00" {
			suffix = "Z"
		} else {
			suffix = zone
		}
	default:
		return "", false
	}
	b, out := a.reserve(end + len(suffix))
	n := copy(b, s[:end])
	b[10] = 'T'
	copy(b[n:], suffix)
	return out, true
}

// parsedRFC3339 is rfc3339 through time.Parse and Format.
func parsedRFC3339(text string, withZone bool) string {
	if withZone {
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999-07:00:00"} {
			if t, err := time.Parse(layout, text); err == nil {
				return t.Format(time.RFC3339Nano)
			}
		}
		return text
	}
	if t, err := time.Parse("2006-01-02 15:04:05.999999999", text); err == nil {
		return t.Format("2006-01-02T15:04:05.999999999")
	}
	return text
}

// parseArray parses PostgreSQL's array text: {1,2,NULL,"a \"b\""} and
// nested {{1,2},{3,4}}, with an optional [lo:hi]= bounds prefix.
func (c *converter) parseArray(text string, elem uint32, delim byte) (any, bool) {
	if strings.HasPrefix(text, "[") {
		i := strings.Index(text, "=")
		if i < 0 {
			return nil, false
		}
		text = text[i+1:]
	}
	p := arrayParser{s: text, delim: delim, c: c, elem: elem}
	v, ok := p.parse()
	if !ok || p.i != len(p.s) {
		return nil, false
	}
	return v, true
}

type arrayParser struct {
	s     string
	i     int
	delim byte
	c     *converter
	elem  uint32
}

func (p *arrayParser) parse() ([]any, bool) {
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil, false
	}
	p.i++
	out := []any{}
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return out, true
	}
	for {
		if p.i >= len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case '{':
			sub, ok := p.parse()
			if !ok {
				return nil, false
			}
			out = append(out, sub)
		case '"':
			var b strings.Builder
			p.i++
			for {
				if p.i >= len(p.s) {
					return nil, false
				}
				ch := p.s[p.i]
				if ch == '\\' && p.i+1 < len(p.s) {
					b.WriteByte(p.s[p.i+1])
					p.i += 2
					continue
				}
				if ch == '"' {
					p.i++
					break
				}
				b.WriteByte(ch)
				p.i++
			}
			out = append(out, p.c.convert(p.elem, b.String()))
		default:
			start := p.i
			for p.i < len(p.s) && p.s[p.i] != p.delim && p.s[p.i] != '}' {
				p.i++
			}
			tok := p.s[start:p.i]
			if tok == "NULL" {
				out = append(out, nil)
			} else {
				out = append(out, p.c.convert(p.elem, tok))
			}
		}
		if p.i >= len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case p.delim:
			p.i++
		case '}':
			p.i++
			return out, true
		default:
			return nil, false
		}
	}
}
