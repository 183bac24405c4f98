package pipeline

import (
	"testing"

	"github.com/mswitch/mswitch/openflow/ofp"
)

func TestSmoke(t *testing.T) {
	p := newTest(t, Options{})
	mustFlow(t, p, flowAdd(0, 10, match(u(ofp.OXMInPort, 1)), apply(out(2))))
	w := p.NewWorker()
	var res Result
	for i := 0; i < 3; i++ {
		pkt := buildPacket(t, pktSpec{sport: 1, dport: 2})
		w.Process(pkt, 1, &res)
		if got := ports(&res); len(got) != 1 || got[0] != 2 {
			t.Fatalf("outputs %v", got)
		}
		t.Log(res.Cache)
	}
	t.Log(p.Trace(buildPacket(t, pktSpec{sport: 1, dport: 2}), 1))
}
