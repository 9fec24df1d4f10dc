package nft

import (
	"fmt"
	"slices"
	"sort"
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
	msgs    []bmsg
	after   *kState
	deleted []deletedRule // rules the batch removes (their content is needed to undo)
	changed []string      // labels of the statements whose rules change
	added   int
	removed int
	chainOp int
	lines   []string // the differences, for Drift
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
// by themselves, built-in defaults and foreign rules with a "firewall" prefix.
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
	if l := label(key); !slices.Contains(p.changed, l) {
		p.changed = append(p.changed, l)
	}
}

// batchBuilder accumulates messages; set IDs are unique within one batch.
type batchBuilder struct {
	setID uint32
	err   error
	// gone maps the handles of deleted rules to the rules: the kernel's
	// echo of each deletion brings their final counters, for undo.
	gone   map[uint64]*kRule
	table  []bmsg // table creation or update
	delete []bmsg // rule deletions
	drop   []bmsg // chain flushes and deletions
	create []bmsg // table and chain creations and updates
	insert []bmsg // sets and rules
}

func (b *batchBuilder) msgs() []bmsg {
	out := make([]bmsg, 0, len(b.table)+len(b.delete)+len(b.drop)+len(b.create)+len(b.insert))
	out = append(out, b.table...)
	out = append(out, b.delete...)
	out = append(out, b.drop...)
	out = append(out, b.create...)
	return append(out, b.insert...)
}

// reconcile computes the batch from cur to w, and what the kernel will hold
// after it (handles of new rules are filled in from the kernel's echo).
func reconcile(cur *kState, w *want) (*plan, error) {
	p := &plan{after: &kState{exists: !w.absent, flags: w.flags}}
	b := &batchBuilder{gone: map[uint64]*kRule{}}
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

	wanted := map[string]bool{}
	for _, wc := range w.chains {
		wanted[wc.name] = true
	}
	if cur.exists {
		for _, c := range cur.chains {
			if !wanted[c.name] {
				p.line("firewall: unexpected chain %s in table inet %s", c.name, TableName)
				dropChain(b, p, c)
			}
		}
	}
	for i := range w.chains {
		wc := &w.chains[i]
		var kc *kChain
		if cur.exists {
			kc = cur.chain(wc.name)
		}
		after := &kChain{name: wc.name, base: wc.base, typ: wc.typ, hook: wc.hook, prio: wc.prio, policy: wc.policy}
		p.after.chains = append(p.after.chains, after)
		switch {
		case kc == nil:
			if cur.exists {
				p.line("firewall: chain %s missing", wc.name)
			}
			b.create = append(b.create, chainMsg(wc))
			p.chainOp++
			appendAll(b, p, wc, after)
		case kc.base != wc.base || kc.typ != wc.typ || kc.hook != wc.hook || kc.prio != wc.prio:
			p.line("firewall: chain %s is %s, want %s", wc.name, describeChain(kc.base, kc.typ, kc.hook, kc.prio), describeChain(wc.base, wc.typ, wc.hook, wc.prio))
			dropChain(b, p, kc)
			b.create = append(b.create, chainMsg(wc))
			p.chainOp++
			appendAll(b, p, wc, after)
		default:
			if wc.base && kc.policy != wc.policy {
				p.line("firewall: chain %s policy %s, want %s", wc.name, policyName(kc.policy), policyName(wc.policy))
				b.create = append(b.create, chainMsg(wc))
				p.chainOp++
				p.changed = append(p.changed, "firewall")
			}
			if err := diffRules(b, p, kc, wc, after); err != nil {
				return nil, err
			}
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	p.msgs = b.msgs()
	if len(p.msgs) > 0 && len(p.changed) == 0 {
		p.changed = []string{"firewall"}
	}
	return p, nil
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

// dropChain flushes and deletes a chain.
func dropChain(b *batchBuilder, p *plan, kc *kChain) {
	ae := newEnc()
	ae.String(unix.NFTA_RULE_TABLE, TableName)
	ae.String(unix.NFTA_RULE_CHAIN, kc.name)
	b.drop = append(b.drop, bmsg{typ: unix.NFT_MSG_DELRULE, attrs: mustEncode(ae), what: "flush of chain " + kc.name, echo: b.deletionEcho})
	ae = newEnc()
	ae.String(unix.NFTA_CHAIN_TABLE, TableName)
	ae.String(unix.NFTA_CHAIN_NAME, kc.name)
	b.drop = append(b.drop, bmsg{typ: unix.NFT_MSG_DELCHAIN, attrs: mustEncode(ae), what: "deletion of chain " + kc.name})
	p.chainOp++
	for _, r := range kc.rules {
		b.gone[r.handle] = r
		p.deleted = append(p.deleted, deletedRule{kc.name, r})
		p.removed++
		p.change(r.key)
	}
}

func appendAll(b *batchBuilder, p *plan, wc *wantChain, after *kChain) {
	for _, u := range wc.units {
		for _, r := range u.rules {
			after.rules = append(after.rules, addRule(b, p, wc.name, r, 0, true))
		}
	}
}

// diffRules changes only the rules that differ. The common head and tail
// of the kernel's and the wanted rule lists stay as they are (so a change
// to one rule of 10,000 costs one comparison per rule and no maps). In the
// middle, a run of kernel rules is kept when its key is wanted with the same
// fingerprints; among those, the longest subsequence already in the wanted
// order stays in place and everything else is deleted and inserted at its
// position.
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
	for i, run := range midK {
		key := run[0].key
		j, ok := idx[key]
		switch {
		case !ok && wantedElsewhere(key):
			status[i] = label(key) + ": duplicated in kernel"
		case !ok:
			if run[0].ours || strings.HasPrefix(key, "firewall-") || strings.HasPrefix(key, "default-") {
				status[i] = label(key) + ": in kernel but not in configuration"
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
	keptRun := map[*kRule]bool{}
	for _, ci := range keep {
		kept[cands[ci].j] = cands[ci].run
		keptRun[cands[ci].run[0]] = true
	}
	for i, run := range midK {
		if keptRun[run[0]] {
			continue
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
		if !claimed[u.key] {
			p.line("%s: rule missing in kernel", label(u.key))
		}
		p.change(u.key)
		for _, r := range u.rules {
			after.rules = append(after.rules, addRule(b, p, wc.name, r, anchor[j], anchor[j] == 0))
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
// at the end of the chain. It returns the rule as it will be in the kernel.
func addRule(b *batchBuilder, p *plan, chain string, r *kRule, before uint64, appendTail bool) *kRule {
	nr := &kRule{key: r.key, id: r.id, text: r.text, ours: r.ours, ir: r.ir, raw: r.raw}
	if strings.HasPrefix(nr.id, "handle ") {
		// A foreign rule put back gets a new handle, hence a new identity.
		nr.id = ""
	}
	lbl := label(r.key)
	var exprs, udata []byte
	var setMsgs []bmsg
	var err error
	if r.ir != nil {
		// Built from the configuration; a rule put back keeps the
		// counter values it had when it was deleted.
		var cnt expr.Counter
		if r.raw != nil {
			cnt.Packets, cnt.Bytes, _ = counterOf(r.raw.exprs)
		}
		exprs, setMsgs, err = b.irExprs(r.ir, cnt, lbl)
		udata = r.ir.userData()
	} else {
		exprs, setMsgs, err = b.rawExprs(r.raw, lbl)
		udata = r.raw.udata
	}
	if err != nil && b.err == nil {
		b.err = err
	}
	b.insert = append(b.insert, setMsgs...)
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
	flags := netlink.Create
	if appendTail {
		flags |= netlink.HeaderFlags(unix.NLM_F_APPEND)
	}
	b.insert = append(b.insert, bmsg{
		typ: unix.NFT_MSG_NEWRULE, flags: flags, attrs: mustEncode(ae), label: lbl, what: "rule",
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
	return nr
}

const familyINet = unix.NFPROTO_INET

// irExprs marshals a rule built from the configuration, and its sets.
func (b *batchBuilder) irExprs(ir *ruleIR, cnt expr.Counter, lbl string) ([]byte, []bmsg, error) {
	ex, sets := ir.exprs()
	var msgs []bmsg
	ids := make([]uint32, len(sets))
	for i, s := range sets {
		b.setID++
		ids[i] = b.setID
		msgs = append(msgs, setMsgs(s.keyType, s.keyLen, setFlags(s.interval), s.userData(), b.setID, encodeElems(s), lbl)...)
	}
	ae := newEnc()
	for _, e := range ex {
		switch x := e.(type) {
		case *expr.Lookup:
			l2 := *x
			l2.SetID = ids[x.SetID]
			e = &l2
		case *expr.Counter:
			e = &cnt
		}
		data, err := expr.Marshal(familyINet, e)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", lbl, err)
		}
		ae.Bytes(unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM, data)
	}
	out, err := ae.Encode()
	return out, msgs, err
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
func setMsgs(keyType, keyLen, flags uint32, udata []byte, id uint32, elems []byte, lbl string) []bmsg {
	ae := newEnc()
	ae.String(unix.NFTA_SET_TABLE, TableName)
	ae.String(unix.NFTA_SET_NAME, "__set%d")
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
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, "__set%d")
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
		msgs = append(msgs, setMsgs(s.keyType, s.keyLen, s.flags, s.udata, b.setID, s.elems, lbl)...)
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
					le.String(unix.NFTA_LOOKUP_SET, "__set%d")
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
