package multistack

import (
	"math/bits"
	"math/rand/v2"
	"net/netip"

	"github.com/mswitch/mswitch/logic"
)

// addr is an IP address as two 64-bit words, most significant first; an
// IPv4 address is in the low 32 bits of lo, and hi is 0.
type addr struct{ hi, lo uint64 }

func addrOf(ip netip.Addr) addr {
	if ip.Is4() {
		a := ip.As4()
		return addr{lo: uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3])}
	}
	a := ip.As16()
	var w addr
	for i := range 8 {
		w.hi = w.hi<<8 | uint64(a[i])
		w.lo = w.lo<<8 | uint64(a[8+i])
	}
	return w
}

// key is an entry's key in an index: an address and a 32-bit tag, whose
// lowest bit is set so that a zero key marks an empty slot.
type key struct {
	a   addr
	tag uint32
}

// tupleKey is the key of <proto, address, L4 port>.
func tupleKey(a addr, v6 bool, proto uint8, port uint16) key {
	t := uint32(port)<<16 | uint32(proto)<<8 | 1
	if v6 {
		t |= 2
	}
	return key{a, t}
}

// ownerKey is the key of "port holds a reservation on the address".
func ownerKey(a addr, v6 bool, port logic.PortID) key {
	t := uint32(port)<<16 | 1
	if v6 {
		t |= 2
	}
	return key{a, t}
}

func keyOf(t Tuple) key { return tupleKey(addrOf(t.IP), !t.IP.Is4(), t.Proto, t.Port) }

// index is an immutable open-addressing hash table (linear probing, at
// most a quarter full, so a miss ends at an empty slot within a probe or
// two) from
// key to port ID. It exists because a Go map hashes a 24-byte struct key
// with the generic, variable-length hash, which cost half of a lookup; this
// one mixes the key's words with two multiplications and a per-table
// random seed.
type index struct {
	slots []slot
	mask  uint64
	seed  uint64
}

type slot struct {
	key
	out logic.PortID
}

// newIndex returns an index sized for n entries.
func newIndex(n int) *index {
	size := 8
	for size < 4*n {
		size *= 2
	}
	return &index{slots: make([]slot, size), mask: uint64(size - 1), seed: rand.Uint64()}
}

func (x *index) hash(k key) uint64 {
	// The tag goes in the top half of the last word, where an IPv4
	// address has zeros.
	return mix(mix(x.seed^k.a.hi) ^ k.a.lo ^ uint64(k.tag)<<32)
}

// mix is a 64-bit multiply-and-fold mixer.
func mix(v uint64) uint64 {
	hi, lo := bits.Mul64(v^0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9)
	return hi ^ lo
}

// put inserts or replaces k; only while building.
func (x *index) put(k key, out logic.PortID) {
	for i := x.hash(k) & x.mask; ; i = (i + 1) & x.mask {
		s := &x.slots[i]
		if s.tag == 0 || s.key == k {
			s.key, s.out = k, out
			return
		}
	}
}

// get returns the port of key k.
func (x *index) get(k key) (logic.PortID, bool) {
	for i := x.hash(k) & x.mask; ; i = (i + 1) & x.mask {
		s := &x.slots[i]
		if s.tag == k.tag && s.a == k.a {
			return s.out, true
		}
		if s.tag == 0 {
			return 0, false
		}
	}
}
