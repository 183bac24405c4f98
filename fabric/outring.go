package fabric

import (
	"sync"

	"github.com/mswitch/mswitch/frame/vnet"
)

// outRing adds the fabric's lease bookkeeping to a backend's OutQueue, so that
// many senders can fill one output queue at once (paper §3.3, "destination
// port parallelism"; netmap's nm_kr_space / nm_kr_lease / nkr_leases).
//
// Indices are free-running uint32 slot numbers:
//
//	          published          reserved, being copied       free
//	... ------|----------------------------------------|-------------- ...
//	        tail                                     lease
//
// A sender reserves [lease, lease+n) and takes the next lease number under
// mu, copies without mu, then records its end in leases[] under mu. The sender
// whose range starts at tail (the oldest one) publishes its range and every
// completed range after it, in order; a sender that finishes early leaves its
// range for the oldest one to publish.
type outRing struct {
	q       OutQueue
	off     OffloadQueue // q, if it takes offloaded packets; else nil
	direct  DirectQueue  // q, if it sends long packets from their input buffers; else nil
	bufSize int

	mu sync.Mutex
	// The fields below are guarded by mu.
	lease     uint32 // first slot not reserved by anyone
	tail      uint32 // first slot not yet published
	leaseNext uint32 // next lease number to hand out
	// outstanding counts the unpublished leases: numbers
	// [leaseNext-outstanding, leaseNext).
	outstanding uint32
	leases      []uint32 // completion: end slot, or leasePending; indexed by lease number mod len
	stats       outStats
}

// outStats counts what happened at one output queue. Guarded by outRing.mu.
type outStats struct {
	packets, bytes uint64
	drops          [numDropReasons]uint64
}

// leasePending marks a lease whose owner is still copying. An end index can
// never take this value while a lease is pending: it would mean more than
// 2^32-1 slots in flight.
const leasePending = ^uint32(0)

func newOutRing(q OutQueue) *outRing {
	r := &outRing{q: q, bufSize: q.BufSize(), leases: make([]uint32, 64)}
	r.off, _ = q.(OffloadQueue)
	r.direct, _ = q.(DirectQueue)
	return r
}

// reserve takes up to want slots, or fewer if the queue has less room. When
// the room is short and fit is non-nil, sc.fit decides how many of the room
// slots the packets of the iterator fit can use without splitting one. It returns the first
// reserved slot, their number and the lease number (n == 0: nothing reserved).
func (r *outRing) reserve(want uint32, sc *scratch, fit *merged, bs int) (start, n, lease uint32) {
	r.mu.Lock()
	room := r.q.Room(r.lease)
	n = want
	if room < want {
		n = room
		if fit != nil && n > 0 {
			n = sc.fit(*fit, room, bs)
		}
	}
	if n == 0 {
		r.mu.Unlock()
		return 0, 0, 0
	}
	if r.outstanding == uint32(len(r.leases)) {
		r.growLeasesLocked()
	}
	lease = r.leaseNext
	r.leases[lease%uint32(len(r.leases))] = leasePending
	r.leaseNext++
	r.outstanding++
	start = r.lease
	r.lease += n
	r.mu.Unlock()
	return start, n, lease
}

// growLeasesLocked doubles the completion array, keeping each outstanding
// lease at its number modulo the new length.
//
// Preconditions: r.mu is held.
func (r *outRing) growLeasesLocked() {
	old := r.leases
	r.leases = make([]uint32, 2*len(old))
	for l := r.leaseNext - r.outstanding; l != r.leaseNext; l++ {
		r.leases[l%uint32(len(r.leases))] = old[l%uint32(len(old))]
	}
}

// complete ends lease number lease, which covered [start, end), and publishes
// what became contiguous. st holds the sender's counts for this destination.
func (r *outRing) complete(start, end, lease uint32, st *outStats) {
	notify := false
	r.mu.Lock()
	r.leases[lease%uint32(len(r.leases))] = end
	r.addStatsLocked(st)
	if start == r.tail {
		n := uint32(len(r.leases))
		l := lease
		for ; l != r.leaseNext && r.leases[l%n] != leasePending; l++ {
			r.tail = r.leases[l%n]
			r.outstanding--
		}
		r.q.Publish(r.tail)
		notify = true
	}
	r.mu.Unlock()
	if notify {
		r.q.Notify()
	}
}

// sendDirect offers the packet of bufs to the queue's SendDirect (r.direct is
// set), if every slot reserved in the queue has been published: the packets
// that went before it, the sender's own included, are then ahead of it in
// the queue, which SendDirect sends first. It reports whether the queue took
// the packet.
func (r *outRing) sendDirect(bufs [][]byte, h vnet.Hdr) bool {
	r.mu.Lock()
	idle := r.tail == r.lease
	r.mu.Unlock()
	return idle && r.direct.SendDirect(bufs, h)
}

// addStats adds a sender's counts.
func (r *outRing) addStats(st *outStats) {
	r.mu.Lock()
	r.addStatsLocked(st)
	r.mu.Unlock()
}

// addStatsLocked adds a sender's counts.
//
// Preconditions: r.mu is held.
func (r *outRing) addStatsLocked(st *outStats) { r.stats.add(st) }

func (s *outStats) add(o *outStats) {
	s.packets += o.packets
	s.bytes += o.bytes
	for i, d := range o.drops {
		s.drops[i] += d
	}
}

// dropAll counts packets dropped at this queue without a reservation.
func (r *outRing) dropAll(st *outStats) {
	r.mu.Lock()
	r.addStatsLocked(st)
	r.mu.Unlock()
}
