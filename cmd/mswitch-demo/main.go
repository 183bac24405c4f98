// Command mswitch-demo runs a switch with traffic through it, with nothing to
// set up: a switch with several in-process (pipe) ports and the learning
// module, one simulated host per port. Each host announces itself with a
// broadcast, then sends Ethernet/IPv4/UDP frames to the other hosts' MAC
// addresses, and counts what it receives. A live progress line shows the
// rate; at the end a table shows packets, rates and drops per port, and the
// learned MAC table.
//
// Usage:
//
//	go run ./cmd/mswitch-demo [-ports 4] [-duration 5s] [-size 60] [-module learning]
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
	_ "github.com/mswitch/mswitch/logic/all"
	"github.com/mswitch/mswitch/logic/learning"
	"github.com/mswitch/mswitch/port/pipe"
)

func main() {
	var (
		ports    = flag.Int("ports", 4, "number of ports (one host each)")
		duration = flag.Duration("duration", 5*time.Second, "how long to send")
		size     = flag.Int("size", 60, "frame size in bytes, without CRC (60..9000)")
		module   = flag.String("module", "learning", "switching logic: "+strings.Join(logic.Names(), ", "))
		batch    = flag.Int("batch", 256, "frames each host sends per burst")
		rate     = flag.Float64("rate", 2e6, "offered load in frames/s, all hosts together; 0 = as fast as the hosts can send")
	)
	flag.Parse()
	if err := run(*ports, *duration, *size, *module, *batch, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "mswitch-demo:", err)
		os.Exit(1)
	}
}

// host is the application on the outer end of one pipe port.
type host struct {
	id   logic.PortID
	name string
	mac  net.HardwareAddr
	ip   [4]byte
	end  *pipe.End

	sent, received, misdelivered atomic.Uint64
}

func run(nports int, duration time.Duration, size int, module string, burst int, rate float64) error {
	if nports < 2 || nports > 1000 {
		return fmt.Errorf("-ports %d: want 2..1000", nports)
	}
	if size < 60 || size > 9000 {
		return fmt.Errorf("-size %d: want 60..9000", size)
	}
	l, err := logic.New(module)
	if err != nil {
		return err
	}
	sw, err := fabric.New("demo", fabric.Options{Logic: l})
	if err != nil {
		return err
	}
	defer sw.Close()

	hosts := make([]*host, nports)
	for i := range hosts {
		p, err := pipe.New(pipe.Options{Slots: 4096}) // room for the bursts of three senders
		if err != nil {
			return err
		}
		h := &host{
			name: fmt.Sprintf("host%d", i),
			mac:  net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)},
			ip:   [4]byte{10, 0, byte(i >> 8), byte(i + 1)},
			end:  p.End(),
		}
		if h.id, err = sw.Attach(p, fabric.PortConfig{Name: h.name}); err != nil {
			return err
		}
		hosts[i] = h
	}
	offered := "as fast as possible"
	if rate > 0 {
		offered = fmt.Sprintf("%.2f Mpps offered", rate/1e6)
	}
	fmt.Printf("switch %q: %d pipe ports, module %s, %d-byte frames, %s, %v\n", sw.Name(), nports, module, size, offered, duration)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(2)
		go func() { defer wg.Done(); h.receive(stop) }()
		go func() { defer wg.Done(); h.send(hosts, i, size, burst, rate/float64(nports), stop) }()
	}

	// A live line on a terminal; one line per tick in a log.
	eol := "\n"
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		eol = ""
	}
	start := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	var lastRx uint64
	last := start
	for now := range tick.C {
		rx := totalTx(sw)
		dt := now.Sub(last).Seconds()
		pps := float64(rx-lastRx) / dt
		fmt.Printf("\r%5.1fs  %8.3f Mpps  %7.2f Gb/s  delivered %d  dropped %d   %s",
			now.Sub(start).Seconds(), pps/1e6, pps*float64(size)*8/1e9, rx, totalDrops(sw), eol)
		lastRx, last = rx, now
		if now.Sub(start) >= duration {
			break
		}
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	if eol == "" {
		fmt.Println()
	}
	return summary(sw, hosts, elapsed, l)
}

// send announces the host with a broadcast, then sends bursts of unicast
// frames round-robin to every other host, at rate frames/s (0: unpaced),
// until stop is closed.
func (h *host) send(hosts []*host, self, size, burst int, rate float64, stop <-chan struct{}) {
	hello := h.frame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, [4]byte{255, 255, 255, 255}, size)
	h.end.Send(0, [][]byte{hello})
	h.sent.Add(1)
	time.Sleep(50 * time.Millisecond) // let every host announce itself first
	var frames [][]byte
	for i := 0; i < burst; i++ {
		peer := hosts[(self+1+i%(len(hosts)-1))%len(hosts)]
		frames = append(frames, h.frame(peer.mac, peer.ip, size))
	}
	start, sent := time.Now(), 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		if rate > 0 {
			if ahead := time.Duration(float64(sent)/rate*1e9) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		n, err := h.end.Send(0, frames)
		sent += n
		if err != nil {
			return
		}
		h.sent.Add(uint64(n))
		if n < len(frames) {
			time.Sleep(20 * time.Microsecond) // ring full: let the switch catch up
		}
	}
}

// receive drains the host's port and checks every frame is addressed to it.
func (h *host) receive(stop <-chan struct{}) {
	bufs := make([][]byte, 256)
	for i := range bufs {
		bufs[i] = make([]byte, 9000)
	}
	sizes := make([]int, len(bufs))
	for {
		n, err := h.end.Receive(0, bufs, sizes)
		if err != nil {
			return
		}
		for i := 0; i < n; i++ {
			if dst := bufs[i][:6]; dst[0]&1 == 0 && !bytes.Equal(dst, h.mac) {
				h.misdelivered.Add(1)
			}
		}
		h.received.Add(uint64(n))
		if n == 0 {
			select {
			case <-stop:
				return
			default:
				h.end.Wait(0, 100*time.Millisecond)
			}
		}
	}
}

// frame builds an Ethernet/IPv4/UDP frame of size bytes from h to dst.
func (h *host) frame(dst net.HardwareAddr, dstIP [4]byte, size int) []byte {
	f := make([]byte, size)
	copy(f[0:6], dst)
	copy(f[6:12], h.mac)
	binary.BigEndian.PutUint16(f[12:14], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(size-14))
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:16], h.ip[:])
	copy(ip[16:20], dstIP[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:12], ^uint16(sum))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:2], 9)
	binary.BigEndian.PutUint16(udp[2:4], 9)
	binary.BigEndian.PutUint16(udp[4:6], uint16(size-34))
	return f
}

func totalTx(sw *fabric.Switch) uint64 {
	var n uint64
	for _, st := range sw.Stats() {
		n += st.TxPackets
	}
	return n
}

func totalDrops(sw *fabric.Switch) uint64 {
	var n uint64
	for _, st := range sw.Stats() {
		n += st.TotalDrops()
	}
	return n
}

func summary(sw *fabric.Switch, hosts []*host, elapsed time.Duration, l logic.Logic) error {
	secs := elapsed.Seconds()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "port\tname\tin pkts\tin Mpps\tout pkts\tout Mpps\tout Gb/s\tdrops\tdrop reasons\t")
	var in, out, drops uint64
	for _, st := range sw.Stats() {
		var reasons []string
		for r, n := range st.Drops {
			if n > 0 {
				reasons = append(reasons, fmt.Sprintf("%s=%d", fabric.DropReason(r), n))
			}
		}
		if reasons == nil {
			reasons = []string{"-"}
		}
		fmt.Fprintf(w, "%d\t%s\t%d\t%.3f\t%d\t%.3f\t%.2f\t%d\t%s\t\n", st.ID, st.Name,
			st.RxPackets, float64(st.RxPackets)/secs/1e6, st.TxPackets, float64(st.TxPackets)/secs/1e6,
			float64(st.TxBytes)*8/secs/1e9, st.TotalDrops(), strings.Join(reasons, " "))
		in += st.RxPackets
		out += st.TxPackets
		drops += st.TotalDrops()
	}
	fmt.Fprintf(w, "\tall\t%d\t%.3f\t%d\t%.3f\t\t%d\t\t\n", in, float64(in)/secs/1e6, out, float64(out)/secs/1e6, drops)
	w.Flush()

	var sent, received, wrong uint64
	for _, h := range hosts {
		sent += h.sent.Load()
		received += h.received.Load()
		wrong += h.misdelivered.Load()
	}
	fmt.Printf("hosts sent %d frames and received %d; %d reached a host they were not addressed to\n", sent, received, wrong)
	if b, ok := l.(*learning.Bridge); ok {
		fmt.Println("learned MAC table:")
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "  mac	port	age")
		for _, e := range b.Dump() {
			fmt.Fprintf(w, "  %s	%d	%v\n", e.MAC, e.Port, e.Age)
		}
		w.Flush()
	}
	if wrong > 0 {
		return fmt.Errorf("%d frames misdelivered", wrong)
	}
	if received == 0 {
		return fmt.Errorf("no frame went through the switch")
	}
	return nil
}
