package schema

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Value grounding (issue 17): the words of a question are matched against
// the values stored in text columns, so that the model can be told that
// singer.country has 'France' when the question says "from france". This
// file is the in-memory index and the matcher; it does no I/O. Reading the
// values from the database is a ValueLoader's job.
//
// Normalisation (both sides): lower case; the letters of Latin-1 and Latin
// Extended-A (and ș, ț) folded to ASCII (é → e, ß → ss, Æ → ae, Ł → l);
// combining marks (unicode.Mn) dropped, so a decomposed "São" folds like a
// precomposed one; every rune that is not a letter or a digit separates
// words ("Jean-Paul", "O'Brien" → two words). A normalised value is its
// words joined by one space.
//
// A question is cut into words and every contiguous run of 1 to 4 words (a
// gram) is looked up:
//   - exact: the normalised gram equals a normalised value: score 1 (0.9
//     when the gram is only a number, so that "top 10" ranks below words);
//   - plural: equal once the last word of each is made singular (-s, -es,
//     -ies → -y): score 0.95 ("dogs" finds 'Dog', "dog" finds 'Dogs');
//   - typo: a candidate shares padded character trigrams with the gram
//     (Jaccard of the trigram sets ≥ MinSimilarity, found through an
//     inverted trigram index) and is within a length-aware edit distance
//     (optimal string alignment; 0 edits below 5 runes, 1 up to 8, 2 from
//     9) and starts with the same letter (typos rarely hit the first
//     letter, and most near-misses of real words differ there: "names" is
//     one edit from 'James'): score 0.9·(1 − edits/longer length), below
//     every exact match.
//
// What is not looked up: a one-word gram shorter than 3 runes, unless it is
// a number of 2 digits or more or was written in capitals ("UK", "NY"); a
// gram that is only stop words ("the", "of": the shared stopWords list), a
// gram ending in a stop word, and fuzzy matching of a gram that starts with
// a stop word ("the beatles" can still equal 'The Beatles'); fuzzy matching
// of any gram holding a digit (numbers are codes: "route 66" must not find
// 'Route 67'). Values that normalise to fewer than 2 runes, to more than
// MaxValueLength runes, or that hold control characters are not indexed.
//
// Ranking: score, then the longer gram (more words), then table, column and
// value. One match per (table, column, value): its best gram.
//
// Bounds: the first 4000 bytes and 300 words of a question; exact and plural
// lookups are map probes; the typo search (one-word grams first) stops once
// it has spent maxMatchWork (postings visited, candidates checked, binary
// searches, edit-distance rows). Candidates come only from the rarest
// posting lists that any match must touch (prefix filtering), and posting
// lists are split by first rune.

// Defaults of ValueIndexOptions.
const (
	DefaultMaxValuesPerColumn = 1000
	DefaultMaxValueLength     = 64
	DefaultMaxValues          = 200_000
	DefaultMinSimilarity      = 0.25
	// DefaultValueMatchLimit is the number of matches Match returns when its
	// limit is 0 or less.
	DefaultValueMatchLimit = 10
)

// Bounds on the work of one Match.
const (
	maxQuestionBytes = 4000 // the rest of a longer question is ignored
	maxQuestionWords = 300  // the words after these are ignored
	maxGramWords     = 4
	maxMatchWork     = 1 << 17 // typo search: postings visited, candidates checked, binary searches
)

// ValueColumn names one column: Table is schema-qualified ("public.singer").
type ValueColumn struct {
	Table  string
	Column string
}

// ColumnValues is the input of NewValueIndex: some of the distinct values of
// one column. Table is schema-qualified ("public.singer").
type ColumnValues struct {
	Table  string
	Column string
	Values []string
}

// ValueLoader reads, for each of columns, up to perColumn distinct non-null
// values (the most frequent first), as text. It is the signature the
// database side will implement (e.g. from pg_stats.most_common_vals, or a
// bounded SELECT DISTINCT per column under the caller's access); the index
// does not care where the values come from.
type ValueLoader func(ctx context.Context, columns []ValueColumn, perColumn int) ([]ColumnValues, error)

// ValueIndexOptions bounds a ValueIndex. Zero fields take the defaults.
type ValueIndexOptions struct {
	// MaxValuesPerColumn is the number of distinct values (after
	// normalisation) kept per column; later ones are dropped.
	MaxValuesPerColumn int
	// MaxValueLength is the longest normalised value indexed, in runes.
	MaxValueLength int
	// MaxValues is the number of values of the whole index.
	MaxValues int
	// MinSimilarity is the trigram Jaccard similarity a typo candidate needs
	// before its edit distance is computed (0 < MinSimilarity ≤ 1).
	MinSimilarity float64
}

func (o ValueIndexOptions) withDefaults() ValueIndexOptions {
	if o.MaxValuesPerColumn <= 0 {
		o.MaxValuesPerColumn = DefaultMaxValuesPerColumn
	}
	if o.MaxValueLength <= 0 {
		o.MaxValueLength = DefaultMaxValueLength
	}
	if o.MaxValues <= 0 {
		o.MaxValues = DefaultMaxValues
	}
	if o.MinSimilarity <= 0 || o.MinSimilarity > 1 {
		o.MinSimilarity = DefaultMinSimilarity
	}
	return o
}

// ValueMatch is one value a question mentions.
type ValueMatch struct {
	Table  string
	Column string
	Value  string  // as stored
	Score  float64 // 1 exact, 0.95 plural, below 0.9 a typo
	// Matched is the question's words that matched, normalised.
	Matched string
}

// ValueIndex finds the stored values a question mentions. It is immutable
// and safe for concurrent use; Filter derives a narrower view cheaply.
type ValueIndex struct {
	core   *valueCore
	hidden []bool // by column; nil: none hidden
}

type valueEntry struct {
	value  string
	norm   string
	col    int32
	ntri   uint16 // distinct trigrams of norm
	nrunes uint16 // runes of norm
}

type valueCore struct {
	cols     []ValueColumn
	entries  []valueEntry
	singular map[string][]int32 // singularKey(norm) → entries
	postings map[triKey][]int32 // (first rune, trigram) → entries (ascending)
	minSim   float64
	scratch  sync.Pool // *matchScratch
}

// triKey is a posting list's key: typo candidates must start with the
// gram's first rune, so the lists are split by it (on Latin text about 26
// times shorter).
type triKey struct {
	first rune
	tri   uint64
}

type matchScratch struct {
	counts  []uint16
	touched []int32
	tris    []uint64
	lists   [][]int32
	gram    []rune
	runes   []rune
	rows    []int
}

// NewValueIndex indexes the values of cols (see ValueIndexOptions for the
// bounds). Columns named twice are merged.
func NewValueIndex(cols []ColumnValues, opts ValueIndexOptions) *ValueIndex {
	opts = opts.withDefaults()
	c := &valueCore{
		singular: map[string][]int32{},
		postings: map[triKey][]int32{},
		minSim:   opts.MinSimilarity,
	}
	colIndex := map[ValueColumn]int32{}
	seen := map[ValueColumn]map[string]bool{}
	var tris []uint64
	for _, cv := range cols {
		key := ValueColumn{Table: cv.Table, Column: cv.Column}
		ci, ok := colIndex[key]
		if !ok {
			ci = int32(len(c.cols))
			colIndex[key] = ci
			c.cols = append(c.cols, key)
			seen[key] = map[string]bool{}
		}
		kept := seen[key]
		for _, v := range cv.Values {
			if len(c.entries) >= opts.MaxValues {
				break
			}
			if len(kept) >= opts.MaxValuesPerColumn {
				break
			}
			if len(v) > 4*opts.MaxValueLength || hasControl(v) {
				continue
			}
			norm := normalizeValue(v)
			n := utf8.RuneCountInString(norm)
			if n < 2 || n > opts.MaxValueLength || kept[norm] || onlyStopWords(norm) {
				continue
			}
			kept[norm] = true
			tris = trigrams(norm, tris[:0])
			id := int32(len(c.entries))
			c.entries = append(c.entries, valueEntry{value: v, norm: norm, col: ci, ntri: uint16(len(tris)), nrunes: uint16(n)})
			sk := singularKey(norm)
			c.singular[sk] = append(c.singular[sk], id)
			first, _ := utf8.DecodeRuneInString(norm)
			for _, t := range tris {
				k := triKey{first, t}
				c.postings[k] = append(c.postings[k], id)
			}
		}
	}
	c.scratch.New = func() any { return &matchScratch{counts: make([]uint16, len(c.entries))} }
	return &ValueIndex{core: c}
}

// Len is the number of values the index can return.
func (ix *ValueIndex) Len() int {
	if ix == nil {
		return 0
	}
	if ix.hidden == nil {
		return len(ix.core.entries)
	}
	n := 0
	for _, e := range ix.core.entries {
		if !ix.hidden[e.col] {
			n++
		}
	}
	return n
}

// Filter returns a view of the index without the columns keep rejects
// (table is schema-qualified). A filtered index never returns a hidden
// column's values; filters compose. The values are shared, not copied.
func (ix *ValueIndex) Filter(keep func(table, column string) bool) *ValueIndex {
	if ix == nil {
		return nil
	}
	hidden := make([]bool, len(ix.core.cols))
	for i, col := range ix.core.cols {
		hidden[i] = (ix.hidden != nil && ix.hidden[i]) || !keep(col.Table, col.Column)
	}
	return &ValueIndex{core: ix.core, hidden: hidden}
}

// qword is one word of a question.
type qword struct {
	norm   string
	stop   bool
	digits bool // only digits
	upper  bool // written in capitals
}

// gramHit is the best gram found so far for one entry.
type gramHit struct {
	score float64
	words int
	gram  string
}

// Match returns up to limit values the question mentions, best first (see
// the ranking above); limit ≤ 0 means DefaultValueMatchLimit.
func (ix *ValueIndex) Match(question string, limit int) []ValueMatch {
	if ix == nil || len(ix.core.entries) == 0 {
		return nil
	}
	if limit <= 0 {
		limit = DefaultValueMatchLimit
	}
	if len(question) > maxQuestionBytes {
		question = question[:maxQuestionBytes]
	}
	words := questionWords(question)
	c := ix.core
	sc := c.scratch.Get().(*matchScratch)
	defer c.scratch.Put(sc)

	best := map[int32]gramHit{}
	record := func(id int32, h gramHit) {
		if ix.hidden != nil && ix.hidden[c.entries[id].col] {
			return
		}
		if old, ok := best[id]; ok && (old.score > h.score || (old.score == h.score && old.words >= h.words)) {
			return
		}
		best[id] = h
	}
	done := map[string]bool{}
	type fuzzyGram struct {
		gram string
		n    int
	}
	var typoGrams []fuzzyGram
	var sb strings.Builder
	for i := range words {
		sb.Reset()
		for n := 1; n <= maxGramWords && i+n <= len(words); n++ {
			w := words[i+n-1]
			if n > 1 {
				sb.WriteByte(' ')
			}
			sb.WriteString(w.norm)
			if w.stop {
				continue // a gram never ends in a stop word
			}
			if n == 1 && utf8.RuneCountInString(w.norm) < 3 && !(w.digits && len(w.norm) >= 2) && !w.upper {
				continue
			}
			gram := sb.String()
			if done[gram] {
				continue
			}
			done[gram] = true
			numeric := n == 1 && w.digits
			for _, id := range c.singular[singularKey(gram)] {
				switch {
				case c.entries[id].norm == gram && numeric:
					record(id, gramHit{0.9, n, gram})
				case c.entries[id].norm == gram:
					record(id, gramHit{1, n, gram})
				default:
					record(id, gramHit{0.95, n, gram})
				}
			}
			if words[i].stop || strings.ContainsAny(gram, "0123456789") {
				continue
			}
			typoGrams = append(typoGrams, fuzzyGram{gram, n})
		}
	}
	// Typos last, one-word grams first, within a work budget: a long
	// question of common syllables must not scan the index for seconds.
	slices.SortStableFunc(typoGrams, func(a, b fuzzyGram) int { return a.n - b.n })
	budget := maxMatchWork
	for _, g := range typoGrams {
		if budget <= 0 {
			break
		}
		c.fuzzy(sc, g.gram, &budget, func(id int32, score float64) { record(id, gramHit{score, g.n, g.gram}) })
	}

	out := make([]ValueMatch, 0, len(best))
	hits := make([]gramHit, 0, len(best))
	for id, h := range best {
		e := c.entries[id]
		col := c.cols[e.col]
		out = append(out, ValueMatch{Table: col.Table, Column: col.Column, Value: e.value, Score: h.score, Matched: h.gram})
		hits = append(hits, h)
	}
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ma, mb := out[a], out[b]
		switch {
		case ma.Score != mb.Score:
			if ma.Score > mb.Score {
				return -1
			}
			return 1
		case hits[a].words != hits[b].words:
			return hits[b].words - hits[a].words
		case ma.Table != mb.Table:
			return strings.Compare(ma.Table, mb.Table)
		case ma.Column != mb.Column:
			return strings.Compare(ma.Column, mb.Column)
		}
		return strings.Compare(ma.Value, mb.Value)
	})
	res := make([]ValueMatch, 0, min(limit, len(out)))
	for _, i := range order[:min(limit, len(order))] {
		res = append(res, out[i])
	}
	return res
}

// fuzzy reports the entries within a typo of gram: trigram candidates with
// Jaccard ≥ minSim, then a length-aware edit distance. It spends *budget
// (postings visited, binary searches).
//
// Candidates start with the gram's first rune (the postings are split by
// it). A candidate must share c ≥ minSim·na of the gram's na trigrams (c/(na+nb−c)
// ≥ s with nb ≥ c), hence one of any na−c+1 of them: candidates come from
// the rarest na−c+1 trigrams' postings only (prefix filtering); the other
// trigrams are counted by binary search in their (ascending) postings.
func (c *valueCore) fuzzy(sc *matchScratch, gram string, budget *int, found func(id int32, score float64)) {
	glen := utf8.RuneCountInString(gram)
	if allowedEdits(glen) == 0 {
		return
	}
	sc.tris = trigrams(gram, sc.tris[:0])
	sc.gram = append(sc.gram[:0], []rune(gram)...)
	na := len(sc.tris)
	// An edit changes at most 4 trigrams (a transposition), so k edits keep
	// na−4k of them: the other lower bound on c.
	minCommon := max(1, int(math.Ceil(c.minSim*float64(na)-1e-9)), na-4*allowedEdits(glen))
	first, _ := utf8.DecodeRuneInString(gram)
	lists := sc.lists[:0]
	for _, t := range sc.tris {
		lists = append(lists, c.postings[triKey{first, t}])
	}
	slices.SortFunc(lists, func(a, b []int32) int { return len(a) - len(b) })
	prefix := na - minCommon + 1
	touched := sc.touched[:0]
	for _, l := range lists[:prefix] {
		*budget -= len(l)
		for _, id := range l {
			if sc.counts[id] == 0 {
				touched = append(touched, id)
			}
			sc.counts[id]++
		}
	}
	rest := lists[prefix:]
	for _, id := range touched {
		common := int(sc.counts[id])
		sc.counts[id] = 0
		e := &c.entries[id]
		elen := int(e.nrunes)
		allowed := allowedEdits(min(glen, elen))
		*budget--
		if allowed == 0 || abs(glen-elen) > allowed || e.norm == gram {
			continue
		}
		*budget -= len(rest)
		for _, l := range rest {
			if _, ok := slices.BinarySearch(l, id); ok {
				common++
			}
		}
		if common < minCommon || float64(common) < c.minSim*float64(na+int(e.ntri)-common) {
			continue
		}
		*budget -= glen
		d := sc.editDistance(sc.gram, e.norm, allowed)
		if d < 1 || d > allowed {
			continue
		}
		found(id, 0.9*(1-float64(d)/float64(max(glen, elen))))
	}
	sc.touched = touched[:0]
	sc.lists = lists[:0]
}

// allowedEdits is the number of typos a word of n runes may carry.
func allowedEdits(n int) int {
	switch {
	case n < 5:
		return 0
	case n <= 8:
		return 1
	}
	return 2
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// editDistance is the optimal string alignment distance of a and b (runes),
// or a value above limit once it exceeds limit. It reuses sc's buffers.
func (sc *matchScratch) editDistance(ra []rune, b string, limit int) int {
	sc.runes = append(sc.runes[:0], []rune(b)...)
	rb := sc.runes
	n := len(rb) + 1
	if cap(sc.rows) < 3*n {
		sc.rows = make([]int, 3*n)
	}
	rows := sc.rows[:3*n]
	prev2, prev, cur := rows[:n], rows[n:2*n], rows[2*n:]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// Hints renders matches for a prompt, one line each:
// singer.country has 'France' (an SQL string literal: ' doubled).
func (ix *ValueIndex) Hints(matches []ValueMatch) string {
	var b strings.Builder
	for _, m := range matches {
		b.WriteString(m.Table)
		b.WriteByte('.')
		b.WriteString(m.Column)
		b.WriteString(" has '")
		b.WriteString(strings.ReplaceAll(m.Value, "'", "''"))
		b.WriteString("'\n")
	}
	return b.String()
}

// questionWords cuts a question into normalised words (at most
// maxQuestionWords).
func questionWords(q string) []qword {
	var words []qword
	forEachWord(q, func(norm string, digits, upper bool) bool {
		words = append(words, qword{norm: norm, stop: stopWords[norm], digits: digits, upper: upper && !digits && utf8.RuneCountInString(norm) >= 2})
		return len(words) < maxQuestionWords
	})
	return words
}

// normalizeValue folds a value to its normalised words joined by a space.
func normalizeValue(v string) string {
	var b strings.Builder
	forEachWord(v, func(norm string, _, _ bool) bool {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(norm)
		return true
	})
	return b.String()
}

// forEachWord calls fn with each word of s, folded (see the file comment),
// whether it is only digits and whether it had no lower-case letter, until
// fn returns false.
func forEachWord(s string, fn func(norm string, digits, upper bool) bool) {
	var b strings.Builder
	digits, upper := true, true
	flush := func() bool {
		if b.Len() == 0 {
			return true
		}
		ok := fn(b.String(), digits, upper)
		b.Reset()
		digits, upper = true, true
		return ok
	}
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case unicode.IsDigit(r):
			b.WriteRune(r)
		case unicode.IsLetter(r):
			digits = false
			if unicode.IsLower(r) {
				upper = false
			}
			lr := unicode.ToLower(r)
			if lr < utf8.RuneSelf {
				b.WriteRune(lr)
			} else if f, ok := latinFold[lr]; ok {
				b.WriteString(f)
			} else {
				b.WriteRune(lr)
			}
		default:
			if !flush() {
				return
			}
		}
	}
	flush()
}

// latinFold maps the lower-case letters of Latin-1 Supplement and Latin
// Extended-A (and Romanian ș ț) to ASCII.
var latinFold = func() map[rune]string {
	m := map[rune]string{}
	for _, g := range strings.Fields(`
		a:àáâãäåāăą ae:æ c:çćĉċč d:ðďđ e:èéêëēĕėęě g:ĝğġģ h:ĥħ
		i:ìíîïĩīĭįı ij:ĳ j:ĵ k:ķĸ l:ĺļľŀł n:ñńņňŉŋ o:òóôõöøōŏő oe:œ
		r:ŕŗř s:śŝşšſș ss:ß t:ţťŧț th:þ u:ùúûüũūŭůűų w:ŵ y:ýÿŷ z:źżž`) {
		base, letters, _ := strings.Cut(g, ":")
		for _, r := range letters {
			m[r] = base
		}
	}
	return m
}()

// singularKey makes the last word of a normalised text singular: -ies → -y,
// -sses/-xes/-zes/-ches/-shes lose -es, another final -s (not -ss, -us, -is)
// is dropped. Words of 3 letters or fewer, and non-ASCII ones, are kept.
func singularKey(norm string) string {
	start := strings.LastIndexByte(norm, ' ') + 1
	w := norm[start:]
	if len(w) <= 3 || !isASCIILetters(w) {
		return norm
	}
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		w = w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "xes"), strings.HasSuffix(w, "zes"),
		strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		w = w[:len(w)-1]
	}
	return norm[:start] + w
}

// trigrams appends the distinct padded trigrams of the words of norm
// (pg_trgm style: "  w", " wo", …, "rd "), sorted, each packed in a uint64.
func trigrams(norm string, out []uint64) []uint64 {
	for w := range strings.SplitSeq(norm, " ") {
		if w == "" {
			continue
		}
		r0, r1 := ' ', ' '
		for _, r := range w + " " {
			out = append(out, uint64(r0)<<42|uint64(r1)<<21|uint64(r))
			r0, r1 = r1, r
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// onlyStopWords reports whether every word of norm is a stop word.
func onlyStopWords(norm string) bool {
	for w := range strings.SplitSeq(norm, " ") {
		if !stopWords[w] {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}
