package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// EncodeQuery returns a query result's structured content as JSON and its
// text (RenderQueryText), in one pass over the rows: the JSON is what
// encoding/json makes of r, byte for byte, without its reflection and
// without validating again the numbers and JSON values the executor
// already produced as PostgreSQL printed them.
func EncodeQuery(r *QueryResult) ([]byte, string, error) {
	// The table is written apart, then quoted as data (FrameData) between
	// the SQL and the counts.
	var text, table strings.Builder
	table.Grow(256 + 16*len(r.Columns)*min(len(r.Rows), maxTextRows))
	writeQueryHead(&text, r)
	writeTableHead(&table, r)

	b := make([]byte, 0, 256+rowsSizeHint(r.Rows))
	b = append(b, `{"database":`...)
	b = appendString(b, r.Database)
	if r.Question != "" {
		b = append(b, `,"question":`...)
		b = appendString(b, r.Question)
	}
	b = append(b, `,"sql":`...)
	b = appendString(b, r.SQL)
	b = append(b, `,"columns":`...)
	if r.Columns == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, c := range r.Columns {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendString(b, c.Name)
			b = append(b, `,"type":`...)
			b = appendString(b, c.Type)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"rows":`...)
	if r.Rows == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		var err error
		for i, row := range r.Rows {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, row); err != nil {
				return nil, "", err
			}
			if i < maxTextRows && !r.DryRun && len(r.Columns) > 0 {
				writeTextRow(&table, row)
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"row_count":`...)
	b = strconv.AppendInt(b, int64(r.RowCount), 10)
	b = append(b, `,"truncated":`...)
	b = strconv.AppendBool(b, r.Truncated)
	if r.TruncatedBy != "" {
		b = append(b, `,"truncated_by":`...)
		b = appendString(b, r.TruncatedBy)
	}
	b = append(b, `,"elapsed_ms":`...)
	f, err := json.Marshal(r.ElapsedMS)
	if err != nil {
		return nil, "", err
	}
	b = append(b, f...)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(r.Attempts), 10)
	b = append(b, `,"dry_run":`...)
	b = strconv.AppendBool(b, r.DryRun)
	if r.Candidates != nil {
		c, err := json.Marshal(r.Candidates)
		if err != nil {
			return nil, "", err
		}
		b = append(append(b, `,"candidates":`...), c...)
	}
	if len(r.Checks) > 0 {
		c, err := json.Marshal(r.Checks)
		if err != nil {
			return nil, "", err
		}
		b = append(append(b, `,"result_checks":`...), c...)
	}
	b = append(b, '}')
	if table.Len() > 0 {
		text.WriteByte('\n')
		writeFrame(&text, FrameRows, table.String())
	}
	writeQueryTail(&text, r)
	return b, text.String(), nil
}

// rowsSizeHint guesses the encoded size of rows from the first ones.
func rowsSizeHint(rows [][]any) int {
	if len(rows) == 0 {
		return 2
	}
	n := 0
	for _, v := range rows[0] {
		if s, ok := v.(string); ok {
			n += len(s) + 3
		} else {
			n += 8
		}
	}
	return (n + 3) * len(rows)
}

// appendValue appends v as encoding/json does for the values the executor
// makes (nil, bool, string, json.Number, json.RawMessage, arrays of them);
// anything else goes through encoding/json.
func appendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case json.Number:
		if x == "" {
			return append(b, '0'), nil // as encoding/json does
		}
		if !pgexec.IsJSONNumber(string(x)) {
			return b, fmt.Errorf("engine: invalid number literal %q", string(x))
		}
		return append(b, x...), nil
	case json.RawMessage:
		if len(x) == 0 {
			return append(b, "null"...), nil
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, x); err != nil {
			return b, err
		}
		return appendHTMLSafe(b, buf.Bytes()), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		var err error
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, e); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	default:
		j, err := json.Marshal(x)
		if err != nil {
			return b, err
		}
		return append(b, j...), nil
	}
}

// appendHTMLSafe appends compact JSON with <, > and & escaped, as
// encoding/json writes a RawMessage.
func appendHTMLSafe(b, j []byte) []byte {
	start := 0
	for i, c := range j {
		if c == '<' || c == '>' || c == '&' {
			b = append(b, j[start:i]...)
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		}
		// U+2028 and U+2029 (E2 80 A8/A9) are escaped too.
		if c == 0xE2 && i+2 < len(j) && j[i+1] == 0x80 && j[i+2]&^1 == 0xA8 {
			b = append(b, j[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[j[i+2]&0xF])
			start = i + 3
		}
	}
	return append(b, j[start:]...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json does:
// HTML-safe (<, >, & escaped), U+2028 and U+2029 escaped, invalid UTF-8
// replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// writeTextRow writes one row of the text's markdown table.
func writeTextRow(w *strings.Builder, row []any) {
	w.WriteByte('|')
	for _, v := range row {
		w.WriteByte(' ')
		writeCell(w, ValueText(v))
		w.WriteString(" |")
	}
	w.WriteByte('\n')
}

// writeCell writes s as a markdown table cell: | escaped, line breaks and
// tabs as spaces, at most maxTextCell characters.
func writeCell(w *strings.Builder, s string) {
	if len(s) <= maxTextCell && !strings.ContainsAny(s, "|\r\n\t") {
		w.WriteString(s) // the common case: nothing to change
		return
	}
	w.WriteString(mdCell(s))
}
