package afpacket

import (
	"runtime"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/frame/vnet"
	"golang.org/x/sys/unix"
)

// BenchmarkTransmit measures what the output queue costs the switch's core
// per 60-byte packet, sent in batches of 256 as the fabric would publish
// them: the process's CPU time (user and system, the softirq that delivers
// each frame to the veth peer's stack included), not wall time, so that
// other processes on the machine count less. The peer's stack drops the
// frames (an EtherType nobody handles).
//
//	go test -run X -bench Transmit -count 6 ./port/afpacket
func BenchmarkTransmit(b *testing.B) {
	requireRoot(b)
	h := newHost(b, "mxp"+uniq()+"t", "10.78.4.1/24", 1500)
	p, err := Open(Config{Interface: h.Sw})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	out := p.OutQueues()[0].(fabric.OffloadQueue)
	f := testFrame(60, 0x88b5)
	copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1})
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := func() time.Duration {
		var r unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &r)
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	var next uint32
	b.ResetTimer()
	c0 := cpu()
	for i := 0; i < b.N; {
		for k := 0; k < 256 && i < b.N; k, i = k+1, i+1 {
			for out.Room(next) == 0 {
				runtime.Gosched() // the helper finishes a blocked flush
			}
			copy(out.Buffer(next), f)
			out.SetSlot(next, len(f), false)
			out.SetOffload(next, vnet.Hdr{})
			next++
		}
		out.Publish(next)
		out.Notify()
	}
	c := cpu() - c0
	b.StopTimer()
	b.ReportMetric(float64(c.Nanoseconds())/float64(b.N), "cpu-ns/pkt")
	st := p.Stats()
	if st.TxPackets+st.TxErrors < uint64(b.N)*9/10 {
		b.Errorf("sent %d of %d (errors %d, last %v)", st.TxPackets, b.N, st.TxErrors, st.LastTxError)
	}
}
