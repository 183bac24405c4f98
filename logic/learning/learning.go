package learning

// Forwarding, per batch (Lookup):
//
//  1. clock:  read the time once, as whole seconds since the bridge was made.
//  2. parse:  per packet, drop runts (and broken VLAN stacks when VLAN
//             aware) and build the keys of the source and destination.
//  3. learn:  look the unicast source up in its bucket. A hit on the input
//             port refreshes the entry's timestamp (once per second), a hit
//             on another port moves it (one CAS); a miss takes the writer
//             lock to insert. A run of packets from one source is learned
//             once (netmap's last_smac).
//  4. decide: group destinations flood; a live entry gives its port; any
//             other destination floods. A run of packets to one destination
//             is looked up once.
//
// The table is a power of two of 128-byte buckets (two cache lines: the
// sequence and the first three slots in one, the other four in the second)
// of `ways` slots, with
// at least twice as many slots as MaxEntries. A slot is two words:
//
//	key:   1<<63 (valid) | VID<<48 | MAC        (0: empty)
//	value: seen<<32 | gen<<17 | static<<16 | port
//
// Locking:
//   - Readers (Lookup) take no lock. They read a bucket under its sequence
//     counter (a seqlock), so a key and a value always belong together, and
//     change a value only by CAS, keeping its gen.
//   - Writers (insert, slot reuse, delete, static entries, sweep) hold b.mu.
//     They change a slot with its bucket's sequence odd, by a CAS on the
//     value that bumps gen: a reader's CAS based on an older read fails
//     instead of landing on another MAC, and a writer never clobbers a
//     refresh it did not see.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/frame"
	"github.com/mswitch/mswitch/logic"
)

// Table limits and defaults.
const (
	DefaultMaxEntries = 4096
	MaxEntriesLimit   = 1 << 20
	DefaultMaxAge     = 300 * time.Second
)

// Errors returned by the control methods, wrapped.
var (
	ErrBadOption = errors.New("invalid option")
	ErrBadMAC    = errors.New("not a unicast MAC address")
	ErrBadVLAN   = errors.New("VLAN ID out of range")
	ErrBadPort   = errors.New("port ID out of range")
	ErrFull      = errors.New("table full")
	ErrCollision = errors.New("hash bucket full")
	ErrNotFound  = errors.New("no such static entry")
)

const (
	ways      = 7
	validBit  = 1 << 63
	macMask   = 1<<48 - 1
	portMask  = 0xffff
	staticBit = 1 << 16
	genShift  = 17
	genBits   = (1<<15 - 1) << genShift
	seenShift = 32
	noneSeen  = math.MaxUint32 // minSeen when no learned entry exists
	neverAge  = 1 << 40        // maxAge without aging
	hashMul   = 0x9e3779b97f4a7c15
	readTries = 4
)

// Options configure a Bridge. The zero value gives the defaults.
type Options struct {
	// MaxEntries bounds the number of entries, static ones included:
	// 0 means DefaultMaxEntries, at most MaxEntriesLimit.
	MaxEntries int
	// MaxAge is how long a learned entry lives without traffic from its
	// MAC, rounded up to whole seconds: 0 means DefaultMaxAge, a negative
	// value disables aging.
	MaxAge time.Duration
	// VLANAware makes every VLAN (the VID of the outermost tag; 0 for
	// untagged frames) a learning domain of its own.
	VLANAware bool
	// Seed seeds the bucket hash; 0 picks a random seed.
	Seed uint64
	// Now is the clock, for tests; nil means time.Now. It must not go
	// backwards.
	Now func() time.Time
}

// Bridge is an L2 learning bridge. Its methods are safe for concurrent use.
type Bridge struct {
	buckets   []bucket
	shift     uint
	seed      uint64
	maxCount  uint64
	maxAge    uint64 // seconds
	vlanAware bool
	now       func() time.Time
	epoch     time.Time

	_        [64]byte      // keep the above, read on every batch, apart
	mu       sync.Mutex    // held by writers
	count    atomic.Uint64 // occupied slots; changed under mu
	minSeen  atomic.Uint64 // lower bound on the seen of learned entries
	learned  atomic.Uint64
	moves    atomic.Uint64
	collide  atomic.Uint64
	full     atomic.Uint64
	refusals atomic.Uint64
}

// bucket is two cache lines. Each way keeps its key beside its value, and
// inserts fill the first free way, so a lookup in a lightly loaded table
// usually reads one line: the sequence counter and the first ways.
type bucket struct {
	seq  atomic.Uint64 // odd while a writer changes a slot
	slot [ways]struct{ key, val atomic.Uint64 }
	_    uint64
}

var (
	_ logic.Logic        = (*Bridge)(nil)
	_ logic.PortObserver = (*Bridge)(nil)
)

func init() {
	logic.Register("learning", func() logic.Logic { return New() })
	// learning-vlan is the VLAN-aware bridge: one learning domain per VLAN,
	// and frames whose VLAN stack cannot be parsed dropped as malformed.
	logic.Register("learning-vlan", func() logic.Logic {
		b, _ := NewWithOptions(Options{VLANAware: true}) // valid options
		return b
	})
}

// New returns a bridge with the default Options.
func New() *Bridge {
	b, err := NewWithOptions(Options{})
	if err != nil {
		panic(err) // the defaults are valid
	}
	return b
}

// NewWithOptions returns a bridge configured by opts. It fails with
// ErrBadOption if MaxEntries is out of range.
func NewWithOptions(opts Options) (*Bridge, error) {
	n := opts.MaxEntries
	if n == 0 {
		n = DefaultMaxEntries
	}
	if n < 1 || n > MaxEntriesLimit {
		return nil, fmt.Errorf("create bridge: max entries %d outside [1, %d]: %w", n, MaxEntriesLimit, ErrBadOption)
	}
	b := &Bridge{maxCount: uint64(n), vlanAware: opts.VLANAware, seed: opts.Seed, now: opts.Now}
	switch {
	case opts.MaxAge == 0:
		b.maxAge = uint64(DefaultMaxAge / time.Second)
	case opts.MaxAge < 0:
		b.maxAge = neverAge
	default:
		b.maxAge = uint64((opts.MaxAge + time.Second - 1) / time.Second)
	}
	if b.seed == 0 {
		b.seed = rand.Uint64()
	}
	// At most 2 entries per bucket of 7 on average, so buckets rarely fill
	// up: a 4096-entry table has 2048 buckets (256 KiB).
	nb, bits := 1, uint(0)
	for nb*2 < n {
		nb, bits = nb*2, bits+1
	}
	b.buckets = make([]bucket, nb)
	b.shift = 64 - bits
	if b.now == nil {
		b.epoch = time.Now()
	} else {
		b.epoch = b.now()
	}
	b.minSeen.Store(noneSeen)
	return b, nil
}

// Lookup implements logic.Logic. It never blocks except to insert a new MAC,
// and never allocates.
func (b *Bridge) Lookup(pkts []logic.Packet, in logic.PortID) {
	now := b.clock()
	fresh := uint64(now)<<seenShift | uint64(in) // a learned entry, up to date
	var lastSrc, lastDst uint64                  // keys; 0 matches none
	var lastRes logic.Dst
	for i := range pkts {
		p := &pkts[i]
		d := p.Data
		if len(d) < frame.EthHeaderLen {
			p.Dst = logic.DropMalformed
			continue
		}
		var vid uint64
		if b.vlanAware {
			_, _, v, ok := frame.L3(d)
			if !ok {
				p.Dst = logic.DropMalformed
				continue
			}
			vid = uint64(v) << 48
		}
		if src := frame.Src(d); !frame.IsMulticast(src) {
			if k := validBit | vid | src; k != lastSrc {
				bk := b.bucketOf(k)
				j, v := bk.find(k)
				r := learnKept // the entry is on this port and fresh
				if j < 0 {
					r = b.insert(bk, k, in, now)
				} else if v&^genBits != fresh {
					r = b.update(bk, j, v, in, now)
				}
				lastSrc = 0
				switch r {
				case learnChanged:
					lastDst = 0
					fallthrough
				case learnKept:
					lastSrc = k
				}
			}
		}
		dst := frame.Dst(d)
		if frame.IsMulticast(dst) {
			p.Dst = logic.Flood
			continue
		}
		if k := validBit | vid | dst; k != lastDst {
			lastDst, lastRes = k, logic.Flood
			if j, v := b.bucketOf(k).find(k); j >= 0 && !b.expired(v, now) {
				lastRes = logic.To(logic.PortID(v & portMask))
			}
		}
		p.Dst = lastRes
	}
}

// PortAdded implements logic.PortObserver. It does nothing.
func (b *Bridge) PortAdded(id logic.PortID) {}

// PortRemoved implements logic.PortObserver: it deletes every entry on port
// id, static ones included, because the ID will be handed out again.
func (b *Bridge) PortRemoved(id logic.PortID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deleteIf(func(v uint64) bool { return logic.PortID(v&portMask) == id })
}

// clock returns the whole seconds since the bridge was created.
func (b *Bridge) clock() uint32 {
	var d time.Duration
	if b.now != nil {
		d = b.now().Sub(b.epoch)
	} else {
		d = time.Since(b.epoch)
	}
	if d < 0 {
		return 0
	}
	return uint32(d / time.Second)
}

func (b *Bridge) bucketOf(k uint64) *bucket { return &b.buckets[b.index(k)] }

func (b *Bridge) index(k uint64) uint64 { return ((k ^ b.seed) * hashMul) >> b.shift }

// expired reports whether value v is a learned entry older than maxAge.
func (b *Bridge) expired(v uint64, now uint32) bool {
	return v&staticBit == 0 && v>>seenShift+b.maxAge <= uint64(now)
}

// find returns the slot of key k in bk and its value, or -1 if k is absent
// or the bucket kept changing under the reader.
func (bk *bucket) find(k uint64) (int, uint64) {
	for range readTries {
		s := bk.seq.Load()
		if s&1 != 0 {
			continue
		}
		j, v := -1, uint64(0)
		for i := range ways {
			if bk.slot[i].key.Load() == k {
				j, v = i, bk.slot[i].val.Load()
				break
			}
		}
		if bk.seq.Load() == s {
			return j, v
		}
	}
	return -1, 0
}

// replace sets slot j to key k and value val (with the next gen), provided
// its value is still old. Preconditions: b.mu is held.
func (bk *bucket) replace(j int, old, k, val uint64) bool {
	bk.seq.Add(1)
	gen := (old + 1<<genShift) & genBits
	ok := bk.slot[j].val.CompareAndSwap(old, val&^genBits|gen)
	if ok {
		bk.slot[j].key.Store(k)
	}
	bk.seq.Add(1)
	return ok
}

type learnResult int

const (
	learnFailed  learnResult = iota // not learned: retry on the next packet
	learnKept                       // the entry already pointed at the port
	learnChanged                    // inserted, revived or moved
)

// update refreshes, revives or moves the entry in slot j, whose value was v.
func (b *Bridge) update(bk *bucket, j int, v uint64, in logic.PortID, now uint32) learnResult {
	nv := uint64(now)<<seenShift | v&genBits | uint64(in)
	switch {
	case v&staticBit != 0:
		if logic.PortID(v&portMask) != in {
			b.refusals.Add(1)
			return learnFailed
		}
		return learnKept
	case b.expired(v, now):
		if bk.slot[j].val.CompareAndSwap(v, nv) {
			b.learned.Add(1)
			return learnChanged
		}
	case logic.PortID(v&portMask) != in:
		if bk.slot[j].val.CompareAndSwap(v, nv) {
			b.moves.Add(1)
			return learnChanged
		}
	case uint32(v>>seenShift) != now:
		if bk.slot[j].val.CompareAndSwap(v, nv) {
			return learnKept
		}
	default:
		return learnKept
	}
	return learnFailed // lost a race: the next packet tries again
}

// insert learns a new key k on port in.
func (b *Bridge) insert(bk *bucket, k uint64, in logic.PortID, now uint32) learnResult {
	// Refuse without the lock when the answer is plain.
	free, stale := b.room(bk, now)
	if free < 0 && stale < 0 {
		b.collide.Add(1)
		return learnFailed
	}
	if stale < 0 && b.count.Load() >= b.maxCount && !b.maySweep(now) {
		b.full.Add(1)
		return learnFailed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if j, v := bk.find(k); j >= 0 { // raced with another writer
		return b.update(bk, j, v, in, now)
	}
	switch b.add(bk, k, uint64(now)<<seenShift|uint64(in), now) {
	case nil:
		b.learned.Add(1)
		return learnChanged
	case ErrCollision:
		b.collide.Add(1)
	default:
		b.full.Add(1)
	}
	return learnFailed
}

// add puts the absent key k with value val into bk, reusing an expired slot
// if there is one, else taking a free slot within the size limit.
// Preconditions: b.mu is held.
func (b *Bridge) add(bk *bucket, k, val uint64, now uint32) error {
	for {
		free, stale := b.room(bk, now)
		j := stale
		if j < 0 {
			if free < 0 {
				return ErrCollision
			}
			if b.count.Load() >= b.maxCount && b.maySweep(now) {
				b.sweep(now)
			}
			if b.count.Load() >= b.maxCount {
				return ErrFull
			}
			j = free
		}
		old := bk.slot[j].val.Load()
		if (j == stale && !b.expired(old, now)) || !bk.replace(j, old, k, val) {
			continue // a reader revived or refreshed the slot: look again
		}
		if j != stale {
			b.count.Add(1)
		}
		if val&staticBit == 0 && uint64(now) < b.minSeen.Load() {
			b.minSeen.Store(uint64(now))
		}
		return nil
	}
}

// room returns the first free slot of bk (the first ones are found
// fastest) and a slot holding an expired entry, or -1.
func (b *Bridge) room(bk *bucket, now uint32) (free, stale int) {
	free, stale = -1, -1
	for j := range ways {
		if k := bk.slot[j].key.Load(); k == 0 && free < 0 {
			free = j
		} else if k != 0 && b.expired(bk.slot[j].val.Load(), now) {
			stale = j
		}
	}
	return free, stale
}

// maySweep reports whether some learned entry may have expired.
func (b *Bridge) maySweep(now uint32) bool { return uint64(now) >= b.minSeen.Load()+b.maxAge }

// sweep deletes the expired entries and recomputes minSeen. Since minSeen is
// then exact, the table is swept at most once per second.
// Preconditions: b.mu is held.
func (b *Bridge) sweep(now uint32) {
	low := uint64(noneSeen)
	b.deleteIf(func(v uint64) bool {
		if b.expired(v, now) {
			return true
		}
		if v&staticBit == 0 {
			low = min(low, v>>seenShift)
		}
		return false
	})
	b.minSeen.Store(low)
}

// deleteIf deletes every entry whose value satisfies del.
// Preconditions: b.mu is held.
func (b *Bridge) deleteIf(del func(v uint64) bool) {
	for i := range b.buckets {
		bk := &b.buckets[i]
		for j := range ways {
			for bk.slot[j].key.Load() != 0 {
				v := bk.slot[j].val.Load()
				if !del(v) {
					break
				}
				if bk.replace(j, v, 0, v) {
					b.count.Add(^uint64(0))
					break
				}
			}
		}
	}
}
