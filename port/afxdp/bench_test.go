package afxdp

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
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
			h1, h2, ports := benchSetup(b, mode)
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

// BenchmarkForwardTrafgen offers b.N 64-byte frames (60 without FCS) at
// trafgen's full rate (netsniff-ng, in the first host's namespace), as the
// peer measurements did, and reports the rate forwarded and the loss.
func BenchmarkForwardTrafgen(b *testing.B) {
	if _, err := exec.LookPath("trafgen"); err != nil {
		b.Skip("skipped: no trafgen (Debian package netsniff-ng)")
	}
	for _, mode := range []Mode{Interrupt, Poll} {
		b.Run(mode.String(), func(b *testing.B) {
			h1, h2, ports := benchSetup(b, mode)
			fr := h1.udpFrame(h2, 60, 1, 0)
			cfg := make([]string, len(fr))
			for i, c := range fr {
				cfg[i] = fmt.Sprintf("0x%02x", c)
			}
			out := ports[1].out[0]
			base := out.packets.Load()
			b.ResetTimer()
			start := time.Now()
			var o string
			var err error
			for try := 0; try < 3; try++ { // trafgen gives up on EAGAIN from a busy device
				o, err = h1.exec(time.Minute, "trafgen", "-Q", "--no-sock-mem", "-C", "-P", "1", "-n", fmt.Sprint(b.N),
					"--dev", h1.dev, "{ "+strings.Join(cfg, ", ")+" }")
				if err == nil || !strings.Contains(o, "Resource temporarily unavailable") {
					break
				}
			}
			if err != nil {
				b.Fatalf("trafgen: %v\n%s", err, o)
			}
			sendTook := time.Since(start)
			var fwd uint64
			waitFor(time.Second, func() bool {
				n := out.packets.Load() - base
				if n == fwd && n > 0 {
					return true // stopped growing
				}
				fwd = n
				return false
			})
			took := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(fwd)/took.Seconds()/1e6, "Mp/s")
			b.ReportMetric(float64(b.N)/sendTook.Seconds()/1e6, "offered-Mp/s")
			b.ReportMetric(100*(1-float64(fwd)/float64(b.N)), "loss-%")
		})
	}
}

// benchSetup makes two hosts and a switch that cross-connects their
// afxdp ports.
func benchSetup(b *testing.B, mode Mode) (h1, h2 *host, ports [2]*Port) {
	e := newEnv(b)
	h1 = e.addHost(1, hostOpts{})
	h2 = e.addHost(2, hostOpts{})
	x := xconnect.New()
	sw, err := fabric.New("afxdp-bench", fabric.Options{Logic: x})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sw.Close() })
	var ids [2]logic.PortID
	for i, h := range []*host{h1, h2} {
		p, err := Open(Config{Interface: h.sw, Mode: mode, Logger: testLogger(b)})
		if err != nil {
			b.Fatal(err)
		}
		if ids[i], err = sw.Attach(p, fabric.PortConfig{Name: h.sw}); err != nil {
			b.Fatal(err)
		}
		ports[i] = p
	}
	if err := x.Pair(ids[0], ids[1]); err != nil {
		b.Fatal(err)
	}
	return h1, h2, ports
}

// BenchmarkTxKick measures the transmit path alone: batches of 64-byte
// frames published on an afxdp port's TX ring and kicked with one sendto,
// the kernel copying each into an skb and handing it to the veth peer,
// whose stack drops it (another host's MAC). It reports the sending
// thread's CPU time per packet (CLOCK_THREAD_CPUTIME_ID, so that other
// work on the machine does not count), and sendto calls per packet. With
// asleep the port's input queue sleeps meanwhile, so the socket has a
// waiter, which the kernel wakes for every packet it frees.
//
// With asleep-nosuspend the sleeping queue's socket stays a waiter during the
// kicks, as before inQueue.suspend.
func BenchmarkTxKick(b *testing.B) {
	for _, sleeper := range []string{"none", "asleep", "asleep-nosuspend"} {
		for _, batch := range []int{1, 2, 8, 32, 256} {
			b.Run(fmt.Sprintf("%s/batch=%d", sleeper, batch), func(b *testing.B) {
				if sleeper == "asleep-nosuspend" {
					defer func(k uint32) { suspendKick = k }(suspendKick)
					suspendKick = ^uint32(0)
				}
				benchTxKick(b, batch, sleeper != "none")
			})
		}
	}
}

func benchTxKick(b *testing.B, batch int, asleep bool) {
	e := newEnv(b)
	h1 := e.addHost(1, hostOpts{})
	h2 := e.addHost(2, hostOpts{})
	p, err := Open(Config{Interface: h1.sw, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	in, out := p.in[0], p.out[0]
	if asleep {
		done := make(chan error, 1)
		go func() { done <- in.Wait() }()
		defer func() { in.Interrupt(); <-done }()
		time.Sleep(50 * time.Millisecond)
	}
	frame := h2.udpFrame(h2, 60, 1, 0) // to h2's MAC: h1 drops it
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tail uint32
	send := func(n int) {
		for out.Room(tail) < uint32(n) {
			out.Notify()
		}
		for k := 0; k < n; k++ {
			out.SetSlot(tail, copy(out.Buffer(tail), frame), false)
			tail++
		}
		out.Publish(tail)
		out.Notify()
	}
	send(batch)
	k0 := out.kicks.Load()
	b.ResetTimer()
	c0 := threadCPU()
	for i := 0; i < b.N; i += batch {
		send(min(batch, b.N-i))
	}
	cpu := threadCPU() - c0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/packet")
	b.ReportMetric(float64(out.kicks.Load()-k0)/float64(b.N), "sendto/packet")
}

// threadCPU is the calling thread's CPU time.
func threadCPU() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}
