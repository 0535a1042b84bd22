package testenv

import "syscall"

// torSysProcAttr puts a tor (or a re-run test binary) in its own process
// group and makes the kernel kill it when the test binary dies without
// running its cleanups.
func torSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
