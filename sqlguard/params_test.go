package sqlguard

import (
	"errors"
	"testing"
)

// TestCheckParams: a query pgmcp builds may use $1 … $n as the operand of
// a cast to an allowed type, and must use each; Check still refuses every
// parameter; both walks (generated and protoreflect) agree.
func TestCheckParams(t *testing.T) {
	p := shopPolicy(t)
	accept := []struct {
		sql string
		n   int
	}{
		{`SELECT "id" FROM "public"."orders" WHERE "status" = $1::text LIMIT 20`, 1},
		{`SELECT count(*) AS count FROM orders WHERE id = ANY($1::integer[]) AND order_date >= $2::timestamptz AND order_date < $3::date + 1`, 3},
		{`SELECT id FROM customers WHERE city::text ILIKE $1::text ESCAPE '!' AND country = $2::text ORDER BY id LIMIT 5`, 2},
		{`SELECT id FROM orders WHERE id IN (SELECT order_id FROM order_items WHERE quantity >= $1::int) AND status = $1::text`, 1},
	}
	refuse := []struct {
		sql  string
		n    int
		code Code
	}{
		{`SELECT id FROM orders WHERE status = $1`, 1, CodeParameterNotAllowed},                   // untyped
		{`SELECT id FROM orders WHERE status = $2::text`, 1, CodeParameterNotAllowed},             // beyond n
		{`SELECT id FROM orders WHERE status = $0::text`, 1, CodeParameterNotAllowed},             // not a parameter number
		{`SELECT id FROM orders WHERE status = $1::text`, 2, CodeParameterNotAllowed},             // $2 unused
		{`SELECT id FROM orders LIMIT $1::int`, 1, ""},                                            // a typed value anywhere values go
		{`SELECT id FROM orders WHERE status = $1::regclass::text`, 1, CodeCastNotAllowed},        // the cast allowlist still applies
		{`SELECT id FROM orders WHERE status = ($1::text)::regproc::text`, 1, CodeCastNotAllowed}, // around it too
		{`SELECT password_hash FROM users WHERE id = $1::int`, 1, CodeBlockedColumn},              // the policy still applies
		{`SELECT id FROM orders WHERE id = $1::int; SELECT $1::int`, 1, CodeMultipleStatements},   // one statement
		{`SELECT set_config($1::text, 'x', true) FROM orders`, 1, CodeFunctionNotAllowed},         // functions too
		{`SELECT id FROM orders WHERE status = (SELECT $1)::text`, 1, CodeParameterNotAllowed},    // not the operand itself
		{`SELECT id FROM orders WHERE status = $1::text`, 0, CodeParameterNotAllowed},             // n must be ≥ 1
		{`SELECT id FROM orders WHERE status = $1::text`, maxParams + 1, CodeParameterNotAllowed}, // bounded
	}
	for _, slow := range []bool{false, true} {
		forceReflectWalk = slow
		for _, c := range accept {
			q, err := CheckParams(c.sql, p, c.n)
			if err != nil || q.Params() != c.n {
				t.Errorf("slow=%v %s: %v", slow, c.sql, err)
				continue
			}
			if _, err := Check(c.sql, p); !hasCode(err, CodeParameterNotAllowed) {
				t.Errorf("slow=%v Check(%s) = %v, want parameter_not_allowed", slow, c.sql, err)
			}
			// The row cap's rewrite keeps the parameters.
			if _, err := q.LimitRows(10); err != nil {
				t.Errorf("slow=%v LimitRows(%s): %v", slow, c.sql, err)
			}
		}
		for _, c := range refuse {
			_, err := CheckParams(c.sql, p, c.n)
			if c.code == "" {
				if err != nil {
					t.Errorf("slow=%v %s (n=%d): %v, want accepted", slow, c.sql, c.n, err)
				}
				continue
			}
			if !hasCode(err, c.code) {
				t.Errorf("slow=%v %s (n=%d): %v, want %s", slow, c.sql, c.n, err, c.code)
			}
		}
	}
	forceReflectWalk = false
}

func hasCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
