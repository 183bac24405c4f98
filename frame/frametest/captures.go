package frametest

import "encoding/hex"

// Capture is a frame captured from a real network stack (Linux loopback, so
// the MAC addresses are zero), for test tables and fuzz corpora.
type Capture struct {
	Name string
	Hex  string
	// What a parser should find: the IP protocol and the transport ports,
	// Proto 0 when the frame carries no TCP or UDP header.
	Proto    uint8
	Src, Dst uint16
}

// Captures lists the captured frames.
var Captures = []Capture{
	{
		Name: "ipv4-udp-dns-query", Proto: 17, Src: 34919, Dst: 53,
		Hex: "000000000000000000000000080045000039" +
			"82a340004011ba0e7f0000017f000001" +
			"886700350025fe38" +
			"123401000001000000000000076578616d706c6503636f6d0000010001",
	},
	{
		Name: "ipv4-icmp-port-unreachable",
		Hex: "000000000000000000000000080045c00055" +
			"babb00004001c12a7f0000017f000001" +
			"03039460000000004500003982a340004011ba0e7f0000017f000001" +
			"886700350025fe38123401000001000000000000076578616d706c6503636f6d0000010001",
	},
	{
		Name: "ipv6-udp", Proto: 17, Src: 51496, Dst: 5353,
		Hex: "00000000000000000000000086dd" +
			"6005bca8000d1140" +
			"00000000000000000000000000000001" +
			"00000000000000000000000000000001" +
			"c92814e9000d002068656c6c6f",
	},
	{
		Name: "ipv6-icmpv6-port-unreachable",
		Hex: "00000000000000000000000086dd" +
			"600fbae7003d3a40" +
			"00000000000000000000000000000001" +
			"00000000000000000000000000000001" +
			"0104ae74000000006005bca8000d1140000000000000000000000000000000010000" +
			"0000000000000000000000000001c92814e9000d002068656c6c6f",
	},
	{
		Name: "ipv4-tcp-syn-options", Proto: 6, Src: 53198, Dst: 9,
		Hex: "00000000000000000000000008004500003c" +
			"683140004006d4887f0000017f000001" +
			"cfce000952a5a15700000000a002ffd7fe300000" +
			"0204ffd70402080ae0899c14000000000103030a",
	},
	{
		Name: "ipv4-tcp-rst", Proto: 6, Src: 9, Dst: 53198,
		Hex: "000000000000000000000000080045000028" +
			"0000400040063cce7f0000017f000001" +
			"0009cfce0000000052a5a15850140000edf80000",
	},
}

// Bytes decodes the capture. It panics on a bad hex string (a bug in this
// file).
func (c Capture) Bytes() []byte {
	b, err := hex.DecodeString(c.Hex)
	if err != nil {
		panic("frametest: decode capture " + c.Name + ": " + err.Error())
	}
	return b
}
