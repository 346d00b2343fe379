package sqlguard_test

import (
	"errors"
	"fmt"

	"github.com/pgmcp/pgmcp/sqlguard"
)

func ExampleCheck() {
	p, err := sqlguard.ParsePolicyJSON([]byte(`{
		"database": "shop", "search_path": ["public"],
		"allowed_relations": ["public.orders", "public.users"],
		"blocked_columns": {"public.users": ["ssn"]}
	}`))
	if err != nil {
		panic(err)
	}
	// Names are resolved against a catalog of the database: here from DDL.
	p.Catalog, err = sqlguard.CatalogFromDDL(`
		CREATE TABLE orders (id int PRIMARY KEY, status text, total numeric);
		CREATE TABLE users (id int PRIMARY KEY, email text, ssn text);`, p.SearchPath)
	if err != nil {
		panic(err)
	}
	q, err := sqlguard.Check("SELECT status, count(*) FROM orders GROUP BY status;", p)
	if err != nil {
		panic(err)
	}
	limited, _ := q.LimitRows(101)
	fmt.Println(q.Relations(), q.Functions())
	fmt.Println(limited)

	_, err = sqlguard.Check("SELECT ssn FROM users", p)
	var ge *sqlguard.Error
	if errors.As(err, &ge) {
		fmt.Println(ge.Code, "-", ge.Message)
	}
	// Output:
	// [public.orders] [count]
	// SELECT status, count(*) FROM orders GROUP BY status
	// LIMIT 101
	// blocked_column - column "ssn" of "public.users" is blocked (position 8)
}
