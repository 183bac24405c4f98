package channel

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// fakeDP is a Datapath that records what it is given and answers with
// canned replies.
type fakeDP struct {
	features Features

	mu     sync.Mutex
	got    []*Request
	answer func(req *Request) ([]ofp.Message, error) // nil: no reply
}

var _ Datapath = (*fakeDP)(nil)

func newFakeDP() *fakeDP {
	return &fakeDP{features: Features{DatapathID: 0xabcdef, NTables: 8, Capabilities: ofp.CapFlowStats | ofp.CapTableStats | ofp.CapPortStats,
		DPDesc: "test switch"}}
}

func (d *fakeDP) Features() Features { return d.features }

func (d *fakeDP) Handle(ctx context.Context, req *Request) ([]ofp.Message, error) {
	d.mu.Lock()
	d.got = append(d.got, req)
	answer := d.answer
	d.mu.Unlock()
	if answer != nil {
		return answer(req)
	}
	return nil, nil
}

func (d *fakeDP) setAnswer(f func(req *Request) ([]ofp.Message, error)) {
	d.mu.Lock()
	d.answer = f
	d.mu.Unlock()
}

// received returns the messages Handle got so far.
func (d *fakeDP) received() []ofp.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	var r []ofp.Message
	for _, q := range d.got {
		r = append(r, q.Msg)
	}
	return r
}

// checkLeaks fails the test when goroutines started during it are still
// running once it ends. Register it before anything else.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines before the test, %d after:\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startSwitch starts a Switch listening on a free loopback port, with
// probes off unless opts says otherwise, and closes it at the end of the
// test, checking for leaked goroutines.
func startSwitch(t *testing.T, dp Datapath, opts Options) (*Switch, string) {
	t.Helper()
	checkLeaks(t)
	if opts.Targets == nil {
		opts.Targets = []Target{mustTarget(t, "ptcp:0")}
	}
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = -1
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	sw, err := New(dp, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	var addr string
	if a := sw.ListenAddrs(); len(a) > 0 {
		addr = a[0].String()
	}
	return sw, addr
}

func mustTarget(t *testing.T, s string) Target {
	t.Helper()
	tg, err := ParseTarget(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// ctl is a minimal controller for the tests.
type ctl struct {
	t   *testing.T
	c   net.Conn
	buf []byte
	xid uint32
}

// dialCtl connects to addr and completes the handshake with an OpenFlow
// 1.3 HELLO carrying a version bitmap.
func dialCtl(t *testing.T, addr string) *ctl {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	k := newCtl(t, c)
	h, m := k.recv()
	if _, ok := m.(*ofp.Hello); !ok || h.Version != ofp.Version {
		t.Fatalf("first message from the switch: version %d %T, want an OpenFlow 1.3 HELLO", h.Version, m)
	}
	k.send(ofp.NewHello(1, 4))
	return k
}

func newCtl(t *testing.T, c net.Conn) *ctl {
	k := &ctl{t: t, c: c, xid: 100}
	t.Cleanup(func() { c.Close() })
	return k
}

// send sends m with a fresh XID and returns the XID.
func (k *ctl) send(m ofp.Message) uint32 {
	k.t.Helper()
	k.xid++
	b, err := ofp.Append(nil, k.xid, m)
	if err != nil {
		k.t.Fatalf("encode %T: %v", m, err)
	}
	k.sendRaw(b)
	return k.xid
}

func (k *ctl) sendRaw(b []byte) {
	k.t.Helper()
	if _, err := k.c.Write(b); err != nil {
		k.t.Fatalf("write: %v", err)
	}
}

// recvRaw returns the next message from the switch, failing after 5 s.
func (k *ctl) recvRaw() ([]byte, error) {
	k.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ofp.ReadMessage(k.c, k.buf)
	if err != nil {
		return nil, err
	}
	k.buf = f
	return bytes.Clone(f), nil
}

func (k *ctl) recv() (ofp.Header, ofp.Message) {
	k.t.Helper()
	f, err := k.recvRaw()
	if err != nil {
		k.t.Fatalf("read from switch: %v", err)
	}
	h, _ := ofp.ParseHeader(f)
	m, err := ofp.Decode(f)
	if err != nil {
		k.t.Fatalf("decode %v from switch: %v", h.Type, err)
	}
	return h, m
}

// expect reads the next message and checks its XID and type.
func expect[T ofp.Message](k *ctl, xid uint32) T {
	k.t.Helper()
	h, m := k.recv()
	r, ok := m.(T)
	if !ok {
		k.t.Fatalf("got %v (xid %d) %+v, want %T", h.Type, h.XID, m, r)
	}
	if h.XID != xid {
		k.t.Fatalf("%v has xid %d, want %d", h.Type, h.XID, xid)
	}
	return r
}

// expectError reads an ERROR answering xid with (typ, code) and returns it.
func (k *ctl) expectError(xid uint32, typ ofp.ErrorType, code uint16) *ofp.ErrorMsg {
	k.t.Helper()
	e := expect[*ofp.ErrorMsg](k, xid)
	if e.ErrType != typ || e.Code != code {
		k.t.Fatalf("error %v, want %v", e.Err(), (&ofp.Error{Type: typ, Code: code}))
	}
	return e
}

// alive checks that the connection still answers, and that nothing else
// was queued before the answer.
func (k *ctl) alive() {
	k.t.Helper()
	xid := k.send(&ofp.EchoRequest{Data: []byte("alive?")})
	r := expect[*ofp.EchoReply](k, xid)
	if string(r.Data) != "alive?" {
		k.t.Fatalf("echo reply data %q", r.Data)
	}
}

// expectClosed checks that the switch closes the connection.
func (k *ctl) expectClosed() {
	k.t.Helper()
	for {
		f, err := k.recvRaw()
		if err == nil {
			h, _ := ofp.ParseHeader(f)
			k.t.Logf("before close: %v", h.Type)
			continue
		}
		if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset") {
			return
		}
		k.t.Fatalf("connection not closed: %v", err)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
