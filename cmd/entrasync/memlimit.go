package main

import (
	"runtime/debug"
)

// cycleMemory is the soft memory limit the process runs under for each
// cycle it may run at once, unless GOMEMLIMIT sets one. Without a limit the
// garbage collector lets the heap grow to twice what is live before it
// collects: a first cycle of a 100,000-user tenant has some 165 MB live at
// its peak (the plan, its events, the users read) and reached 450 MB of
// RSS. The limit is soft: a larger live heap is never refused, the
// collector only runs more often (BENCHMARKS.md, "Apply and memory").
const cycleMemory = 256 << 20

// memoryLimited is set when main applied the default limit, so that the
// worker may raise it to its number of concurrent cycles (tests running
// commands in process never set it).
var memoryLimited bool

// limitMemory sets the default soft memory limit for cycles cycles at once
// when GOMEMLIMIT is unset (getenv "" for it).
func limitMemory(getenv func(string) string, cycles int) {
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	memoryLimited = true
	debug.SetMemoryLimit(int64(max(cycles, 1)) * cycleMemory)
}

// raiseMemoryLimit gives the worker cycleMemory for each of its concurrent
// cycles, where main set the default limit.
func raiseMemoryLimit(cycles int) {
	if memoryLimited {
		debug.SetMemoryLimit(int64(max(cycles, 1)) * cycleMemory)
	}
}
