package channel

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultPort is the IANA port of OpenFlow, used when a target names none.
const DefaultPort = 6653

// A Target is where the switch meets its controllers: an address it dials
// (active) or one it listens on (passive). Targets are written as OVS does:
//
//	tcp:IP[:PORT]     connect to a controller (PORT 6653 when omitted)
//	unix:PATH         connect to a controller on a unix socket
//	ptcp:[PORT][:IP]  listen for controllers (PORT 6653, IP 127.0.0.1 when omitted)
//	punix:PATH        listen on a unix socket
//
// IPv6 addresses go in brackets: tcp:[2001:db8::1]:6653, ptcp:6653:[::1].
type Target struct {
	Passive bool
	Network string // "tcp" or "unix"
	Address string // host:port for tcp, a path for unix
}

// ParseTarget parses a target in the forms listed at [Target].
func ParseTarget(s string) (Target, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Target{}, fmt.Errorf("parse target %q: want tcp:IP[:PORT], ptcp:[PORT][:IP], unix:PATH or punix:PATH", s)
	}
	var t Target
	switch kind {
	case "tcp", "ptcp":
		t = Target{Passive: kind == "ptcp", Network: "tcp"}
		host, port, err := splitHostPort(rest, t.Passive)
		if err != nil {
			return Target{}, fmt.Errorf("parse target %q: %w", s, err)
		}
		t.Address = net.JoinHostPort(host, strconv.Itoa(port))
	case "unix", "punix":
		if rest == "" {
			return Target{}, fmt.Errorf("parse target %q: empty socket path", s)
		}
		t = Target{Passive: kind == "punix", Network: "unix", Address: rest}
	default:
		return Target{}, fmt.Errorf("parse target %q: unknown kind %q (want tcp, ptcp, unix or punix)", s, kind)
	}
	return t, nil
}

// splitHostPort parses IP[:PORT] (active) or [PORT][:IP] (passive).
func splitHostPort(s string, passive bool) (host string, port int, err error) {
	port = DefaultPort
	var portStr string
	if passive {
		portStr, host, _ = strings.Cut(s, ":")
		if host == "" {
			host = "127.0.0.1"
		}
	} else {
		host = s
		if strings.HasPrefix(s, "[") {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return "", 0, fmt.Errorf("missing ] in %q", s)
			}
			host, portStr = s[1:end], s[end+1:]
			if portStr != "" {
				if portStr[0] != ':' {
					return "", 0, fmt.Errorf("unexpected %q after ]", portStr)
				}
				portStr = portStr[1:]
			}
		} else if h, p, ok := strings.Cut(s, ":"); ok {
			host, portStr = h, p
		}
		if host == "" {
			return "", 0, fmt.Errorf("missing controller IP")
		}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("%q is not an IP address", host)
	}
	if portStr != "" {
		port, err = strconv.Atoi(portStr)
		if err != nil || port < 0 || port > 65535 || (port == 0 && !passive) {
			return "", 0, fmt.Errorf("bad port %q", portStr)
		}
	}
	return host, port, nil
}

// String returns the target in the syntax ParseTarget reads.
func (t Target) String() string {
	switch {
	case t.Network == "unix" && t.Passive:
		return "punix:" + t.Address
	case t.Network == "unix":
		return "unix:" + t.Address
	case t.Passive:
		host, port, err := net.SplitHostPort(t.Address)
		if err != nil {
			return "ptcp:" + t.Address
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return "ptcp:" + port + ":" + host
	default:
		return "tcp:" + t.Address
	}
}

// FailMode is what the switch does while no controller is connected (spec
// 1.3.5 §6.3.7). The channel does not act on it: it reports the controller
// state through Options.OnControllerState and the datapath applies the mode.
type FailMode uint8

const (
	// FailSecure: the datapath keeps its flow table and sends nothing to
	// controllers; flows expire as usual.
	FailSecure FailMode = iota
	// FailStandalone: the datapath acts as a learning switch while no
	// controller is connected.
	FailStandalone
)

// ParseFailMode parses "secure" or "standalone".
func ParseFailMode(s string) (FailMode, error) {
	switch s {
	case "secure":
		return FailSecure, nil
	case "standalone":
		return FailStandalone, nil
	}
	return 0, fmt.Errorf("parse fail mode %q: want secure or standalone", s)
}

// MarshalText makes Status print the fail mode by name in JSON.
func (m FailMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

func (m FailMode) String() string {
	if m == FailStandalone {
		return "standalone"
	}
	return "secure"
}
