package pipeline

import "sync/atomic"

// An ownedCount is a counter with one writer, the goroutine of the worker
// that owns it, read by any goroutine. The writer adds with a plain load
// and store: on amd64, Go's atomic stores and adds are locked instructions
// (XCHG, LOCK XADD), about 20 cycles each, and a cache hit bumps three such
// counters (the worker's EMC hits, the program's packets and bytes).
//
// A reader loads the counter atomically and may see a value a few
// packets old, never a torn one: the counter is an aligned machine word,
// and Go's memory model lets a racy read of a word observe only some write
// of it. Its readers need no more: Pipeline.credit passes on what is new
// and takes the rest the next time; every happens-before edge the packet's
// owner makes (handing the packet on through a ring, a channel, a mutex)
// publishes the counts with it. Race-detector builds and 32-bit platforms
// add atomically (owned_atomic.go).
type ownedCount struct {
	_ [0]atomic.Uint64 // 64-bit alignment on 32-bit platforms too
	v uint64
}

// Load returns the count. Safe from any goroutine.
func (c *ownedCount) Load() uint64 { return atomic.LoadUint64(&c.v) }
