package memifbench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mswitch/mswitch/control"
	"github.com/mswitch/mswitch/daemon"
	_ "github.com/mswitch/mswitch/logic/all"
)

var (
	pktgenOnce sync.Once
	pktgenDir  string
	pktgenErr  error
)

// buildPktgen builds pktgen once for the package's benchmarks.
func buildPktgen(b *testing.B) string {
	pktgenOnce.Do(func() {
		pktgenDir, pktgenErr = os.MkdirTemp("", "mswb-memif-pktgen")
		if pktgenErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", pktgenDir+"/", "github.com/mswitch/mswitch/cmd/pktgen").CombinedOutput()
		if err != nil {
			pktgenErr = fmt.Errorf("build pktgen: %w\n%s", err, out)
		}
	})
	if pktgenErr != nil {
		b.Fatal(pktgenErr)
	}
	return pktgenDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pktgenDir != "" {
		os.RemoveAll(pktgenDir)
	}
	os.Exit(code)
}

// BenchmarkDaemon runs mswitchd's code (package daemon, as cmd/mswitchd
// does) in the test process, with pktgen tx and rx as processes around it,
// so that -cpuprofile shows where mswitchd spends its time:
//
//	go test -run '^$' -bench 'Daemon/poll/ring=1024/60$' -benchtime 20000000x -cpuprofile cpu.out ./bench/memif
//	go tool pprof -top bench/memif/memif.test cpu.out
//
// An op is one packet sent by pktgen tx at full speed; Mpps is what pktgen
// rx received, loss% what it did not.
func BenchmarkDaemon(b *testing.B) {
	for _, mode := range []string{"interrupt", "poll"} {
		for _, ring := range []uint8{DefaultRing, BigRing} {
			for _, size := range []int{60, 1514} {
				b.Run(fmt.Sprintf("%s/ring=%d/%d", mode, 1<<ring, size), func(b *testing.B) { benchDaemon(b, mode, ring, size) })
			}
		}
	}
}

func benchDaemon(b *testing.B, mode string, ring uint8, size int) {
	bin := buildPktgen(b)
	dir, err := os.MkdirTemp("", "mswb-d")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := daemon.Listen(filepath.Join(dir, "mswitchd.sock"), -1)
	if err != nil {
		b.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: d.Handler()}
	go srv.Serve(l)
	defer func() {
		d.Close()
		srv.Close()
	}()
	r := &runner{dir: dir, bin: bin, sock: filepath.Join(dir, "memif.sock"),
		c: control.NewClient(filepath.Join(dir, "mswitchd.sock"))}
	defer func() {
		for _, p := range r.procs {
			p.Kill()
		}
	}()
	ctx := context.Background()
	if err := r.setupSw0(ctx); err != nil {
		b.Fatal(err)
	}
	p := pairFor(mode, ring)
	rx, err := r.start("pktgen", "-socket", r.sock, "-id", fmt.Sprint(p.rxID), "-f", "rx", "-mode", mode, "-ring", fmt.Sprint(ring),
		"-d", "120s", "-q", "-json")
	if err != nil {
		b.Fatal(err)
	}
	if err := r.waitLink(ctx, "sw0", p.rxPort, true); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	tx, err := r.start("pktgen", "-socket", r.sock, "-id", fmt.Sprint(p.txID), "-f", "tx", "-mode", mode, "-ring", fmt.Sprint(ring),
		"-l", fmt.Sprint(size), "-n", fmt.Sprint(b.N), "-d", "100s", "-dst-mac", pgMAC(p.rxID), "-q", "-json")
	if err != nil {
		b.Fatal(err)
	}
	if err := tx.Wait(110 * time.Second); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	time.Sleep(200 * time.Millisecond)
	if err := rx.Stop(syscall.SIGINT, 5*time.Second); err != nil {
		b.Fatal(err)
	}
	var ts, rs pgSummary
	if err := tx.JSON(&ts); err != nil {
		b.Fatal(err)
	}
	if err := rx.JSON(&rs); err != nil {
		b.Fatal(err)
	}
	if ts.TX == nil || rs.RX == nil {
		b.Fatal("pktgen summaries without tx or rx counts")
	}
	b.ReportMetric(rs.RX.Mpps, "Mpps")
	if ts.TX.Packets > 0 {
		b.ReportMetric(100*float64(ts.TX.Packets-min(ts.TX.Packets, rs.RX.Packets))/float64(ts.TX.Packets), "loss%")
	}
}
