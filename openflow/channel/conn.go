package channel

// One connection to a controller runs two goroutines:
//
//  1. the reader (routineRead, on the goroutine that accepted or dialed):
//     handshake, then read, decode and handle one message at a time, in
//     order, and queue the replies;
//  2. the writer (routineWrite): drain the output queue onto the socket,
//     several messages per write, and run the keepalive.
//
// Replies and asynchronous messages share one FIFO queue, so a reply never
// overtakes a FLOW_REMOVED or PACKET_IN the datapath emitted while handling
// an earlier request, and a BARRIER_REPLY follows everything before it.
// The reader waits for room in the queue; asynchronous senders drop and
// count instead. A nil entry asks the writer to flush and close (after a
// failed HELLO).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

type asyncKind uint8

const (
	kindPacketIn asyncKind = iota
	kindPortStatus
	kindFlowRemoved
)

// defaultAsync is the initial async configuration (spec 1.3.5 §7.3.10, as
// OVS): master and equal get PACKET_IN for no-match and action, every
// PORT_STATUS and FLOW_REMOVED; slaves get only PORT_STATUS.
var defaultAsync = ofp.AsyncConfig{
	PacketInMask:    [2]uint32{1<<ofp.ReasonNoMatch | 1<<ofp.ReasonAction, 0},
	PortStatusMask:  [2]uint32{1<<ofp.PortReasonAdd | 1<<ofp.PortReasonDelete | 1<<ofp.PortReasonModify, 1<<ofp.PortReasonAdd | 1<<ofp.PortReasonDelete | 1<<ofp.PortReasonModify},
	FlowRemovedMask: [2]uint32{1<<ofp.RemovedIdleTimeout | 1<<ofp.RemovedHardTimeout | 1<<ofp.RemovedDelete | 1<<ofp.RemovedGroupDelete, 0},
}

// helloTimeout bounds the wait for the controller's HELLO.
const helloTimeout = 10 * time.Second

// writeBatch is the most queue entries one write takes.
const writeBatch = 64

type conn struct {
	sw     *Switch
	id     ConnID
	nc     net.Conn
	target Target
	remote string
	since  time.Time
	log    *slog.Logger

	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	once   sync.Once

	out        chan []byte   // encoded messages; nil: flush and close
	writerDone chan struct{} // closed when routineWrite returns

	up       atomic.Bool   // handshake done
	role     atomic.Uint32 // ofp.Role*
	async    atomic.Pointer[ofp.AsyncConfig]
	lastRecv atomic.Int64 // unix nanoseconds of the last message received
	msgsIn   atomic.Uint64
	msgsOut  atomic.Uint64
	drops    atomic.Uint64
	dropping atomic.Bool // the last async message was dropped (log once per run)
}

// serve runs one connection until it fails or the switch closes; it
// returns why the connection ended. onUp is called after the handshake.
func (s *Switch) serve(nc net.Conn, t Target, onUp func()) error {
	c := &conn{
		sw: s, nc: nc, target: t, remote: nc.RemoteAddr().String(), since: time.Now(),
		out: make(chan []byte, s.opts.QueueLen), writerDone: make(chan struct{}),
	}
	if t.Network == "unix" {
		c.remote = "unix:" + t.Address
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.role.Store(ofp.RoleEqual)
	a := defaultAsync
	c.async.Store(&a)
	c.lastRecv.Store(time.Now().UnixNano())
	c.id = ConnID(s.connIDs.Add(1))
	c.log = s.log.With("conn", c.id, "remote", c.remote)
	if !s.track(c) {
		nc.Close()
		c.cancel()
		return net.ErrClosed
	}
	defer s.untrack(c)
	go c.routineWrite()
	defer func() {
		c.close(nil)
		<-c.writerDone
	}()
	if err := c.handshake(); err != nil {
		return err
	}
	s.goLive(c)
	defer s.goDead(c)
	if onUp != nil {
		onUp()
	}
	return c.routineRead()
}

// close closes the connection once; its goroutines then end.
func (c *conn) close(err error) {
	c.once.Do(func() {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			c.log.Info("openflow: closing connection", "err", err)
		}
		c.cancel()
		c.nc.Close()
	})
}

// send queues encoded messages, waiting for room; n is their count.
func (c *conn) send(b []byte, n int) error {
	select {
	case c.out <- b:
		c.msgsOut.Add(uint64(n))
		return nil
	case <-c.ctx.Done():
		return net.ErrClosed
	}
}

// sendAsync queues an asynchronous message, or drops it when the queue is
// full. b is shared with other connections and never modified.
func (c *conn) sendAsync(b []byte) {
	if c.ctx.Err() != nil {
		return
	}
	select {
	case c.out <- b:
		c.msgsOut.Add(1)
		if c.dropping.Load() {
			c.dropping.Store(false)
			c.log.Info("openflow: controller keeps up again", "dropped", c.drops.Load())
		}
	default:
		c.drops.Add(1)
		c.sw.asyncDrops.Add(1)
		if !c.dropping.Swap(true) {
			c.log.Warn("openflow: controller too slow, dropping asynchronous messages", "dropped", c.drops.Load())
		}
	}
}

// wants reports whether c, in its role, asked for messages of kind k with
// this reason.
func (c *conn) wants(k asyncKind, reason uint8) bool {
	if reason >= 32 {
		return false
	}
	i := 0
	if c.role.Load() == ofp.RoleSlave {
		i = 1
	}
	a := c.async.Load()
	var mask uint32
	switch k {
	case kindPacketIn:
		mask = a.PacketInMask[i]
	case kindPortStatus:
		mask = a.PortStatusMask[i]
	case kindFlowRemoved:
		mask = a.FlowRemovedMask[i]
	}
	return mask&(1<<reason) != 0
}

// handshake exchanges HELLOs (spec 1.3.5 §6.3.1): OpenFlow 1.3 only.
func (c *conn) handshake() error {
	b, _ := ofp.Append(nil, 0, ofp.NewHello(ofp.Version))
	if err := c.send(b, 1); err != nil {
		return err
	}
	c.nc.SetReadDeadline(time.Now().Add(helloTimeout))
	frame, err := ofp.ReadMessage(c.nc, nil)
	if err != nil {
		return fmt.Errorf("read hello: %w", err)
	}
	c.nc.SetReadDeadline(time.Time{})
	c.lastRecv.Store(time.Now().UnixNano())
	c.msgsIn.Add(1)
	h, _ := ofp.ParseHeader(frame)
	m, err := ofp.Decode(frame)
	hello, ok := m.(*ofp.Hello)
	if err != nil || !ok {
		return c.helloFailed(h, fmt.Sprintf("expected HELLO, got %v", h.Type))
	}
	if _, ok := ofp.NegotiateVersion(hello, ofp.Version); !ok {
		return c.helloFailed(h, fmt.Sprintf("no common OpenFlow version: this switch speaks only OpenFlow 1.3 (0x04), peer sent version 0x%02x%s",
			h.Version, bitmapText(hello)))
	}
	c.log.Info("openflow: controller connected", "target", c.target)
	return nil
}

func bitmapText(h *ofp.Hello) string {
	if bm := h.VersionBitmap(); bm != nil {
		return fmt.Sprintf(" with bitmap %#x", bm)
	}
	return ""
}

// helloFailed answers a bad HELLO with HELLO_FAILED/INCOMPATIBLE carrying
// text, in the peer's version when it is older, and closes the connection
// once the error is written.
func (c *conn) helloFailed(h ofp.Header, text string) error {
	b, err := ofp.Append(nil, h.XID, &ofp.ErrorMsg{ErrType: ofp.ETHelloFailed, Code: ofp.HFCIncompatible, Data: []byte(text)})
	if err == nil {
		if h.Version != 0 && h.Version < ofp.Version {
			b[0] = h.Version
		}
		if c.send(b, 1) == nil && c.send(nil, 0) == nil {
			select {
			case <-c.writerDone:
			case <-time.After(time.Second):
			}
		}
	}
	return errors.New("hello failed: " + text)
}

// routineRead handles the controller's messages, one at a time.
func (c *conn) routineRead() error {
	var buf, out []byte
	for {
		frame, err := ofp.ReadMessage(c.nc, buf)
		if err != nil {
			if c.ctx.Err() != nil {
				return net.ErrClosed
			}
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("read message: %w", err)
		}
		buf = frame
		c.lastRecv.Store(time.Now().UnixNano())
		c.msgsIn.Add(1)
		h, _ := ofp.ParseHeader(frame)
		c.log.Debug("openflow: received", "type", h.Type, "xid", h.XID, "len", h.Length)
		m, err := ofp.Decode(frame)
		var replies []ofp.Message
		if err == nil {
			replies, err = c.handle(h.XID, m)
		}
		// out is handed to the writer, so each request gets a fresh one.
		out = nil
		n := 0
		if err != nil {
			c.logRequestError(h, err)
			out, _ = ofp.Append(out, h.XID, ofp.NewErrorMsg(err, frame))
			n = 1
		}
		for _, r := range replies {
			var err error
			if mp, ok := r.(*ofp.MultipartReply); ok && mp.Flags == 0 {
				start := len(out)
				out, err = ofp.AppendMultipartReply(out, h.XID, mp.Body)
				n += countMessages(out[start:])
			} else {
				out, err = ofp.Append(out, h.XID, r)
				n++
			}
			if err != nil {
				c.log.Error("openflow: encode reply", "request", h.Type, "reply", r.Type(), "err", err)
				out, _ = ofp.Append(out, h.XID, ofp.NewErrorMsg(err, frame))
				n++
				break
			}
		}
		if len(out) > 0 {
			if err := c.send(out, n); err != nil {
				return err
			}
		}
	}
}

func countMessages(b []byte) int {
	n := 0
	for len(b) >= ofp.HeaderLen {
		l := int(b[2])<<8 | int(b[3])
		if l < ofp.HeaderLen || l > len(b) {
			break
		}
		b = b[l:]
		n++
	}
	return n
}

func (c *conn) logRequestError(h ofp.Header, err error) {
	var oe *ofp.Error
	if errors.As(err, &oe) {
		c.log.Debug("openflow: request refused", "type", h.Type, "xid", h.XID, "err", err)
	} else {
		c.log.Warn("openflow: request failed", "type", h.Type, "xid", h.XID, "err", err)
	}
}

// routineWrite writes the queue to the socket and probes an idle
// controller.
func (c *conn) routineWrite() {
	defer close(c.writerDone)
	probe := c.sw.opts.ProbeInterval
	var tick <-chan time.Time
	if probe > 0 {
		t := time.NewTicker(max(probe/4, 10*time.Millisecond))
		defer t.Stop()
		tick = t.C
	}
	var lastProbe int64
	var echoXID uint32
	batch := make(net.Buffers, 0, writeBatch)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick:
			now := time.Now()
			idle := now.Sub(time.Unix(0, c.lastRecv.Load()))
			if idle >= 2*probe {
				c.close(fmt.Errorf("no message from controller for %v", idle.Round(time.Millisecond)))
				return
			}
			if idle >= probe && lastProbe < c.lastRecv.Load() && c.up.Load() {
				lastProbe = now.UnixNano()
				echoXID++
				b, _ := ofp.Append(nil, 0xec000000|echoXID&0xffffff, &ofp.EchoRequest{})
				c.sendAsync(b)
			}
		case b := <-c.out:
			batch = batch[:0]
			last := b == nil
			if !last {
				batch = append(batch, b)
			}
		more:
			for !last && len(batch) < writeBatch {
				select {
				case b := <-c.out:
					if b == nil {
						last = true
					} else {
						batch = append(batch, b)
					}
				default:
					break more
				}
			}
			if probe > 0 {
				c.nc.SetWriteDeadline(time.Now().Add(2 * probe))
			}
			bufs := batch
			if _, err := bufs.WriteTo(c.nc); err != nil {
				c.close(fmt.Errorf("write: %w", err))
				return
			}
			clear(batch)
			if last {
				c.close(nil)
				return
			}
		}
	}
}
