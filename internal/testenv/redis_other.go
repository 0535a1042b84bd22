//go:build !linux

package testenv

import "syscall"

func redisSysProcAttr() *syscall.SysProcAttr { return nil }
