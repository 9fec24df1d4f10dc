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

// unit is one object of a rendered configuration: lines[start:end] of the
// text, a top-level line and the indented lines below it.
type unit struct {
	kind, key  string
	start, end int
}

// units splits a rendered configuration into its objects, in order.
func units(lines []string) []unit {
	out := make([]unit, 0, len(lines)/2)
	for i, line := range lines {
		if line == "" || line == "!" {
			continue
		}
		if line[0] == ' ' {
			if n := len(out); n > 0 {
				out[n-1].end = i + 1
			}
			continue
		}
		kind, key := identify(line)
		out = append(out, unit{kind: kind, key: key, start: i, end: i + 1})
	}
	return out
}

// words returns the first n blank-separated words of line as one
// substring (no allocation).
func words(line string, n int) string {
	end := 0
	for w := 0; w < n; w++ {
		i := strings.IndexByte(line[end:], ' ')
		if i < 0 {
			return line
		}
		end += i + 1
	}
	return line[:end-1]
}

// identify names the object a top-level line configures.
func identify(line string) (kind, key string) {
	first := words(line, 1)
	switch {
	case first == "firewall-disable":
		return first, line
	case strings.HasPrefix(first, "firewall-"):
		return first, words(line, 2)
	case first == "interface":
		return first, line
	case first == "ip":
		two := words(line, 2)
		if two == "ip route" {
			return two, words(line, 5)
		}
		return two, two
	case first == "ipsec":
		two := words(line, 2)
		if two == "ipsec start" || two == "ipsec stop" {
			return "ipsec service", "ipsec service"
		}
		return two, line
	case first == "router":
		return words(line, 2), line
	}
	return first, first
}

// Diff lists the objects that differ between two configurations, in the
// order of the rendered `to` (removed objects in the order of `from`).
func Diff(from, to *Config) []Change {
	return diffText(Render(from), Render(to))
}

// DiffText is Diff of two rendered configurations.
func DiffText(from, to string) []Change { return diffText(from, to) }

func diffText(a, b string) []Change {
	if a == b {
		return nil
	}
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	ua, ub := units(la), units(lb)
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
			out = append(out, Change{Kind: u.kind, Key: u.key, Op: Removed, Old: la[u.start:u.end]})
		}
	}
	for _, u := range ub {
		j, ok := ia[u.key]
		switch {
		case !ok:
			out = append(out, Change{Kind: u.kind, Key: u.key, Op: Added, New: lb[u.start:u.end]})
		case !slices.Equal(la[ua[j].start:ua[j].end], lb[u.start:u.end]):
			out = append(out, Change{Kind: u.kind, Key: u.key, Op: Changed, Old: la[ua[j].start:ua[j].end], New: lb[u.start:u.end]})
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
