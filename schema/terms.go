package schema

import (
	"strings"
	"unicode"
)

// terms splits text into search terms: words split at non-alphanumerics,
// at snake_case underscores and at camelCase humps ("LifeExpectancy",
// "CDSCode" → life expectancy, cds code), lower-cased, stop words removed,
// lightly stemmed (see stem). Numbers are kept (years, codes).
func terms(text string, out []string) []string {
	for _, w := range splitWords(text) {
		w = strings.ToLower(w)
		if len(w) < 2 && !(len(w) == 1 && w[0] >= '0' && w[0] <= '9') {
			continue
		}
		if stopWords[w] {
			continue
		}
		out = append(out, stem(w))
	}
	return out
}

// splitWords splits at every rune that is not a letter or digit, and at
// case changes: a lower→upper change starts a word, and so does the last
// upper of an upper run followed by a lower ("CDSCode" → CDS, Code), and a
// letter↔digit change ("events2025" → events, 2025).
func splitWords(s string) []string {
	var words []string
	rs := []rune(s)
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			words = append(words, string(rs[start:end]))
		}
		start = -1
	}
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush(i)
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		prev := rs[i-1]
		switch {
		case unicode.IsDigit(r) != unicode.IsDigit(prev):
			flush(i)
			start = i
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			flush(i)
			start = i
		case unicode.IsLower(r) && unicode.IsUpper(prev) && i-1 > start:
			flush(i - 1)
			start = i - 1
		}
	}
	flush(len(rs))
	return words
}

// stem removes common English inflections so that "singers", "singer";
// "countries", "country"; "shipped", "shipping", "ship"; "created",
// "create" meet: plural -s/-es/-ies, -ing, -ed, a doubled final consonant
// left behind, and a final -e. It is deliberately light (no derivational
// suffixes): both the question and the schema go through it, so it only
// has to map variants of one word to one key, not to a dictionary word.
func stem(w string) string {
	if len(w) <= 3 || !isASCIILetters(w) {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		w = w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "xes") || strings.HasSuffix(w, "ches") || strings.HasSuffix(w, "shes") || strings.HasSuffix(w, "zes"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		w = w[:len(w)-1]
	}
	switch {
	case strings.HasSuffix(w, "ing") && len(w) > 5:
		w = undouble(w[:len(w)-3])
	case strings.HasSuffix(w, "ed") && len(w) > 4 && !strings.HasSuffix(w, "eed"):
		w = undouble(w[:len(w)-2])
	}
	if strings.HasSuffix(w, "e") && len(w) > 4 {
		w = w[:len(w)-1]
	}
	return w
}

func undouble(w string) string {
	n := len(w)
	if n >= 3 && w[n-1] == w[n-2] && !strings.ContainsRune("aeioulsz", rune(w[n-1])) {
		return w[:n-1]
	}
	return w
}

func isASCIILetters(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}

// stopWords are function words and question phrasing that say nothing
// about which table holds the answer.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		a an the of in on at to for from by with without into onto about as and or not no nor
		is are was were be been being am do does did doing done have has had having
		what which who whom whose where when why how many much
		this that these those there here their theirs its it they them he she his her him we us our you your i me my
		all any each every some both either neither other others such same
		than then also only just very too so if else but
		can could would should will shall may might must
		show list give find return display tell get provide name named called
		please per whether between among within across
		`) {
		m[w] = true
	}
	return m
}()
