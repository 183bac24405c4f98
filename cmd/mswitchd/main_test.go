package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mswitch/mswitch/control"
)

// bins holds mswitchd and mswitchctl, built once for the tests.
var bins string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mswitchd-test")
	if err != nil {
		panic(err)
	}
	bins = dir
	build := exec.Command("go", "build", "-o", dir, ".", "../mswitchctl")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("build mswitchd and mswitchctl: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running mswitchd.
type proc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// startDaemon runs mswitchd with args and waits for its socket to answer.
func startDaemon(t *testing.T, socket string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(filepath.Join(bins, "mswitchd"), args...), logs: &syncBuffer{mu: make(chan struct{}, 1)}, done: make(chan error, 1)}
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("mswitchd logs:\n%s", p.logs.String())
		}
	})
	c := control.NewClient(socket)
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := c.Version(context.Background()); err == nil {
			return p
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("mswitchd exited: %v\n%s", err, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mswitchd never answered on %s:\n%s", socket, p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("mswitchd exited with %v:\n%s", err, p.logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mswitchd did not stop on SIGTERM")
	}
}

// ctl runs the mswitchctl binary.
func ctl(t *testing.T, socket string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(bins, "mswitchctl"), append([]string{"--control-socket", socket}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mswitchctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestDaemonProcess(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "mswitchd.sock")
	metrics := freePort(t)
	p := startDaemon(t, sock, "-dir", dir, "-metrics", metrics, "-group", "0")

	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("control socket: %v %v", fi.Mode(), err)
	}
	ctl(t, sock, "switch", "add", "sw0")
	ctl(t, sock, "port", "add", "sw0", "a", "--type", "pipe")
	ctl(t, sock, "port", "add", "sw0", "m", "--type", "memif", "--id", "3", "--queues", "2", "--mode", "poll", "--secret", "x")
	ctl(t, sock, "learning", "add", "sw0", "02:00:00:00:00:01", "a")
	ctl(t, sock, "switch", "add", "fw", "-m", "l4filter")
	ctl(t, sock, "port", "add", "fw", "p", "--type", "pipe")
	ctl(t, sock, "l4filter", "add", "fw", "udp/53", "p")
	if _, err := os.Stat(filepath.Join(dir, "memif.sock")); err != nil {
		t.Fatalf("memif socket: %v", err)
	}

	// Metrics.
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`mswitch_port_up{port="m",switch="sw0",type="memif"} 0`,
		`mswitch_port_up{port="a",switch="sw0",type="pipe"} 1`,
		`mswitch_memif_connects_total{port="m",switch="sw0"} 0`,
		`mswitch_port_rx_packets_total{port="p",switch="fw"} 0`,
		`mswitch_worker_busy_seconds_total{port="m",queue="1",switch="sw0"} 0`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// A second daemon on the same directory is refused.
	out, err := exec.Command(filepath.Join(bins, "mswitchd"), "-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another mswitchd is listening on "+sock) {
		t.Fatalf("second mswitchd: %v\n%s", err, out)
	}

	before := ctl(t, sock, "port", "list", "sw0") + ctl(t, sock, "learning", "show", "sw0") + ctl(t, sock, "l4filter", "show", "fw")
	p.stop(t)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("control socket left after SIGTERM: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "memif.sock")); !os.IsNotExist(err) {
		t.Fatalf("memif socket left after SIGTERM: %v", err)
	}
	if !strings.Contains(p.logs.String(), "mswitchd stopped") {
		t.Fatalf("logs:\n%s", p.logs.String())
	}

	// Restart: everything is back.
	startDaemon(t, sock, "-dir", dir)
	after := ctl(t, sock, "port", "list", "sw0") + ctl(t, sock, "learning", "show", "sw0") + ctl(t, sock, "l4filter", "show", "fw")
	if before != after {
		t.Fatalf("after restart:\n%s\nwant\n%s", after, before)
	}
	if !regexp.MustCompile(`m +1 +memif +down +socket=\S+/memif.sock id=3 queues=2 mode=poll secret=yes`).MatchString(after) {
		t.Fatalf("memif port after restart:\n%s", after)
	}
}

func TestFlags(t *testing.T) {
	out, err := exec.Command(filepath.Join(bins, "mswitchd"), "-version").CombinedOutput()
	if err != nil || string(out) != "mswitchd "+control.Version+"\n" {
		t.Fatalf("-version: %v %q", err, out)
	}
	out, err = exec.Command(filepath.Join(bins, "mswitchd"), "-dir", t.TempDir(), "-group", "no-such-group-here").CombinedOutput()
	want := "mswitchd: group \"no-such-group-here\" does not exist: create it (groupadd no-such-group-here) or name another with -group\n"
	if err == nil || string(out) != want {
		t.Fatalf("-group: %v %q", err, out)
	}
	out, err = exec.Command(filepath.Join(bins, "mswitchd"), "extra").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unexpected argument "extra"`) {
		t.Fatalf("argument: %v %q", err, out)
	}
	// -help exits 0 and lists the flags.
	out, err = exec.Command(filepath.Join(bins, "mswitchd"), "-help").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("-metrics address")) {
		t.Fatalf("-help: %v %s", err, out)
	}
}

// TestPollCPUs: -poll-cpus takes the kernel's CPU list notation, in the
// order given.
func TestPollCPUs(t *testing.T) {
	o, err := parse([]string{"-poll-cpus", "3,0-1"}, io.Discard)
	if err != nil || !slices.Equal(o.pollCPUs, []int{3, 0, 1}) {
		t.Fatalf("-poll-cpus 3,0-1: %v %v", o, err)
	}
	for _, bad := range []string{"", "x", "2-1", "-1"} {
		if _, err := parse([]string{"-poll-cpus", bad}, io.Discard); err == nil {
			t.Errorf("-poll-cpus %q: no error", bad)
		}
	}
}
