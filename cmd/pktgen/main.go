// Command pktgen is mswitch's traffic generator, sink and latency tool, in
// the manner of netmap's pkt-gen. It attaches to a switch port as a memif
// client and sends, receives, or measures round trips with real
// Ethernet/IPv4/UDP frames.
//
// Usage:
//
//	pktgen -f tx   [-socket PATH] [-id N] [-l 60] [-R 0] [-flows 1] [-n 0] [-d 0]
//	pktgen -f rx   [-check]
//	pktgen -f ping [-window 1] [-timeout 1s]
//	pktgen -f pong
//
// Functions (-f):
//
//	tx    send frames; one template replayed from the ring when -flows is 1
//	      (the fast path), a prebuilt set of frames otherwise
//	rx    count what arrives; with -check, verify the sequence numbers of
//	      every stream: lost, out of order, duplicates
//	txrx  both on the same port
//	ping  send timestamped requests, -window of them in flight, and print
//	      the round-trip time: min, p50, p90, p99, p999, max
//	pong  send back what arrives, with MACs, IPs and ports swapped
//
// A frame of flow f carries the source MAC, source IP and UDP source port of
// flow 0 plus f. Its UDP payload holds the magic "msw", a kind, a stream
// number, a sequence number and (ping) a send time. Stream s goes out on
// queue s mod -queues; there are max(-flows, -queues) streams. -R is the
// total rate, shared by the queues. Rates count frame bytes without the
// Ethernet CRC, preamble and gap.
//
// A progress line goes to stderr every second, overwritten in place on a
// terminal; the summary goes to stdout, as JSON with -json. With -reconnect,
// pktgen redials every second while the server is away (a restart of
// mswitchd), and sequence numbers and counts carry on.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mswitch/mswitch/internal/pktgen"
	"github.com/mswitch/mswitch/port/memif"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("pktgen", flag.ContinueOnError)
	var (
		socket    = fs.String("socket", "/run/mswitch/memif.sock", "memif socket of the switch")
		id        = fs.Uint("id", 0, "memif interface id: the switch port to attach to")
		name      = fs.String("name", "pktgen", "memif interface name announced to the switch")
		secret    = fs.String("secret", "", "memif connection secret")
		queues    = fs.Int("queues", 1, "queue pairs, one goroutine each (the switch may grant fewer)")
		mode      = fs.String("mode", "interrupt", "memif mode: interrupt or poll")
		ring      = fs.Uint("ring", 0, "log2 of the ring size; 0 = the memif default")
		bufSize   = fs.Int("buf", 0, "memif buffer size; 0 = the memif default. Larger frames are chained")
		function  = fs.String("f", "tx", "function: tx, rx, txrx, ping or pong")
		size      = fs.Int("l", 60, "frame size in bytes, without CRC (60..65535)")
		count     = fs.Uint64("n", 0, "packets to send (tx, txrx, ping) or receive (rx, pong); 0 = no limit")
		duration  = fs.Duration("d", 0, "stop after this long; 0 = no limit")
		rate      = fs.Float64("R", 0, "packets per second in all (tx, txrx, ping); 0 = as fast as possible")
		flows     = fs.Int("flows", 1, "flows: source MAC, IP and UDP port vary over this many values (1..65536)")
		srcMAC    = fs.String("src-mac", "", "source MAC of flow 0 (default 02:70:67 and the id)")
		dstMAC    = fs.String("dst-mac", "ff:ff:ff:ff:ff:ff", "destination MAC")
		srcIP     = fs.String("src-ip", "10.0.0.1", "source IPv4 address of flow 0")
		dstIP     = fs.String("dst-ip", "10.0.0.2", "destination IPv4 address")
		sport     = fs.Uint("sport", 1234, "UDP source port of flow 0")
		dport     = fs.Uint("dport", 4321, "UDP destination port")
		batch     = fs.Int("b", 64, "packets per send or receive call")
		check     = fs.Bool("check", false, "tx: number the packets of each stream; rx: check the numbers")
		window    = fs.Int("window", 1, "ping: requests in flight")
		timeout   = fs.Duration("timeout", time.Second, "ping: how long to wait for a reply")
		reconnect = fs.Bool("reconnect", false, "redial every second when the server is away or goes away")
		jsonOut   = fs.Bool("json", false, "print the summary as JSON")
		quiet     = fs.Bool("q", false, "no progress line or notices")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "pktgen: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "pktgen:", err)
		return 2
	}

	f, err := pktgen.ParseFunction(*function)
	if err != nil {
		return fail(err)
	}
	m, err := memif.ParseMode(*mode)
	if err != nil {
		return fail(err)
	}
	if *id > 1<<32-1 || *ring > 15 || *sport > 65535 || *dport > 65535 {
		return fail(errors.New("-id, -ring, -sport or -dport out of range"))
	}
	addrs := pktgen.Addrs{SrcPort: uint16(*sport), DstPort: uint16(*dport)}
	if *srcMAC == "" {
		addrs.SrcMAC = net.HardwareAddr{0x02, 0x70, 0x67, byte(*id >> 16), byte(*id >> 8), byte(*id)}
	} else if addrs.SrcMAC, err = net.ParseMAC(*srcMAC); err != nil {
		return fail(err)
	}
	if addrs.DstMAC, err = net.ParseMAC(*dstMAC); err != nil {
		return fail(err)
	}
	if addrs.SrcIP, err = netip.ParseAddr(*srcIP); err != nil {
		return fail(err)
	}
	if addrs.DstIP, err = netip.ParseAddr(*dstIP); err != nil {
		return fail(err)
	}

	cfg := pktgen.Config{
		Function:  f,
		Addrs:     addrs,
		Size:      *size,
		Flows:     *flows,
		Batch:     *batch,
		Count:     *count,
		Duration:  *duration,
		Rate:      *rate,
		Check:     *check,
		Window:    *window,
		Timeout:   *timeout,
		Reconnect: *reconnect,
	}
	if !*quiet {
		cfg.Progress = os.Stderr
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			cfg.Terminal = true
		}
	}
	ccfg := memif.ClientConfig{
		ID:           uint32(*id),
		Name:         *name,
		Secret:       *secret,
		Queues:       *queues,
		Log2RingSize: uint8(*ring),
		BufSize:      *bufSize,
		Mode:         m,
	}
	dial := func() (pktgen.Conn, error) {
		c, err := memif.Dial(*socket, ccfg)
		if err != nil {
			return nil, err
		}
		return c, nil
	}

	r, err := pktgen.New(cfg)
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !*quiet {
		fmt.Fprintf(os.Stderr, "pktgen: %s on %s id %d, %d-byte frames, %d flow(s)\n", f, *socket, *id, *size, *flows)
	}
	sum, err := r.Run(ctx, dial)
	if err != nil && sum.Queues == 0 { // never connected: nothing to sum up
		fmt.Fprintln(os.Stderr, "pktgen:", explain(err, *socket))
		return 1
	}
	if *jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(sum)
	} else {
		sum.WriteText(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pktgen:", err)
		return 1
	}
	return 0
}

// explain adds what to do to the errors of a first dial.
func explain(err error, socket string) error {
	var refused *memif.RefusedError
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w\nNo memif socket at %s: start mswitchd, or give its memif socket with -socket", err, socket)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w\nNothing listens on %s: is mswitchd running? (-reconnect waits for it)", err, socket)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w\nNo permission on %s: run as root or as a member of mswitchd's group", err, socket)
	case errors.As(err, &refused):
		return fmt.Errorf("%w\nCheck -id against the switch's memif ports (mswitchctl port list SWITCH), and -secret", err)
	}
	return err
}
