package httpauth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/engine"
)

// TokenPrefix starts every token `pgmcp token new` makes, so that secret
// scanners can find a leaked one. Tokens made otherwise are accepted too:
// the file only holds hashes.
const TokenPrefix = "pgmcp_"

// maxTokensFileBytes caps the tokens file.
const maxTokensFileBytes = 4 << 20

// TokenEntry is one entry of the tokens file.
type TokenEntry struct {
	// Name identifies the caller (Identity.Name).
	Name string `json:"name"`
	// TokenSHA256 is the hex SHA-256 of the token; the token itself is
	// never stored.
	TokenSHA256 string `json:"token_sha256"`
	// Role, when set, is the PostgreSQL role the caller's queries run as.
	Role string `json:"role,omitempty"`
	// Databases, when set, are the only databases the caller may use.
	Databases []string `json:"databases,omitempty"`
	// Policy, when set, is a sqlguard policy object narrowing the
	// database's policy for this caller.
	Policy json.RawMessage `json:"policy,omitempty"`
}

var (
	entryNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$`)
	// roleRE accepts ordinary PostgreSQL role names. Others (with spaces,
	// quotes, upper case meant literally) exist but are refused here: a
	// role named in a file or a claim should be unsurprising.
	roleRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$-]{0,62}$`)
	// dbNameRE is the rule of pgmcp's database names.
	dbNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,62}$`)
	hexRE    = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// Validate checks the entry as the tokens file loader does. It never
// quotes token_sha256 (a mistaken entry could hold the token itself).
func (e TokenEntry) Validate() error {
	var p []string
	switch {
	case e.Name == "":
		p = append(p, `"name" is missing`)
	case !entryNameRE.MatchString(e.Name):
		p = append(p, fmt.Sprintf(`name %q must be 1 to 128 letters, digits or _ . @ + -, starting with a letter or digit`, e.Name))
	}
	switch {
	case e.TokenSHA256 == "":
		p = append(p, `"token_sha256" is missing`)
	case strings.HasPrefix(e.TokenSHA256, TokenPrefix):
		p = append(p, `"token_sha256" holds a token, not its SHA-256: never store the token itself; run "pgmcp token new NAME" for a new token and its entry`)
	case !hexRE.MatchString(e.TokenSHA256):
		p = append(p, fmt.Sprintf(`"token_sha256" must be 64 hex digits (the SHA-256 of the token), got %d characters`, len(e.TokenSHA256)))
	}
	if e.Role != "" {
		if err := checkRole(e.Role); err != nil {
			p = append(p, err.Error())
		}
	}
	if e.Databases != nil {
		if err := checkDatabases(e.Databases); err != nil {
			p = append(p, err.Error())
		}
	}
	if len(e.Policy) > 0 {
		if t := bytes.TrimSpace(e.Policy); len(t) == 0 || t[0] != '{' {
			p = append(p, `"policy" must be a JSON object`)
		} else if _, err := sqlguard.ParseNarrowingJSON(t); err != nil {
			p = append(p, err.Error())
		}
	}
	if len(p) > 0 {
		return errors.New(strings.Join(p, "; "))
	}
	return nil
}

func checkRole(role string) error {
	if !roleRE.MatchString(role) {
		return fmt.Errorf("role %q is not a plausible PostgreSQL role name (letters, digits, _ $ -, at most 63, not starting with a digit)", role)
	}
	return nil
}

func checkDatabases(dbs []string) error {
	if len(dbs) == 0 {
		return errors.New(`"databases" is an empty list: leave it out to allow every database`)
	}
	seen := map[string]bool{}
	for _, d := range dbs {
		if !dbNameRE.MatchString(d) {
			return fmt.Errorf("database %q is not a database name (a letter, then letters, digits, _ or -)", d)
		}
		if seen[d] {
			return fmt.Errorf("database %q is listed twice", d)
		}
		seen[d] = true
	}
	return nil
}

// HashToken returns the hex SHA-256 of a token, as token_sha256 holds it.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// GenerateToken returns a new random token: TokenPrefix and 32 random
// bytes in base64url.
func GenerateToken() (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return "", fmt.Errorf("generate a token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ParseTokensFile reads and strictly checks a tokens file's content: a
// JSON list of entries with no unknown field, unique names and hashes.
// Errors name the entry (by position and name) and what is wrong.
func ParseTokensFile(data []byte) ([]TokenEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw []json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not a JSON list of entries {\"name\", \"token_sha256\", \"role\", \"databases\", \"policy\"}: %v", err)
	}
	if raw == nil {
		return nil, errors.New("not a JSON list of entries (got null)")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON list")
	}
	entries := make([]TokenEntry, 0, len(raw))
	var problems []string
	names := map[string]int{}
	hashes := map[string]int{}
	for i, r := range raw {
		n := i + 1
		if f, ok := unknownField(r); ok {
			problems = append(problems, fmt.Sprintf("entry %d: unknown field %q (the fields are %s)", n, f, strings.Join(entryFields, ", ")))
			continue
		}
		d := json.NewDecoder(bytes.NewReader(r))
		d.DisallowUnknownFields()
		var e TokenEntry
		if err := d.Decode(&e); err != nil {
			problems = append(problems, fmt.Sprintf("entry %d: %v", n, describeJSONError(err)))
			continue
		}
		label := fmt.Sprintf("entry %d", n)
		if e.Name != "" {
			label = fmt.Sprintf("entry %d (%q)", n, e.Name)
		}
		if err := e.Validate(); err != nil {
			problems = append(problems, label+": "+err.Error())
			continue
		}
		if prev, ok := names[e.Name]; ok {
			problems = append(problems, fmt.Sprintf("%s: name is already used by entry %d", label, prev))
			continue
		}
		h := strings.ToLower(e.TokenSHA256)
		if prev, ok := hashes[h]; ok {
			problems = append(problems, fmt.Sprintf("%s: token_sha256 is the same as entry %d's: each caller needs a token of its own", label, prev))
			continue
		}
		names[e.Name], hashes[h] = n, n
		e.TokenSHA256 = h
		entries = append(entries, e)
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return entries, nil
}

func describeJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("must be a JSON object, not a JSON %s", te.Value)
		}
		return fmt.Errorf("%q must be %s, not a JSON %s", te.Field, jsonKind(te.Type.String()), te.Value)
	}
	return err
}

// entryFields are the JSON names of TokenEntry's fields.
var entryFields = func() []string {
	t := reflect.TypeFor[TokenEntry]()
	names := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}()

// unknownField returns the first key of the JSON object r that names no
// field of TokenEntry, compared as encoding/json matches them (ignoring
// case). ok is false when every key is known, and when r is not a
// well-formed object (decoding it then says what is wrong).
func unknownField(r json.RawMessage) (field string, ok bool) {
	d := json.NewDecoder(bytes.NewReader(r))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		if !slices.ContainsFunc(entryFields, func(f string) bool { return strings.EqualFold(f, key) }) {
			return key, true
		}
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

func jsonKind(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "[]string":
		return "a list of strings"
	}
	return goType
}

// tokenRecord is a loaded entry: the digest and the identity it grants.
type tokenRecord struct {
	digest [sha256.Size]byte
	id     engine.Identity
}

// tokenStore verifies tokens against the tokens file. The entries are
// swapped whole by reload, so lookups never lock.
type tokenStore struct {
	path string
	// loginRoles are pgmcp's login roles, which no entry may name.
	loginRoles []string
	reload     sync.Mutex // one reload at a time
	records    atomic.Pointer[[]tokenRecord]
}

func newTokenStore(path string, loginRoles []string) (*tokenStore, error) {
	s := &tokenStore{path: path, loginRoles: loginRoles}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads the file and, when it is valid, replaces the entries; on any
// error the entries in force stay.
func (s *tokenStore) load() (int, error) {
	s.reload.Lock()
	defer s.reload.Unlock()
	f, err := os.Open(s.path)
	if err != nil {
		return 0, fmt.Errorf("tokens file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokensFileBytes+1))
	if err != nil {
		return 0, fmt.Errorf("tokens file %s: %w", s.path, err)
	}
	if len(data) > maxTokensFileBytes {
		return 0, fmt.Errorf("tokens file %s: larger than %d bytes", s.path, maxTokensFileBytes)
	}
	entries, err := ParseTokensFile(data)
	if err != nil {
		return 0, fmt.Errorf("tokens file %s: %w", s.path, err)
	}
	var problems []string
	for i, e := range entries {
		for _, l := range s.loginRoles {
			if e.Role != "" && strings.EqualFold(e.Role, l) {
				problems = append(problems, fmt.Sprintf("entry %d (%q): role %q is pgmcp's login role: a token's role must be a per-user role the login role may switch to "+
					"(leave role out to run as the login role)", i+1, e.Name, e.Role))
			}
		}
	}
	if len(problems) > 0 {
		return 0, fmt.Errorf("tokens file %s: %s", s.path, strings.Join(problems, "; "))
	}
	recs := make([]tokenRecord, len(entries))
	for i, e := range entries {
		if _, err := hex.Decode(recs[i].digest[:], []byte(e.TokenSHA256)); err != nil {
			return 0, fmt.Errorf("tokens file %s: entry %q: %v", s.path, e.Name, err) // checked by Validate
		}
		recs[i].id = engine.Identity{Name: e.Name, Method: "token", Role: e.Role, Databases: e.Databases}
		if len(e.Policy) > 0 {
			recs[i].id.Policy = json.RawMessage(bytes.TrimSpace(e.Policy))
		}
	}
	s.records.Store(&recs)
	return len(recs), nil
}

// lookup returns the identity of a token.
//
// Timing: the presented token is hashed first, and its SHA-256 is compared
// with every entry's with subtle.ConstantTimeCompare, without stopping at a
// match; the matching index is chosen with ConstantTimeSelect. So the time
// taken depends only on the number of entries, never on which entry
// matched nor on how much of a digest did. (Even a leaky comparison would
// only reveal how the digest of the attacker's own guess compares with a
// stored digest, which does not help find a token whose digest matches,
// but there is no reason to leak it.)
func (s *tokenStore) lookup(token string) (engine.Identity, bool) {
	digest := sha256.Sum256([]byte(token))
	recs := *s.records.Load()
	match := -1
	for i := range recs {
		eq := subtle.ConstantTimeCompare(digest[:], recs[i].digest[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return engine.Identity{}, false
	}
	id := recs[match].id
	id.Databases = slices.Clone(id.Databases)
	id.Policy = slices.Clone(id.Policy)
	return id, true
}

func (s *tokenStore) count() int { return len(*s.records.Load()) }
