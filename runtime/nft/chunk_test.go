package nft

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"mboxsh/config"
	"mboxsh/runtime"
)

// spacedConfig is bigConfig(n) numbered 10, 20, 30, …: room to insert.
func spacedConfig(n int) *config.Config {
	cfg := bigConfig(n)
	for i := range cfg.FirewallAccess {
		cfg.FirewallAccess[i].Number = 10 * (i + 1)
	}
	return cfg
}

func numbers(rules []config.Rule) []int {
	out := make([]int, len(rules))
	for i, r := range rules {
		out[i] = r.Number
	}
	return out
}

// chunkFor is the sub-chain of base that holds rule n of a chain whose
// rules are numbered nums (sorted): the one named after the last boundary
// rule up to n.
func chunkFor(c *compiler, base string, nums []int, n int) string {
	start := 0
	for _, m := range nums {
		if m > n {
			break
		}
		if c.isBoundary(m) {
			start = m
		}
	}
	return chunkName(base, start)
}

// numberIn returns a number in (lo, hi) that is (or is not) a boundary.
func numberIn(t *testing.T, c *compiler, lo, hi int, boundary bool) int {
	t.Helper()
	for n := lo + 1; n < hi; n++ {
		if c.isBoundary(n) == boundary {
			return n
		}
	}
	t.Fatalf("no number in (%d, %d) with boundary=%v", lo, hi, boundary)
	return 0
}

// boundaryGap finds, from index from on, a gap between two rules of the
// same sub-chain where a new rule would start a sub-chain: it returns the
// new rule's number and index.
func boundaryGap(t *testing.T, c *compiler, base string, nums []int, from int) (n, at int) {
	t.Helper()
	for i := from; i < len(nums)-1; i++ {
		if chunkFor(c, base, nums, nums[i]) != chunkFor(c, base, nums, nums[i+1]) {
			continue
		}
		for n := nums[i] + 1; n < nums[i+1]; n++ {
			if c.isBoundary(n) {
				return n, i + 1
			}
		}
	}
	t.Fatalf("no gap for a boundary rule after rule %d", from)
	return 0, 0
}

// planFor plans cfg against the kernel without applying it.
func planFor(t *testing.T, d *Driver, cfg *config.Config) *plan {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	w, err := d.comp.compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := d.current(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := reconcile(cur, w)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ops describes the chain and rule messages of a plan ("NEWRULE forward-0"),
// leaving out anonymous sets.
func ops(p *plan) []string {
	var out []string
	for _, m := range p.msgs {
		var name string
		attr := uint16(unix.NFTA_RULE_CHAIN)
		switch m.typ {
		case unix.NFT_MSG_NEWRULE:
			name = "NEWRULE"
		case unix.NFT_MSG_DELRULE:
			name = "DELRULE"
		case unix.NFT_MSG_NEWCHAIN:
			name, attr = "NEWCHAIN", unix.NFTA_CHAIN_NAME
		case unix.NFT_MSG_DELCHAIN:
			name, attr = "DELCHAIN", unix.NFTA_CHAIN_NAME
		case unix.NFT_MSG_NEWSET, unix.NFT_MSG_NEWSETELEM:
			continue
		default:
			name = fmt.Sprint(m.typ)
		}
		forAttrs(m.attrs, func(typ uint16, v []byte) {
			if typ == attr {
				name += " " + cstr(v)
			}
		})
		out = append(out, name)
	}
	return out
}

func repeatOp(op string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = op
	}
	return out
}

func sameOps(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	sort.Strings(g)
	sort.Strings(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s: kernel operations\n%q\nwant\n%q", what, got, want)
	}
}

// kernelRules maps each chain of the kernel table to "handle key" of its
// rules, read by a fresh driver.
func kernelRules(t *testing.T, ns string) map[string][]string {
	t.Helper()
	d := newDriver(t, ns)
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.current(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, ch := range s.chains {
		var rs []string
		for _, r := range ch.rules {
			rs = append(rs, fmt.Sprintf("%d %s", r.handle, r.key))
		}
		out[ch.name] = rs
	}
	return out
}

// untouchedExcept fails unless every chain but the named ones kept the same
// rules with the same handles.
func untouchedExcept(t *testing.T, before, after map[string][]string, changed ...string) {
	t.Helper()
	for name, rs := range before {
		if slices.Contains(changed, name) {
			continue
		}
		if !slices.Equal(rs, after[name]) {
			t.Fatalf("chain %s was touched", name)
		}
	}
}

// checkReadback: the kernel holds exactly what cfg wants, as nft itself
// loads the driver's rendering, and neither this driver nor a fresh one
// sees any drift.
func checkReadback(t *testing.T, d *Driver, ns string, cfg *config.Config) {
	t.Helper()
	noDrift(t, d, cfg)
	noDrift(t, newDriver(t, ns), cfg)
	script, err := d.Ruleset(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, ref := canonical(nftList(t, ns)), canonical(reference(t, script)); got != ref {
		t.Fatalf("kernel differs from nft's rendering of the configuration:\n--- nft\n%.3000s\n--- driver\n%.3000s", ref, got)
	}
}

// TestChunkLayout: a 2,000-rule firewall-access is split into sub-chains;
// changing, inserting and removing a rule in the middle touches exactly one
// sub-chain; a rule that starts a sub-chain splits one sub-chain and its
// removal merges them back, moving only that sub-chain's rules.
func TestChunkLayout(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	c := d.comp
	cfg := spacedConfig(2000)
	commit(t, d, &configEmpty, cfg)
	checkReadback(t, d, ns, cfg)

	// The layout: the built-in rules, then one jump per sub-chain in rule
	// order; the sub-chains hold the rules in order.
	s := d.cache
	fwd := s.chain(chainForward)
	var chunks []string
	for _, r := range fwd.rules[2:] {
		target, ok := jumpTarget(r.key)
		if !ok || !r.ours {
			t.Fatalf("forward rule %q is not a jump to a sub-chain", r.key)
		}
		chunks = append(chunks, target)
	}
	if len(chunks) < 5 {
		t.Fatalf("%d sub-chains for 2,000 rules", len(chunks))
	}
	var keys []string
	for _, name := range chunks {
		ch := s.chain(name)
		if ch == nil || ch.base {
			t.Fatalf("sub-chain %s missing or a base chain", name)
		}
		for _, r := range ch.rules {
			keys = append(keys, r.key)
			var n int
			fmt.Sscanf(r.key, "firewall-access %d", &n)
			if want := chunkFor(c, chainForward, numbers(cfg.FirewallAccess), n); want != name {
				t.Fatalf("%s in %s, want %s", r.key, name, want)
			}
		}
	}
	for i, r := range cfg.FirewallAccess {
		if keys[i] != fmt.Sprintf("firewall-access %d", r.Number) {
			t.Fatalf("rule %d in the sub-chains is %s, want firewall-access %d", i, keys[i], r.Number)
		}
	}
	t.Logf("%d rules in %d sub-chains", len(keys), len(chunks))

	step := func(what string, next *config.Config, stmt string, wantOps []string, touched ...string) {
		t.Helper()
		p := planFor(t, d, next)
		sameOps(t, what, ops(p), wantOps)
		before := kernelRules(t, ns)
		res := commit(t, d, cfg, next)
		if len(res.Steps) != 1 || res.Steps[0].Stmt != stmt {
			t.Fatalf("%s: steps %v", what, stepNames(res.Steps))
		}
		t.Logf("%s: %s", what, res.Steps[0].Desc)
		untouchedExcept(t, before, kernelRules(t, ns), touched...)
		checkReadback(t, d, ns, next)
		cfg = next
	}

	// Change a rule in the middle: delete and insert in its sub-chain.
	next := cfg.Clone()
	r := &next.FirewallAccess[1000]
	r.Dport = []string{"4242"}
	x := chunkFor(c, chainForward, numbers(cfg.FirewallAccess), r.Number)
	step("change", next, fmt.Sprintf("firewall-access %d", r.Number), []string{"DELRULE " + x, "NEWRULE " + x}, x)

	// Insert a rule that starts no sub-chain: one rule added to the
	// sub-chain of the rule before it.
	next = cfg.Clone()
	n := numberIn(t, c, 10010, 10020, false)
	next.FirewallAccess = slices.Insert(next.FirewallAccess, 1001, config.Rule{Number: n, Action: "deny", Direction: "inbound", Interface: "eth2", Proto: "udp", Dport: []string{"53"}})
	x = chunkFor(c, chainForward, numbers(next.FirewallAccess), n)
	step("insert", next, fmt.Sprintf("firewall-access %d", n), []string{"NEWRULE " + x}, x)

	// Remove a rule that starts no sub-chain.
	next = cfg.Clone()
	i := slices.IndexFunc(next.FirewallAccess, func(r config.Rule) bool { return r.Number > 12000 && !c.isBoundary(r.Number) })
	gone := next.FirewallAccess[i].Number
	x = chunkFor(c, chainForward, numbers(next.FirewallAccess), gone)
	next.FirewallAccess = slices.Delete(next.FirewallAccess, i, i+1)
	step("remove", next, fmt.Sprintf("firewall-access %d", gone), []string{"DELRULE " + x}, x)

	// Insert a rule that starts a sub-chain: the rules after it in its
	// sub-chain move to the new one (with their counters), nothing else.
	next = cfg.Clone()
	nums := numbers(next.FirewallAccess)
	b, at := boundaryGap(t, c, chainForward, nums, len(nums)/2)
	old := chunkFor(c, chainForward, nums, b)
	moved := 0
	for _, m := range nums[at:] {
		if chunkFor(c, chainForward, nums, m) == old {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("the new sub-chain takes no rule: pick another place")
	}
	next.FirewallAccess = slices.Insert(next.FirewallAccess, at, config.Rule{Number: b, Action: "permit", Direction: "outbound", Interface: "eth0", Proto: "tcp", Dport: []string{"22"}})
	nc := chunkName(chainForward, b)
	want := append([]string{"NEWCHAIN " + nc, "NEWRULE " + chainForward, "NEWRULE " + nc}, repeatOp("DELRULE "+old, moved)...)
	want = append(want, repeatOp("NEWRULE "+nc, moved)...)
	step("split", next, fmt.Sprintf("firewall-access %d", b), want, old, nc, chainForward)

	// Remove it again: the sub-chains merge back.
	next = cfg.Clone()
	next.FirewallAccess = slices.Delete(next.FirewallAccess, at, at+1)
	want = append([]string{"DELRULE " + chainForward, "DELRULE " + nc, "DELCHAIN " + nc}, repeatOp("NEWRULE "+old, moved)...)
	step("merge", next, fmt.Sprintf("firewall-access %d", b), want, old, nc, chainForward)

	// Below the threshold the chain is flat again; above, sub-chains.
	next = cfg.Clone()
	next.FirewallAccess = next.FirewallAccess[:c.flatMax]
	commit(t, d, cfg, next)
	checkReadback(t, d, ns, next)
	if l := nftList(t, ns); strings.Contains(l, "jump") {
		t.Fatalf("%d rules are not flat:\n%.2000s", c.flatMax, l)
	}
	cfg, next = next, cfg
	commit(t, d, cfg, next)
	checkReadback(t, d, ns, next)
}

// TestChunkDrift: hand edits of sub-chains are reported and repaired.
func TestChunkDrift(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	cfg := spacedConfig(2000)
	commit(t, d, &configEmpty, cfg)
	want := canonical(nftList(t, ns))
	nums := numbers(cfg.FirewallAccess)
	x := chunkFor(d.comp, chainForward, nums, nums[1000])
	var inX []string
	for _, n := range nums {
		if chunkFor(d.comp, chainForward, nums, n) == x {
			inX = append(inX, fmt.Sprintf("firewall-access %d: rule missing in kernel", n))
		}
	}
	nftExec := func(args ...string) { run(t, append([]string{"ip", "netns", "exec", ns, "nft"}, args...)...) }
	jumpHandle := func() string {
		out := run(t, "ip", "netns", "exec", ns, "nft", "-a", "list", "chain", "inet", TableName, chainForward)
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, `comment "`+jumpKey(x)+`"`) {
				return l[strings.LastIndex(l, " ")+1:]
			}
		}
		t.Fatalf("no jump to %s", x)
		return ""
	}
	for _, tc := range []struct {
		name  string
		edit  func()
		lines []string
	}{
		{"flush sub-chain", func() { nftExec("flush", "chain", "inet", TableName, x) }, inX},
		{"delete jump", func() { nftExec("delete", "rule", "inet", TableName, chainForward, "handle", jumpHandle()) },
			[]string{"firewall " + jumpKey(x) + ": rule missing in kernel"}},
		{"delete sub-chain", func() {
			nftExec("delete", "rule", "inet", TableName, chainForward, "handle", jumpHandle())
			nftExec("flush", "chain", "inet", TableName, x)
			nftExec("delete", "chain", "inet", TableName, x)
		}, []string{"firewall " + jumpKey(x) + ": rule missing in kernel", "firewall: chain " + x + " missing"}},
		{"foreign rule in sub-chain", func() { nftExec("insert", "rule", "inet", TableName, x, "accept") },
			[]string{"firewall: unexpected rule in chain " + x + " (handle "}},
		{"rule moved to another sub-chain", func() {
			// Copy a rule (with its userdata) to the head sub-chain and
			// delete the original.
			out := run(t, "ip", "netns", "exec", ns, "nft", "-a", "list", "chain", "inet", TableName, x)
			var rule, handle string
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, fmt.Sprintf(`comment "firewall-access %d"`, nums[1000])) {
					l = strings.TrimSpace(l)
					handle = l[strings.LastIndex(l, " ")+1:]
					rule = strings.TrimSuffix(l[:strings.LastIndex(l, " # handle")], " ")
				}
			}
			nftExec("delete", "rule", "inet", TableName, x, "handle", handle)
			runStdin(t, fmt.Sprintf("add rule inet %s %s %s\n", TableName, chunkName(chainForward, 0), counterRE.ReplaceAllString(rule, "counter")),
				"ip", "netns", "exec", ns, "nft", "-f", "-")
		}, []string{fmt.Sprintf("firewall-access %d: in chain %s, want %s", nums[1000], chunkName(chainForward, 0), x)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.edit()
			for _, dd := range []*Driver{d, newDriver(t, ns)} {
				driftIs(t, dd, cfg, tc.lines)
			}
			res := commit(t, d, cfg, cfg)
			if len(res.Steps) != 1 {
				t.Fatalf("re-assert planned %v", stepNames(res.Steps))
			}
			noDrift(t, d, cfg)
			if got := canonical(nftList(t, ns)); got != want {
				t.Fatalf("after re-assert the table differs")
			}
		})
	}
}

// TestChunkRollback: a commit that changes, splits and merges sub-chains
// and is then rolled back (a later driver fails), or that the kernel
// refuses, leaves the table exactly as it was, counters included.
func TestChunkRollback(t *testing.T) {
	ns := newNS(t)
	d := newDriver(t, ns)
	c := d.comp
	a := spacedConfig(2000)
	a.FirewallInput = spacedConfig(300).FirewallAccess // chunked input chain too
	commit(t, d, &configEmpty, a)
	run(t, "ip", "netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "127.0.0.1")
	run(t, "ip", "netns", "exec", ns, "nft", "add", "rule", "inet", TableName, chunkName(chainForward, 0), "ip", "saddr", "{ 192.0.2.1, 192.0.2.3 }", "counter", "drop")
	before := nftList(t, ns)

	b := a.Clone()
	nums := numbers(b.FirewallAccess)
	b.FirewallAccess[700].Dst = []string{"192.0.2.77"}                                                 // change
	split, at := boundaryGap(t, c, chainForward, nums, 1200)                                           // split
	b.FirewallAccess = slices.Insert(b.FirewallAccess, at, config.Rule{Number: split, Action: "deny"}) // (moves rules)
	var merge int                                                                                      // merge: drop a boundary
	for _, n := range nums {
		if c.isBoundary(n) && n != split {
			merge = n // the last one
		}
	}
	if merge == 0 {
		t.Fatal("no boundary rule")
	}
	b.FirewallAccess = slices.DeleteFunc(b.FirewallAccess, func(r config.Rule) bool { return r.Number == merge })
	b.FirewallInput = b.FirewallInput[:100] // chunked → flat

	_, err := runtime.Apply(ctx(t), []runtime.Driver{d, failingDriver{}}, a, b, runtime.Options{})
	if err == nil {
		t.Fatal("apply succeeded")
	}
	if got := nftList(t, ns); chainBlocks(got) != chainBlocks(before) {
		t.Fatalf("rollback did not restore the table (%d vs %d bytes)", len(got), len(before))
	}
	lines, err := d.Drift(ctx(t), a)
	if err != nil || len(lines) != 1 || !strings.HasPrefix(lines[0], "firewall: unexpected rule in chain "+chunkName(chainForward, 0)) {
		t.Fatalf("after rollback: %v %q", err, lines)
	}

	// The kernel refuses a rule in a sub-chain: nothing changes, and the
	// error names the statement.
	w, err := c.compile(b)
	if err != nil {
		t.Fatal(err)
	}
	before = nftList(t, ns)
	bad := &ruleIR{chain: chainForward, key: "firewall-access 99999", text: "bad", act: actDNAT, natAddr: addr("192.0.2.1")}
	bad.fingerprint()
	for i := range w.chains {
		if !w.chains[i].base && strings.HasPrefix(w.chains[i].name, chainForward+"-") {
			w.chains[i].units = append(slices.Clip(w.chains[i].units), newUnit(bad.key, []*ruleIR{bad}))
			w.chains[i].fp = ""
			break
		}
	}
	d.mu.Lock()
	_, err = d.apply(ctx(t), w, nil, true)
	d.mu.Unlock()
	if err == nil || !strings.HasPrefix(err.Error(), "firewall-access 99999: kernel rejected rule: ") {
		t.Fatalf("error %v", err)
	}
	if got := nftList(t, ns); got != before {
		t.Fatal("a refused batch changed the table")
	}
}

// TestChunkCounters: show firewall's counters follow the sub-chains (rule
// order, no jump rules), and a rule moved to another sub-chain keeps them.
func TestChunkCounters(t *testing.T) {
	l := newLab(t)
	d, c := l.d, l.d.comp
	listen(t, l.router, "0.0.0.0:2323")
	cfg := spacedConfig(1000)
	cfg.FirewallInput = spacedConfig(400).FirewallAccess
	nums := numbers(cfg.FirewallInput)
	// The target rule has room for a rule that starts a sub-chain right
	// before it, in the same sub-chain.
	b, at := boundaryGap(t, c, chainInput, nums, len(nums)/2)
	target := nums[at]
	cfg.FirewallInput[at] = config.Rule{Number: target, Action: "permit", Direction: "inbound", Interface: "eth1", Proto: "tcp", Dport: []string{"2323"}}
	commit(t, d, &configEmpty, cfg)
	l.expectSeen(t, l.client, "10.1.0.1:2323", "10.1.0.2")

	counter := func() RuleCounter {
		t.Helper()
		cs, err := d.Counters(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		var rules []RuleCounter
		for _, rc := range cs {
			if _, ok := jumpTarget(rc.Name); ok {
				t.Fatalf("jump rule in counters: %+v", rc)
			}
			if rc.Number != 0 {
				rules = append(rules, rc)
			}
		}
		if n := len(cfg.FirewallInput) + len(cfg.FirewallAccess) + len(cfg.FirewallDNAT) + len(cfg.FirewallSNAT); len(rules) != n {
			t.Fatalf("%d counters for %d rules", len(rules), n)
		}
		for i, r := range cfg.FirewallInput {
			if rules[i].Chain != "firewall-input" || rules[i].Number != r.Number {
				t.Fatalf("counter %d is %+v, want firewall-input %d", i, rules[i], r.Number)
			}
		}
		for i, r := range cfg.FirewallAccess {
			if rc := rules[len(cfg.FirewallInput)+i]; rc.Chain != "firewall-access" || rc.Number != r.Number {
				t.Fatalf("counter %d is %+v, want firewall-access %d", i, rc, r.Number)
			}
		}
		for _, rc := range rules {
			if rc.Name == fmt.Sprintf("firewall-input %d", target) {
				return rc
			}
		}
		t.Fatal("no counter for the target rule")
		return RuleCounter{}
	}
	was := counter()
	if was.Packets == 0 {
		t.Fatalf("the connection did not count: %+v", was)
	}

	// Split the target's sub-chain right before it: the rule moves and
	// keeps its counter.
	x := chunkFor(c, chainInput, nums, target)
	next := cfg.Clone()
	next.FirewallInput = slices.Insert(next.FirewallInput, at, config.Rule{Number: b, Action: "deny", Direction: "inbound", Interface: "eth7"})
	res := commit(t, d, cfg, next)
	if len(res.Steps) != 1 || res.Steps[0].Stmt != fmt.Sprintf("firewall-input %d", b) || !strings.Contains(res.Steps[0].Desc, "moved") {
		t.Fatalf("split: %v", stepNames(res.Steps))
	}
	if y := chunkFor(c, chainInput, numbers(next.FirewallInput), target); y == x {
		t.Fatalf("rule did not move (%s)", y)
	}
	cfg = next
	if rc := counter(); rc.Packets != was.Packets || rc.Bytes != was.Bytes {
		t.Fatalf("after the move: counter %+v, want %+v", rc, was)
	}
	noDrift(t, d, cfg)
	l.expectSeen(t, l.client, "10.1.0.1:2323", "10.1.0.2")
}

// TestChunkUpgrade: a table written in the flat layout (by an earlier
// driver) is moved into sub-chains by the next commit of the same
// configuration, as one step that changes no statement.
func TestChunkUpgrade(t *testing.T) {
	ns := newNS(t)
	old := newDriver(t, ns)
	old.comp.flatMax = 1 << 30
	cfg := spacedConfig(2000)
	commit(t, old, &configEmpty, cfg)
	if strings.Contains(nftList(t, ns), "jump") {
		t.Fatal("not flat")
	}
	d := newDriver(t, ns)
	lines, err := d.Drift(ctx(t), cfg)
	if err != nil || len(lines) == 0 {
		t.Fatalf("drift %v %d lines", err, len(lines))
	}
	res := commit(t, d, cfg, cfg)
	if len(res.Steps) != 1 || res.Steps[0].Stmt != "firewall" || !strings.Contains(res.Steps[0].Desc, "2000 rules moved") {
		t.Fatalf("upgrade: %v", stepNames(res.Steps))
	}
	t.Log(res.Steps[0].Desc)
	checkReadback(t, d, ns, cfg)
	// And back.
	if res := commit(t, old, cfg, cfg); len(res.Steps) != 1 || !strings.Contains(res.Steps[0].Desc, "2000 rules moved") {
		t.Fatalf("downgrade: %v", stepNames(res.Steps))
	}
	noDrift(t, old, cfg)
	if strings.Contains(nftList(t, ns), "jump") {
		t.Fatal("not flat")
	}
}
