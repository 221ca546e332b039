package chaos_test

import "syscall"

// dieWithParent makes a server end with the test process, even when the
// test binary itself is killed (a timeout) before its clean-up runs.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
