package schema

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bounds of LoadValues.
const (
	// DefaultValuesPerColumn is how many distinct values of a column are
	// read (the most frequent first).
	DefaultValuesPerColumn = 1000
	// valueMaxBytes: longer values are not read (an identifier-like value
	// is short; a long text is prose, not a value to compare with).
	valueMaxBytes = 64
	// valueSampleRows: a table estimated above this many rows is read
	// through TABLESAMPLE SYSTEM, about this many rows of it.
	valueSampleRows = 100_000
	// valueColumnTimeout bounds the read of one column.
	valueColumnTimeout = 2 * time.Second
	// DefaultValuesTimeout bounds the reads of a whole load.
	DefaultValuesTimeout = 20 * time.Second
)

// TextLike reports whether a column of type typ holds values a question
// may quote (text, varchar, char, citext, enums and domains over them are
// shown as their names; enums are listed in the schema already).
func TextLike(typ string) bool {
	t := strings.ToLower(typ)
	for _, p := range []string{"text", "character varying", "varchar", "character(", "char(", "citext", "bpchar"} {
		if strings.HasPrefix(t, p) || strings.HasSuffix(t, "."+p) {
			return true
		}
	}
	return t == "character" || t == "name"
}

// LoadValues reads the distinct values of the text-like columns of snap's
// tables and views (only those snap shows: a blocked column is never in a
// snapshot), for a ValueIndex: up to perColumn per column, the most
// frequent first, each at most 64 bytes, sampling tables estimated above
// 100,000 rows (TABLESAMPLE SYSTEM). Each column is read within 2 s and the
// whole load within timeout; a column that fails or runs out of time is
// left out (the error of the first is returned beside what was read).
// It reads as db's role: rows that role cannot see are never read, and the
// values read are those of every row it can see, so an index built this
// way must not be shown to a caller who sees fewer rows.
func LoadValues(ctx context.Context, db Queryer, snap *Snapshot, perColumn int, timeout time.Duration) ([]ColumnValues, error) {
	if perColumn <= 0 {
		perColumn = DefaultValuesPerColumn
	}
	if timeout <= 0 {
		timeout = DefaultValuesTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out []ColumnValues
	var first error
	for i := range snap.Tables {
		t := &snap.Tables[i]
		from := pgx.Identifier{t.Schema, t.Name}.Sanitize()
		if t.Rows > valueSampleRows {
			from += fmt.Sprintf(" TABLESAMPLE SYSTEM (%.4f)", 100*float64(valueSampleRows)/float64(t.Rows))
		}
		for _, c := range t.Columns {
			if !TextLike(c.Type) {
				continue
			}
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			col := pgx.Identifier{c.Name}.Sanitize()
			sql := fmt.Sprintf(`SELECT v FROM (SELECT %[1]s::text AS v, count(*) AS n FROM %[2]s
				WHERE %[1]s IS NOT NULL AND octet_length(%[1]s::text) BETWEEN 1 AND %[3]d
				GROUP BY 1) s ORDER BY n DESC, v LIMIT %[4]d`, col, from, valueMaxBytes, perColumn)
			vals, err := readValues(ctx, db, sql)
			if err != nil {
				if first == nil {
					first = fmt.Errorf("schema: values of %s.%s: %w", t.QualifiedName(), c.Name, err)
				}
				continue
			}
			if len(vals) > 0 {
				out = append(out, ColumnValues{Table: t.QualifiedName(), Column: c.Name, Values: vals})
			}
		}
	}
	return out, first
}

func readValues(ctx context.Context, db Queryer, sql string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, valueColumnTimeout)
	defer cancel()
	rows, err := db.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
