//go:build !linux

package pgexec

import "syscall"

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not available: the
// keepalives and the calls' deadlines still apply.
func setUserTimeout(string, string, syscall.RawConn) error { return nil }
