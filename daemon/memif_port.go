package daemon

import (
	"fmt"
	"log/slog"
	"strings"
	"syscall"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/port/memif"
)

// listenMemif is the memif backend: package port/memif.
var listenMemif memifListenFunc = func(path string, log *slog.Logger) (memifServer, error) {
	s, err := memif.Listen(path, memif.ServerOptions{Name: "mswitchd", Logger: log})
	if err != nil {
		if strings.Contains(err.Error(), "in use") {
			return nil, fmt.Errorf("%w: %v", syscall.EADDRINUSE, err)
		}
		return nil, err
	}
	return memifServerAdapter{s}, nil
}

// memifServerAdapter is a memif.Server as a memifServer.
type memifServerAdapter struct{ s *memif.Server }

func (a memifServerAdapter) Close() error { return a.s.Close() }

func (a memifServerAdapter) NewPort(name string, spec control.MemifSpec) (memifPort, error) {
	mode, err := memif.ParseMode(spec.Mode)
	if err != nil {
		return nil, err
	}
	if len(name) > memif.MaxName {
		name = name[:memif.MaxName]
	}
	p, err := a.s.NewPort(memif.PortConfig{
		ID: spec.ID, Name: name, Queues: spec.Queues, Mode: mode,
		Secret: spec.Secret, Log2RingSize: spec.Log2RingSize,
	})
	if err != nil {
		return nil, err
	}
	return memifPortAdapter{p}, nil
}

// memifPortAdapter is a memif.Port as a memifPort. It embeds the port, so
// the fabric finds it a fabric.Requeuer too.
type memifPortAdapter struct{ *memif.Port }

func (p memifPortAdapter) Status() control.MemifStatus {
	st := p.Port.Status()
	return control.MemifStatus{
		Connected: st.Connected, PeerName: st.PeerName, IfName: st.IfName,
		Queues: st.Queues, Log2RingSize: st.Log2RingSize, Mode: st.Mode.String(),
		Connects: st.Connects, Disconnects: st.Disconnects, LastDisconnect: st.LastDisconnect,
		Rejects: st.Rejects,
	}
}
