package pipeline

import (
	"encoding/binary"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// The exact-match caches.
//
// A worker has two, both mapping a packet's exact key to the cached program
// its megaflow would give:
//
//   - the flat cache, for the most common kind of packet: untagged
//     Ethernet, IPv4 without options, TCP, UDP or SCTP, not a later
//     fragment, at least 38 bytes. For such a packet the flow key is a
//     function of 26 bytes at fixed offsets (the MAC addresses and
//     EtherType, the IP version, header length, DSCP/ECN, protocol and
//     addresses, and the ports), the input port and the tunnel ID, and its
//     layout is fixed. Those bytes, loaded as four words and masked, are the
//     flat key; a hit needs neither the parser nor the 128-byte Key, and an
//     entry is one cache line. The bytes the key leaves out (IP total
//     length, ID, flags, TTL, checksum, the payload) are the ones extract
//     does not read, so packets of one flow that differ in them still hit.
//   - the EMC, keyed on the whole Key, for every other packet.
//
// Both are two-way set associative, as OVS's EMC probes two places: a key
// of hash h lives in one of the two adjacent entries h&mask and h&mask^1,
// so two keys whose hashes collide in the index do not evict each other on
// every packet (with 1,000 flows in 8,192 single entries, about one packet
// in nine did).
//
// An entry is valid in the worker's epoch it was made in. Worker.retire,
// which forgets every cached program (on a new generation, or a full
// megaflow cache), starts a new epoch, which empties both caches without
// touching them. A stale entry keeps its program reachable until it is
// overwritten, at most one per entry.

var le = binary.LittleEndian

// flatKey is the exact key of a flat packet.
type flatKey struct {
	w    [4]uint64 // pkt[0:16], pkt[22:30] masked, pkt[30:38]
	tun  uint64
	port uint32
}

// flatEntry is one cache line.
type flatEntry struct {
	epoch uint64
	prog  *program
	key   flatKey
}

// flatIP keeps, of pkt[22:30] loaded little-endian, the protocol (byte 23)
// and the source address (26-29), not the TTL and checksum.
const flatIP = 0xffffffff_0000ff00

// of sets k to pkt's flat key and reports whether pkt is a flat packet. The
// conditions are extract's for the key and layout flatLayout describes:
// EtherType IPv4 at 12, version 4 and a 20-byte header at 14, a fragment
// offset of zero, a protocol with ports, and the 4 bytes of ports there.
// Every byte a condition reads is in the key or is the same in every flat
// packet, so equal flat keys mean equal extract results.
func (k *flatKey) of(pkt []byte, inPort uint32, tunnelID uint64) bool {
	if len(pkt) < 38 {
		return false
	}
	b := pkt[:38:38]
	if be.Uint16(b[12:]) != ofp.EthTypeIPv4 || b[14] != 0x45 || be.Uint16(b[20:])&0x1fff != 0 {
		return false
	}
	switch b[23] {
	case ofp.IPProtoTCP, ofp.IPProtoUDP, ofp.IPProtoSCTP:
	default:
		return false
	}
	k.w[0], k.w[1] = le.Uint64(b[0:]), le.Uint64(b[8:])
	k.w[2], k.w[3] = le.Uint64(b[22:])&flatIP, le.Uint64(b[30:])
	k.tun, k.port = tunnelID, inPort
	return true
}

// hash is Key.hash's, for the flat key.
func (k *flatKey) hash() uint64 {
	h := mum(k.w[0]^0xa0761d6478bd642f, k.w[1]^0xe7037ed1a0b428db) ^
		mum(k.w[2]^0x8ebc6af09c88c6e3, k.w[3]^0x589965cc75374cc3) ^
		mum(k.tun^0x1d8e4e27c47d124f, uint64(k.port)^0x9e3779b97f4a7c15)
	return mum(h, 0x9e3779b97f4a7c15)
}

// flatLayout is what extract finds in a flat packet.
func flatLayout(pkt []byte) layout {
	return layout{ethType: 12, l3: 14, l4: 34, nd: -1, l3Type: ofp.EthTypeIPv4, proto: pkt[23]}
}

// equal reports whether k and o are the same key, without branches or a
// call (== on the struct calls memequal for the array).
func (k *flatKey) equal(o *flatKey) bool {
	return (k.w[0]^o.w[0])|(k.w[1]^o.w[1])|(k.w[2]^o.w[2])|(k.w[3]^o.w[3])|
		(k.tun^o.tun)|uint64(k.port^o.port) == 0
}

// flatLookup returns the program cached for flat key k of hash h, or nil.
func (w *Worker) flatLookup(h uint64, k *flatKey) *program {
	i := h & uint64(len(w.flat)-1)
	if e := &w.flat[i]; e.epoch == w.epoch && e.key.equal(k) {
		return e.prog
	}
	if e := &w.flat[i^1]; e.epoch == w.epoch && e.key.equal(k) {
		return e.prog
	}
	return nil
}

// flatInsert caches prog for flat key k of hash h: in the first of its two
// entries that is stale, else in the one a bit of the hash picks.
func (w *Worker) flatInsert(h uint64, k *flatKey, prog *program) {
	i := h & uint64(len(w.flat)-1)
	e := &w.flat[i]
	if e.epoch == w.epoch {
		if f := &w.flat[i^1]; f.epoch != w.epoch || h>>63 == 1 {
			e = f
		}
	}
	e.epoch, e.key, e.prog = w.epoch, *k, prog
}

type emcEntry struct {
	epoch uint64
	key   Key
	prog  *program
}

// emcLookup returns the program cached for key k of hash h, or nil.
func (w *Worker) emcLookup(h uint64, k *Key) *program {
	i := h & uint64(len(w.emc)-1)
	if e := &w.emc[i]; e.epoch == w.epoch && e.key == *k {
		return e.prog
	}
	if e := &w.emc[i^1]; e.epoch == w.epoch && e.key == *k {
		return e.prog
	}
	return nil
}

// emcInsert caches prog for key k of hash h, as flatInsert.
func (w *Worker) emcInsert(h uint64, k *Key, prog *program) {
	i := h & uint64(len(w.emc)-1)
	e := &w.emc[i]
	if e.epoch == w.epoch {
		if f := &w.emc[i^1]; f.epoch != w.epoch || h>>63 == 1 {
			e = f
		}
	}
	e.epoch, e.key, e.prog = w.epoch, *k, prog
}
