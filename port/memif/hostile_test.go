package memif

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rawClient is a memif client scripted message by message, with real memfd
// regions and eventfds, to play a hostile peer.
type rawClient struct {
	t      *testing.T
	uc     *net.UnixConn
	fds    []int
	region []byte
	log2   uint8
	rings  []ring // S2M rings then M2S rings, as laid out by layout
	bufOff uint64
}

func rawDial(t *testing.T, path string) *rawClient {
	t.Helper()
	uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	r := &rawClient{t: t, uc: uc}
	t.Cleanup(r.close)
	if m := r.recv(); m.kind() != msgHello {
		t.Fatalf("got %v, want HELLO", m.kind())
	}
	return r
}

func (r *rawClient) close() {
	r.uc.Close()
	closeFds(r.fds...)
	r.fds = nil
	if r.region != nil {
		unix.Munmap(r.region)
		r.region = nil
	}
}

func (r *rawClient) sendRaw(b []byte, fds ...int) {
	r.t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := r.uc.WriteMsgUnix(b, oob, nil); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) send(m message, fds ...int) {
	r.t.Helper()
	b := encode(m)
	r.sendRaw(b[:], fds...)
}

func (r *rawClient) recv() message {
	r.t.Helper()
	var buf [2 * msgSize]byte
	var oob [64]byte
	r.uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, fd, err := recvMsg(r.uc, buf[:], oob[:])
	closeFds(fd)
	if err != nil {
		r.t.Fatalf("receive: %v", err)
	}
	return m
}

// step sends m and expects an ACK.
func (r *rawClient) step(m message, fds ...int) {
	r.t.Helper()
	r.send(m, fds...)
	if got := r.recv(); got.kind() != msgAck {
		r.t.Fatalf("%v: got %+v, want ACK", m.kind(), got)
	}
}

// expectDisconnect reads the server's DISCONNECT and checks its reason,
// then the end of the connection.
func (r *rawClient) expectDisconnect(reason string) {
	r.t.Helper()
	m := r.recv()
	d, ok := m.(disconnectMsg)
	if !ok {
		r.t.Fatalf("got %+v, want DISCONNECT %q", m, reason)
	}
	if !strings.Contains(d.Reason, reason) {
		r.t.Fatalf("DISCONNECT %q, want %q", d.Reason, reason)
	}
	var buf [msgSize]byte
	r.uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _, _, _, err := r.uc.ReadMsgUnix(buf[:], nil); n != 0 || err == nil {
		r.t.Fatalf("connection still open after DISCONNECT (%d, %v)", n, err)
	}
}

// memfd makes a region of size bytes, sealed against shrinking unless told.
func (r *rawClient) memfd(size uint64, seal bool) int {
	r.t.Helper()
	fd, err := unix.MemfdCreate("hostile", unix.MFD_ALLOW_SEALING|unix.MFD_CLOEXEC)
	if err != nil {
		r.t.Fatal(err)
	}
	r.fds = append(r.fds, fd)
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		r.t.Fatal(err)
	}
	if seal {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK); err != nil {
			r.t.Fatal(err)
		}
	}
	return fd
}

func (r *rawClient) eventfd() int {
	r.t.Helper()
	fd, err := newEventfd()
	if err != nil {
		r.t.Fatal(err)
	}
	r.fds = append(r.fds, fd)
	return fd
}

// layout creates region 0 with one S2M and one M2S ring of 2^log2 slots
// (cookies set, descriptors pointing at 2048-byte buffers) and returns its
// fd.
func (r *rawClient) layout(log2 uint8) int {
	r.t.Helper()
	rb := ringBytes(log2)
	n := uint64(1) << log2
	r.bufOff = (2*rb + 4095) &^ 4095
	size := r.bufOff + 2*n*2048
	fd := r.memfd(size, true)
	mem, err := mapRegion(fd, size)
	if err != nil {
		r.t.Fatal(err)
	}
	r.region, r.log2 = mem, log2
	for i := uint64(0); i < 2; i++ {
		rg := newRing(mem, i*rb, log2)
		rg.setCookie()
		for j := range rg.desc {
			rg.desc[j] = desc{offset: uint32(r.bufOff + (i*n+uint64(j))*2048), length: 2048}
		}
		r.rings = append(r.rings, rg)
	}
	return fd
}

// connect runs a complete, correct handshake for interface id.
func (r *rawClient) connect(id uint32) {
	r.t.Helper()
	fd := r.layout(6)
	r.step(initMsg{Version: version, ID: id, Name: "hostile"})
	r.step(addRegionMsg{Index: 0, Size: uint64(len(r.region))}, fd)
	r.step(addRingMsg{Flags: addRingS2M, Index: 0, Offset: 0, Log2RingSize: r.log2}, r.eventfd())
	r.step(addRingMsg{Index: 0, Offset: uint32(ringBytes(r.log2)), Log2RingSize: r.log2}, r.eventfd())
	r.send(connectMsg{IfName: "hostile0"})
	if m := r.recv(); m.kind() != msgConnected {
		r.t.Fatalf("got %+v, want CONNECTED", m)
	}
}

// goodTraffic runs frames between two well-behaved clients on the same
// switch until stop, and reports how many were sent and received.
type goodTraffic struct {
	stop           chan struct{}
	wg             sync.WaitGroup
	sent, received atomic.Uint64
	err            atomic.Pointer[string]
}

func startGoodTraffic(t *testing.T, tb *testbed) *goodTraffic {
	tb.pair(PortConfig{ID: 100}, PortConfig{ID: 101})
	a := tb.dial(ClientConfig{ID: 100})
	b := tb.dial(ClientConfig{ID: 101})
	g := &goodTraffic{stop: make(chan struct{})}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		bufs := [][]byte{make([]byte, 2048)}
		sizes := []int{0}
		seq := 0
		for {
			select {
			case <-g.stop:
				return
			default:
			}
			f := frame(seq, 60+seq%1400)
			if n, err := a.Send(0, [][]byte{f}); err != nil || n != 1 {
				s := "good sender failed"
				g.err.Store(&s)
				return
			}
			g.sent.Add(1)
			ok, err := b.Wait(0, 5*time.Second)
			if !ok || err != nil {
				s := "good receiver timed out"
				g.err.Store(&s)
				return
			}
			if n, _ := b.Receive(0, bufs, sizes); n != 1 || sizes[0] != len(f) || bufs[0][3] != byte(seq) {
				s := "good receiver got a wrong frame"
				g.err.Store(&s)
				return
			}
			g.received.Add(1)
			seq++
		}
	}()
	return g
}

func (g *goodTraffic) check(t *testing.T) {
	t.Helper()
	close(g.stop)
	g.wg.Wait()
	if e := g.err.Load(); e != nil {
		t.Fatal(*e)
	}
	if g.sent.Load() == 0 || g.sent.Load() != g.received.Load() {
		t.Fatalf("good traffic: %d sent, %d received", g.sent.Load(), g.received.Load())
	}
	t.Logf("good traffic: %d frames meanwhile", g.received.Load())
}

// TestHostileClient plays a hostile client against one port while two good
// clients exchange traffic on the same switch: each misdeed ends in a
// DISCONNECT with a reason and a counter, the port stays usable, and the
// good traffic is never disturbed.
func TestHostileClient(t *testing.T) {
	old := handshakeTimeout
	handshakeTimeout = 300 * time.Millisecond
	t.Cleanup(func() { handshakeTimeout = old })

	tb := newTestbed(t)
	p, hid := tb.port(PortConfig{ID: 1, Queues: 1, Log2RingSize: 8})
	// A peer for the hostile port, sending to it.
	peerPort, peerID := tb.port(PortConfig{ID: 2})
	tb.x.Pair(hid, peerID)
	peer := tb.dial(ClientConfig{ID: 2})
	_ = peerPort
	good := startGoodTraffic(t, tb)

	initOK := initMsg{Version: version, ID: 1, Name: "hostile"}
	rb := ringBytes(6)
	type script func(r *rawClient)
	// Rejects before INIT named the port are counted by the server.
	serverLevel := map[string]bool{"region before INIT": true, "CONNECT before INIT": true, "truncated message": true,
		"long message": true, "unknown type": true, "fd with INIT": true}
	rejects := func(name, counter string) uint64 {
		if serverLevel[name] {
			return tb.srv.Status().Rejects[counter]
		}
		return p.Status().Rejects[counter]
	}
	for _, tc := range []struct {
		name, reason, counter string
		run                   script
	}{
		{"region before INIT", "Unexpected message", RejectMessage, func(r *rawClient) {
			r.send(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true))
		}},
		{"CONNECT before INIT", "Unexpected message", RejectMessage, func(r *rawClient) {
			r.send(connectMsg{})
		}},
		{"second INIT", "Unexpected message", RejectMessage, func(r *rawClient) {
			r.step(initOK)
			r.send(initOK)
		}},
		{"region after ring", "Unexpected message", RejectMessage, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: uint64(4096)}, r.memfd(4096, true))
			r.step(addRingMsg{Flags: addRingS2M, Log2RingSize: 6}, r.eventfd())
			r.send(addRegionMsg{Index: 1, Size: 4096}, r.memfd(4096, true))
		}},
		{"CONNECT without rings", "Missing rings", RejectRing, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true))
			r.send(connectMsg{})
		}},
		{"CONNECT without M2S ring", "Missing rings", RejectRing, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true))
			r.step(addRingMsg{Flags: addRingS2M, Log2RingSize: 6}, r.eventfd())
			r.send(connectMsg{})
		}},
		{"ACK from a client", "Unexpected message", RejectMessage, func(r *rawClient) {
			r.step(initOK)
			r.send(ackMsg{})
		}},
		{"version", "Incompatible memif version", RejectVersion, func(r *rawClient) {
			r.send(initMsg{Version: 0x0100, ID: 1})
		}},
		{"mode", "Only ethernet mode supported", RejectMode, func(r *rawClient) {
			r.send(initMsg{Version: version, ID: 1, Mode: 1})
		}},
		{"bad region index", "Invalid region index", RejectRegion, func(r *rawClient) {
			r.step(initOK)
			r.send(addRegionMsg{Index: 1, Size: 4096}, r.memfd(4096, true))
		}},
		{"region size 0", "Invalid region size", RejectRegion, func(r *rawClient) {
			r.step(initOK)
			r.send(addRegionMsg{Index: 0, Size: 0}, r.memfd(4096, true))
		}},
		{"region larger than its memfd", "has 4096 bytes, 1048576 announced", RejectRegion, func(r *rawClient) {
			r.step(initOK)
			r.send(addRegionMsg{Index: 0, Size: 1 << 20}, r.memfd(4096, true))
		}},
		{"region not sealed", "not sealed against shrinking", RejectRegion, func(r *rawClient) {
			r.step(initOK)
			r.send(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, false))
		}},
		{"region fd is an eventfd", "not a sealable memfd", RejectRegion, func(r *rawClient) {
			r.step(initOK)
			r.send(addRegionMsg{Index: 0, Size: 4096}, r.eventfd())
		}},
		{"missing region fd", "Missing region fd", RejectRegion, func(r *rawClient) {
			r.step(initOK)
			r.send(addRegionMsg{Index: 0, Size: 4096})
		}},
		{"missing ring fd", "Missing interrupt fd", RejectRing, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true))
			r.send(addRingMsg{Flags: addRingS2M, Log2RingSize: 6})
		}},
		{"ring fd is a memfd", "not an eventfd", RejectRing, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true))
			r.send(addRingMsg{Flags: addRingS2M, Log2RingSize: 6}, r.memfd(4096, true))
		}},
		{"ring offset beyond region", "Ring outside region", RejectRing, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true))
			r.send(addRingMsg{Flags: addRingS2M, Offset: 4096 - 128, Log2RingSize: 6}, r.eventfd())
		}},
		{"ring offset wraps", "Ring outside region", RejectRing, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true))
			r.send(addRingMsg{Flags: addRingS2M, Offset: 0xfffffff8, Log2RingSize: 6}, r.eventfd())
		}},
		{"ring offset misaligned", "not 8-byte aligned", RejectRing, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true))
			r.send(addRingMsg{Flags: addRingS2M, Offset: 2, Log2RingSize: 6}, r.eventfd())
		}},
		{"ring in a missing region", "Invalid ring region", RejectRing, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true))
			r.send(addRingMsg{Flags: addRingS2M, Region: 1, Log2RingSize: 6}, r.eventfd())
		}},
		{"log2 too large", "Invalid ring size", RejectRing, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: 1 << 20}, r.memfd(1<<20, true))
			r.send(addRingMsg{Flags: addRingS2M, Log2RingSize: 11}, r.eventfd()) // HELLO offered 10
		}},
		{"ring index beyond queues", "Invalid ring index", RejectRing, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true))
			r.send(addRingMsg{Flags: addRingS2M, Index: 1, Log2RingSize: 6}, r.eventfd())
		}},
		{"ring added twice", "added twice", RejectRing, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true))
			r.step(addRingMsg{Flags: addRingS2M, Log2RingSize: 6}, r.eventfd())
			r.send(addRingMsg{Flags: addRingS2M, Offset: 2048, Log2RingSize: 6}, r.eventfd())
		}},
		{"wrong cookie", "Wrong ring", RejectRing, func(r *rawClient) {
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true)) // all zero: no cookie
			r.step(addRingMsg{Flags: addRingS2M, Log2RingSize: 6}, r.eventfd())
			r.step(addRingMsg{Offset: uint32(rb), Log2RingSize: 6}, r.eventfd())
			r.send(connectMsg{})
		}},
		{"M2S buffers too small", "below 1024", RejectRing, func(r *rawClient) {
			fd := r.layout(6)
			for j := range r.rings[1].desc {
				r.rings[1].desc[j].length = 512
			}
			r.step(initOK)
			r.step(addRegionMsg{Index: 0, Size: uint64(len(r.region))}, fd)
			r.step(addRingMsg{Flags: addRingS2M, Log2RingSize: 6}, r.eventfd())
			r.step(addRingMsg{Offset: uint32(rb), Log2RingSize: 6}, r.eventfd())
			r.send(connectMsg{})
		}},
		{"truncated message", "Invalid message size", RejectMessage, func(r *rawClient) {
			b := encode(initOK)
			r.sendRaw(b[:100])
		}},
		{"long message", "Invalid message size", RejectMessage, func(r *rawClient) {
			b := encode(initOK)
			r.sendRaw(append(b[:], make([]byte, 72)...))
		}},
		{"unknown type", "Unknown message type", RejectMessage, func(r *rawClient) {
			var b [msgSize]byte
			b[0] = 42
			r.sendRaw(b[:])
		}},
		{"two fds", "Too many file descriptors", RejectMessage, func(r *rawClient) {
			r.step(initOK)
			r.send(addRegionMsg{Index: 0, Size: 4096}, r.memfd(4096, true), r.memfd(4096, true))
		}},
		{"fd with INIT", "Unexpected file descriptor", RejectMessage, func(r *rawClient) {
			r.send(initOK, r.eventfd())
		}},
		{"stalled handshake", "Handshake timeout", RejectTimeout, func(r *rawClient) {
			r.step(initOK)
		}},
		// The data path, once connected.
		{"S2M descriptor beyond its region", "Bad descriptor: S2M 0 slot 0", RejectDescriptor, func(r *rawClient) {
			r.connect(1)
			s2m := &r.rings[0]
			s2m.desc[0] = desc{offset: uint32(len(r.region) - 100), length: 200}
			s2m.setHead(1)
			signalFd(r.fds[1])
		}},
		{"S2M descriptor in a missing region", "Bad descriptor: S2M 0 slot 0", RejectDescriptor, func(r *rawClient) {
			r.connect(1)
			s2m := &r.rings[0]
			s2m.desc[0] = desc{region: 1, offset: 0, length: 60}
			s2m.setHead(1)
			signalFd(r.fds[1])
		}},
		{"S2M descriptor of 4 GiB", "Bad descriptor: S2M 0 slot 0", RejectDescriptor, func(r *rawClient) {
			r.connect(1)
			s2m := &r.rings[0]
			s2m.desc[0] = desc{offset: 64, length: 0xffffffff}
			s2m.setHead(1)
			signalFd(r.fds[1])
		}},
		{"S2M head jumps", "Bad ring: S2M 0 head is 65 slots past tail", RejectRing, func(r *rawClient) {
			r.connect(1)
			r.rings[0].setHead(65)
			signalFd(r.fds[1])
		}},
		{"S2M head goes backwards", "Bad ring: S2M 0 head is 65535 slots past tail", RejectRing, func(r *rawClient) {
			r.connect(1)
			r.rings[0].setHead(0xffff)
			signalFd(r.fds[1])
		}},
		{"M2S head jumps", "Bad ring: M2S 0 head is 80 slots past tail", RejectRing, func(r *rawClient) {
			r.connect(1)
			r.rings[1].setHead(80)
			peer.Send(0, [][]byte{frame(1, 60)})
		}},
		{"M2S buffer beyond its region", "Bad descriptor: M2S 0 slot 0 region 0 offset 265216 length 2048, buffers 2048", RejectDescriptor, func(r *rawClient) {
			r.connect(1)
			m2s := &r.rings[1]
			m2s.desc[0] = desc{offset: uint32(len(r.region) - 1024), length: 2048}
			m2s.setHead(1)
			peer.Send(0, [][]byte{frame(2, 60)})
		}},
		{"M2S buffer too short", "length 100, buffers 2048", RejectDescriptor, func(r *rawClient) {
			r.connect(1)
			m2s := &r.rings[1]
			m2s.desc[0] = desc{offset: uint32(r.bufOff), length: 100}
			m2s.setHead(1)
			peer.Send(0, [][]byte{frame(3, 60)})
		}},
		{"garbage once connected", "Unexpected message", RejectMessage, func(r *rawClient) {
			r.connect(1)
			r.send(initOK)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := rejects(tc.name, tc.counter)
			r := rawDial(t, tb.path)
			tc.run(r)
			r.expectDisconnect(tc.reason)
			waitFor(t, 5*time.Second, "the reject counted", func() bool { return rejects(tc.name, tc.counter) == before+1 })
			waitFor(t, 5*time.Second, "the port free", func() bool {
				p.mu.Lock()
				defer p.mu.Unlock()
				return p.conn == nil
			})
		})
	}
	// The port still works for a good client.
	c := tb.dial(ClientConfig{ID: 1})
	transfer(t, peer, c, 0, sizes60to9000())
	transfer(t, c, peer, 0, sizes60to9000())
	good.check(t)
	st := p.Status()
	t.Logf("hostile port: %d connects, %d disconnects, rejects %v", st.Connects, st.Disconnects, st.Rejects)
}
