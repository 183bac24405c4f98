package ofp

import (
	"errors"
	"reflect"
	"testing"
)

// addSeeds seeds f with the sample messages and the golden captures.
func addSeeds(f *testing.F) {
	for i, m := range sampleMessages() {
		b, err := Append(nil, uint32(i), m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, path := range goldenFiles(f) {
		for _, b := range readGolden(f, path) {
			f.Add(b)
		}
	}
}

// FuzzDecode: Decode never panics, fails only with *Error, and what it
// decodes encodes to bytes that decode to the same value.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		h, _ := ParseHeader(b)
		b2, err := Append(nil, h.XID, m)
		if errors.Is(err, ErrTooLarge) {
			return // re-padding a HELLO element or table feature property can grow a message at the limit
		}
		if err != nil {
			t.Fatalf("re-encode %v: %v", h.Type, err)
		}
		m2, err := Decode(b2)
		if err != nil {
			t.Fatalf("decode of re-encoded %v: %v\n% x\n% x", h.Type, err, b, b2)
		}
		if hm, ok := m.(*Hello); ok && hm.Version == 0 {
			hm.Version = Version // Append writes Version for a HELLO without one
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip of %v differs:\n %#v\n %#v", h.Type, m, m2)
		}
	})
}

// matchSeeds are the encoded matches of the samples.
func matchSeeds() [][]byte {
	var r [][]byte
	for _, m := range []Match{{}, tcpMatch(), everyFieldMatch()} {
		b, _ := AppendMatch(nil, &m)
		r = append(r, b)
	}
	for _, c := range ofctlCases() {
		if fm, ok := c.m.(*FlowMod); ok {
			b, _ := AppendMatch(nil, &fm.Match)
			r = append(r, b)
		}
	}
	return r
}

// FuzzMatch: DecodeMatch never panics and round-trips; CheckPrereqs never
// panics.
func FuzzMatch(f *testing.F) {
	for _, b := range matchSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := DecodeMatch(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Type != ETBadMatch {
				t.Fatalf("error %v is not a BAD_MATCH *Error", err)
			}
			return
		}
		if n > len(b) || n%8 != 0 {
			t.Fatalf("length %d of %d bytes", n, len(b))
		}
		_ = m.CheckPrereqs()
		b2, err := AppendMatch(nil, &m)
		if err != nil {
			t.Fatal(err)
		}
		if len(b2) != n {
			t.Fatalf("re-encoded length %d, decoded %d", len(b2), n)
		}
		m2, n2, err := DecodeMatch(b2)
		if err != nil || n2 != n || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %v\n %#v\n %#v", err, m, m2)
		}
	})
}

// FuzzActions: DecodeActions never panics and round-trips.
func FuzzActions(f *testing.F) {
	b, _ := AppendActions(nil, everyAction())
	f.Add(b)
	for _, bk := range sampleBuckets() {
		b, _ := AppendActions(nil, bk.Actions)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		acts, err := DecodeActions(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Type != ETBadAction {
				t.Fatalf("error %v is not a BAD_ACTION *Error", err)
			}
			return
		}
		b2, err := AppendActions(nil, acts)
		if err != nil {
			t.Fatal(err)
		}
		if len(b2) != len(b) {
			t.Fatalf("re-encoded length %d, was %d", len(b2), len(b))
		}
		acts2, err := DecodeActions(b2)
		if err != nil || !reflect.DeepEqual(acts, acts2) {
			t.Fatalf("round trip: %v\n %#v\n %#v", err, acts, acts2)
		}
	})
}

// FuzzInstructions: DecodeInstructions never panics and round-trips.
func FuzzInstructions(f *testing.F) {
	b, _ := AppendInstructions(nil, everyInstruction())
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		insts, err := DecodeInstructions(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Type != ETBadInstruction && e.Type != ETBadAction) {
				t.Fatalf("error %v is not a BAD_INSTRUCTION/BAD_ACTION *Error", err)
			}
			return
		}
		b2, err := AppendInstructions(nil, insts)
		if err != nil {
			t.Fatal(err)
		}
		if len(b2) != len(b) {
			t.Fatalf("re-encoded length %d, was %d", len(b2), len(b))
		}
		insts2, err := DecodeInstructions(b2)
		if err != nil || !reflect.DeepEqual(insts, insts2) {
			t.Fatalf("round trip: %v\n %#v\n %#v", err, insts, insts2)
		}
	})
}
