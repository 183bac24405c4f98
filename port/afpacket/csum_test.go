package afpacket

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestChecksums captures, in the receiving namespace, every TCP and UDP
// packet the switch delivers and checks its checksum: a packet must either
// carry a correct one, or be marked by the kernel as a partial-checksum
// (offloaded) packet, which the receiving stack finishes. With NoVnetHdr
// nothing can be offloaded, so every checksum must be complete.
func TestChecksums(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		tcp  bool
	}{
		{"vnet", Config{}, true},
		{"novnet", Config{NoVnetHdr: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, tc.cfg, 1500)
			var fd int
			inNS(t, p.b.NS, func() {
				var err error
				fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_IP)))
				if err == nil {
					err = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
				}
				if err == nil {
					err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
				}
				if err != nil {
					t.Error(err)
				}
			})
			var c capture
			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.run(fd, p.a.IP, stop)
			}()
			ping(t, p.a, p.b.IP)
			u := iperf(t, p.b, p.a, 1, "-u", "-b", "100M", "-l", "1400")
			t.Logf("UDP: %.2f Gb/s", u.Gbps)
			if tc.tcp {
				r := iperf(t, p.b, p.a, 1)
				t.Logf("TCP: %.2f Gb/s, %d retransmits", r.Gbps, r.Retransmits)
			}
			time.Sleep(100 * time.Millisecond)
			close(stop)
			wg.Wait()
			unix.Close(fd)
			t.Logf("captured %d TCP/UDP packets from %s: %d complete, %d partial (offloaded), %d bad", c.total, p.a.IP, c.good, c.partial, c.bad)
			if c.bad != 0 {
				t.Errorf("%d packets left the switch with a wrong checksum", c.bad)
			}
			if !tc.cfg.NoVnetHdr && c.total == 0 || tc.cfg.NoVnetHdr && c.partial != 0 {
				t.Errorf("unexpected capture: %+v", c)
			}
			p.checkCsumErrors(t)
		})
	}
}

type capture struct {
	total, good, partial, bad int
}

func (c *capture) run(fd int, src string, stop <-chan struct{}) {
	buf := make([]byte, 1<<17)
	oob := make([]byte, 256)
	srcIP := [4]byte{}
	copy(srcIP[:], parseIP4(src))
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
		if err != nil {
			continue
		}
		var status uint32
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
					status = (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0])).Status
				}
			}
		}
		ip := buf[14:n]
		if len(ip) < 20 || ip[0]>>4 != 4 || [4]byte(ip[12:16]) != srcIP || (ip[9] != 6 && ip[9] != 17) {
			continue
		}
		c.total++
		switch {
		case status&unix.TP_STATUS_CSUMNOTREADY != 0:
			c.partial++
		case l4Valid(ip):
			c.good++
		default:
			c.bad++
		}
	}
}

// l4Valid verifies the TCP or UDP checksum of the IPv4 packet ip.
func l4Valid(ip []byte) bool {
	ihl := int(ip[0]&15) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if total > len(ip) || total < ihl {
		return false
	}
	l4 := ip[ihl:total]
	if ip[9] == 17 && len(l4) >= 8 && binary.BigEndian.Uint16(l4[6:]) == 0 {
		return true // UDP without checksum
	}
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(ip[12:20])
	sum += uint32(ip[9]) + uint32(len(l4))
	add(l4)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

func parseIP4(s string) []byte {
	var a, b, c, d byte
	fmtSscanf(s, &a, &b, &c, &d)
	return []byte{a, b, c, d}
}

func fmtSscanf(s string, a, b, c, d *byte) { fmt.Sscanf(s, "%d.%d.%d.%d", a, b, c, d) }
