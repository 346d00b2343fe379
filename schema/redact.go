package schema

import (
	"regexp"
	"sort"
	"strings"
)

// hiddenText replaces a blocked name found in free text (comments, default
// expressions).
const hiddenText = "[hidden]"

// redactor removes blocked names from free text. Comments are written for
// people and often name other objects ("phone and date_of_birth are
// personal data", "references billing.payment_cards"); a blocked name must
// not reach the model that way either. Names are matched as whole words
// (letters, digits and _ form a word), case-insensitively:
//
//   - a hidden relation as schema.name everywhere, and as a bare name
//     unless a visible table has the same name;
//   - a blocked column as table.column and schema.table.column everywhere,
//     as a bare name in the text of its own table, and as a bare name
//     everywhere when no visible table or column has that name.
type redactor struct {
	global *regexp.Regexp // nil: nothing to redact
}

func (in *introspection) redactor() *redactor {
	visibleTables, visibleCols := map[string]bool{}, map[string]bool{}
	for _, r := range in.order {
		visibleTables[strings.ToLower(r.name)] = true
		for _, c := range r.table.Columns {
			visibleCols[strings.ToLower(c.Name)] = true
		}
	}
	terms := map[string]bool{}
	addTable := func(qualified string) {
		qualified = strings.ToLower(qualified)
		terms[qualified] = true
		if _, bare, ok := strings.Cut(qualified, "."); ok {
			if !visibleTables[bare] {
				terms[bare] = true
			}
		}
	}
	for _, h := range in.hidden {
		addTable(h)
	}
	for t := range in.p.blockedTables {
		addTable(t)
	}
	for t, cols := range in.p.blockedCols {
		bare := t
		if _, b, ok := strings.Cut(t, "."); ok {
			bare = b
		}
		for _, c := range cols {
			terms[t+"."+c] = true
			terms[bare+"."+c] = true
			if !visibleCols[c] && !visibleTables[c] {
				terms[c] = true
			}
		}
	}
	return &redactor{global: wordsRegexp(sortedKeys(terms))}
}

// wordsRegexp matches any of the words, longest first, case-insensitively,
// at word boundaries; nil when there are none.
func wordsRegexp(words []string) *regexp.Regexp {
	if len(words) == 0 {
		return nil
	}
	sort.SliceStable(words, func(i, j int) bool { return len(words[i]) > len(words[j]) })
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = regexp.QuoteMeta(w)
	}
	return regexp.MustCompile(`(?i)\b(?:` + strings.Join(quoted, "|") + `)\b`)
}

// table redacts the free text of one table; blocked are its own blocked
// column names.
func (rd *redactor) table(blocked []string, t *Table) {
	local := wordsRegexp(append([]string(nil), blocked...))
	fix := func(s string) string {
		if s == "" {
			return s
		}
		if rd.global != nil {
			s = rd.global.ReplaceAllString(s, hiddenText)
		}
		if local != nil {
			s = local.ReplaceAllString(s, hiddenText)
		}
		return s
	}
	t.Comment = fix(t.Comment)
	t.PartitionKey = fix(t.PartitionKey)
	for i := range t.Columns {
		c := &t.Columns[i]
		c.Comment = fix(c.Comment)
		c.Default = fix(c.Default)
		c.Generated = fix(c.Generated)
	}
	for i := range t.Indexes {
		ix := &t.Indexes[i]
		for j := range ix.Columns {
			ix.Columns[j] = fix(ix.Columns[j])
		}
		ix.Predicate = fix(ix.Predicate)
	}
}

// mentionsAny reports whether the expression or text mentions one of the
// names as a whole word (case-insensitively). Names that are not plain
// words are searched as substrings.
func mentionsAny(text string, names []string) bool {
	if text == "" || len(names) == 0 {
		return false
	}
	lower := strings.ToLower(text)
	for _, n := range names {
		n = strings.ToLower(n)
		if !isWord(n) {
			if strings.Contains(lower, n) {
				return true
			}
			continue
		}
		for i := 0; ; {
			j := strings.Index(lower[i:], n)
			if j < 0 {
				break
			}
			start, end := i+j, i+j+len(n)
			if (start == 0 || !isWordByte(lower[start-1])) && (end == len(lower) || !isWordByte(lower[end])) {
				return true
			}
			i = start + 1
		}
	}
	return false
}

func isWordByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func isWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}
