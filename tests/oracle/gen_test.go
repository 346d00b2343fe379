package oracle

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// This file is the grammar-based query builder of the fuzz target: bytes
// choose among productions of a small SELECT grammar over the extended
// shop schema (shopx_test.go). Every choice reads one byte; when the bytes
// run out every choice is 0, and alternative 0 is always the simplest, so
// any input gives a finite query. The builder keeps track of the ranges in
// scope so that most queries are valid in PostgreSQL, and mixes in the
// spellings the guard must resolve exactly as PostgreSQL does: attribute
// notation (expr).f and t.f with functions and types as f, 2-, 3- and
// 4-part names, quoting and case variants, column alias lists on tables,
// joins, subqueries, functions and VALUES, CTE column lists, every join
// kind, nesting (scalar subqueries, correlated references, LATERAL,
// EXISTS, set operations), ORDER BY/GROUP BY/DISTINCT ON with output names
// that are also column or table names, whole-row references, functional
// notation col(t), and inheritance parents with and without ONLY.

type gcol struct{ name, typ string }

type gtable struct {
	schema, name string
	cols         []gcol
	inherits     bool // a parent: ONLY and * spellings apply
	view         bool
}

func cols(spec string) []gcol {
	var out []gcol
	for _, f := range strings.Fields(spec) {
		n, t, _ := strings.Cut(f, ":")
		out = append(out, gcol{n, t})
	}
	return out
}

// gtables is the schema the builder knows; the first is the default.
var gtables = []gtable{
	{schema: "public", name: "users", cols: cols("id:int email:text name:text created_at:ts password_hash:text ssn:text")},
	{schema: "public", name: "people", cols: cols("id:int name:text home:addr secret:text past:addrs")},
	{schema: "public", name: "accounts", cols: cols("id:int owner:text balance:num"), inherits: true},
	{schema: "public", name: "events", cols: cols("id:int kind:text at:date payload:text"), inherits: true},
	{schema: "public", name: "gadgets", cols: cols("id:int to_json:text text:text int4:int current_setting:text secret:text")},
	{schema: "public", name: "orders", cols: cols("id:int customer_id:int status:text order_date:ts shipped_at:ts total_amount:num currency:text region_id:int channel:text discount:num notes:text")},
	{schema: "public", name: "customers", cols: cols("id:int first_name:text last_name:text email:text country:text city:text signup_date:date segment:text is_active:bool metadata:jsonb region_id:int")},
	{schema: "public", name: "country", cols: cols("id:int country:text name:text")},
	{schema: "public", name: "Users", cols: cols("id:int Name:text email:text")},
	{schema: "sales", name: "orders", cols: cols("id:int region_id:int order_id:int booked_at:date amount:num rep:text")},
	{schema: "sales", name: "regions", cols: cols("id:int name:text country:text manager:text")},
	{schema: "public", name: "std_accounts", cols: cols("id:int owner:text balance:num tier:int")},
	{schema: "public", name: "vip_accounts", cols: cols("id:int owner:text balance:num perk:text")},
	{schema: "public", name: "events_web", cols: cols("id:int kind:text at:date payload:text")},
	{schema: "public", name: "events_app", cols: cols("id:int kind:text at:date payload:text")},
	{schema: "public", name: "products", cols: cols("id:int sku:text name:text category_id:int price:num cost:num attributes:jsonb tags:arr created_at:ts discontinued:bool")},
	{schema: "public", name: "order_items", cols: cols("id:int order_id:int product_id:int quantity:int unit_price:num discount:num")},
	{schema: "public", name: "payments", cols: cols("id:int order_id:int amount:num method:text status:text paid_at:ts provider_ref:text")},
	{schema: "public", name: "categories", cols: cols("id:int name:text parent_id:int")},
	{schema: "public", name: "api_keys", cols: cols("id:int user_id:int key:text created_at:ts revoked_at:ts")},
	{schema: "public", name: "user_directory", cols: cols("id:int email:text name:text created_at:ts password_hash:text ssn:text"), view: true},
}

var addrFields = []string{"street", "city", "zip"}

// names used for aliases and output names: short ones, and ones that are
// also table, column or function names.
var aliasNames = []string{"u", "t", "x", "s", "j", "U", "users", "id", "name", "o", "p", "ssn", "to_json", "Users", "c"}

// attrNames are field names that are functions or types when they are not
// columns: t.f and (expr).f call them.
var attrNames = []string{"to_json", "text", "length", "upper", "to_jsonb", "row_to_json", "int4", "name", "md5",
	"current_setting", "pg_sleep", "pg_advisory_lock", "ts_stat", "lower", "json_typeof", "num_nulls"}

// rng is a range in scope.
type rng struct {
	name  string   // the name it is referenced by, as stored
	short string   // its one-part spelling (whole-row and (r).f forms need one part)
	quals []string // spellings that qualify its columns ("u", "\"U\"", "public.users"…)
	cols  []gcol
	table *gtable // the relation, when the range is a relation without alias list
	base  bool    // a relation (system columns exist)
}

type cte struct {
	name string
	cols []gcol
}

type scope struct {
	rs   []*rng
	up   *scope
	ctes []cte
}

func (s *scope) allCTEs() []cte {
	var out []cte
	for ; s != nil; s = s.up {
		out = append(out, s.ctes...)
	}
	return out
}

type gen struct {
	data  []byte
	pos   int
	db    string
	depth int
	seq   int
}

// generate builds the query data describes. db is the database name, for
// three- and four-part names.
func generate(data []byte, db string) string {
	g := &gen{data: data, db: db}
	return g.query(nil, false)
}

// seedInput returns the deterministic input number i: a generator input
// (first byte not 0) of pseudo-random bytes.
func seedInput(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 0x6f7261636c65))
	b := make([]byte, 64+r.IntN(192))
	for k := range b {
		b[k] = byte(r.UintN(256))
	}
	b[0] = byte(1 + i%255)
	return b
}

// n chooses among k alternatives.
func (g *gen) n(k int) int {
	if k <= 1 || g.pos >= len(g.data) {
		return 0
	}
	v := int(g.data[g.pos])
	g.pos++
	return v % k
}

// p is true with about pct percent.
func (g *gen) p(pct int) bool { return g.n(100) >= 100-pct }

func pick[T any](g *gen, xs []T) T { return xs[g.n(len(xs))] }

func qi(s string) string { return quoteIdent(s) }

// spellName writes a stored name: quoted or not, and, for a lower-case
// name, sometimes in upper case (which folds back).
func (g *gen) spellName(s string) string {
	q := qi(s)
	switch g.n(4) {
	case 1:
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	case 2:
		if q == s {
			return strings.ToUpper(s)
		}
	case 3:
		if g.p(30) {
			// A wrong spelling: the other case, quoted (names differ).
			if s == strings.ToLower(s) {
				return `"` + strings.ToUpper(s[:1]) + s[1:] + `"`
			}
			return strings.ToLower(s)
		}
	}
	return q
}

func (g *gen) alias(used map[string]bool) string {
	a := pick(g, aliasNames)
	for used[a] {
		g.seq++
		a = fmt.Sprintf("%s%d", strings.ToLower(a), g.seq)
	}
	used[a] = true
	return a
}

// query: [WITH …] core [setop core] [ORDER BY] [LIMIT].
func (g *gen) query(up *scope, oneText bool) string {
	g.depth++
	defer func() { g.depth-- }()
	sc := &scope{up: up}
	var b strings.Builder
	if g.depth <= 2 && g.p(20) {
		b.WriteString(g.with(sc))
	}
	if !oneText && g.depth <= 2 && g.p(12) {
		l, _ := g.core(sc, true)
		r, _ := g.core(sc, true)
		op := pick(g, []string{"UNION", "UNION ALL", "INTERSECT", "EXCEPT", "EXCEPT ALL"})
		b.WriteString("(" + l + ") " + op + " (" + r + ")")
		if g.p(40) {
			b.WriteString(" ORDER BY " + pick(g, []string{"1", "c", "1 DESC"}))
		}
		return b.String()
	}
	core, _ := g.core(sc, oneText)
	b.WriteString(core)
	return b.String()
}

func (g *gen) with(sc *scope) string {
	var parts []string
	recursive := false
	for k := 0; k <= g.n(2); k++ {
		name := pick(g, []string{"c", "users", "w", "u", "orders"})
		if k > 0 {
			name += fmt.Sprint(k)
		}
		if g.p(10) {
			recursive = true
			parts = append(parts, qi(name)+"(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM "+qi(name)+" WHERE n < 3)")
			sc.ctes = append(sc.ctes, cte{name, []gcol{{"n", "int"}}})
			continue
		}
		g.depth++
		body, outs := g.core(&scope{up: sc.up, ctes: sc.ctes}, false)
		g.depth--
		def := qi(name)
		if g.p(40) {
			outs = g.renameList(outs, &def)
		}
		mat := pick(g, []string{"", "", "MATERIALIZED ", "NOT MATERIALIZED "})
		parts = append(parts, def+" AS "+mat+"("+body+")")
		sc.ctes = append(sc.ctes, cte{name, outs})
	}
	kw := "WITH "
	if recursive {
		kw = "WITH RECURSIVE "
	}
	return kw + strings.Join(parts, ", ") + " "
}

// renameList appends a column alias list to *def renaming some leading
// columns, and returns the renamed columns.
func (g *gen) renameList(in []gcol, def *string) []gcol {
	if len(in) == 0 {
		return in
	}
	out := append([]gcol(nil), in...)
	k := 1 + g.n(len(in))
	var names []string
	used := map[string]bool{}
	for i := 0; i < k; i++ {
		n := pick(g, []string{"a", "b", "id", "name", "ssn", "to_json", "email", "x", "U", "secret", "text"})
		for used[n] {
			n += "_"
		}
		used[n] = true
		names = append(names, qi(n))
		out[i].name = n
	}
	*def += "(" + strings.Join(names, ", ") + ")"
	return out
}

// core: SELECT … [FROM …] [WHERE] [GROUP BY] [HAVING] [ORDER BY] [LIMIT].
// oneText makes a single column c of type text (set operation arms).
func (g *gen) core(up *scope, oneText bool) (string, []gcol) {
	sc := &scope{up: up, ctes: nil}
	var from []string
	if !(g.depth > 1 && g.p(10)) {
		used := map[string]bool{}
		for k := 0; k <= g.n(3)/2; k++ {
			item := g.fromItem(sc, used, k > 0)
			from = append(from, item)
		}
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	var outs []gcol
	var targets, outNames []string
	grouped := !oneText && len(sc.rs) > 0 && g.p(20)
	var groupRefs []string
	distinctOn := ""
	switch {
	case oneText:
		targets = []string{"(" + g.expr(sc, false) + ")::text AS c"}
		outs = []gcol{{"c", "text"}}
	case grouped:
		for k := 0; k <= g.n(2); k++ {
			ref, typ := g.colRef(sc, true)
			groupRefs = append(groupRefs, ref)
			name := ""
			if g.p(50) {
				name = pick(g, aliasNames)
			}
			t := ref
			if name != "" {
				t += " AS " + qi(name)
				outNames = append(outNames, qi(name))
			}
			targets = append(targets, t)
			outs = append(outs, gcol{orName(name, ref), typ})
		}
		agg := pick(g, []string{"count(*)", "max(%s::text)", "count(DISTINCT %s)", "string_agg(%s::text, ',')", "json_agg(%s)"})
		if strings.Contains(agg, "%s") {
			ref, _ := g.colRef(sc, g.p(70))
			agg = fmt.Sprintf(agg, ref)
		}
		name := pick(g, aliasNames)
		targets = append(targets, agg+" AS "+qi(name))
		outNames = append(outNames, qi(name))
		outs = append(outs, gcol{name, "text"})
	default:
		if len(sc.rs) > 0 && g.p(15) {
			d, _ := g.colRef(sc, true)
			distinctOn = d
			b.WriteString("DISTINCT ON (" + d + ") ")
		} else if g.p(10) {
			b.WriteString("DISTINCT ")
		}
		for k := 0; k <= g.n(3); k++ {
			switch {
			case len(sc.rs) > 0 && g.p(12):
				targets = append(targets, "*")
				for _, r := range sc.rs {
					outs = append(outs, r.cols...)
				}
			case len(sc.rs) > 0 && g.p(10):
				r := pick(g, sc.rs)
				targets = append(targets, pick(g, r.quals)+".*")
				outs = append(outs, r.cols...)
			default:
				e := g.expr(sc, true)
				name := ""
				if g.depth > 1 || g.p(60) {
					name = pick(g, aliasNames)
				}
				if name != "" {
					e += " AS " + qi(name)
					outNames = append(outNames, qi(name))
				}
				targets = append(targets, e)
				outs = append(outs, gcol{orName(name, "?column?"), "text"})
			}
		}
	}
	b.WriteString(strings.Join(targets, ", "))
	if len(from) > 0 {
		b.WriteString(" FROM " + strings.Join(from, ", "))
	}
	switch {
	case len(from) > 1 && g.p(85):
		// A join condition between the items (a product of tables without
		// one is refused as too expensive).
		w := g.refIn(sc.rs[:1]) + "::text = " + g.refIn(sc.rs[len(sc.rs)-1:]) + "::text"
		if g.p(30) {
			w += " AND " + g.cond(sc)
		}
		b.WriteString(" WHERE " + w)
	case len(sc.rs) > 0 && g.p(40):
		b.WriteString(" WHERE " + g.cond(sc))
	}
	if grouped {
		var items []string
		for i, r := range groupRefs {
			switch g.n(4) {
			case 1:
				items = append(items, fmt.Sprint(i+1))
			case 2:
				if i < len(outNames) {
					items = append(items, outNames[i]) // an output name: input columns win in GROUP BY
					continue
				}
				items = append(items, r)
			default:
				items = append(items, r)
			}
		}
		b.WriteString(" GROUP BY " + strings.Join(items, ", "))
		if g.p(25) {
			b.WriteString(" HAVING count(*) > " + fmt.Sprint(g.n(3)))
		}
	}
	if !oneText && g.p(35) {
		var items []string
		if distinctOn != "" {
			items = append(items, distinctOn)
		}
		for k := 0; k <= g.n(2); k++ {
			switch g.n(4) {
			case 1:
				items = append(items, fmt.Sprint(1+g.n(len(targets))))
			case 2:
				if len(outNames) > 0 {
					items = append(items, pick(g, outNames)) // output names win in ORDER BY
					continue
				}
				fallthrough
			default:
				if len(sc.rs) > 0 && !grouped && distinctOn == "" && !strings.HasPrefix(b.String(), "SELECT DISTINCT ") {
					ref, _ := g.colRef(sc, true)
					items = append(items, ref+pick(g, []string{"", " DESC", " NULLS FIRST"}))
				} else {
					items = append(items, "1")
				}
			}
		}
		b.WriteString(" ORDER BY " + strings.Join(items, ", "))
	} else if distinctOn != "" {
		b.WriteString(" ORDER BY " + distinctOn)
	}
	if g.p(20) {
		b.WriteString(" LIMIT " + fmt.Sprint(1+g.n(10)))
	}
	return b.String(), outs
}

func orName(name, def string) string {
	if name != "" {
		return name
	}
	if i := strings.LastIndexByte(def, '.'); i >= 0 {
		return strings.Trim(def[i+1:], `"`)
	}
	return def
}

// fromItem adds one FROM item's ranges to sc and returns its text.
func (g *gen) fromItem(sc *scope, used map[string]bool, later bool) string {
	if g.depth > 3 {
		return g.tableItem(sc, used)
	}
	switch g.n(12) {
	case 1, 2:
		return g.joinItem(sc, used)
	case 3:
		return g.subqueryItem(sc, used, false)
	case 4:
		if later {
			return g.subqueryItem(sc, used, true)
		}
	case 5:
		return g.functionItem(sc, used, later)
	case 6:
		return g.valuesItem(sc, used)
	case 7:
		if ctes := sc.allCTEs(); len(ctes) > 0 {
			c := pick(g, ctes)
			r := &rng{name: c.name, short: qi(c.name), quals: []string{qi(c.name)}, cols: c.cols}
			text := g.spellName(c.name)
			if g.p(50) {
				a := g.alias(used)
				r = &rng{name: a, short: qi(a), quals: []string{qi(a)}, cols: c.cols}
				text += " AS " + qi(a)
				if g.p(40) {
					r.cols = g.renameList(c.cols, &text)
				}
			}
			sc.rs = append(sc.rs, r)
			return text
		}
	case 8:
		return g.parenJoinItem(sc, used)
	}
	return g.tableItem(sc, used)
}

func (g *gen) tableItem(sc *scope, used map[string]bool) string {
	t := &gtables[0]
	if g.p(85) {
		t = &gtables[g.n(len(gtables))]
	}
	var text string
	quals := []string{qi(t.name)}
	schemaQ := qi(t.schema) + "." + qi(t.name)
	switch g.n(6) {
	case 1:
		text = schemaQ
		quals = []string{schemaQ, qi(t.name)}
	case 2:
		text = qi(g.db) + "." + schemaQ
		quals = []string{schemaQ, qi(t.name), qi(g.db) + "." + schemaQ}
	case 3:
		text = g.spellName(t.name)
	default:
		text = qi(t.name)
	}
	if t.schema != "public" && !strings.Contains(text, ".") {
		text = schemaQ
		quals = []string{schemaQ, qi(t.name)}
	}
	if t.inherits {
		switch g.n(3) {
		case 1:
			text = "ONLY " + text
		case 2:
			text += " *"
		}
	}
	r := &rng{name: t.name, short: qi(t.name), quals: quals, cols: t.cols, table: t, base: !t.view}
	if used[t.name] || g.p(55) {
		a := g.alias(used)
		text += " AS " + g.aliasSpelling(a)
		r = &rng{name: a, short: qi(a), quals: []string{qi(a)}, cols: t.cols, base: !t.view}
		if g.p(25) {
			r.cols = g.renameList(t.cols, &text)
		} else {
			r.table = t
		}
	} else {
		used[t.name] = true
	}
	sc.rs = append(sc.rs, r)
	return text
}

// aliasSpelling writes an alias at its definition: as it is stored, or a
// spelling that folds to it.
func (g *gen) aliasSpelling(a string) string {
	if qi(a) == a && g.p(20) {
		return strings.ToUpper(a)
	}
	return qi(a)
}

func (g *gen) subqueryItem(sc *scope, used map[string]bool, lateral bool) string {
	var body string
	var outs []gcol
	if lateral {
		// The subquery may reference the items to its left.
		body, outs = g.core(sc, false)
	} else {
		body, outs = g.core(sc.up, false)
	}
	a := g.alias(used)
	text := "(" + body + ") AS " + qi(a)
	if lateral {
		text = "LATERAL " + text
	}
	r := &rng{name: a, short: qi(a), quals: []string{qi(a)}, cols: outs}
	if g.p(40) {
		r.cols = g.renameList(outs, &text)
	}
	sc.rs = append(sc.rs, r)
	return text
}

func (g *gen) functionItem(sc *scope, used map[string]bool, later bool) string {
	a := g.alias(used)
	var text string
	var outs []gcol
	switch g.n(5) {
	case 1:
		text = "unnest(ARRAY['a', 'b']) WITH ORDINALITY AS " + qi(a)
		outs = []gcol{{"unnest", "text"}, {"ordinality", "int"}}
	case 2:
		if later && len(sc.rs) > 0 {
			// A function of a row to the left: reads the whole row.
			r := pick(g, sc.rs)
			f := pick(g, []string{"to_json", "row_to_json", "to_jsonb"})
			text = f + "(" + r.short + ") AS " + qi(a)
			outs = []gcol{{a, "json"}}
			break
		}
		fallthrough
	case 3:
		if later && len(sc.rs) > 0 {
			ref, _ := g.colRef(sc, true)
			text = "jsonb_each_text(to_jsonb(" + ref + ")) AS " + qi(a)
			outs = []gcol{{"key", "text"}, {"value", "text"}}
			break
		}
		fallthrough
	default:
		text = "generate_series(1, 3) AS " + qi(a)
		outs = []gcol{{a, "int"}}
	}
	r := &rng{name: a, short: qi(a), quals: []string{qi(a)}, cols: outs}
	if g.p(50) {
		r.cols = g.renameList(outs, &text)
	}
	sc.rs = append(sc.rs, r)
	return text
}

func (g *gen) valuesItem(sc *scope, used map[string]bool) string {
	a := g.alias(used)
	text := "(VALUES (1, 'a'), (2, 'b')) AS " + qi(a)
	r := &rng{name: a, short: qi(a), quals: []string{qi(a)}, cols: []gcol{{"column1", "int"}, {"column2", "text"}}}
	if g.p(70) {
		r.cols = g.renameList(r.cols, &text)
	}
	sc.rs = append(sc.rs, r)
	return text
}

// joinItem: left JOIN right with every join kind; the members stay in
// scope (and a USING … AS j alias is added).
func (g *gen) joinItem(sc *scope, used map[string]bool) string {
	text, _ := g.join(sc, used)
	return text
}

// join returns the join's text and its output columns.
func (g *gen) join(sc *scope, used map[string]bool) (string, []gcol) {
	before := len(sc.rs)
	l := g.tableItemOrSub(sc, used)
	mid := len(sc.rs)
	r := g.tableItemOrSub(sc, used)
	left := colsOf(sc.rs[before:mid])
	right := colsOf(sc.rs[mid:])
	common := commonNames(left, right)
	kind := pick(g, []string{"JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "CROSS JOIN", "NATURAL JOIN",
		"JOIN", "LEFT JOIN", "NATURAL LEFT JOIN", "INNER JOIN"})
	var text string
	var outs []gcol
	switch {
	case strings.HasPrefix(kind, "NATURAL"):
		text = l + " " + kind + " " + r
		outs = merged(left, right, common)
	case kind == "CROSS JOIN":
		text = l + " CROSS JOIN " + r
		outs = append(append([]gcol(nil), left...), right...)
	case len(common) > 0 && g.p(40):
		k := 1 + g.n(len(common))
		names := make([]string, k)
		for i := range names {
			names[i] = qi(common[i])
		}
		text = l + " " + kind + " " + r + " USING (" + strings.Join(names, ", ") + ")"
		outs = merged(left, right, common[:k])
		if g.p(40) {
			a := g.alias(used)
			text += " AS " + qi(a)
			var jc []gcol
			for _, n := range common[:k] {
				jc = append(jc, gcol{n, "text"})
			}
			sc.rs = append(sc.rs, &rng{name: a, short: qi(a), quals: []string{qi(a)}, cols: jc})
		}
	default:
		var cond string
		if strings.HasPrefix(kind, "FULL") || g.p(60) {
			// FULL JOIN needs a hash- or merge-joinable condition.
			cond = g.refIn(sc.rs[before:mid]) + "::text = " + g.refIn(sc.rs[mid:]) + "::text"
		} else {
			cond = g.cond(sc)
		}
		text = l + " " + kind + " " + r + " ON " + cond
		outs = append(append([]gcol(nil), left...), right...)
	}
	return text, outs
}

func (g *gen) tableItemOrSub(sc *scope, used map[string]bool) string {
	if g.depth <= 2 && g.p(15) {
		return g.subqueryItem(sc, used, false)
	}
	return g.tableItem(sc, used)
}

// parenJoinItem: (a JOIN b …) AS j[(names)]: only j is in scope.
func (g *gen) parenJoinItem(sc *scope, used map[string]bool) string {
	inner := &scope{up: sc.up, ctes: sc.ctes}
	text, outs := g.join(inner, used)
	a := g.alias(used)
	text = "(" + text + ") AS " + qi(a)
	if g.p(60) {
		outs = g.renameList(outs, &text)
	}
	sc.rs = append(sc.rs, &rng{name: a, short: qi(a), quals: []string{qi(a)}, cols: outs})
	return text
}

// unique says whether exactly one range of rs has a column name.
func unique(rs []*rng, name string) bool {
	n := 0
	for _, r := range rs {
		for _, c := range r.cols {
			if c.name == name {
				n++
			}
		}
	}
	return n == 1
}

func colsOf(rs []*rng) []gcol {
	var out []gcol
	for _, r := range rs {
		out = append(out, r.cols...)
	}
	return out
}

func commonNames(l, r []gcol) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range l {
		for _, b := range r {
			if a.name == b.name && !seen[a.name] {
				seen[a.name] = true
				out = append(out, a.name)
			}
		}
	}
	return out
}

func merged(l, r []gcol, common []string) []gcol {
	is := map[string]bool{}
	var out []gcol
	for _, c := range common {
		is[c] = true
		out = append(out, gcol{c, "text"})
	}
	for _, c := range append(append([]gcol(nil), l...), r...) {
		if !is[c.name] {
			out = append(out, c)
		}
	}
	return out
}

// refIn is a qualified reference to a column of one of rs.
func (g *gen) refIn(rs []*rng) string {
	if len(rs) == 0 {
		return "1"
	}
	r := pick(g, rs)
	if len(r.cols) == 0 {
		return "1"
	}
	return pick(g, r.quals) + "." + qi(pick(g, r.cols).name)
}

// colRef references a column (or whole row, or field) of a range in scope
// or an outer scope. plain restricts it to forms usable as GROUP BY keys.
func (g *gen) colRef(sc *scope, plain bool) (string, string) {
	s := sc
	for s.up != nil && len(s.up.rs) > 0 && g.p(15) {
		s = s.up // a correlated or outer reference
	}
	if len(s.rs) == 0 {
		return "1", "int"
	}
	r := pick(g, s.rs)
	if len(r.cols) == 0 {
		return pick(g, r.quals), "record"
	}
	c := pick(g, r.cols)
	q := pick(g, r.quals)
	sq := r.short
	col := qi(c.name)
	mode := 0
	if !plain || g.p(30) {
		mode = g.n(14)
	}
	switch mode {
	case 1:
		if unique(s.rs, c.name) {
			return g.spellName(c.name), c.typ
		}
	case 2:
		return "(" + sq + ")." + col, c.typ
	case 3:
		if r.table != nil && r.name == r.table.name {
			sq := qi(r.table.schema) + "." + qi(r.table.name)
			if g.p(50) {
				return sq + "." + col, c.typ
			}
			return qi(g.db) + "." + sq + "." + col, c.typ
		}
	case 4:
		return col + "(" + sq + ")", c.typ // functional notation: a column of the range
	case 5:
		for _, cc := range r.cols {
			if cc.typ == "addr" {
				switch g.n(3) {
				case 0:
					return "(" + q + "." + qi(cc.name) + ")." + pick(g, addrFields), "text"
				case 1:
					return "(" + q + "." + qi(cc.name) + ").*", "addr"
				default:
					return "(" + q + "." + qi(cc.name) + ")." + pick(g, attrNames), "text"
				}
			}
			if cc.typ == "addrs" {
				return "(" + q + "." + qi(cc.name) + ")[1]." + pick(g, addrFields), "text"
			}
		}
	case 6:
		if r.base {
			return q + "." + pick(g, []string{"ctid", "tableoid", "xmin"}), "text"
		}
	case 7:
		// A spelling PostgreSQL may not resolve, or resolves elsewhere.
		return g.spellName(r.name) + "." + g.spellName(c.name), c.typ
	case 8:
		return q + "." + pick(g, attrNames), "text" // t.f where f is not a column: f(t)
	case 9:
		// A whole-row reference.
		return fmt.Sprintf(pick(g, []string{"%s", "%s.*", "to_json(%s)", "row_to_json(%s)", "(%s)::text", "%s IS NULL", "count(%s) OVER ()"}), sq), "record"
	case 10:
		if len(s.rs) > 1 {
			// A name shared by several ranges: ambiguous or merged.
			return col, c.typ
		}
	}
	return q + "." + col, c.typ
}

func (g *gen) expr(sc *scope, window bool) string {
	if g.depth > 4 {
		ref, _ := g.colRef(sc, false)
		return ref
	}
	switch g.n(10) {
	case 1:
		return pick(g, []string{"1", "'a'", "NULL", "now()", "2.5"})
	case 2:
		ref, _ := g.colRef(sc, false)
		return fmt.Sprintf(pick(g, []string{"coalesce(%s::text, '')", "length(%s::text)", "lower(%s::text)",
			"to_json(%s)", "(%s) IS NULL", "md5(%s::text)", "%s::text || 'x'"}), ref)
	case 3:
		return "(" + g.scalarSub(sc) + ")"
	case 4:
		return "CASE WHEN " + g.cond(sc) + " THEN " + g.expr(sc, false) + "::text ELSE 'x' END"
	case 5:
		// Attribute notation on an expression.
		ref, _ := g.colRef(sc, false)
		return pick(g, []string{
			"(" + ref + "::text)." + pick(g, attrNames),
			"(" + ref + ")." + pick(g, attrNames),
			"('server_version'::text).current_setting",
			"(0.0::float8).pg_sleep",
			"(4242::int8).pg_advisory_lock",
		})
	case 6:
		if window {
			ref, _ := g.colRef(sc, true)
			ref2, _ := g.colRef(sc, true)
			return pick(g, []string{"row_number()", "count(*)", "rank()"}) + " OVER (PARTITION BY " + ref + " ORDER BY " + ref2 + ")"
		}
	case 7:
		if len(sc.rs) > 0 {
			r := pick(g, sc.rs)
			return fmt.Sprintf(pick(g, []string{"to_json(%s)", "%s", "row_to_json(%s)", "(%s)::text", "count(%s) OVER ()"}), r.short)
		}
	}
	ref, _ := g.colRef(sc, false)
	return ref
}

func (g *gen) scalarSub(sc *scope) string {
	g.depth++
	defer func() { g.depth-- }()
	inner := &scope{up: sc}
	used := map[string]bool{}
	from := g.fromItem(inner, used, false)
	e := g.expr(inner, false)
	if g.p(50) {
		e = "max((" + e + ")::text)"
	}
	q := "SELECT " + e + " FROM " + from
	if g.p(60) {
		q += " WHERE " + g.cond(inner)
	}
	return q + " LIMIT 1"
}

func (g *gen) cond(sc *scope) string {
	if g.depth > 4 {
		ref, _ := g.colRef(sc, false)
		return ref + " IS NOT NULL"
	}
	switch g.n(8) {
	case 1:
		ref, _ := g.colRef(sc, false)
		return ref + "::text = " + pick(g, []string{"'a'", "'web'", "'1'"})
	case 2:
		a, _ := g.colRef(sc, false)
		b, _ := g.colRef(sc, false)
		return a + "::text < " + b + "::text"
	case 3:
		return "EXISTS (" + g.scalarSub(sc) + ")"
	case 4:
		ref, _ := g.colRef(sc, false)
		return ref + "::text IN (" + g.inSub(sc) + ")"
	case 5:
		return "(" + g.cond(sc) + " AND " + g.cond(sc) + ")"
	case 6:
		return "NOT (" + g.cond(sc) + ")"
	}
	ref, _ := g.colRef(sc, false)
	return ref + " IS NOT NULL"
}

func (g *gen) inSub(sc *scope) string {
	g.depth++
	defer func() { g.depth-- }()
	inner := &scope{up: sc}
	from := g.fromItem(inner, map[string]bool{}, false)
	ref, _ := g.colRef(inner, false)
	return "SELECT " + ref + "::text FROM " + from
}
