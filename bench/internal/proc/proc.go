// Package proc runs the processes of the process-level benchmark sets
// (bench/memif, bench/kernel): mswitchd, pktgen, testpmd, trafgen, OVS.
// A Proc is ended by its PID, never by name; it never outlives the process
// that started it (Pdeathsig); and it leads a process group of its own, so
// that a signal also reaches the workers it forked (trafgen does).
//
// Pdeathsig fires when the OS thread that forked the process exits, not
// only when the program does, and Go forks from whichever thread the
// calling goroutine runs on. So no goroutine of a program using this
// package may let its thread exit (a goroutine that ends while locked with
// runtime.LockOSThread does): it would kill the processes forked from that
// thread.
package proc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Buffer is a bytes.Buffer safe for a process's stdout and stderr while a
// reader looks at it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A Proc is a process started in the background. Its methods are safe for
// concurrent use.
type Proc struct {
	Name string // the program, past "ip netns exec NS" and "taskset -c N"
	Cmd  *exec.Cmd
	Out  Buffer        // stdout and stderr
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, after done
}

// Start runs argv in the background with env added to the environment.
// Commands given as "ip netns exec NS taskset -c N prog ..." exec into prog,
// so the PID is prog's.
func Start(env []string, argv ...string) (*Proc, error) {
	p := &Proc{Name: filepath.Base(progName(argv)), Cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{})}
	if env != nil {
		p.Cmd.Env = append(os.Environ(), env...)
	}
	p.Cmd.Stdout, p.Cmd.Stderr = &p.Out, &p.Out
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	// Do not wait for the output of a child that outlived its parent.
	p.Cmd.WaitDelay = 2 * time.Second
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.Name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// progName is the program argv runs in the end, past ip netns exec and
// taskset.
func progName(argv []string) string {
	for i := 0; i < len(argv); i++ {
		switch filepath.Base(argv[i]) {
		case "ip":
			if i+3 < len(argv) && argv[i+1] == "netns" && argv[i+2] == "exec" {
				i += 3
				continue
			}
		case "taskset":
			if i+2 < len(argv) && argv[i+1] == "-c" {
				i += 2
				continue
			}
		}
		return argv[i]
	}
	return argv[0]
}

// PID is the process's ID.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the exit status, once Exited.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Wait waits at most d for the process to exit by itself, then kills it.
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.Signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s (pid %d) still running after %v: killed\n%s", p.Name, p.PID(), d, Tail(p.Out.String()))
	}
}

// Stop sends sig and waits at most d before SIGKILL.
func (p *Proc) Stop(sig syscall.Signal, d time.Duration) error {
	if p.Exited() {
		return p.err
	}
	p.Signal(sig)
	return p.Wait(d)
}

// Signal sends sig to the process's group, which it leads.
func (p *Proc) Signal(sig syscall.Signal) {
	syscall.Kill(-p.PID(), sig)
}

// Kill ends the process now, if it still runs.
func (p *Proc) Kill() {
	if !p.Exited() {
		p.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// JSON decodes the first JSON object in the process's output.
func (p *Proc) JSON(v any) error {
	out := p.Out.String()
	i := strings.IndexByte(out, '{')
	if i < 0 {
		return fmt.Errorf("no JSON summary from %s:\n%s", p.Name, Tail(out))
	}
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(v); err != nil {
		return fmt.Errorf("summary of %s: %w\n%s", p.Name, err, Tail(out))
	}
	return nil
}

// Tail returns the last lines of a process's output, for error messages.
func Tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}
