package afxdp

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// xdpProgram is the port's XDP program and its XSKMAP.
type xdpProgram struct {
	prog  *ebpf.Program
	xsks  *ebpf.Map
	frags bool // loaded with BPF_F_XDP_HAS_FRAGS
}

// loadProgram creates an XSKMAP of n entries and the program that
// redirects every packet to the socket of its RX queue:
//
//	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
//
// The low bits of bpf_redirect_map's flags are the action when the map has
// no socket for the key (Linux 5.3+): packets of unbound queues go to the
// kernel's stack. With frags the program declares that it handles
// multi-buffer packets (BPF_F_XDP_HAS_FRAGS, Linux 5.18+); without it, an
// XDP-enabled driver refuses packets larger than a page.
func loadProgram(n int, frags bool) (*xdpProgram, error) {
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "mswitch_xsks",
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(n),
	})
	if err != nil {
		return nil, fmt.Errorf("create XSKMAP: %w", err)
	}
	spec := &ebpf.ProgramSpec{
		Name: "mswitch_xsk",
		Type: ebpf.XDP,
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 16, asm.Word), // r2 = ctx->rx_queue_index (struct xdp_md, offset 16)
			asm.LoadMapPtr(asm.R1, xsks.FD()),         // r1 = &xsks
			asm.Mov.Imm(asm.R3, 2),                    // r3 = XDP_PASS, the action when xsks[r2] is empty
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
		License: "Dual MIT/GPL",
	}
	if frags {
		spec.Flags = unix.BPF_F_XDP_HAS_FRAGS
	}
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		xsks.Close()
		return nil, fmt.Errorf("load XDP program (frags %v): %w", frags, err)
	}
	return &xdpProgram{prog: prog, xsks: xsks, frags: frags}, nil
}

func (p *xdpProgram) close() error {
	return errors.Join(p.prog.Close(), p.xsks.Close())
}

// attach attaches prog to ifindex through a BPF link, which the kernel
// removes when the last file descriptor to it closes: a daemon that dies
// leaves no program behind. In XDPAuto mode it tries native mode first.
// A program attached through netlink (by an older run, or `ip link set
// xdp`) blocks a link: it is removed, with a warning, and the attach
// retried.
func attach(log *slog.Logger, ifname string, ifindex int, prog *ebpf.Program, mode XDPMode) (link.Link, XDPMode, error) {
	try := func(m XDPMode) (link.Link, error) {
		flags := link.XDPDriverMode
		if m == XDPGeneric {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
		if err == nil {
			return l, nil
		}
		if removed, rerr := removeStale(log, ifname, ifindex); rerr != nil {
			return nil, fmt.Errorf("%w; %w", err, rerr)
		} else if !removed {
			return nil, err
		}
		return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
	}
	switch mode {
	case XDPNative, XDPGeneric:
		l, err := try(mode)
		if err != nil {
			return nil, 0, fmt.Errorf("attach XDP program in %v mode: %w", mode, err)
		}
		log.Info("afxdp: XDP program attached", "interface", ifname, "xdp_mode", mode.String(), "reason", "configured")
		return l, mode, nil
	}
	l, err := try(XDPNative)
	if err == nil {
		log.Info("afxdp: XDP program attached", "interface", ifname, "xdp_mode", "native", "reason", "the driver supports native XDP")
		return l, XDPNative, nil
	}
	l, gerr := try(XDPGeneric)
	if gerr != nil {
		return nil, 0, fmt.Errorf("attach XDP program: native mode: %w; generic mode: %w", err, gerr)
	}
	log.Info("afxdp: XDP program attached", "interface", ifname, "xdp_mode", "generic",
		"reason", fmt.Sprintf("native mode failed: %v", err))
	return l, XDPGeneric, nil
}

// removeStale removes a program attached to ifindex through netlink and
// reports whether there was one. A program held by a live BPF link (another
// running port or tool) cannot be removed that way: that is an error.
func removeStale(log *slog.Logger, ifname string, ifindex int) (bool, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", ifname, err)
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached {
		return false, nil
	}
	var flags []int
	switch x.AttachMode {
	case xdpAttachedDrv:
		flags = []int{unix.XDP_FLAGS_DRV_MODE}
	case xdpAttachedSKB:
		flags = []int{unix.XDP_FLAGS_SKB_MODE}
	case xdpAttachedHW:
		flags = []int{unix.XDP_FLAGS_HW_MODE}
	default: // several
		flags = []int{unix.XDP_FLAGS_DRV_MODE, unix.XDP_FLAGS_SKB_MODE, unix.XDP_FLAGS_HW_MODE}
	}
	var errs []error
	for _, f := range flags {
		if err := netlink.LinkSetXdpFdWithFlags(l, -1, f); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == len(flags) {
		return false, fmt.Errorf("XDP program %d on %s is in use (by a BPF link of a running program?) and cannot be removed: %w",
			x.ProgId, ifname, errors.Join(errs...))
	}
	log.Warn("afxdp: removed a stale XDP program", "interface", ifname, "prog_id", x.ProgId, "attach_mode", x.AttachMode)
	return true, nil
}

// IFLA_XDP_ATTACHED values.
const (
	xdpAttachedDrv = 1
	xdpAttachedSKB = 2
	xdpAttachedHW  = 3
)
