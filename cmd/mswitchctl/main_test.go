package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/daemon"
	"github.com/mswitch/mswitch/frame"
	ft "github.com/mswitch/mswitch/frame/frametest"
	_ "github.com/mswitch/mswitch/logic/all"
)

// env is an in-process daemon on a temporary socket.
type env struct {
	t      *testing.T
	d      *daemon.Daemon
	dir    string
	socket string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	d, err := daemon.New(daemon.Config{StatePath: filepath.Join(dir, "state.json"), Dir: dir,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "mswitchd.sock")
	l, err := daemon.Listen(sock, -1)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.Handler()}
	go srv.Serve(l)
	t.Cleanup(func() {
		d.Close()
		srv.Close()
	})
	return &env{t: t, d: d, dir: dir, socket: sock}
}

// ctl runs mswitchctl against the daemon and returns its standard output
// and error.
func (e *env) ctl(args ...string) (string, error) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"--control-socket", e.socket}, args...), &out, &errOut)
	return out.String(), err
}

// ok runs a command that must succeed.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	out, err := e.ctl(args...)
	if err != nil {
		e.t.Fatalf("mswitchctl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// fails runs a command that must fail with exactly the sentence want.
func (e *env) fails(want string, args ...string) {
	e.t.Helper()
	_, err := e.ctl(args...)
	if err == nil || err.Error() != want {
		e.t.Fatalf("mswitchctl %s: error\n%v\nwant\n%s", strings.Join(args, " "), err, want)
	}
}

// table normalises a table's column spacing for comparisons.
func table(s string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

func (e *env) wantTable(want string, args ...string) {
	e.t.Helper()
	got := table(e.ok(args...))
	want = table(strings.TrimPrefix(want, "\n"))
	if got != want {
		e.t.Fatalf("mswitchctl %s:\n%s\nwant\n%s", strings.Join(args, " "), got, want)
	}
}

func udp(src, dst byte, dport uint16) []byte {
	b := ft.Frame(ft.Ethernet(frame.TypeIPv4), ft.IPv4{Proto: frame.ProtoUDP}.Build(ft.UDP(1000, dport, nil)))
	b[5], b[11] = dst, src
	return b
}

// send puts frames into the switch through a pipe port.
func (e *env) send(sw, port string, frames ...[]byte) {
	e.t.Helper()
	end, err := e.d.PipeEnd(sw, port)
	if err != nil {
		e.t.Fatal(err)
	}
	if n, err := end.Send(0, frames); err != nil || n != len(frames) {
		e.t.Fatalf("sent %d of %d: %v", n, len(frames), err)
	}
}

// waitTx waits until port has sent n packets.
func (e *env) waitTx(sw, port string, n uint64) {
	e.t.Helper()
	c := control.NewClient(e.socket)
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); ; {
		st, err := c.SwitchStats(context.Background(), sw)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, p := range st.Ports {
			if p.Name == port && p.TxPackets == n {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("port %s never sent %d packets: %+v", port, n, st.Ports)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCommands(t *testing.T) {
	e := newEnv(t)
	e.ok("switch", "add", "sw0")
	e.ok("switch", "add", "fw", "--module", "l4filter", "--batch", "32")
	e.wantTable(`
NAME MODULE PORTS BATCH
fw l4filter 0 32
sw0 learning 0 1024`, "switch", "list")

	for _, p := range []string{"a", "b", "c"} {
		e.ok("port", "add", "sw0", p, "--type", "pipe")
	}
	e.ok("port", "add", "fw", "web", "-t", "pipe", "--pipe-queues", "2")
	e.wantTable(`
NAME ID TYPE STATE DETAILS
a 0 pipe up queues=1
b 1 pipe up queues=1
c 2 pipe up queues=1`, "port", "list", "sw0")

	// Modules.
	e.wantTable("l4filter\nlearning\nlearning-vlan\nmultistack\nopenflow\nxconnect", "module", "list")
	out := e.ok("module", "show", "sw0")
	if !strings.HasPrefix(out, "sw0: learning\n") || !regexp.MustCompile(`(?m)^  learned +0$`).MatchString(out) {
		t.Fatalf("module show:\n%s", out)
	}

	// Learning table.
	e.ok("learning", "add", "sw0", "02:00:00:00:00:0b", "b")
	e.send("sw0", "a", udp(0x0a, 0x0b, 1), udp(0x0a, 0x0b, 2))
	e.waitTx("sw0", "b", 2)
	e.wantTable(`
PORT VLAN MAC AGE
a 0 02:00:00:00:00:0a 0s
b 0 02:00:00:00:00:0b static`, "learning", "show", "sw0")
	e.ok("learning", "del", "sw0", "02:00:00:00:00:0b")
	e.ok("learning", "flush", "sw0")
	e.wantTable("PORT VLAN MAC AGE", "learning", "show", "sw0")

	// Stats, as a table and as JSON.
	out = e.ok("stats", "sw0")
	if !strings.Contains(table(out), "sw0 a 2 120 0 0 0 -\nsw0 b 0 0 2 120 0 -") || !strings.Contains(out, "BATCHES") {
		t.Fatalf("stats:\n%s", out)
	}
	var sts []control.SwitchStats
	if err := json.Unmarshal([]byte(e.ok("stats", "--json")), &sts); err != nil || len(sts) != 2 || sts[1].Ports[1].TxPackets != 2 {
		t.Fatalf("stats --json: %v %+v", err, sts)
	}

	// The poll thread: these pipe ports are not polled, so it has no queue.
	e.wantTable(`
THREAD CPU QUEUES PASSES BUSY% PACKETS SLEEPS
0 - - 0 0.0 0 0`, "poll-threads")

	// l4filter.
	e.ok("module", "set", "sw0", "l4filter")
	e.ok("l4filter", "add", "sw0", "tcp/80", "c")
	e.ok("l4filter", "add", "sw0", "udp/53", "b")
	e.wantTable(`
PROTO PORT OUT
tcp 80 c
udp 53 b`, "l4filter", "show", "sw0")
	e.ok("l4filter", "del", "sw0", "udp/53")
	e.wantTable("PROTO PORT OUT\ntcp 80 c", "l4filter", "show", "sw0")
	e.fails(`"http" is not a rule: write it as tcp/PORT or udp/PORT, e.g. tcp/80`, "l4filter", "add", "sw0", "http", "c")

	// xconnect.
	e.ok("module", "set", "sw0", "xconnect")
	e.ok("xconnect", "add", "sw0", "a", "b")
	e.ok("xconnect", "add", "sw0", "c", "a", "--oneway")
	e.wantTable(`
IN OUT
a b
b a
c a`, "xconnect", "show", "sw0")
	e.ok("xconnect", "del", "sw0", "a", "b")
	e.wantTable("IN OUT\nc a", "xconnect", "show", "sw0")

	// Deletions.
	e.ok("port", "del", "sw0", "a", "b")
	e.wantTable("NAME ID TYPE STATE DETAILS\nc 2 pipe up queues=1", "port", "list", "sw0")
	e.ok("switch", "del", "sw0", "fw")
	e.wantTable("NAME MODULE PORTS BATCH", "switch", "list")

	out = e.ok("version")
	if !strings.Contains(out, "mswitchctl "+control.Version+"\nmswitchd "+control.Version+" (modules: l4filter, learning, learning-vlan, multistack, openflow, xconnect)") {
		t.Fatalf("version:\n%s", out)
	}
}

func TestErrorSentences(t *testing.T) {
	e := newEnv(t)
	e.ok("switch", "add", "sw0")
	e.ok("port", "add", "sw0", "a", "--type", "pipe")
	e.ok("port", "add", "sw0", "b", "--type", "pipe")

	e.fails(`switch "sw0" has no port "y"; ports: a, b`, "port", "del", "sw0", "y")
	e.fails(`switch "sw0" has no port "y"; ports: a, b`, "capture", "sw0", "y", "-w", filepath.Join(e.dir, "x.pcap"))
	e.fails(`switch "sw0" has no port "y"; ports: a, b`, "learning", "add", "sw0", "02:00:00:00:00:01", "y")
	e.fails(`no switch "x"; switches: sw0`, "port", "list", "x")
	e.fails(`switch "sw0" already exists`, "switch", "add", "sw0")
	e.fails("switch \"sw0\" runs module learning, not xconnect: set it with `mswitchctl module set sw0 xconnect`",
		"xconnect", "show", "sw0")
	e.fails(`unknown module "hub"; modules: l4filter, learning, learning-vlan, multistack, openflow, xconnect`, "module", "set", "sw0", "hub")
	e.fails(`"zz" is not a MAC address: write it as 02:00:00:00:00:01`, "learning", "add", "sw0", "zz", "a")
	e.fails("mswitchctl port add takes SWITCH NAME, not 1 argument(s): see `mswitchctl port add --help`", "port", "add", "sw0")
	e.fails("mswitchctl switch needs a subcommand: add, del, list (see `mswitchctl switch --help`)", "switch")
	e.fails("--id does not apply to pipe ports", "port", "add", "sw0", "c", "--type", "pipe", "--id", "3")
	e.fails("--poll-window does not apply to pipe ports", "port", "add", "sw0", "c", "--type", "pipe", "--poll-window", "1ms")
	e.fails("--rx-ring applies to afxdp ports, not afpacket ones", "port", "add", "sw0", "c", "--type", "afpacket", "--rx-ring", "1024")
	e.fails("--rx-ring applies to afxdp ports, not memif ones (see --ring-size)", "port", "add", "sw0", "c", "--rx-ring", "1024")
	e.fails("--rps-cpus applies to afxdp and afpacket ports, not memif ones", "port", "add", "sw0", "c", "--rps-cpus", "0")
	e.fails("--coalesce applies to afxdp, afpacket and tap ports, not memif ones", "port", "add", "sw0", "c", "--coalesce", "off")
	e.fails("--coalesce does not apply to pipe ports", "port", "add", "sw0", "c", "--type", "pipe", "--coalesce", "off")
	for _, bad := range []string{"never", "0", "2ms", "1500ns"} {
		e.fails(`--coalesce "`+bad+`" is not off or whole microseconds from 1µs to 1000µs`, "port", "add", "sw0", "c", "--type", "afpacket", "--coalesce", bad)
	}
	e.fails("--poll-window applies to afxdp and afpacket ports, not memif ones", "port", "add", "sw0", "c", "--type", "memif", "--id", "3", "--poll-window", "1ms")
	e.fails("capture needs a file: add -w FILE (or -w - for standard output)", "capture", "sw0", "a")
	e.fails("unknown flag: --nope: see `mswitchctl switch add --help`", "switch", "add", "s", "--nope")

	// A memif socket another program listens on.
	busy := filepath.Join(e.dir, "busy.sock")
	l, err := net.Listen("unixpacket", busy)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e.fails("memif socket "+busy+" is in use by another program: choose another path with --socket",
		"port", "add", "sw0", "m", "--type", "memif", "--socket", busy, "--id", "1")

	// A --socket before the subcommand is the control socket, even for
	// port add; after it, the memif socket.
	var out, errOut bytes.Buffer
	sock2 := filepath.Join(e.dir, "m2.sock")
	err = run(context.Background(), []string{"--socket", e.socket, "port", "add", "sw0", "m2", "--socket", sock2, "--id", "9"}, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if got := table(e.ok("port", "list", "sw0")); !strings.Contains(got, "m2 2 memif down socket="+sock2+" id=9 queues=1 mode=interrupt") {
		t.Fatalf("port list:\n%s", got)
	}

	// The daemon not running: no socket, or a socket nobody listens on.
	nosock := filepath.Join(e.dir, "none.sock")
	err = run(context.Background(), []string{"--socket", nosock, "switch", "list"}, &out, &errOut)
	want := "mswitchd is not running (no socket at " + nosock + "): start it with `mswitchd`, or point --socket at its socket"
	if err == nil || err.Error() != want {
		t.Fatalf("no daemon: %v\nwant %s", err, want)
	}
	stale := filepath.Join(e.dir, "stale.sock")
	sl, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	sl.(*net.UnixListener).SetUnlinkOnClose(false)
	sl.Close()
	t.Setenv("MSWITCH_SOCKET", stale)
	err = run(context.Background(), []string{"switch", "list"}, &out, &errOut)
	want = "mswitchd is not running (nothing listens on " + stale + "): start it with `mswitchd`"
	if err == nil || err.Error() != want {
		t.Fatalf("stale socket: %v\nwant %s", err, want)
	}
}

// A user outside the socket's group is told so. The test runs mswitchctl
// (this test binary) as nobody, so it needs root.
func TestPermissionDenied(t *testing.T) {
	if os.Getenv("MSWITCHCTL_AS_NOBODY") != "" {
		err := run(context.Background(), []string{"--socket", os.Getenv("MSWITCHCTL_AS_NOBODY"), "switch", "list"}, io.Discard, io.Discard)
		fmt.Print(err)
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a command as nobody")
	}
	if fi, err := os.Stat(os.TempDir()); err != nil || fi.Mode()&0o001 == 0 {
		t.Skip("nobody cannot enter the temporary directory")
	}
	e := newEnv(t)
	// Let nobody reach the socket's directory and run the test binary.
	for d := e.dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(e.dir, "mswitchctl.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestPermissionDenied$")
	cmd.Env = append(os.Environ(), "MSWITCHCTL_AS_NOBODY="+e.socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run as nobody: %v\n%s", err, out)
	}
	want := "permission denied on " + e.socket + ": run as root or as a member of group \"root\""
	if string(out) != want {
		t.Fatalf("as nobody:\n%s\nwant\n%s", out, want)
	}
}

func TestTop(t *testing.T) {
	e := newEnv(t)
	e.ok("switch", "add", "sw0")
	e.ok("port", "add", "sw0", "a", "--type", "pipe")
	e.ok("port", "add", "sw0", "b", "--type", "pipe")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // traffic from a to b while top runs
		defer close(done)
		end, _ := e.d.PipeEnd("sw0", "a")
		e.ok("learning", "add", "sw0", "02:00:00:00:00:0b", "b")
		batch := make([][]byte, 32)
		for i := range batch {
			batch[i] = udp(0x0a, 0x0b, 1)
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			end.Send(0, batch)
			time.Sleep(time.Millisecond)
		}
	}()
	out := e.ok("top", "sw0", "-n", "3", "-i", "100ms")
	close(stop)
	<-done
	if n := strings.Count(out, "mswitchctl top: "); n != 3 {
		t.Fatalf("top printed %d tables:\n%s", n, out)
	}
	last := out[strings.LastIndex(out, "mswitchctl top: "):]
	m := regexp.MustCompile(`(?m)^sw0 +a +(\d+) +[\d.]+ +0 +0\.00 +0 +[\d.]+%$`).FindStringSubmatch(last)
	if m == nil || m[1] == "0" {
		t.Fatalf("no rx rate for port a in:\n%s", last)
	}
	if !regexp.MustCompile(`(?m)^sw0 +b +0 +0\.00 +[1-9]\d* `).MatchString(last) {
		t.Fatalf("no tx rate for port b in:\n%s", last)
	}
}

func TestCapture(t *testing.T) {
	e := newEnv(t)
	e.ok("switch", "add", "sw0")
	e.ok("port", "add", "sw0", "a", "--type", "pipe")
	e.ok("port", "add", "sw0", "b", "--type", "pipe")
	e.ok("learning", "add", "sw0", "02:00:00:00:00:0b", "b")
	file := filepath.Join(e.dir, "b.pcap")
	var frames [][]byte
	for i := range 4 {
		frames = append(frames, udp(0x0a, 0x0b, uint16(100+i)))
	}
	// The capture starts some time after run does: send a frame every
	// 20ms until it has captured four.
	done := make(chan error, 1)
	var errOut bytes.Buffer
	go func() {
		done <- run(context.Background(), []string{"--socket", e.socket, "capture", "sw0", "b", "-w", file, "-c", "4"}, io.Discard, &errOut)
	}()
	end, _ := e.d.PipeEnd("sw0", "a")
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-time.After(20 * time.Millisecond):
			end.Send(0, frames[:1])
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := errOut.String(); got != "4 packets captured to "+file+"\n" {
		t.Fatalf("capture said %q", got)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		data, _, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(data, frames[0]) {
			t.Fatalf("packet %d: %x", i, data)
		}
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Fatalf("after 4 packets: %v", err)
	}

	// To standard output, for a duration.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--socket", e.socket, "capture", "sw0", "a", "-w", "-", "--duration", "50ms"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if r, err := pcapgo.NewReader(&out); err != nil || r.LinkType() != 1 {
		t.Fatalf("capture to stdout: %v", err)
	}
}

// TestOpenFlowCache sets the cache modes of an openflow switch (as OVS's
// emc-insert-inv-prob and upcall/disable-megaflows) and reads them back.
func TestOpenFlowCache(t *testing.T) {
	e := newEnv(t)
	e.ok("switch", "add", "of", "--module", "openflow")
	e.ok("openflow", "set-controller", "of", "ptcp:0:127.0.0.1")
	if out := e.ok("openflow", "show", "of"); !strings.Contains(out, "cache:       on (emc on, megaflows wildcard)\n") {
		t.Fatalf("openflow show:\n%s", out)
	}
	e.ok("openflow", "cache", "of", "on", "--emc", "off", "--megaflows", "exact")
	if out := e.ok("openflow", "show", "of"); !strings.Contains(out, "cache:       on (emc off, megaflows exact)\n") {
		t.Fatalf("openflow show after cache on --emc off --megaflows exact:\n%s", out)
	}
	e.ok("openflow", "cache", "of", "off")
	if out := e.ok("openflow", "show", "of"); !strings.Contains(out, "cache:       off (emc off, megaflows exact)\n") {
		t.Fatalf("openflow show after cache off:\n%s", out)
	}
	e.fails(`--megaflows takes wildcard or exact, not "some"`, "openflow", "cache", "of", "on", "--megaflows", "some")
	e.fails(`--emc takes on or off, not "maybe"`, "openflow", "cache", "of", "on", "--emc", "maybe")
	e.fails(`cache takes on or off, not "half"`, "openflow", "cache", "of", "half")
}
