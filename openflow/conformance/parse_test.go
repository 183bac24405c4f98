package main

import "testing"

const sample = `--- Test start ---
waiting for switches connection...
dpid=0000000000000001 : Join target SW.
match: 03_ETH_DST
    ethernet/ipv4/tcp-->'eth_dst=22:22:22:22:22:22,actions=output:2'                                     OK
    ethernet/ipv6/tcp-->'eth_dst=22:22:22:22:22:22,actions=output:2'                                     ERROR
        Received incorrect packet: ethernet(dst='22:22:22:22:22:22')
    ethernet/arp-->'eth_dst=22:22:22:22:22:22,actions=output:2'                                          ERROR
        Failed to add flows: OFPErrorMsg[type=0x04, code=0x0b]
---  Test end  ---

--- Test report ---
Received incorrect packet(1)
    match: 03_ETH_DST                        ethernet/ipv6/tcp-->'eth_dst=22:22:22:22:22:22,actions=output:2'

OK(1) / ERROR(2)
`

func TestParse(t *testing.T) {
	r := Parse(sample)
	ok, bad := r.Counts()
	if ok != 1 || bad != 2 || r.FinalOK != 1 || r.FinalErr != 2 {
		t.Fatalf("ok %d bad %d final %d/%d: %+v", ok, bad, r.FinalOK, r.FinalErr, r.Results)
	}
	if r.Results[0].File != "match: 03_ETH_DST" {
		t.Errorf("file %q", r.Results[0].File)
	}
	if got := r.Results[2].Msg; got != "Failed to add flows: OFPErrorMsg[type=0x04, code=0x0b]" || normalize(got) != "Failed to add flows: OFPErrorMsg[type=0x04, code=0x0b] (BAD_MATCH)" {
		t.Errorf("msg %q", got)
	}
	top := TopFailures(r.Results)
	if len(top) != 2 || top[0].N != 1 {
		t.Errorf("top %+v", top)
	}
}

func TestPerFile(t *testing.T) {
	fs := PerFile(Parse(sample).Results)
	if len(fs) != 1 || fs[0] != (FileCount{File: "match: 03_ETH_DST", OK: 1, Bad: 2}) {
		t.Fatalf("%+v", fs)
	}
}
