package nft

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// want is a target state of the table: the configuration's, or a snapshot
// to go back to.
type want struct {
	absent bool // the table must not exist
	flags  uint32
	chains []wantChain
}

type wantChain struct {
	name   string
	base   bool
	typ    string
	hook   uint32
	prio   int32
	policy uint32
	units  []wantUnit
	// fp is the fingerprint of units (unitsFP), set by the compiler; ""
	// (a snapshot to restore) means "compare rule by rule".
	fp string
}

type wantUnit struct {
	key   string
	rules []*kRule // handle unset; ir or raw set
}

// snapshotWant turns a kernel state into a target, to restore it.
func snapshotWant(s *kState) *want {
	if !s.exists {
		return &want{absent: true}
	}
	w := &want{flags: s.flags}
	for _, c := range s.chains {
		wc := wantChain{name: c.name, base: c.base, typ: c.typ, hook: c.hook, prio: c.prio, policy: c.policy}
		for _, run := range runs(c.rules) {
			wc.units = append(wc.units, wantUnit{key: run[0].key, rules: run})
		}
		w.chains = append(w.chains, wc)
	}
	return w
}

// runs groups consecutive rules with the same key.
func runs(rules []*kRule) [][]*kRule {
	var out [][]*kRule
	for i := 0; i < len(rules); {
		j := i + 1
		for j < len(rules) && rules[j].key == rules[i].key {
			j++
		}
		out = append(out, rules[i:j])
		i = j
	}
	return out
}

// plan is the batch that moves the kernel from one state to another.
type plan struct {
	msgs      []bmsg
	after     *kState
	deleted   []deletedRule   // rules the batch removes (their content is needed to undo)
	changed   []string        // labels of the statements whose rules change
	isChanged map[string]bool // the labels in changed
	added     int
	removed   int
	moved     int // rules moved between chains unchanged (not in added/removed)
	chainOp   int
	lines     []string // the differences, for Drift
	// moves are rules the batch deletes and creates again unchanged in
	// another place (a sub-chain split or merged, a flat chain chunked):
	// apply reads their counters just before sending the batch and gives
	// them to the new rules.
	moves []move
	// insOffset is the index in msgs of the first message of the insert
	// group (move.ins counts from there).
	insOffset int

	// Per key, the rules reconcile found missing from their chain and the
	// rules of ours it found in a chain that does not want them: the same
	// key in both is a rule in the wrong chain (see resolveMoves).
	missing map[string]missingRef
	extra   map[string]extraRef
}

type missingRef struct {
	line  int // index in lines; -1: none (a chain created whole)
	chain string
	unit  wantUnit
	added []addedRule
}

type addedRule struct {
	ins     int // index in batchBuilder.insert of its NEWRULE message
	rebuild func(packets, bytes uint64) ([]byte, error)
}

type extraRef struct {
	line  int // index in lines; -1: none (its chain is dropped)
	chain string
	run   []*kRule
}

type move struct {
	chain   string // where the rule is deleted
	handle  uint64
	ins     int
	rebuild func(packets, bytes uint64) ([]byte, error)
}

type deletedRule struct {
	chain string
	rule  *kRule
}

func (p *plan) empty() bool { return len(p.msgs) == 0 }

// deletionEcho records the counters of a rule as the kernel deleted it.
func (b *batchBuilder) deletionEcho(attrs []byte) {
	e, _, _ := parseRule(attrs, true)
	r := b.gone[e.handle]
	if r == nil {
		return
	}
	if r.raw != nil {
		e.raw.sets = r.raw.sets
	}
	r.raw = e.raw
}

// label is how a rule key is named in messages: configuration statements
// by themselves, built-in defaults, jumps to sub-chains and foreign rules
// with a "firewall" prefix.
func label(key string) string {
	if strings.HasPrefix(key, "firewall-") {
		return key
	}
	return "firewall " + key
}

func (p *plan) line(format string, args ...any) {
	p.lines = append(p.lines, fmt.Sprintf(format, args...))
}

func (p *plan) change(key string) {
	if _, ok := jumpTarget(key); ok {
		return // the layout of sub-chains is no statement of the configuration
	}
	if l := label(key); !p.isChanged[l] {
		if p.isChanged == nil {
			p.isChanged = map[string]bool{}
		}
		p.isChanged[l] = true
		p.changed = append(p.changed, l)
	}
}

// batchBuilder accumulates messages; set IDs are unique within one batch.
type batchBuilder struct {
	setID uint32
	// setPrefix starts the names of the anonymous sets of the batch:
	// "__set<generation>_", and the set ID follows. The kernel would
	// number "__set%d" itself, but finds a free number by scanning every
	// set of the table (sscanf on each name): with 2,000 anonymous sets
	// that costs more than the rest of a one-rule change. The batch is
	// conditional on the generation, so the names are new in the table;
	// nft shows anonymous sets inline whatever their names.
	setPrefix string
	err       error
	// gone maps the handles of deleted rules to the rules: the kernel's
	// echo of each deletion brings their final counters, for undo.
	gone     map[uint64]*kRule
	table    []bmsg // table creation or update
	delete   []bmsg // rule deletions
	flush    []bmsg // flushes of chains to delete (all before any deletion: jumps)
	delchain []bmsg // chain deletions
	create   []bmsg // table and chain creations and updates
	insert   []bmsg // sets and rules
}

func (b *batchBuilder) msgs() []bmsg {
	out := make([]bmsg, 0, len(b.table)+len(b.delete)+len(b.flush)+len(b.delchain)+len(b.create)+len(b.insert))
	out = append(out, b.table...)
	out = append(out, b.delete...)
	out = append(out, b.flush...)
	out = append(out, b.delchain...)
	out = append(out, b.create...)
	return append(out, b.insert...)
}

// reconcile computes the batch from cur to w, and what the kernel will hold
// after it (handles of new rules are filled in from the kernel's echo).
// A chain whose fingerprint equals the wanted one is not looked at rule by
// rule: an unchanged 10,000-rule table in sub-chains costs one comparison
// per chain.
func reconcile(cur *kState, w *want) (*plan, error) {
	p := &plan{after: &kState{exists: !w.absent, flags: w.flags}}
	b := &batchBuilder{gone: map[uint64]*kRule{}, setPrefix: "__set" + strconv.FormatUint(uint64(cur.gen), 10) + "_"}
	if w.absent {
		if cur.exists {
			p.line("firewall: table inet %s present", TableName)
			p.msgs = []bmsg{{typ: unix.NFT_MSG_DELTABLE, attrs: tableAttrs(), what: "table deletion"}}
			p.chainOp++
			for _, c := range cur.chains {
				for _, r := range c.rules {
					p.deleted = append(p.deleted, deletedRule{c.name, r})
					p.removed++
				}
			}
			p.changed = []string{"firewall"}
		}
		return p, nil
	}
	tableMsg := false
	if !cur.exists {
		p.line("firewall: table inet %s missing", TableName)
		tableMsg = true
	} else if cur.flags != w.flags {
		p.line("firewall: table inet %s flags %#x, want %#x", TableName, cur.flags, w.flags)
		tableMsg = true
	}
	if tableMsg {
		ae := newEnc()
		ae.String(unix.NFTA_TABLE_NAME, TableName)
		ae.Uint32(unix.NFTA_TABLE_FLAGS, w.flags)
		b.table = append(b.table, bmsg{typ: unix.NFT_MSG_NEWTABLE, flags: netlink.Create, attrs: mustEncode(ae), what: "table"})
		p.chainOp++
	}

	if cur.exists {
		wanted := make(map[string]bool, len(w.chains))
		for _, wc := range w.chains {
			wanted[wc.name] = true
		}
		for _, c := range cur.chains {
			if !wanted[c.name] {
				p.line("firewall: unexpected chain %s in table inet %s", c.name, TableName)
				dropChain(b, p, c)
			}
		}
	}
	p.after.chains = make([]*kChain, 0, len(w.chains))
	for i := range w.chains {
		wc := &w.chains[i]
		var kc *kChain
		if cur.exists {
			kc = cur.chain(wc.name)
		}
		switch {
		case kc == nil:
			if cur.exists {
				p.line("firewall: chain %s missing", wc.name)
			}
			b.create = append(b.create, chainMsg(wc))
			p.chainOp++
			after := newAfter(wc)
			appendAll(b, p, wc, after, cur.exists)
			p.after.chains = append(p.after.chains, after)
		case kc.base != wc.base || kc.typ != wc.typ || kc.hook != wc.hook || kc.prio != wc.prio:
			p.line("firewall: chain %s is %s, want %s", wc.name, describeChain(kc.base, kc.typ, kc.hook, kc.prio), describeChain(wc.base, wc.typ, wc.hook, wc.prio))
			dropChain(b, p, kc)
			b.create = append(b.create, chainMsg(wc))
			p.chainOp++
			after := newAfter(wc)
			appendAll(b, p, wc, after, true)
			p.after.chains = append(p.after.chains, after)
		default:
			policyOK := !wc.base || kc.policy == wc.policy
			if !policyOK {
				p.line("firewall: chain %s policy %s, want %s", wc.name, policyName(kc.policy), policyName(wc.policy))
				b.create = append(b.create, chainMsg(wc))
				p.chainOp++
				p.changed = append(p.changed, "firewall")
			}
			if wc.fp != "" && wc.fp == kc.fingerprint() {
				if policyOK {
					p.after.chains = append(p.after.chains, kc)
				} else {
					after := newAfter(wc)
					after.rules, after.fp, after.fpDone = kc.rules, kc.fp, true
					p.after.chains = append(p.after.chains, after)
				}
				continue
			}
			after := newAfter(wc)
			if err := diffRules(b, p, kc, wc, after); err != nil {
				return nil, err
			}
			p.after.chains = append(p.after.chains, after)
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	p.resolveMoves()
	p.insOffset = len(b.table) + len(b.delete) + len(b.flush) + len(b.delchain) + len(b.create)
	p.msgs = b.msgs()
	if len(p.msgs) > 0 && len(p.changed) == 0 {
		p.changed = []string{"firewall"}
	}
	return p, nil
}

func newAfter(wc *wantChain) *kChain {
	return &kChain{name: wc.name, base: wc.base, typ: wc.typ, hook: wc.hook, prio: wc.prio, policy: wc.policy}
}

// resolveMoves pairs the rules found missing in one chain with the same
// rules found in another chain that does not want them: one line says the
// rule is in the wrong chain, and if the rule itself is unchanged (a
// sub-chain split or merged) it does not count as a changed statement and
// keeps its counters.
func (p *plan) resolveMoves() {
	if len(p.missing) == 0 || len(p.extra) == 0 {
		return
	}
	drop := map[int]bool{}
	unchanged := map[string]bool{}
	for key, m := range p.missing {
		x, ok := p.extra[key]
		if !ok {
			continue
		}
		if m.line >= 0 {
			p.lines[m.line] = fmt.Sprintf("%s: in chain %s, want %s", label(key), x.chain, m.chain)
		}
		if x.line >= 0 {
			drop[x.line] = true
		}
		if !sameIDs(x.run, m.unit.rules) || len(m.added) != len(x.run) {
			continue
		}
		unchanged[label(key)] = true
		for i, a := range m.added {
			if a.rebuild != nil {
				p.moves = append(p.moves, move{chain: x.chain, handle: x.run[i].handle, ins: a.ins, rebuild: a.rebuild})
			}
		}
		p.added -= len(x.run)
		p.removed -= len(x.run)
		p.moved += len(x.run)
	}
	if len(drop) > 0 {
		lines := p.lines[:0]
		for i, l := range p.lines {
			if !drop[i] {
				lines = append(lines, l)
			}
		}
		p.lines = lines
	}
	if len(unchanged) > 0 {
		p.changed = slices.DeleteFunc(p.changed, func(l string) bool { return unchanged[l] })
	}
}

func policyName(p uint32) string {
	if p == nfAccept {
		return "accept"
	}
	return "drop"
}

func describeChain(base bool, typ string, hook uint32, prio int32) string {
	if !base {
		return "a regular chain"
	}
	return fmt.Sprintf("type %s hook %d priority %d", typ, hook, prio)
}

func chainMsg(wc *wantChain) bmsg {
	ae := newEnc()
	ae.String(unix.NFTA_CHAIN_TABLE, TableName)
	ae.String(unix.NFTA_CHAIN_NAME, wc.name)
	if wc.base {
		ae.Nested(unix.NFTA_CHAIN_HOOK, func(n *netlink.AttributeEncoder) error {
			n.Uint32(unix.NFTA_HOOK_HOOKNUM, wc.hook)
			n.Uint32(unix.NFTA_HOOK_PRIORITY, uint32(wc.prio))
			return nil
		})
		ae.Uint32(unix.NFTA_CHAIN_POLICY, wc.policy)
		ae.String(unix.NFTA_CHAIN_TYPE, wc.typ)
	}
	return bmsg{typ: unix.NFT_MSG_NEWCHAIN, flags: netlink.Create, attrs: mustEncode(ae), what: "chain " + wc.name}
}

// dropChain flushes and deletes a chain. All flushes go before all chain
// deletions: a chain still jumped to cannot be deleted.
func dropChain(b *batchBuilder, p *plan, kc *kChain) {
	ae := newEnc()
	ae.String(unix.NFTA_RULE_TABLE, TableName)
	ae.String(unix.NFTA_RULE_CHAIN, kc.name)
	b.flush = append(b.flush, bmsg{typ: unix.NFT_MSG_DELRULE, attrs: mustEncode(ae), what: "flush of chain " + kc.name, echo: b.deletionEcho})
	ae = newEnc()
	ae.String(unix.NFTA_CHAIN_TABLE, TableName)
	ae.String(unix.NFTA_CHAIN_NAME, kc.name)
	b.delchain = append(b.delchain, bmsg{typ: unix.NFT_MSG_DELCHAIN, attrs: mustEncode(ae), what: "deletion of chain " + kc.name})
	p.chainOp++
	for _, r := range kc.rules {
		b.gone[r.handle] = r
		p.deleted = append(p.deleted, deletedRule{kc.name, r})
		p.removed++
		p.change(r.key)
	}
	for _, run := range runs(kc.rules) {
		if key := run[0].key; run[0].ours || strings.HasPrefix(key, "firewall-") || strings.HasPrefix(key, "default-") {
			p.addExtra(run[0].key, extraRef{line: -1, chain: kc.name, run: run})
		}
	}
}

func (p *plan) addExtra(key string, x extraRef) {
	if p.extra == nil {
		p.extra = map[string]extraRef{}
	}
	if _, dup := p.extra[key]; !dup {
		p.extra[key] = x
	}
}

// appendAll fills a new chain. With track, its rules may come from another
// chain (see resolveMoves).
func appendAll(b *batchBuilder, p *plan, wc *wantChain, after *kChain, track bool) {
	n := 0
	for _, u := range wc.units {
		n += len(u.rules)
	}
	after.rules = make([]*kRule, 0, n)
	for _, u := range wc.units {
		var added []addedRule
		for _, r := range u.rules {
			nr, a := addRule(b, p, wc.name, r, 0, true)
			after.rules = append(after.rules, nr)
			added = append(added, a)
		}
		if track {
			p.change(u.key)
			p.addMissing(u.key, missingRef{line: -1, chain: wc.name, unit: u, added: added})
		}
	}
}

func (p *plan) addMissing(key string, m missingRef) {
	if p.missing == nil {
		p.missing = map[string]missingRef{}
	}
	if _, dup := p.missing[key]; !dup {
		p.missing[key] = m
	}
}

// diffRules changes only the rules that differ. The common head and tail
// of the kernel's and the wanted rule lists stay as they are. In the
// middle, a run of kernel rules is kept when its key is wanted with the
// same fingerprints; among those, the longest subsequence already in the
// wanted order stays in place and everything else is deleted and inserted
// at its position.
func diffRules(b *batchBuilder, p *plan, kc *kChain, wc *wantChain, after *kChain) error {
	rules, units := kc.rules, wc.units
	// matchAt tells whether unit u is exactly rules[i:i+len(u.rules)], as
	// a whole run (the rules around it have other keys).
	matchAt := func(i int, u wantUnit) bool {
		n := len(u.rules)
		if n == 0 || i < 0 || i+n > len(rules) || rules[i].key != u.key ||
			(i > 0 && rules[i-1].key == u.key) || (i+n < len(rules) && rules[i+n].key == u.key) {
			return false
		}
		return sameIDs(rules[i:i+n], u.rules)
	}
	pre, ri := 0, 0 // units and rules in the common head
	for pre < len(units) && matchAt(ri, units[pre]) {
		ri += len(units[pre].rules)
		pre++
	}
	if pre == len(units) && ri == len(rules) {
		after.rules = kc.rules
		return nil
	}
	suf, rj := 0, len(rules) // units in the common tail, start of its rules
	for suf < len(units)-pre && matchAt(rj-len(units[len(units)-1-suf].rules), units[len(units)-1-suf]) &&
		rj-len(units[len(units)-1-suf].rules) >= ri {
		rj -= len(units[len(units)-1-suf].rules)
		suf++
	}
	midK, midU := runs(rules[ri:rj]), units[pre:len(units)-suf]
	tail := rules[rj:]
	after.rules = make([]*kRule, 0, len(rules)+8)
	after.rules = append(after.rules, rules[:ri]...)

	idx := make(map[string]int, len(midU))
	for i, u := range midU {
		idx[u.key] = i
	}
	wantedElsewhere := func(key string) bool {
		for _, u := range units {
			if u.key == key {
				return true
			}
		}
		return false
	}
	type cand struct {
		run []*kRule
		j   int
	}
	claimed := make(map[string]bool, len(midK))
	var cands []cand
	status := make([]string, len(midK)) // why a run is not kept
	extra := make([]bool, len(midK))    // ours (by key), not wanted in this chain
	for i, run := range midK {
		key := run[0].key
		j, ok := idx[key]
		switch {
		case !ok && wantedElsewhere(key):
			status[i] = label(key) + ": duplicated in kernel"
		case !ok:
			if run[0].ours || strings.HasPrefix(key, "firewall-") || strings.HasPrefix(key, "default-") {
				status[i] = label(key) + ": in kernel but not in configuration"
				extra[i] = true
			} else {
				status[i] = fmt.Sprintf("firewall: unexpected rule in chain %s (%s)", kc.name, key)
			}
		case claimed[key]:
			status[i] = label(key) + ": duplicated in kernel"
		case !sameIDs(run, midU[j].rules):
			claimed[key] = true
			status[i] = label(key) + ": differs"
		default:
			claimed[key] = true
			cands = append(cands, cand{run, j})
			status[i] = label(key) + ": out of order"
		}
	}
	// Longest increasing subsequence of the candidates' wanted positions.
	js := make([]int, len(cands))
	for i, c := range cands {
		js[i] = c.j
	}
	keep := lis(js)
	kept := make(map[int][]*kRule, len(keep))
	keptRun := make(map[*kRule]bool, len(keep))
	for _, ci := range keep {
		kept[cands[ci].j] = cands[ci].run
		keptRun[cands[ci].run[0]] = true
	}
	// Runs deleted only because they are out of order come back unchanged
	// at their place: they keep their counters.
	var reordered map[int][]*kRule
	if len(keep) < len(cands) {
		reordered = make(map[int][]*kRule, len(cands)-len(keep))
		for _, c := range cands {
			if !keptRun[c.run[0]] {
				reordered[c.j] = c.run
			}
		}
	}
	for i, run := range midK {
		if keptRun[run[0]] {
			continue
		}
		if extra[i] {
			p.addExtra(run[0].key, extraRef{line: len(p.lines), chain: kc.name, run: run})
		}
		p.line("%s", status[i])
		p.change(run[0].key)
		for _, r := range run {
			ae := newEnc()
			ae.String(unix.NFTA_RULE_TABLE, TableName)
			ae.String(unix.NFTA_RULE_CHAIN, kc.name)
			ae.Uint64(unix.NFTA_RULE_HANDLE, r.handle)
			b.delete = append(b.delete, bmsg{typ: unix.NFT_MSG_DELRULE, attrs: mustEncode(ae), label: label(r.key), what: "rule deletion", echo: b.deletionEcho})
			b.gone[r.handle] = r
			p.deleted = append(p.deleted, deletedRule{kc.name, r})
			p.removed++
		}
	}
	// Anchor for each wanted position: the first rule of the next kept
	// unit, else of the common tail; none means "append to the chain".
	anchor := make([]uint64, len(midU))
	var next uint64
	if len(tail) > 0 {
		next = tail[0].handle
	}
	for j := len(midU) - 1; j >= 0; j-- {
		anchor[j] = next
		if run, ok := kept[j]; ok {
			next = run[0].handle
		}
	}
	for j, u := range midU {
		if run, ok := kept[j]; ok {
			after.rules = append(after.rules, run...)
			continue
		}
		missing := !claimed[u.key]
		if missing {
			p.addMissing(u.key, missingRef{line: len(p.lines), chain: wc.name, unit: u})
			p.line("%s: rule missing in kernel", label(u.key))
		}
		p.change(u.key)
		old := reordered[j]
		var added []addedRule
		for i, r := range u.rules {
			nr, a := addRule(b, p, wc.name, r, anchor[j], anchor[j] == 0)
			after.rules = append(after.rules, nr)
			if old != nil && a.rebuild != nil {
				p.moves = append(p.moves, move{chain: kc.name, handle: old[i].handle, ins: a.ins, rebuild: a.rebuild})
			}
			added = append(added, a)
		}
		if missing {
			m := p.missing[u.key]
			m.added = added
			p.missing[u.key] = m
		}
	}
	after.rules = append(after.rules, tail...)
	return nil
}

func sameIDs(run, rules []*kRule) bool {
	if len(run) != len(rules) {
		return false
	}
	for i := range run {
		if run[i].id != rules[i].id || strings.HasPrefix(run[i].id, "handle ") && run[i].handle != rules[i].handle {
			return false
		}
	}
	return true
}

// lis returns the indexes of a longest strictly increasing subsequence.
func lis(a []int) []int {
	if len(a) == 0 {
		return nil
	}
	tails := []int{} // index into a of the tail of each length
	prev := make([]int, len(a))
	for i, v := range a {
		k := sort.Search(len(tails), func(k int) bool { return a[tails[k]] >= v })
		if k > 0 {
			prev[i] = tails[k-1]
		} else {
			prev[i] = -1
		}
		if k == len(tails) {
			tails = append(tails, i)
		} else {
			tails[k] = i
		}
	}
	out := make([]int, len(tails))
	for i, k := len(tails)-1, tails[len(tails)-1]; i >= 0; i, k = i-1, prev[k] {
		out[i] = k
	}
	return out
}

// addRule queues a rule creation: before the rule with handle `before`, or
// at the end of the chain. It returns the rule as it will be in the kernel
// and where its message is; for a rule built from the configuration with
// no counters to restore, rebuild makes the message again with counters
// (for a rule moved from elsewhere).
func addRule(b *batchBuilder, p *plan, chain string, r *kRule, before uint64, appendTail bool) (*kRule, addedRule) {
	nr := &kRule{key: r.key, id: r.id, text: r.text, ours: r.ours, ir: r.ir, raw: r.raw}
	if strings.HasPrefix(nr.id, "handle ") {
		// A foreign rule put back gets a new handle, hence a new identity.
		nr.id = ""
	}
	lbl := label(r.key)
	var attrs []byte
	var rebuild func(packets, bytes uint64) ([]byte, error)
	var err error
	if r.ir != nil {
		// Built from the configuration; a rule put back keeps the
		// counter values it had when it was deleted.
		var cnt expr.Counter
		if r.raw != nil {
			cnt.Packets, cnt.Bytes, _ = counterOf(r.raw.exprs)
		}
		ex, sets := r.ir.exprs()
		ids := b.addSets(sets, lbl)
		udata := r.ir.userData()
		var exprs []byte
		exprs, err = irExprs(ex, ids, b.setPrefix, cnt, lbl)
		attrs = ruleAttrs(chain, before, exprs, udata)
		if r.raw == nil {
			prefix := b.setPrefix
			rebuild = func(packets, bytes uint64) ([]byte, error) {
				exprs, err := irExprs(ex, ids, prefix, expr.Counter{Packets: packets, Bytes: bytes}, lbl)
				if err != nil {
					return nil, err
				}
				return ruleAttrs(chain, before, exprs, udata), nil
			}
		}
	} else {
		var exprs []byte
		var setMsgs []bmsg
		exprs, setMsgs, err = b.rawExprs(r.raw, lbl)
		b.insert = append(b.insert, setMsgs...)
		attrs = ruleAttrs(chain, before, exprs, r.raw.udata)
	}
	if err != nil && b.err == nil {
		b.err = err
	}
	flags := netlink.Create
	if appendTail {
		flags |= netlink.HeaderFlags(unix.NLM_F_APPEND)
	}
	b.insert = append(b.insert, bmsg{
		typ: unix.NFT_MSG_NEWRULE, flags: flags, attrs: attrs, label: lbl, what: "rule",
		echo: func(attrs []byte) {
			e, _, _ := parseRule(attrs, false)
			nr.handle = e.handle
			if nr.id == "" {
				nr.id = "handle " + fmt.Sprint(e.handle)
				nr.key = e.key
			}
		},
	})
	p.added++
	return nr, addedRule{ins: len(b.insert) - 1, rebuild: rebuild}
}

func ruleAttrs(chain string, before uint64, exprs, udata []byte) []byte {
	ae := newEnc()
	ae.String(unix.NFTA_RULE_TABLE, TableName)
	ae.String(unix.NFTA_RULE_CHAIN, chain)
	if before != 0 {
		ae.Uint64(unix.NFTA_RULE_POSITION, before)
	}
	ae.Bytes(unix.NLA_F_NESTED|unix.NFTA_RULE_EXPRESSIONS, exprs)
	if len(udata) > 0 {
		ae.Bytes(unix.NFTA_RULE_USERDATA, udata)
	}
	return mustEncode(ae)
}

const familyINet = unix.NFPROTO_INET

// addSets queues the anonymous sets of a rule built from the
// configuration and returns their batch IDs.
func (b *batchBuilder) addSets(sets []setSpec, lbl string) []uint32 {
	ids := make([]uint32, len(sets))
	for i, s := range sets {
		b.setID++
		ids[i] = b.setID
		b.insert = append(b.insert, setMsgs(s.keyType, s.keyLen, setFlags(s.interval), s.userData(), b.setName(b.setID), b.setID, encodeElems(s), lbl)...)
	}
	return ids
}

// irExprs marshals the expressions of a rule built from the configuration:
// lookups point at the batch IDs of its sets, the counter starts at cnt.
func irExprs(ex []expr.Any, ids []uint32, setPrefix string, cnt expr.Counter, lbl string) ([]byte, error) {
	ae := newEnc()
	for _, e := range ex {
		switch x := e.(type) {
		case *expr.Lookup:
			l2 := *x
			l2.SetID = ids[x.SetID]
			l2.SetName = setPrefix + strconv.FormatUint(uint64(l2.SetID), 10)
			e = &l2
		case *expr.Counter:
			e = &cnt
		}
		data, err := expr.Marshal(familyINet, e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", lbl, err)
		}
		ae.Bytes(unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM, data)
	}
	return ae.Encode()
}

func setFlags(interval bool) uint32 {
	f := uint32(unix.NFT_SET_ANONYMOUS | unix.NFT_SET_CONSTANT)
	if interval {
		f |= unix.NFT_SET_INTERVAL
	}
	return f
}

func encodeElems(s setSpec) []byte {
	ae := newEnc()
	for _, e := range s.elems {
		ae.Nested(unix.NFTA_LIST_ELEM, func(n *netlink.AttributeEncoder) error {
			n.Nested(unix.NFTA_SET_ELEM_KEY, func(k *netlink.AttributeEncoder) error {
				k.Bytes(unix.NFTA_DATA_VALUE, e.key)
				return nil
			})
			if e.end {
				n.Uint32(unix.NFTA_SET_ELEM_FLAGS, unix.NFT_SET_ELEM_INTERVAL_END)
			}
			return nil
		})
	}
	return mustEncode(ae)
}

// setMsgs creates an anonymous set and its elements.
// setName is the name of the anonymous set with batch ID id.
func (b *batchBuilder) setName(id uint32) string {
	return b.setPrefix + strconv.FormatUint(uint64(id), 10)
}

func setMsgs(keyType, keyLen, flags uint32, udata []byte, name string, id uint32, elems []byte, lbl string) []bmsg {
	ae := newEnc()
	ae.String(unix.NFTA_SET_TABLE, TableName)
	ae.String(unix.NFTA_SET_NAME, name)
	ae.Uint32(unix.NFTA_SET_FLAGS, flags)
	ae.Uint32(unix.NFTA_SET_KEY_TYPE, keyType)
	ae.Uint32(unix.NFTA_SET_KEY_LEN, keyLen)
	ae.Uint32(unix.NFTA_SET_ID, id)
	if len(udata) > 0 {
		ae.Bytes(unix.NFTA_SET_USERDATA, udata)
	}
	set := bmsg{typ: unix.NFT_MSG_NEWSET, flags: netlink.Create, attrs: mustEncode(ae), label: lbl, what: "set"}
	ae = newEnc()
	ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, TableName)
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, name)
	ae.Uint32(unix.NFTA_SET_ELEM_LIST_SET_ID, id)
	ae.Bytes(unix.NLA_F_NESTED|unix.NFTA_SET_ELEM_LIST_ELEMENTS, elems)
	el := bmsg{typ: unix.NFT_MSG_NEWSETELEM, flags: netlink.Create, attrs: mustEncode(ae), label: lbl, what: "set elements"}
	return []bmsg{set, el}
}

// rawExprs re-creates a dumped rule: its anonymous sets get new IDs and its
// lookups are pointed at them; everything else (counters included) is sent
// back as the kernel dumped it.
func (b *batchBuilder) rawExprs(raw *rawRule, lbl string) ([]byte, []bmsg, error) {
	var msgs []bmsg
	ids := map[string]uint32{}
	for _, name := range anonSets(raw.exprs) {
		if _, ok := ids[name]; ok {
			continue
		}
		s := raw.sets[name]
		if s == nil {
			return nil, nil, fmt.Errorf("%s: contents of set %s unknown", lbl, name)
		}
		b.setID++
		ids[name] = b.setID
		msgs = append(msgs, setMsgs(s.keyType, s.keyLen, s.flags, s.udata, b.setName(b.setID), b.setID, s.elems, lbl)...)
	}
	if len(ids) == 0 {
		return raw.exprs, nil, nil
	}
	ae := newEnc()
	var err error
	forAttrs(raw.exprs, func(_ uint16, elem []byte) {
		var name string
		var data []byte
		forAttrs(elem, func(t uint16, v []byte) {
			switch t {
			case unix.NFTA_EXPR_NAME:
				name = cstr(v)
			case unix.NFTA_EXPR_DATA:
				data = v
			}
		})
		if name != "lookup" {
			ae.Bytes(unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM, elem)
			return
		}
		le := newEnc()
		forAttrs(data, func(t uint16, v []byte) {
			switch t {
			case unix.NFTA_LOOKUP_SET:
				if id, ok := ids[cstr(v)]; ok {
					le.String(unix.NFTA_LOOKUP_SET, b.setName(id))
					le.Uint32(unix.NFTA_LOOKUP_SET_ID, id)
					return
				}
				le.Bytes(t, v)
			case unix.NFTA_LOOKUP_SET_ID:
			default:
				le.Bytes(t, v)
			}
		})
		d, e := le.Encode()
		if e != nil {
			err = e
		}
		ne := newEnc()
		ne.String(unix.NFTA_EXPR_NAME, "lookup")
		ne.Bytes(unix.NLA_F_NESTED|unix.NFTA_EXPR_DATA, d)
		ae.Bytes(unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM, mustEncode(ne))
	})
	if err != nil {
		return nil, nil, err
	}
	out, err := ae.Encode()
	return out, msgs, err
}
