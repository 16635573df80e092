package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestLimitMemory: without GOMEMLIMIT the process gets cycleMemory per
// concurrent cycle, and the worker raises it; with GOMEMLIMIT nothing is
// touched, not even by the worker.
func TestLimitMemory(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before); memoryLimited = false })
	debug.SetMemoryLimit(math.MaxInt64)
	memoryLimited = false

	limitMemory(func(string) string { return "1GiB" }, 1)
	raiseMemoryLimit(16)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("with GOMEMLIMIT set, the limit became %d", got)
	}
	limitMemory(func(string) string { return "" }, 1)
	if got := debug.SetMemoryLimit(-1); got != cycleMemory {
		t.Fatalf("default limit %d, want %d", got, cycleMemory)
	}
	raiseMemoryLimit(4)
	if got := debug.SetMemoryLimit(-1); got != 4*cycleMemory {
		t.Fatalf("worker of 4 cycles: limit %d, want %d", got, 4*cycleMemory)
	}
}
