package logic

import (
	"errors"
	"testing"
)

func TestFuncAdapter(t *testing.T) {
	var f Logic = Func(func(p *Packet, in PortID) Dst {
		if len(p.Data) == 0 {
			return DropMalformed
		}
		p.Data = p.Data[:1] // a module may shorten the packet
		return To(PortID(p.Data[0]) + in)
	})
	pkts := []Packet{{Data: []byte{3, 9}}, {Data: nil}}
	f.Lookup(pkts, 1)
	if pkts[0].Dst != To(4) || len(pkts[0].Data) != 1 || pkts[1].Dst != DropMalformed {
		t.Fatalf("got %v %v", pkts[0].Dst, pkts[1].Dst)
	}
}

func TestDst(t *testing.T) {
	if p, ok := To(7).Port(); !ok || p != 7 {
		t.Fatal("To(7).Port()")
	}
	for _, d := range []Dst{Drop, DropMalformed, Flood, ToSet} {
		if _, ok := d.Port(); ok {
			t.Errorf("%v is a port", d)
		}
	}
	for d, s := range map[Dst]string{To(3): "port 3", Flood: "flood", Drop: "drop", ToSet: "set", Dst(MaxPorts): "invalid(0xfff0)"} {
		if d.String() != s {
			t.Errorf("%#x.String() = %q, want %q", uint32(d), d.String(), s)
		}
	}
}

func TestRegistry(t *testing.T) {
	Register("test-hub", func() Logic { return Func(func(*Packet, PortID) Dst { return Flood }) })
	if l, err := New("test-hub"); err != nil || l == nil {
		t.Fatalf("New(test-hub): %v", err)
	}
	if _, err := New("nope"); !errors.Is(err, ErrUnknownModule) {
		t.Fatalf("New(nope): %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering a name twice did not panic")
		}
	}()
	Register("test-hub", nil)
}
