package daemon

// Packet capture. A port's tap (fabric.Switch.SetTap) is set while at least
// one capture of the port runs. The tap copies each packet into the
// bounded queue of every capture and never blocks: a full queue drops the
// packet and counts it. The capture's HTTP handler drains its queue into a
// pcap stream.
//
//	forwarding goroutines --Packet--> tap --copy, non-blocking--> capture.ch
//	                                                                   |
//	HTTP client <--pcap records, flushed when ch is empty-- handler <--+

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic"
)

// Bounds of one capture's queue.
const (
	captureQueue    = 4096    // packets
	captureMaxBytes = 8 << 20 // bytes
	snapLen         = 65536
)

// tap is a port's fabric.Tap: it fans packets out to the port's captures.
type tap struct {
	caps atomic.Pointer[[]*capture] // copy on write, under d.mu
}

var _ fabric.Tap = (*tap)(nil)

// capture is one running capture.
type capture struct {
	in, out bool // directions captured
	ch      chan capturedPacket
	bytes   atomic.Int64 // bytes in ch
	dropped atomic.Uint64
}

type capturedPacket struct {
	t    time.Time
	data []byte
}

// Packet implements fabric.Tap.
func (t *tap) Packet(dir fabric.Direction, _ logic.PortID, first []byte, rest []fabric.Slot) {
	caps := t.caps.Load()
	if caps == nil || len(*caps) == 0 {
		return
	}
	n := len(first)
	for _, s := range rest {
		n += len(s.Buf)
	}
	now := time.Now()
	for _, c := range *caps {
		if (dir == fabric.In && !c.in) || (dir == fabric.Out && !c.out) {
			continue
		}
		if len(c.ch) == cap(c.ch) || c.bytes.Load()+int64(n) > captureMaxBytes {
			c.dropped.Add(1)
			continue
		}
		b := make([]byte, 0, n)
		b = append(b, first...)
		for _, s := range rest {
			b = append(b, s.Buf...)
		}
		select {
		case c.ch <- capturedPacket{now, b}:
			c.bytes.Add(int64(n))
		default:
			c.dropped.Add(1)
		}
	}
}

// add and remove change the captures of a tap.
//
// Preconditions: d.mu is held.
func (t *tap) add(c *capture) int {
	var caps []*capture
	if old := t.caps.Load(); old != nil {
		caps = slices.Clone(*old)
	}
	caps = append(caps, c)
	t.caps.Store(&caps)
	return len(caps)
}

// Preconditions: d.mu is held.
func (t *tap) remove(c *capture) int {
	var caps []*capture
	if old := t.caps.Load(); old != nil {
		caps = slices.DeleteFunc(slices.Clone(*old), func(x *capture) bool { return x == c })
	}
	t.caps.Store(&caps)
	return len(caps)
}

// captureOptions reads the query of a capture request.
func captureOptions(r *http.Request) (count int, dur time.Duration, c *capture, err error) {
	q := r.URL.Query()
	if v := q.Get("count"); v != "" {
		if count, err = strconv.Atoi(v); err != nil || count < 0 {
			return 0, 0, nil, badRequest("count %q is not a number of packets", v)
		}
	}
	if v := q.Get("duration"); v != "" {
		if dur, err = time.ParseDuration(v); err != nil || dur < 0 {
			return 0, 0, nil, badRequest("duration %q is not a duration such as 10s or 1m", v)
		}
	}
	c = &capture{ch: make(chan capturedPacket, captureQueue)}
	switch v := q.Get("direction"); v {
	case "", "both":
		c.in, c.out = true, true
	case "in":
		c.in = true
	case "out":
		c.out = true
	default:
		return 0, 0, nil, badRequest("direction %q is not in, out or both", v)
	}
	return count, dur, c, nil
}

// serveCapture streams a pcap of the packets crossing a port until the
// count or the duration is reached, the client goes away, the port is
// deleted or the daemon stops.
func (d *Daemon) serveCapture(w http.ResponseWriter, r *http.Request) {
	count, dur, c, err := captureOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	sw, name := r.PathValue("switch"), r.PathValue("port")
	p, err := d.startCapture(sw, name, c)
	if err != nil {
		writeError(w, err)
		return
	}
	defer d.stopCapture(p, c)
	log := d.log.With("switch", sw, "port", name)
	log.Info("capture started", "count", count, "duration", dur)

	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Trailer", control.CaptureDroppedTrailer)
	w.WriteHeader(http.StatusOK)
	fl := http.NewResponseController(w)
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(snapLen, layers.LinkTypeEthernet); err != nil {
		return
	}
	_ = fl.Flush()

	var timeout <-chan time.Time
	if dur > 0 {
		t := time.NewTimer(dur)
		defer t.Stop()
		timeout = t.C
	}
	n := 0
loop:
	for count == 0 || n < count {
		select {
		case pkt := <-c.ch:
			c.bytes.Add(-int64(len(pkt.data)))
			data := pkt.data
			if len(data) > snapLen {
				data = data[:snapLen]
			}
			ci := gopacket.CaptureInfo{Timestamp: pkt.t, CaptureLength: len(data), Length: len(pkt.data)}
			if err := pw.WritePacket(ci, data); err != nil {
				log.Info("capture ended", "packets", n, "dropped", c.dropped.Load(), "reason", err)
				return
			}
			n++
			if len(c.ch) == 0 {
				_ = fl.Flush()
			}
		case <-timeout:
			break loop
		case <-r.Context().Done():
			break loop
		case <-p.gone:
			break loop
		case <-d.done:
			break loop
		}
	}
	w.Header().Set(control.CaptureDroppedTrailer, fmt.Sprint(c.dropped.Load()))
	log.Info("capture ended", "packets", n, "dropped", c.dropped.Load())
}

// startCapture adds c to the captures of a port, setting its tap if c is
// the first.
func (d *Daemon) startCapture(sw, name string, c *capture) (*port, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := d.attachedPort(sw, name)
	if err != nil {
		return nil, err
	}
	if p.tap == nil {
		p.tap = &tap{}
	}
	if p.tap.add(c) == 1 {
		if err := p.sw.sw.SetTap(p.id, p.tap); err != nil {
			p.tap.remove(c)
			return nil, fmt.Errorf("start capture: %w", err)
		}
	}
	return p, nil
}

// stopCapture removes c from the captures of p, and p's tap with the last.
func (d *Daemon) stopCapture(p *port, c *capture) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p.tap.remove(c) > 0 {
		return
	}
	select {
	case <-p.gone: // the tap went with the port
	default:
		if err := p.sw.sw.SetTap(p.id, nil); err != nil {
			d.log.Warn("stop capture", "port", p.spec.Name, "err", err)
		}
	}
}
