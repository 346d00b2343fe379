package httpauth

// Code says why a caller was not authenticated. Codes are stable: tests
// and logs depend on them; never rename one.
type Code string

const (
	// CodeNoToken: no "Authorization: Bearer" credentials.
	CodeNoToken Code = "no_token"
	// CodeMalformedToken: a bearer token that cannot be a token (too long,
	// bad characters, several Authorization headers).
	CodeMalformedToken Code = "malformed_token"
	// CodeUnknownToken: not in the tokens file, and not a JWT (or JWTs
	// are off).
	CodeUnknownToken Code = "unknown_token"
	// CodeTokenExpired: the JWT's exp is past (beyond the clock skew).
	CodeTokenExpired Code = "token_expired"
	// CodeTokenNotYetValid: the JWT's nbf or iat is in the future.
	CodeTokenNotYetValid Code = "token_not_yet_valid"
	// CodeWrongIssuer: the JWT's iss is not the configured issuer.
	CodeWrongIssuer Code = "wrong_issuer"
	// CodeWrongAudience: the JWT's aud does not hold the configured audience.
	CodeWrongAudience Code = "wrong_audience"
	// CodeUnsupportedAlgorithm: the JWT is not signed with RS256 or ES256.
	CodeUnsupportedAlgorithm Code = "unsupported_algorithm"
	// CodeUnknownKey: no published key has the JWT's kid (after a refresh).
	CodeUnknownKey Code = "unknown_key"
	// CodeKeysUnavailable: the JWKS has not been loaded yet.
	CodeKeysUnavailable Code = "keys_unavailable"
	// CodeBadSignature: the signature does not verify, or the JWT cannot
	// be parsed.
	CodeBadSignature Code = "bad_signature"
	// CodeBadClaims: a required claim is missing or malformed (exp, the
	// identity, role or databases claim), a claim is repeated, or exp, nbf
	// or iat is not a JSON number.
	CodeBadClaims Code = "bad_claims"
	// CodeTokenLifetime: the JWT is valid for longer than the configured
	// maximum lifetime (exp-iat, or exp-now).
	CodeTokenLifetime Code = "token_lifetime_too_long"
	// CodeRoleNotAllowed: the JWT is valid but its role claim names a role
	// the server does not allow (not in the allowed roles, a pg_* role, or
	// pgmcp's login role). Answered 403, not 401.
	CodeRoleNotAllowed Code = "role_not_allowed"
)

// Error is an authentication failure.
type Error struct {
	Code Code
	// Message is safe to send to the caller (it becomes the
	// error_description of the challenge): fixed text, never the token.
	Message string
	// Err is the internal cause, for the log only.
	Err error
}

// Error is "code: message". The cause (Err) is never part of it: it is
// for the log, where the caller records it on its own.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

func (e *Error) Unwrap() error { return e.Err }

func authErr(code Code, msg string, cause error) *Error {
	return &Error{Code: code, Message: msg, Err: cause}
}
