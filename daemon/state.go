package daemon

// The state file: the daemon's configuration, rebuilt from the live
// switches after every change and written atomically (temporary file,
// fsync, rename, fsync of the directory), so that a crash leaves either the
// old file or the new one. Tables name ports, never port IDs, which may
// differ after a restart.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/logic/l4filter"
	"github.com/mswitch/mswitch/logic/learning"
	"github.com/mswitch/mswitch/logic/multistack"
	"github.com/mswitch/mswitch/logic/xconnect"
)

// stateVersion is the version of the state file's format.
const stateVersion = 1

// state is the content of the state file.
type state struct {
	Version  int           `json:"version"`
	Switches []switchState `json:"switches"`
}

// switchState is the configuration of one switch: its ports in ID order,
// and the tables of its module.
type switchState struct {
	Name     string                  `json:"name"`
	Module   string                  `json:"module"`
	Batch    int                     `json:"batch,omitempty"`
	Ports    []control.PortSpec      `json:"ports"`
	Learning []control.LearningEntry `json:"learning,omitempty"` // static entries
	L4Filter []control.L4Rule        `json:"l4filter,omitempty"`
	XConnect []control.Mapping       `json:"xconnect,omitempty"`
	// Multistack and Reservations are the multistack module's port roles
	// and 3-tuple reservations.
	Multistack   *control.MultistackSpec `json:"multistack,omitempty"`
	Reservations []control.Reservation   `json:"reservations,omitempty"`
	OpenFlow     *control.OpenFlowSpec   `json:"openflow,omitempty"`
}

// snapshot returns the configuration of every switch.
//
// Preconditions: d.mu is held.
func (d *Daemon) snapshot() state {
	st := state{Version: stateVersion, Switches: []switchState{}}
	for _, s := range d.sortedSwitches() {
		ss := switchState{Name: s.name, Module: s.module, Batch: s.batch, Ports: []control.PortSpec{}, OpenFlow: s.of}
		for _, p := range s.sortedPorts() {
			ss.Ports = append(ss.Ports, p.spec)
		}
		switch l := s.sw.Logic().(type) {
		case *learning.Bridge:
			for _, e := range s.learningEntries(l, true) {
				e.Static, e.Age = false, 0
				ss.Learning = append(ss.Learning, e)
			}
		case *l4filter.Filter:
			ss.L4Filter = s.l4Rules(l)
		case *xconnect.XConnect:
			ss.XConnect = s.mappings(l)
		case *multistack.Multistack:
			spec := s.multistackSpec(l)
			ss.Multistack = &spec
			ss.Reservations = s.reservations(l)
		}
		st.Switches = append(st.Switches, ss)
	}
	return st
}

// save writes the state file, if the daemon keeps one.
//
// Preconditions: d.mu is held.
func (d *Daemon) save() error {
	if d.cfg.StatePath == "" {
		return nil
	}
	b, err := json.MarshalIndent(d.snapshot(), "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := writeFileAtomic(d.cfg.StatePath, append(b, '\n')); err != nil {
		d.log.Error("save state", "path", d.cfg.StatePath, "err", err)
		return fmt.Errorf("the change is made, but saving it to %s failed: %w", d.cfg.StatePath, err)
	}
	return nil
}

// writeFileAtomic replaces path with data: other readers, and path after a
// crash, see the old content or the new one, never a mix. The file is
// private to its owner (memif secrets are in it).
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	df, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer df.Close()
	return df.Sync()
}

// readState reads the state file; a missing file is an empty state.
func readState(path string) (state, error) {
	var st state
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("read state %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return st, fmt.Errorf("read state %s: format version %d, this mswitchd reads %d", path, st.Version, stateVersion)
	}
	return st, nil
}

// restore rebuilds the switches of st. What cannot be restored is logged
// and skipped; a port is kept, in the error state.
//
// Preconditions: d.mu is held.
func (d *Daemon) restore(st state) {
	for _, ss := range st.Switches {
		log := d.log.With("switch", ss.Name)
		s, err := d.createSwitch(control.SwitchSpec{Name: ss.Name, Module: ss.Module, Batch: ss.Batch, OpenFlow: ss.OpenFlow})
		if err != nil {
			log.Error("restore switch", "err", err)
			continue
		}
		for _, ps := range ss.Ports {
			if _, err := d.addPort(s, ps, true); err != nil {
				log.Error("restore port", "port", ps.Name, "err", err)
			}
		}
		for _, e := range ss.Learning {
			if err := s.addStatic(e); err != nil {
				log.Error("restore static entry", "mac", e.MAC, "err", err)
			}
		}
		for _, r := range ss.L4Filter {
			if err := s.addL4Rule(r); err != nil {
				log.Error("restore l4filter rule", "proto", r.Proto, "port", r.Port, "err", err)
			}
		}
		for _, m := range ss.XConnect {
			if err := s.connect(m); err != nil {
				log.Error("restore mapping", "in", m.In, "out", m.Out, "err", err)
			}
		}
		if ss.Multistack != nil {
			s.restoreMultistack(*ss.Multistack, log)
		}
		for _, r := range ss.Reservations {
			if err := d.reserve(s, r, false); err != nil {
				log.Error("restore reservation", "proto", r.Proto, "ip", r.IP, "port", r.Port, "out", r.Out, "err", err)
			}
		}
		log.Info("switch restored", "module", s.module, "ports", len(s.ports))
	}
}
