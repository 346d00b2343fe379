package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/pgexec"
)

// ShadowInterval is how often, at most, a database is checked again for a
// function or operator of its search path that shadows a builtin the guard
// allows (CVE-2018-1058: an unqualified call could run it). Start-up and
// every reload check too; between them one created while pgmcp serves is
// found within this interval and stops the database's queries.
const ShadowInterval = time.Second

// shadowCheckTimeout bounds one check: a database that does not answer it
// is not waited for (the call's own deadlines then apply).
const shadowCheckTimeout = 2 * time.Second

// shadowWatch holds the last shadowing check of a database.
type shadowWatch struct {
	mu      sync.Mutex // held while a check runs
	checked time.Time
	found   atomic.Pointer[[]string]
}

// checkShadows refuses a call while a function or operator shadows a
// builtin in the policy's search path, checking again when the last check
// is older than ShadowInterval. A call that finds a check running uses the
// last result. A failed check (the database is down, say) keeps the last
// result: the call then fails on its own.
func (db *Database) checkShadows(ctx context.Context, pol *sqlguard.Policy) error {
	w := &db.shadows
	if w.mu.TryLock() {
		if time.Since(w.checked) >= ShadowInterval && db.Pool != nil {
			cctx, cancel := context.WithTimeout(ctx, shadowCheckTimeout)
			found, err := pgexec.Shadowing(cctx, db.Pool, sqlguard.AllowedFunctions(), sqlguard.AllowedOperators(), pol.SearchPath)
			cancel()
			if err == nil {
				w.found.Store(&found)
				w.checked = time.Now()
			}
		}
		w.mu.Unlock()
	}
	if p := w.found.Load(); p != nil && len(*p) > 0 {
		found := *p
		return &pgexec.Error{Code: pgexec.CodeFunctionShadowed, Message: fmt.Sprintf(
			"refusing to run queries on database %q: %s in its search path shadow%s builtins pgmcp allows and could be called instead (the CVE-2018-1058 class); an administrator must drop or move %s (pgmcp doctor lists %s)",
			db.Name, strings.Join(found, ", "), pick(len(found), "s", ""), pick(len(found), "it", "them"), pick(len(found), "it", "them"))}
	}
	return nil
}

// pick returns one when n is 1, else many.
func pick(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
