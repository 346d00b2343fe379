//go:build unix && !linux

package localpg

import "syscall"

// postmasterAttr starts the postmaster in its own process group, as owner
// when set. Without Linux's parent-death signal, a postmaster whose pgmcp
// was killed (SIGKILL; other signals stop it cleanly) keeps running until
// stopped by hand; removeStale leaves its directory while it runs.
func postmasterAttr(owner *osUser) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if owner != nil {
		a.Credential = &syscall.Credential{Uid: owner.uid, Gid: owner.gid}
	}
	return a
}
