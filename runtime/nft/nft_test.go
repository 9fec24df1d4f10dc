package nft

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mboxsh/config"
	"mboxsh/runtime"
)

var update = flag.Bool("update", false, "rewrite the golden .nft files in testdata/")

// allKinds uses every rule kind, list form and default-rule input.
func allKinds() *config.Config {
	cfg := referenceConfig()
	cfg.OSPF = &config.OSPF{RouterID: addr("1.1.1.2"), Networks: []config.OSPFNetwork{
		{Prefix: pfx("172.16.0.0/30")}, {Prefix: pfx("192.168.20.0/24")}}}
	cfg.FirewallInput = []config.Rule{
		{Number: 10, Action: "permit", Direction: "inbound", Interface: "eth1", Proto: "udp", Dport: []string{"53"}},
		{Number: 20, Action: "permit", Direction: "all", Proto: "tcp", Src: []string{"10.0.0.0/8", "192.168.18.0/24"}, Dport: []string{"22", "179"}},
		{Number: 30, Action: "deny", Direction: "inbound", Interface: "eth0", Proto: "icmp"},
		{Number: 40, Action: "permit", Direction: "inbound", Interface: "tap+", Proto: "tcp", Dport: []string{"8000-8080"}},
		{Number: 50, Action: "permit", Direction: "all", Interface: "eth3", Proto: "ip", Src: []string{"192.0.2.7"}},
	}
	cfg.FirewallAccess = []config.Rule{
		{Number: 10, Action: "permit", Direction: "outbound", Interface: "eth0"},
		{Number: 11, Action: "permit", Direction: "outbound", Interface: "tun0", Src: []string{"192.168.20.0/24"}},
		{Number: 12, Action: "permit", Direction: "inbound", Interface: "tun0", Dst: []string{"192.168.20.0/24"}},
		{Number: 100, Action: "permit", Direction: "outbound", Interface: "eth0", Proto: "tcp", Src: []string{"10.0.0.0/8", "192.168.18.0/24"}, Dport: []string{"80", "443"}},
		{Number: 150, Action: "deny", Direction: "outbound", Interface: "eth0", Proto: "udp", Dport: []string{"53"}},
		{Number: 152, Action: "deny", Direction: "outbound", Interface: "eth0", Proto: "tcp", Dst: []string{"1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"}, Dport: []string{"443"}},
		{Number: 200, Action: "permit", Direction: "all", Src: []string{"10.0.0.0/8"}},
		{Number: 201, Action: "permit", Direction: "all", Interface: "eth2", Proto: "ip"},
		{Number: 210, Action: "permit", Direction: "inbound", Interface: "wwan+", Proto: "tcp", Sport: []string{"1024-65535"}, Dport: []string{"80", "8000-8080"}},
		{Number: 220, Action: "deny", Direction: "inbound", Interface: "eth0", Proto: "icmp", Src: []string{"198.51.100.0/24", "203.0.113.9"}},
		{Number: 230, Action: "deny", Direction: "all", Proto: "udp", Sport: []string{"137-139", "445"}},
	}
	cfg.FirewallSNAT = []config.Rule{
		{Number: 5, Action: "exempt", Direction: "outbound", Interface: "eth0", Src: []string{"203.0.113.2"}},
		{Number: 10, Action: "overload", Direction: "outbound", Interface: "eth0"},
		{Number: 11, Action: "overload", Direction: "outbound", Interface: "wwan+"},
		{Number: 20, Action: "translate", Direction: "outbound", Interface: "eth0", Proto: "ip", Src: []string{"10.90.19.101"}, Xsrc: "49.128.70.68"},
		{Number: 21, Action: "translate", Direction: "outbound", Interface: "eth0", Proto: "ip", Src: []string{"10.90.0.0/16"}, Xsrc: "49.128.70.69-49.128.70.70"},
	}
	cfg.FirewallDNAT = []config.Rule{
		{Number: 1, Action: "translate", Direction: "inbound", Interface: "eth0", Proto: "tcp", Dst: []string{"203.127.1.8"}, Dport: []string{"80"}, Xdst: "192.168.1.8", Xdport: "8080"},
		{Number: 2, Action: "translate", Direction: "inbound", Interface: "eth0", Proto: "tcp", Dst: []string{"203.127.1.9"}, Dport: []string{"443"}, Xdst: "192.168.1.9"},
		{Number: 5, Action: "exempt", Direction: "inbound", Interface: "eth0", Src: []string{"10.0.0.0/8"}},
		{Number: 10, Action: "redirect", Direction: "inbound", Interface: "eth1", Proto: "udp", Dport: []string{"53"}},
		{Number: 11, Action: "redirect", Direction: "inbound", Interface: "eth1", Proto: "tcp", Dport: []string{"8053"}, Xdport: "5353"},
	}
	return cfg
}

// checkGolden compares got with testdata/name (or rewrites it with -update).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Fatalf("%s differs from what the kernel holds:\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// reference loads script with nft itself into a scratch namespace and
// returns nft's listing: the reference the driver's result is compared to.
func reference(t *testing.T, script string) string {
	t.Helper()
	ns := newNS(t)
	nftLoad(t, ns, script)
	return nftList(t, ns)
}

// TestGolden: the driver programs the reference configuration and a
// configuration with every rule kind exactly as nft programs the
// hand-checked golden scripts (and the driver's own nft rendering).
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  *config.Config
	}{{"reference.nft", referenceConfig()}, {"allkinds.nft", allKinds()}} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNS(t)
			d := newDriver(t, ns)
			commit(t, d, &configEmpty, tc.cfg)
			got := nftList(t, ns)
			checkGolden(t, tc.name, got)
			if ref := reference(t, got); ref != got {
				t.Fatalf("nft -f of the golden file lists differently:\n--- nft\n%s\n--- driver\n%s", ref, got)
			}
			script, err := d.Ruleset(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if ref := reference(t, script); ref != got {
				t.Fatalf("nft -f of Ruleset() lists differently:\n--- nft\n%s\n--- driver\n%s\n--- script\n%s", ref, got, script)
			}
			noDrift(t, d, tc.cfg)
		})
	}
}

// TestChanges adds, changes and removes every kind of rule, one commit at a
// time, and checks each result against nft's own rendering of the target,
// that only the changed rules were touched, and that nothing drifts.
func TestChanges(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	full := allKinds()
	check := func(t *testing.T, cfg *config.Config) {
		t.Helper()
		script, err := d.Ruleset(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got, ref := zeroCounters(nftList(t, ns)), reference(t, script); got != ref {
			t.Fatalf("kernel differs from nft's rendering:\n--- nft\n%s\n--- driver\n%s", ref, got)
		}
		noDrift(t, d, cfg)
	}
	cur := &config.Config{}
	commit(t, d, cur, cur)
	check(t, cur)

	// Add the rules one at a time.
	steps := 0
	for _, ch := range []config.Chain{config.ChainInput, config.ChainAccess, config.ChainSNAT, config.ChainDNAT} {
		for _, r := range *full.Rules(ch) {
			next := cur.Clone()
			*next.Rules(ch) = append(*next.Rules(ch), r)
			res := commit(t, d, cur, next)
			if len(res.Steps) != 1 || res.Steps[0].Stmt != ch.Keyword()+" "+itoa(r.Number) {
				t.Fatalf("adding %s %d: steps %+v", ch.Keyword(), r.Number, stepNames(res.Steps))
			}
			if !strings.Contains(res.Steps[0].Desc, "added") || strings.Contains(res.Steps[0].Desc, "removed") {
				t.Fatalf("adding %s %d: %s", ch.Keyword(), r.Number, res.Steps[0].Desc)
			}
			cur = next
			steps++
		}
	}
	check(t, cur)

	// Change each rule (new match) and check it alone is replaced.
	for _, ch := range []config.Chain{config.ChainInput, config.ChainAccess, config.ChainSNAT, config.ChainDNAT} {
		for i := range *cur.Rules(ch) {
			next := cur.Clone()
			r := &(*next.Rules(ch))[i]
			r.Dst = append(r.Dst, "192.0.2.99")
			res := commit(t, d, cur, next)
			want := ch.Keyword() + " " + itoa(r.Number)
			if len(res.Steps) != 1 || res.Steps[0].Stmt != want {
				t.Fatalf("changing %s: steps %v", want, stepNames(res.Steps))
			}
			cur = next
		}
		check(t, cur)
	}

	// Change the defaults: disable, then enable again.
	next := cur.Clone()
	next.FirewallDisable = config.FirewallDisable{Access: true, Input: true}
	commit(t, d, cur, next)
	check(t, next)
	cur = next
	next = cur.Clone()
	next.FirewallDisable = config.FirewallDisable{}
	next.Peers = append(next.Peers, &config.Peer{Name: "branch", RemoteIP: "any"})
	commit(t, d, cur, next)
	check(t, next)
	cur = next

	// Renumber: rule moves to the front.
	next = cur.Clone()
	next.FirewallAccess[len(next.FirewallAccess)-1].Number = 1
	next.FirewallAccess = append(next.FirewallAccess[len(next.FirewallAccess)-1:], next.FirewallAccess[:len(next.FirewallAccess)-1]...)
	commit(t, d, cur, next)
	check(t, next)
	cur = next

	// Remove every rule, one at a time, from the middle.
	for _, ch := range []config.Chain{config.ChainDNAT, config.ChainSNAT, config.ChainAccess, config.ChainInput} {
		for len(*cur.Rules(ch)) > 0 {
			next := cur.Clone()
			list := *next.Rules(ch)
			i := len(list) / 2
			num := list[i].Number
			*next.Rules(ch) = append(list[:i:i], list[i+1:]...)
			res := commit(t, d, cur, next)
			if len(res.Steps) != 1 || res.Steps[0].Stmt != ch.Keyword()+" "+itoa(num) || strings.Contains(res.Steps[0].Desc, "added") {
				t.Fatalf("removing %s %d: %v %v", ch.Keyword(), num, stepNames(res.Steps), res.Steps[0].Desc)
			}
			cur = next
		}
	}
	check(t, cur)
	if res := commit(t, d, cur, cur); len(res.Steps) != 0 {
		t.Fatalf("no-op commit planned %v", stepNames(res.Steps))
	}
	if d.recoveries != 0 {
		t.Fatalf("%d batches needed a read-back to learn their outcome", d.recoveries)
	}
}

func stepNames(steps []runtime.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Stmt+": "+s.Desc)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestIdempotent: a second commit of the same configuration plans nothing,
// even from a fresh driver (a new mboxsh process) that reads the kernel.
func TestIdempotent(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	cfg := allKinds()
	commit(t, d, &configEmpty, cfg)
	if res := commit(t, d, cfg, cfg); len(res.Steps) != 0 {
		t.Fatalf("second commit planned %v", stepNames(res.Steps))
	}
	d2 := newDriver(t, ns)
	if res := commit(t, d2, cfg, cfg); len(res.Steps) != 0 {
		t.Fatalf("fresh driver planned %v", stepNames(res.Steps))
	}
	// A fresh driver whose `from` is wrong still plans against the kernel.
	if res := commit(t, d2, &configEmpty, cfg); len(res.Steps) != 0 {
		t.Fatalf("fresh driver with empty from planned %v", stepNames(res.Steps))
	}
}

// TestDrift: hand edits are reported, and the next commit of the same
// configuration puts the table back.
func TestDrift(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	cfg := allKinds()
	commit(t, d, &configEmpty, cfg)
	want := nftList(t, ns)
	nftExec := func(args ...string) { run(t, append([]string{"ip", "netns", "exec", ns, "nft"}, args...)...) }
	handleOf := func(comment string) string {
		out := run(t, "ip", "netns", "exec", ns, "nft", "-a", "list", "table", "inet", TableName)
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, `comment "`+comment+`"`) {
				return l[strings.LastIndex(l, " ")+1:]
			}
		}
		t.Fatalf("no rule %q", comment)
		return ""
	}
	for _, tc := range []struct {
		name  string
		edit  func()
		lines []string
	}{
		{"flush ruleset", func() { nftExec("flush", "ruleset") }, []string{"firewall: table inet mboxsh missing"}},
		{"delete table", func() { nftExec("delete", "table", "inet", TableName) }, []string{"firewall: table inet mboxsh missing"}},
		{"delete rule", func() {
			nftExec("delete", "rule", "inet", TableName, "forward", "handle", handleOf("firewall-access 12"))
		},
			[]string{"firewall-access 12: rule missing in kernel"}},
		{"replace rule", func() {
			nftExec("replace", "rule", "inet", TableName, "forward", "handle", handleOf("firewall-access 12"),
				"iifname", "tun0", "counter", "accept", "comment", `"firewall-access 12"`)
		}, []string{"firewall-access 12: differs"}},
		{"add rule", func() { nftExec("insert", "rule", "inet", TableName, "forward", "accept") },
			[]string{"firewall: unexpected rule in chain forward (handle "}},
		{"policy", func() { nftExec("add", "chain", "inet", TableName, "forward", "{ policy accept ; }") },
			[]string{"firewall: chain forward policy accept, want drop"}},
		{"flush chain", func() { nftExec("flush", "chain", "inet", TableName, "postrouting") },
			[]string{"firewall-snat 5: rule missing in kernel", "firewall-snat 10: rule missing in kernel", "firewall-snat 11: rule missing in kernel",
				"firewall-snat 20: rule missing in kernel", "firewall-snat 21: rule missing in kernel"}},
		{"delete chain", func() { nftExec("delete", "chain", "inet", TableName, "prerouting") }, []string{"firewall: chain prerouting missing"}},
		{"extra chain", func() {
			nftExec("add", "chain", "inet", TableName, "sneaky", "{ type filter hook forward priority -10 ; }")
		},
			[]string{"firewall: unexpected chain sneaky in table inet mboxsh"}},
		{"dormant", func() { nftExec("add", "table", "inet", TableName, "{ flags dormant ; }") },
			[]string{"firewall: table inet mboxsh flags 0x1, want 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.edit()
			driftIs(t, d, cfg, tc.lines)
			res := commit(t, d, cfg, cfg)
			if len(res.Steps) != 1 {
				t.Fatalf("re-assert planned %v", stepNames(res.Steps))
			}
			noDrift(t, d, cfg)
			if got := canonical(nftList(t, ns)); got != canonical(want) {
				t.Fatalf("after re-assert:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestUndo: undoing a step puts back exactly the table it replaced,
// counters, foreign rules and anonymous sets included, whether the step was
// planned from the driver's cache or from a fresh read.
func TestUndo(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	a := allKinds()
	commit(t, d, &configEmpty, a)
	// Traffic on lo moves counters; a hand-added rule with a set must
	// come back too.
	run(t, "ip", "netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "127.0.0.1")
	run(t, "ip", "netns", "exec", ns, "nft", "add", "rule", "inet", TableName, "forward", "ip", "saddr", "{ 192.0.2.1, 192.0.2.3 }", "counter", "drop")
	before := nftList(t, ns)
	if zeroCounters(before) == before {
		t.Fatalf("no counter moved; the test would not show counters are restored:\n%s", before)
	}

	b := allKinds()
	b.FirewallAccess = b.FirewallAccess[3:]                   // delete rules
	b.FirewallAccess[0].Dport = []string{"80", "443", "8443"} // change a set rule
	b.FirewallInput = nil
	b.FirewallDisable.Input = true
	b.FirewallSNAT[1].Action = "exempt"

	for _, fresh := range []bool{false, true} {
		dd := d
		if fresh {
			dd = newDriver(t, ns)
		}
		steps, err := dd.Plan(ctx(t), a, b)
		if err != nil || len(steps) != 1 {
			t.Fatalf("plan: %v %v", err, stepNames(steps))
		}
		if err := steps[0].Do(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if got := nftList(t, ns); got == before {
			t.Fatal("Do changed nothing")
		}
		noDrift(t, dd, b)
		if err := steps[0].Undo(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if got := nftList(t, ns); got != before {
			t.Fatalf("undo (fresh driver %v) did not restore the table:\n--- before\n%s\n--- after undo\n%s", fresh, before, got)
		}
	}

	// Undo of the very first commit removes the table.
	ns2 := newNS(t)
	d2 := newDriver(t, ns2)
	steps, err := d2.Plan(ctx(t), &configEmpty, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := steps[0].Do(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := steps[0].Undo(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := nftList(t, ns2); got != "" {
		t.Fatalf("table left after undo of the first commit:\n%s", got)
	}
}

// failingDriver fails its step, so Apply rolls back the steps before it.
type failingDriver struct{}

func (failingDriver) Name() string { return "fail" }
func (failingDriver) Plan(context.Context, *config.Config, *config.Config) ([]runtime.Step, error) {
	return []runtime.Step{{Driver: "fail", Stmt: "x", Desc: "fail", Do: func(context.Context) error { return errors.New("injected") }}}, nil
}
func (failingDriver) Drift(context.Context, *config.Config) ([]string, error) { return nil, nil }
func (failingDriver) Close() error                                            { return nil }

// TestRollback: a later driver's failure rolls the firewall back.
func TestRollback(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	a := referenceConfig()
	commit(t, d, &configEmpty, a)
	before := nftList(t, ns)
	b := allKinds()
	_, err := runtime.Apply(ctx(t), []runtime.Driver{d, failingDriver{}}, a, b, runtime.Options{})
	if err == nil {
		t.Fatal("apply succeeded")
	}
	if got := nftList(t, ns); got != before {
		t.Fatalf("rollback did not restore:\n%s\nwant\n%s", got, before)
	}
	noDrift(t, d, a)
}

// TestKernelError: a rule the kernel refuses fails the whole batch with the
// statement named, and leaves the table untouched.
func TestKernelError(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	a := referenceConfig()
	commit(t, d, &configEmpty, a)
	before := nftList(t, ns)

	w, err := d.comp.compile(a)
	if err != nil {
		t.Fatal(err)
	}
	// A DNAT statement in the forward (filter) chain: nft's validation
	// refuses NAT outside NAT chains.
	bad := &ruleIR{chain: chainForward, key: "firewall-access 99", text: "bad", act: actDNAT, natAddr: addr("192.0.2.1")}
	bad.fingerprint()
	w.chains[1].units = append(w.chains[1].units, newUnit(bad.key, []*ruleIR{bad}))
	w.chains[1].fp = "" // compare rule by rule
	d.mu.Lock()
	_, err = d.apply(ctx(t), w, nil, true)
	d.mu.Unlock()
	if err == nil || !strings.HasPrefix(err.Error(), "firewall-access 99: kernel rejected rule: ") {
		t.Fatalf("error %v", err)
	}
	t.Logf("error: %v", err)
	if got := nftList(t, ns); got != before {
		t.Fatalf("failed batch changed the table:\n%s", got)
	}
	noDrift(t, d, a)
}

// TestValidation: configuration errors name the rule.
func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		ch   config.Chain
		r    config.Rule
		want string
	}{
		{config.ChainAccess, config.Rule{Number: 1, Action: "permit", Direction: "all", Dport: []string{"80"}}, "firewall-access 1: sport/dport need protocol tcp or udp"},
		{config.ChainAccess, config.Rule{Number: 2, Action: "allow", Direction: "all"}, "firewall-access 2: action"},
		{config.ChainInput, config.Rule{Number: 3, Action: "permit", Direction: "outbound", Interface: "eth0"}, "firewall-input 3: firewall-input rules cannot be outbound"},
		{config.ChainSNAT, config.Rule{Number: 4, Action: "translate", Direction: "outbound", Interface: "eth0"}, "firewall-snat 4: translate needs xsrc"},
		{config.ChainDNAT, config.Rule{Number: 5, Action: "translate", Direction: "inbound", Interface: "eth0", Xdst: "10.0.0.1", Xdport: "80"}, "firewall-dnat 5: xdport needs protocol tcp or udp"},
		{config.ChainAccess, config.Rule{Number: 6, Action: "permit", Direction: "all", Src: []string{"2001:db8::1"}}, "firewall-access 6: src: \"2001:db8::1\": only IPv4"},
		{config.ChainAccess, config.Rule{Number: 7, Action: "permit", Direction: "all", Proto: "tcp", Dport: []string{"90-80"}}, "firewall-access 7: dport"},
		{config.ChainAccess, config.Rule{Number: 8, Action: "permit", Direction: "inbound", Interface: "e+th0"}, "firewall-access 8: interface"},
	} {
		cfg := &config.Config{}
		*cfg.Rules(tc.ch) = []config.Rule{tc.r}
		_, err := newCompiler().compile(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s %d: error %v, want %q", tc.ch.Keyword(), tc.r.Number, err, tc.want)
		}
	}
}

// TestCounters maps kernel counters back to configuration rules.
func TestCounters(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	cfg := allKinds()
	commit(t, d, &configEmpty, cfg)
	run(t, "ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "127.0.0.1")
	cs, err := d.Counters(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]RuleCounter{}
	for _, c := range cs {
		byName[c.Name] = c
	}
	if c := byName["default-input loopback"]; c.Packets < 6 || c.Chain != "firewall-input" || c.Number != 0 {
		t.Fatalf("loopback counter %+v", c)
	}
	if c := byName["firewall-access 201"]; c.Chain != "firewall-access" || c.Number != 201 || c.Rule != "permit all eth2 ip" {
		t.Fatalf("firewall-access 201: %+v", c)
	}
	if c := byName["firewall-dnat 11"]; c.Rule != "redirect inbound eth1 tcp dport 8053 xdport 5353" {
		t.Fatalf("firewall-dnat 11: %+v", c)
	}
	n := 0
	for _, ch := range []config.Chain{config.ChainInput, config.ChainAccess, config.ChainSNAT, config.ChainDNAT} {
		n += len(*cfg.Rules(ch))
	}
	defaults := 0
	for _, c := range cs {
		if c.Number == 0 {
			defaults++
		}
	}
	if len(cs)-defaults != n {
		t.Fatalf("%d counters for %d rules: %+v", len(cs)-defaults, n, cs)
	}
}

func TestWarnings(t *testing.T) {
	cfg := &config.Config{}
	if w := Warnings(cfg); w != nil {
		t.Fatal(w)
	}
	cfg.FirewallDisable.Input = true
	if w := Warnings(cfg); len(w) != 1 {
		t.Fatal(w)
	}
	cfg.FirewallInput = []config.Rule{{Number: 1, Action: "permit", Direction: "inbound", Interface: "eth1", Proto: "tcp", Dport: []string{"20-23"}}}
	if w := Warnings(cfg); w != nil {
		t.Fatal(w)
	}
}

// TestConcurrentChange: the ruleset changes between Plan and Do (here: a
// hand edit of our table and another table). The batch, conditional on the
// generation it was planned against, is refused by the kernel; Do plans
// again and the result is still exactly the configuration.
func TestConcurrentChange(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	a := referenceConfig()
	commit(t, d, &configEmpty, a)
	b := allKinds()
	steps, err := d.Plan(ctx(t), a, b)
	if err != nil || len(steps) != 1 {
		t.Fatalf("plan: %v %v", err, stepNames(steps))
	}
	run(t, "ip", "netns", "exec", ns, "nft", "add", "table", "inet", "other")
	run(t, "ip", "netns", "exec", ns, "nft", "insert", "rule", "inet", TableName, "forward", "counter", "accept")
	if err := steps[0].Do(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if d.restarts != 1 {
		t.Fatalf("%d restarts, want 1 (the planned batch refused)", d.restarts)
	}
	noDrift(t, d, b)
	if !strings.Contains(run(t, "ip", "netns", "exec", ns, "nft", "list", "tables"), "table inet other") {
		t.Fatal("the other table was touched")
	}
	// Undo goes back to what Do replaced (including the hand-added rule).
	if err := steps[0].Undo(ctx(t)); err != nil {
		t.Fatal(err)
	}
	lines, err := d.Drift(ctx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "firewall: unexpected rule in chain forward") {
		t.Fatalf("after undo: %q", lines)
	}
}

// TestAdjacentPrefixes: touching intervals are merged as nft merges them.
func TestAdjacentPrefixes(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	cfg := access(config.Rule{Number: 1, Action: "permit", Direction: "all", Proto: "tcp",
		Src: []string{"10.0.0.0/25", "10.0.0.128/25", "10.0.0.5", "192.0.2.0/24"}, Dport: []string{"80-89", "90", "100"}})
	commit(t, d, &configEmpty, cfg)
	got := nftList(t, ns)
	script, _ := d.Ruleset(cfg)
	if ref := reference(t, script); ref != got {
		t.Fatalf("nft:\n%s\ndriver:\n%s", ref, got)
	}
	noDrift(t, d, cfg)
}

// TestLongRuleText: a rule whose text is longer than the kernel's userdata
// limit (the default GRE rule of 100 tunnels lists 100 remotes) is still
// accepted, and an unchanged commit afterwards is a no-op.
func TestLongRuleText(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	cfg := &config.Config{}
	for i := 0; i < 100; i++ {
		cfg.Interfaces = append(cfg.Interfaces, &config.Interface{
			Name: fmt.Sprintf("tun%d", i), Kind: config.KindGRE, BridgeGroup: -1,
			TunnelLocal: addr("198.51.100.2"), TunnelRemote: netip.AddrFrom4([4]byte{198, 51, 101, byte(1 + i)}),
		})
	}
	commit(t, d, &configEmpty, cfg)
	if res := commit(t, d, cfg, cfg); len(res.Steps) != 0 {
		t.Fatalf("second commit planned %v", stepNames(res.Steps))
	}
	noDrift(t, d, cfg)
}
