package main

import (
	"encoding/csv"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/pgmcp/pgmcp/tools/engine"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// maxTableCell is the widest a value is shown in an aligned table; longer
// ones end with "…" (csv and json show every byte).
const maxTableCell = 60

// numeric reports whether a column's values are right-aligned.
func numeric(pgType string) bool {
	switch strings.TrimSuffix(pgType, "[]") {
	case "smallint", "integer", "bigint", "numeric", "real", "double precision", "money", "oid":
		return true
	}
	return strings.HasPrefix(pgType, "numeric(")
}

// oneLineCell makes a value fit one table line: control characters become
// spaces, and it is cut to maxTableCell characters.
func oneLineCell(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > maxTableCell {
		r := []rune(s)
		s = string(r[:maxTableCell-1]) + "…"
	}
	return s
}

// writeAligned writes rows as a table with aligned columns, in the style
// of psql: a header, a rule, then the rows.
func writeAligned(w io.Writer, cols []pgexec.Column, rows [][]any) {
	cells := make([][]string, len(rows))
	width := make([]int, len(cols))
	for i, c := range cols {
		width[i] = utf8.RuneCountInString(oneLineCell(c.Name))
	}
	for r, row := range rows {
		cells[r] = make([]string, len(cols))
		for i := range cols {
			if i < len(row) {
				cells[r][i] = oneLineCell(engine.ValueText(row[i]))
			}
			width[i] = max(width[i], utf8.RuneCountInString(cells[r][i]))
		}
	}
	pad := func(s string, n int, right bool) string {
		fill := strings.Repeat(" ", n-utf8.RuneCountInString(s))
		if right {
			return fill + s
		}
		return s + fill
	}
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(pad(oneLineCell(c.Name), width[i], false))
	}
	b.WriteString("\n")
	for i := range cols {
		if i > 0 {
			b.WriteString("-+-")
		}
		b.WriteString(strings.Repeat("-", width[i]))
	}
	b.WriteString("\n")
	for _, row := range cells {
		for i := range cols {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(pad(row[i], width[i], numeric(cols[i].Type)))
		}
		b.WriteString("\n")
	}
	lines := strings.SplitAfter(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimSuffix(l, "\n"), " ")
		if strings.HasSuffix(l, "\n") {
			lines[i] += "\n"
		}
	}
	_, _ = io.WriteString(w, strings.Join(lines, ""))
}

// writeMarkdown writes rows as a GitHub-flavoured markdown table.
func writeMarkdown(w io.Writer, cols []pgexec.Column, rows [][]any) {
	esc := func(s string) string {
		s = strings.ReplaceAll(s, `\`, `\\`)
		s = strings.ReplaceAll(s, "|", `\|`)
		return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "<br>"), "\n", "<br>")
	}
	var b strings.Builder
	b.WriteString("|")
	for _, c := range cols {
		b.WriteString(" " + esc(c.Name) + " |")
	}
	b.WriteString("\n|")
	for _, c := range cols {
		if numeric(c.Type) {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, row := range rows {
		b.WriteString("|")
		for i := range cols {
			var v string
			if i < len(row) {
				v = engine.ValueText(row[i])
			}
			b.WriteString(" " + esc(v) + " |")
		}
		b.WriteString("\n")
	}
	_, _ = io.WriteString(w, b.String())
}

// writeCSV writes rows as RFC 4180 CSV with a header line. NULL is an
// empty field.
func writeCSV(w io.Writer, cols []pgexec.Column, rows [][]any) error {
	cw := csv.NewWriter(w)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = c.Name
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	rec := make([]string, len(cols))
	for _, row := range rows {
		for i := range cols {
			rec[i] = ""
			if i < len(row) && row[i] != nil {
				rec[i] = engine.ValueText(row[i])
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// plural returns one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
