// Command mswpace sends one Ethernet frame, over and over, out of a kernel
// interface at a steady rate: a frame every 1/rate seconds, busy-waiting in
// between, on one core. It is the kernel benchmark set's generator for its
// fixed offered rate, where trafgen's --rate sends each second's frames in
// one burst at its full speed (100,000 frames in about 130 ms, then
// nothing): a switch that sleeps between bursts looks cheaper than it is
// under a load that never stops.
//
//	mswpace -dev IFACE -frame HEX -pps 100000 [-for 60s]
//
// It sends with write(2) on an AF_PACKET socket bound to the interface,
// bypassing the qdisc as trafgen does, until -for has passed or it gets
// SIGINT or SIGTERM, and then prints one line: frames sent, refused
// (write failed: the interface's queue stopped, no buffer), and late (sent
// more than -slack after their time; the schedule then restarts from the
// present, so a generator that lost its core does not catch up in a burst).
package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mswpace:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mswpace", flag.ContinueOnError)
	dev := fs.String("dev", "", "interface to send from")
	frameHex := fs.String("frame", "", "the frame, in hex, without the FCS")
	pps := fs.Float64("pps", 100e3, "frames per second")
	dur := fs.Duration("for", time.Minute, "how long to send")
	slack := fs.Duration("slack", time.Millisecond, "how late a frame may be before the schedule restarts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	frame, err := hex.DecodeString(*frameHex)
	if err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	if *dev == "" || len(frame) < 14 || *pps <= 0 || *dur <= 0 {
		return errors.New("want -dev, a -frame of 14 bytes or more, -pps > 0 and -for > 0")
	}
	fd, err := openSocket(*dev)
	if err != nil {
		return err
	}
	defer unix.Close(fd)

	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stop.Store(true) }()

	runtime.LockOSThread()
	s := send(fd, frame, time.Duration(float64(time.Second) / *pps), *dur, *slack, &stop)
	fmt.Printf("sent %d refused %d late %d seconds %.3f rate %.0f\n", s.sent, s.refused, s.late, s.elapsed.Seconds(),
		float64(s.sent)/s.elapsed.Seconds())
	return nil
}

// openSocket returns an AF_PACKET socket bound to dev for sending only
// (protocol 0: it receives nothing), with qdisc bypass.
func openSocket(dev string) (int, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return -1, fmt.Errorf("find interface: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open packet socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("set qdisc bypass: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind packet socket to %s: %w", dev, err)
	}
	return fd, nil
}

type stats struct {
	sent, refused, late uint64
	elapsed             time.Duration
}

// send writes frame every period for dur or until stop, spinning on the
// monotonic clock in between.
func send(fd int, frame []byte, period, dur, slack time.Duration, stop *atomic.Bool) stats {
	var s stats
	start := time.Now()
	next := time.Duration(0)
	for i := uint64(0); ; i++ {
		now := time.Since(start)
		for now < next {
			now = time.Since(start)
		}
		if now >= dur || (i%1024 == 0 && stop.Load()) {
			s.elapsed = now
			return s
		}
		if now-next > slack {
			s.late++
			next = now
		}
		if _, err := unix.Write(fd, frame); err != nil {
			s.refused++
		} else {
			s.sent++
		}
		next += period
	}
}
