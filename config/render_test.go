package config

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"mboxsh/config/grammar"
)

// renderByGet is Render as the statements describe it: every instance from
// Get, one line each, without the shortcuts Render takes (rules handed over
// one at a time by eachRuleArgs, the text written straight into the
// result).
func renderByGet(g *Grammar, cfg *Config) string {
	var b strings.Builder
	b.WriteString("!\n")
	group := ""
	closeGroup := func() {
		if group != "" {
			b.WriteString("!\n")
			group = ""
		}
	}
	ctx := &Ctx{Cfg: cfg}
	for _, s := range g.stmts {
		if s.Mode != ModeConfig || s.Get == nil {
			continue
		}
		for _, a := range s.Get(ctx) {
			if s.Enter != "" {
				closeGroup()
				b.WriteString(g.format(s, a) + "\n")
				sub := *ctx
				if err := s.Set(&sub, a); err != nil {
					panic(err)
				}
				for _, bs := range g.stmts {
					if bs.Mode == s.Enter && bs.Get != nil {
						for _, ba := range bs.Get(&sub) {
							b.WriteString(" " + g.format(bs, ba) + "\n")
						}
					}
				}
				b.WriteString("!\n")
				continue
			}
			if group != s.Group {
				closeGroup()
				group = s.Group
			}
			b.WriteString(g.format(s, a) + "\n")
		}
	}
	closeGroup()
	return b.String()
}

func TestRenderMatchesGet(t *testing.T) {
	g := DefaultGrammar()
	r := rand.New(rand.NewPCG(23, 29))
	models := []*Config{bigModel(20000), {}}
	for i := 0; i < 2000; i++ {
		models = append(models, (&gen{e: randEntropy{r}, max: 1 + i%16}).model())
	}
	for _, x := range models {
		if got, want := Render(x), renderByGet(g, x); got != want {
			t.Fatalf("Render differs from rendering what Get gives:\n%s\n---\n%s", got, want)
		}
		for _, ch := range []Chain{ChainInput, ChainAccess, ChainSNAT, ChainDNAT} {
			rules := *x.Rules(ch)
			var want []grammar.Args
			for _, r := range rules {
				want = append(want, ruleArgs(r))
			}
			if got := rulesArgs(rules); !reflect.DeepEqual(got, want) {
				t.Fatalf("rulesArgs = %v, want %v", got, want)
			}
		}
	}
}

// The arguments of the rules of a chain share one array: appending to
// those of one rule must not change the next.
func TestRulesArgsIndependent(t *testing.T) {
	rules := []Rule{
		{Number: 1, Action: "permit", Direction: "all", Src: []string{"10.0.0.0/8", "192.168.0.0/16"}, Remark: "a"},
		{Number: -12, Action: "deny", Direction: "inbound", Interface: "eth0", Dport: []string{""}},
		{Number: 65535, Action: "deny", Direction: "all", Sport: []string{"", ""}},
	}
	got := rulesArgs(rules)
	got[0] = append(got[0], grammar.Arg{Name: "x", Value: "y"})
	for i, r := range rules {
		want := ruleArgs(r)
		if i == 0 {
			want = append(want, grammar.Arg{Name: "x", Value: "y"})
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("rule %d: %v, want %v", i, got[i], want)
		}
	}
}

func TestDecimalLen(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 99, 100, 65535, -1, -9, -10, math.MaxInt, math.MinInt, math.MinInt + 1} {
		if got, want := decimalLen(n), len(strconv.Itoa(n)); got != want {
			t.Errorf("decimalLen(%d) = %d, want %d", n, got, want)
		}
	}
}
