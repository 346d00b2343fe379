package schema

// Code is a stable, machine-readable error class of this package.
type Code string

// Error codes. Never rename one.
const (
	// CodeIntrospection: the catalog could not be read.
	CodeIntrospection Code = "schema_unavailable"
	// CodeNotFound: no visible table has that name (a blocked table is
	// reported exactly like a missing one).
	CodeNotFound Code = "table_not_found"
)

// Error is an error of this package, with a message safe to show a user.
type Error struct {
	Code    Code
	Message string
	Err     error
}

// Error is "code: message"; the cause (Err) is never part of it.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Err }

func introspectionError(err error) error {
	return &Error{Code: CodeIntrospection, Message: "cannot read the database schema", Err: err}
}
