package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// This file is the scoring core of `pgmcp eval` (issue 17): it compares the
// result of a predicted query with the result of the gold query. It is pure:
// no I/O, no database; the caller executes both queries and hands over their
// results.

// ResultSet is one query's result as scoring sees it: column names (ignored
// by every comparison; only their count matters) and rows of cells with the
// value types tools/pgexec produces: nil, bool, string, json.Number,
// json.RawMessage and []any (arrays). Go integer and float types, and maps
// and slices of any of these, are accepted too (hand-made results).
type ResultSet struct {
	Columns []string
	Rows    [][]any
}

// ResultSetFrom returns the ResultSet of a pgexec result (its column names
// and rows, shared, not copied).
func ResultSetFrom(r *pgexec.Result) ResultSet {
	cols := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		cols[i] = c.Name
	}
	return ResultSet{Columns: cols, Rows: r.Rows}
}

// ScoreRelTolerance is the relative tolerance of numeric comparisons: two
// numbers x, y that are not both integers are equal when
// |x−y| ≤ ScoreRelTolerance·max(|x|,|y|).
const ScoreRelTolerance = 1e-6

// Bounds that keep ExecutionMatch cheap on wide or large results.
const (
	// scoreMaxPermutations bounds the column assignments fully checked.
	scoreMaxPermutations = 1000
	// scoreMaxBipartite bounds the size of a group of rows matched by
	// bipartite matching (larger groups are paired after sorting only).
	scoreMaxBipartite = 128
)

// ExecutionMatch reports whether pred is the same result as gold, the
// execution accuracy (EX) of the Spider/BIRD "test-suite" evaluation
// (Zhong et al. 2020, result_eq), with the cell equality below.
//
// The rule:
//
//   - Two results with no rows match (whatever their columns).
//   - Otherwise they must have as many rows and as many columns. The width
//     of a result is len(Columns), or the length of its first row when
//     Columns is empty; a row of another length makes the results differ.
//   - Column names and column order are ignored: the results match when
//     some one-to-one assignment of pred's columns to gold's columns makes
//     the rows equal. Candidate assignments are pruned by the columns'
//     value multisets (gold column i can only take pred column j when the
//     two columns hold the same multiset of values); the identity
//     assignment is tried first, and at most 1000 assignments are checked
//     (more are only possible when many columns hold identical values; then
//     the answer may be a false negative).
//   - When ordered (the gold query has a top-level ORDER BY, decided by the
//     caller), row i of pred must equal row i of gold. Otherwise rows are
//     compared as multisets: duplicates count (two equal rows do not match
//     three).
//
// Cell equality:
//
//   - NULL equals NULL and nothing else.
//   - Booleans equal booleans of the same value.
//   - Strings are compared exactly (no case folding, no trimming); a string
//     never equals a number, even "1" and 1 (PostgreSQL's NaN and ±Infinity,
//     which pgexec returns as strings, thus equal only themselves).
//   - Numbers (json.Number, Go integers and floats) are compared by value:
//     json.Number("1.0"), json.Number("1"), 1 and 1.0 are all equal. Two
//     integers (Go integer types, or json.Number literals without a
//     fraction or exponent) are equal only when identical. Any other pair is
//     equal when |x−y| ≤ 1e-6·max(|x|,|y|) (ScoreRelTolerance: relative
//     only, so 0 equals only 0).
//   - JSON values (json.RawMessage) equal JSON values with the same
//     structure, ignoring whitespace and key order, numbers normalised
//     exactly (1.0 = 1, no tolerance). Arrays and maps ([]any,
//     map[string]any) are compared element by element the same way; a JSON
//     value never equals an array or a scalar cell.
//
// Because the tolerance is not transitive, rows are first matched exactly
// (by canonical value); when that fails, rows that agree on all
// non-numeric cells are matched by bipartite matching in groups of up to
// 128 rows and, in larger groups, by pairing after sorting, which can miss
// a match only when values sit within chains of 1e-6 of each other.
func ExecutionMatch(gold, pred ResultSet, ordered bool) bool {
	if len(gold.Rows) == 0 && len(pred.Rows) == 0 {
		return true
	}
	if len(gold.Rows) != len(pred.Rows) {
		return false
	}
	gw, pw := scoreWidth(gold), scoreWidth(pred)
	if gw != pw {
		return false
	}
	g, ok := scoreCells(gold.Rows, gw)
	if !ok {
		return false
	}
	p, ok := scoreCells(pred.Rows, pw)
	if !ok {
		return false
	}
	gsig, psig := make([]scoreColumnSig, gw), make([]scoreColumnSig, gw)
	for i := range gw {
		gsig[i], psig[i] = scoreSignature(g, i), scoreSignature(p, i)
	}
	cands := make([][]int, gw)
	for i := range gw {
		for _, j := range scoreCandidateOrder(i, gw) {
			if gsig[i].compatible(psig[j]) {
				cands[i] = append(cands[i], j)
			}
		}
		if len(cands[i]) == 0 {
			return false
		}
	}
	perm := make([]int, gw)
	used := make([]bool, gw)
	tries := 0
	var search func(i int) bool
	search = func(i int) bool {
		if i == gw {
			tries++
			return scoreRowsMatch(g, scorePermute(p, perm), ordered)
		}
		for _, j := range cands[i] {
			if used[j] {
				continue
			}
			if tries >= scoreMaxPermutations {
				return false
			}
			used[j], perm[i] = true, j
			if search(i + 1) {
				return true
			}
			used[j] = false
		}
		return false
	}
	return search(0)
}

// SoftF1 returns BIRD mini-dev's soft F1 of pred against gold (the
// calculate_f1_score of its evaluation_f1.py), in [0, 1], with
// ExecutionMatch's cell equality:
//
//   - Both results without rows: 1. Exactly one without rows: 0.
//   - Duplicate rows are dropped from each result (rows whose cells are
//     identical after canonicalisation; the first occurrence is kept, so
//     the order is the results' order — BIRD uses Python's set order,
//     which is arbitrary).
//   - Row i of gold is paired with row i of pred. For a pair, with w the
//     number of cells of the gold row: match = (pred cells equal to some
//     cell of the gold row)/w, predOnly = (pred cells equal to none)/w,
//     goldOnly = (gold cells equal to no pred cell)/w. Membership, not
//     multiset: pred (a, a) against gold (a, b) is match 2/2, predOnly 0,
//     goldOnly 1/2. A gold row without cells scores match 1 against a pred
//     row without cells, else predOnly 1.
//   - A gold row without a partner adds goldOnly 1; a pred row without a
//     partner adds predOnly 1.
//   - tp, fp, fn are the sums of match, predOnly, goldOnly;
//     precision = tp/(tp+fp), recall = tp/(tp+fn) (0 when the denominator
//     is 0), F1 = 2·precision·recall/(precision+recall), 0 when both are 0.
//
// Example: gold [(1, 2, 3)], pred [(1, 2, 4)] scores 2/3; gold [(a), (b)],
// pred [(b), (a)] scores 0 (rows are paired by position).
func SoftF1(gold, pred ResultSet) float64 {
	if len(gold.Rows) == 0 && len(pred.Rows) == 0 {
		return 1
	}
	g := scoreDedup(gold.Rows)
	p := scoreDedup(pred.Rows)
	var tp, fp, fn float64
	for i, grow := range g {
		if i >= len(p) {
			fn++
			continue
		}
		prow := p[i]
		w := float64(len(grow))
		if len(grow) == 0 {
			if len(prow) == 0 {
				tp++
			} else {
				fp++
			}
			continue
		}
		var match, predOnly, goldOnly int
		for _, c := range prow {
			if scoreContains(grow, c) {
				match++
			} else {
				predOnly++
			}
		}
		for _, c := range grow {
			if !scoreContains(prow, c) {
				goldOnly++
			}
		}
		tp += float64(match) / w
		fp += float64(predOnly) / w
		fn += float64(goldOnly) / w
	}
	if len(p) > len(g) {
		fp += float64(len(p) - len(g))
	}
	var precision, recall float64
	if tp+fp > 0 {
		precision = tp / (tp + fp)
	}
	if tp+fn > 0 {
		recall = tp / (tp + fn)
	}
	if precision+recall == 0 {
		return 0
	}
	return 2 * precision * recall / (precision + recall)
}

// scoreKind is the class of a cell; cells of different kinds never match.
type scoreKind uint8

const (
	scoreNull scoreKind = iota
	scoreBool
	scoreNumber
	scoreString
	scoreOther
)

// scoreCell is a canonicalised cell.
type scoreCell struct {
	kind scoreKind
	// key identifies the value exactly: equal keys are equal cells.
	key string
	// num is a number's value (float64; ±Inf when out of range).
	num float64
	// integer is true for a number written as an integer.
	integer bool
}

// equal is the cell equality of ExecutionMatch.
func (a scoreCell) equal(b scoreCell) bool {
	if a.key == b.key {
		return true
	}
	if a.kind != scoreNumber || b.kind != scoreNumber || (a.integer && b.integer) {
		return false
	}
	return scoreClose(a.num, b.num)
}

// scoreClose reports whether finite x and y are within ScoreRelTolerance.
func scoreClose(x, y float64) bool {
	if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
		return false
	}
	return math.Abs(x-y) <= ScoreRelTolerance*math.Max(math.Abs(x), math.Abs(y))
}

// scoreCanon canonicalises one cell value.
func scoreCanon(v any) scoreCell {
	switch x := v.(type) {
	case nil:
		return scoreCell{kind: scoreNull, key: "n"}
	case bool:
		if x {
			return scoreCell{kind: scoreBool, key: "t"}
		}
		return scoreCell{kind: scoreBool, key: "f"}
	case string:
		return scoreCell{kind: scoreString, key: "s" + x}
	case json.Number:
		return scoreNumberCell(string(x))
	case int:
		return scoreNumberCell(strconv.FormatInt(int64(x), 10))
	case int8:
		return scoreNumberCell(strconv.FormatInt(int64(x), 10))
	case int16:
		return scoreNumberCell(strconv.FormatInt(int64(x), 10))
	case int32:
		return scoreNumberCell(strconv.FormatInt(int64(x), 10))
	case int64:
		return scoreNumberCell(strconv.FormatInt(x, 10))
	case uint:
		return scoreNumberCell(strconv.FormatUint(uint64(x), 10))
	case uint8:
		return scoreNumberCell(strconv.FormatUint(uint64(x), 10))
	case uint16:
		return scoreNumberCell(strconv.FormatUint(uint64(x), 10))
	case uint32:
		return scoreNumberCell(strconv.FormatUint(uint64(x), 10))
	case uint64:
		return scoreNumberCell(strconv.FormatUint(x, 10))
	case float32:
		return scoreFloatCell(float64(x), strconv.FormatFloat(float64(x), 'g', -1, 32))
	case float64:
		return scoreFloatCell(x, strconv.FormatFloat(x, 'g', -1, 64))
	case json.RawMessage:
		return scoreCell{kind: scoreOther, key: "j" + scoreJSONKey(x)}
	case []any, map[string]any:
		var b strings.Builder
		scoreComposite(&b, x)
		return scoreCell{kind: scoreOther, key: "a" + b.String()}
	}
	return scoreCell{kind: scoreOther, key: fmt.Sprintf("?%T:%v", v, v)}
}

// scoreFloatCell is the cell of a Go float (text is its shortest form).
func scoreFloatCell(f float64, text string) scoreCell {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return scoreCell{kind: scoreNumber, key: "#" + text, num: f}
	}
	c := scoreNumberCell(text)
	c.integer = false // a float is never an exact integer
	return c
}

// scoreNumberCell is the cell of a number literal.
func scoreNumberCell(s string) scoreCell {
	f, _ := strconv.ParseFloat(s, 64) // out of range → ±Inf, kept
	key, integer, ok := scoreNormDecimal(s)
	if !ok {
		return scoreCell{kind: scoreNumber, key: "#?" + s, num: f}
	}
	return scoreCell{kind: scoreNumber, key: "#" + key, num: f, integer: integer}
}

// scoreNormDecimal normalises a decimal literal ([-+]digits[.digits][e[+-]digits])
// to a key equal for equal values ("1.50" and "15e-1" → "15e-1"), and
// reports whether it was written as an integer (no fraction, no exponent).
func scoreNormDecimal(s string) (key string, integer, ok bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1<<30 || e < -(1<<30) {
			return "", false, false
		}
		mant, exp = s[:i], e
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	digits := intPart + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return "", false, false
	}
	integer = len(mant) == len(s) && frac == "" && !strings.Contains(mant, ".")
	exp -= len(frac)
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return "0", integer, true
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	sign := ""
	if neg {
		sign = "-"
	}
	return sign + trimmed + "e" + strconv.Itoa(exp), integer, true
}

// scoreJSONKey is the canonical text of a JSON document (whitespace and key
// order dropped, numbers normalised); invalid JSON is its own text.
func scoreJSONKey(raw json.RawMessage) string {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return "!" + string(raw)
	}
	var b strings.Builder
	scoreComposite(&b, v)
	return b.String()
}

// scoreComposite writes the canonical form of a decoded JSON value or a
// pgexec array.
func scoreComposite(b *strings.Builder, v any) {
	switch x := v.(type) {
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			scoreComposite(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			scoreComposite(b, x[k])
		}
		b.WriteByte('}')
	case string:
		b.WriteString(strconv.Quote(x))
	case json.RawMessage:
		b.WriteString(scoreJSONKey(x))
	default:
		// Scalars: their cell key, length-prefixed so that no key is a
		// prefix of another.
		k := scoreCanon(x).key
		b.WriteString(strconv.Itoa(len(k)))
		b.WriteByte(':')
		b.WriteString(k)
	}
}

// scoreWidth is the number of columns of r.
func scoreWidth(r ResultSet) int {
	if len(r.Columns) == 0 && len(r.Rows) > 0 {
		return len(r.Rows[0])
	}
	return len(r.Columns)
}

// scoreCells canonicalises rows; false when a row is not width wide.
func scoreCells(rows [][]any, width int) ([][]scoreCell, bool) {
	out := make([][]scoreCell, len(rows))
	for i, row := range rows {
		if len(row) != width {
			return nil, false
		}
		out[i] = make([]scoreCell, width)
		for j, v := range row {
			out[i][j] = scoreCanon(v)
		}
	}
	return out, true
}

// scoreCandidateOrder lists the columns of a width-wide result, i first.
func scoreCandidateOrder(i, width int) []int {
	order := make([]int, 0, width)
	order = append(order, i)
	for j := range width {
		if j != i {
			order = append(order, j)
		}
	}
	return order
}

// scoreColumnSig is what scoreColumnSig.compatible needs of a column: its
// non-number keys and its numbers, each sorted.
type scoreColumnSig struct {
	keys    []string
	numbers []scoreCell
}

// scoreSignature is the signature of column i of rows.
func scoreSignature(rows [][]scoreCell, i int) scoreColumnSig {
	var s scoreColumnSig
	for _, row := range rows {
		if c := row[i]; c.kind == scoreNumber {
			s.numbers = append(s.numbers, c)
		} else {
			s.keys = append(s.keys, c.key)
		}
	}
	slices.Sort(s.keys)
	slices.SortFunc(s.numbers, scoreCompareNumbers)
	return s
}

// compatible reports whether two columns can hold the same multiset of
// values: a necessary condition of the rows matching under an assignment
// that puts one onto the other. Non-numbers must have the same multiset of
// keys; numbers, sorted, must pair up under the looser relation "same key
// or within the tolerance" (an interval relation, for which sorted pairing
// finds a pairing whenever one exists).
func (a scoreColumnSig) compatible(b scoreColumnSig) bool {
	if !slices.Equal(a.keys, b.keys) || len(a.numbers) != len(b.numbers) {
		return false
	}
	for i, x := range a.numbers {
		if y := b.numbers[i]; x.key != y.key && !scoreClose(x.num, y.num) {
			return false
		}
	}
	return true
}

// scoreCompareNumbers orders number cells: NaN first, then by value, then
// by key.
func scoreCompareNumbers(a, b scoreCell) int {
	an, bn := math.IsNaN(a.num), math.IsNaN(b.num)
	switch {
	case an && !bn:
		return -1
	case bn && !an:
		return 1
	case !an && a.num < b.num:
		return -1
	case !an && a.num > b.num:
		return 1
	}
	return strings.Compare(a.key, b.key)
}

// scorePermute returns rows with their columns reordered: column i of the
// result is column perm[i] of rows.
func scorePermute(rows [][]scoreCell, perm []int) [][]scoreCell {
	out := make([][]scoreCell, len(rows))
	for r, row := range rows {
		pr := make([]scoreCell, len(perm))
		for i, j := range perm {
			pr[i] = row[j]
		}
		out[r] = pr
	}
	return out
}

// scoreRowEqual reports whether two rows of the same width are equal cell by
// cell.
func scoreRowEqual(a, b []scoreCell) bool {
	for i := range a {
		if !a[i].equal(b[i]) {
			return false
		}
	}
	return true
}

// scoreRowKey is a row's exact identity: equal keys are equal rows.
func scoreRowKey(row []scoreCell) string {
	var b strings.Builder
	for _, c := range row {
		b.WriteString(strconv.Itoa(len(c.key)))
		b.WriteByte(':')
		b.WriteString(c.key)
	}
	return b.String()
}

// scoreShapeKey is a row's identity with its numbers blanked: rows that are
// equal under the tolerance have the same shape key.
func scoreShapeKey(row []scoreCell) string {
	var b strings.Builder
	for _, c := range row {
		if c.kind == scoreNumber {
			b.WriteString("#")
			continue
		}
		b.WriteString(strconv.Itoa(len(c.key)))
		b.WriteByte(':')
		b.WriteString(c.key)
	}
	return b.String()
}

// scoreRowsMatch compares two row lists of the same length and width, in
// order or as multisets.
func scoreRowsMatch(g, p [][]scoreCell, ordered bool) bool {
	if ordered {
		for i := range g {
			if !scoreRowEqual(g[i], p[i]) {
				return false
			}
		}
		return true
	}
	// Fast path: exact multiset equality.
	counts := make(map[string]int, len(g))
	for _, row := range g {
		counts[scoreRowKey(row)]++
	}
	exact := true
	for _, row := range p {
		k := scoreRowKey(row)
		if counts[k] == 0 {
			exact = false
			break
		}
		counts[k]--
	}
	if exact {
		return true
	}
	// Tolerant path: group by shape, match within each group.
	groups := map[string][2][][]scoreCell{}
	var order []string
	for _, row := range g {
		k := scoreShapeKey(row)
		gr, seen := groups[k]
		if !seen {
			order = append(order, k)
		}
		gr[0] = append(gr[0], row)
		groups[k] = gr
	}
	for _, row := range p {
		k := scoreShapeKey(row)
		gr, seen := groups[k]
		if !seen {
			return false
		}
		gr[1] = append(gr[1], row)
		groups[k] = gr
	}
	for _, k := range order {
		gr := groups[k]
		if !scoreGroupMatch(gr[0], gr[1]) {
			return false
		}
	}
	return true
}

// scoreGroupMatch reports whether rows a and b (of one shape) can be paired
// one to one into equal rows.
func scoreGroupMatch(a, b [][]scoreCell) bool {
	if len(a) != len(b) {
		return false
	}
	cmp := func(x, y []scoreCell) int {
		for i := range x {
			if x[i].kind != scoreNumber {
				continue
			}
			if c := scoreCompareNumbers(x[i], y[i]); c != 0 {
				return c
			}
		}
		return 0
	}
	sa, sb := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(sa, cmp)
	slices.SortFunc(sb, cmp)
	paired := true
	for i := range sa {
		if !scoreRowEqual(sa[i], sb[i]) {
			paired = false
			break
		}
	}
	if paired {
		return true
	}
	if len(a) > scoreMaxBipartite {
		return false
	}
	return scoreBipartite(a, b)
}

// scoreBipartite reports whether a perfect matching of equal rows exists
// between a and b (Kuhn's augmenting paths).
func scoreBipartite(a, b [][]scoreCell) bool {
	n := len(a)
	adj := make([][]int, n)
	for i := range a {
		for j := range b {
			if scoreRowEqual(a[i], b[j]) {
				adj[i] = append(adj[i], j)
			}
		}
		if len(adj[i]) == 0 {
			return false
		}
	}
	matchB := make([]int, n)
	for j := range matchB {
		matchB[j] = -1
	}
	var visited []bool
	var augment func(i int) bool
	augment = func(i int) bool {
		for _, j := range adj[i] {
			if visited[j] {
				continue
			}
			visited[j] = true
			if matchB[j] < 0 || augment(matchB[j]) {
				matchB[j] = i
				return true
			}
		}
		return false
	}
	for i := range n {
		visited = make([]bool, n)
		if !augment(i) {
			return false
		}
	}
	return true
}

// scoreDedup canonicalises rows and drops repeated ones (identical keys),
// keeping the first of each.
func scoreDedup(rows [][]any) [][]scoreCell {
	seen := map[string]bool{}
	var out [][]scoreCell
	for _, row := range rows {
		cells := make([]scoreCell, len(row))
		for j, v := range row {
			cells[j] = scoreCanon(v)
		}
		k := strconv.Itoa(len(cells)) + "|" + scoreRowKey(cells)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, cells)
	}
	return out
}

// scoreContains reports whether row holds a cell equal to c.
func scoreContains(row []scoreCell, c scoreCell) bool {
	for _, x := range row {
		if x.equal(c) {
			return true
		}
	}
	return false
}
