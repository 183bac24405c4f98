package channel

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

// TestOsken has the switch dial an os-ken controller (Debian python3-os-ken)
// running testdata/osken/app.py: the app gets the switch's features,
// installs a flow, sends a barrier and receives a PACKET_IN.
func TestOsken(t *testing.T) {
	manager, err := exec.LookPath("osken-manager")
	if err == nil {
		err = exec.Command("/usr/bin/python3", "-c", "import os_ken.cmd.manager").Run()
	}
	if err != nil {
		t.Skipf("os-ken not available (Debian python3-os-ken): %v", err)
	}
	checkLeaks(t)

	// A free port for the controller to listen on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, manager, "--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", strconv.Itoa(port),
		"testdata/osken/app.py")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	defer func() {
		cmd.Process.Kill()
		for range lines {
		}
		cmd.Wait()
		if t.Failed() {
			t.Logf("osken-manager stderr:\n%s", stderr.String())
		}
	}()
	var seen []string // lines not yet asked for: events come in any order
	waitLine := func(prefix string) string {
		t.Helper()
		for i, l := range seen {
			if strings.HasPrefix(l, prefix) {
				seen = append(seen[:i], seen[i+1:]...)
				return l
			}
		}
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("os-ken exited before printing %q", prefix)
				}
				t.Logf("os-ken: %s", l)
				if strings.HasPrefix(l, prefix) {
					return l
				}
				seen = append(seen, l)
			case <-ctx.Done():
				t.Fatalf("no %q from os-ken", prefix)
			}
		}
	}

	dp := newFakeDP()
	dp.setAnswer(func(req *Request) ([]ofp.Message, error) {
		if mp, ok := req.Msg.(*ofp.MultipartRequest); ok {
			if _, ok := mp.Body.(*ofp.PortDescRequest); ok {
				return []ofp.Message{&ofp.MultipartReply{Body: &ofp.PortDescReply{Ports: []ofp.Port{
					{PortNo: 1, HWAddr: [6]byte{2, 0, 0, 0, 0, 1}, Name: "p1"}, {PortNo: 2, HWAddr: [6]byte{2, 0, 0, 0, 0, 2}, Name: "p2"},
				}}}}, nil
			}
		}
		return nil, nil
	})
	// os-ken takes a moment to listen: the switch retries every 100 ms.
	sw, _ := startSwitch(t, dp, Options{Targets: []Target{mustTarget(t, "tcp:127.0.0.1:"+strconv.Itoa(port))},
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})

	if l := waitLine("FEATURES"); l != "FEATURES dpid=0000000000abcdef n_tables=8 n_buffers=0" {
		t.Errorf("os-ken saw %q", l)
	}
	waitLine("BARRIER_REPLY")
	var fm *ofp.FlowMod
	for _, m := range dp.received() {
		if f, ok := m.(*ofp.FlowMod); ok {
			fm = f
		}
	}
	if fm == nil || fm.Cookie != 0x42 || fm.Priority != 100 || fm.Command != ofp.FlowAdd || len(fm.Match.Fields) != 3 {
		t.Fatalf("datapath got FLOW_MOD %+v", fm)
	}
	if l := waitLine("PORT_DESC"); l != "PORT_DESC p1,p2" {
		t.Errorf("os-ken saw %q", l)
	}

	// os-ken is in its main state once it has the ports: a PACKET_IN.
	frame := make([]byte, 200)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06})
	sw.PacketIn(&ofp.PacketIn{Reason: ofp.ReasonNoMatch, Match: ofp.Match{Fields: []ofp.OXM{ofp.NewOXMUint(ofp.OXMInPort, 1)}}, Data: frame}, ofp.CMLNoBuffer)
	if l := waitLine("PACKET_IN"); l != "PACKET_IN reason=0 buffer_id=0xffffffff total_len=200 len=128 in_port=1" {
		t.Errorf("os-ken saw %q", l)
	}
	st := sw.Status()
	if len(st.Conns) != 1 || st.Conns[0].Role != RoleEqual || !st.Conns[0].Up {
		t.Errorf("status %+v", st)
	}
}
