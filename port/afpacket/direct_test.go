package afpacket

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame/vnet"
	"golang.org/x/sys/unix"
)

// TestSendDirect interleaves long frames sent with SendDirect and short ones
// published in slots but not yet notified: the far end must see them in
// order (SendDirect sends what was published first), none refused, and
// SendDirect must allocate nothing.
func TestSendDirect(t *testing.T) {
	requireRoot(t)
	h := newHost(t, "mxp"+uniq()+"d", "10.78.3.1/24", 9000)
	p, err := Open(Config{Interface: h.Sw})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const et = 0x88b5 // local experimental EtherType: nobody answers
	var fd int
	inNS(t, h.NS, func() {
		var err error
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(et))); err != nil {
			t.Fatal(err)
		}
	})
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200000}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(et), Ifindex: ifindexIn(t, h, h.Dev)}); err != nil {
		t.Fatal(err)
	}

	out := p.OutQueues()[0].(*offloadQueue)
	var _ fabric.DirectQueue = out
	long := testFrame(6000, et)
	short := testFrame(60, et)
	var next uint32
	var direct, declined int
	seq := uint32(0)
	send := func() {
		seq++
		if seq%3 != 0 {
			binary.BigEndian.PutUint32(short[14:], seq)
			copy(out.Buffer(next), short)
			out.SetSlot(next, len(short), false)
			out.SetOffload(next, vnet.Hdr{})
			next++
			out.Publish(next) // no Notify: SendDirect must flush it
			return
		}
		binary.BigEndian.PutUint32(long[14:], seq)
		if out.SendDirect([][]byte{long[:1000], long[1000:]}, vnet.Hdr{}) {
			direct++
			return
		}
		// Declined: into two slots, as the fabric does.
		declined++
		bs := out.BufSize()
		copy(out.Buffer(next), long[:bs])
		out.SetSlot(next, bs, true)
		out.SetOffload(next, vnet.Hdr{})
		copy(out.Buffer(next+1), long[bs:])
		out.SetSlot(next+1, len(long)-bs, false)
		next += 2
		out.Publish(next)
		out.Notify()
	}
	const rounds = 300
	allocs := testing.AllocsPerRun(rounds-1, func() {
		for out.Room(next) < 2 {
			time.Sleep(time.Millisecond)
			out.Notify()
		}
		send()
	})
	out.Notify()
	t.Logf("%d direct, %d declined, %.1f allocations per packet; %+v", direct, declined, allocs, p.Stats())
	if allocs != 0 {
		t.Errorf("%.1f allocations per packet", allocs)
	}
	if direct == 0 {
		t.Error("SendDirect took nothing")
	}
	buf := make([]byte, 10000)
	for want := uint32(1); want <= rounds; want++ {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			t.Fatalf("packet %d: %v", want, err)
		}
		got := binary.BigEndian.Uint32(buf[14:])
		wantLen := len(short)
		if want%3 == 0 {
			wantLen = len(long)
		}
		if got != want || n != wantLen {
			t.Fatalf("packet %d of %d bytes arrived where packet %d of %d bytes was due", got, n, want, wantLen)
		}
	}
	if st := p.Stats(); st.TxErrors != 0 || st.TxPackets != rounds {
		t.Fatalf("%d packets sent, %d refused (%v); want %d, none", st.TxPackets, st.TxErrors, st.LastTxError, rounds)
	}
}
