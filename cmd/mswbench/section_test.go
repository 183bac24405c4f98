package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSectionPublish(t *testing.T) {
	out := t.TempDir()
	dir := filepath.Join(out, "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	doc := "# B\n\nby hand\n\n" + memifSection.start() + "\nm\n" + memifSection.end() + "\n\nmore by hand\n"
	if err := os.WriteFile(filepath.Join(out, "BENCHMARKS.md"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stack-notes.md"), []byte("the notes"), 0o644); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		md, err := stackSection.publish(out, []byte("a,b\n"), func(w io.Writer, cmdline, notes string) {
			fmt.Fprintf(w, "round %d: %s\n", round, notes)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(md)
		want := doc + "\n" + stackSection.start() + fmt.Sprintf("\nround %d: the notes\n", round) + stackSection.end() + "\n"
		if string(got) != want {
			t.Fatalf("round %d: BENCHMARKS.md\n%s\nwant\n%s", round, got, want)
		}
		if csv, _ := os.ReadFile(filepath.Join(dir, "stack.csv")); string(csv) != "a,b\n" {
			t.Fatalf("stack.csv %q", csv)
		}
	}
	if got := memifSection.splice(doc, "m2\n"); !strings.Contains(got, "\nm2\n"+memifSection.end()) || !strings.HasSuffix(got, "more by hand\n") {
		t.Fatalf("splice: %s", got)
	}
}
