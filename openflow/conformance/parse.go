package main

import (
	"bufio"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Result is one test case as the tester printed it.
type Result struct {
	File string // the file's description, e.g. "match: 00_IN_PORT"
	Test string // the test's description
	OK   bool
	Msg  string // the error line after an ERROR
}

// Report is what one run of the tester printed.
type Report struct {
	Results []Result
	// Final holds the tester's own "OK(n) / ERROR(m)" totals, or -1 if it
	// did not print them (the run was cut short).
	FinalOK, FinalErr int
}

var (
	// "    <description padded to 100> OK|ERROR"
	resultLine = regexp.MustCompile(`^    (\S.*?)\s+(OK|ERROR)$`)
	// "OK(12) / ERROR(3)"
	finalLine = regexp.MustCompile(`^OK\((\d+)\) / ERROR\((\d+)\)$`)
	// A file's description: "match: 00_IN_PORT", "action: 25_SET_FIELD: 03_ETH_DST"
	fileLine = regexp.MustCompile(`^(match|action|group|meter): \S`)
)

// Parse reads the tester's log (stderr of osken-manager).
func Parse(log string) Report {
	r := Report{FinalOK: -1, FinalErr: -1}
	file := ""
	inReport := false
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \r")
		if strings.Contains(line, "--- Test report ---") {
			inReport = true
			continue
		}
		if m := finalLine.FindStringSubmatch(line); m != nil {
			r.FinalOK, _ = strconv.Atoi(m[1])
			r.FinalErr, _ = strconv.Atoi(m[2])
			continue
		}
		if inReport {
			continue
		}
		if fileLine.MatchString(line) {
			file = line
			continue
		}
		if m := resultLine.FindStringSubmatch(line); m != nil {
			r.Results = append(r.Results, Result{File: file, Test: m[1], OK: m[2] == "OK"})
			continue
		}
		if strings.HasPrefix(line, "        ") && len(r.Results) > 0 {
			last := &r.Results[len(r.Results)-1]
			if !last.OK && last.Msg == "" {
				last.Msg = strings.TrimSpace(line)
			}
		}
	}
	return r
}

// Counts returns the passed and failed tests.
func (r Report) Counts() (ok, failed int) {
	for _, x := range r.Results {
		if x.OK {
			ok++
		} else {
			failed++
		}
	}
	return
}

// MsgCount is a failure message and how often it came.
type MsgCount struct {
	Msg string
	N   int
}

// errTypes names the OpenFlow 1.3 error types.
var errTypes = map[string]string{
	"0x00": "HELLO_FAILED", "0x01": "BAD_REQUEST", "0x02": "BAD_ACTION", "0x03": "BAD_INSTRUCTION",
	"0x04": "BAD_MATCH", "0x05": "FLOW_MOD_FAILED", "0x06": "GROUP_MOD_FAILED", "0x07": "PORT_MOD_FAILED",
	"0x08": "TABLE_MOD_FAILED", "0x09": "QUEUE_OP_FAILED", "0x0a": "SWITCH_CONFIG_FAILED",
	"0x0b": "ROLE_REQUEST_FAILED", "0x0c": "METER_MOD_FAILED", "0x0d": "TABLE_FEATURES_FAILED",
}

var ofpErr = regexp.MustCompile(`OFPErrorMsg\[type=(0x[0-9a-f]+), code=(0x[0-9a-f]+)\]`)

// normalize shortens a failure message to its kind, without the packets
// or flows it names, so that the same failure counts once.
func normalize(msg string) string {
	if msg == "" {
		return "(no message)"
	}
	if m := ofpErr.FindStringSubmatchIndex(msg); m != nil {
		typ := msg[m[2]:m[3]]
		return msg[:m[1]] + " (" + errTypes[typ] + ")"
	}
	for _, p := range []string{"Added incorrect", "Received incorrect", "Receiving timeout", "Received unexpected"} {
		if strings.HasPrefix(msg, p) {
			if i := strings.Index(msg, ": "); i > 0 {
				return msg[:i]
			}
		}
	}
	if len(msg) > 120 {
		msg = msg[:120] + "..."
	}
	return msg
}

// TopFailures returns the failure kinds, most frequent first.
func TopFailures(rs []Result) []MsgCount {
	m := map[string]int{}
	for _, x := range rs {
		if !x.OK {
			m[normalize(x.Msg)]++
		}
	}
	var out []MsgCount
	for k, v := range m {
		out = append(out, MsgCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Msg < out[j].Msg
	})
	return out
}

// FileCount is the pass/fail count of one test file.
type FileCount struct {
	File    string
	OK, Bad int
}

// PerFile counts results per test file, in the order the files ran.
func PerFile(rs []Result) []FileCount {
	var out []FileCount
	idx := map[string]int{}
	for _, r := range rs {
		i, ok := idx[r.File]
		if !ok {
			i = len(out)
			idx[r.File] = i
			out = append(out, FileCount{File: r.File})
		}
		if r.OK {
			out[i].OK++
		} else {
			out[i].Bad++
		}
	}
	return out
}
