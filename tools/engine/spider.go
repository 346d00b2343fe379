package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ReadSpider reads the dev set of a Spider release (DIR/dev.json, as the
// release ships it) as eval cases: the question, its database (the
// db_id), its gold SQL made PostgreSQL's (SpiderGoldSQL) and Spider's
// difficulty (SpiderHardness of its parsed SQL). IDs are "dev#N", N the
// question's index in dev.json.
func ReadSpider(dir string) ([]EvalCase, error) {
	b, err := os.ReadFile(filepath.Join(dir, "dev.json"))
	if err != nil {
		return nil, err
	}
	var dev []struct {
		DB       string          `json:"db_id"`
		Question string          `json:"question"`
		Query    string          `json:"query"`
		SQL      json.RawMessage `json:"sql"`
	}
	if err := json.Unmarshal(b, &dev); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, "dev.json"), err)
	}
	out := make([]EvalCase, 0, len(dev))
	for i, q := range dev {
		if q.DB == "" || q.Question == "" || q.Query == "" {
			return nil, fmt.Errorf("dev.json #%d: want db_id, question and query", i)
		}
		c := EvalCase{ID: fmt.Sprintf("dev#%d", i), Question: q.Question, Database: q.DB, GoldSQL: SpiderGoldSQL(q.Query)}
		var tree any
		if len(q.SQL) > 0 && json.Unmarshal(q.SQL, &tree) == nil {
			c.Difficulty = SpiderHardness(tree)
		}
		out = append(out, c)
	}
	return out, nil
}

// SpiderGoldSQL makes the SQLite of Spider's gold queries PostgreSQL's
// where the two read it differently: SQLite takes a "double-quoted" word
// that names no column as a string, and Spider's queries write most of
// their strings that way; PostgreSQL reads them as names. Every
// double-quoted run becomes a string literal (Spider's queries quote no
// name). Single-quoted strings are kept as they are.
func SpiderGoldSQL(sql string) string {
	if !strings.Contains(sql, `"`) {
		return sql
	}
	var b strings.Builder
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; c {
		case '\'':
			j := i + 1
			for j < len(sql) {
				if sql[j] == '\'' {
					if j+1 < len(sql) && sql[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			end := min(j+1, len(sql))
			b.WriteString(sql[i:end])
			i = end - 1
		case '"':
			j := strings.IndexByte(sql[i+1:], '"')
			if j < 0 {
				b.WriteString(sql[i:])
				return b.String()
			}
			b.WriteString("'" + strings.ReplaceAll(sql[i+1:i+1+j], "'", "''") + "'")
			i += j + 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Spider's difficulty levels.
const (
	SpiderEasy   = "easy"
	SpiderMedium = "medium"
	SpiderHard   = "hard"
	SpiderExtra  = "extra"
)

// SpiderHardness is the difficulty Spider's evaluation gives a query, from
// the parsed form of it dev.json carries ("sql"): it counts the clauses of
// the query (WHERE, GROUP BY, ORDER BY, LIMIT, each join, OR, LIKE), its
// nested queries (subqueries in conditions and set operations), and its
// other complexity (several aggregates, select columns, WHERE conditions
// or GROUP BY columns), and grades by the official rules. The counts
// follow the official script, quirks included (a negated condition counts
// as an aggregate, as does every element of HAVING), so that the levels
// match the ones published for Spider.
func SpiderHardness(sql any) string {
	t, ok := sql.(map[string]any)
	if !ok {
		return ""
	}
	c1, c2, others := spiderClauses(t), len(spiderNested(t)), spiderOthers(t)
	switch {
	case c1 <= 1 && others == 0 && c2 == 0:
		return SpiderEasy
	case (others <= 2 && c1 <= 1 && c2 == 0) || (c1 <= 2 && others < 2 && c2 == 0):
		return SpiderMedium
	case (others > 2 && c1 <= 2 && c2 == 0) || (c1 > 2 && c1 <= 3 && others <= 2 && c2 == 0) || (c1 <= 1 && others == 0 && c2 <= 1):
		return SpiderHard
	}
	return SpiderExtra
}

// spiderLike is the index of "like" in Spider's list of condition
// operators.
const spiderLike = 9

func spiderList(t map[string]any, key string) []any {
	l, _ := t[key].([]any)
	return l
}

// every returns l's elements from the first, every second one: the
// conditions of a condition list (the others are "and" or "or").
func every(l []any, first int) []any {
	var out []any
	for i := first; i < len(l); i += 2 {
		out = append(out, l[i])
	}
	return out
}

func spiderFrom(t map[string]any) map[string]any {
	f, _ := t["from"].(map[string]any)
	return f
}

// spiderClauses is the official count of a query's first kind of
// components.
func spiderClauses(t map[string]any) int {
	n := 0
	for _, k := range []string{"where", "groupBy", "orderBy"} {
		if len(spiderList(t, k)) > 0 {
			n++
		}
	}
	if t["limit"] != nil {
		n++
	}
	from := spiderFrom(t)
	if units := spiderList(from, "table_units"); len(units) > 0 {
		n += len(units) - 1
	}
	where, having := spiderList(t, "where"), spiderList(t, "having")
	for _, l := range [][]any{spiderList(from, "conds"), where, having} {
		for _, tok := range every(l, 1) {
			if tok == "or" {
				n++
			}
		}
	}
	for _, l := range [][]any{spiderList(from, "conds"), where, having} {
		for _, c := range every(l, 0) {
			if cu, ok := c.([]any); ok && len(cu) > 1 && cu[1] == float64(spiderLike) {
				n++
			}
		}
	}
	return n
}

// spiderNested are a query's nested queries: in conditions and set
// operations.
func spiderNested(t map[string]any) []any {
	var out []any
	for _, l := range [][]any{spiderList(spiderFrom(t), "conds"), spiderList(t, "where"), spiderList(t, "having")} {
		for _, c := range every(l, 0) {
			cu, ok := c.([]any)
			if !ok || len(cu) < 5 {
				continue
			}
			for _, v := range cu[3:5] {
				if _, ok := v.(map[string]any); ok {
					out = append(out, v)
				}
			}
		}
	}
	for _, k := range []string{"intersect", "except", "union"} {
		if t[k] != nil {
			out = append(out, t[k])
		}
	}
	return out
}

// spiderOthers is the official count of a query's other components.
func spiderOthers(t map[string]any) int {
	sel := spiderList(t, "select")
	var cols []any
	if len(sel) > 1 {
		cols, _ = sel[1].([]any)
	}
	aggs := spiderAggs(cols) + spiderAggs(every(spiderList(t, "where"), 0)) + spiderAggs(spiderList(t, "groupBy"))
	if ob := spiderList(t, "orderBy"); len(ob) > 1 {
		units, _ := ob[1].([]any)
		var cus []any
		for _, part := range []int{1, 2} {
			for _, u := range units {
				if vu, ok := u.([]any); ok && len(vu) > part && vu[part] != nil {
					cus = append(cus, vu[part])
				}
			}
		}
		aggs += spiderAggs(cus)
	}
	aggs += spiderAggs(spiderList(t, "having"))
	n := 0
	if aggs > 1 {
		n++
	}
	if len(cols) > 1 {
		n++
	}
	if len(spiderList(t, "where")) > 1 {
		n++
	}
	if len(spiderList(t, "groupBy")) > 1 {
		n++
	}
	return n
}

// spiderAggs counts the units whose first element is not "none" (0 or
// false), as the official script does for aggregates.
func spiderAggs(units []any) int {
	n := 0
	for _, u := range units {
		switch v := u.(type) {
		case []any:
			if len(v) > 0 && v[0] != float64(0) && v[0] != false {
				n++
			}
		case string: // "and" / "or" of HAVING: its first letter is not 0
			if v != "" {
				n++
			}
		}
	}
	return n
}
