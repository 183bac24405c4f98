// Package spin waits for shared memory to change when nothing signals the
// change: a memif ring with no room yet, a polled ring with no packet yet.
//
// Go's own tools are a poor fit on a small machine. runtime.Gosched lets
// only the goroutines of this process run, so a producer spinning on a full
// ring keeps its core until the kernel preempts it, and the consumer in
// another process waits for the end of the time slice (milliseconds). And
// time.Sleep below a millisecond lasts about a millisecond once the process
// is idle, because the runtime's timer waits in epoll with millisecond
// resolution (0.6 ms for 20 µs, 1 ms for 50 µs, measured here).
//
// A Backoff escalates instead: a few runtime.Gosched calls (other goroutines
// of this process), then sched_yield(2) (any other thread on this core, in
// any process: under EEVDF the caller goes behind every runnable peer), then
// nanosleep(2) of a few microseconds (tens of microseconds with the kernel's
// default timer slack), which frees the core when the wait is long.
package spin

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Escalation points of Backoff.Wait.
const (
	gosched = 4  // first this many waits call runtime.Gosched
	yield   = 64 // then, unless Awake is set, up to this many call sched_yield
)

// A Backoff waits in growing steps. The zero Backoff is ready; it is not
// safe for concurrent use (keep one per waiting goroutine).
type Backoff struct {
	n     uint32
	since time.Duration // when the yielding began (Awake), since epoch

	Sleep time.Duration // the step once yielding no longer helps; 0 means 20 µs
	// Awake, if set, is how long the waits yield before the sleeping
	// starts, from the first of them, however many that takes; unset, 64
	// waits yield (about 30 µs on a quiet machine). A count of yields
	// lasts far longer on a loaded machine, where each sched_yield gives
	// the core away for a time slice (500 a second were seen under CI's
	// load): a poller that is to stay awake for a while says for how long.
	Awake time.Duration
	// NoSleep keeps a Backoff at sched_yield for ever: busy polling that
	// still lets other threads of the core run.
	NoSleep bool
}

// epoch is the origin of Backoff's monotonic clock.
var epoch = time.Now()

// Wait waits one step: the more steps since the last Reset, the longer. It
// reports whether the step was a sleep.
func (b *Backoff) Wait() (slept bool) {
	b.n++
	switch {
	case b.n <= gosched:
		runtime.Gosched()
	case b.yields():
		Yield()
	default:
		d := b.Sleep
		if d == 0 {
			d = 20 * time.Microsecond
		}
		Sleep(d)
		return true
	}
	return false
}

// yields reports whether the step b.n (past the Gosched steps) yields.
func (b *Backoff) yields() bool {
	switch {
	case b.NoSleep:
		return true
	case b.Awake > 0:
		now := time.Since(epoch)
		if b.n == gosched+1 {
			b.since = now
		}
		return now-b.since < b.Awake
	}
	return b.n <= yield
}

// Reset starts the escalation again, after the awaited change happened.
func (b *Backoff) Reset() { b.n = 0 }

// Yield gives the core to any runnable thread, of this process or another.
func Yield() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// Sleep sleeps d in the kernel (nanosleep), blocking the calling thread: it
// is more precise than time.Sleep for d below a millisecond.
func Sleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}
