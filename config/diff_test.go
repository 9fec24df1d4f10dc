package config

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// editText applies a random edit to a rendered configuration: a line
// changed, added, removed, duplicated or swapped, an object (a line and its
// indented lines) removed, duplicated or moved, at the start, the end, inside
// blocks or anywhere; pool supplies lines of other configurations.
func editText(r *rand.Rand, text string, pool []string) string {
	lines := strings.Split(text, "\n")
	pos := func() int { // where: often near either end
		switch r.IntN(4) {
		case 0:
			return min(r.IntN(3), len(lines))
		case 1:
			return max(len(lines)-r.IntN(4), 0)
		}
		return r.IntN(len(lines) + 1)
	}
	line := func() string {
		l := pool[r.IntN(len(pool))]
		switch r.IntN(6) {
		case 0:
			return " " + strings.TrimLeft(l, " ")
		case 1:
			return strings.TrimLeft(l, " ")
		case 2:
			return []string{"!", "", " ", "!x", "ipsec start", "ipsec stop", "firewall-access 1", "firewall-access 07 permit all"}[r.IntN(8)]
		}
		return l
	}
	// unitAt returns the object containing line i: [start, end).
	unitAt := func(i int) (int, int) {
		start := i
		for start > 0 && strings.HasPrefix(lines[start], " ") {
			start--
		}
		end := start + 1
		for end < len(lines) && strings.HasPrefix(lines[end], " ") {
			end++
		}
		return start, end
	}
	for n := 1 + r.IntN(3); n > 0; n-- {
		if len(lines) == 0 {
			lines = append(lines, line())
			continue
		}
		i := min(pos(), len(lines)-1)
		switch r.IntN(10) {
		case 0: // change a line
			lines[i] = line()
		case 1: // change a word of a line
			w := strings.Split(lines[i], " ")
			k := r.IntN(len(w))
			w[k] = []string{"deny", "permit", "1", "99", "eth0", "x", ""}[r.IntN(7)]
			lines[i] = strings.Join(w, " ")
		case 2:
			lines = slices.Delete(lines, i, i+1)
		case 3:
			lines = slices.Insert(lines, pos(), line())
		case 4: // duplicate a line
			lines = slices.Insert(lines, pos(), lines[i])
		case 5: // swap two lines
			j := min(pos(), len(lines)-1)
			lines[i], lines[j] = lines[j], lines[i]
		case 6: // remove an object
			s, e := unitAt(i)
			lines = slices.Delete(lines, s, e)
		case 7, 8: // move or copy an object
			s, e := unitAt(i)
			u := slices.Clone(lines[s:e])
			if r.IntN(2) == 0 {
				lines = slices.Delete(lines, s, e)
			}
			lines = slices.Insert(lines, min(pos(), len(lines)), u...)
		case 9: // the end of the text
			if lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			} else {
				lines = append(lines, "")
			}
		}
	}
	return strings.Join(lines, "\n")
}

// DiffText takes a shortcut through the common beginning and end of the
// texts; it must give exactly what comparing every object gives, for
// rendered configurations and for any text.
func TestDiffTextShortcut(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 19))
	var pool []string
	for i := 0; i < 50; i++ {
		pool = append(pool, strings.Split(Render((&gen{e: randEntropy{r}, max: 6}).model()), "\n")...)
	}
	check := func(a, b string) bool {
		t.Helper()
		want := diffFull(a, b)
		if a == b {
			want = nil
		}
		if got := DiffText(a, b); !reflect.DeepEqual(got, want) {
			t.Fatalf("DiffText differs from the full comparison\n--- from\n%s\n--- to\n%s\n--- got\n%s--- want\n%s", a, b, changesText(got), changesText(want))
		}
		_, ok := diffMiddle(a, b)
		return ok
	}
	shortcuts, pairs := 0, 0
	for i := 0; i < 6000; i++ {
		g := &gen{e: randEntropy{r}, max: 1 + i%12}
		x := g.model()
		a := Render(x)
		var b string
		switch i % 7 {
		case 5, 6: // a repeated key (or rules out of order) in the part both share
			lines := strings.Split(a, "\n")
			k := r.IntN(len(lines))
			lines = slices.Insert(lines, r.IntN(len(lines)+1), lines[k])
			a = strings.Join(lines, "\n")
			lines[[]int{0, 1, len(lines) - 1, len(lines) - 2}[r.IntN(4)]%len(lines)] = pool[r.IntN(len(pool))]
			b = strings.Join(lines, "\n")
		case 0: // another model
			b = Render(g.model())
		case 1: // one rule changed, added or removed, as a commit does
			y := x.Clone()
			ch := []Chain{ChainInput, ChainAccess, ChainSNAT, ChainDNAT}[r.IntN(4)]
			rules := *y.Rules(ch)
			if len(rules) > 0 && r.IntN(2) == 0 {
				DeleteRule(y, ch, rules[r.IntN(len(rules))].Number)
			} else {
				SetRule(y, ch, g.rule(ch, g.between(1, 65535)))
			}
			b = Render(y)
		default:
			b = editText(r, a, pool)
			if r.IntN(3) == 0 {
				a = editText(r, a, pool)
			}
		}
		if r.IntN(2) == 0 {
			a, b = b, a
		}
		pairs++
		if check(a, b) {
			shortcuts++
		}
	}
	if shortcuts < pairs/2 {
		t.Errorf("the shortcut was taken for %d pairs of %d", shortcuts, pairs)
	}
	// Large configurations, one rule apart, and edge cases.
	big := commitConfig(300)
	for _, c := range [][2]string{
		{"", "x"}, {"x", ""}, {"x", "x\n"}, {"x\n", "x\ny\n"}, {" a\nb", " c\nb"}, {"a\n b\n", "a\n c\n"},
		{"a\n!\n b\n", "a\n!\n c\n"}, {"!\n", "\n"}, {"a\n", "!a\n"},
		{big, strings.Replace(big, "firewall-access 150 permit", "firewall-access 150 deny", 1)},
		{big, strings.Replace(big, "firewall-access 1 ", "firewall-access 100000 ", 1)},
		{big, strings.Replace(big, "firewall-access 299 ", "firewall-access 1 ", 1)},
		{big, strings.Replace(big, "ip route 10.100.5.0/24", "ip route 10.100.4.0/24", 1)},
		{big, strings.Replace(big, " enable\n", "", 1)},
		{big, big + "hostname other\n"},
		{big, "hostname other\n" + big},
	} {
		check(c[0], c[1])
		check(c[1], c[0])
	}
}

func changesText(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s %s %q: %q -> %q\n", c.Op, c.Kind, c.Key, c.Old, c.New)
	}
	return b.String()
}

// FuzzDiffText compares DiffText with the full comparison on any two texts.
func FuzzDiffText(f *testing.F) {
	small := "!\nhostname h\n!\ninterface eth0\n enable\n!\nip route 10.0.0.0/8 nexthop 10.0.0.1\n!\n" +
		"firewall-access 1 permit all\nfirewall-access 2 permit all\nfirewall-access 3 permit all\n!\n"
	f.Add(small, strings.Replace(small, "2 permit", "2 deny", 1))
	f.Add("a\n b\n!\nc\n", "a\n b\n!\nc\n d\n")
	f.Add("firewall-access 1 x\nfirewall-access 1 y\nz\n", "firewall-access 1 x\nfirewall-access 1 y\nw\n")
	f.Add("ipsec start\nx\nipsec stop\n", "ipsec start\ny\nipsec stop\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		want := diffFull(a, b)
		if a == b {
			want = nil
		}
		if got := DiffText(a, b); !reflect.DeepEqual(got, want) {
			t.Fatalf("DiffText(%q, %q):\n%s--- want\n%s", a, b, changesText(got), changesText(want))
		}
	})
}
