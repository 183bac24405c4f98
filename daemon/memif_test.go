package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/mswitch/mswitch/control"
	_ "github.com/mswitch/mswitch/logic/all"
	"github.com/mswitch/mswitch/port/pipe"
)

// fakeMemif stands for the memif backend: its ports are pipes with a link
// status the test sets.
type fakeMemif struct {
	mu      sync.Mutex
	open    map[string]*fakeServer
	opened  int
	inUse   map[string]bool // paths whose Listen fails with EADDRINUSE
	connect bool            // new ports report a connected link
}

type fakeServer struct {
	f      *fakeMemif
	path   string
	closed bool
	ports  []*fakePort
}

type fakePort struct {
	*pipe.Pipe
	spec control.MemifSpec
	st   control.MemifStatus
}

func (p *fakePort) Status() control.MemifStatus { return p.st }

func (f *fakeMemif) listen(path string, _ *slog.Logger) (memifServer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inUse[path] {
		return nil, fmt.Errorf("listen on %s: %w", path, syscall.EADDRINUSE)
	}
	if f.open[path] != nil {
		return nil, fmt.Errorf("listen on %s twice", path)
	}
	s := &fakeServer{f: f, path: path}
	f.open[path] = s
	f.opened++
	return s, nil
}

func (s *fakeServer) NewPort(name string, spec control.MemifSpec) (memifPort, error) {
	pp, err := pipe.New(pipe.Options{Queues: spec.Queues})
	if err != nil {
		return nil, err
	}
	p := &fakePort{Pipe: pp, spec: spec, st: control.MemifStatus{Connected: s.f.connect, Mode: spec.Mode}}
	s.ports = append(s.ports, p)
	return p, nil
}

func (s *fakeServer) Close() error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if s.closed {
		return errors.New("closed twice")
	}
	s.closed = true
	delete(s.f.open, s.path)
	return nil
}

func newFake(t *testing.T, dir string) (*Daemon, *fakeMemif) {
	t.Helper()
	f := &fakeMemif{open: map[string]*fakeServer{}, inUse: map[string]bool{}}
	d, err := New(Config{
		StatePath: filepath.Join(dir, "state.json"), Dir: dir,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), nil)),
		listenMemif: f.listen,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, f
}

func memifSpec(name, socket string, id uint32) control.PortSpec {
	return control.PortSpec{Name: name, Type: control.TypeMemif, Memif: &control.MemifSpec{Socket: socket, ID: id, Secret: "s3cret"}}
}

func TestMemifServersShared(t *testing.T) {
	dir := t.TempDir()
	d, f := newFake(t, dir)
	defer d.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	s1, err := d.createSwitch(control.SwitchSpec{Name: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := d.createSwitch(control.SwitchSpec{Name: "s2"})
	if err != nil {
		t.Fatal(err)
	}
	add := func(s *swtch, spec control.PortSpec) (*port, error) { return d.addPort(s, spec, false) }
	mustAdd := func(s *swtch, spec control.PortSpec) *port {
		t.Helper()
		p, err := add(s, spec)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Two switches share the default socket; another socket has its own.
	p1 := mustAdd(s1, memifSpec("m1", "", 1))
	mustAdd(s2, memifSpec("m2", "", 2))
	mustAdd(s2, memifSpec("m3", "other.sock", 1))
	if f.opened != 2 || len(f.open) != 2 || f.open[filepath.Join(dir, "memif.sock")] == nil || f.open[filepath.Join(dir, "other.sock")] == nil {
		t.Fatalf("servers opened %d: %v", f.opened, f.open)
	}
	if got := f.open[filepath.Join(dir, "memif.sock")].ports[0].spec; got.Queues != 1 || got.Mode != "interrupt" || got.ID != 1 {
		t.Fatalf("port spec with defaults: %+v", got)
	}
	// One interface ID per socket.
	_, err = add(s1, memifSpec("dup", filepath.Join(dir, "memif.sock"), 2))
	if err == nil || err.Error() != fmt.Sprintf(`memif socket %s already serves interface id 2 (port "m2" of switch "s2"): choose another --id`, filepath.Join(dir, "memif.sock")) {
		t.Fatalf("duplicate ID: %v", err)
	}
	// A socket another program holds.
	f.inUse["/x/busy.sock"] = true
	_, err = add(s1, memifSpec("busy", "/x/busy.sock", 1))
	if err == nil || err.Error() != "memif socket /x/busy.sock is in use by another program: choose another path with --socket" || statusOf(err) != 409 {
		t.Fatalf("socket in use: %v", err)
	}

	// Link state and the redacted secret.
	pi := p1.info()
	if pi.State != control.StateDown || pi.Link == nil || pi.Link.Connected || pi.Memif.Secret != "*" {
		t.Fatalf("port info %+v", pi)
	}
	p1.memif.(*fakePort).st.Connected = true
	if pi := p1.info(); pi.State != control.StateUp {
		t.Fatalf("connected port info %+v", pi)
	}

	// The shared server closes with its last port.
	if err := d.deletePort("s1", "m1"); err != nil {
		t.Fatal(err)
	}
	if len(f.open) != 2 {
		t.Fatalf("server closed with ports left: %v", f.open)
	}
	if err := d.deleteSwitch("s2"); err != nil {
		t.Fatal(err)
	}
	if len(f.open) != 0 || len(d.memifs) != 0 {
		t.Fatalf("servers left open: %v %v", f.open, d.memifs)
	}
}

// A memif port whose socket is taken at restart stays configured, in the
// error state, and is saved again.
func TestMemifRestoreFailure(t *testing.T) {
	dir := t.TempDir()
	d, _ := newFake(t, dir)
	d.mu.Lock()
	s, _ := d.createSwitch(control.SwitchSpec{Name: "s"})
	for _, spec := range []control.PortSpec{memifSpec("m", "/x/m.sock", 7), {Name: "p", Type: "pipe"}} {
		if _, err := d.addPort(s, spec, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.save(); err != nil {
		t.Fatal(err)
	}
	d.mu.Unlock()
	d.Close()

	f := &fakeMemif{open: map[string]*fakeServer{}, inUse: map[string]bool{"/x/m.sock": true}}
	d, err := New(Config{StatePath: filepath.Join(dir, "state.json"), Dir: dir,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), listenMemif: f.listen})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := d.lookupPort("s", "m")
	if err != nil {
		t.Fatal(err)
	}
	pi := p.info()
	if pi.State != control.StateError || !strings.Contains(pi.Error, "in use by another program") || pi.ID != -1 {
		t.Fatalf("port info %+v", pi)
	}
	if _, err := d.attachedPort("s", "m"); err == nil || !strings.Contains(err.Error(), `port "m" of switch "s" is not attached`) {
		t.Fatalf("attachedPort: %v", err)
	}
	st := d.snapshot()
	if got := st.Switches[0].Ports; len(got) != 2 || got[1].Name != "m" || got[1].Memif.Secret != "s3cret" {
		t.Fatalf("saved ports %+v", got)
	}
	if err := d.deletePort("s", "m"); err != nil {
		t.Fatal(err)
	}
}

// errNoMemif is what a daemon built without a memif backend would answer.
var errNoMemif = newError(http.StatusNotImplemented, "memif ports are not available in this build of mswitchd: use --type pipe")

// Without a memif backend, a memif port is refused with advice.
func TestNoMemif(t *testing.T) {
	d, err := New(Config{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		listenMemif: func(string, *slog.Logger) (memifServer, error) { return nil, errNoMemif }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	s, _ := d.createSwitch(control.SwitchSpec{Name: "s"})
	_, err = d.addPort(s, memifSpec("m", "", 1), false)
	if err != errNoMemif || statusOf(err) != 501 {
		t.Fatalf("memif port without memif: %v", err)
	}
	if len(d.memifs) != 0 {
		t.Fatal("failed listen left a server")
	}
}
