package config

import (
	"slices"
	"strings"
)

// Op is what happened to a configuration object between two models.
type Op int

const (
	Added Op = iota
	Removed
	Changed
)

func (o Op) String() string { return [...]string{"added", "removed", "changed"}[o] }

// MarshalText names the operation in JSON output.
func (o Op) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Change is one object that differs between two configurations: a block
// (Kind "interface", Key "interface tun0") or a one-line statement (Kind
// "firewall-access", Key "firewall-access 12").
type Change struct {
	Kind string `json:"kind"`
	Key  string `json:"key"`
	Op   Op     `json:"op"`
	// Old and New are the object's rendered lines (the header and its
	// body for blocks); Old is empty when Added, New when Removed.
	Old []string `json:"old,omitempty"`
	New []string `json:"new,omitempty"`
}

// unit is one object of a rendered configuration.
type unit struct {
	kind, key string
	lines     []string
}

// units splits a rendered configuration into its objects, in order.
func units(text string) []unit {
	var out []unit
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line == "!" {
			continue
		}
		if line[0] == ' ' {
			if n := len(out); n > 0 {
				out[n-1].lines = append(out[n-1].lines, line)
			}
			continue
		}
		kind, key := identify(line)
		out = append(out, unit{kind: kind, key: key, lines: []string{line}})
	}
	return out
}

// identify names the object a top-level line configures.
func identify(line string) (kind, key string) {
	f := strings.Fields(line)
	first := func(n int) string { return strings.Join(f[:min(n, len(f))], " ") }
	switch {
	case strings.HasPrefix(f[0], "firewall-disable"):
		return f[0], line
	case strings.HasPrefix(f[0], "firewall-"):
		return f[0], first(2)
	case f[0] == "interface":
		return "interface", line
	case f[0] == "ip" && len(f) > 1 && f[1] == "route":
		return "ip route", first(5)
	case f[0] == "ip":
		return first(2), first(2)
	case f[0] == "ipsec" && len(f) > 1 && (f[1] == "start" || f[1] == "stop"):
		return "ipsec service", "ipsec service"
	case f[0] == "ipsec" || f[0] == "router":
		return first(2), line
	}
	return f[0], f[0]
}

// Diff lists the objects that differ between two configurations, in the
// order of the rendered `to` (removed objects in the order of `from`).
func Diff(from, to *Config) []Change {
	return diffText(Render(from), Render(to))
}

func diffText(a, b string) []Change {
	ua, ub := units(a), units(b)
	index := func(us []unit) map[string]int {
		m := make(map[string]int, len(us))
		for i, u := range us {
			m[u.key] = i
		}
		return m
	}
	ia, ib := index(ua), index(ub)
	var out []Change
	for _, u := range ua {
		if _, ok := ib[u.key]; !ok {
			out = append(out, Change{Kind: u.kind, Key: u.key, Op: Removed, Old: u.lines})
		}
	}
	for _, u := range ub {
		j, ok := ia[u.key]
		switch {
		case !ok:
			out = append(out, Change{Kind: u.kind, Key: u.key, Op: Added, New: u.lines})
		case !slices.Equal(ua[j].lines, u.lines):
			out = append(out, Change{Kind: u.kind, Key: u.key, Op: Changed, Old: ua[j].lines, New: u.lines})
		}
	}
	return out
}

// CompareText renders the difference between two configurations in the
// style of Junos `show | compare`: for each changed block, an `[edit …]`
// header and its lines prefixed with `-` or `+`; top-level statements
// under `[edit]`. It is empty when the configurations are the same.
func CompareText(from, to *Config) string {
	var b strings.Builder
	edit := ""
	header := func(h string) {
		if h != edit {
			b.WriteString(h)
			b.WriteByte('\n')
			edit = h
		}
	}
	for _, c := range Diff(from, to) {
		if len(c.Old) > 1 || len(c.New) > 1 || c.Kind == "interface" || strings.HasPrefix(c.Kind, "ipsec ") && c.Kind != "ipsec service" || c.Kind == "router ospf" {
			blockHeader := c.Key
			switch c.Op {
			case Added:
				header("[edit]")
				for _, l := range c.New {
					b.WriteString("+ " + l + "\n")
				}
			case Removed:
				header("[edit]")
				for _, l := range c.Old {
					b.WriteString("- " + l + "\n")
				}
			case Changed:
				header("[edit " + blockHeader + "]")
				writeLineDiff(&b, c.Old[1:], c.New[1:])
			}
			continue
		}
		header("[edit]")
		for _, l := range c.Old {
			b.WriteString("- " + l + "\n")
		}
		for _, l := range c.New {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

// writeLineDiff prints a minimal line diff (longest common subsequence).
func writeLineDiff(b *strings.Builder, a, c []string) {
	n, m := len(a), len(c)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == c[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == c[j]:
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			b.WriteString("+" + c[j] + "\n")
			j++
		default:
			b.WriteString("-" + a[i] + "\n")
			i++
		}
	}
}
