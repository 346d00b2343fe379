package localpg

import "syscall"

// postmasterAttr starts the postmaster in its own process group (a Ctrl-C
// at the terminal reaches pgmcp, which decides how it stops), as owner when
// set, and has the kernel stop it if pgmcp dies without doing so (SIGQUIT
// is PostgreSQL's immediate shutdown).
func postmasterAttr(owner *osUser) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	if owner != nil {
		a.Credential = &syscall.Credential{Uid: owner.uid, Gid: owner.gid}
	}
	return a
}
