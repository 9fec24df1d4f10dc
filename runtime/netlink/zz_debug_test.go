package netlink_test

import (
	"testing"

	"mboxsh/config"

	"mboxsh/runtime/netlink/internal/nltest"
)

func TestZZShowPlans(t *testing.T) {
	f := newFixture(t, "show")
	a, b, c, d := parse(t, cfgA), parse(t, cfgB), parse(t, cfgC), parse(t, cfgD)
	prev := empty
	for _, x := range []struct{ n string; c any }{{"A", a}, {"B", b}, {"C", c}, {"D", d}, {"A", a}} {
		_ = x
	}
	for i, cfg := range []*config.Config{a, b, c, d, a} {
		t.Logf("plan %d:%s", i, nltest.StepList(nltest.Steps(t, f.d, prev, cfg)))
		nltest.Apply(t, f.d, prev, cfg)
		prev = cfg
	}
}
