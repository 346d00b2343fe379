package localpg

import (
	"os"
	"syscall"
)

func postmasterAttr(*osUser) *syscall.SysProcAttr { return nil }

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
