// Package learning is a placeholder being replaced by the full learning bridge.
package learning

import "github.com/mswitch/mswitch/logic"

// Bridge is an L2 learning bridge.
type Bridge struct{}

// New returns a learning bridge with default options.
func New() *Bridge { return &Bridge{} }

// Lookup implements logic.Logic.
func (b *Bridge) Lookup(pkts []logic.Packet, in logic.PortID) {
	for i := range pkts {
		pkts[i].Dst = logic.Flood
	}
}
