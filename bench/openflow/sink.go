package ofbench

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mswitch/mswitch/port/memif"
)

// A sink is the receiver of the throughput runs: a memif client in this
// process, one goroutine on its own thread (pinned to the generator's CPU)
// draining every queue the switch granted and discarding what arrives. It
// is interrupt-driven: when all queues are empty it sleeps on an eventfd
// (the switch signals it after a batch), so that the sender, which
// busy-polls on the same CPU, is not cut to half the CPU in time slices of
// milliseconds, during which the switch would find a full ring or none. pktgen rx would poll each
// queue in a goroutine of its own, and OVS needs two queue pairs (see
// ovs) where mswitchd grants one: the receiver of OVS would then burn a
// second thread on an idle queue, on a machine of two cores.
type sink struct {
	c    *memif.Client
	n    atomic.Uint64
	quit atomic.Bool
	done chan struct{}
	err  error
}

// startSink connects to the switch's memif port; its thread runs on CPU
// cpu.
func startSink(sock string, id, queues, cpu int) (*sink, error) {
	c, err := memif.Dial(sock, memif.ClientConfig{ID: uint32(id), Name: "mswbench-sink", Queues: queues, Mode: memif.Interrupt})
	if err != nil {
		return nil, fmt.Errorf("start sink: %w", err)
	}
	s := &sink{c: c, done: make(chan struct{})}
	pinned := make(chan error)
	go s.run(cpu, pinned)
	if err := <-pinned; err != nil {
		s.stop()
		return nil, fmt.Errorf("start sink: pin to CPU %d: %w", cpu, err)
	}
	return s, nil
}

func (s *sink) run(cpu int, pinned chan<- error) {
	defer close(s.done)
	// The thread is pinned while the sink runs, then unpinned and handed
	// back to the runtime. It must not exit with the goroutine: the
	// processes of the set (mswitchd, OVS) are started with Pdeathsig, which
	// fires when the thread that forked them exits, and Go may have forked
	// any of them from this very thread (a full run lost mswitchd so).
	runtime.LockOSThread()
	var was, set unix.CPUSet
	err := unix.SchedGetaffinity(0, &was)
	if err == nil {
		set.Set(cpu)
		err = unix.SchedSetaffinity(0, &set)
	}
	pinned <- err
	if err != nil {
		runtime.UnlockOSThread()
		return
	}
	defer func() {
		if unix.SchedSetaffinity(0, &was) == nil {
			runtime.UnlockOSThread()
		} // else the pinned thread exits with the goroutine, as before
	}()
	active := 0 // the queue that had packets last: the one to sleep on
	for !s.quit.Load() {
		got := false
		for q := 0; q < s.c.Queues(); q++ {
			n, _, err := s.c.Discard(q)
			if err != nil {
				s.err = err
				return
			}
			if n > 0 {
				s.n.Add(uint64(n))
				got, active = true, q
			}
		}
		if got {
			continue
		}
		// Nothing: sleep on the active queue's eventfd, briefly, so that
		// the other queues are looked at now and then.
		ok, err := s.c.Wait(active, time.Millisecond)
		if err != nil {
			s.err = err
			return
		}
		if !ok {
			active = (active + 1) % s.c.Queues()
		}
	}
}

// stop ends the sink and returns the packets it received.
func (s *sink) stop() (uint64, error) {
	if s.quit.Swap(true) {
		return s.n.Load(), s.err
	}
	<-s.done
	s.c.Close()
	return s.n.Load(), s.err
}
