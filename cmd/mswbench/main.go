// Command mswbench runs the benchmarks of package bench, which reproduce the
// mSwitch paper's Figures 6, 10, 11, 12 and 16, and publishes the results.
//
// Usage, from the repository root:
//
//	go run ./cmd/mswbench [-bench regexp] [-benchtime 0.5s] [-count 5] [-out docs] [-raw file]
//
// It runs TestZeroAllocs, then n rounds of
//
//	go test -run '^$' -bench <regexp> -benchtime <t> -count 1 ./bench
//
// (rounds rather than -count n, so that each benchmark's samples are spread
// over the whole run and a burst of load from elsewhere on the machine
// spoils one sample of several benchmarks, not all samples of one), keeps
// the median of each metric over the rounds, and writes, under the -out
// directory:
//
//	bench/raw.txt      the go test output, for benchstat
//	bench/results.csv  the median of every metric of every benchmark
//	bench/fig*.png     the figures, drawn after the paper's
//	BENCHMARKS.md      machine, command, targets and one table per figure,
//	                   between the markers <!-- generated:start --> and
//	                   <!-- generated:end -->; the rest of the file is kept
//
// With -raw, it publishes the output of an earlier go test run instead of
// running the benchmarks. The default run takes about six minutes on two
// cores.
//
// With -memif, it runs the memif set instead (package bench/memif: mswitchd,
// pktgen and dpdk-testpmd as processes, about four minutes) and writes
// bench/memif.csv, bench/memif-*.png and the section of BENCHMARKS.md
// between <!-- memif:start --> and <!-- memif:end -->, including the
// hand-written bench/memif-notes.md; -memif-quick runs it with tiny
// durations, to try the command (use another -out).
//
// With -kernel, it runs the kernel set instead (package bench/kernel, as
// root: mswitchd's afxdp and afpacket ports, the Linux bridge and Open
// vSwitch's userspace datapath on veths in network namespaces, with
// trafgen, iperf3 and ping; eight to twelve minutes) and writes
// bench/kernel.csv, bench/kernel-*.png and the section of BENCHMARKS.md
// between <!-- kernel:start --> and <!-- kernel:end -->, including the
// hand-written bench/kernel-notes.md; -kernel-quick runs it with one-second
// windows, and -kernel-commit builds mswitchd from a commit rather than the
// work tree.
//
// With -stack, it runs the stack set instead (package bench/stack, as root:
// wrk in a namespace against an HTTP server on mswitch-stack's user-level
// stack and on the kernel's stack, behind one multistack switch; about four
// minutes) and writes bench/stack.csv, bench/stack.png and the section of
// BENCHMARKS.md between <!-- stack:start --> and <!-- stack:end -->,
// including the hand-written bench/stack-notes.md; -stack-quick runs it
// with two-second runs, once.
//
// With -openflow, it runs the openflow set instead (package bench/openflow,
// as root: mswitch's openflow module against Open vSwitch's DPDK datapath,
// both on memif ports driven by pktgen, the same rule sets loaded with
// ovs-ofctl; about ten minutes) and writes bench/openflow.csv,
// bench/openflow-*.png and the section of BENCHMARKS.md between
// <!-- openflow:start --> and <!-- openflow:end -->, including the
// hand-written bench/openflow-notes.md; -openflow-quick runs it with tiny
// rule sets and one-second runs.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("mswbench: ")
	var o options
	flag.StringVar(&o.bench, "bench", ".", "run only the benchmarks matching `regexp`")
	flag.StringVar(&o.benchtime, "benchtime", "0.5s", "run each benchmark for `t` (a duration, or Nx)")
	flag.IntVar(&o.count, "count", 5, "run every benchmark `n` times (rounds) and keep the medians")
	flag.StringVar(&o.out, "out", "docs", "write BENCHMARKS.md and bench/ under `dir`")
	flag.StringVar(&o.raw, "raw", "", "do not run the benchmarks: publish the go test output in `file`")
	memif := flag.Bool("memif", false, "run the memif set (mswitchd, pktgen, testpmd as processes) instead, and publish it in its own section")
	memifQuick := flag.Bool("memif-quick", false, "run the memif set with tiny durations (to try it; give another -out)")
	kernel := flag.Bool("kernel", false, "run the kernel set (mswitch, Linux bridge, OVS on veths; root) instead, and publish it in its own section")
	kernelQuick := flag.Bool("kernel-quick", false, "run the kernel set with one-second windows (to try it; give another -out)")
	kernelCommit := flag.String("kernel-commit", "", "build mswitchd for the kernel set from this `commit` (git archive) instead of the work tree")
	stack := flag.Bool("stack", false, "run the stack set (HTTP to a user-level stack and to the kernel's behind a multistack switch; root) instead, and publish it in its own section")
	stackQuick := flag.Bool("stack-quick", false, "run the stack set with two-second runs, once (to try it; give another -out)")
	openflow := flag.Bool("openflow", false, "run the openflow set (mswitch's openflow module against OVS-DPDK on memif; root) instead, and publish it in its own section")
	openflowQuick := flag.Bool("openflow-quick", false, "run the openflow set with tiny rule sets and one-second runs (to try it; give another -out)")
	flag.Parse()
	if flag.NArg() > 0 || o.count < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if *openflow || *openflowQuick {
		if err := runOpenflow(o, *openflowQuick); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *stack || *stackQuick {
		if err := runStack(o, *stackQuick); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *kernel || *kernelQuick {
		if err := runKernel(o, *kernelQuick, *kernelCommit); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *memif || *memifQuick {
		if err := runMemif(o, *memifQuick); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

type options struct {
	bench, benchtime, out, raw string
	count                      int
}

const pkg = "./bench"

func run(o options) error {
	if _, err := os.Stat(pkg); err != nil {
		return fmt.Errorf("find %s: run mswbench from the repository root: %w", pkg, err)
	}
	dir := filepath.Join(o.out, "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}

	log.Printf("go test -run '^TestZeroAllocs$' %s", pkg)
	allocOut, allocErr := exec.Command("go", "test", "-count", "1", "-run", "^TestZeroAllocs$", pkg).CombinedOutput()
	if allocErr != nil {
		log.Printf("TestZeroAllocs failed: %v\n%s", allocErr, allocOut)
	}

	// Each round runs every benchmark once, so that a benchmark's samples
	// are spread over the whole run: on a shared machine, a burst of load
	// then spoils one sample of many benchmarks (which the median drops)
	// rather than every sample of one.
	args := []string{"test", "-run", "^$", "-bench", o.bench, "-benchtime", o.benchtime,
		"-count", "1", "-timeout", "60m", pkg}
	goTest := fmt.Sprintf("`go %s`, %d rounds", strings.Join(quoteArgs(args), " "), o.count)
	var raw []byte
	if o.raw != "" {
		var err error
		if raw, err = os.ReadFile(o.raw); err != nil {
			return fmt.Errorf("read benchmark output: %w", err)
		}
		goTest = "output of an earlier run, " + o.raw
	} else {
		start := time.Now()
		var err error
		if raw, err = goTestRounds(args, o.count, filepath.Join(dir, "raw.txt")); err != nil {
			return err
		}
		log.Printf("benchmarks took %v", time.Since(start).Round(time.Second))
	}

	rs, err := parse(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if len(rs.list) == 0 {
		return errors.New("no benchmark matched " + o.bench)
	}
	if err := writeCSV(filepath.Join(dir, "results.csv"), rs); err != nil {
		return err
	}
	if err := plotAll(rs, dir); err != nil {
		return err
	}

	rep := &report{
		Date:    time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Machine: describeMachine(),
		Command: "go run ./cmd/mswbench " + strings.Join(quoteArgs(os.Args[1:]), " "),
		GoTest:  goTest,
		Results: rs,
		Targets: targets(rs, allocErr),
	}
	rep.Command = strings.TrimSpace(rep.Command)
	if allocErr != nil {
		rep.AllocOut = string(allocOut)
	}
	md := filepath.Join(o.out, "BENCHMARKS.md")
	old, err := os.ReadFile(md)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", md, err)
	}
	var gen bytes.Buffer
	writeMarkdown(&gen, rep)
	if err := os.WriteFile(md, []byte(splice(string(old), gen.String())), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for _, t := range rep.Targets {
		log.Printf("%-12s %s: %s (goal %s)", t.Status, t.What, t.Got, t.Want)
	}
	log.Printf("wrote %s and %s", md, dir)
	return nil
}

// goTestRounds runs go with args rounds times, copying its output to the
// terminal and to the file raw, and returns the output of every round.
func goTestRounds(args []string, rounds int, raw string) ([]byte, error) {
	f, err := os.Create(raw)
	if err != nil {
		return nil, fmt.Errorf("create raw output: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	for i := 1; i <= rounds; i++ {
		log.Printf("round %d/%d: go %s", i, rounds, strings.Join(quoteArgs(args), " "))
		cmd := exec.Command("go", args...)
		cmd.Stdout = io.MultiWriter(&buf, f, os.Stdout)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go test, round %d: %w (output in %s)", i, err, raw)
		}
	}
	return buf.Bytes(), f.Close()
}

// quoteArgs single-quotes the arguments a shell would mangle.
func quoteArgs(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " ^$*?[]|()\\'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return q
}
