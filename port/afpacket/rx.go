package afpacket

// The receive side: a fabric.InQueue over the TPACKET_V3 ring.
//
//	blocks:  ... | returned (kernel) | parsed, lent or not | retired, unparsed | kernel ...
//	                                 ^ blkq head            ^ next
//	frames:            ents[rel .. end): parsed and not released, oldest first
//
// Receive parses retired blocks in ring order into ents while fewer frames
// than the caller asked for are waiting, and lends ents[rel:]. Release moves
// rel, and every block whose frames all lie before rel goes back to the
// kernel (TP_STATUS_KERNEL), oldest first. Only the input goroutine touches
// this state; the kernel sees only the block status words.

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mswitch/mswitch/fabric"
	"golang.org/x/sys/unix"
)

// pollSpins is how many empty polls ModePoll makes before it yields.
const pollSpins = 16

type inQueue struct {
	p       *Port
	s       *sock
	idx     int
	ring    []byte
	bsize   int
	nblocks int
	vnetLen int
	poll    bool

	next int // the next block to parse

	ents     []fabric.Slot // circular, len a power of two
	mask     uint32
	rel, end uint32 // free-running indices into ents

	blkq           []parsedBlock // circular, one per block
	bqHead, bqTail uint32        // free-running

	scratch []rxPkt // parseBlock's output, reused

	empty       int // empty polls in a row (ModePoll)
	interrupted atomic.Bool
	readyFn     func(fd uintptr) bool // q.ready, bound once: Wait allocates nothing

	// Counters, written by the input goroutine only.
	packets, bytes, truncated, bad atomic.Uint64
}

// parsedBlock is a block lent to the fabric: it goes back to the kernel once
// rel reaches end.
type parsedBlock struct {
	blk int
	end uint32
}

var _ fabric.InQueue = (*inQueue)(nil)

func newInQueue(p *Port, s *sock, idx int, ring []byte, vnetLen int) *inQueue {
	bsize := p.cfg.BlockSize
	perBlock := bsize / minRecord
	n := 1
	for n < fabric.MaxBatch+fabric.MaxFrags+perBlock {
		n <<= 1
	}
	q := &inQueue{
		p: p, s: s, idx: idx, ring: ring, bsize: bsize, nblocks: p.cfg.Blocks,
		vnetLen: vnetLen, poll: p.cfg.Mode == ModePoll,
		ents: make([]fabric.Slot, n), mask: uint32(n - 1),
		blkq:    make([]parsedBlock, p.cfg.Blocks),
		scratch: make([]rxPkt, perBlock),
	}
	q.readyFn = q.ready
	return q
}

// status returns the status word of block b.
func (q *inQueue) status(b int) *uint32 {
	return (*uint32)(unsafe.Pointer(&q.ring[b*q.bsize+blkStatusOff]))
}

// Receive implements fabric.InQueue.
func (q *inQueue) Receive(slots []fabric.Slot) int {
	for int(q.end-q.rel) < len(slots) && q.parseNext() {
	}
	n := min(len(slots), int(q.end-q.rel))
	if n > 0 {
		q.empty = 0
	}
	for k := 0; k < n; k++ {
		slots[k] = q.ents[(q.rel+uint32(k))&q.mask]
	}
	return n
}

// parseNext parses the next block if the kernel retired it and its frames
// fit in ents.
func (q *inQueue) parseNext() bool {
	b := q.next
	if atomic.LoadUint32(q.status(b))&unix.TP_STATUS_USER == 0 {
		return false
	}
	if int(q.end-q.rel)+len(q.scratch) > len(q.ents) {
		return false // the fabric holds too many frames: wait for a Release
	}
	blk := q.ring[b*q.bsize : (b+1)*q.bsize : (b+1)*q.bsize]
	r := parseBlock(blk, q.vnetLen, q.scratch)
	if r.truncated != 0 {
		q.truncated.Add(uint64(r.truncated))
	}
	if r.bad != 0 {
		q.bad.Add(uint64(r.bad))
	}
	var bytes uint64
	for _, pk := range q.scratch[:r.n] {
		q.ents[q.end&q.mask] = fabric.Slot{Buf: blk[pk.off:pk.end:pk.capEnd], Offload: pk.hdr}
		q.end++
		bytes += uint64(pk.end - pk.off)
	}
	q.packets.Add(uint64(r.n))
	q.bytes.Add(bytes)
	q.blkq[q.bqTail%uint32(len(q.blkq))] = parsedBlock{blk: b, end: q.end}
	q.bqTail++
	q.next = (b + 1) % q.nblocks
	q.retire()
	return true
}

// Release implements fabric.InQueue.
func (q *inQueue) Release(n int) {
	q.rel += uint32(n)
	q.retire()
}

// retire returns to the kernel every parsed block whose frames were all
// released.
func (q *inQueue) retire() {
	for q.bqHead != q.bqTail {
		pb := &q.blkq[q.bqHead%uint32(len(q.blkq))]
		if int32(q.rel-pb.end) < 0 {
			return
		}
		atomic.StoreUint32(q.status(pb.blk), unix.TP_STATUS_KERNEL)
		q.bqHead++
	}
}

// ready reports whether Receive would find something: frames parsed and not
// lent, or a retired block. It runs as the netpoller's readiness check.
func (q *inQueue) ready(uintptr) bool {
	return q.interrupted.Load() || q.end != q.rel ||
		atomic.LoadUint32(q.status(q.next))&unix.TP_STATUS_USER != 0
}

// Wait implements fabric.InQueue.
func (q *inQueue) Wait() error {
	if q.interrupted.Load() {
		return fabric.ErrInterrupted
	}
	if q.poll {
		if q.empty++; q.empty > pollSpins {
			unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		}
	} else {
		// The netpoller resets the socket's readiness before the first
		// check, so a block retired after the check wakes the read.
		q.s.rc.Read(q.readyFn)
	}
	if q.interrupted.Load() {
		return fabric.ErrInterrupted
	}
	return nil
}

// Interrupt implements fabric.InQueue.
func (q *inQueue) Interrupt() {
	q.interrupted.Store(true)
	if q.s.file != nil {
		q.s.file.SetReadDeadline(time.Unix(1, 0))
	}
}
