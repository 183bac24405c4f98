package main

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSend sends to one end of a datagram socket pair and reads the other:
// every frame arrives whole, no more than the schedule allows, and a stop
// ends the run early.
func TestSend(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if err := unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20); err != nil {
		t.Fatal(err)
	}
	frame := bytes.Repeat([]byte{0xab}, 60)
	var stop atomic.Bool
	s := send(fds[0], frame, 100*time.Microsecond, 20*time.Millisecond, time.Millisecond, &stop)
	// 20 ms at one frame per 100 µs: 200 at most (201 with the first at 0).
	if s.sent == 0 || s.sent > 201 {
		t.Errorf("sent %d frames in %v, want 1-201", s.sent, s.elapsed)
	}
	if s.elapsed < 20*time.Millisecond {
		t.Errorf("stopped after %v, want 20 ms", s.elapsed)
	}
	buf := make([]byte, 2048)
	for i := uint64(0); i < s.sent; i++ {
		n, _, err := unix.Recvfrom(fds[1], buf, unix.MSG_DONTWAIT)
		if err != nil {
			t.Fatalf("frame %d of %d: %v (refused %d)", i, s.sent, err, s.refused)
		}
		if !bytes.Equal(buf[:n], frame) {
			t.Fatalf("frame %d: got % x", i, buf[:n])
		}
	}

	stop.Store(true)
	s = send(fds[0], frame, 100*time.Microsecond, time.Minute, time.Millisecond, &stop)
	if s.elapsed > time.Second || s.sent != 0 {
		t.Errorf("with stop set: sent %d in %v, want nothing at once", s.sent, s.elapsed)
	}
}
