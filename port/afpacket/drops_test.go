package afpacket

import (
	"sync"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
	"golang.org/x/sys/unix"
)

// TestRingFull overfills a port's RX ring while the switch is stuck in its
// logic, and checks that every frame the kernel found no room for is
// counted: in the port's KernelDrops and as the port's ring-full drops in
// the fabric's statistics. The kernel counts them nowhere else.
func TestRingFull(t *testing.T) {
	requireRoot(t)
	h := newHost(t, "mxp"+uniq()+"r", "10.78.3.1/24", 1500)
	// No IPv6 chatter (router solicitations, MLD) in the counts.
	run(t, h.Exec("sysctl", "-q", "-w", "net.ipv6.conf."+h.Dev+".disable_ipv6=1")...)
	const frames = 16
	p, err := Open(Config{Interface: h.Sw, Frames: frames})
	if err != nil {
		t.Fatal(err)
	}
	stuck, entered := make(chan struct{}), make(chan struct{}, 1)
	var unstick sync.Once
	release := func() { unstick.Do(func() { close(stuck) }) }
	l := logic.Func(func(pk *logic.Packet, in logic.PortID) logic.Dst {
		select {
		case entered <- struct{}{}:
			<-stuck // the first batch holds its frames until the test lets go
		default:
		}
		return logic.Drop
	})
	sw, err := fabric.New("ring-full", fabric.Options{Logic: l})
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	defer sw.Close()
	defer release() // before Close: a stuck worker never stops
	id, err := sw.Attach(p, fabric.PortConfig{Name: h.Sw})
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	var fd int
	inNS(t, h.NS, func() {
		var err error
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0); err != nil {
			t.Error(err)
		}
	})
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: ifindexIn(t, h, h.Dev), Halen: 6}
	f := testFrame(60, 0x88b5)
	copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1})
	send := func(n int) {
		for i := 0; i < n; i++ {
			if err := unix.Sendto(fd, f, 0, sa); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
	}
	send(1)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the first frame never reached the logic")
	}
	// The worker holds at most the ring's frames; the rest finds it full.
	const sent = 1 + 200
	send(sent - 1)
	time.Sleep(50 * time.Millisecond)
	st, err := sw.PortStats(id)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.Drops[fabric.DropRingFull]; d < sent-frames {
		t.Errorf("ring-full drops %d with the switch stuck, want at least %d", d, sent-frames)
	}
	release()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ = sw.PortStats(id)
		if st.RxPackets+st.Drops[fabric.DropRingFull] >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ps := p.Stats()
	t.Logf("sent %d: fabric rx %d, drops %v; port %+v", sent, st.RxPackets, st.Drops, ps)
	if got := st.RxPackets + st.Drops[fabric.DropRingFull]; got != sent {
		t.Errorf("received %d + ring-full %d = %d, want the %d sent", st.RxPackets, st.Drops[fabric.DropRingFull], got, sent)
	}
	if ps.KernelDrops != st.Drops[fabric.DropRingFull] {
		t.Errorf("port KernelDrops %d, fabric ring-full %d", ps.KernelDrops, st.Drops[fabric.DropRingFull])
	}
}
