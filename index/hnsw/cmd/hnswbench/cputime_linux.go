package main

import (
	"syscall"
	"time"
)

// threadCPU is the CPU time consumed by the calling OS thread. On a machine
// shared with other work, wall time counts the moments another process held
// the core; thread CPU time does not, so both are printed.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU is the CPU time of the whole process, to show how much of a
// parallel build's wall time the cores actually worked.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
