package memif

import (
	"errors"
	"fmt"
	"strings"
)

// Mode says how the consumer of a ring learns that it has work.
type Mode int

const (
	// Interrupt: the consumer sleeps on the ring's eventfd, which the
	// producer signals after publishing. An idle queue costs no CPU.
	Interrupt Mode = iota
	// Poll: the consumer busy-polls the ring and sets MASK_INT on it, so
	// the producer never makes a system call to signal it.
	Poll
)

func (m Mode) String() string {
	switch m {
	case Interrupt:
		return "interrupt"
	case Poll:
		return "poll"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "interrupt" or "poll" (case-insensitive).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "interrupt":
		return Interrupt, nil
	case "poll":
		return Poll, nil
	}
	return 0, fmt.Errorf("parse memif mode %q: want interrupt or poll", s)
}

// Limits and defaults.
const (
	// MaxQueues is the most queue pairs a server port offers.
	MaxQueues = 16
	// DefaultLog2RingSize is the default ring size, 1024 slots.
	DefaultLog2RingSize = 10
	// MaxLog2RingSize is the largest ring a server port offers, 16384 slots.
	MaxLog2RingSize = 14
	// DefaultBufSize is the default buffer size of a client, as in DPDK and
	// libmemif.
	DefaultBufSize = 2048
	// MaxSecret is the length limit of a connection secret. DPDK clients
	// send at most 23 bytes of it.
	MaxSecret = secretSize
	// MaxName is the length limit of an application or interface name.
	MaxName = nameSize - 1

	// maxRegions is the most regions a client may add (HELLO advertises
	// the highest index, maxRegions-1).
	maxRegions = 256
	// maxRegionSize bounds one region: descriptor offsets are 32-bit.
	maxRegionSize = 1 << 32
	// maxDescLen bounds one descriptor's length; a packet longer than that
	// must be chained.
	maxDescLen = 1 << 16
)

// Sentinel errors.
var (
	// ErrIDInUse: NewPort was given an interface ID the server already has.
	ErrIDInUse = errors.New("interface ID already in use")
	// ErrServerClosed: the server was closed.
	ErrServerClosed = errors.New("memif server closed")
	// ErrNotConnected: a client's connection is gone (see Client.Err).
	ErrNotConnected = errors.New("memif not connected")
	// ErrQueue: a queue number the connection does not have.
	ErrQueue = errors.New("no such queue")
)

// RefusedError is the DISCONNECT a server answered a client's handshake
// with.
type RefusedError struct {
	Reason string // the server's reason string, e.g. "Incorrect secret"
}

func (e *RefusedError) Error() string { return "memif: server refused: " + e.Reason }

// DisconnectedError is a DISCONNECT received on an established connection.
type DisconnectedError struct {
	Reason string
}

func (e *DisconnectedError) Error() string { return "memif: peer disconnected: " + e.Reason }

// Reject reasons: the keys of PortStatus.Rejects and ServerStatus.Rejects,
// one per kind of hostile or invalid input.
const (
	RejectMessage    = "bad message"    // wrong size, unknown type, out of order, stray fd
	RejectVersion    = "version"        // not protocol 2.0
	RejectID         = "id"             // no interface with that ID (server level)
	RejectBusy       = "busy"           // the interface already has a client
	RejectMode       = "mode"           // not ethernet mode
	RejectSecret     = "secret"         // secret missing or wrong
	RejectRegion     = "bad region"     // region index, size, fd, seals
	RejectRing       = "bad ring"       // ring index, region, offset, size, fd, cookie; indices that jump
	RejectDescriptor = "bad descriptor" // a descriptor outside the client's regions or too short
	RejectTimeout    = "timeout"        // handshake not finished in time
)
