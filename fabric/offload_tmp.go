package fabric

import (
	"errors"

	"github.com/mswitch/mswitch/frame/vnet"
)

// TEMPORARY, until frame/vnet has the software fallbacks: GSO packets to
// ports without offload are dropped (segCount 0: oversize).

func segCount(h vnet.Hdr, size int) int { return 0 }

func segLen(h vnet.Hdr, size, k int) int {
	pay := size - int(h.HdrLen) - k*int(h.GSOSize)
	return int(h.HdrLen) + min(pay, int(h.GSOSize))
}

func writeSegment(dst []byte, src [][]byte, h vnet.Hdr, k int) (int, error) {
	return 0, errors.New("not yet")
}

func finishChecksum(bufs [][]byte, h vnet.Hdr) {}
