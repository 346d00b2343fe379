package pgtest

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file loads SQL dumps the way psql does, for tests: statement by
// statement (so that a failing statement does not stop the load: psql
// without ON_ERROR_STOP goes on), with COPY ... FROM stdin data streamed
// through the COPY protocol, and psql meta-commands (\pset, \dt...)
// skipped.

var copyFromStdin = regexp.MustCompile(`(?is)^\s*COPY\s.*\sFROM\s+stdin\s*$`)

// ownerTo matches the ALTER ... OWNER TO statements of a pg_dump: the
// owning role may not exist here, and ownership does not matter to tests.
var ownerTo = regexp.MustCompile(`(?is)^\s*ALTER\s.*\sOWNER\s+TO\s`)

// LoadSQLFile runs the statements of path (a psql script or pg_dump) on
// the database at url and returns the error of each statement that failed.
func LoadSQLFile(tb testing.TB, url, path string) []error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return loadSQL(ctx, url, path)
}

func loadSQL(ctx context.Context, url, path string) []error {
	b, err := os.ReadFile(path)
	if err != nil {
		return []error{err}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return []error{err}
	}
	defer conn.Close(context.Background())
	var failed []error
	text := string(b)
	pos := 0
	for {
		stmt, next, ok := nextStatement(text, pos)
		if !ok {
			break
		}
		pos = next
		if ownerTo.MatchString(stmt) {
			continue
		}
		if copyFromStdin.MatchString(stmt) {
			// The data starts on the next line and ends with a line "\.".
			if i := strings.IndexByte(text[pos:], '\n'); i >= 0 {
				pos += i + 1
			}
			end := strings.Index(text[pos:], "\n\\.\n")
			var data string
			if strings.HasPrefix(text[pos:], "\\.\n") {
				end, data = 0, ""
				pos += 3
			} else {
				if end < 0 {
					return append(failed, fmt.Errorf("%s: COPY data without an end marker", path))
				}
				data = text[pos : pos+end+1]
				pos += end + 4
			}
			if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(data), stmt); err != nil {
				failed = append(failed, fmt.Errorf("%.60s: %w", stmt, err))
			}
			continue
		}
		if _, err := conn.Exec(ctx, stmt); err != nil {
			failed = append(failed, fmt.Errorf("%.80s: %w", strings.TrimSpace(stmt), err))
		}
	}
	return failed
}

// nextStatement returns the statement starting at or after pos (without its
// semicolon) and the position after it. It skips blank space, comments and
// psql meta-command lines, and honours quotes, dollar quotes and comments
// inside statements.
func nextStatement(s string, pos int) (stmt string, next int, ok bool) {
	// Skip space, comments and meta-command lines.
	for pos < len(s) {
		switch {
		case s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r':
			pos++
		case strings.HasPrefix(s[pos:], "--"):
			pos = lineEnd(s, pos)
		case strings.HasPrefix(s[pos:], "/*"):
			pos = blockCommentEnd(s, pos)
		case s[pos] == '\\':
			pos = lineEnd(s, pos)
		default:
			goto scan
		}
	}
	return "", pos, false
scan:
	start := pos
	for pos < len(s) {
		c := s[pos]
		switch {
		case c == ';':
			return s[start:pos], pos + 1, true
		case c == '\'':
			pos++
			for pos < len(s) {
				if s[pos] == '\'' {
					if pos+1 < len(s) && s[pos+1] == '\'' {
						pos += 2
						continue
					}
					break
				}
				pos++
			}
			pos++
		case c == '"':
			j := strings.IndexByte(s[pos+1:], '"')
			if j < 0 {
				return s[start:], len(s), true
			}
			pos += j + 2
		case c == '$':
			if tag := dollarTag(s[pos:]); tag != "" {
				j := strings.Index(s[pos+len(tag):], tag)
				if j < 0 {
					return s[start:], len(s), true
				}
				pos += len(tag) + j + len(tag)
			} else {
				pos++
			}
		case strings.HasPrefix(s[pos:], "--"):
			pos = lineEnd(s, pos)
		case strings.HasPrefix(s[pos:], "/*"):
			pos = blockCommentEnd(s, pos)
		default:
			pos++
		}
	}
	if strings.TrimSpace(s[start:]) == "" {
		return "", pos, false
	}
	return s[start:], pos, true
}

var dollarTagRE = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)?\$`)

func dollarTag(s string) string { return dollarTagRE.FindString(s) }

func lineEnd(s string, pos int) int {
	if i := strings.IndexByte(s[pos:], '\n'); i >= 0 {
		return pos + i + 1
	}
	return len(s)
}

func blockCommentEnd(s string, pos int) int {
	depth := 0
	for pos < len(s) {
		switch {
		case strings.HasPrefix(s[pos:], "/*"):
			depth++
			pos += 2
		case strings.HasPrefix(s[pos:], "*/"):
			depth--
			pos += 2
			if depth == 0 {
				return pos
			}
		default:
			pos++
		}
	}
	return pos
}
