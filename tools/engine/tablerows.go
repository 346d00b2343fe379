package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/pgmcp/pgmcp/schema"
	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// tableToolSet is the per-table tools of one prepared schema.
type tableToolSet struct {
	tools []TableTool
	note  string
}

// tableToolCache keeps the tool sets of the schemas recently asked about:
// one per database for callers without a policy of their own, one per
// narrowed schema otherwise. It is emptied when it grows past its bound
// (a reload makes new schemas, so nothing stale is served).
type tableToolCache struct {
	mu   sync.Mutex
	sets map[*schema.Prepared]*tableToolSet
}

const tableToolCacheSize = 64

func (c *tableToolCache) get(prep *schema.Prepared, patterns []string, maxRows int) *tableToolSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sets[prep]; ok {
		return s
	}
	if c.sets == nil || len(c.sets) >= tableToolCacheSize {
		c.sets = map[*schema.Prepared]*tableToolSet{}
	}
	tools, note := TableTools(prep.Snapshot().Tables, patterns, maxRows)
	s := &tableToolSet{tools: tools, note: note}
	c.sets[prep] = s
	return s
}

// TableToolsOf returns the per-table tools of database as the caller in
// ctx may see it (their tables only), and a note when the catalog had more
// tables than are listed. None when Config.TableTools is empty.
func (e *Engine) TableToolsOf(ctx context.Context, database string) ([]TableTool, string, error) {
	if len(e.cfg.TableTools) == 0 {
		return nil, "", nil
	}
	a, err := e.Access(ctx, database)
	if err != nil {
		return nil, "", err
	}
	s, err := e.tableToolsFor(ctx, a)
	if err != nil {
		return nil, "", err
	}
	return s.tools, s.note, nil
}

// tableToolsFor is the tool set of the caller's view a.
func (e *Engine) tableToolsFor(ctx context.Context, a *Access) (*tableToolSet, error) {
	prep, err := a.schema.Get(ctx)
	if err != nil {
		return nil, err
	}
	return e.tableTools.get(prep, e.cfg.TableTools, e.cfg.MaxRows), nil
}

// FindRowsArgs are the arguments of a per-table tool: which tool, and its
// filters.
type FindRowsArgs struct {
	Database string `json:"database,omitempty"`
	Tool     string `json:"-"`
	TableQueryArgs
}

// FindRowsResult is a per-table tool's result: the rows, and the query
// pgmcp built with its parameters, separate.
type FindRowsResult struct {
	QueryResult
	Table  string   `json:"table" jsonschema:"schema.table read"`
	Params []string `json:"params" jsonschema:"the values bound to $1, $2… of sql, in order (never part of the SQL text)"`
}

// FindRows runs a per-table tool as the caller in ctx: the tool must be
// one of the caller's (TableToolsOf), its arguments make a parameterized
// query (BuildTableQuery), which the guard checks like any other and the
// executor runs under the same limits, role, audit and metrics.
func (e *Engine) FindRows(ctx context.Context, args FindRowsArgs) (*FindRowsResult, error) {
	var set *tableToolSet
	a, err := e.Access(ctx, args.Database)
	if err == nil && len(e.cfg.TableTools) > 0 {
		set, err = e.tableToolsFor(ctx, a)
	}
	if err != nil {
		return nil, err
	}
	var tool *TableTool
	if set != nil {
		for i := range set.tools {
			if set.tools[i].Name == args.Tool {
				tool = &set.tools[i]
			}
		}
	}
	if tool == nil {
		return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("no table tool %q for this database and caller", args.Tool),
			Hint: "list the tools again: the schema may have changed"}
	}
	sql, params, err := BuildTableQuery(tool, args.TableQueryArgs)
	if err != nil {
		return nil, err
	}
	values, text, err := paramValues(params)
	if err != nil {
		return nil, err
	}
	q, err := e.checkParams(ctx, sql, len(values), a.policy)
	if err != nil {
		return nil, err
	}
	out := &FindRowsResult{QueryResult: QueryResult{Database: a.db.Name, SQL: q.SQL(), Columns: []pgexec.Column{}, Rows: [][]any{}},
		Table: tool.Table, Params: text}
	lim := e.limits(a, tool.MaxLimit)
	res, err := e.executeParams(ctx, a, q, values, lim)
	if err != nil {
		return nil, err
	}
	fillResult(&out.QueryResult, res)
	return out, nil
}

// checkParams is check of a query pgmcp built with n parameters.
func (e *Engine) checkParams(ctx context.Context, sql string, n int, p *sqlguard.Policy) (*sqlguard.Query, error) {
	return e.guard(ctx, sql, func() (*sqlguard.Query, error) {
		if n == 0 {
			return sqlguard.Check(sql, p)
		}
		return sqlguard.CheckParams(sql, p, n)
	})
}

// arrayElementEscaper escapes a quoted element of an array literal.
var arrayElementEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// paramValues encodes BuildTableQuery's parameters in PostgreSQL's text
// format (a list as an array literal, each element quoted), and as text
// for the result.
func paramValues(params []any) ([][]byte, []string, error) {
	values := make([][]byte, len(params))
	text := make([]string, len(params))
	for i, p := range params {
		switch v := p.(type) {
		case string:
			values[i], text[i] = []byte(v), v
		case []any:
			var b strings.Builder
			b.WriteByte('{')
			for j, el := range v {
				s, ok := el.(string)
				if !ok {
					return nil, nil, &Error{Code: CodeInternal, Message: "a list parameter holds a non-text value"}
				}
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteByte('"')
				b.WriteString(arrayElementEscaper.Replace(s))
				b.WriteByte('"')
			}
			b.WriteByte('}')
			values[i] = []byte(b.String())
			j, _ := json.Marshal(v)
			text[i] = string(j)
		default:
			return nil, nil, &Error{Code: CodeInternal, Message: fmt.Sprintf("a parameter of type %T", p)}
		}
	}
	return values, text, nil
}
