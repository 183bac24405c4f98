package daemon

import (
	"errors"
	"log/slog"
	"path/filepath"
	"syscall"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/fabric"
)

// The daemon's view of the memif backend: a server per unix socket, shared
// by every port (of any switch) configured on that socket, told apart by
// the interface ID, and closed when its last port goes.

// memifServer is the part of a memif server the daemon uses.
type memifServer interface {
	// NewPort creates the port with interface ID spec.ID; spec.Socket is
	// ignored.
	NewPort(name string, spec control.MemifSpec) (memifPort, error)
	Close() error
}

// memifPort is a memif port: a fabric backend with a link.
type memifPort interface {
	fabric.Backend
	Status() control.MemifStatus
}

// memifListenFunc opens a memif server on path ("@name": abstract).
type memifListenFunc func(path string, log *slog.Logger) (memifServer, error)

// memifRef is a memif server shared by the ports on its socket.
type memifRef struct {
	path  string
	srv   memifServer
	ports map[uint32]*port // by interface ID
}

// memifPath resolves a port's socket: "" is the default socket, "@name" an
// abstract socket, a relative path lies under the daemon's directory.
func (d *Daemon) memifPath(s string) string {
	switch {
	case s == "":
		return d.cfg.MemifSocket
	case s[0] == '@':
		return s
	case !filepath.IsAbs(s):
		return filepath.Join(d.cfg.Dir, s)
	}
	return filepath.Clean(s)
}

// acquireMemif returns the server on path, opening it if no port uses it
// yet, with interface id reserved for p.
//
// Preconditions: d.mu is held.
func (d *Daemon) acquireMemif(path string, id uint32, p *port) (*memifRef, error) {
	ref := d.memifs[path]
	if ref == nil {
		srv, err := d.cfg.listenMemif(path, d.log.With("memif", path))
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				return nil, err
			}
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, conflict("memif socket %s is in use by another program: choose another path with --socket", path)
			}
			return nil, badRequest("open memif socket %s: %v", path, err)
		}
		ref = &memifRef{path: path, srv: srv, ports: make(map[uint32]*port)}
		d.memifs[path] = ref
	}
	if q := ref.ports[id]; q != nil {
		d.releaseMemif(ref, ^uint32(0))
		return nil, conflict("memif socket %s already serves interface id %d (port %q of switch %q): choose another --id",
			path, id, q.spec.Name, q.sw.name)
	}
	ref.ports[id] = p
	return ref, nil
}

// releaseMemif frees interface id on ref's server and closes the server
// if no port uses it any more.
//
// Preconditions: d.mu is held.
func (d *Daemon) releaseMemif(ref *memifRef, id uint32) {
	delete(ref.ports, id)
	if len(ref.ports) > 0 {
		return
	}
	delete(d.memifs, ref.path)
	if err := ref.srv.Close(); err != nil {
		d.log.Warn("close memif socket", "path", ref.path, "err", err)
	}
}
