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
	if out, ok := diffMiddle(a, b); ok {
		return out
	}
	return diffFull(a, b)
}

// diffFull compares every object of the two texts.
func diffFull(a, b string) []Change {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	return diffUnits(la, units(la), lb, units(lb))
}

// diffUnits lists the objects that differ between la and lb, whose objects
// are ua and ub: first those of la whose key is not in lb, then, in the
// order of lb, those whose key is not in la or whose lines differ from the
// last object of la with that key.
func diffUnits(la []string, ua []unit, lb []string, ub []unit) []Change {
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

// diffMiddle is diffFull for two texts that share most of their beginning
// and end, as the configurations before and after a commit do, without
// splitting and indexing all of both.
//
// The texts are a = P+A+S and b = P+B+S, where P and S are the longest
// common prefix and suffix cut back to the start of an object, so that the
// objects of a are those of P, A and S in turn, and the same for b. An
// object of P or S is the same in both texts; it takes part in the result
// only if its key is also the key of an object of A or B (a block whose
// lines moved, say), or appears twice in P and S. diffMiddle finds the
// objects of P and S that share a key with A or B ("touched"), and runs
// diffUnits on those with A and B, which gives the result of diffFull: the
// other objects of P and S yield nothing there. It gives up (ok false) when
// a key appears twice in P and S, where diffFull compares an object of P
// with another; to see that cheaply, it expects the numbered rules of a
// chain in ascending order, as rendered, and also gives up when they are
// not.
func diffMiddle(a, b string) (out []Change, ok bool) {
	p := commonPrefix(a, b)
	// cut: the start of an object in both texts, at or before the first
	// line that differs.
	cut := strings.LastIndexByte(a[:p], '\n') + 1
	if !startsUnit(a[cut:]) || !startsUnit(b[cut:]) {
		for end := cut; ; {
			if end == 0 {
				cut = 0
				break
			}
			start := strings.LastIndexByte(a[:end-1], '\n') + 1
			if startsUnit(a[start:end]) {
				cut = start
				break
			}
			end = start
		}
	}
	// ea, eb: where S starts, at the start of an object (or the end).
	s := commonSuffix(a[cut:], b[cut:])
	ea, eb := len(a)-s, len(b)-s
	d := 0 // offset of S in the common suffix
	if !(ea == cut || a[ea-1] == '\n') || !(eb == cut || b[eb-1] == '\n') {
		d = s
		if i := strings.IndexByte(a[ea:], '\n'); i >= 0 {
			d = i + 1
		}
	}
	for d < s && !startsUnit(a[ea+d:]) {
		i := strings.IndexByte(a[ea+d:], '\n')
		if i < 0 {
			d = s
			break
		}
		d += i + 1
	}
	ea, eb = ea+d, eb+d
	ma, mb := middleLines(a, cut, ea), middleLines(b, cut, eb)
	uma, umb := units(ma), units(mb)
	var keys keySet
	for _, u := range uma {
		keys.add(u.key)
	}
	for _, u := range umb {
		keys.add(u.key)
	}
	// The touched objects of P, then of S, and whether a key repeats.
	sc := &sharedScan{keys: &keys}
	if !sc.scan(a[:cut]) {
		return nil, false
	}
	pre := sc.touched
	sc.touched = nil
	if !sc.scan(a[ea:]) {
		return nil, false
	}
	post := sc.touched
	join := func(mid []string, umid []unit) ([]string, []unit) {
		var lines []string
		var us []unit
		add := func(ls []string, u []unit) {
			for _, x := range u {
				x.start += len(lines)
				x.end += len(lines)
				us = append(us, x)
			}
			lines = append(lines, ls...)
		}
		for _, t := range pre {
			add(t.lines, []unit{t.unit})
		}
		add(mid, umid)
		for _, t := range post {
			add(t.lines, []unit{t.unit})
		}
		return lines, us
	}
	la, ua := join(ma, uma)
	lb, ub := join(mb, umb)
	return diffUnits(la, ua, lb, ub), true
}

// startsUnit reports whether text begins with a line that starts an
// object (see units).
func startsUnit(text string) bool {
	line := text
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		line = text[:i]
	}
	return line != "" && line != "!" && line[0] != ' '
}

// middleLines returns the lines of text[start:end]: the end of the text,
// or the lines before the line starting at end.
func middleLines(text string, start, end int) []string {
	switch {
	case end == len(text):
		return strings.Split(text[start:], "\n")
	case end == start:
		return nil
	}
	return strings.Split(text[start:end-1], "\n")
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for _, chunk := range [...]int{4096, 64} {
		for i+chunk <= n && a[i:i+chunk] == b[i:i+chunk] {
			i += chunk
		}
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

func commonSuffix(a, b string) int {
	n := min(len(a), len(b))
	i := 0 // length of the common suffix so far
	for _, chunk := range [...]int{4096, 64} {
		for i+chunk <= n && a[len(a)-i-chunk:len(a)-i] == b[len(b)-i-chunk:len(b)-i] {
			i += chunk
		}
	}
	for i < n && a[len(a)-i-1] == b[len(b)-i-1] {
		i++
	}
	return i
}

// keySet is a set of object keys, usually a handful.
type keySet struct {
	list []string
	m    map[string]bool
}

func (s *keySet) add(k string) {
	if s.m != nil {
		s.m[k] = true
		return
	}
	if slices.Contains(s.list, k) {
		return
	}
	if len(s.list) < 8 {
		s.list = append(s.list, k)
		return
	}
	s.m = make(map[string]bool, 2*len(s.list))
	for _, x := range s.list {
		s.m[x] = true
	}
	s.m[k] = true
}

func (s *keySet) has(k string) bool {
	if s.m != nil {
		return s.m[k]
	}
	return slices.Contains(s.list, k)
}

// touchedUnit is an object of the common prefix or suffix whose key is
// also that of an object in between, with its lines.
type touchedUnit struct {
	unit
	lines []string
}

// sharedScan walks the objects of the common prefix and suffix of two
// texts (P and S of diffMiddle), keeping those whose key is in keys and
// checking that no key repeats.
type sharedScan struct {
	keys    *keySet
	touched []touchedUnit
	seen    map[string]bool // keys, but those of the ascending rules
	// last number of each rule chain (firewall-access …), in the order of
	// first sight
	chains []chainLast
}

type chainLast struct {
	kind string
	num  int
}

// scan walks the objects of text, where indented lines before the first
// object belong to none (P starts the text, S starts at an object); it
// reports false when a key repeats (or might).
func (sc *sharedScan) scan(text string) bool {
	cur := -1   // index in sc.touched of the object being read, or -1
	curEnd := 0 // the end of its last line in text
	for pos := 0; pos < len(text); {
		end := len(text)
		if i := strings.IndexByte(text[pos:], '\n'); i >= 0 {
			end = pos + i
		}
		line := text[pos:end]
		next := end + 1
		switch {
		case line == "" || line == "!":
		case line[0] == ' ':
			if cur >= 0 {
				curEnd = end
			}
		default:
			if cur >= 0 {
				sc.finish(text, cur, curEnd)
				cur = -1
			}
			kind, key, fresh := sc.identify(line)
			if !fresh {
				return false
			}
			if sc.keys.has(key) {
				cur, curEnd = len(sc.touched), end
				sc.touched = append(sc.touched, touchedUnit{unit: unit{kind: kind, key: key, start: pos}})
			}
		}
		pos = next
	}
	if cur >= 0 {
		sc.finish(text, cur, curEnd)
	}
	return true
}

// finish gives touched object k, which ends at end, its lines.
func (sc *sharedScan) finish(text string, k, end int) {
	t := &sc.touched[k]
	t.lines = strings.Split(text[t.start:end], "\n")
	t.start, t.end = 0, len(t.lines)
}

// identify is identify(line) that also reports whether the key is seen
// for the first time. The key of a numbered rule is fresh when its number
// is above that of the chain's previous rule; when it is not, fresh is
// false though the key may be new.
func (sc *sharedScan) identify(line string) (kind, key string, fresh bool) {
	if strings.HasPrefix(line, "firewall-") {
		if sp := strings.IndexByte(line, ' '); sp >= 0 && line[:sp] != "firewall-disable" {
			kind = line[:sp]
			key = line
			if i := strings.IndexByte(line[sp+1:], ' '); i >= 0 {
				key = line[:sp+1+i]
			}
			if n, ok := ruleNumber(key[sp+1:]); ok {
				for i := range sc.chains {
					if c := &sc.chains[i]; c.kind == kind {
						if n <= c.num {
							return kind, key, false
						}
						c.num = n
						return kind, key, true
					}
				}
				sc.chains = append(sc.chains, chainLast{kind, n})
				return kind, key, true
			}
		}
	}
	kind, key = identify(line)
	if sc.seen == nil {
		sc.seen = map[string]bool{}
	}
	if sc.seen[key] {
		return kind, key, false
	}
	sc.seen[key] = true
	return kind, key, true
}

// ruleNumber reads the number of a rule key: 1 to 9 digits.
func ruleNumber(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
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
