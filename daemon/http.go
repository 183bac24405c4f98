package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/l4filter"
	"github.com/mswitch/mswitch/logic/learning"
	"github.com/mswitch/mswitch/logic/xconnect"
)

// routes lists the API, for the handler and for the 404 answer.
var routes = []string{
	"GET /v1/version",
	"GET /v1/modules",
	"GET /v1/stats",
	"GET /v1/switches",
	"POST /v1/switches",
	"GET /v1/switches/{switch}",
	"DELETE /v1/switches/{switch}",
	"GET /v1/switches/{switch}/stats",
	"GET /v1/switches/{switch}/ports",
	"POST /v1/switches/{switch}/ports",
	"GET /v1/switches/{switch}/ports/{port}",
	"DELETE /v1/switches/{switch}/ports/{port}",
	"GET /v1/switches/{switch}/ports/{port}/capture",
	"GET /v1/switches/{switch}/module",
	"PUT /v1/switches/{switch}/module",
	"GET /v1/switches/{switch}/learning",
	"POST /v1/switches/{switch}/learning",
	"POST /v1/switches/{switch}/learning/flush",
	"DELETE /v1/switches/{switch}/learning/{mac}",
	"GET /v1/switches/{switch}/l4filter",
	"POST /v1/switches/{switch}/l4filter",
	"DELETE /v1/switches/{switch}/l4filter/{proto}/{l4port}",
	"GET /v1/switches/{switch}/xconnect",
	"POST /v1/switches/{switch}/xconnect",
	"DELETE /v1/switches/{switch}/xconnect/{in}",
	"GET /v1/switches/{switch}/multistack",
	"PUT /v1/switches/{switch}/multistack",
	"GET /v1/switches/{switch}/multistack/reservations",
	"POST /v1/switches/{switch}/multistack/reservations",
	"DELETE /v1/switches/{switch}/multistack/reservations/{proto}/{ip}/{l4port}",
	"GET /v1/switches/{switch}/openflow",
	"PUT /v1/switches/{switch}/openflow",
	"POST /v1/switches/{switch}/openflow/trace",
}

// apiFunc handles a request whose answer is one JSON value (nil: no body).
type apiFunc func(r *http.Request) (any, error)

// Handler returns the control API's HTTP handler.
func (d *Daemon) Handler() http.Handler {
	handlers := map[string]apiFunc{
		"GET /v1/version":                  d.getVersion,
		"GET /v1/modules":                  d.getModules,
		"GET /v1/stats":                    d.getStats,
		"GET /v1/poll-threads":             d.getPollThreads,
		"GET /v1/switches":                 d.getSwitches,
		"POST /v1/switches":                d.postSwitch,
		"GET /v1/switches/{switch}":        d.getSwitch,
		"DELETE /v1/switches/{switch}":     d.deleteSwitchReq,
		"GET /v1/switches/{switch}/stats":  d.getSwitchStats,
		"GET /v1/switches/{switch}/ports":  d.getPorts,
		"POST /v1/switches/{switch}/ports": d.postPort,

		"GET /v1/switches/{switch}/ports/{port}":    d.getPort,
		"DELETE /v1/switches/{switch}/ports/{port}": d.deletePortReq,

		"GET /v1/switches/{switch}/module": d.getModule,
		"PUT /v1/switches/{switch}/module": d.putModule,

		"GET /v1/switches/{switch}/learning":          d.getLearning,
		"POST /v1/switches/{switch}/learning":         d.postLearning,
		"POST /v1/switches/{switch}/learning/flush":   d.flushLearning,
		"DELETE /v1/switches/{switch}/learning/{mac}": d.deleteLearning,

		"GET /v1/switches/{switch}/l4filter":                     d.getL4Filter,
		"POST /v1/switches/{switch}/l4filter":                    d.postL4Filter,
		"DELETE /v1/switches/{switch}/l4filter/{proto}/{l4port}": d.deleteL4Filter,

		"GET /v1/switches/{switch}/xconnect":         d.getXConnect,
		"POST /v1/switches/{switch}/xconnect":        d.postXConnect,
		"DELETE /v1/switches/{switch}/xconnect/{in}": d.deleteXConnect,

		"GET /v1/switches/{switch}/multistack":                                       d.getMultistack,
		"PUT /v1/switches/{switch}/multistack":                                       d.putMultistack,
		"GET /v1/switches/{switch}/multistack/reservations":                          d.getReservations,
		"POST /v1/switches/{switch}/multistack/reservations":                         d.postReservation,
		"DELETE /v1/switches/{switch}/multistack/reservations/{proto}/{ip}/{l4port}": d.deleteReservation,

		"GET /v1/switches/{switch}/openflow":        d.getOpenFlow,
		"PUT /v1/switches/{switch}/openflow":        d.putOpenFlow,
		"POST /v1/switches/{switch}/openflow/trace": d.traceOpenFlow,
	}
	mux := http.NewServeMux()
	for pattern, fn := range handlers {
		mux.Handle(pattern, d.wrap(fn))
	}
	mux.HandleFunc("GET /v1/switches/{switch}/ports/{port}/capture", d.serveCapture)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, notFound("no route %s %s; the API's routes are listed at GET /v1/", r.Method, r.URL.Path))
	})
	mux.HandleFunc("GET /v1/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, routes)
	})
	return mux
}

func (d *Daemon) wrap(fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			d.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "err", err)
			writeError(w, err)
			return
		}
		if v == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), control.ErrorBody{Error: err.Error()})
}

// decode reads a request's JSON body into v, refusing unknown fields.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the request body is not valid: %v", err)
	}
	return nil
}

// change runs fn under the lock and saves the state if it succeeded.
func (d *Daemon) change(fn func() (any, error)) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, newError(http.StatusServiceUnavailable, "mswitchd is shutting down")
	}
	v, err := fn()
	if err != nil {
		return nil, err
	}
	if err := d.save(); err != nil {
		return nil, err
	}
	return v, nil
}

// read runs fn under the lock.
func (d *Daemon) read(fn func() (any, error)) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fn()
}

// withSwitch runs fn under the lock with the switch the path names.
func (d *Daemon) withSwitch(r *http.Request, fn func(s *swtch) (any, error)) (any, error) {
	return d.read(func() (any, error) {
		s, err := d.lookupSwitch(r.PathValue("switch"))
		if err != nil {
			return nil, err
		}
		return fn(s)
	})
}

// changeSwitch is withSwitch for a change.
func (d *Daemon) changeSwitch(r *http.Request, fn func(s *swtch) (any, error)) (any, error) {
	return d.change(func() (any, error) {
		s, err := d.lookupSwitch(r.PathValue("switch"))
		if err != nil {
			return nil, err
		}
		return fn(s)
	})
}

func (d *Daemon) getVersion(*http.Request) (any, error) {
	return control.VersionInfo{Version: control.Version, Modules: logic.Names()}, nil
}

func (d *Daemon) getModules(*http.Request) (any, error) { return logic.Names(), nil }

func (d *Daemon) getPollThreads(*http.Request) (any, error) {
	out := []control.PollThread{}
	if d.polls == nil {
		return out, nil
	}
	for _, t := range d.polls.Stats() {
		out = append(out, control.PollThread{Thread: t.Thread, CPU: t.CPU, Queues: t.Queues,
			Passes: t.Passes, Busy: t.Busy, Packets: t.Packets, Sleeps: t.Sleeps})
	}
	return out, nil
}

func (d *Daemon) getSwitches(*http.Request) (any, error) {
	return d.read(func() (any, error) {
		out := []control.SwitchInfo{}
		for _, s := range d.sortedSwitches() {
			out = append(out, s.info())
		}
		return out, nil
	})
}

func (d *Daemon) getSwitch(r *http.Request) (any, error) {
	return d.withSwitch(r, func(s *swtch) (any, error) { return s.info(), nil })
}

func (d *Daemon) postSwitch(r *http.Request) (any, error) {
	var spec control.SwitchSpec
	if err := decode(r, &spec); err != nil {
		return nil, err
	}
	return d.change(func() (any, error) {
		s, err := d.createSwitch(spec)
		if err != nil {
			return nil, err
		}
		return s.info(), nil
	})
}

func (d *Daemon) deleteSwitchReq(r *http.Request) (any, error) {
	return d.change(func() (any, error) { return nil, d.deleteSwitch(r.PathValue("switch")) })
}

func (d *Daemon) getPorts(r *http.Request) (any, error) {
	return d.withSwitch(r, func(s *swtch) (any, error) {
		out := []control.PortInfo{}
		for _, p := range s.sortedPorts() {
			out = append(out, p.info())
		}
		return out, nil
	})
}

func (d *Daemon) getPort(r *http.Request) (any, error) {
	return d.read(func() (any, error) {
		p, err := d.lookupPort(r.PathValue("switch"), r.PathValue("port"))
		if err != nil {
			return nil, err
		}
		return p.info(), nil
	})
}

func (d *Daemon) postPort(r *http.Request) (any, error) {
	var spec control.PortSpec
	if err := decode(r, &spec); err != nil {
		return nil, err
	}
	return d.changeSwitch(r, func(s *swtch) (any, error) {
		p, err := d.addPort(s, spec, false)
		if err != nil {
			return nil, err
		}
		return p.info(), nil
	})
}

func (d *Daemon) deletePortReq(r *http.Request) (any, error) {
	return d.change(func() (any, error) {
		return nil, d.deletePort(r.PathValue("switch"), r.PathValue("port"))
	})
}

func (d *Daemon) getModule(r *http.Request) (any, error) {
	return d.withSwitch(r, func(s *swtch) (any, error) { return s.moduleInfo(), nil })
}

func (d *Daemon) putModule(r *http.Request) (any, error) {
	var spec control.ModuleSpec
	if err := decode(r, &spec); err != nil {
		return nil, err
	}
	return d.changeSwitch(r, func(s *swtch) (any, error) {
		if err := d.setModule(s, spec.Name); err != nil {
			return nil, err
		}
		return s.moduleInfo(), nil
	})
}

func (d *Daemon) getLearning(r *http.Request) (any, error) {
	return d.withSwitch(r, func(s *swtch) (any, error) {
		b, err := moduleAs[*learning.Bridge](s, "learning")
		if err != nil {
			return nil, err
		}
		out := s.learningEntries(b, false)
		if out == nil {
			out = []control.LearningEntry{}
		}
		return out, nil
	})
}

func (d *Daemon) postLearning(r *http.Request) (any, error) {
	var e control.LearningEntry
	if err := decode(r, &e); err != nil {
		return nil, err
	}
	return d.changeSwitch(r, func(s *swtch) (any, error) { return nil, s.addStatic(e) })
}

func (d *Daemon) deleteLearning(r *http.Request) (any, error) {
	var vlan uint16
	if v := r.URL.Query().Get("vlan"); v != "" {
		n, err := strconv.ParseUint(v, 10, 12)
		if err != nil {
			return nil, badRequest("VLAN %q is not a number in [0, 4095]", v)
		}
		vlan = uint16(n)
	}
	return d.changeSwitch(r, func(s *swtch) (any, error) {
		return nil, s.deleteStatic(r.PathValue("mac"), vlan)
	})
}

func (d *Daemon) flushLearning(r *http.Request) (any, error) {
	return d.withSwitch(r, func(s *swtch) (any, error) {
		b, err := moduleAs[*learning.Bridge](s, "learning")
		if err != nil {
			return nil, err
		}
		b.Flush()
		return nil, nil
	})
}

func (d *Daemon) getL4Filter(r *http.Request) (any, error) {
	return d.withSwitch(r, func(s *swtch) (any, error) {
		f, err := moduleAs[*l4filter.Filter](s, "l4filter")
		if err != nil {
			return nil, err
		}
		out := s.l4Rules(f)
		if out == nil {
			out = []control.L4Rule{}
		}
		return out, nil
	})
}

func (d *Daemon) postL4Filter(r *http.Request) (any, error) {
	var rule control.L4Rule
	if err := decode(r, &rule); err != nil {
		return nil, err
	}
	return d.changeSwitch(r, func(s *swtch) (any, error) { return nil, s.addL4Rule(rule) })
}

func (d *Daemon) deleteL4Filter(r *http.Request) (any, error) {
	v := r.PathValue("l4port")
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return nil, badRequest("L4 port %q is not a number in [0, 65535]", v)
	}
	return d.changeSwitch(r, func(s *swtch) (any, error) {
		return nil, s.deleteL4Rule(r.PathValue("proto"), uint16(n))
	})
}

func (d *Daemon) getXConnect(r *http.Request) (any, error) {
	return d.withSwitch(r, func(s *swtch) (any, error) {
		x, err := moduleAs[*xconnect.XConnect](s, "xconnect")
		if err != nil {
			return nil, err
		}
		return s.mappings(x), nil
	})
}

func (d *Daemon) postXConnect(r *http.Request) (any, error) {
	var m control.Mapping
	if err := decode(r, &m); err != nil {
		return nil, err
	}
	return d.changeSwitch(r, func(s *swtch) (any, error) { return nil, s.connect(m) })
}

func (d *Daemon) deleteXConnect(r *http.Request) (any, error) {
	return d.changeSwitch(r, func(s *swtch) (any, error) { return nil, s.disconnect(r.PathValue("in")) })
}

func (d *Daemon) getStats(*http.Request) (any, error) {
	return d.read(func() (any, error) {
		out := []control.SwitchStats{}
		for _, s := range d.sortedSwitches() {
			out = append(out, s.stats())
		}
		return out, nil
	})
}

func (d *Daemon) getSwitchStats(r *http.Request) (any, error) {
	return d.withSwitch(r, func(s *swtch) (any, error) { return s.stats(), nil })
}
