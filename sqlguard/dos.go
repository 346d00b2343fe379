package sqlguard

import (
	"math"
	"strconv"
	"strings"
	"time"

	pg "github.com/pganalyze/pg_query_go/v5"
)

// Cheap resource heuristics. They look only at constants written in the
// query; anything computed at run time is left to statement_timeout, the
// memory limits and the row cap of the executor.

// maxFactorialArg: factorial(20000) already takes about 0.4 s.
const maxFactorialArg = 1000

// smallSeries: a constant series at most this long does not count as a
// "big" input of a cross join.
const smallSeries = 1000

// positionalArgs returns the arguments of a call, or nil when any of them is
// named (the heuristics then give up; named calls of these functions fail on
// the server anyway).
func positionalArgs(n *pg.FuncCall) []*pg.Node {
	for _, a := range n.Args {
		if a.GetNamedArgExpr() != nil {
			return nil
		}
	}
	return n.Args
}

// constNum evaluates a constant numeric expression: literals, casts of
// literals to numeric types, unary minus, + - * / ^ and power().
func constNum(n *pg.Node) (float64, bool) {
	v, ok := constNum1(n, 0)
	if !ok || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

func constNum1(n *pg.Node, depth int) (float64, bool) {
	if n == nil || depth > 32 {
		return 0, false
	}
	switch x := n.Node.(type) {
	case *pg.Node_AConst:
		c := x.AConst
		if c == nil || c.Isnull {
			return 0, false
		}
		switch v := c.Val.(type) {
		case *pg.A_Const_Ival:
			if v.Ival == nil {
				return 0, true
			}
			return float64(v.Ival.Ival), true
		case *pg.A_Const_Fval:
			if v.Fval == nil {
				return 0, false
			}
			f, err := strconv.ParseFloat(v.Fval.Fval, 64)
			return f, err == nil || isRangeErr(err)
		case *pg.A_Const_Sval:
			if v.Sval == nil {
				return 0, false
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v.Sval.Sval), 64)
			return f, err == nil || isRangeErr(err)
		}
	case *pg.Node_TypeCast:
		if x.TypeCast == nil || !numericType(x.TypeCast.TypeName) {
			return 0, false
		}
		return constNum1(x.TypeCast.Arg, depth+1)
	case *pg.Node_AExpr:
		e := x.AExpr
		if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP || len(e.Name) != 1 {
			return 0, false
		}
		op := e.Name[0].GetString_().GetSval()
		r, ok := constNum1(e.Rexpr, depth+1)
		if !ok {
			return 0, false
		}
		if e.Lexpr == nil {
			switch op {
			case "-":
				return -r, true
			case "+":
				return r, true
			}
			return 0, false
		}
		l, ok := constNum1(e.Lexpr, depth+1)
		if !ok {
			return 0, false
		}
		switch op {
		case "+":
			return l + r, true
		case "-":
			return l - r, true
		case "*":
			return l * r, true
		case "/":
			if r == 0 {
				return 0, false
			}
			return l / r, true
		case "^":
			return math.Pow(l, r), true
		}
	case *pg.Node_FuncCall:
		f := x.FuncCall
		if name, ok := funcName(f); ok && (name == "power" || name == "pow") && len(f.Args) == 2 {
			l, ok1 := constNum1(f.Args[0], depth+1)
			r, ok2 := constNum1(f.Args[1], depth+1)
			if ok1 && ok2 {
				return math.Pow(l, r), true
			}
		}
	}
	return 0, false
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// typeName returns the last name of a TypeName (its unqualified name).
func typeName(t *pg.TypeName) string {
	if t == nil || len(t.Names) == 0 {
		return ""
	}
	return t.Names[len(t.Names)-1].GetString_().GetSval()
}

func numericType(t *pg.TypeName) bool {
	if t == nil || len(t.ArrayBounds) > 0 {
		return false
	}
	switch typeName(t) {
	case "int2", "int4", "int8", "numeric", "float4", "float8":
		return true
	}
	return false
}

// constString returns the value of a string literal, possibly cast.
func constString(n *pg.Node) (string, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		n = tc.Arg
	}
	c := n.GetAConst()
	if c == nil || c.Isnull {
		return "", false
	}
	if s, ok := c.Val.(*pg.A_Const_Sval); ok && s.Sval != nil {
		return s.Sval.Sval, true
	}
	return "", false
}

// constTime evaluates a date/timestamp literal: date '…', '…'::timestamp,
// or a bare string (an untyped argument next to an interval step).
func constTime(n *pg.Node) (time.Time, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		switch typeName(tc.TypeName) {
		case "date", "timestamp", "timestamptz":
		default:
			return time.Time{}, false
		}
	}
	s, ok := constString(n)
	if !ok {
		return time.Time{}, false
	}
	s = strings.TrimSpace(s)
	for _, layout := range []string{
		"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05",
		"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05Z07",
		"2006-01-02T15:04:05Z07:00",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// intervalUnits are approximate lengths in seconds.
var intervalUnits = map[string]float64{
	"microsecond": 1e-6, "microseconds": 1e-6, "us": 1e-6, "usec": 1e-6, "usecs": 1e-6,
	"millisecond": 1e-3, "milliseconds": 1e-3, "ms": 1e-3, "msec": 1e-3, "msecs": 1e-3,
	"second": 1, "seconds": 1, "sec": 1, "secs": 1, "s": 1,
	"minute": 60, "minutes": 60, "min": 60, "mins": 60, "m": 60,
	"hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "h": 3600,
	"day": 86400, "days": 86400, "d": 86400,
	"week": 7 * 86400, "weeks": 7 * 86400, "w": 7 * 86400,
	"month": 30 * 86400, "months": 30 * 86400, "mon": 30 * 86400, "mons": 30 * 86400,
	"year": 365.25 * 86400, "years": 365.25 * 86400, "yr": 365.25 * 86400, "yrs": 365.25 * 86400, "y": 365.25 * 86400,
	"decade": 3652.5 * 86400, "decades": 3652.5 * 86400,
	"century": 36525 * 86400, "centuries": 36525 * 86400,
	"millennium": 365250 * 86400, "millennia": 365250 * 86400,
}

// constInterval evaluates an interval literal ('1 day', interval '15
// minutes', '01:00:00') to seconds.
func constInterval(n *pg.Node) (float64, bool) {
	if tc := n.GetTypeCast(); tc != nil && typeName(tc.TypeName) != "interval" {
		return 0, false
	}
	s, ok := constString(n)
	if !ok {
		return 0, false
	}
	return parseInterval(s)
}

func parseInterval(s string) (float64, bool) {
	f := strings.Fields(strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "@")))
	if len(f) == 0 {
		return 0, false
	}
	sign := 1.0
	if f[len(f)-1] == "ago" {
		sign, f = -1, f[:len(f)-1]
	}
	total := 0.0
	for i := 0; i < len(f); i++ {
		tok := f[i]
		if strings.Contains(tok, ":") { // [-]HH:MM[:SS]
			neg := strings.HasPrefix(tok, "-")
			parts := strings.Split(strings.TrimLeft(tok, "+-"), ":")
			if len(parts) > 3 {
				return 0, false
			}
			sec, mult := 0.0, 3600.0
			for _, p := range parts {
				v, err := strconv.ParseFloat(p, 64)
				if err != nil {
					return 0, false
				}
				sec += v * mult
				mult /= 60
			}
			if neg {
				sec = -sec
			}
			total += sec
			continue
		}
		v, err := strconv.ParseFloat(tok, 64)
		unit := ""
		if err != nil { // "10days"
			j := strings.IndexFunc(tok, func(r rune) bool { return r >= 'a' && r <= 'z' })
			if j <= 0 {
				return 0, false
			}
			if v, err = strconv.ParseFloat(tok[:j], 64); err != nil {
				return 0, false
			}
			unit = tok[j:]
		} else if i+1 < len(f) {
			if _, isNum := strconv.ParseFloat(f[i+1], 64); isNum != nil && !strings.Contains(f[i+1], ":") {
				i++
				unit = f[i]
			}
		}
		mult := 1.0
		if unit != "" {
			m, ok := intervalUnits[unit]
			if !ok {
				return 0, false
			}
			mult = m
		}
		total += v * mult
	}
	return sign * total, true
}

// seriesSpan returns the number of rows a generate_series call produces,
// when its bounds (and step) are constants.
func seriesSpan(n *pg.FuncCall) (float64, bool) {
	args := positionalArgs(n)
	if len(args) != 2 && len(args) != 3 {
		return 0, false
	}
	if a, ok := constNum(args[0]); ok {
		b, ok := constNum(args[1])
		if !ok {
			return 0, false
		}
		step := 1.0
		if len(args) == 3 {
			if step, ok = constNum(args[2]); !ok || step == 0 {
				return 0, false
			}
		}
		span := math.Floor((b-a)/step) + 1
		return math.Max(span, 0), true
	}
	if len(args) != 3 {
		return 0, false
	}
	ta, ok1 := constTime(args[0])
	tb, ok2 := constTime(args[1])
	step, ok3 := constInterval(args[2])
	if !ok1 || !ok2 || !ok3 || step == 0 {
		return 0, false
	}
	span := math.Floor(tb.Sub(ta).Seconds()/step) + 1
	return math.Max(span, 0), true
}

func checkSeries(w *walker, n *pg.FuncCall) {
	if span, ok := seriesSpan(n); ok && span > w.c.maxSeriesRows {
		w.fail(CodeResourceLimit, n.Location, "generate_series would produce more than "+
			strconv.FormatFloat(w.c.maxSeriesRows, 'f', -1, 64)+" rows")
	}
}

func checkRepeat(w *walker, n *pg.FuncCall) {
	args := positionalArgs(n)
	if len(args) != 2 {
		return
	}
	count, ok := constNum(args[1])
	if !ok {
		return
	}
	size := count
	if s, ok := constString(args[0]); ok {
		size = count * float64(max(len(s), 1))
	}
	if size > w.c.maxStringBytes {
		w.fail(CodeResourceLimit, n.Location, "repeat would build a string longer than "+
			strconv.FormatFloat(w.c.maxStringBytes, 'f', -1, 64)+" bytes")
	}
}

func checkPad(w *walker, n *pg.FuncCall) {
	args := positionalArgs(n)
	if len(args) < 2 {
		return
	}
	if size, ok := constNum(args[1]); ok && size > w.c.maxStringBytes {
		w.fail(CodeResourceLimit, n.Location, "padding would build a string longer than "+
			strconv.FormatFloat(w.c.maxStringBytes, 'f', -1, 64)+" bytes")
	}
}

func checkArrayFill(w *walker, n *pg.FuncCall) {
	args := positionalArgs(n)
	if len(args) < 2 {
		return
	}
	var dims []float64
	arg := args[1]
	if tc := arg.GetTypeCast(); tc != nil && tc.Arg.GetAArrayExpr() != nil {
		arg = tc.Arg
	}
	if arr := arg.GetAArrayExpr(); arr != nil {
		for _, e := range arr.Elements {
			v, ok := constNum(e)
			if !ok {
				return
			}
			dims = append(dims, v)
		}
	} else if s, ok := constString(arg); ok { // '{1000,1000}'::int[]
		for _, p := range strings.Split(strings.Trim(strings.TrimSpace(s), "{}"), ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return
			}
			dims = append(dims, v)
		}
	}
	if len(dims) == 0 {
		return
	}
	total := 1.0
	for _, d := range dims {
		total *= d
	}
	if total > w.c.maxArrayElements {
		w.fail(CodeResourceLimit, n.Location, "array_fill would build an array of more than "+
			strconv.FormatFloat(w.c.maxArrayElements, 'f', -1, 64)+" elements")
	}
}

func checkFactorial(w *walker, n *pg.FuncCall) {
	args := positionalArgs(n)
	if len(args) != 1 {
		return
	}
	if v, ok := constNum(args[0]); ok && v > maxFactorialArg {
		w.fail(CodeResourceLimit, n.Location, "factorial argument is too large (more than "+
			strconv.Itoa(maxFactorialArg)+")")
	}
}

// fromCost summarises the FROM list of one query level for the cross-join
// heuristics.
type fromCost struct {
	big     int     // inputs of unknown or large size combined without a join condition
	product float64 // product of the constant series sizes
}

// costFrom classifies one FROM item. Base tables and generate_series calls
// (unknown or longer than smallSeries) are "big"; a join with a condition
// counts as one input; CTE references, other functions and subqueries are
// not counted, except a subquery that only calls generate_series.
func (w *walker) costFrom(n *pg.Node, acc *fromCost) {
	if n == nil {
		return
	}
	switch x := n.Node.(type) {
	case *pg.Node_RangeVar:
		rv := x.RangeVar
		if rv == nil {
			return
		}
		if rv.Catalogname == "" && rv.Schemaname == "" && w.lookupCTE(rv.Relname) != nil {
			return
		}
		acc.big++
	case *pg.Node_RangeTableSample:
		acc.big++
	case *pg.Node_RangeFunction:
		for _, item := range x.RangeFunction.GetFunctions() {
			var fc *pg.FuncCall
			if l := item.GetList(); l != nil && len(l.Items) > 0 {
				fc = l.Items[0].GetFuncCall()
			} else {
				fc = item.GetFuncCall()
			}
			w.costSeries(fc, acc)
		}
	case *pg.Node_RangeSubselect:
		sub := x.RangeSubselect.GetSubquery().GetSelectStmt()
		if sub == nil || len(sub.FromClause) > 0 || sub.Op != pg.SetOperation_SETOP_NONE {
			return
		}
		for _, t := range sub.TargetList {
			if rt := t.GetResTarget(); rt != nil {
				w.costSeries(rt.Val.GetFuncCall(), acc)
			}
		}
	case *pg.Node_JoinExpr:
		j := x.JoinExpr
		if j == nil {
			return
		}
		if crossJoin(j) {
			w.costFrom(j.Larg, acc)
			w.costFrom(j.Rarg, acc)
			return
		}
		var sub fromCost
		sub.product = 1
		w.costFrom(j.Larg, &sub)
		w.costFrom(j.Rarg, &sub)
		acc.product *= sub.product
		if sub.big > 0 {
			acc.big++
		}
	}
}

func (w *walker) costSeries(fc *pg.FuncCall, acc *fromCost) {
	if fc == nil {
		return
	}
	if name, ok := funcName(fc); !ok || name != "generate_series" {
		return
	}
	span, ok := seriesSpan(fc)
	if !ok {
		acc.big++
		return
	}
	acc.product *= span
	if span > smallSeries {
		acc.big++
	}
}

// crossJoin: CROSS JOIN, or an inner join whose condition is a constant.
func crossJoin(j *pg.JoinExpr) bool {
	if j.IsNatural || len(j.UsingClause) > 0 || j.Jointype != pg.JoinType_JOIN_INNER {
		return false
	}
	if j.Quals == nil {
		return true
	}
	if c := j.Quals.GetAConst(); c != nil {
		return true
	}
	return false
}

// checkFromCost applies the cross-join heuristics to one query level.
func (w *walker) checkFromCost(n *pg.SelectStmt) {
	if len(n.FromClause) == 0 {
		return
	}
	acc := fromCost{product: 1}
	for _, item := range n.FromClause {
		w.costFrom(item, &acc)
	}
	loc := int32(-1)
	if rv := firstRangeVar(n.FromClause); rv != nil {
		loc = rv.Location
	}
	if acc.product > w.c.maxSeriesRows {
		w.fail(CodeResourceLimit, loc, "the generate_series calls joined here would produce more than "+
			strconv.FormatFloat(w.c.maxSeriesRows, 'f', -1, 64)+" rows")
		return
	}
	if acc.big >= 2 && n.WhereClause == nil {
		w.fail(CodeResourceLimit, loc, "this FROM combines "+strconv.Itoa(acc.big)+
			" tables or series without any join condition (a cartesian product); add a join condition or a WHERE clause")
	}
}

func firstRangeVar(items []*pg.Node) *pg.RangeVar {
	for _, it := range items {
		if rv := it.GetRangeVar(); rv != nil {
			return rv
		}
	}
	return nil
}

// checkRecursiveCTE rejects a recursive CTE whose recursive term reads only
// the CTE itself and has nothing that stops it: no WHERE and no LIMIT, or a
// WHERE whose constants are beyond the series limit.
func (w *walker) checkRecursiveCTE(cte *pg.CommonTableExpr) {
	body := cte.Ctequery.GetSelectStmt()
	if body == nil || body.Op != pg.SetOperation_SETOP_UNION || body.Rarg == nil {
		return
	}
	rec := body.Rarg
	if len(rec.FromClause) == 0 {
		return
	}
	for _, it := range rec.FromClause {
		rv := it.GetRangeVar()
		if rv == nil || rv.Schemaname != "" || rv.Relname != cte.Ctename {
			return // reads something else: bounded by that data
		}
	}
	if rec.LimitCount != nil || body.LimitCount != nil {
		return
	}
	if rec.WhereClause == nil {
		w.fail(CodeResourceLimit, cte.Location, "recursive query "+ident(cte.Ctename)+
			" has no condition that ends the recursion (add a WHERE to its recursive part)")
		return
	}
	if bigConstant(rec.WhereClause, w.c.maxSeriesRows, 0) {
		w.fail(CodeResourceLimit, cte.Location, "recursive query "+ident(cte.Ctename)+
			" would recurse more than "+strconv.FormatFloat(w.c.maxSeriesRows, 'f', -1, 64)+" times")
	}
}

// bigConstant reports whether a comparison in a WHERE tree has a numeric
// constant side above limit.
func bigConstant(n *pg.Node, limit float64, depth int) bool {
	if n == nil || depth > 32 {
		return false
	}
	if b := n.GetBoolExpr(); b != nil {
		for _, a := range b.Args {
			if bigConstant(a, limit, depth+1) {
				return true
			}
		}
		return false
	}
	e := n.GetAExpr()
	if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP {
		return false
	}
	for _, side := range []*pg.Node{e.Lexpr, e.Rexpr} {
		if v, ok := constNum(side); ok && math.Abs(v) > limit {
			return true
		}
	}
	return false
}
