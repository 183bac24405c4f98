package afpacket

import (
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame/vnet"
	"golang.org/x/sys/unix"
)

// TestAllocs checks that the data path allocates nothing: Receive, Release
// and Wait with frames waiting, and a transmit round (Room, Buffer, SetSlot,
// SetOffload, Publish, Notify).
func TestAllocs(t *testing.T) {
	for _, mode := range []Mode{ModeInterrupt, ModeAdaptive} {
		t.Run(mode.String(), func(t *testing.T) { testAllocs(t, mode) })
	}
}

func testAllocs(t *testing.T, mode Mode) {
	requireRoot(t)
	h := newHost(t, "mxp"+uniq()+"a", "10.78.2.1/24", 1500)
	p, err := Open(Config{Interface: h.Sw, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var fd int
	inNS(t, h.NS, func() {
		var err error
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0); err != nil {
			t.Error(err)
		}
	})
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: ifindexIn(t, h, h.Dev), Halen: 6}
	f := testFrame(60, 0x88b5) // local experimental EtherType: nobody answers
	copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1})
	for i := 0; i < 3000; i++ {
		unix.Sendto(fd, f, 0, sa)
	}
	time.Sleep(50 * time.Millisecond) // let the frames arrive

	in := p.InQueues()[0]
	slots := make([]fabric.Slot, 8)
	rx := testing.AllocsPerRun(200, func() {
		in.Wait()
		n := in.Receive(slots)
		in.Release(n)
	})
	if st := p.Stats(); st.RxPackets < 1000 {
		t.Fatalf("only %d frames received", st.RxPackets)
	}

	out := p.OutQueues()[0].(fabric.OffloadQueue)
	var next uint32
	tx := testing.AllocsPerRun(200, func() {
		if out.Room(next) == 0 {
			t.Fatal("no room")
		}
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
