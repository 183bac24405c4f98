package bench

import (
	"fmt"
	"testing"

	"github.com/mswitch/mswitch/fabric"
	"github.com/mswitch/mswitch/logic/xconnect"
)

// fig6Sizes are the frame sizes of Figure 6, in bytes without the CRC. The
// last two are chained over 2048-byte buffers.
var fig6Sizes = []int{60, 124, 252, 508, 1020, 1514, 9000, 65535}

// BenchmarkFig6 forwards between two virtual ports with the cross-connect, for
// every frame size (paper Figure 6, one ring per port).
func BenchmarkFig6(b *testing.B) {
	for _, size := range fig6Sizes {
		b.Run(fmt.Sprintf("xconnect/size=%d", size), func(b *testing.B) {
			x := xconnect.New()
			sw := newSwitch(b, fabric.Options{Logic: x})
			src := attachSource(b, sw, "src", udpFrame(size))
			dst := attachSink(b, sw, "dst", sourceSlots)
			if err := x.Connect(src.id, dst); err != nil {
				b.Fatal(err)
			}
			runSingle(b, src, dst, sw.Batch(), size)
		})
	}
}
