package control

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestPathEscapes(t *testing.T) {
	if got := path("switches", "a b", "ports", "x/y"); got != "/v1/switches/a%20b/ports/x%2Fy" {
		t.Fatalf("path %s", got)
	}
}

func TestReachErrors(t *testing.T) {
	c := NewClient("/run/x.sock")
	op := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", errno)}
	}
	for _, tc := range []struct {
		err      error
		sentinel error
		prefix   string
	}{
		{op(syscall.ENOENT), ErrNotRunning, "mswitchd is not running (no socket at /run/x.sock): start it with `mswitchd`"},
		{op(syscall.ECONNREFUSED), ErrNotRunning, "mswitchd is not running (nothing listens on /run/x.sock): start it with `mswitchd`"},
		{op(syscall.EACCES), ErrPermission, "permission denied on /run/x.sock: run as root or as a member of "},
	} {
		err := c.reachErr(tc.err)
		if !errors.Is(err, tc.sentinel) || !strings.HasPrefix(err.Error(), tc.prefix) {
			t.Errorf("reachErr(%v) = %v", tc.err, err)
		}
	}
	if err := c.reachErr(context.Canceled); err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}
}

// Answers that are not the daemon's JSON errors still make a sentence.
func TestErrorAnswers(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/switches", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error": "no switch \"x\"; switches: none"}`))
	})
	mux.HandleFunc("/v1/modules", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusBadGateway)
	})
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	c := NewClient(sock)
	defer c.Close()
	_, err = c.Switches(context.Background())
	if !IsNotFound(err) || err.Error() != `no switch "x"; switches: none` {
		t.Fatalf("404: %v", err)
	}
	_, err = c.Modules(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Status != 502 || err.Error() != "mswitchd answered 502 Bad Gateway to GET /v1/modules: boom" {
		t.Fatalf("502: %v", err)
	}
}
