package ipsec

import "testing"

// TestKeepSA checks that both ends of a connection, each seeing the same
// IKE_SAs from its side (initiator flags swapped), keep the same one.
func TestKeepSA(t *testing.T) {
	type sa struct {
		name        string
		lowInit     bool // initiated by the lower address
		established int64
	}
	cases := []struct {
		name string
		sas  []sa
		want string
	}{
		{"simultaneous: the lower end's wins", []sa{{"A", true, 5}, {"B", false, 4}}, "A"},
		{"simultaneous, other order", []sa{{"B", false, 6}, {"A", true, 3}}, "A"},
		{"two from the lower end: the newest", []sa{{"A1", true, 8}, {"A2", true, 2}, {"B", false, 5}}, "A2"},
		{"left over from before a restart: the newest wins", []sa{{"old", true, 600}, {"new", false, 3}}, "new"},
		{"window edge", []sa{{"A", true, 14}, {"B", false, 3}}, "B"},
		{"inside the window", []sa{{"A", true, 13}, {"B", false, 3}}, "A"},
	}
	for _, c := range cases {
		for _, lower := range []bool{true, false} {
			var in []ikeSA
			for _, s := range c.sas {
				// This end initiated it iff it was initiated by the lower
				// address and this end is the lower one, or neither.
				in = append(in, ikeSA{id: s.name, initiator: s.lowInit == lower, established: s.established})
			}
			if got := in[keepSA(in, lower)].id; got != c.want {
				t.Errorf("%s (this end lower: %v): keeps %s, want %s", c.name, lower, got, c.want)
			}
		}
	}
}
