package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ValueText renders a result value as text: NULL for nil, JSON for arrays
// and json values, the value itself otherwise.
func ValueText(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case json.Number:
		return string(x)
	case json.RawMessage:
		return string(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

// mdEscaper escapes a value for a markdown table cell (built once: a
// Replacer is costly to build).
var mdEscaper = strings.NewReplacer("|", `\|`, "\r\n", " ", "\n", " ", "\r", " ", "\t", " ")

// mdCell makes s safe and short for a markdown table cell.
func mdCell(s string) string {
	s = mdEscaper.Replace(s)
	if utf8.RuneCountInString(s) > maxTextCell {
		r := []rune(s)
		s = string(r[:maxTextCell-1]) + "…"
	}
	return s
}
