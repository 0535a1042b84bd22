//go:build !linux

package testenv

import "syscall"

func torSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
