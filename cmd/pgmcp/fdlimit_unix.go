//go:build unix

package main

import "syscall"

// openFileLimit is the process's soft limit of open files; false when
// there is none or it cannot be read.
func openFileLimit() (uint64, bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == ^uint64(0) {
		return 0, false
	}
	return rl.Cur, true
}
