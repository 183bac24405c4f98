package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	stackbench "github.com/mswitch/mswitch/bench/stack"
)

// TestStackPublish draws and writes the section of a report shaped like a
// full run's, and splices it into a document twice.
func TestStackPublish(t *testing.T) {
	dir := os.Getenv("MSWB_PLOT_DIR") // to look at the plot
	if dir == "" {
		dir = t.TempDir()
	}
	rep := &stackbench.Report{Options: stackbench.Full(), Start: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC),
		Took: 200 * time.Second, Machine: stackbench.Machine{CPU: "cpu", Cores: 2, Kernel: "6.18"},
		Versions: map[string]string{"wrk": "wrk 4.1.0", "mswitch": "abc123"}}
	for i, wl := range stackbench.Workloads {
		for j, s := range []string{stackbench.ServerUser, stackbench.ServerKernel} {
			rps := float64(20000 - 5000*i + 3000*j)
			rep.Rows = append(rep.Rows, stackbench.Row{Server: s, Workload: wl, RPS: rps, Gbps: rps * float64(wl.Size) * 8 / 1e9,
				P50: time.Millisecond, P99: 3 * time.Millisecond, ServerUS: 30, SwitchUS: 10, RPSAll: []float64{rps, rps, rps}})
		}
	}
	ps, err := plotStack(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := savePNG(filepath.Join(dir, "stack.png"), ps); err != nil {
		t.Fatal(err)
	}
	var gen bytes.Buffer
	writeStackMarkdown(&gen, rep, machine{Go: "go1.26"}, "go run ./cmd/mswbench -stack", "notes here")
	md := gen.String()
	for _, want := range []string{"| short (64 B) | user-level | 20000 |", "| 64k | 0.77 |", "notes here", "bench/stack.png"} {
		if !strings.Contains(md, want) {
			t.Errorf("section lacks %q:\n%s", want, md)
		}
	}
	doc := stackSection.splice("# Benchmarks\n\nkept\n", md)
	doc = stackSection.splice(doc, "again\n")
	if strings.Count(doc, stackSection.start()) != 1 || !strings.Contains(doc, "kept") || !strings.Contains(doc, "again") || strings.Contains(doc, "notes here") {
		t.Errorf("splice:\n%s", doc)
	}
}
