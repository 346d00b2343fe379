package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/httpauth"
)

const tokenUsage = `usage: pgmcp token new [--role ROLE] [--databases a,b] [--policy JSON] [--add FILE] NAME

Makes a fresh bearer token for NAME. The token is printed on stdout, once:
hand it to the caller. Its entry for PGMCP_AUTH_TOKENS_FILE (which stores
only the token's SHA-256) is printed on stderr, or added to FILE with --add
(created with mode 0600 when missing; send SIGHUP to a running server to
load it).
`

// runToken is `pgmcp token new NAME`.
func runToken(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprint(stderr, tokenUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("pgmcp token new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tokenUsage) }
	role := fs.String("role", "", "PostgreSQL role the caller's queries run as (SET LOCAL ROLE)")
	dbs := fs.String("databases", "", "comma-separated databases the caller may use (default: all)")
	policy := fs.String("policy", "", `policy narrowing the database's for this caller, as JSON, e.g. {"blocked_relations":["public.salaries"]}`)
	add := fs.String("add", "", "add the entry to this tokens file instead of printing it")
	// Flags may follow the name too: pgmcp token new alice --role alice.
	var name string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		if name != "" {
			fmt.Fprintf(stderr, "pgmcp token new: one NAME only, got %q and %q\n", name, fs.Arg(0))
			return exitUsage
		}
		name, rest = fs.Arg(0), fs.Args()[1:]
	}
	if name == "" {
		fmt.Fprint(stderr, tokenUsage)
		return exitUsage
	}
	token, err := httpauth.GenerateToken()
	if err != nil {
		return fail(stderr, err)
	}
	entry := httpauth.TokenEntry{Name: name, TokenSHA256: httpauth.HashToken(token), Role: *role}
	if *dbs != "" {
		for _, d := range strings.Split(*dbs, ",") {
			entry.Databases = append(entry.Databases, strings.TrimSpace(d))
		}
	}
	if *policy != "" {
		entry.Policy = json.RawMessage(*policy)
	}
	if err := entry.Validate(); err != nil {
		fmt.Fprintln(stderr, "pgmcp token new:", err)
		return exitUsage
	}
	if *add != "" {
		if err := addTokenEntry(*add, entry); err != nil {
			fmt.Fprintln(stderr, "pgmcp token new:", err)
			return exitFailure
		}
		fmt.Fprintf(stderr, "added %q to %s; send SIGHUP to a running pgmcp to load it\n", name, *add)
	} else {
		b, _ := json.Marshal(entry)
		fmt.Fprintf(stderr, "add this entry to the JSON list in PGMCP_AUTH_TOKENS_FILE:\n%s\n", b)
	}
	fmt.Fprintln(stdout, token)
	return exitOK
}

// addTokenEntry appends entry to the tokens file at path, creating it when
// missing. The file must parse before and after; an entry with the same
// name is refused (revoke it by deleting its line first).
func addTokenEntry(path string, entry httpauth.TokenEntry) error {
	var entries []httpauth.TokenEntry
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		if entries, err = httpauth.ParseTokensFile(data); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	for _, e := range entries {
		if e.Name == entry.Name {
			return fmt.Errorf("%s already has an entry named %q: remove it first to replace its token", path, entry.Name)
		}
	}
	entries = append(entries, entry)
	out, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return err
	}
	out = append(out, '\n')
	if _, err := httpauth.ParseTokensFile(out); err != nil {
		return err
	}
	// Write a sibling file and rename it, so a server reading the file on
	// SIGHUP never sees half of it.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tokens-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
