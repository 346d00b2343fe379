package sqlguard

import (
	"errors"
	"fmt"
	"strconv"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"
)

// limitAlias names the derived table of a wrapped query.
const limitAlias = "pgmcp_limited"

// LimitRows returns SQL that yields at most n rows and otherwise means the
// same as the query. The executor calls it with max_rows+1 to detect
// truncation.
//
// For a set operation (UNION, INTERSECT, EXCEPT) the top-level LIMIT is
// the one of the whole set operation. The rules:
//
//   - no LIMIT: "\nLIMIT n" is appended to the checked text (no deparse,
//     no second parse: the call path parses once);
//   - LIMIT ALL or LIMIT NULL: LIMIT n replaces it;
//   - a constant LIMIT (or FETCH FIRST … ROWS ONLY) of at most n: the query
//     is returned unchanged (its SQL());
//   - a larger constant: it is lowered to n;
//   - any other LIMIT expression e: it becomes LEAST(e, n), which is e when
//     e <= n, n when e is larger or NULL, and fails like e when e is negative;
//   - FETCH FIRST … WITH TIES can return more rows than its count, so the
//     query is wrapped: SELECT * FROM (query) AS pgmcp_limited LIMIT n. The
//     server keeps the order of the inner ORDER BY through the plain
//     subquery scan, and duplicate output column names are fine under *.
//
// OFFSET, ORDER BY and everything else are kept. The other rules edit the
// top-level statement of the parse tree and deparse it (pg_query.Deparse);
// their result is checked again with the same policy before it is
// returned, so a deparser mistake cannot produce text the guard would
// refuse.
func (q *Query) LimitRows(n int) (string, error) {
	if n < 0 {
		return "", errors.New("sqlguard: LimitRows: negative row count")
	}
	sel := q.tree.GetStmts()[0].GetStmt().GetSelectStmt()
	if sel == nil {
		return "", errors.New("sqlguard: LimitRows: not a SELECT")
	}
	count := int64(n)
	mode := "set"
	switch {
	case sel.LimitOption == pg.LimitOption_LIMIT_OPTION_WITH_TIES:
		mode = "wrap"
	case sel.LimitCount == nil:
	default:
		c := sel.LimitCount.GetAConst()
		switch {
		case c == nil:
			mode = "least"
		case c.Isnull: // LIMIT ALL, LIMIT NULL
		default:
			iv, ok := c.Val.(*pg.A_Const_Ival)
			if !ok {
				mode = "least"
			} else if int64(iv.Ival.GetIval()) <= count {
				return q.sql, nil
			}
		}
	}

	// The common case, no LIMIT at all: the clause is appended to the
	// checked text, with no deparse and no second parse. The text is one
	// SELECT (no trailing semicolon or comment); a LIMIT after it binds to
	// its top-level statement (the whole set operation, after ORDER BY and
	// OFFSET) exactly as the LimitCount the deparse path sets, and the
	// appended tokens (a reserved keyword and an integer) cannot change how
	// the text before them parses, so what was checked is what runs.
	if mode == "set" && sel.LimitCount == nil {
		return q.sql + "\nLIMIT " + strconv.FormatInt(count, 10), nil
	}
	tree := proto.Clone(q.tree).(*pg.ParseResult)
	raw := tree.Stmts[0]
	sel = raw.Stmt.GetSelectStmt()
	limit := pg.MakeAConstIntNode(count, -1)
	switch mode {
	case "set":
		sel.LimitCount = limit
		sel.LimitOption = pg.LimitOption_LIMIT_OPTION_COUNT
	case "least":
		sel.LimitCount = &pg.Node{Node: &pg.Node_MinMaxExpr{MinMaxExpr: &pg.MinMaxExpr{
			Op:       pg.MinMaxOp_IS_LEAST,
			Args:     []*pg.Node{sel.LimitCount, limit},
			Location: -1,
		}}}
		sel.LimitOption = pg.LimitOption_LIMIT_OPTION_COUNT
	case "wrap":
		outer := &pg.SelectStmt{
			TargetList: []*pg.Node{{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{
				Val:      pg.MakeColumnRefNode([]*pg.Node{{Node: &pg.Node_AStar{AStar: &pg.A_Star{}}}}, -1),
				Location: -1,
			}}}},
			FromClause: []*pg.Node{{Node: &pg.Node_RangeSubselect{RangeSubselect: &pg.RangeSubselect{
				Subquery: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}},
				Alias:    &pg.Alias{Aliasname: limitAlias},
			}}}},
			LimitCount:  limit,
			LimitOption: pg.LimitOption_LIMIT_OPTION_COUNT,
			Op:          pg.SetOperation_SETOP_NONE,
		}
		raw.Stmt = &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: outer}}
	}
	raw.StmtLocation, raw.StmtLen = 0, 0
	out, err := pg.Deparse(tree)
	if err != nil {
		return "", fmt.Errorf("sqlguard: LimitRows: deparse: %w", err)
	}
	if _, cerr := check(out, q.c, forceReflectWalk || len(schemaDrift) > 0, q.params); cerr != nil {
		return "", fmt.Errorf("sqlguard: LimitRows: the limited query does not pass the guard: %w", cerr)
	}
	return out, nil
}
