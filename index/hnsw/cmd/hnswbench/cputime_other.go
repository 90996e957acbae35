//go:build !linux

package main

import "time"

// threadCPU is unavailable here; the CPU-time column then reads 0.
func threadCPU() time.Duration { return 0 }

// processCPU is unavailable here.
func processCPU() time.Duration { return 0 }
