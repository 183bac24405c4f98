package afxdp

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic/xconnect"
	"golang.org/x/sys/unix"
)

// BenchmarkForward forwards 64-byte frames from one veth to another
// through two afxdp ports (cross-connected), sent by an AF_PACKET socket in
// the first host's namespace with at most 1024 in flight, so nothing is
// lost. On a small machine the sender, which shares the CPUs with the
// switch and the kernel's work, is as much the limit as the switch.
func BenchmarkForward(b *testing.B) {
	for _, mode := range []Mode{Interrupt, Poll} {
		b.Run(mode.String(), func(b *testing.B) {
			e := newEnv(b)
			h1 := e.addHost(1, hostOpts{})
			h2 := e.addHost(2, hostOpts{})
			x := xconnect.New()
			sw, err := fabric.New("afxdp-bench", fabric.Options{Logic: x})
			if err != nil {
				b.Fatal(err)
			}
			defer sw.Close()
			var ports [2]*Port
			for i, h := range []*host{h1, h2} {
				p, err := Open(Config{Interface: h.sw, Mode: mode, Logger: testLogger(b)})
				if err != nil {
					b.Fatal(err)
				}
				id, err := sw.Attach(p, fabric.PortConfig{Name: h.sw})
				if err != nil {
					b.Fatal(err)
				}
				if id != 0 && id != 1 {
					b.Fatalf("port ID %d", id)
				}
				ports[i] = p
			}
			if err := x.Pair(0, 1); err != nil {
				b.Fatal(err)
			}
			tx := h1.packetSocket()
			unix.SetsockoptInt(tx, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
			frames := make([][]byte, 16)
			for f := range frames {
				frames[f] = h1.udpFrame(h2, 60, uint16(f), 0)
			}
			out := ports[1].out[0]
			base := out.packets.Load()
			done := func() uint64 { return out.packets.Load() - base }
			const window = 1024
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				for int64(i)-int64(done()) >= window {
					if time.Since(start) > time.Minute {
						b.Fatalf("stuck: %d of %d forwarded", done(), i)
					}
					runtime.Gosched()
				}
				if _, err := unix.Write(tx, frames[i%len(frames)]); err != nil {
					if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
						i--
						continue
					}
					b.Fatal(err)
				}
			}
			for done() < uint64(b.N) {
				if time.Since(start) > time.Minute {
					b.Fatalf("stuck: %d of %d forwarded", done(), b.N)
				}
				time.Sleep(10 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds()/1e6, "Mp/s")
		})
	}
}
