package pipeline

import (
	"errors"
	"testing"
	"time"

	"github.com/mswitch/mswitch/openflow/ofp"
)

func meterAdd(id uint32, flags uint16, bands ...ofp.MeterBand) *ofp.MeterMod {
	return &ofp.MeterMod{Command: ofp.MeterAdd, Flags: flags, MeterID: id, Bands: bands}
}

func dropBand(rate, burst uint32) ofp.MeterBand {
	return ofp.MeterBand{Type: ofp.MeterBandDrop, Rate: rate, BurstSize: burst}
}

func mustMeter(t testing.TB, p *Pipeline, mm *ofp.MeterMod) {
	t.Helper()
	if _, err := p.MeterMod(mm); err != nil {
		t.Fatalf("meter_mod: %v", err)
	}
}

func meterInst(id uint32) ofp.Instruction { return ofp.InstructionMeter{MeterID: id} }

func TestMeterModErrors(t *testing.T) {
	p := newTest(t, Options{Tables: 2})
	mustMeter(t, p, meterAdd(1, ofp.MeterFlagPktps, dropBand(10, 0)))
	mmf := func(code uint16) [2]uint16 { return [2]uint16{uint16(ofp.ETMeterModFailed), code} }
	tests := []struct {
		name string
		mm   *ofp.MeterMod
		want [2]uint16
	}{
		{"exists", meterAdd(1, ofp.MeterFlagPktps, dropBand(10, 0)), mmf(ofp.MMFCMeterExists)},
		{"id 0", meterAdd(0, ofp.MeterFlagPktps), mmf(ofp.MMFCInvalidMeter)},
		{"virtual", meterAdd(ofp.MeterController, ofp.MeterFlagPktps), mmf(ofp.MMFCInvalidMeter)},
		{"modify unknown", &ofp.MeterMod{Command: ofp.MeterModify, MeterID: 2, Flags: ofp.MeterFlagKbps}, mmf(ofp.MMFCUnknownMeter)},
		{"kbps and pktps", meterAdd(2, ofp.MeterFlagKbps|ofp.MeterFlagPktps), mmf(ofp.MMFCBadFlags)},
		{"unknown flag", meterAdd(2, 1<<7), mmf(ofp.MMFCBadFlags)},
		{"rate 0", meterAdd(2, ofp.MeterFlagKbps, dropBand(0, 0)), mmf(ofp.MMFCBadRate)},
		{"burst 0", meterAdd(2, ofp.MeterFlagKbps|ofp.MeterFlagBurst, dropBand(10, 0)), mmf(ofp.MMFCBadBurst)},
		{"experimenter band", meterAdd(2, ofp.MeterFlagKbps, ofp.MeterBand{Type: ofp.MeterBandExperimenter, Rate: 1}), mmf(ofp.MMFCBadBand)},
		{"bands", meterAdd(2, ofp.MeterFlagKbps, make([]ofp.MeterBand, 9)...), mmf(ofp.MMFCOutOfBands)},
		{"command", &ofp.MeterMod{Command: 7, MeterID: 2}, mmf(ofp.MMFCBadCommand)},
	}
	for _, tt := range tests {
		_, err := p.MeterMod(tt.mm)
		var oe *ofp.Error
		if !errors.As(err, &oe) || [2]uint16{uint16(oe.Type), oe.Code} != tt.want {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	// A flow naming a meter that does not exist.
	_, err := p.FlowMod(flowAdd(0, 1, match(), meterInst(9), apply(out(2))))
	var oe *ofp.Error
	if !errors.As(err, &oe) || oe.Type != ofp.ETMeterModFailed || oe.Code != ofp.MMFCUnknownMeter {
		t.Errorf("flow with meter 9: err = %v", err)
	}
	// Deleting a meter that does not exist is not an error.
	if _, err := p.MeterMod(&ofp.MeterMod{Command: ofp.MeterDelete, MeterID: 5}); err != nil {
		t.Errorf("delete unknown: %v", err)
	}
}

// send runs n copies of pkt through w and returns how many were output and
// the last output packet.
func send(t *testing.T, w *Worker, pkt []byte, n int) (int, []byte) {
	t.Helper()
	out := 0
	var last []byte
	buf := make([]byte, 0, 2048)
	var res Result
	for i := 0; i < n; i++ {
		buf = append(buf[:0], pkt...)
		got := w.Process(buf, 1, &res)
		if len(res.Outputs) > 0 {
			out++
			last = append(last[:0], got...)
		} else if !res.MeterDrop {
			t.Fatalf("packet %d neither output nor dropped by the meter", i)
		}
	}
	return out, last
}

func TestMeterDrop(t *testing.T) {
	for _, cache := range []bool{true, false} {
		p := newTest(t, Options{Tables: 1, NoCache: !cache})
		// 100 packets/s with a burst of 10: a back-to-back train passes
		// 11 packets (the burst, and the first).
		mustMeter(t, p, meterAdd(1, ofp.MeterFlagPktps|ofp.MeterFlagBurst|ofp.MeterFlagStats, dropBand(100, 10)))
		// 1000 kb/s with a burst of 24 kb: 1500-byte frames take 12 kb each.
		mustMeter(t, p, meterAdd(2, ofp.MeterFlagKbps|ofp.MeterFlagBurst, dropBand(1000, 24)))
		mustFlow(t, p, flowAdd(0, 2, match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 6)), meterInst(1), apply(out(2))))
		mustFlow(t, p, flowAdd(0, 2, match(u(ofp.OXMEthType, 0x800), u(ofp.OXMIPProto, 17)), meterInst(2), apply(out(2))))
		w := p.NewWorker()
		start := time.Now()
		n, _ := send(t, w, buildPacket(t, pktSpec{proto: "tcp"}), 1000)
		slack := int(time.Since(start)/(10*time.Millisecond)) + 1 // tokens that came in meanwhile
		if n < 11 || n > 11+slack {
			t.Errorf("cache %v: pktps meter passed %d of 1000, want 11 (+%d)", cache, n, slack)
		}
		start = time.Now()
		big := buildPacket(t, pktSpec{proto: "udp", payload: 1500 - 42})
		if len(big) != 1500 {
			t.Fatalf("frame of %d bytes", len(big))
		}
		m, _ := send(t, w, big, 100)
		slack = int(time.Since(start)/(12*time.Millisecond)) + 1
		if m < 3 || m > 3+slack {
			t.Errorf("cache %v: kbps meter passed %d of 100, want 3 (+%d)", cache, m, slack)
		}

		st := p.MeterStats(&ofp.MeterStatsRequest{MeterID: ofp.MeterAll})
		if len(st.Stats) != 2 {
			t.Fatalf("meter stats %+v", st)
		}
		s := st.Stats[0]
		if s.MeterID != 1 || s.FlowCount != 1 || s.PacketInCount != 1000 || s.ByteInCount != 1000*uint64(len(buildPacket(t, pktSpec{proto: "tcp"}))) ||
			len(s.BandStats) != 1 || s.BandStats[0].PacketBandCount != uint64(1000-n) {
			t.Errorf("cache %v: meter 1 stats %+v (passed %d)", cache, s, n)
		}
	}
}

func TestMeterRefill(t *testing.T) {
	p := newTest(t, Options{Tables: 1})
	mustMeter(t, p, meterAdd(1, ofp.MeterFlagPktps|ofp.MeterFlagBurst, dropBand(1000, 1)))
	mustFlow(t, p, flowAdd(0, 1, match(), meterInst(1), apply(out(2))))
	w := p.NewWorker()
	pkt := buildPacket(t, pktSpec{proto: "tcp"})
	if n, _ := send(t, w, pkt, 50); n > 10 {
		t.Fatalf("passed %d of a back-to-back train, want about 2", n)
	}
	time.Sleep(20 * time.Millisecond) // 20 packets' worth of time; the burst caps it at 2
	if n, _ := send(t, w, pkt, 50); n < 2 || n > 10 {
		t.Fatalf("after a pause: passed %d, want about 2", n)
	}
}

func TestMeterDSCPRemark(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		p := newTest(t, Options{Tables: 1})
		remark := ofp.MeterBand{Type: ofp.MeterBandDSCPRemark, Rate: 10, BurstSize: 2, PrecLevel: 1}
		mustMeter(t, p, meterAdd(1, ofp.MeterFlagPktps|ofp.MeterFlagBurst, remark))
		mustFlow(t, p, flowAdd(0, 1, match(), meterInst(1), apply(out(2))))
		w := p.NewWorker()
		pkt := buildPacket(t, pktSpec{proto: "tcp", v6: v6})
		setDSCP(pkt, v6, 18) // AF21
		var res Result
		var dscps []uint8
		for i := 0; i < 6; i++ {
			buf := append(make([]byte, 0, 2048), pkt...)
			got := w.Process(buf, 1, &res)
			if len(res.Outputs) != 1 {
				t.Fatalf("v6 %v: packet %d: outputs %v", v6, i, ports(&res))
			}
			dscps = append(dscps, getDSCP(got, v6))
			if !checksumsOK(t, got) {
				t.Fatalf("v6 %v: packet %d: bad checksum", v6, i)
			}
		}
		// The burst (2) and the first conform; the rest become AF22.
		want := []uint8{18, 18, 18, 20, 20, 20}
		if string(dscps) != string(want) {
			t.Errorf("v6 %v: dscp %v, want %v", v6, dscps, want)
		}
	}
}

func setDSCP(pkt []byte, v6 bool, dscp uint8) {
	if v6 {
		w := be.Uint16(pkt[14:])
		be.PutUint16(pkt[14:], w&0xf03f|uint16(dscp)<<6)
		return
	}
	pkt[15] = dscp << 2
	pkt[24], pkt[25] = 0, 0
	be.PutUint16(pkt[24:], ^fold(sum16(pkt, 14, 34)))
}

func getDSCP(pkt []byte, v6 bool) uint8 {
	if v6 {
		return uint8(be.Uint16(pkt[14:])>>6) & 0x3f
	}
	return pkt[15] >> 2
}

func TestMeterConfigAndDelete(t *testing.T) {
	p := newTest(t, Options{Tables: 2})
	bands := []ofp.MeterBand{dropBand(1000, 0), {Type: ofp.MeterBandDSCPRemark, Rate: 500, PrecLevel: 1}}
	mustMeter(t, p, meterAdd(3, ofp.MeterFlagKbps, bands...))
	mustMeter(t, p, meterAdd(4, ofp.MeterFlagPktps, dropBand(5, 0)))
	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMInPort, 1)), meterInst(3), apply(out(2))))
	mustFlow(t, p, flowAdd(0, 1, match(u(ofp.OXMInPort, 2)), meterInst(4), apply(out(1))))
	mustFlow(t, p, flowAdd(1, 1, match(), meterInst(3), apply(out(1))))
	c := p.MeterConfig(&ofp.MeterConfigRequest{MeterID: 3})
	if len(c.Meters) != 1 || c.Meters[0].Flags != ofp.MeterFlagKbps || c.Meters[0].MeterID != 3 || len(c.Meters[0].Bands) != 2 ||
		c.Meters[0].Bands[1].PrecLevel != 1 {
		t.Fatalf("meter config %+v", c)
	}
	if c := p.MeterConfig(&ofp.MeterConfigRequest{MeterID: 9}); len(c.Meters) != 0 {
		t.Fatalf("config of an unknown meter: %+v", c)
	}
	if f := p.MeterFeatures(); f.MaxMeter == 0 || f.BandTypes != 1<<1|1<<2 || f.MaxBands != maxMeterBands {
		t.Fatalf("features %+v", f)
	}
	// Modify keeps the meter, replaces its bands.
	if _, err := p.MeterMod(&ofp.MeterMod{Command: ofp.MeterModify, Flags: ofp.MeterFlagPktps, MeterID: 3, Bands: []ofp.MeterBand{dropBand(7, 0)}}); err != nil {
		t.Fatal(err)
	}
	if c := p.MeterConfig(&ofp.MeterConfigRequest{MeterID: ofp.MeterAll}); len(c.Meters) != 2 || c.Meters[0].Bands[0].Rate != 7 {
		t.Fatalf("after modify: %+v", c)
	}
	// Deleting meter 3 deletes its two flows.
	rs, err := p.MeterMod(&ofp.MeterMod{Command: ofp.MeterDelete, MeterID: 3})
	if err != nil || len(rs) != 2 || rs[0].Reason != ofp.RemovedDelete {
		t.Fatalf("delete: %v, %+v", err, rs)
	}
	if st := p.MeterStats(&ofp.MeterStatsRequest{MeterID: ofp.MeterAll}); len(st.Stats) != 1 || st.Stats[0].MeterID != 4 || st.Stats[0].FlowCount != 1 {
		t.Fatalf("stats after delete: %+v", st)
	}
	rs, err = p.MeterMod(&ofp.MeterMod{Command: ofp.MeterDelete, MeterID: ofp.MeterAll})
	if err != nil || len(rs) != 1 {
		t.Fatalf("delete all: %v, %+v", err, rs)
	}
	if n := p.TableStats().Stats[0].ActiveCount; n != 0 {
		t.Fatalf("%d flows left", n)
	}
}

func TestZeroAllocMeter(t *testing.T) {
	p := newTest(t, Options{})
	mustMeter(t, p, meterAdd(1, ofp.MeterFlagPktps, dropBand(1e6, 0), ofp.MeterBand{Type: ofp.MeterBandDSCPRemark, Rate: 10, PrecLevel: 1}))
	mustFlow(t, p, flowAdd(0, 1, match(), meterInst(1), apply(out(2))))
	w := p.NewWorker()
	var res Result
	orig := buildPacket(t, pktSpec{proto: "tcp"})
	setDSCP(orig, false, 10) // AF11
	buf := make([]byte, 0, 2048)
	allocs := testing.AllocsPerRun(1000, func() {
		buf = append(buf[:0], orig...)
		w.Process(buf, 1, &res)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per metered packet", allocs)
	}
}
