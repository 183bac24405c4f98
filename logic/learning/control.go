package learning

// The control path: static entries, dump, flush, counters. Everything here
// holds b.mu.

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/mswitch/mswitch/logic"
)

// Entry is one live entry of the table, as Dump reports it.
type Entry struct {
	MAC    net.HardwareAddr
	VLAN   uint16 // 0 unless the bridge is VLAN aware
	Port   logic.PortID
	Static bool
	Age    time.Duration // since the MAC was last seen, in whole seconds; 0 if Static
}

// Stats are the bridge's counters, totals since it was created.
type Stats struct {
	Learned            uint64 // MACs inserted, or revived after they expired
	Moves              uint64 // learned MACs moved to another port
	Collisions         uint64 // new MACs not learned: their bucket was full of live entries
	Full               uint64 // new MACs not learned: the table held MaxEntries live entries
	RefusedStaticMoves uint64 // packets from a static MAC on a port not its own
	Entries            uint64 // occupied slots now, expired ones not yet reclaimed included
}

// key returns the table key of mac on vlan (ignored unless VLAN aware).
func (b *Bridge) key(mac net.HardwareAddr, vlan uint16) (uint64, error) {
	if len(mac) != 6 || mac[0]&1 != 0 {
		return 0, fmt.Errorf("check MAC %v: %w", mac, ErrBadMAC)
	}
	if vlan > 4095 {
		return 0, fmt.Errorf("check VLAN %d: %w", vlan, ErrBadVLAN)
	}
	k := validBit | uint64(mac[0])<<40 | uint64(mac[1])<<32 | uint64(mac[2])<<24 |
		uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5])
	if b.vlanAware {
		k |= uint64(vlan) << 48
	}
	return k, nil
}

// AddStatic makes mac on vlan a static entry on port: it never ages and
// traffic from mac on other ports does not move it (those packets are
// forwarded but counted as RefusedStaticMoves). A learned entry for mac is
// converted; a static one is re-pointed. vlan is ignored unless the bridge
// is VLAN aware. It fails with ErrBadMAC for a group or malformed address,
// ErrBadVLAN, ErrBadPort, and, for a new MAC, ErrCollision or ErrFull as
// learning would.
func (b *Bridge) AddStatic(mac net.HardwareAddr, vlan uint16, port logic.PortID) error {
	k, err := b.key(mac, vlan)
	if err != nil {
		return fmt.Errorf("add static entry: %w", err)
	}
	if port >= logic.MaxPorts {
		return fmt.Errorf("add static entry %v: port %d: %w", mac, port, ErrBadPort)
	}
	now := b.clock()
	val := uint64(now)<<seenShift | staticBit | uint64(port)
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.bucketOf(k)
	for {
		j, v := bk.find(k)
		if j < 0 {
			break
		}
		if bk.replace(j, v, k, val) {
			return nil
		}
	}
	if err := b.add(bk, k, val, now); err != nil {
		return fmt.Errorf("add static entry %v vlan %d: %w", mac, vlan, err)
	}
	return nil
}

// DeleteStatic deletes the static entry of mac on vlan (ignored unless VLAN
// aware). It fails with ErrNotFound if there is none; a learned entry for
// mac is left alone.
func (b *Bridge) DeleteStatic(mac net.HardwareAddr, vlan uint16) error {
	k, err := b.key(mac, vlan)
	if err != nil {
		return fmt.Errorf("delete static entry: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.bucketOf(k)
	j, v := bk.find(k)
	if j < 0 || v&staticBit == 0 || !bk.replace(j, v, 0, v) { // readers never change static values
		return fmt.Errorf("delete static entry %v vlan %d: %w", mac, vlan, ErrNotFound)
	}
	b.count.Add(^uint64(0))
	return nil
}

// Flush deletes every learned entry; static entries stay.
func (b *Bridge) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deleteIf(func(v uint64) bool { return v&staticBit == 0 })
}

// Dump returns the live entries, sorted by VLAN, then MAC.
func (b *Bridge) Dump() []Entry {
	now := b.clock()
	b.mu.Lock()
	var out []Entry
	for i := range b.buckets {
		bk := &b.buckets[i]
		for j := range ways {
			k := bk.slot[j].key.Load() // stable: only writers change keys
			v := bk.slot[j].val.Load()
			if k == 0 || b.expired(v, now) {
				continue
			}
			e := Entry{
				MAC:    net.HardwareAddr{byte(k >> 40), byte(k >> 32), byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)},
				VLAN:   uint16(k>>48) & 0xfff,
				Port:   logic.PortID(v & portMask),
				Static: v&staticBit != 0,
			}
			if seen := uint32(v >> seenShift); !e.Static && now > seen {
				e.Age = time.Duration(now-seen) * time.Second
			}
			out = append(out, e)
		}
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(x, y Entry) int {
		return cmp.Or(cmp.Compare(x.VLAN, y.VLAN), bytes.Compare(x.MAC, y.MAC))
	})
	return out
}

// Stats returns the counters.
func (b *Bridge) Stats() Stats {
	return Stats{
		Learned:            b.learned.Load(),
		Moves:              b.moves.Load(),
		Collisions:         b.collide.Load(),
		Full:               b.full.Load(),
		RefusedStaticMoves: b.refusals.Load(),
		Entries:            b.count.Load(),
	}
}
