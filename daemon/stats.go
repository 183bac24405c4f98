package daemon

import (
	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/fabric"
)

// stats returns the counters of s's attached ports and workers.
//
// Preconditions: d.mu is held.
func (s *swtch) stats() control.SwitchStats {
	st := control.SwitchStats{Switch: s.name, Module: s.moduleInfo(), Ports: []control.PortStats{}, Workers: []control.WorkerStats{}}
	for _, ps := range s.sw.Stats() {
		st.Ports = append(st.Ports, portStats(&ps))
	}
	for _, w := range s.sw.Workers() {
		st.Workers = append(st.Workers, control.WorkerStats{
			Port: w.Name, Queue: w.Queue, Batches: w.Batches, Packets: w.Packets, Busy: w.Busy.Seconds(),
		})
	}
	return st
}

func portStats(ps *fabric.PortStats) control.PortStats {
	out := control.PortStats{
		Name: ps.Name, ID: int(ps.ID),
		RxPackets: ps.RxPackets, RxBytes: ps.RxBytes, TxPackets: ps.TxPackets, TxBytes: ps.TxBytes,
		Drops: make(map[string]uint64, fabric.NumDropReasons),
	}
	for r := fabric.DropReason(0); r < fabric.NumDropReasons; r++ {
		out.Drops[r.String()] = ps.Drops[r]
	}
	return out
}
