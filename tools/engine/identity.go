package engine

import (
	"context"
	"encoding/json"
)

// Identity is who is calling, as the HTTP authentication established it.
// Over stdio there is no identity: the local user runs the server.
type Identity struct {
	// Name identifies the caller in logs, audit records and rate limits.
	Name string
	// Method is how the caller authenticated: "token" or "jwt".
	Method string
	// Role, when set, is the PostgreSQL role the caller's queries run as
	// (SET LOCAL ROLE inside each transaction), so grants, column
	// privileges and row-level security apply per person. pgmcp's login
	// role must be a member of it.
	Role string
	// Databases, when not empty, are the only databases the caller may use.
	Databases []string
	// Policy, when set, is a policy (sqlguard JSON format) that narrows the
	// database's policy for this caller: its blocked relations and columns
	// are added, and its allowed relations or schemas, when given, limit
	// what the database's policy allows.
	Policy json.RawMessage
}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the caller's identity, if the transport
// authenticated one.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
