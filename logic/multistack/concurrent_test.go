package multistack_test

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mswitch/mswitch/logic"
	"github.com/mswitch/mswitch/logic/multistack"
)

// TestConcurrentChanges looks packets up from several goroutines while
// another reserves and releases tuples and moves the host role: a tuple
// reserved throughout always reaches its owner, and a flickering one
// reaches its owner or the host, never anything else. Run it with -race.
func TestConcurrentChanges(t *testing.T) {
	m := newModule(t)
	stable := tcp4(t, ip3, 40000, ip1, 80)
	flicker := udp4(t, ip3, 40000, ip3, 5000)
	fromStack := tcp4(t, ip1, 80, ip3, 40000)
	deadline := time.Now().Add(300 * time.Millisecond)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 3 {
		wg.Go(func() {
			pkts := make([]logic.Packet, 3)
			for !stop.Load() {
				pkts[0].Data, pkts[1].Data, pkts[2].Data = stable, flicker, fromStack
				m.Lookup(pkts[:2], nic)
				m.Lookup(pkts[2:], stack)
				switch {
				case pkts[0].Dst != logic.To(stack):
					errs <- "stable tuple went to " + pkts[0].Dst.String()
					return
				case pkts[1].Dst != logic.To(dns) && pkts[1].Dst != logic.To(host) && pkts[1].Dst != logic.Drop:
					errs <- "flickering tuple went to " + pkts[1].Dst.String()
					return
				case pkts[2].Dst != logic.To(nic):
					errs <- "owner's packet went to " + pkts[2].Dst.String()
					return
				}
			}
		})
	}
	tup := multistack.Tuple{Proto: udp, IP: ip3, Port: 5000}
	changes := 0
	for time.Now().Before(deadline) {
		if err := m.Reserve(tup, dns); err != nil {
			t.Fatal(err)
		}
		if err := m.SetHost(multistack.NoPort); err != nil {
			t.Fatal(err)
		}
		if err := m.Release(tup); err != nil {
			t.Fatal(err)
		}
		if err := m.SetHost(host); err != nil {
			t.Fatal(err)
		}
		extra := multistack.Tuple{Proto: tcp, IP: netip.AddrFrom4([4]byte{10, 9, 0, byte(changes)}), Port: 1}
		if err := m.Reserve(extra, idle); err != nil {
			t.Fatal(err)
		}
		m.PortRemoved(idle)
		changes++
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	t.Logf("%d rounds of changes; %+v", changes, m.Stats())
}
