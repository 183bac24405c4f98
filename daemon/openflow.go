package daemon

// The openflow module: its settings (per switch, in the API and the state
// file), its creation and start, and its endpoints.

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/openflow/channel"
	ofmodule "github.com/mswitch/mswitch/openflow/module"
	"github.com/mswitch/mswitch/openflow/ofp"
)

// newSwitchLogic returns a new instance of module name for s: for openflow,
// configured with s's settings.
//
// Preconditions: d.mu is held.
func (d *Daemon) newSwitchLogic(s *swtch, name string) (logic.Logic, error) {
	if name != ofmodule.Name {
		return newLogic(name)
	}
	cfg, err := openFlowConfig(s.of)
	if err != nil {
		return nil, err
	}
	cfg.Logger = d.log.With("switch", s.name)
	m, err := ofmodule.New(cfg)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	return m, nil
}

// startLogic starts l on s's switch if it needs starting (openflow).
//
// Preconditions: d.mu is held.
func (d *Daemon) startLogic(s *swtch, l logic.Logic) error {
	m, ok := l.(*ofmodule.Module)
	if !ok {
		return nil
	}
	if err := m.Start(s.sw); err != nil {
		return conflict("start the openflow module of switch %q: %v", s.name, err)
	}
	d.log.Info("openflow started", "switch", s.name, "targets", m.Config().Targets, "listen", m.ListenAddrs(),
		"fail_mode", m.Config().FailMode, "datapath_id", fmt.Sprintf("%016x", m.Config().DatapathID))
	return nil
}

// openFlowConfig checks settings and turns them into a module configuration.
func openFlowConfig(spec *control.OpenFlowSpec) (ofmodule.Config, error) {
	var cfg ofmodule.Config
	if spec == nil {
		return cfg, nil
	}
	if spec.Targets != nil {
		cfg.Targets = spec.Targets
		for _, t := range spec.Targets {
			if _, err := channel.ParseTarget(t); err != nil {
				return cfg, badRequest("openflow target %q is not valid: use ptcp:[PORT][:IP], tcp:IP[:PORT], punix:PATH or unix:PATH", t)
			}
		}
	}
	if spec.FailMode != "" {
		m, err := channel.ParseFailMode(spec.FailMode)
		if err != nil {
			return cfg, badRequest("fail mode %q is neither secure nor standalone", spec.FailMode)
		}
		cfg.FailMode = m
	}
	if spec.DatapathID != "" {
		id, err := parseDatapathID(spec.DatapathID)
		if err != nil {
			return cfg, err
		}
		cfg.DatapathID = id
	}
	if spec.Cache != nil {
		cfg.NoCache = !*spec.Cache
	}
	if spec.EMC != nil {
		cfg.NoEMC = !*spec.EMC
	}
	switch spec.Megaflows {
	case "", control.MegaflowsWildcard:
	case control.MegaflowsExact:
		cfg.ExactMegaflows = true
	default:
		return cfg, badRequest("megaflows %q is neither %s nor %s", spec.Megaflows, control.MegaflowsWildcard, control.MegaflowsExact)
	}
	return cfg, nil
}

func parseDatapathID(s string) (uint64, error) {
	t := strings.TrimPrefix(strings.ReplaceAll(strings.ToLower(s), ":", ""), "0x")
	id, err := strconv.ParseUint(t, 16, 64)
	if err != nil || len(t) > 16 || id == 0 {
		return 0, badRequest("datapath id %q is not 1 to 16 hex digits (not all zero)", s)
	}
	return id, nil
}

// mergeOpenFlow returns cur with the fields set in upd replaced.
func mergeOpenFlow(cur *control.OpenFlowSpec, upd control.OpenFlowSpec) *control.OpenFlowSpec {
	out := control.OpenFlowSpec{}
	if cur != nil {
		out = *cur
	}
	if upd.Targets != nil {
		out.Targets = upd.Targets
	}
	if upd.FailMode != "" {
		out.FailMode = upd.FailMode
	}
	if upd.DatapathID != "" {
		out.DatapathID = upd.DatapathID
	}
	if upd.Cache != nil {
		c := *upd.Cache
		out.Cache = &c
	}
	if upd.EMC != nil {
		e := *upd.EMC
		out.EMC = &e
	}
	if upd.Megaflows != "" {
		out.Megaflows = upd.Megaflows
	}
	return &out
}

func (d *Daemon) getOpenFlow(r *http.Request) (any, error) {
	return d.withSwitch(r, func(s *swtch) (any, error) { return s.openFlowInfo(), nil })
}

// openFlowInfo reports s's openflow settings and, when it runs the
// module, its state.
//
// Preconditions: d.mu is held.
func (s *swtch) openFlowInfo() control.OpenFlowInfo {
	var info control.OpenFlowInfo
	if s.of != nil {
		info.OpenFlowSpec = *s.of
	}
	if info.Targets == nil {
		info.Targets = []string{ofmodule.DefaultTarget}
	}
	if info.FailMode == "" {
		info.FailMode = channel.FailSecure.String()
	}
	if info.Cache == nil {
		on := true
		info.Cache = &on
	}
	if info.EMC == nil {
		on := true
		info.EMC = &on
	}
	if info.Megaflows == "" {
		info.Megaflows = control.MegaflowsWildcard
	}
	m, ok := s.sw.Logic().(*ofmodule.Module)
	if !ok {
		return info
	}
	info.Running = true
	cfg := m.Config()
	info.DatapathID = fmt.Sprintf("%016x", cfg.DatapathID)
	info.ListenAddrs = m.ListenAddrs()
	st := m.Status()
	info.ControllerConnected = st.ControllerConnected
	info.AsyncDrops = st.AsyncDrops
	for _, t := range st.Targets {
		info.TargetStates = append(info.TargetStates, control.OpenFlowTarget{Target: t.Target, State: t.State, LastError: t.LastError})
	}
	for _, c := range st.Conns {
		info.Conns = append(info.Conns, control.OpenFlowConn{Target: c.Target, Remote: c.Remote, Role: c.Role.String(),
			Up: c.Up, Since: c.Since, MsgsIn: c.MsgsIn, MsgsOut: c.MsgsOut})
	}
	ms := m.Stats()
	info.Learning = ms.FailOpen
	info.Injected, info.InjectDrops, info.PacketIns = ms.Injected, ms.InjDrops, ms.PacketIns
	c := ms.Cache
	info.CacheStats = control.OpenFlowCacheStats{EMCHits: c.EMCHits, MegaflowHits: c.MegaflowHits, Misses: c.Misses}
	if n := c.EMCHits + c.MegaflowHits + c.Misses; n > 0 {
		info.CacheStats.HitRate = float64(c.EMCHits+c.MegaflowHits) / float64(n)
	}
	if agg, err := m.Pipeline().AggregateStats(&ofp.AggregateStatsRequest{TableID: ofp.TableAll,
		OutPort: ofp.PortAny, OutGroup: ofp.GroupAny}); err == nil {
		info.Flows = uint64(agg.FlowCount)
	}
	return info
}

func (d *Daemon) putOpenFlow(r *http.Request) (any, error) {
	var upd control.OpenFlowSpec
	if err := decode(r, &upd); err != nil {
		return nil, err
	}
	return d.changeSwitch(r, func(s *swtch) (any, error) {
		spec := mergeOpenFlow(s.of, upd)
		cfg, err := openFlowConfig(spec)
		if err != nil {
			return nil, err
		}
		if m, ok := s.sw.Logic().(*ofmodule.Module); ok {
			targets := cfg.Targets
			if targets == nil {
				targets = []string{ofmodule.DefaultTarget}
			}
			if upd.Targets != nil || upd.FailMode != "" || upd.DatapathID != "" {
				if err := m.Reconfigure(targets, cfg.FailMode, cfg.DatapathID); err != nil {
					return nil, conflict("reconfigure the openflow module of switch %q: %v", s.name, err)
				}
			}
			if upd.Cache != nil {
				m.SetCaching(*upd.Cache)
			}
			if upd.EMC != nil {
				m.SetEMC(*upd.EMC)
			}
			if upd.Megaflows != "" {
				m.SetMegaflowWildcards(!cfg.ExactMegaflows)
			}
		}
		s.of = spec
		return s.openFlowInfo(), nil
	})
}

func (d *Daemon) traceOpenFlow(r *http.Request) (any, error) {
	var tr control.OpenFlowTrace
	if err := decode(r, &tr); err != nil {
		return nil, err
	}
	return d.withSwitch(r, func(s *swtch) (any, error) {
		m, err := moduleAs[*ofmodule.Module](s, ofmodule.Name)
		if err != nil {
			return nil, err
		}
		id, err := s.portID(tr.Port)
		if err != nil {
			return nil, err
		}
		clean := strings.NewReplacer(" ", "", ":", "", "\n", "", "\t", "").Replace(tr.Frame)
		frame, err := hex.DecodeString(clean)
		if err != nil {
			return nil, badRequest("the frame is not hex: write it as bytes like 020000000001...")
		}
		return control.OpenFlowTraceResult{Trace: m.Trace(frame, id)}, nil
	})
}
