//go:build !unix

package main

// openFileLimit: Windows has no per-process limit of open files that
// connections count against (handles are bounded by memory), so the
// connection cap is left as configured.
func openFileLimit() (uint64, bool) { return 0, false }
