package learning

import (
	"encoding/hex"
	"testing"

	"github.com/mswitch/mswitch/frame"
	"github.com/mswitch/mswitch/logic"
)

// fuzzSeeds are real frames and near misses.
func fuzzSeeds(f *testing.F) {
	arp, _ := hex.DecodeString( // ARP who-has 10.0.0.2 tell 10.0.0.1
		"ffffffffffff020000000001080600010800060400010200000000010a000001" +
			"0000000000000a000002000000000000000000000000000000000000")
	f.Add(arp)
	f.Add(eth(macB, macA))
	f.Add(eth(macA, macB, 10))
	f.Add(eth(macA, macB, 10, 20))
	f.Add(eth(macA, macB, 10, 20, 30))
	f.Add(eth(mcast, macA, 4095)[:18])
	f.Add(eth(macA, mcast)[:14])
	f.Add(eth(macA, macB, 1)[:15])
	f.Add([]byte{})
	f.Add(make([]byte, 13))
}

// fuzzLookup checks Lookup's invariants on arbitrary bytes: no panic; runts
// (and broken tag stacks when VLAN aware) are malformed; every result is a
// port, Flood or DropMalformed; group destinations flood; a learned source
// is found again on its port (or floods, if the table refused it).
func fuzzLookup(f *testing.F, opts Options) {
	fuzzSeeds(f)
	opts.MaxEntries = 64
	b, err := NewWithOptions(opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := logic.PortID(len(data) % 7)
		pkts := []logic.Packet{{Data: data, Dst: logic.Drop}}
		b.Lookup(pkts, in)
		d := pkts[0].Dst
		_, _, _, l3ok := frame.L3(data)
		switch {
		case len(data) < frame.EthHeaderLen || (opts.VLANAware && !l3ok):
			if d != logic.DropMalformed {
				t.Fatalf("got %v for a malformed frame", d)
			}
			return
		case d == logic.DropMalformed:
			t.Fatalf("frame dropped as malformed")
		case d != logic.Flood && d >= logic.MaxPorts:
			t.Fatalf("invalid destination %v", d)
		case frame.IsMulticast(frame.Dst(data)) && d != logic.Flood:
			t.Fatalf("group destination sent to %v", d)
		}
		if frame.IsMulticast(frame.Src(data)) {
			return
		}
		// Send a reply to the source from another port.
		reply := append([]byte(nil), data...)
		copy(reply[0:6], data[6:12])
		copy(reply[6:12], []byte{0x03, 0xfe, 0, 0, 0, byte(in)}) // a group address: not learned
		pkts[0] = logic.Packet{Data: reply, Dst: logic.Drop}
		b.Lookup(pkts, in+1)
		if d := pkts[0].Dst; d != logic.To(in) && d != logic.Flood {
			t.Fatalf("reply to a source learned on port %d sent to %v", in, d)
		}
	})
}

func FuzzLookup(f *testing.F)     { fuzzLookup(f, Options{}) }
func FuzzLookupVLAN(f *testing.F) { fuzzLookup(f, Options{VLANAware: true}) }
