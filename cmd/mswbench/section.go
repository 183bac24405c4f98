package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// A section is the part of BENCHMARKS.md that one process-level set
// rewrites, between <!-- NAME:start --> and <!-- NAME:end -->; the rest of
// the file, the fabric's generated section and the hand-written text
// included, is kept. The set's data goes to bench/NAME.csv, and the
// hand-written analysis the section includes lives in bench/NAME-notes.md,
// which a run reads and never writes.
type section string

// The process-level sets.
const (
	memifSection    section = "memif"
	kernelSection   section = "kernel"
	stackSection    section = "stack"
	openflowSection section = "openflow"
)

func (s section) start() string { return "<!-- " + string(s) + ":start -->" }
func (s section) end() string   { return "<!-- " + string(s) + ":end -->" }

// splice replaces s's part of doc by gen; a doc without it gets it at its
// end.
func (s section) splice(doc, gen string) string {
	if strings.TrimSpace(doc) == "" {
		doc = "# Benchmarks\n"
	}
	start, end := s.start(), s.end()
	i := strings.Index(doc, start)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return strings.TrimRight(doc, "\n") + "\n\n" + start + "\n" + gen + end + "\n"
	}
	return doc[:i+len(start)] + "\n" + gen + doc[j:]
}

// publish writes csv to out/bench/NAME.csv, then the section that write
// produces, given mswbench's command line and the notes, into
// out/BENCHMARKS.md. It returns the path of BENCHMARKS.md.
func (s section) publish(out string, csv []byte, write func(w io.Writer, cmdline, notes string)) (string, error) {
	dir := filepath.Join(out, "bench")
	name := string(s) + ".csv"
	if err := os.WriteFile(filepath.Join(dir, name), csv, 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	cmdline := strings.TrimSpace("go run ./cmd/mswbench " + strings.Join(quoteArgs(os.Args[1:]), " "))
	notes, _ := os.ReadFile(filepath.Join(dir, string(s)+"-notes.md"))
	var gen strings.Builder
	write(&gen, cmdline, string(notes))
	md := filepath.Join(out, "BENCHMARKS.md")
	old, err := os.ReadFile(md)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", md, err)
	}
	if err := os.WriteFile(md, []byte(s.splice(string(old), gen.String())), 0o644); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	return md, nil
}
