package daemon

import (
	"time"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/port/afpacket"
	"github.com/mswitch/mswitch/port/afxdp"
	taport "github.com/mswitch/mswitch/port/tap"
)

// Kernel ports: a kernel interface over AF_XDP (falling back to AF_PACKET
// when XDP cannot be attached), over AF_PACKET on request, or the host's own
// stack through a TAP device.

// maxKernelQueues bounds the queues of a kernel or TAP port.
const maxKernelQueues = 64

// maxPollWindowUS bounds KernelSpec.PollWindowUS: the backends' limit.
const maxPollWindowUS = int(afxdp.MaxPollWindow / time.Microsecond)

// normalizeKernel checks the spec of an afxdp, afpacket or tap port and
// fills in its defaults.
func normalizeKernel(spec *control.PortSpec) error {
	if spec.Memif != nil || spec.Pipe != nil {
		return badRequest("port %q is a %s port: memif and pipe settings do not apply", spec.Name, spec.Type)
	}
	var queues *int
	mode := "interrupt"
	if spec.Type == control.TypeTap {
		if spec.Kernel != nil {
			return badRequest("port %q is a tap port: use its tap settings, not kernel ones", spec.Name)
		}
		if spec.Tap == nil {
			spec.Tap = &control.TapSpec{}
		}
		if spec.Tap.Name == "" {
			spec.Tap.Name = spec.Name
		}
		if len(spec.Tap.Name) > 15 {
			return badRequest("tap port %q: device name %q is longer than 15 bytes", spec.Name, spec.Tap.Name)
		}
		if err := checkCoalesce(spec, spec.Tap.CoalesceUS); err != nil {
			return err
		}
		queues = &spec.Tap.Queues
	} else {
		if spec.Tap != nil {
			return badRequest("port %q is an %s port: tap settings do not apply", spec.Name, spec.Type)
		}
		if spec.Kernel == nil {
			spec.Kernel = &control.KernelSpec{}
		}
		k := spec.Kernel
		if k.Interface == "" {
			k.Interface = spec.Name
		}
		if k.Mode == "" {
			k.Mode = mode
		}
		if k.Mode != "interrupt" && k.Mode != "poll" && k.Mode != "adaptive" {
			return badRequest("%s port %q: mode %q is not interrupt, poll or adaptive", spec.Type, spec.Name, k.Mode)
		}
		if k.PollWindowUS < 0 || k.PollWindowUS > maxPollWindowUS {
			return badRequest("%s port %q: poll window %d µs is outside [0, %d]", spec.Type, spec.Name, k.PollWindowUS, maxPollWindowUS)
		}
		if k.PollWindowUS != 0 && k.Mode != "adaptive" {
			return badRequest("%s port %q: a poll window applies to adaptive mode only, not %s", spec.Type, spec.Name, k.Mode)
		}
		if err := checkCoalesce(spec, k.CoalesceUS); err != nil {
			return err
		}
		if k.CoalesceUS != 0 && k.Mode == "poll" {
			return badRequest("%s port %q: coalescing applies to interrupt and adaptive modes, not poll", spec.Type, spec.Name)
		}
		if spec.Type == control.TypeAFXDP {
			if k.XDPMode == "" {
				k.XDPMode = "auto"
			}
			if _, err := afxdp.ParseXDPMode(k.XDPMode); err != nil {
				return badRequest("afxdp port %q: XDP mode %q is not auto, native or generic", spec.Name, k.XDPMode)
			}
			if r := k.RxRing; r != 0 && (r < afxdp.MinRingSize || r > afxdp.MaxRingSize || r&(r-1) != 0) {
				return badRequest("afxdp port %q: RX ring of %d frames is not a power of two from %d to %d",
					spec.Name, r, afxdp.MinRingSize, afxdp.MaxRingSize)
			}
		} else if k.XDPMode != "" {
			return badRequest("afpacket port %q: an XDP mode does not apply", spec.Name)
		} else if k.RxRing != 0 {
			return badRequest("afpacket port %q: an RX ring size applies to afxdp ports only", spec.Name)
		}
		if k.RPSCPUs != "" {
			if _, err := ParseCPUList(k.RPSCPUs); err != nil {
				return badRequest("%s port %q: RPS CPUs %q: %v", spec.Type, spec.Name, k.RPSCPUs, err)
			}
		}
		queues = &k.Queues
	}
	if *queues == 0 {
		*queues = 1
	}
	if *queues < 1 || *queues > maxKernelQueues {
		return badRequest("%s port %q: %d queues is outside [1, %d]", spec.Type, spec.Name, *queues, maxKernelQueues)
	}
	return nil
}

// checkCoalesce checks a port's CoalesceUS.
func checkCoalesce(spec *control.PortSpec, us int) error {
	if us < control.CoalesceOff || us > control.MaxCoalesceUS {
		return badRequest("%s port %q: coalescing pause %d µs is outside [1, %d] (%d: off, 0: the default)",
			spec.Type, spec.Name, us, control.MaxCoalesceUS, control.CoalesceOff)
	}
	return nil
}

// coalesce converts a CoalesceUS into the backends' Config.Coalesce
// (negative: never, 0: the default).
func coalesce(us int) time.Duration {
	if us == control.CoalesceOff {
		return -1
	}
	return time.Duration(us) * time.Microsecond
}

// openKernel creates the backend of an afxdp, afpacket or tap port and
// returns it with the name of what carries it.
//
// Preconditions: d.mu is held.
func (d *Daemon) openKernel(spec control.PortSpec) (fabric.Backend, string, error) {
	log := d.log.With("port", spec.Name)
	if spec.Type == control.TypeTap {
		t := spec.Tap
		mode := taport.ModeInterrupt
		p, err := taport.Open(taport.Config{Name: t.Name, Queues: t.Queues, Mode: mode, Coalesce: coalesce(t.CoalesceUS), Logger: log})
		if err != nil {
			return nil, "", badRequest("create tap port %q: %v", spec.Name, err)
		}
		return p, control.TypeTap, nil
	}
	k := spec.Kernel
	window := time.Duration(k.PollWindowUS) * time.Microsecond
	if spec.Type == control.TypeAFXDP {
		xm, _ := afxdp.ParseXDPMode(k.XDPMode)
		mode, _ := afxdp.ParseMode(k.Mode)
		cfg := afxdp.Config{Interface: k.Interface, Queues: k.Queues, Mode: mode, PollWindow: window, XDPMode: xm,
			RxRingSize: k.RxRing, Coalesce: coalesce(k.CoalesceUS), Logger: log}
		p, err := afxdp.Open(cfg)
		if err == nil {
			return p, control.TypeAFXDP, nil
		}
		log.Warn("AF_XDP not possible on this interface: falling back to AF_PACKET",
			"interface", k.Interface, "reason", err.Error())
	}
	cfg := afpacket.Config{Interface: k.Interface, Queues: k.Queues, PollWindow: window, Coalesce: coalesce(k.CoalesceUS), Logger: log}
	switch k.Mode {
	case "poll":
		cfg.Mode = afpacket.ModePoll
	case "adaptive":
		cfg.Mode = afpacket.ModeAdaptive
	}
	p, err := afpacket.Open(cfg)
	if err != nil {
		return nil, "", badRequest("create %s port %q on %s: %v", spec.Type, spec.Name, k.Interface, err)
	}
	return p, control.TypeAFPacket, nil
}

// kernelInfo adds a kernel or tap port's settings to its description.
func (p *port) kernelInfo(pi *control.PortInfo) {
	if p.spec.Kernel != nil {
		k := *p.spec.Kernel
		pi.Kernel = &k
	}
	if p.spec.Tap != nil {
		t := *p.spec.Tap
		pi.Tap = &t
	}
	pi.Backend = p.via
}
