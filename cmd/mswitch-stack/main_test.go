package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic/learning"
	"github.com/mswitch/mswitch/port/memif"
	"github.com/mswitch/mswitch/ustack"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(handler("who"))
	defer srv.Close()
	for _, c := range []struct {
		path   string
		status int
		size   int
		body   string
	}{
		{"/", 200, 4, "who\n"},
		{"/bytes/0", 200, 0, ""},
		{"/bytes/100000", 200, 100000, ""},
		{"/bytes/-1", 400, -1, ""},
		{"/bytes/x", 400, -1, ""},
		{fmt.Sprintf("/bytes/%d", maxBytes+1), 400, -1, ""},
		{"/nothing", 404, -1, ""},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.path, resp.StatusCode, c.status)
		}
		if c.size >= 0 && len(b) != c.size {
			t.Errorf("%s: %d bytes, want %d", c.path, len(b), c.size)
		}
		if c.body != "" && string(b) != c.body {
			t.Errorf("%s: %q, want %q", c.path, b, c.body)
		}
	}
}

func TestParseSpoof(t *testing.T) {
	sp, err := parseSpoof("4000:10.0.0.2:5000")
	if err != nil || sp.Port != 4000 || sp.Dst != netip.MustParseAddrPort("10.0.0.2:5000") {
		t.Fatalf("got %+v, %v", sp, err)
	}
	for _, s := range []string{"", "4000", "0:10.0.0.2:5000", "x:10.0.0.2:5000", "4000:10.0.0.2", "70000:1.2.3.4:5"} {
		if _, err := parseSpoof(s); err == nil {
			t.Errorf("parseSpoof(%q) accepted", s)
		}
	}
}

func TestPickMAC(t *testing.T) {
	if _, err := pickMAC(options{}); err == nil {
		t.Error("no MAC accepted")
	}
	if _, err := pickMAC(options{mac: "02:00:00:00:00:01", shareMAC: "lo"}); err == nil {
		t.Error("-mac with -share-mac accepted")
	}
	if m, err := pickMAC(options{mac: "02:00:00:00:00:01"}); err != nil || m.String() != "02:00:00:00:00:01" {
		t.Errorf("got %v, %v", m, err)
	}
	// lo has no MAC to share.
	if _, err := pickMAC(options{shareMAC: "lo"}); err == nil {
		t.Error("-share-mac lo accepted")
	}
}

// TestProgram runs the program on a memif port of an in-process learning
// switch, and fetches its pages from a second user-level stack on another
// port.
func TestProgram(t *testing.T) {
	sw, err := fabric.New("stack-test", fabric.Options{Logic: learning.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	path := filepath.Join(t.TempDir(), "memif.sock")
	srv, err := memif.Listen(path, memif.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for id := uint32(1); id <= 2; id++ {
		p, err := srv.NewPort(memif.PortConfig{ID: id, Name: fmt.Sprint(id)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sw.Attach(p, fabric.PortConfig{Name: fmt.Sprint(id)}); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-socket", path, "-id", "1", "-ip", "10.9.0.1/24", "-mac", "02:00:00:00:09:01", "-listen", ":8080"})
	}()

	// The client: a stack of its own on port 2.
	c, err := memif.Dial(path, memif.ClientConfig{ID: 2, Name: "client"})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := ustack.NewEndpoint(c, ustack.EndpointOptions{MAC: net.HardwareAddr{2, 0, 0, 0, 9, 2}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := ustack.NewStack(ep, ustack.StackConfig{Addr: netip.MustParsePrefix("10.9.0.2/24")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hc := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			ap := netip.MustParseAddrPort(addr)
			return gonet.DialContextTCP(ctx, st.Stack, tcpip.FullAddress{NIC: ustack.NIC, Addr: tcpip.AddrFromSlice(ap.Addr().AsSlice()), Port: ap.Port()}, ipv4.ProtocolNumber)
		}},
	}
	get := func(path string) (string, error) {
		resp, err := hc.Get("http://10.9.0.1:8080" + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		if body, err = get("/"); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the program may not listen yet
	}
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	if !strings.Contains(body, "user-level stack") {
		t.Errorf("GET /: %q", body)
	}
	if body, err = get("/bytes/1000000"); err != nil || len(body) != 1000000 {
		t.Errorf("GET /bytes/1000000: %d bytes, %v", len(body), err)
	}
	hc.CloseIdleConnections()

	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit code %d", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the program did not exit")
	}
}
