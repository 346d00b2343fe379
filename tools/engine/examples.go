package engine

import (
	"math"
	"strings"
	"unicode"

	"github.com/pgmcp/pgmcp/prompts"
	"github.com/pgmcp/pgmcp/sqlguard"
)

// ExampleSelector picks the few-shot examples most like a question
// (DAIL-SQL's idea, done on CPU): questions are compared with their
// literals and schema words masked (numbers → <num>, quoted text → <str>,
// any table or column name of the database, or its plural → <sch>), so
// that "How many orders has each customer placed?" is close to "How many
// singers are from each country?" (the same structure, another topic).
// Similarity is the cosine of the masked questions' word unigram and
// bigram counts. Among examples almost as similar, one whose SQL skeleton
// (keywords kept, names → id, literals → ?) is not chosen yet is preferred,
// so k examples show k ways of writing SQL rather than one way k times.
type ExampleSelector struct {
	examples  []prompts.Example
	vectors   []map[string]float64
	norms     []float64
	skeletons []string
	schema    map[string]bool
}

// diversityPenalty is taken off an example's similarity per chosen
// example with the same SQL skeleton.
const diversityPenalty = 0.15

// NewExampleSelector prepares examples for selection; schemaWords are the
// database's table and column names.
func NewExampleSelector(examples []prompts.Example, schemaWords []string) *ExampleSelector {
	s := &ExampleSelector{examples: examples, schema: map[string]bool{}}
	for _, w := range schemaWords {
		for _, part := range strings.FieldsFunc(strings.ToLower(w), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			if len(part) > 2 {
				s.schema[part] = true
			}
		}
	}
	for _, ex := range examples {
		v := s.vector(ex.Question)
		s.vectors = append(s.vectors, v)
		s.norms = append(s.norms, norm(v))
		s.skeletons = append(s.skeletons, sqlSkeleton(ex.SQL))
	}
	return s
}

// catalogWords are the relation and column names of a policy's catalog.
func catalogWords(p *sqlguard.Policy) []string {
	if p == nil || p.Catalog == nil {
		return nil
	}
	var out []string
	for _, r := range p.Catalog.Relations {
		out = append(out, r.Name)
		for _, c := range r.Columns {
			out = append(out, c.Name)
		}
	}
	return out
}

// How examples are chosen (PGMCP_LLM_EXAMPLES_METHOD).
const (
	// ExamplesSimilar: the most similar questions, preferring varied SQL
	// skeletons among examples about as similar (the default).
	ExamplesSimilar = "similar"
	// ExamplesQuestion: the most similar questions, by similarity alone.
	ExamplesQuestion = "question"
	// ExamplesFirst: the first k of the file, whatever the question.
	ExamplesFirst = "first"
)

// ExampleMethods are the methods, for a configuration's check.
var ExampleMethods = []string{ExamplesSimilar, ExamplesQuestion, ExamplesFirst}

// Select returns at most k examples, the most similar to question first
// (ExamplesSimilar); k <= 0 means all of them, in their order.
func (s *ExampleSelector) Select(question string, k int) []prompts.Example {
	return s.SelectBy(question, k, ExamplesSimilar)
}

// SelectBy is Select by one of ExampleMethods ("" is ExamplesSimilar).
func (s *ExampleSelector) SelectBy(question string, k int, method string) []prompts.Example {
	if s == nil || len(s.examples) == 0 {
		return nil
	}
	if k <= 0 {
		return s.examples
	}
	if method == ExamplesFirst {
		return s.examples[:min(k, len(s.examples))]
	}
	penalty := diversityPenalty
	if method == ExamplesQuestion {
		penalty = 0
	}
	q := s.vector(question)
	qn := norm(q)
	sims := make([]float64, len(s.examples))
	for i, v := range s.vectors {
		if qn > 0 && s.norms[i] > 0 {
			dot := 0.0
			for t, c := range q {
				dot += c * v[t]
			}
			sims[i] = dot / (qn * s.norms[i])
		}
	}
	k = min(k, len(s.examples))
	chosen := make([]bool, len(s.examples))
	used := map[string]int{}
	out := make([]prompts.Example, 0, k)
	for len(out) < k {
		best, bestScore := -1, math.Inf(-1)
		for i := range s.examples {
			if chosen[i] {
				continue
			}
			score := sims[i] - penalty*float64(used[s.skeletons[i]])
			if score > bestScore {
				best, bestScore = i, score
			}
		}
		chosen[best] = true
		used[s.skeletons[best]]++
		out = append(out, s.examples[best])
	}
	return out
}

// vector is the masked question's unigram and bigram counts.
func (s *ExampleSelector) vector(question string) map[string]float64 {
	words := s.mask(question)
	v := map[string]float64{}
	for i, w := range words {
		v[w]++
		if i > 0 {
			v[words[i-1]+" "+w] += 1
		}
	}
	return v
}

// mask splits a question into lower-case words, with quoted text, numbers
// and schema words replaced by placeholders.
func (s *ExampleSelector) mask(question string) []string {
	var out []string
	inQuote := rune(0)
	var word strings.Builder
	flush := func() {
		if word.Len() == 0 {
			return
		}
		w := word.String()
		word.Reset()
		switch {
		case isNumber(w):
			out = append(out, "<num>")
		case s.schema[w] || s.schema[strings.TrimSuffix(w, "s")] || s.schema[strings.TrimSuffix(w, "es")]:
			out = append(out, "<sch>")
		default:
			out = append(out, w)
		}
	}
	for _, r := range strings.ToLower(question) {
		switch {
		case inQuote != 0:
			if r == inQuote {
				inQuote = 0
				out = append(out, "<str>")
			}
		case r == '"' || r == '\'' && word.Len() == 0:
			flush()
			inQuote = r
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' && word.Len() > 0:
			word.WriteRune(r)
		default:
			flush()
		}
	}
	flush()
	return out
}

func isNumber(w string) bool {
	w = strings.TrimSuffix(w, ".")
	if w == "" {
		return false
	}
	for _, r := range w {
		if !unicode.IsDigit(r) && r != '.' {
			return false
		}
	}
	return true
}

func norm(v map[string]float64) float64 {
	n := 0.0
	for _, c := range v {
		n += c * c
	}
	return math.Sqrt(n)
}

// sqlKeywords are the words an SQL skeleton keeps.
var sqlKeywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`select distinct from where group by having order limit offset join left right full inner outer cross on
		using and or not in exists between like ilike is null as union intersect except all with case when then else end asc desc
		count sum avg min max over partition filter`) {
		sqlKeywords[k] = true
	}
}

// sqlSkeleton is an SQL text with its names and literals replaced: its
// keywords in order, names → id, literals → ?.
func sqlSkeleton(sql string) string {
	var out []string
	fields := strings.FieldsFunc(strings.ToLower(sql), func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune("(),;", r)
	})
	for _, f := range fields {
		switch {
		case sqlKeywords[f]:
			out = append(out, f)
		case strings.HasPrefix(f, "'") || isNumber(f):
			out = append(out, "?")
		case strings.ContainsAny(f, "=<>!*+-/"):
			out = append(out, f)
		default:
			if len(out) == 0 || out[len(out)-1] != "id" {
				out = append(out, "id")
			}
		}
	}
	return strings.Join(out, " ")
}
