package memif

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDPDKTestpmd runs DPDK's testpmd as a memif client of a switch port
// (net_memif, role=client, copy mode), in io forwarding: every packet it
// receives from the switch it sends back. A Go client on another port,
// cross-connected to it, sends frames and must get each one back intact:
// traffic in both directions between DPDK and mswitch. Needs the Debian 12
// packages dpdk-dev (which holds dpdk-testpmd) and librte-net-memif23
// (DPDK 22.11), and root for DPDK's EAL.
func TestDPDKTestpmd(t *testing.T) {
	bin, err := exec.LookPath("dpdk-testpmd")
	if err != nil {
		t.Skip("dpdk-testpmd is not in PATH: install the Debian packages dpdk-dev and librte-net-memif23 (DPDK 22.11) to run this test")
	}
	if os.Geteuid() != 0 {
		t.Skip("testpmd's EAL needs root")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	for _, tc := range []struct {
		mode   Mode
		queues int
	}{{Interrupt, 1}, {Poll, 1}, {Interrupt, 2}} {
		t.Run(fmt.Sprintf("%v/%dq", tc.mode, tc.queues), func(t *testing.T) { testpmdRun(t, bin, tc.mode, tc.queues) })
	}
}

func testpmdRun(t *testing.T, bin string, mode Mode, queues int) {
	tb := newTestbed(t)
	dpdkPort, dpdkID := tb.port(PortConfig{ID: 0, Name: "to-testpmd", Mode: mode, Queues: queues})
	_, goID := tb.port(PortConfig{ID: 1, Name: "to-go", Mode: mode, Queues: queues})
	if err := tb.x.Pair(dpdkID, goID); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("mswitch-memif-test-%d", os.Getpid())
	t.Cleanup(func() { os.RemoveAll("/var/run/dpdk/" + prefix) }) // EAL's runtime files
	args := []string{
		"--no-huge", "-m", "1024", "--no-pci", "-l", "0,1", "--file-prefix", prefix,
		"--vdev=net_memif0,role=client,socket=" + tb.path + ",socket-abstract=no,id=0",
		// --no-flush-rx: otherwise testpmd reads and frees what is in its
		// rings before it starts counting (a probe, here).
		"--", "--forward-mode=io", "--nb-cores=1", "--stats-period=1", "--no-flush-rx",
		fmt.Sprintf("--rxq=%d", queues), fmt.Sprintf("--txq=%d", queues),
	}
	cmd := exec.Command(bin, args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t.Logf("running %s %q", bin, args)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		syscall.Kill(cmd.Process.Pid, syscall.SIGTERM) // testpmd prints its statistics and exits
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			o := out.String()
			t.Logf("testpmd output:\n%s", o)
			t.Logf("switch: %+v", tb.sw.Stats())
		}
	})

	deadline := time.Now().Add(60 * time.Second)
	for !dpdkPort.Status().Connected {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("testpmd exited before connecting (%v):\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testpmd did not connect in 60s; port status %+v", dpdkPort.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := dpdkPort.Status()
	t.Logf("testpmd connected: peer %q interface %q, %d queues, ring 2^%d, buffers %d bytes", st.PeerName, st.IfName, st.Queues, st.Log2RingSize, st.BufSize)

	c := tb.dial(ClientConfig{ID: 1, Name: "go-client", Mode: mode, Queues: queues})
	// testpmd posts its receive buffers once it forwards, a little after it
	// connected: until then the switch drops what goes to it. Probe.
	probes := 0
	bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
	for got := false; !got; {
		if probes++; probes > 300 {
			t.Fatal("no probe came back from testpmd in 30s")
		}
		c.Send(0, [][]byte{ethFrame(-1, 60)})
		if ok, _ := c.Wait(0, 100*time.Millisecond); ok {
			n, _ := c.Receive(0, bufs, sizes)
			got = n > 0
		}
	}
	time.Sleep(100 * time.Millisecond)
	for n, _ := c.Receive(0, bufs, sizes); n > 0; n, _ = c.Receive(0, bufs, sizes) {
	}
	t.Logf("testpmd forwards (%d probes sent)", probes)
	probed := dpdkStats(t, tb)
	var frames [][]byte
	for i := 0; i < 20000; i++ {
		frames = append(frames, ethFrame(i, 60+(i*37)%1455))
	}
	start := time.Now()
	for q := 0; q < queues; q++ {
		transfer(t, c, c, q, frames)
	}
	el := time.Since(start)
	t.Logf("%d frames of 60..1514 bytes to testpmd and back on each of %d queues, %d in flight at most, in %v",
		len(frames), queues, 32, el.Round(time.Millisecond))

	// Jumbo frames: the switch chains them into testpmd's 2048-byte buffers,
	// testpmd chains mbufs and sends them back chained.
	var jumbo [][]byte
	for i := 0; i < 100; i++ {
		jumbo = append(jumbo, ethFrame(100000+i, 9000))
	}
	transfer(t, c, c, 0, jumbo)
	t.Logf("%d frames of 9000 bytes (5 chained buffers each) to testpmd and back", len(jumbo))

	st = dpdkPort.Status()
	t.Logf("port to testpmd: %d connects, %d disconnects", st.Connects, st.Disconnects)
	stop()
	rx, tx := testpmdCounts(out.String())
	t.Logf("testpmd counted RX %d, TX %d", rx, tx)
	want := uint64(queues*len(frames)+len(jumbo)) + probed
	if rx != want || tx != want {
		t.Errorf("testpmd RX %d TX %d, want %d each (%d probes delivered)", rx, tx, want, probed)
	}
	if rj := dpdkPort.Status().Rejects; len(rj) != 0 {
		t.Errorf("rejects %v", rj)
	}
}

// dpdkStats returns how many packets the switch delivered to testpmd's
// port (ID 0).
func dpdkStats(t *testing.T, tb *testbed) uint64 {
	st, err := tb.sw.PortStats(0)
	if err != nil {
		t.Fatal(err)
	}
	return st.TxPackets
}

// ethFrame is a test frame with a locally administered unicast MAC header.
func ethFrame(seq, n int) []byte {
	f := frame(seq, n)
	copy(f[0:], []byte{0x02, 0, 0, 0, 0, 2})
	copy(f[6:], []byte{0x02, 0, 0, 0, 0, 1})
	f[12], f[13] = 0x88, 0xb5 // local experimental ethertype
	f[14], f[15], f[16], f[17] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
	return f
}

var (
	rxPackets = regexp.MustCompile(`RX-packets:\s*(\d+)`)
	txPackets = regexp.MustCompile(`TX-packets:\s*(\d+)`)
)

// testpmdCounts returns the last RX and TX packet counts testpmd printed
// (its final statistics).
func testpmdCounts(out string) (rx, tx uint64) {
	if m := rxPackets.FindAllStringSubmatch(out, -1); len(m) > 0 {
		rx, _ = strconv.ParseUint(m[len(m)-1][1], 10, 64)
	}
	if m := txPackets.FindAllStringSubmatch(out, -1); len(m) > 0 {
		tx, _ = strconv.ParseUint(m[len(m)-1][1], 10, 64)
	}
	return rx, tx
}
