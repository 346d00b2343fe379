package schema

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync/atomic"
)

// Field weights of a table's search document (BM25F-style: a term's
// frequency in a document is the weighted sum of its occurrences).
const (
	weightTableName  = 3.0 // words of the table name
	weightSchemaName = 1.0 // words of the schema name
	weightColumnName = 1.0 // words of column names
	weightComment    = 0.5 // words of table and column comments
	weightValue      = 0.5 // enum labels and common values
	weightFKTarget   = 0.5 // names of the tables a foreign key points to
)

// BM25 parameters.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// Selection parameters (see Select).
const (
	// seedMax tables at most are "seeds": the best matches, those scoring at
	// least seedRatio of the best score.
	seedMax   = 6
	seedRatio = 0.1
	// neighbourSeeds: the foreign-key neighbours of this many best seeds
	// join the core set.
	neighbourSeeds = 3
)

// Prepared is a Snapshot prepared for rendering and relevance selection: each
// table's rendered blocks, its search document and its foreign-key
// neighbours. Build it once per Snapshot (a Cache does) and use it from
// many goroutines: it is read-only.
type Prepared struct {
	snap       *Snapshot
	text       [3][]string // per Form, per table
	fullBytes  int         // bytes of RenderSnapshot
	docs       []map[string]float64
	docLen     []float64
	avgLen     float64
	df         map[string]int
	postings   map[string][]int // term → tables whose document has it
	vocab      []string         // every term, sorted
	neighbours [][]int          // by foreign key, both directions, sorted, unique
	byName     map[string]int
	nameOrder  []int // each table's place in the order of qualified names
	byHub      []int // the tables by hubFirst
	// values is the index of the column values, once the cache has read
	// them (valuesDone is closed then; nil when it does not index values).
	values     atomic.Pointer[ValueIndex]
	valuesDone chan struct{}
}

// Values is the index of the schema's column values: nil when the cache
// does not index them or has not finished reading them (a nil index
// matches nothing).
func (ix *Prepared) Values() *ValueIndex { return ix.values.Load() }

// WaitValues waits until the value index is read (or ctx is done) and
// returns it; nil when the cache does not index values.
func (ix *Prepared) WaitValues(ctx context.Context) *ValueIndex {
	if ix.valuesDone == nil {
		return nil
	}
	select {
	case <-ix.valuesDone:
	case <-ctx.Done():
	}
	return ix.values.Load()
}

// Prepare prepares s for rendering and selection.
func Prepare(s *Snapshot) *Prepared {
	n := len(s.Tables)
	ix := &Prepared{
		snap: s,
		docs: make([]map[string]float64, n), docLen: make([]float64, n),
		df: map[string]int{}, postings: map[string][]int{}, neighbours: make([][]int, n), byName: make(map[string]int, n),
	}
	for f := range ix.text {
		ix.text[f] = make([]string, n)
	}
	names := make([]string, n)
	for i := range s.Tables {
		names[i] = s.Tables[i].QualifiedName()
		ix.byName[names[i]] = i
	}
	// Selection orders tables by name last; comparing places instead of
	// the names saves a string build per comparison.
	byNameOrder := make([]int, n)
	for i := range byNameOrder {
		byNameOrder[i] = i
	}
	sort.SliceStable(byNameOrder, func(a, b int) bool { return names[byNameOrder[a]] < names[byNameOrder[b]] })
	ix.nameOrder = make([]int, n)
	for place, i := range byNameOrder {
		ix.nameOrder[i] = place
	}
	var buf []string
	var total float64
	for i := range s.Tables {
		t := &s.Tables[i]
		for f := range ix.text {
			ix.text[f][i] = renderForm(t, Form(f), ix.primaryKey)
		}
		// A less detailed form that is not shorter is replaced by the more
		// detailed one (a link table's key list is its full column list).
		for f := FormKeys; f > FormFull; f-- {
			if len(ix.text[f-1][i]) <= len(ix.text[f][i]) {
				ix.text[f][i] = ix.text[f-1][i]
			}
		}
		ix.fullBytes += len(ix.text[FormFull][i])
		if i > 0 {
			ix.fullBytes++ // the blank line between blocks
		}
		doc := map[string]float64{}
		add := func(text string, w float64) {
			buf = terms(text, buf[:0])
			for _, term := range buf {
				doc[term] += w
			}
		}
		add(t.Name, weightTableName)
		add(t.Schema, weightSchemaName)
		add(t.Comment, weightComment)
		for j := range t.Columns {
			c := &t.Columns[j]
			add(c.Name, weightColumnName)
			add(c.Comment, weightComment)
			for _, v := range c.EnumValues {
				add(v, weightValue)
			}
			for _, v := range c.CommonValues {
				add(v, weightValue)
			}
		}
		for _, fk := range t.ForeignKeys {
			add(fk.RefTable, weightFKTarget)
			if j, ok := ix.byName[fk.RefQualifiedName()]; ok && j != i {
				ix.neighbours[i] = append(ix.neighbours[i], j)
				ix.neighbours[j] = append(ix.neighbours[j], i)
			}
		}
		var l float64
		for term, w := range doc {
			ix.df[term]++
			ix.postings[term] = append(ix.postings[term], i)
			l += w
		}
		ix.docs[i], ix.docLen[i] = doc, l
		total += l
	}
	if n > 0 {
		ix.avgLen = total / float64(n)
	}
	for i := range ix.neighbours {
		ix.neighbours[i] = uniqueSorted(ix.neighbours[i])
	}
	ix.vocab = sortedKeys(ix.df)
	// The order of the tables no question word matches (hubs first, then
	// by name) does not depend on the question: made once.
	ix.byHub = make([]int, n)
	for i := range ix.byHub {
		ix.byHub[i] = i
	}
	sort.Slice(ix.byHub, func(a, b int) bool { return ix.hubFirst(ix.byHub[a], ix.byHub[b]) })
	return ix
}

// hubFirst orders tables by their foreign-key degree (the most connected
// first), then by name.
func (ix *Prepared) hubFirst(i, j int) bool {
	if di, dj := len(ix.neighbours[i]), len(ix.neighbours[j]); di != dj {
		return di > dj
	}
	return ix.nameOrder[i] < ix.nameOrder[j]
}

// primaryKey returns the primary key of a table of the snapshot.
func (ix *Prepared) primaryKey(schema, name string) []string {
	if i, ok := ix.byName[schema+"."+name]; ok {
		return ix.snap.Tables[i].PrimaryKey
	}
	return nil
}

// Snapshot returns the indexed snapshot.
func (ix *Prepared) Snapshot() *Snapshot { return ix.snap }

// Render returns the compact rendering of the whole snapshot.
func (ix *Prepared) Render() Rendered {
	text := strings.Join(ix.text[FormFull], "\n")
	return Rendered{Text: text, Tokens: EstimateTokens(text)}
}

// Tokens returns the token estimate of the whole compact rendering.
func (ix *Prepared) Tokens() int { return (ix.fullBytes + 3) / 4 }

// Text returns the rendering of t in form f: precomputed when t is a table
// of the prepared snapshot, else rendered now.
func (ix *Prepared) Text(t *Table, f Form) string {
	if f < FormFull || f > FormKeys {
		f = FormFull
	}
	if i, ok := ix.byName[t.QualifiedName()]; ok && &ix.snap.Tables[i] == t {
		return ix.text[f][i]
	}
	return renderForm(t, f, ix.primaryKey)
}

// Lookup returns the table named "schema.table" or "table" (see
// Snapshot.Lookup).
func (ix *Prepared) Lookup(name string) (*Table, error) { return ix.snap.Lookup(name) }

// Selection is the part of a schema chosen for a question under a token
// budget.
type Selection struct {
	Question string
	// Budget is the token budget; Tokens the estimate of Render's text.
	Budget int
	Tokens int
	// All is true when the whole schema fitted, so nothing was ranked.
	All bool
	// Total is the number of tables in the snapshot.
	Total int
	// Tables are the chosen tables, most relevant first (in schema order
	// when All).
	Tables []Selected
	footer bool // Render ends with a line saying tables were left out
}

// footer is the last line of a Selection that left tables out.
func footer(shown, total int) string {
	return fmt.Sprintf("\n-- %d of %d tables shown, chosen for the question; others exist.\n", shown, total)
}

// Selected is one chosen table and why.
type Selected struct {
	Table *Table
	// Form is how much of it is shown: in full, or, when it did not fit,
	// its column names only, or its key columns only.
	Form Form
	// Score is its BM25 score for the question.
	Score float64
	// Reason explains the choice, for debug logs.
	Reason string
	text   string
}

// Text returns the rendered block of the selected table.
func (s *Selected) Text() string { return s.text }

// Select chooses the tables of s to show for question within budget tokens
// (see Prepared.Select).
func Select(s *Snapshot, question string, budget int) Selection {
	return Prepare(s).Select(question, budget)
}

// formNone marks a table left out.
const formNone Form = -1

// Select chooses the tables to show for question within budget tokens.
//
// When the whole compact schema fits, it is all sent. Otherwise tables are
// ranked by BM25 over their documents (table name words weighted 3, schema
// and column names 1, comments, enum labels, common values and foreign-key
// targets 0.5; snake_case/camelCase split, light stemming, partial matches
// of glued words and three synonyms; see score). The core set is
// the seeds (up to 6 best tables scoring at least 10% of the best) and the
// foreign-key neighbours, in both directions, of the three best seeds. The
// budget is then filled greedily, breadth first, so that no relevant table
// is lost to a large one: every core table in its keys-only form, then each
// upgraded to its column list, then to its full block, in rank order; then
// the other tables by rank, each in the fullest form that still fits. The
// result is deterministic: ties are broken by qualified name.
func (ix *Prepared) Select(question string, budget int) Selection {
	sel := Selection{Question: question, Budget: budget, Total: len(ix.snap.Tables)}
	limit := budget * 4
	if ix.fullBytes <= limit {
		sel.All = true
		for i := range ix.snap.Tables {
			sel.Tables = append(sel.Tables, Selected{Table: &ix.snap.Tables[i], Form: FormFull,
				Reason: "the whole schema fits the budget", text: ix.text[FormFull][i]})
		}
		sel.Tokens = ix.Tokens()
		return sel
	}

	scores, matched := ix.score(question)
	n := len(ix.snap.Tables)
	// The rank: the matched tables by score (ties as below), then the
	// others in the question-free order. Only the matched ones are sorted,
	// so a question costs the size of its matches, not of the catalog.
	rank := make([]int, 0, n)
	for i, sc := range scores {
		if sc > 0 {
			rank = append(rank, i)
		}
	}
	sort.Slice(rank, func(a, b int) bool {
		i, j := rank[a], rank[b]
		if scores[i] != scores[j] {
			return scores[i] > scores[j]
		}
		return ix.hubFirst(i, j)
	})
	for _, i := range ix.byHub {
		if scores[i] <= 0 {
			rank = append(rank, i)
		}
	}

	reason := make([]string, n)
	var core []int
	inCore := make([]bool, n)
	addCore := func(i int, why string) {
		if !inCore[i] {
			inCore[i] = true
			core = append(core, i)
			reason[i] = why
		}
	}
	var seeds []int
	if n > 0 && scores[rank[0]] > 0 {
		best := scores[rank[0]]
		for _, i := range rank {
			if len(seeds) == seedMax || scores[i] < seedRatio*best || scores[i] <= 0 {
				break
			}
			seeds = append(seeds, i)
			addCore(i, fmt.Sprintf("match %.2f on %s", scores[i], strings.Join(matched[i], ", ")))
		}
	}
	for k, s := range seeds {
		if k == neighbourSeeds {
			break
		}
		nb := append([]int(nil), ix.neighbours[s]...)
		sort.SliceStable(nb, func(a, b int) bool {
			if scores[nb[a]] != scores[nb[b]] {
				return scores[nb[a]] > scores[nb[b]]
			}
			return ix.nameOrder[nb[a]] < ix.nameOrder[nb[b]]
		})
		for _, j := range nb {
			addCore(j, "foreign-key neighbour of "+ix.snap.Tables[s].QualifiedName())
		}
	}

	form := make([]Form, n)
	for i := range form {
		form[i] = formNone
	}
	used := 0
	cost := func(i int, f Form) int {
		if f == formNone {
			return 0
		}
		return len(ix.text[f][i]) + 1
	}
	// try moves table i to form f if the budget allows.
	try := func(i int, f Form) bool {
		if d := cost(i, f) - cost(i, form[i]); used+d <= limit {
			form[i], used = f, used+d
			return true
		}
		return false
	}
	for _, f := range []Form{FormKeys, FormColumns, FormFull} {
		for _, i := range core {
			if form[i] != formNone || f == FormKeys {
				try(i, f)
			}
		}
	}
	for _, i := range rank {
		if inCore[i] {
			continue
		}
		if !try(i, FormFull) && !try(i, FormColumns) && !try(i, FormKeys) {
			continue
		}
		if scores[i] > 0 {
			reason[i] = fmt.Sprintf("match %.2f on %s; fits the budget", scores[i], strings.Join(matched[i], ", "))
		} else {
			reason[i] = "no match; fills the remaining budget"
		}
	}
	// Output order: core first (seeds, then neighbours), then by rank.
	order := append([]int(nil), core...)
	for _, i := range rank {
		if !inCore[i] {
			order = append(order, i)
		}
	}
	for _, i := range order {
		if form[i] == formNone {
			continue
		}
		s := Selected{Table: &ix.snap.Tables[i], Score: scores[i], Reason: reason[i], Form: form[i], text: ix.text[form[i]][i]}
		if s.Form != FormFull {
			s.Reason += " (" + s.Form.String() + " only)"
		}
		sel.Tables = append(sel.Tables, s)
	}
	sel.footer = used+len(footer(len(sel.Tables), sel.Total)) <= limit
	sel.Tokens = EstimateTokens(sel.Render().Text)
	return sel
}

// Query expansion (see score).
const (
	// partialMatch weighs a schema word that contains a question word
	// ("highschooler" for "schooler", "countrylanguage" for "language",
	// "weight" for "weigh"), for question words of at least partialMinLen
	// bytes.
	partialMatch  = 0.5
	partialMinLen = 4
)

// score returns each table's BM25 score for the question and the question
// terms it matched. Each question term counts once per table, through its
// best match: the term itself, or a schema word containing it (weighted
// partialMatch: names glued together, like "highschooler", would otherwise
// never match).
func (ix *Prepared) score(question string) ([]float64, [][]string) {
	n := len(ix.snap.Tables)
	scores := make([]float64, n)
	matched := make([][]string, n)
	qs := uniqueStrings(terms(question, nil))
	best := make([]float64, n)
	for _, q := range qs {
		clear(best)
		for _, v := range ix.expand(q) {
			df := ix.df[v.term]
			idf := math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
			for _, i := range ix.postings[v.term] {
				tf := ix.docs[i][v.term]
				norm := bm25K1 * (1 - bm25B + bm25B*ix.docLen[i]/ix.avgLen)
				if sc := v.weight * idf * tf * (bm25K1 + 1) / (tf + norm); sc > best[i] {
					best[i] = sc
				}
			}
		}
		for i, sc := range best {
			if sc > 0 {
				scores[i] += sc
				matched[i] = append(matched[i], q)
			}
		}
	}
	return scores, matched
}

type expansion struct {
	term   string
	weight float64
}

// synonyms map a (stemmed) question word to schema words that mean the
// same; kept tiny and generic on purpose.
var synonyms = map[string][]string{
	"nation": {"country"},
	"qty":    {"quantity"},
	"dob":    {"birth"},
}

// expand returns the schema words a question term matches.
func (ix *Prepared) expand(q string) []expansion {
	var out []expansion
	if ix.df[q] > 0 {
		out = append(out, expansion{q, 1})
	}
	for _, syn := range synonyms[q] {
		if ix.df[syn] > 0 {
			out = append(out, expansion{syn, 1})
		}
	}
	if len(q) >= partialMinLen {
		for _, v := range ix.vocab {
			if len(v) > len(q) && strings.Contains(v, q) {
				out = append(out, expansion{v, partialMatch})
			}
		}
	}
	return out
}

// Render renders the selection: the chosen blocks in order and, when some
// tables were left out, a last line saying so.
func (s Selection) Render() Rendered {
	var b strings.Builder
	for i := range s.Tables {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s.Tables[i].text)
	}
	if s.footer {
		b.WriteString(footer(len(s.Tables), s.Total))
	}
	return Rendered{Text: b.String(), Tokens: EstimateTokens(b.String())}
}

// Explain describes the choice, one line per table, for debug logs.
func (s Selection) Explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d tables, ~%d of %d tokens", len(s.Tables), s.Total, s.Tokens, s.Budget)
	if s.All {
		b.WriteString(": the whole schema fits")
		return b.String()
	}
	for _, t := range s.Tables {
		fmt.Fprintf(&b, "\n  %s: %s", t.Table.QualifiedName(), t.Reason)
	}
	return b.String()
}

func uniqueSorted(s []int) []int {
	sort.Ints(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func uniqueStrings(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
