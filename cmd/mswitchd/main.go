// Command mswitchd is the mswitch daemon: it hosts named software switches,
// with their memif and pipe ports, and serves the control API (HTTP and
// JSON on a unix socket) that mswitchctl and curl speak:
//
//	mswitchd                                  # /run/mswitch/mswitchd.sock, /var/lib/mswitch/state.json
//	mswitchd -dir /tmp/msw -metrics 127.0.0.1:9100
//	curl --unix-socket /tmp/msw/mswitchd.sock http://mswitch/v1/switches
//
// The configuration (switches, modules, ports, static learning entries,
// l4filter rules, xconnect mappings) is saved to the state file after
// every change and restored at start; memif clients reconnect by
// themselves. SIGTERM or SIGINT closes every switch and removes the socket.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/daemon"
	_ "github.com/mswitch/mswitch/logic/all"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mswitchd:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	dir, socket, state, memifSocket string
	group, metrics, logLevel        string
	logJSON, version                bool
	pollThreads                     int
	pollCPUs                        []int
	pollSleep                       bool
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("mswitchd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dir, "dir", "", "put the control socket, the default memif socket and the state file in this `directory` (for tests and unprivileged use)")
	fs.StringVar(&o.socket, "socket", "", "control socket `path` (default "+control.DefaultSocket+", or DIR/mswitchd.sock)")
	fs.StringVar(&o.state, "state", "", "state file `path` (default "+daemon.DefaultStatePath+", or DIR/state.json); \"none\" keeps no state")
	fs.StringVar(&o.memifSocket, "memif-socket", "", "default memif socket `path` (default "+daemon.DefaultRunDir+"/memif.sock, or DIR/memif.sock)")
	fs.StringVar(&o.group, "group", "", "`group` (name or ID) allowed to use the control socket, besides root")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics on this TCP `address` (e.g. 127.0.0.1:9100)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.BoolVar(&o.logJSON, "log-json", false, "log in JSON instead of text")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.IntVar(&o.pollThreads, "poll-threads", 1, "number of poll `threads` (as Open vSwitch's PMD threads) that drain the queues of all poll-mode ports; 0: a goroutine per queue instead")
	fs.BoolVar(&o.pollSleep, "poll-sleep", true, "let a poll thread whose queues have all been empty for a while (about 16 ms) sleep in short steps until packets come; false: it polls for ever, as a DPDK PMD thread (lowest latency, a whole CPU at any load)")
	fs.Func("poll-cpus", "pin the poll threads to these `CPUs`, a list such as 2,3 or 2-5 (thread i on the i-th, round robin)", func(v string) error {
		cpus, err := daemon.ParseCPUList(v)
		if err != nil {
			return err
		}
		o.pollCPUs = cpus
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mswitchd [flags]\n\nThe mswitch daemon. Flags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.pollThreads < 0 {
		return nil, fmt.Errorf("--poll-threads %d is negative", o.pollThreads)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: mswitchd takes flags only", fs.Arg(0))
	}
	runDir := daemon.DefaultRunDir
	if o.dir != "" {
		abs, err := filepath.Abs(o.dir)
		if err != nil {
			return nil, err
		}
		o.dir, runDir = abs, abs
	}
	if o.socket == "" {
		o.socket = control.DefaultSocket
		if o.dir != "" {
			o.socket = filepath.Join(o.dir, "mswitchd.sock")
		}
	}
	switch {
	case o.state == "none":
		o.state = ""
	case o.state == "" && o.dir != "":
		o.state = filepath.Join(o.dir, "state.json")
	case o.state == "":
		o.state = daemon.DefaultStatePath
	}
	if o.memifSocket == "" {
		o.memifSocket = filepath.Join(runDir, "memif.sock")
	}
	if o.dir == "" {
		o.dir = runDir
	}
	return o, nil
}

func run(args []string, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.version {
		fmt.Println("mswitchd", control.Version)
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("log level %q is not debug, info, warn or error", o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(stderr, hopts)
	if o.logJSON {
		h = slog.NewJSONHandler(stderr, hopts)
	}
	log := slog.New(h)
	slog.SetDefault(log)

	gid := -1
	if o.group != "" {
		if gid, err = lookupGroup(o.group); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serve(ctx, o, gid, log)
}

// serve runs the daemon until ctx is done.
func serve(ctx context.Context, o *options, gid int, log *slog.Logger) error {
	// The socket first: a second daemon must fail before it touches the
	// first one's memif sockets.
	l, err := daemon.Listen(o.socket, gid)
	if err != nil {
		return err
	}
	defer l.Close()
	threads := o.pollThreads
	if threads == 0 {
		threads = -1 // the daemon's "none"
	}
	d, err := daemon.New(daemon.Config{StatePath: o.state, Dir: o.dir, MemifSocket: o.memifSocket, Logger: log,
		PollThreads: threads, PollCPUs: o.pollCPUs, PollNoSleep: !o.pollSleep})
	if err != nil {
		return err
	}
	defer d.Close()

	errc := make(chan error, 2)
	api := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { errc <- api.Serve(l) }()
	var metrics *http.Server
	if o.metrics != "" {
		ml, err := net.Listen("tcp", o.metrics)
		if err != nil {
			return fmt.Errorf("listen for metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", d.MetricsHandler())
		metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- metrics.Serve(ml) }()
		log.Info("serving metrics", "addr", ml.Addr().String())
	}
	log.Info("mswitchd started", "version", control.Version, "socket", o.socket, "state", o.state, "memif", o.memifSocket)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
		log.Error("serve", "err", err)
	}
	// Close the daemon first: it ends the captures, which would hold the
	// API server's Shutdown.
	cerr := d.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = api.Shutdown(sctx)
	if metrics != nil {
		_ = metrics.Shutdown(sctx)
	}
	if err == nil {
		err = cerr
	}
	log.Info("mswitchd stopped")
	return err
}

// lookupGroup resolves a group name or ID.
func lookupGroup(name string) (int, error) {
	if g, err := user.LookupGroup(name); err == nil {
		return strconv.Atoi(g.Gid)
	}
	if g, err := user.LookupGroupId(name); err == nil {
		return strconv.Atoi(g.Gid)
	}
	return 0, fmt.Errorf("group %q does not exist: create it (groupadd %s) or name another with -group", name, name)
}
