package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ExtractSQL finds the SQL in a model's answer. It returns the SQL text
// (possibly several statements: it never splits them, sqlguard rejects
// multi-statement input) or a *Error: CodeRefused when the model declined,
// CodeBadOutput when there is no SQL. It never judges whether the SQL is
// safe or even valid: that is sqlguard's job.
//
// In order, the first rule that finds SQL wins:
//
//  1. Reasoning is dropped: <think>…</think> (also <thinking>, <reasoning>,
//     an unterminated <think> to the end, and everything before a lone
//     </think>), and chat-template tokens such as <|im_end|>.
//  2. A JSON object answer: {"sql": "…"} (keys sql, query, sql_query,
//     statement; any other keys ignored). An empty or null "sql" is a
//     refusal, with the object's "error"/"reason"/"explanation" as reason.
//  3. Fenced blocks (``` or ~~~, any length, with or without a language,
//     an unterminated last one running to the end): the LAST block that is
//     either a JSON object with a "sql" key or SQL (language sql, postgresql,
//     psql, pgsql…, or none/text with a body that starts like SQL). The
//     last one, because a model that corrects itself shows the wrong query
//     first ("…corrected:"). Blocks in other languages are ignored.
//  4. <code>, <sql> or <query> elements (HTML-unescaped), last one first.
//  5. An answer that starts with SQL, after an optional label ("SQL:",
//     "Query:", "Answer:").
//  6. Inline code `…` that starts like SQL, last one first.
//  7. A JSON object inside prose.
//  8. The first line of prose that starts like SQL (keyword then a
//     plausible continuation: "Select a table…" is not SQL), with the
//     comment lines just above it.
//
// Unfenced SQL (rules 5, 8 and an unterminated fence) ends at the last
// semicolon that is followed by something other than another statement,
// at a blank line followed by prose, or at a line that is evidently prose
// ("This query…", "Note:", a markdown heading or list item, a fence).
// Quotes, comments and dollar quotes are respected when finding them.
//
// When nothing is found, an answer that reads like a refusal ("I'm sorry, I
// can't…", "As an AI…", "…cannot be answered…") is CodeRefused, anything
// else CodeBadOutput.
func ExtractSQL(output string) (string, error) {
	if len(output) > maxOutputBytes {
		return "", &Error{Code: CodeBadOutput, Message: fmt.Sprintf("the model's answer is too long (over %d KiB)", maxOutputBytes>>10),
			Err: outputCause(output)}
	}
	s := normalizeOutput(output)
	s = stripReasoning(s)
	if strings.TrimSpace(s) == "" {
		return "", &Error{Code: CodeBadOutput, Message: "the model returned an empty answer",
			Err: outputCause(output)}
	}

	// 2. A JSON answer.
	if sql, reason, ok := fromJSON(strings.TrimSpace(s)); ok {
		return jsonResult(sql, reason, output)
	}
	// 3. Fences.
	blocks, rest := fencedBlocks(s)
	for i := len(blocks) - 1; i >= 0; i-- {
		b := blocks[i]
		if t := strings.TrimSpace(b.body); strings.HasPrefix(t, "{") {
			if sql, reason, ok := fromJSON(t); ok {
				return jsonResult(sql, reason, output)
			}
		}
		if sql := b.sql(); sql != "" {
			return sql, nil
		}
	}
	// 4. HTML/XML elements.
	if sql := fromElements(s); sql != "" {
		return sql, nil
	}
	// Markup noise around unfenced SQL.
	if looksLikeHTML(rest) {
		rest = stripTags(rest)
	}
	// 5. An answer that is SQL.
	if sql := leadingSQL(rest); sql != "" {
		return sql, nil
	}
	// 6. Inline code.
	if sql := fromInlineCode(rest); sql != "" {
		return sql, nil
	}
	// 7. JSON in prose.
	if i, j := strings.IndexByte(s, '{'), strings.LastIndexByte(s, '}'); i >= 0 && j > i {
		if sql, reason, ok := fromJSON(s[i : j+1]); ok {
			return jsonResult(sql, reason, output)
		}
	}
	// 8. SQL inside prose.
	if sql := sqlInProse(rest); sql != "" {
		return sql, nil
	}
	if reason, ok := refusal(s); ok {
		return "", &Error{Code: CodeRefused, Message: "the model declined to write a query: " + reason,
			Err: outputCause(output)}
	}
	return "", &Error{Code: CodeBadOutput, Message: "the model's answer contains no SQL query",
		Err: outputCause(output)}
}

// maxOutputBytes bounds the answers ExtractSQL reads: far more than any
// query, and it keeps the heuristics' cost bounded.
const maxOutputBytes = 256 << 10

// outputCause keeps (the start of) the raw answer for the logs.
func outputCause(output string) error {
	const max = 2000
	if len(output) > max {
		output = output[:max] + "…"
	}
	return fmt.Errorf("model output: %q", output)
}

func jsonResult(sql, reason, output string) (string, error) {
	if sql == "" {
		msg := "the model declined to write a query"
		if reason != "" {
			msg += ": " + oneLine(reason, 200)
		}
		return "", &Error{Code: CodeRefused, Message: msg, Err: outputCause(output)}
	}
	// The value may itself be fenced, followed by prose, or a refusal.
	inner, err := ExtractSQL(sql)
	var e *Error
	switch {
	case err == nil && !strings.HasPrefix(strings.TrimSpace(inner), "{"):
		return inner, nil
	case errors.As(err, &e) && e.Code == CodeRefused:
		return "", &Error{Code: CodeRefused, Message: e.Message, Err: outputCause(output)}
	case startsLikeSQL(sql):
		return strings.TrimSpace(sql), nil // e.g. lowercase "show timezone": sqlguard decides
	}
	return "", &Error{Code: CodeBadOutput, Message: "the model's answer contains no SQL query",
		Err: outputCause(output)}
}

var (
	specialTokenRe = regexp.MustCompile(`<\|[A-Za-z0-9_]+\|>`)
	invisibleRe    = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\ufeff", "", "\u200b", "", "\u200c", "",
		"\u200d", "", "\u2060", "", "\u00a0", " ", "\u202f", " ")
)

// normalizeOutput fixes line endings, drops invisible characters and
// invalid UTF-8, and turns non-breaking spaces into spaces.
func normalizeOutput(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	s = invisibleRe.Replace(s)
	// gpt-oss "harmony" output leaked by some servers: keep the final channel.
	if i := strings.LastIndex(s, "<|channel|>final<|message|>"); i >= 0 {
		s = s[i+len("<|channel|>final<|message|>"):]
	}
	return specialTokenRe.ReplaceAllString(s, "")
}

// stripReasoning removes reasoning blocks.
func stripReasoning(s string) string {
	for _, tag := range []string{"think", "thinking", "reasoning", "reflection"} {
		open, close := "<"+tag+">", "</"+tag+">"
		low := asciiLower(s)
		var b strings.Builder
		for {
			i := strings.Index(low, open)
			if i < 0 {
				b.WriteString(s)
				break
			}
			b.WriteString(s[:i])
			j := strings.Index(low[i:], close)
			if j < 0 {
				break // unterminated: the rest is reasoning
			}
			s, low = s[i+j+len(close):], low[i+j+len(close):]
		}
		s = b.String()
		// A closing tag whose opening the chat template swallowed.
		if j := strings.LastIndex(asciiLower(s), close); j >= 0 {
			s = s[j+len(close):]
		}
	}
	return s
}

// asciiLower lowercases ASCII letters only, so byte offsets are preserved.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// fromJSON decodes text as one JSON object and looks for the SQL in it.
// ok is false when text is not a JSON object with a known key.
func fromJSON(text string) (sql, reason string, ok bool) {
	if !strings.HasPrefix(text, "{") {
		return "", "", false
	}
	dec := json.NewDecoder(strings.NewReader(text))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return "", "", false
	}
	if dec.More() { // trailing garbage after the object
		return "", "", false
	}
	get := func(keys ...string) (any, bool) {
		for _, k := range keys {
			for mk, v := range m {
				if strings.EqualFold(mk, k) {
					return v, true
				}
			}
		}
		return nil, false
	}
	str := func(keys ...string) string {
		v, _ := get(keys...)
		s, _ := v.(string)
		return strings.TrimSpace(s)
	}
	reason = str("error", "refusal", "reason", "explanation", "message", "note")
	v, found := get("sql", "query", "sql_query", "statement")
	if !found {
		if reason != "" && (str("error") != "" || str("refusal") != "") {
			return "", reason, true // {"error": "..."}: a refusal
		}
		return "", "", false
	}
	s, _ := v.(string)
	return strings.TrimSpace(s), reason, true
}

// block is a fenced code block.
type block struct {
	lang       string
	body       string
	terminated bool
}

// sqlLangRe matches the info strings of SQL fences.
var sqlLangRe = regexp.MustCompile(`^(sql|postgres|postgresql|psql|pgsql|plpgsql|plsql|tsql|mysql|sqlite|ansi-?sql|pg)$`)

// sql returns the block's SQL, or "" if it is not an SQL block.
func (b block) sql() string {
	body := strings.TrimSpace(b.body)
	// "```\nsql\nSELECT …": the language on its own line.
	if first, after, ok := strings.Cut(body, "\n"); ok && sqlLangRe.MatchString(asciiLower(strings.TrimSpace(first))) {
		body = strings.TrimSpace(after)
	}
	switch {
	case b.lang == "" || b.lang == "text" || b.lang == "txt" || b.lang == "plaintext" || b.lang == "code":
	case sqlLangRe.MatchString(b.lang) || strings.Contains(b.lang, "sql"):
	default:
		return ""
	}
	if !startsLikeSQL(body) {
		return ""
	}
	if !b.terminated {
		body = cutTrailing(body)
	}
	return strings.TrimSpace(body)
}

// fenceOpenRe matches an opening fence line: the run, then an info string.
var fenceOpenRe = regexp.MustCompile("^[ \t]*(`{3,}|~{3,})(.*)$")

// fencedBlocks parses the fenced code blocks of s. rest is s without them
// (each block replaced by a blank line).
func fencedBlocks(s string) (blocks []block, rest string) {
	lines := strings.Split(s, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		m := fenceOpenRe.FindStringSubmatch(lines[i])
		if m == nil {
			out = append(out, lines[i])
			continue
		}
		run, info := m[1], strings.TrimSpace(m[2])
		// One-line block: ```sql SELECT 1```.
		if strings.HasSuffix(info, run[:3]) && len(info) > 3 {
			inner := strings.TrimSpace(strings.TrimRight(info, run[:1]))
			lang := ""
			if first, after, ok := strings.Cut(inner, " "); ok && sqlLangRe.MatchString(asciiLower(first)) {
				lang, inner = asciiLower(first), after
			}
			blocks = append(blocks, block{lang: lang, body: inner, terminated: true})
			out = append(out, "")
			continue
		}
		if strings.Contains(info, run[:1]) && run[0] == '`' {
			// Backticks in a backtick info string: not a fence (CommonMark).
			out = append(out, lines[i])
			continue
		}
		lang := asciiLower(strings.Trim(firstWord(info), "{}.:"))
		b := block{lang: lang}
		var body []string
		j := i + 1
		reopen := false
		for ; j < len(lines); j++ {
			t := strings.TrimSpace(lines[j])
			if len(t) >= len(run) && strings.Trim(t, run[:1]) == "" {
				b.terminated = true
				break
			}
			// A new opening fence ("```sql") before this one closed: the
			// model forgot the closing fence. Close here, reparse that line.
			if m2 := fenceOpenRe.FindStringSubmatch(lines[j]); m2 != nil && m2[1][0] == run[0] &&
				strings.TrimSpace(m2[2]) != "" {
				reopen = true
				break
			}
			body = append(body, lines[j])
		}
		b.body = strings.Join(body, "\n")
		blocks = append(blocks, b)
		out = append(out, "")
		i = j
		if reopen {
			i = j - 1
		}
	}
	return blocks, strings.Join(out, "\n")
}

func firstWord(s string) string {
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		return s[:i]
	}
	return s
}

var (
	elementRes = []*regexp.Regexp{
		regexp.MustCompile(`(?is)<sql>(.*?)</sql>`),
		regexp.MustCompile(`(?is)<query>(.*?)</query>`),
		regexp.MustCompile(`(?is)<code(?:\s[^>]*)?>(.*?)</code>`),
	}
	// Only these tags, bare or with a class/lang attribute, are stripped, so
	// that "a <b AND c> d" in SQL survives.
	tagRe = regexp.MustCompile(`(?i)</?(?:p|br|div|span|pre|code|strong|em|b|i|sql|query|answer)(?:\s+(?:class|lang|language)="[^"]*")*\s*/?>`)
)

// fromElements returns the last <sql>, <query> or <code> element whose
// content is SQL.
func fromElements(s string) string {
	for _, re := range elementRes {
		ms := re.FindAllStringSubmatch(s, -1)
		for i := len(ms) - 1; i >= 0; i-- {
			body := strings.TrimSpace(html.UnescapeString(tagRe.ReplaceAllString(ms[i][1], "")))
			if strings.ContainsAny(body, " \t\n") && startsLikeSQL(body) {
				return strings.TrimSpace(cutTrailing(body))
			}
		}
	}
	return ""
}

func looksLikeHTML(s string) bool {
	l := asciiLower(s)
	return strings.Contains(l, "</p>") || strings.Contains(l, "<br") || strings.Contains(l, "</div>") ||
		strings.Contains(l, "</pre>") || strings.Contains(l, "</span>")
}

func stripTags(s string) string {
	s = regexp.MustCompile(`(?i)<br\s*/?>`).ReplaceAllString(s, "\n")
	s = regexp.MustCompile(`(?i)</(?:p|div)>`).ReplaceAllString(s, "\n\n")
	return html.UnescapeString(tagRe.ReplaceAllString(s, ""))
}

// labelRe matches a label in front of SQL on the same line.
var labelRe = regexp.MustCompile(`(?i)^(?:[*_#>\s]*)(?:(?:final|corrected|postgres(?:ql)?)\s+)?(?:sql(?:\s+query)?|query|answer)\s*[*_]*\s*:\s*[*_]*\s*`)

// leadingSQL returns the SQL an answer starts with (after a label).
func leadingSQL(s string) string {
	t := strings.TrimSpace(s)
	if m := labelRe.FindString(t); m != "" {
		t = strings.TrimSpace(t[len(m):])
	}
	if !startsSQLConfidently(t) {
		return ""
	}
	if sql := strings.TrimSpace(cutTrailing(t)); plausibleSQL(sql) {
		return sql
	}
	return ""
}

var inlineCodeRe = regexp.MustCompile("`([^`\n]+)`")

// fromInlineCode returns the last inline code span that is SQL.
func fromInlineCode(s string) string {
	ms := inlineCodeRe.FindAllStringSubmatch(s, -1)
	for i := len(ms) - 1; i >= 0; i-- {
		body := strings.TrimSpace(ms[i][1])
		if strings.ContainsAny(body, " \t") && startsSQLConfidently(body) && plausibleSQL(body) {
			return body
		}
	}
	return ""
}

// maxProseCandidates bounds how many prose lines that start like SQL are
// tried (each try scans the rest of the answer).
const maxProseCandidates = 8

// sqlInProse finds the first line of prose that starts SQL, at the start of
// the line (after a label) or after a colon.
func sqlInProse(s string) string {
	tries := 0
	for off := 0; off < len(s) && tries < maxProseCandidates; {
		end := strings.IndexByte(s[off:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += off
		}
		line := s[off:end]
		cands := []string{strings.TrimSpace(line)}
		if m := labelRe.FindString(cands[0]); m != "" {
			cands[0] = strings.TrimSpace(cands[0][len(m):])
		}
		for k := 0; ; {
			n := strings.Index(line[k:], ": ")
			if n < 0 {
				break
			}
			k += n + 2
			cands = append(cands, strings.TrimSpace(line[k:]))
		}
		for _, c := range cands {
			if tries >= maxProseCandidates || !startsSQLConfidently(c) {
				continue
			}
			tries++
			// The comment lines right above belong to it.
			start := off
			for start > 0 {
				prev := strings.LastIndexByte(s[:start-1], '\n') + 1
				if !isCommentLine(s[prev : start-1]) {
					break
				}
				start = prev
			}
			sql := strings.TrimSpace(cutTrailing(s[start:off] + c + s[end:]))
			if plausibleSQL(sql) {
				return sql
			}
		}
		off = end + 1
	}
	return ""
}

func isCommentLine(l string) bool {
	t := strings.TrimSpace(l)
	return strings.HasPrefix(t, "--") || (strings.HasPrefix(t, "/*") && strings.HasSuffix(t, "*/"))
}

// statementStarters are the keywords a statement can begin with.
var statementStarters = map[string]bool{
	"SELECT": true, "WITH": true, "VALUES": true, "TABLE": true, "EXPLAIN": true, "SHOW": true,
	"INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "CREATE": true, "DROP": true,
	"ALTER": true, "TRUNCATE": true, "GRANT": true, "REVOKE": true, "COPY": true, "SET": true,
	"RESET": true, "BEGIN": true, "START": true, "COMMIT": true, "ROLLBACK": true, "END": true,
	"DO": true, "CALL": true, "ANALYZE": true, "ANALYSE": true, "VACUUM": true, "DECLARE": true,
	"PREPARE": true, "EXECUTE": true, "DEALLOCATE": true, "LOCK": true, "LISTEN": true, "NOTIFY": true,
	"UNLISTEN": true, "REFRESH": true, "REINDEX": true, "CLUSTER": true, "COMMENT": true, "DISCARD": true,
	"FETCH": true, "MOVE": true, "CLOSE": true, "SAVEPOINT": true, "RELEASE": true, "ABORT": true,
	"CHECKPOINT": true, "LOAD": true, "IMPORT": true, "SECURITY": true, "REASSIGN": true,
}

// continuationWords may begin a line that continues a statement.
var continuationWords = map[string]bool{
	"FROM": true, "WHERE": true, "GROUP": true, "ORDER": true, "HAVING": true, "LIMIT": true,
	"OFFSET": true, "JOIN": true, "LEFT": true, "RIGHT": true, "INNER": true, "FULL": true,
	"OUTER": true, "CROSS": true, "NATURAL": true, "LATERAL": true, "UNION": true, "INTERSECT": true,
	"EXCEPT": true, "AND": true, "OR": true, "NOT": true, "ON": true, "USING": true, "AS": true,
	"WINDOW": true, "FOR": true, "RETURNING": true, "CASE": true, "WHEN": true, "THEN": true,
	"ELSE": true, "IN": true, "IS": true, "BETWEEN": true, "LIKE": true, "ILIKE": true, "EXISTS": true,
	"DISTINCT": true, "ALL": true, "ANY": true, "SOME": true, "ASC": true, "DESC": true, "NULLS": true,
	"PARTITION": true, "OVER": true, "FILTER": true, "WITHIN": true, "ROWS": true, "RANGE": true,
	"INTO": true, "BY": true, "LIMITS": true, "COUNT": true, "SUM": true, "AVG": true, "MIN": true,
	"MAX": true, "COALESCE": true, "CAST": true, "NULL": true, "TRUE": true, "FALSE": true,
}

// skipComments drops leading whitespace, comments and opening
// parentheses.
func skipComments(s string) string {
	for {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return ""
			}
			s = s[i+2:]
		case strings.HasPrefix(s, "("):
			s = s[1:]
		default:
			return s
		}
	}
}

// leadingWord returns the first word of s after whitespace, comments and
// opening parentheses, as written.
func leadingWord(s string) string {
	s = skipComments(s)
	i := 0
	for i < len(s) && (s[i] == '_' || ('a' <= s[i]|0x20 && s[i]|0x20 <= 'z')) {
		i++
	}
	if i == 0 || (i < len(s) && (s[i] >= 0x80 || ('0' <= s[i] && s[i] <= '9') || s[i] == '$')) {
		return ""
	}
	return s[:i]
}

// startsLikeSQL: s begins (after comments) with a statement keyword.
func startsLikeSQL(s string) bool {
	return statementStarters[strings.ToUpper(leadingWord(s))]
}

// startsSQLConfidently: s begins with a statement keyword written in
// capitals, or with an unmistakable statement opening (strictSQLStart).
// Prose may begin with "Select", "Show" or "With"; SQL in prose must pass
// this.
func startsSQLConfidently(s string) bool {
	w := leadingWord(s)
	if !statementStarters[strings.ToUpper(w)] {
		return false
	}
	return (w == strings.ToUpper(w) && len(w) > 1) || strictSQLStart(s)
}

var (
	cteRe     = regexp.MustCompile(`(?is)^with\s+(?:recursive\s+)?(?:"[^"]+"|[a-z_][a-z0-9_$]*)\s*(?:\([^)]*\)\s*)?as\s+(?:not\s+)?(?:materialized\s+)?\(`)
	strictRes = []*regexp.Regexp{
		regexp.MustCompile(`(?i)^select\b`),
		regexp.MustCompile(`(?i)^(?:insert\s+into|delete\s+from|merge\s+into)\b`),
		regexp.MustCompile(`(?i)^update\s+\S+\s+set\b`),
		regexp.MustCompile(`(?i)^explain\s+(?:\(|analy[sz]e\b|verbose\b|select\b|with\b)`),
		regexp.MustCompile(`(?i)^(?:create|drop|alter)\s+(?:or\s+replace\s+|temp\s+|temporary\s+|unique\s+|materialized\s+)*(?:table|view|index|schema|database|function|procedure|role|user|extension|sequence|type|trigger)\b`),
		regexp.MustCompile(`(?i)^truncate\s+(?:table\s+)?\S`),
		regexp.MustCompile(`(?i)^values\s*\(`),
	}
)

// strictSQLStart is startsLikeSQL for text inside prose, where "With this
// query…" or "Select the…" must not count.
func strictSQLStart(s string) bool {
	s = skipComments(s)
	if cteRe.MatchString(s) {
		return true
	}
	for _, re := range strictRes {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

var structuralRe = regexp.MustCompile(`(?i)\b(?:from|join|where|group\s+by|order\s+by|limit|values|set|as|into|union)\b|[;*(=]`)

// plausibleSQL rejects prose that merely starts with a keyword: SQL found
// in prose must have its keyword in capitals, or else a clause keyword or
// SQL punctuation, and no full stop ending its first line or its end.
func plausibleSQL(sql string) bool {
	if sql == "" {
		return false
	}
	w := strings.TrimSpace(sql)
	first := w
	if i := strings.IndexFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && r != '(' }); i >= 0 {
		first = w[:i]
	}
	first = strings.TrimLeft(first, "(")
	if first != "" && first == strings.ToUpper(first) {
		return true
	}
	firstLine, _, _ := strings.Cut(w, "\n")
	for _, t := range []string{w, strings.TrimSpace(firstLine)} {
		if strings.HasSuffix(t, ".") || strings.HasSuffix(t, "?") || strings.HasSuffix(t, "!") {
			return false // a sentence
		}
	}
	rest := strings.TrimLeft(w, "(")
	rest = rest[len(first):]
	return structuralRe.MatchString(rest)
}

// proseLineRe matches a line (not indented) that is evidently not SQL.
var proseLineRe = regexp.MustCompile(`^(?:#{1,6}\s|\*\*|__|[-*+•]\s+\S|\d+[.)]\s+[A-Za-z]|>\s|</?[a-zA-Z]|` + "```|~~~" +
	`|(?:This|The|That|These|Those|It|Its|Here|Here's|Note|Notes|Explanation|Output|Result|Results|I|I'm|I've|We|You|Your|In|If|Also|Let|Let's|Hope|Please|Feel|Remember|Make|Adjust|Replace|Assuming|Assumptions?|Alternatively|However|Since|Because|For|To|Key|Example)\b[\s:,'’])`)

// isProseLine reports whether line ends the SQL before it.
func isProseLine(line string) bool {
	if line == "" || line[0] == ' ' || line[0] == '\t' {
		return false // indented: SQL formatting
	}
	if proseLineRe.MatchString(line) {
		return true
	}
	// A capitalised non-keyword word starting a sentence of 4+ words.
	f := strings.Fields(line)
	if len(f) < 4 {
		return false
	}
	w := strings.TrimRight(f[0], ",:")
	r, _ := utf8.DecodeRuneInString(w)
	if !unicode.IsUpper(r) || w == strings.ToUpper(w) {
		return false
	}
	last := line[len(line)-1]
	sentence := last == '.' || last == ':' || last == '!' || last == '?'
	up := strings.ToUpper(w)
	if statementStarters[up] || continuationWords[up] {
		// "Select the rows you need." is prose, "SELECT a" is not.
		return sentence && last != ':' && !strings.ContainsAny(line, ";=(")
	}
	return sentence
}

// continues reports whether a line after a blank line continues the SQL.
func continues(line string) bool {
	if line[0] == ' ' || line[0] == '\t' {
		return true
	}
	t := strings.TrimSpace(line)
	for _, p := range []string{")", "(", ",", "--", "/*", ";", "||", "'"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	w := strings.ToUpper(leadingWord(t))
	return statementStarters[w] || continuationWords[w]
}

// cutTrailing cuts prose off unfenced SQL: after the last semicolon that is
// not followed by another statement, before a blank line followed by
// prose, or before a prose line. It follows quotes, comments and dollar
// quotes, and never cuts inside them.
func cutTrailing(s string) string {
	var (
		stmtEnded bool // the last token was a top-level ';'
		semiEnd   = -1 // just after that ';'
		blankAt   = -1 // start of the current run of blank lines
		lineStart bool // at the start of a line outside any literal
	)
	cut := func(at int) string { return strings.TrimRightFunc(s[:at], unicode.IsSpace) }
	// cutSemi cuts after a ';', keeping a "-- comment" on the same line.
	cutSemi := func(at int) string {
		rest := s[at:]
		if j := strings.IndexByte(rest, '\n'); j >= 0 {
			rest = rest[:j]
		}
		if strings.HasPrefix(strings.TrimSpace(rest), "--") {
			at += len(rest)
		}
		return cut(at)
	}
	for i := 0; i < len(s); {
		if lineStart {
			lineStart = false
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				end = len(s)
			} else {
				end += i
			}
			line := strings.TrimRightFunc(s[i:end], unicode.IsSpace)
			if strings.TrimSpace(line) == "" {
				if blankAt < 0 {
					blankAt = i
				}
				i = end
				continue
			}
			t := strings.TrimSpace(line)
			switch {
			case stmtEnded:
				if !startsSQLConfidently(t) && !strings.HasPrefix(t, "--") && !strings.HasPrefix(t, "/*") {
					return cutSemi(semiEnd)
				}
			case isProseLine(line):
				if blankAt >= 0 {
					return cut(blankAt)
				}
				return cut(i)
			case blankAt >= 0 && !continues(line):
				return cut(blankAt)
			}
			blankAt = -1
		}
		c := s[i]
		switch {
		case c == '\n':
			lineStart = true
			i++
		case c == '-' && strings.HasPrefix(s[i:], "--"):
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(s)
			}
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			i = skipBlockComment(s, i)
		case c == '\'':
			escapes := i > 0 && (s[i-1] == 'E' || s[i-1] == 'e') && (i < 2 || !isIdentByte(s[i-2]))
			i = skipQuoted(s, i, '\'', escapes)
			stmtEnded = false
		case c == '"':
			i = skipQuoted(s, i, '"', false)
			stmtEnded = false
		case c == '$':
			i = skipDollar(s, i)
			stmtEnded = false
		case c == ';':
			stmtEnded = true
			semiEnd = i + 1
			i++
			// Prose on the same line: "SELECT 1; This returns one row."
			rest := s[i:]
			if j := strings.IndexByte(rest, '\n'); j >= 0 {
				rest = rest[:j]
			}
			if t := strings.TrimSpace(rest); t != "" && !strings.HasPrefix(t, "--") &&
				!strings.HasPrefix(t, "/*") && !strings.HasPrefix(t, ";") && !startsSQLConfidently(t) {
				return cutSemi(semiEnd)
			}
		default:
			if c != ' ' && c != '\t' {
				stmtEnded = false
			}
			i++
		}
	}
	return strings.TrimRightFunc(s, unicode.IsSpace)
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || ('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'z') || c >= 0x80
}

// skipBlockComment returns the index after the (nested) block comment at i.
func skipBlockComment(s string, i int) int {
	depth := 0
	for i < len(s) {
		switch {
		case strings.HasPrefix(s[i:], "/*"):
			depth++
			i += 2
		case strings.HasPrefix(s[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return i
}

// skipQuoted returns the index after the quoted literal at i (doubled
// quotes, and backslash escapes in E'…' strings).
func skipQuoted(s string, i int, q byte, backslash bool) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if backslash {
				i++
			}
		case q:
			if i+1 < len(s) && s[i+1] == q {
				i++
				continue
			}
			return i + 1
		}
	}
	return i
}

var dollarTagRe = regexp.MustCompile(`^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$`)

// skipDollar returns the index after a dollar-quoted string at i, or i+1
// for a plain '$' (a parameter such as $1).
func skipDollar(s string, i int) int {
	if i > 0 && isIdentByte(s[i-1]) {
		return i + 1 // part of an identifier: a$b
	}
	tag := dollarTagRe.FindString(s[i:])
	if tag == "" {
		return i + 1
	}
	if j := strings.Index(s[i+len(tag):], tag); j >= 0 {
		return i + len(tag) + j + len(tag)
	}
	return len(s)
}

// refusalRe matches the ways models decline.
var refusalRe = regexp.MustCompile(`(?i)\b(?:` +
	`(?:i|we)(?:'m| am|’m)? (?:(?:really |very )?sorry|afraid|unable|not able)|` +
	`(?:i|we) (?:can(?:not|'t|’t)|could(?:n't|n’t| not)|won(?:'t|’t)|will not|do(?:n't|n’t| not) (?:have|know))|` +
	`as an ai\b|` +
	`(?:cannot|can't|can’t|unable to) (?:be )?(?:answer|answered|help|assist|generate|write|provide|create|comply|fulfil)|` +
	`not (?:possible|able) to (?:answer|generate|write|create|determine)|` +
	`(?:no|not enough) (?:information|data|tables?|columns?) (?:in|about|to|available|that)|` +
	`(?:does|do) not (?:contain|have|include) (?:any |a |the |enough )?(?:information|data|tables?|columns?)` +
	`)`)

// refusal reports whether text reads like a refusal, with its first
// sentence as the reason.
func refusal(s string) (string, bool) {
	t := strings.TrimSpace(stripTags(s))
	if !refusalRe.MatchString(t) {
		return "", false
	}
	return oneLine(firstSentences(t, 300), 300), true
}

// firstSentences returns the leading sentences of s, up to about max bytes.
func firstSentences(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := s[:max]
	if i := strings.LastIndexAny(cut, ".!?"); i > 40 {
		return cut[:i+1]
	}
	return cut
}
