package afpacket

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkTrafgen measures the port at the generator's maximum rate, as
// the kernel benchmark set does: trafgen (netsniff-ng) sends one flow of
// 60-byte UDP frames from host a, through the switch, to host b, which
// drops it in an nftables ingress hook. It reports the process's CPU per
// forwarded packet and the loss. Run it pinned, the generator on CPU 0 and
// the switch on CPU 1:
//
//	taskset -c 1 go test -run X -bench Trafgen -benchtime 1x ./port/afpacket
//
// Every run lasts MXP_SECS seconds (default 3) whatever b.N; MXP_SIZE sets
// the frame size (default 60), MXP_RATE a fixed offered rate in packets per
// second (default: trafgen's maximum).
func BenchmarkTrafgen(b *testing.B) {
	requireRoot(b)
	for _, tool := range []string{"trafgen", "nft", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("no %s", tool)
		}
	}
	secs, size, rate := 3, 60, 0
	fmt.Sscan(os.Getenv("MXP_SECS"), &secs)
	fmt.Sscan(os.Getenv("MXP_SIZE"), &size)
	fmt.Sscan(os.Getenv("MXP_RATE"), &rate)
	p := newPairTB(b, Config{}, 1500)
	ping(b, p.a, p.b.IP)
	run(b, p.b.Exec("nft", "add table netdev mxp; add chain netdev mxp in { type filter hook ingress device "+p.b.Dev+
		" priority 0; }; add rule netdev mxp in udp dport 9 drop")...)
	conf := filepath.Join(b.TempDir(), "trafgen.cfg")
	if err := os.WriteFile(conf, []byte(trafgenConf(b, p, size)), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		sent0 := linkStat(b, p.a, "tx_packets") + linkStat(b, p.a, "tx_dropped")
		recv0 := linkStat(b, p.b, "rx_packets")
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+10)*time.Second)
		args := []string{"ip", "netns", "exec", p.a.NS, "taskset", "-c", "0", "trafgen", "--notouch-irq",
			"--no-sock-mem", "--cpus", "1", "--dev", p.a.Dev, "--conf", conf}
		if rate > 0 {
			args = append(args, "--rate", fmt.Sprintf("%dpps", rate))
		}
		tg := exec.CommandContext(ctx, args[0], args[1:]...)
		tg.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := tg.Start(); err != nil {
			cancel()
			b.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		var r0, r1 unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &r0)
		w0 := linkStat(b, p.b, "rx_packets")
		t0 := time.Now()
		time.Sleep(time.Duration(secs) * time.Second)
		unix.Getrusage(unix.RUSAGE_SELF, &r1)
		w1 := linkStat(b, p.b, "rx_packets")
		wall := time.Since(t0)
		syscall.Kill(-tg.Process.Pid, syscall.SIGINT)
		tg.Wait()
		cancel()
		time.Sleep(200 * time.Millisecond)
		sent := linkStat(b, p.a, "tx_packets") + linkStat(b, p.a, "tx_dropped") - sent0
		recv := linkStat(b, p.b, "rx_packets") - recv0
		cpu := time.Duration(r1.Utime.Nano()-r0.Utime.Nano()) + time.Duration(r1.Stime.Nano()-r0.Stime.Nano())
		fwd := float64(w1 - w0)
		loss := 100 * float64(sent-min(recv, sent)) / float64(max(sent, 1))
		b.ReportMetric(fwd/wall.Seconds(), "pps")
		b.ReportMetric(float64(cpu.Nanoseconds())/fwd, "ns/pkt")
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "%cpu")
		b.ReportMetric(loss, "%loss")
		b.Logf("%d-byte frames: sent %d, received %d (%.1f%% lost), %.0f pps, CPU %.0f%% of a core, %.0f ns per packet",
			size, sent, recv, loss, fwd/wall.Seconds(), 100*cpu.Seconds()/wall.Seconds(), float64(cpu.Nanoseconds())/fwd)
	}
	for _, port := range []*Port{p.pa, p.pb} {
		b.Logf("%s: %+v", port.cfg.Interface, port.Stats())
	}
}

// trafgenConf is one UDP frame of size bytes from a to b, port 9.
func trafgenConf(tb testing.TB, p *pair, size int) string {
	mac := func(h host) net.HardwareAddr {
		out := run(tb, h.Exec("cat", "/sys/class/net/"+h.Dev+"/address")...)
		m, err := net.ParseMAC(strings.TrimSpace(out))
		if err != nil {
			tb.Fatal(err)
		}
		return m
	}
	f := make([]byte, size)
	copy(f, mac(p.b))
	copy(f[6:], mac(p.a))
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	copy(ip[12:], net.ParseIP(p.a.IP).To4())
	copy(ip[16:], net.ParseIP(p.b.IP).To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(f[34:], 9)
	binary.BigEndian.PutUint16(f[36:], 9)
	binary.BigEndian.PutUint16(f[38:], uint16(size-34))
	var s strings.Builder
	s.WriteString("{\n")
	for i, x := range f {
		if i > 0 {
			s.WriteString(",")
		}
		fmt.Fprintf(&s, "0x%02x", x)
	}
	s.WriteString("\n}\n")
	return s.String()
}

// linkStat reads a counter of h's device.
func linkStat(tb testing.TB, h host, name string) uint64 {
	out := run(tb, h.Exec("cat", "/sys/class/net/"+h.Dev+"/statistics/"+name)...)
	var v uint64
	fmt.Sscan(out, &v)
	return v
}
