package fabric

import (
	"math/rand"
	"sync"
	"testing"

	"github.com/mswitch/mswitch/frame/vnet"
)

// memQueue is an in-memory OutQueue that records what is published.
type memQueue struct {
	size      uint32
	cur       uint32 // consumer position
	published uint32
	publishes int
	bufs      [][]byte
	lens      []int
}

func newMemQueue(size int) *memQueue {
	q := &memQueue{size: uint32(size), bufs: make([][]byte, size), lens: make([]int, size)}
	for i := range q.bufs {
		q.bufs[i] = make([]byte, 2048)
	}
	return q
}

func (q *memQueue) BufSize() int                    { return 2048 }
func (q *memQueue) Room(from uint32) uint32         { return q.size - (from - q.cur) }
func (q *memQueue) Buffer(i uint32) []byte          { return q.bufs[i%q.size] }
func (q *memQueue) SetSlot(i uint32, n int, _ bool) { q.lens[i%q.size] = n }
func (q *memQueue) Notify()                         {}
func (q *memQueue) Publish(tail uint32) {
	if tail < q.published {
		panic("tail moved backwards")
	}
	q.published = tail
	q.publishes++
}

func TestLeaseOutOfOrderCompletion(t *testing.T) {
	q := newMemQueue(16)
	r := newOutRing(q)
	var st outStats
	a0, an, al := r.reserve(4, nil, nil, 0)
	b0, bn, bl := r.reserve(3, nil, nil, 0)
	c0, cn, cl := r.reserve(20, nil, nil, 0) // only 9 slots left
	if a0 != 0 || an != 4 || b0 != 4 || bn != 3 || c0 != 7 || cn != 9 {
		t.Fatalf("reservations: a=[%d,+%d) b=[%d,+%d) c=[%d,+%d)", a0, an, b0, bn, c0, cn)
	}
	if _, n, _ := r.reserve(1, nil, nil, 0); n != 0 {
		t.Fatalf("reserved %d slots in a full queue", n)
	}
	// The newest and the middle writers finish first: nothing is visible.
	r.complete(c0, c0+cn, cl, &st)
	r.complete(b0, b0+bn, bl, &st)
	if q.publishes != 0 {
		t.Fatalf("published %d before the oldest lease completed", q.published)
	}
	// The oldest finishes: it publishes everyone's range at once.
	r.complete(a0, a0+an, al, &st)
	if q.published != 16 || q.publishes != 1 {
		t.Fatalf("published up to %d in %d calls, want 16 in 1", q.published, q.publishes)
	}
	if r.outstanding != 0 {
		t.Fatalf("%d leases outstanding after all completed", r.outstanding)
	}
	// The consumer frees room; reservations continue past the wrap.
	q.cur = 10
	if s, n, _ := r.reserve(16, nil, nil, 0); s != 16 || n != 10 {
		t.Fatalf("after consumption: reserved [%d,+%d), want [16,+10)", s, n)
	}
}

// TestLeaseRandomOrder completes many outstanding leases in random order,
// across a growth of the completion array, and checks that publication is
// always the longest completed prefix.
func TestLeaseRandomOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	for round := 0; round < 200; round++ {
		q := newMemQueue(4096)
		r := newOutRing(q)
		type lease struct{ start, end, n uint32 }
		var ls []lease
		count := 1 + rng.Intn(300) // more than the initial 64 completion slots
		for i := 0; i < count; i++ {
			s, n, l := r.reserve(uint32(1+rng.Intn(8)), nil, nil, 0)
			if n == 0 {
				break
			}
			ls = append(ls, lease{s, s + n, l})
		}
		done := make([]bool, len(ls))
		var st outStats
		for _, k := range rng.Perm(len(ls)) {
			r.complete(ls[k].start, ls[k].end, ls[k].n, &st)
			done[k] = true
			want := uint32(0)
			for i := range ls {
				if !done[i] {
					break
				}
				want = ls[i].end
			}
			if q.published != want {
				t.Fatalf("round %d: published %d, want %d", round, q.published, want)
			}
		}
	}
}

// TestLeaseConcurrent has goroutines reserve, copy and complete on one queue
// while a consumer drains it; every published slot must have been written
// by its owner before publication. Run with -race.
func TestLeaseConcurrent(t *testing.T) {
	q := newMemQueue(256)
	var qmu sync.Mutex // guards the consumer position against Room
	r := newOutRing(lockedQueue{q, &qmu})
	const writers, rounds = 4, 2000
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var st outStats
			for i := 0; i < rounds; i++ {
				s, n, l := r.reserve(uint32(1+i%7), nil, nil, 0)
				for j := s; j != s+n; j++ {
					r.q.Buffer(j)[0] = byte(w)
					r.q.SetSlot(j, 1, false)
				}
				if n > 0 {
					r.complete(s, s+n, l, &st)
				}
			}
		}(w)
	}
	stop := make(chan struct{})
	drained := make(chan uint32)
	go func() {
		var seen uint32
		for {
			r.mu.Lock() // Publish runs under r.mu: read the tail under it too
			tail := q.published
			r.mu.Unlock()
			for ; seen != tail; seen++ {
				if q.lens[seen%q.size] != 1 {
					panic("published slot not written")
				}
				q.lens[seen%q.size] = 0
			}
			qmu.Lock()
			q.cur = seen
			qmu.Unlock()
			select {
			case <-stop:
				drained <- seen
				return
			default:
			}
		}
	}()
	wg.Wait()
	close(stop)
	n := <-drained
	if r.outstanding != 0 || r.tail != r.lease {
		t.Fatalf("outstanding %d, tail %d, lease %d", r.outstanding, r.tail, r.lease)
	}
	t.Logf("%d slots written and published by %d writers", n, writers)
}

type lockedQueue struct {
	*memQueue
	mu *sync.Mutex
}

func (q lockedQueue) Room(from uint32) uint32 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.memQueue.Room(from)
}

// directMemQueue is a memQueue that takes direct sends.
type directMemQueue struct {
	*memQueue
	direct int
}

func (q *directMemQueue) SendDirect([][]byte, vnet.Hdr) bool { q.direct++; return true }

// TestSendDirectWaitsForLeases: a packet goes to SendDirect only when no
// reserved slot is left unpublished, so that it cannot overtake them.
func TestSendDirectWaitsForLeases(t *testing.T) {
	q := &directMemQueue{memQueue: newMemQueue(16)}
	r := newOutRing(q)
	if r.direct == nil {
		t.Fatal("a DirectQueue was not seen as one")
	}
	var st outStats
	a0, an, al := r.reserve(4, nil, nil, 0)
	if r.sendDirect(nil, vnet.Hdr{}) || q.direct != 0 {
		t.Fatal("sent directly past a reserved, unpublished slot")
	}
	r.complete(a0, a0+an, al, &st)
	if !r.sendDirect(nil, vnet.Hdr{}) || q.direct != 1 {
		t.Fatal("no direct send once every slot was published")
	}
}
