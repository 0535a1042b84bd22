package testenv

import "syscall"

// redisSysProcAttr makes the kernel kill redis-server when the test binary
// dies without running its cleanups (a test timeout panics, for example).
func redisSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
