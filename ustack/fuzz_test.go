package ustack

import (
	"encoding/hex"
	"net"
	"testing"

	"github.com/mswitch/mswitch/port/memif"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzReceive hands arbitrary frames to a live stack the way the receive
// goroutine does (accept, then deliver): nothing may panic, and a frame is
// counted as delivered or dropped.
func FuzzReceive(f *testing.F) {
	const us = "027573000001" // the stack's MAC
	// ARP request for 10.0.0.1, a TCP SYN to 10.0.0.1:80, a UDP datagram,
	// an IPv4 header claiming more than the frame, a runt, another host's.
	f.Add(mustHex("ffffffffffff0200000000020806000108000604000102000000000210000002000000000000" + "0a000001"))
	f.Add(mustHex(us + "0200000000020800" + "4500002c00014000400626a30a0000020a000001" + "30390050000000010000000060022000b5b40000020405b4"))
	f.Add(mustHex(us + "0200000000020800" + "450000210001000040116ebd0a0000020a000001" + "3039003500" + "0d0000" + "6869"))
	f.Add(mustHex(us + "0200000000020800" + "4500ffff00010000400600000a0000020a000001"))
	f.Add(mustHex(us + "0200"))
	f.Add(mustHex("0200000000990200000000020800" + "4500001400010000400100000a0000020a000001"))
	ts := newTestSwitch(f)
	s := ts.stack(1, "10.0.0.1/24")
	e := s.Endpoint()
	e.mu.RLock()
	d, mac := e.dispatcher, e.mac
	e.mu.RUnlock()
	if mac.String() != (net.HardwareAddr{2, 0x75, 0x73, 0, 0, 1}).String() {
		f.Fatalf("stack MAC %v", mac)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		before := e.Stats()
		if e.accept(frame, len(frame), mac) {
			e.deliver(d, buffer.NewViewWithData(append([]byte(nil), frame...)))
		}
		after := e.Stats()
		drops := func(s Stats) (n uint64) {
			for _, v := range s.Drops {
				n += v
			}
			return n
		}
		// The stack's own goroutine may count frames too: at least one
		// counter moved.
		if after.RxPackets == before.RxPackets && drops(after) == drops(before) {
			t.Errorf("frame %x neither delivered nor dropped", frame)
		}
	})
}

// TestWritePacketsAllocs: sending costs no allocation of the endpoint's
// own once its scratch buffers have grown (the packets are the stack's).
func TestWritePacketsAllocs(t *testing.T) {
	ts := newTestSwitch(t)
	p, err := ts.srv.NewPort(memif.PortConfig{ID: 9, Name: "sink"})
	if err != nil {
		t.Fatal(err)
	}
	_ = p // not attached: the client's frames stay in the S2M ring
	c, err := memif.Dial(ts.path, memif.ClientConfig{ID: 9})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := NewEndpoint(c, EndpointOptions{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 9}, TxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	var pkts []*stack.PacketBuffer
	for i := 0; i < 8; i++ {
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
			ReserveHeaderBytes: header.EthernetMinimumSize + header.IPv4MinimumSize,
			Payload:            buffer.MakeWithData(make([]byte, 1400)),
		})
		pkt.NetworkHeader().Push(header.IPv4MinimumSize)
		pkt.LinkHeader().Push(header.EthernetMinimumSize)
		pkts = append(pkts, pkt)
		defer pkt.DecRef()
	}
	var list stack.PacketBufferList
	for _, pkt := range pkts {
		list.PushBack(pkt)
	}
	ep.WritePackets(list) // grows the scratch buffers
	allocs := testing.AllocsPerRun(200, func() {
		// Nobody drains the ring: after it fills, frames are dropped as
		// tx-full, without waiting (TxWait < 0).
		ep.WritePackets(list)
	})
	if allocs != 0 {
		t.Errorf("WritePackets: %.1f allocations per call", allocs)
	}
	st := ep.Stats()
	t.Logf("%+v", st)
	if st.TxPackets == 0 || st.Drops[DropTxFull] == 0 {
		t.Errorf("want frames sent, then dropped as the ring filled: %+v", st)
	}
}
