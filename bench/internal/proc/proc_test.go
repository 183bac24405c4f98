package proc

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProgName(t *testing.T) {
	argv := []string{"ip", "netns", "exec", "ns", "taskset", "-c", "1", "/usr/sbin/trafgen", "-v"}
	if p := progName(argv); p != "/usr/sbin/trafgen" {
		t.Error(p)
	}
}

func TestStartStop(t *testing.T) {
	p, err := Start([]string{"MSW_X=1"}, "sh", "-c", `echo "$MSW_X"; echo '{"a":2}'; exec sleep 30`)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "sh" {
		t.Errorf("name %q", p.Name)
	}
	for !strings.Contains(p.Out.String(), "{") {
		time.Sleep(10 * time.Millisecond)
	}
	var v struct{ A int }
	if err := p.JSON(&v); err != nil || v.A != 2 || !strings.HasPrefix(p.Out.String(), "1\n") {
		t.Fatalf("JSON: %v %+v, output %q", err, v, p.Out.String())
	}
	if err := p.Stop(syscall.SIGTERM, 5*time.Second); err == nil || !p.Exited() {
		t.Fatalf("Stop: %v, exited %v", err, p.Exited())
	}
	q, _ := Start(nil, "sleep", "30")
	if err := q.Wait(50 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Wait: %v", err)
	}
}
