// Package prompts renders the messages pgmcp sends a model to turn a
// question into SQL: the system prompt (dialect, rules, today's date, the
// relevance-selected schema), optional few-shot examples, the question, and
// the repair prompt that carries a refused or failed query back with its
// error. The templates are embedded (templates/*.tmpl).
//
// The package is pure text: it knows neither the model client nor the
// database. Callers pass the schema already rendered, and error messages
// already sanitized (no data values).
package prompts

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

//go:embed templates/*.tmpl
var files embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"json": func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	},
}).ParseFS(files, "templates/*.tmpl"))

// Role is who says a message.
type Role string

// Roles of a chat.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Message is one chat message.
type Message struct {
	Role    Role
	Content string
}

// Example is a question with the SQL that answers it (few-shot).
type Example struct {
	Question string `json:"question"`
	SQL      string `json:"sql"`
}

// Request is what a prompt is made of.
type Request struct {
	// Database names the database.
	Database string
	// ServerVersion is the PostgreSQL major version, e.g. "15" (default
	// "15").
	ServerVersion string
	// Schema is the compact, relevance-selected schema text.
	Schema string
	// Now is the current time, shown as today's date in TimeZone.
	Now time.Time
	// TimeZone is the database session's time zone, e.g. "UTC".
	TimeZone string
	// MaxRows is the most rows a query may return.
	MaxRows int
	// Examples are optional few-shot examples.
	Examples []Example
	// Question is the analyst's question.
	Question string
	// ValueHints are lines like "public.singer.country has 'France'":
	// stored values that match words of the question (grounding).
	ValueHints string
}

type view struct {
	Request
	Today string
}

func (r Request) view() view {
	v := view{Request: r}
	if v.ServerVersion == "" {
		v.ServerVersion = "15"
	}
	if v.TimeZone == "" {
		v.TimeZone = "UTC"
	}
	if v.MaxRows <= 0 {
		v.MaxRows = 1000
	}
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	if loc, err := time.LoadLocation(v.TimeZone); err == nil {
		now = now.In(loc)
	}
	v.Today = now.Format("Monday 2 January 2006")
	return v
}

// Build returns the messages that ask the model for SQL: a system message
// and the question (after the examples).
func Build(r Request) ([]Message, error) {
	if strings.TrimSpace(r.Question) == "" {
		return nil, errors.New("prompts: empty question")
	}
	v := r.view()
	sys, err := render("system.tmpl", v)
	if err != nil {
		return nil, err
	}
	q, err := render("question.tmpl", v)
	if err != nil {
		return nil, err
	}
	return []Message{{Role: RoleSystem, Content: sys}, {Role: RoleUser, Content: q}}, nil
}

// Rejection is a sqlguard refusal of a query: its stable code and message.
type Rejection struct {
	Code    string
	Message string
}

// PGError is a PostgreSQL error of a query, its message free of data
// values.
type PGError struct {
	SQLState string
	Message  string
	Hint     string
}

// Observation is what a check of a query's result found suspicious (an
// empty result, a column of NULLs, a join that multiplied rows): the query
// ran, but its answer may be wrong. It never quotes a value of the result.
type Observation struct {
	Message string
}

// Failure is why a query did not work: exactly one of Rejection, PGError
// and Observation is set.
type Failure struct {
	Rejection   *Rejection
	PGError     *PGError
	Observation *Observation
}

// MaxExcerptBytes bounds what a repair prompt quotes of the model's
// previous answer and, separately, of its previous SQL: 8 KiB, more than
// the 2048 tokens the model is given for an answer can hold. A longer text
// is cut, and the cut says how much was left out.
const MaxExcerptBytes = 8 << 10

// maxReasonBytes bounds each text of a failure quoted in a repair prompt
// (a message, a hint): PostgreSQL may quote a long token of the query.
const maxReasonBytes = 1 << 10

// Excerpt returns s if it is at most limit bytes long, else its first
// bytes (at most limit, cut on a UTF-8 boundary) and a note of how many
// bytes were left out.
func Excerpt(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := max(limit, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf(" […%d more bytes left out]", len(s)-cut)
}

// Repair returns the conversation that asks the model to fix its query:
// the original messages, the model's previous answer, and the failure.
// The answer and the SQL are quoted up to MaxExcerptBytes each, the
// failure's texts up to 1 KiB each, so a repair conversation grows by a
// bounded amount whatever the model sent.
func Repair(original []Message, previousAnswer, previousSQL string, f Failure) ([]Message, error) {
	if n := btoi(f.Rejection != nil) + btoi(f.PGError != nil) + btoi(f.Observation != nil); n != 1 {
		return nil, errors.New("prompts: a repair needs exactly one of a rejection, a PostgreSQL error or an observation")
	}
	if o := f.Observation; o != nil {
		f.Observation = &Observation{Message: Excerpt(o.Message, maxReasonBytes)}
	}
	if r := f.Rejection; r != nil {
		f.Rejection = &Rejection{Code: Excerpt(r.Code, maxReasonBytes), Message: Excerpt(r.Message, maxReasonBytes)}
	}
	if e := f.PGError; e != nil {
		f.PGError = &PGError{SQLState: Excerpt(e.SQLState, maxReasonBytes), Message: Excerpt(e.Message, maxReasonBytes),
			Hint: Excerpt(e.Hint, maxReasonBytes)}
	}
	previousAnswer = Excerpt(previousAnswer, MaxExcerptBytes)
	text, err := render("repair.tmpl", struct {
		Failure
		PreviousSQL string
	}{f, Excerpt(previousSQL, MaxExcerptBytes)})
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(original)+2)
	out = append(out, original...)
	out = append(out, Message{Role: RoleAssistant, Content: previousAnswer}, Message{Role: RoleUser, Content: text})
	return out, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func render(name string, data any) (string, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("prompts: render %s: %w", name, err)
	}
	return b.String(), nil
}

// MaxExamples caps how many examples a file may hold: each costs prompt
// tokens on every question.
const MaxExamples = 50

// LoadExamples reads few-shot examples: JSON Lines, one
// {"question": "…", "sql": "…"} object a line (blank lines and lines
// starting with # or // are skipped).
func LoadExamples(r io.Reader) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "//") {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		var ex Example
		if err := dec.Decode(&ex); err != nil {
			return nil, fmt.Errorf("examples line %d: %v", n, err)
		}
		if strings.TrimSpace(ex.Question) == "" || strings.TrimSpace(ex.SQL) == "" {
			return nil, fmt.Errorf("examples line %d: both question and sql are required", n)
		}
		out = append(out, ex)
		if len(out) > MaxExamples {
			return nil, fmt.Errorf("examples: more than %d examples", MaxExamples)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("examples: %v", err)
	}
	return out, nil
}

// Summary returns the messages that ask the model for a plain-English
// summary of a query (for explain); structure is the parser's description.
func Summary(sql, structure string) ([]Message, error) {
	text, err := render("summary.tmpl", struct{ SQL, Structure string }{sql, structure})
	if err != nil {
		return nil, err
	}
	return []Message{{Role: RoleUser, Content: text}}, nil
}
