package tap

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame/vnet"
	"golang.org/x/sys/unix"
)

// TestAllocs checks that the data path allocates nothing. Frames reach the
// port from a raw socket on the TAP device (the host side); frames sent by
// the port go to the host, which drops them (unknown EtherType).
func TestAllocs(t *testing.T) {
	requireRoot(t)
	name := "mxt" + uniq() + "z"
	t.Cleanup(func() { runErr("ip", "link", "del", name) })
	p, err := Open(Config{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	run(t, "ip", "link", "set", name, "up")
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	f := make([]byte, 60)
	copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], 0x88b5)
	sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	for i := 0; i < 400; i++ {
		unix.Sendto(fd, f, 0, sa)
	}
	time.Sleep(20 * time.Millisecond)

	in := p.InQueues()[0]
	slots := make([]fabric.Slot, 4)
	rx := testing.AllocsPerRun(50, func() {
		in.Wait()
		n := in.Receive(slots)
		in.Release(n)
	})
	if st := p.Stats(); st.RxPackets < 100 {
		t.Fatalf("only %d frames received", st.RxPackets)
	}
	out := p.OutQueues()[0].(fabric.OffloadQueue)
	var next uint32
	tx := testing.AllocsPerRun(200, func() {
		copy(out.Buffer(next), f)
		out.SetSlot(next, len(f), false)
		out.SetOffload(next, vnet.Hdr{})
		next++
		out.Publish(next)
		out.Notify()
	})
	t.Logf("allocations per round: receive %.1f, transmit %.1f; %+v", rx, tx, p.Stats())
	if rx != 0 || tx != 0 {
		t.Errorf("data path allocates: receive %.1f, transmit %.1f per round", rx, tx)
	}
}
