// Package control is the client of mswitchd's control API: typed calls over
// HTTP and JSON on the daemon's unix socket, used by mswitchctl.
//
//	c := control.NewClient(control.DefaultSocket)
//	sws, err := c.Switches(ctx)
//
// Every error a call returns is one sentence a person can act on: the
// daemon's own message for a refused request (an *Error, with the HTTP
// status), or, when the daemon cannot be reached, a sentence that says why
// and wraps ErrNotRunning or ErrPermission.
//
// The API is plain enough for curl:
//
//	curl --unix-socket /run/mswitch/mswitchd.sock http://mswitch/v1/switches
//
// Its routes are listed in the documentation of package daemon.
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"time"
)

// Errors a call wraps when it cannot talk to the daemon.
var (
	// ErrNotRunning: nothing listens on the socket.
	ErrNotRunning = errors.New("mswitchd is not running")
	// ErrPermission: the socket is there but this user may not use it.
	ErrPermission = errors.New("permission denied")
)

// Error is a request the daemon refused. Message is the daemon's sentence.
type Error struct {
	Status  int // the HTTP status: 400 bad request, 404 not found, 409 conflict...
	Message string
}

func (e *Error) Error() string { return e.Message }

// IsNotFound reports whether err is the daemon saying that something named
// in the request does not exist.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// reachError is an error reaching the daemon: a sentence, the sentinel it
// stands for and the underlying error.
type reachError struct {
	msg      string
	sentinel error
	err      error
}

func (e *reachError) Error() string   { return e.msg }
func (e *reachError) Unwrap() []error { return []error{e.sentinel, e.err} }

// Client talks to one mswitchd. Its methods are safe for concurrent use.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client of the daemon listening on socket.
func NewClient(socket string) *Client {
	d := net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		},
		DisableCompression: true,
		MaxIdleConns:       2,
		IdleConnTimeout:    30 * time.Second,
	}
	return &Client{socket: socket, hc: &http.Client{Transport: tr}}
}

// Socket returns the path of the daemon's socket.
func (c *Client) Socket() string { return c.socket }

// Close releases the client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Version returns the daemon's version and the modules it knows.
func (c *Client) Version(ctx context.Context) (VersionInfo, error) {
	var v VersionInfo
	return v, c.do(ctx, http.MethodGet, "/v1/version", nil, &v)
}

// Modules lists the switching logics the daemon knows.
func (c *Client) Modules(ctx context.Context) ([]string, error) {
	var m []string
	return m, c.do(ctx, http.MethodGet, "/v1/modules", nil, &m)
}

// PollThreads lists the daemon's poll threads and the queues each drains.
func (c *Client) PollThreads(ctx context.Context) ([]PollThread, error) {
	var t []PollThread
	return t, c.do(ctx, http.MethodGet, "/v1/poll-threads", nil, &t)
}

// Switches lists the switches.
func (c *Client) Switches(ctx context.Context) ([]SwitchInfo, error) {
	var s []SwitchInfo
	return s, c.do(ctx, http.MethodGet, "/v1/switches", nil, &s)
}

// Switch describes one switch.
func (c *Client) Switch(ctx context.Context, name string) (SwitchInfo, error) {
	var s SwitchInfo
	return s, c.do(ctx, http.MethodGet, path("switches", name), nil, &s)
}

// AddSwitch creates a switch.
func (c *Client) AddSwitch(ctx context.Context, spec SwitchSpec) (SwitchInfo, error) {
	var s SwitchInfo
	return s, c.do(ctx, http.MethodPost, "/v1/switches", spec, &s)
}

// DeleteSwitch deletes a switch and its ports.
func (c *Client) DeleteSwitch(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, path("switches", name), nil, nil)
}

// Ports lists the ports of a switch, with their state.
func (c *Client) Ports(ctx context.Context, sw string) ([]PortInfo, error) {
	var p []PortInfo
	return p, c.do(ctx, http.MethodGet, path("switches", sw, "ports"), nil, &p)
}

// Port describes one port.
func (c *Client) Port(ctx context.Context, sw, port string) (PortInfo, error) {
	var p PortInfo
	return p, c.do(ctx, http.MethodGet, path("switches", sw, "ports", port), nil, &p)
}

// AddPort creates a port and attaches it to a switch.
func (c *Client) AddPort(ctx context.Context, sw string, spec PortSpec) (PortInfo, error) {
	var p PortInfo
	return p, c.do(ctx, http.MethodPost, path("switches", sw, "ports"), spec, &p)
}

// DeletePort detaches a port and deletes it.
func (c *Client) DeletePort(ctx context.Context, sw, port string) error {
	return c.do(ctx, http.MethodDelete, path("switches", sw, "ports", port), nil, nil)
}

// Module describes a switch's switching logic and its counters.
func (c *Client) Module(ctx context.Context, sw string) (ModuleInfo, error) {
	var m ModuleInfo
	return m, c.do(ctx, http.MethodGet, path("switches", sw, "module"), nil, &m)
}

// SetModule replaces a switch's switching logic while traffic flows.
func (c *Client) SetModule(ctx context.Context, sw, module string) error {
	return c.do(ctx, http.MethodPut, path("switches", sw, "module"), ModuleSpec{Name: module}, nil)
}

// Learning dumps a learning bridge's table.
func (c *Client) Learning(ctx context.Context, sw string) ([]LearningEntry, error) {
	var e []LearningEntry
	return e, c.do(ctx, http.MethodGet, path("switches", sw, "learning"), nil, &e)
}

// AddStatic adds (or re-points) a static entry of a learning bridge.
func (c *Client) AddStatic(ctx context.Context, sw string, e LearningEntry) error {
	return c.do(ctx, http.MethodPost, path("switches", sw, "learning"), e, nil)
}

// DeleteStatic deletes a static entry of a learning bridge.
func (c *Client) DeleteStatic(ctx context.Context, sw, mac string, vlan uint16) error {
	p := path("switches", sw, "learning", mac)
	if vlan != 0 {
		p += "?vlan=" + strconv.Itoa(int(vlan))
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil)
}

// FlushLearning deletes every learned entry of a learning bridge; static
// entries stay.
func (c *Client) FlushLearning(ctx context.Context, sw string) error {
	return c.do(ctx, http.MethodPost, path("switches", sw, "learning", "flush"), nil, nil)
}

// L4Rules lists the rules of an l4filter switch.
func (c *Client) L4Rules(ctx context.Context, sw string) ([]L4Rule, error) {
	var r []L4Rule
	return r, c.do(ctx, http.MethodGet, path("switches", sw, "l4filter"), nil, &r)
}

// AddL4Rule adds (or replaces) an l4filter rule.
func (c *Client) AddL4Rule(ctx context.Context, sw string, r L4Rule) error {
	return c.do(ctx, http.MethodPost, path("switches", sw, "l4filter"), r, nil)
}

// DeleteL4Rule deletes the l4filter rule for proto ("tcp" or "udp") and
// L4 port.
func (c *Client) DeleteL4Rule(ctx context.Context, sw, proto string, port uint16) error {
	return c.do(ctx, http.MethodDelete, path("switches", sw, "l4filter", proto, strconv.Itoa(int(port))), nil, nil)
}

// Reservations lists the 3-tuple reservations of a multistack switch.
func (c *Client) Reservations(ctx context.Context, sw string) ([]Reservation, error) {
	var r []Reservation
	return r, c.do(ctx, http.MethodGet, path("switches", sw, "multistack", "reservations"), nil, &r)
}

// Reserve gives the 3-tuple <r.Proto, r.IP, r.Port> to switch port r.Out of
// a multistack switch. The daemon refuses (409) a tuple reserved already or
// bound by a socket of the host's stack.
func (c *Client) Reserve(ctx context.Context, sw string, r Reservation) error {
	return c.do(ctx, http.MethodPost, path("switches", sw, "multistack", "reservations"), r, nil)
}

// Release deletes the reservation of the 3-tuple <r.Proto, r.IP, r.Port>
// (r.Out plays no part).
func (c *Client) Release(ctx context.Context, sw string, r Reservation) error {
	return c.do(ctx, http.MethodDelete, path("switches", sw, "multistack", "reservations", r.Proto, r.IP, strconv.Itoa(int(r.Port))), nil, nil)
}

// Multistack returns the port roles of a multistack switch.
func (c *Client) Multistack(ctx context.Context, sw string) (MultistackSpec, error) {
	var s MultistackSpec
	return s, c.do(ctx, http.MethodGet, path("switches", sw, "multistack"), nil, &s)
}

// SetMultistack sets the port roles of a multistack switch: the NIC
// (uplink) port and the host stack's port ("" for none).
func (c *Client) SetMultistack(ctx context.Context, sw string, spec MultistackSpec) error {
	return c.do(ctx, http.MethodPut, path("switches", sw, "multistack"), spec, nil)
}

// XConnect lists the mappings of an xconnect switch, by input port.
func (c *Client) XConnect(ctx context.Context, sw string) ([]Mapping, error) {
	var m []Mapping
	return m, c.do(ctx, http.MethodGet, path("switches", sw, "xconnect"), nil, &m)
}

// Connect maps m.In to m.Out (and back, if m.Both).
func (c *Client) Connect(ctx context.Context, sw string, m Mapping) error {
	return c.do(ctx, http.MethodPost, path("switches", sw, "xconnect"), m, nil)
}

// Disconnect removes the mapping of input port in.
func (c *Client) Disconnect(ctx context.Context, sw, in string) error {
	return c.do(ctx, http.MethodDelete, path("switches", sw, "xconnect", in), nil, nil)
}

// Stats returns the counters of every switch.
func (c *Client) Stats(ctx context.Context) ([]SwitchStats, error) {
	var s []SwitchStats
	return s, c.do(ctx, http.MethodGet, "/v1/stats", nil, &s)
}

// SwitchStats returns the counters of one switch.
func (c *Client) SwitchStats(ctx context.Context, sw string) (SwitchStats, error) {
	var s SwitchStats
	return s, c.do(ctx, http.MethodGet, path("switches", sw, "stats"), nil, &s)
}

// CaptureOptions bound a capture. With neither Count nor Duration it runs
// until the context is cancelled.
type CaptureOptions struct {
	Count     int           // stop after this many packets
	Duration  time.Duration // stop after this long
	Direction string        // "in", "out" or "" for both
}

// Capture is a running packet capture: a pcap stream (Ethernet link type,
// microsecond timestamps), readable with any pcap reader.
type Capture struct {
	resp *http.Response
	eof  bool
}

// Capture starts capturing the packets that enter and leave a port.
func (c *Client) Capture(ctx context.Context, sw, port string, opts CaptureOptions) (*Capture, error) {
	q := url.Values{}
	if opts.Count > 0 {
		q.Set("count", strconv.Itoa(opts.Count))
	}
	if opts.Duration > 0 {
		q.Set("duration", opts.Duration.String())
	}
	if opts.Direction != "" {
		q.Set("direction", opts.Direction)
	}
	p := path("switches", sw, "ports", port, "capture")
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	resp, err := c.send(ctx, http.MethodGet, p, nil)
	if err != nil {
		return nil, err
	}
	return &Capture{resp: resp}, nil
}

// Read reads the pcap stream; it returns io.EOF when the capture ended
// (its count or duration reached, or the port deleted).
func (c *Capture) Read(p []byte) (int, error) {
	n, err := c.resp.Body.Read(p)
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}

// Close stops the capture.
func (c *Capture) Close() error { return c.resp.Body.Close() }

// Dropped returns the number of packets the daemon could not capture
// because the stream did not keep up. It is known (ok) only once Read has
// returned io.EOF.
func (c *Capture) Dropped() (n uint64, ok bool) {
	if !c.eof {
		return 0, false
	}
	v := c.resp.Trailer.Get(CaptureDroppedTrailer)
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}

// path joins API path elements under /v1, escaping each.
func path(elems ...string) string {
	var b bytes.Buffer
	b.WriteString("/v1")
	for _, e := range elems {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(e))
	}
	return b.String()
}

// do sends a request with body in (if not nil) encoded as JSON, and decodes
// the response into out (if not nil).
func (c *Client) do(ctx context.Context, method, p string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, p, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode mswitchd's answer to %s %s: %w", method, p, err)
	}
	return nil
}

// send sends a request and returns a 2xx response, or the error the
// daemon answered, or why the daemon could not be reached.
func (c *Client) send(ctx context.Context, method, p string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://mswitch"+p, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.reachErr(err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb ErrorBody
	if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
		eb.Error = fmt.Sprintf("mswitchd answered %s to %s %s: %s", resp.Status, method, p, bytes.TrimSpace(b))
	}
	return nil, &Error{Status: resp.StatusCode, Message: eb.Error}
}

// reachErr turns a failure to talk to the daemon into a sentence.
func (c *Client) reachErr(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, syscall.ENOENT):
		return &reachError{
			msg:      fmt.Sprintf("mswitchd is not running (no socket at %s): start it with `mswitchd`, or point --socket at its socket", c.socket),
			sentinel: ErrNotRunning, err: err,
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &reachError{
			msg:      fmt.Sprintf("mswitchd is not running (nothing listens on %s): start it with `mswitchd`", c.socket),
			sentinel: ErrNotRunning, err: err,
		}
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return &reachError{
			msg:      fmt.Sprintf("permission denied on %s: run as root or as a member of %s", c.socket, socketGroup(c.socket)),
			sentinel: ErrPermission, err: err,
		}
	}
	return fmt.Errorf("talk to mswitchd at %s: %w", c.socket, err)
}

// socketGroup names the group that owns the socket, for the permission
// error's advice.
func socketGroup(socket string) string {
	fi, err := os.Stat(socket)
	if err != nil {
		return "the socket's group"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "the socket's group"
	}
	gid := strconv.FormatUint(uint64(st.Gid), 10)
	if g, err := user.LookupGroupId(gid); err == nil {
		return fmt.Sprintf("group %q", g.Name)
	}
	return "group " + gid
}

// OpenFlow returns the openflow settings and state of switch sw.
func (c *Client) OpenFlow(ctx context.Context, sw string) (OpenFlowInfo, error) {
	var out OpenFlowInfo
	err := c.do(ctx, "GET", path("switches", sw, "openflow"), nil, &out)
	return out, err
}

// SetOpenFlow changes the openflow settings of switch sw (empty fields
// keep their value).
func (c *Client) SetOpenFlow(ctx context.Context, sw string, spec OpenFlowSpec) error {
	return c.do(ctx, "PUT", path("switches", sw, "openflow"), spec, nil)
}

// TraceOpenFlow traces a frame through switch sw's flow tables.
func (c *Client) TraceOpenFlow(ctx context.Context, sw string, tr OpenFlowTrace) (string, error) {
	var out OpenFlowTraceResult
	err := c.do(ctx, "POST", path("switches", sw, "openflow", "trace"), tr, &out)
	return out.Trace, err
}
