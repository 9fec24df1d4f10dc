package nft

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"mboxsh/config"
)

// TableName is the nftables table mboxsh owns (family inet). mboxsh never
// touches any other table.
const TableName = "mboxsh"

// Kernel chain names inside the table.
const (
	chainInput       = "input"
	chainForward     = "forward"
	chainPrerouting  = "prerouting"
	chainPostrouting = "postrouting"
)

// codegenVersion is part of every rule fingerprint: bump it whenever the
// expressions generated for the same configuration change, so that running
// boxes replace their rules on the next commit.
const codegenVersion = "2"

// chainSpec is one base chain of the table.
type chainSpec struct {
	name   string
	typ    string // filter | nat
	hook   uint32
	prio   int32
	policy uint32 // NF_DROP or NF_ACCEPT
}

const (
	nfDrop   = 0
	nfAccept = 1
)

// Hook numbers (NF_INET_*).
const (
	hookPrerouting  = 0
	hookInput       = 1
	hookForward     = 2
	hookOutput      = 3
	hookPostrouting = 4
)

var chainSpecs = []chainSpec{
	{name: chainInput, typ: "filter", hook: hookInput, prio: 0, policy: nfDrop},
	{name: chainForward, typ: "filter", hook: hookForward, prio: 0, policy: nfDrop},
	{name: chainPrerouting, typ: "nat", hook: hookPrerouting, prio: -100, policy: nfAccept},
	{name: chainPostrouting, typ: "nat", hook: hookPostrouting, prio: 100, policy: nfAccept},
}

// chainKeyword maps a kernel chain to the configuration keyword of its rules.
var chainKeyword = map[string]string{
	chainInput:       "firewall-input",
	chainForward:     "firewall-access",
	chainPrerouting:  "firewall-dnat",
	chainPostrouting: "firewall-snat",
}

func kernelChain(ch config.Chain) string {
	switch ch {
	case config.ChainInput:
		return chainInput
	case config.ChainAccess:
		return chainForward
	case config.ChainSNAT:
		return chainPostrouting
	default:
		return chainPrerouting
	}
}

// Layer-4 protocol numbers.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoGRE    = 47
	protoESP    = 50
	protoICMPv6 = 58
	protoOSPF   = 89
)

// ct state bits.
const (
	ctInvalid     = 1
	ctEstablished = 2
	ctRelated     = 4
)

type portRange struct{ lo, hi uint16 }

// action of a rule.
type action int

const (
	actAccept action = iota
	actDrop
	actMasquerade
	actSNAT
	actDNAT
	actRedirect
	actJump // to the sub-chain ruleIR.jump
)

// ruleIR is one kernel rule, in a form that both the expression builder and
// the nft-syntax renderer read. Matches are emitted in field order.
type ruleIR struct {
	chain string
	key   string // the rule comment: "firewall-access 12", "default-input ssh"
	text  string // what the rule does, in configuration words, for show commands

	iif, oif string   // interface name; a trailing '*' is a prefix match
	iifSet   []string // iifname { … }
	ipOnly   bool     // meta nfproto ipv4 (protocol "ip")
	l4       uint8    // meta l4proto; 0 = any
	ct       uint32   // ct state mask; 0 = none
	saddr    []netip.Prefix
	daddr    []netip.Prefix
	sport    []portRange
	dport    []portRange

	act      action
	natAddr  netip.Addr // SNAT/DNAT address (range start)
	natAddr2 netip.Addr // SNAT range end; invalid = single address
	natPort  uint16     // DNAT/redirect port; 0 = keep
	jump     string     // actJump: the target chain

	digest string // fingerprint of everything above plus codegenVersion
}

// fingerprint computes ir.digest.
func (ir *ruleIR) fingerprint() {
	var b strings.Builder
	b.WriteString(codegenVersion)
	for _, s := range []string{ir.chain, ir.key, ir.text, ir.iif, ir.oif, strings.Join(ir.iifSet, ",")} {
		b.WriteByte('|')
		b.WriteString(s)
	}
	fmt.Fprintf(&b, "|%t|%d|%d|", ir.ipOnly, ir.l4, ir.ct)
	for _, p := range ir.saddr {
		b.WriteString(p.String())
		b.WriteByte(',')
	}
	b.WriteByte('|')
	for _, p := range ir.daddr {
		b.WriteString(p.String())
		b.WriteByte(',')
	}
	b.WriteByte('|')
	for _, p := range ir.sport {
		fmt.Fprintf(&b, "%d-%d,", p.lo, p.hi)
	}
	b.WriteByte('|')
	for _, p := range ir.dport {
		fmt.Fprintf(&b, "%d-%d,", p.lo, p.hi)
	}
	fmt.Fprintf(&b, "|%d|%s|%s|%d", ir.act, ir.natAddr, ir.natAddr2, ir.natPort)
	if ir.act == actJump {
		// Only jump rules carry this part: the fingerprints of all other
		// rules stay as codegen version 2 made them.
		b.WriteString("|" + ir.jump)
	}
	sum := sha256.Sum256([]byte(b.String()))
	ir.digest = string(sum[:12])
}

// newUnit wraps compiled rules as a wanted unit.
func newUnit(key string, irs []*ruleIR) wantUnit {
	rs := make([]*kRule, len(irs))
	for i, ir := range irs {
		rs[i] = &kRule{key: ir.key, id: ir.digest, text: ir.text, ours: true, ir: ir}
	}
	return wantUnit{key: key, rules: rs}
}

// compiler turns configurations into wanted tables. It remembers what it
// compiled last time, so that a commit that changes one rule of 10,000
// compiles one rule and rebuilds one sub-chain, and an unchanged
// configuration costs one comparison per rule and no allocation:
//
//   - per configuration chain, the compiled rules sorted by number
//     (memoEntry: a private copy of the config.Rule and its kernel rules);
//   - per base chain, the sub-chains (chunks) and their jump rules;
//   - per base chain, the concatenation with the built-in rules.
//
// Memoised parts are never modified once built: a wantChain whose units
// are the same slice has the same fingerprint.
type compiler struct {
	chunkSize int // mean sub-chain size (a power of two)
	flatMax   int // chains with at most this many configuration rules stay flat

	prev   map[config.Chain]compiled
	cat    map[string]catEntry
	layout map[string]layoutMemo // by base chain
}

// compiled is the last result for one chain.
type compiled struct {
	entries []*memoEntry // sorted by rule number
	nums    []int        // nums[i] == entries[i].rule.Number (walked without loading entries)
	units   []wantUnit   // units[i] == entries[i].unit; built on demand (unitsOf)
}

type memoEntry struct {
	rule config.Rule // a private copy
	unit wantUnit
}

type catEntry struct {
	parts [][]wantUnit
	out   []wantUnit
	fp    string
}

// layoutMemo is the last sub-chain layout of one base chain.
type layoutMemo struct {
	entries []*memoEntry // the compiled rules it was made of
	chunks  []chunkMemo  // in order
	jumps   []wantUnit   // jump rules, one per chunk
	chains  []wantChain  // the sub-chains, one per chunk
}

type chunkMemo struct {
	start int          // rule number the chunk is named after (0: head)
	ents  []*memoEntry // its rules
	wc    wantChain
	jump  wantUnit
}

func newCompiler() *compiler {
	return &compiler{
		chunkSize: defaultChunkSize,
		flatMax:   defaultFlatMax,
		prev:      map[config.Chain]compiled{},
		cat:       map[string]catEntry{},
		layout:    map[string]layoutMemo{},
	}
}

// concat joins parts, returning the previous result when the parts are
// the same as last time (an unchanged 10,000-rule chain is not copied).
// It also returns the fingerprint of the result.
func (c *compiler) concat(name string, parts ...[]wantUnit) ([]wantUnit, string) {
	if e, ok := c.cat[name]; ok && len(e.parts) == len(parts) {
		same := true
		for i := range parts {
			if !sameUnits(e.parts[i], parts[i]) {
				same = false
				break
			}
		}
		if same {
			return e.out, e.fp
		}
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]wantUnit, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	fp := unitsFP(out)
	c.cat[name] = catEntry{parts: parts, out: out, fp: fp}
	return out, fp
}

func sameUnits(a, b []wantUnit) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if a[i].key != b[i].key || !sameIDs(a[i].rules, b[i].rules) {
			return false
		}
	}
	return true
}

// rules compiles the configuration rules of one chain. It walks the rules
// and last time's entries side by side (both sorted by number); an
// unchanged rule costs one comparison with its private copy.
func (c *compiler) rules(ch config.Chain, list []config.Rule, errs *[]string) compiled {
	prev := c.prev[ch]
	nerrs := len(*errs)
	var entries []*memoEntry // nil while the result equals prev.entries[:n]
	var nums []int
	n := 0
	emit := func(m *memoEntry, num int) {
		if entries == nil {
			if n < len(prev.entries) && prev.entries[n] == m {
				n++
				return
			}
			entries = make([]*memoEntry, n, len(list))
			copy(entries, prev.entries[:n])
			nums = make([]int, n, len(list))
			copy(nums, prev.nums[:n])
		}
		entries = append(entries, m)
		nums = append(nums, num)
		n++
	}
	j := 0
	for i := range list {
		r := &list[i]
		if i > 0 && list[i-1].Number >= r.Number {
			if list[i-1].Number > r.Number {
				// Not sorted (the model keeps rules sorted, but do
				// not depend on it).
				sorted := slices.Clone(list)
				slices.SortStableFunc(sorted, func(a, b config.Rule) int { return a.Number - b.Number })
				*errs = (*errs)[:nerrs]
				return c.rules(ch, sorted, errs)
			}
			*errs = append(*errs, fmt.Sprintf("%s %d: duplicate rule number", ch.Keyword(), r.Number))
			continue
		}
		for j < len(prev.nums) && prev.nums[j] < r.Number {
			j++
		}
		if j < len(prev.nums) && prev.nums[j] == r.Number && ruleEqual(&prev.entries[j].rule, r) {
			emit(prev.entries[j], r.Number)
			continue
		}
		key := ch.Keyword() + " " + strconv.Itoa(r.Number)
		irs, err := compileRule(ch, key, *r)
		if err != nil {
			*errs = append(*errs, fmt.Sprintf("%s: %v", key, err))
			continue
		}
		emit(&memoEntry{rule: cloneRule(*r), unit: newUnit(key, irs)}, r.Number)
	}
	if entries == nil {
		if n == len(prev.entries) {
			return prev
		}
		entries, nums = prev.entries[:n], prev.nums[:n]
	}
	cur := compiled{entries: entries, nums: nums}
	c.prev[ch] = cur
	return cur
}

// unitsOf returns the units of comp[from:to], reusing comp.units when
// it is built (a flat chain) or the whole range is asked for.
func unitsOf(comp *compiled, from, to int) []wantUnit {
	if comp.units != nil {
		return comp.units[from:to:to]
	}
	units := make([]wantUnit, to-from)
	for i, m := range comp.entries[from:to] {
		units[i] = m.unit
	}
	return units
}

// compile builds the table cfg wants.
func (c *compiler) compile(cfg *config.Config) (*want, error) {
	var errs []string
	var comp [4]compiled
	for _, ch := range []config.Chain{config.ChainInput, config.ChainAccess, config.ChainSNAT, config.ChainDNAT} {
		comp[ch] = c.rules(ch, *cfg.Rules(ch), &errs)
		if len(comp[ch].entries) <= c.flatMax && comp[ch].units == nil {
			// A flat chain: its units are concatenated with the
			// built-in rules; memoised with the entries.
			comp[ch].units = unitsOf(&comp[ch], 0, len(comp[ch].entries))
			c.prev[ch] = comp[ch]
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	var services, accessDefaults []wantUnit
	if !cfg.FirewallDisable.Input {
		services = defaultInputServices(cfg)
	}
	if !cfg.FirewallDisable.Access {
		accessDefaults = defaultAccess()
	}
	w := &want{}
	for _, spec := range chainSpecs {
		var parts [][]wantUnit
		var mid []wantUnit
		var chunks []wantChain
		switch spec.name {
		case chainInput:
			mid, chunks = c.chunk(spec.name, comp[config.ChainInput])
			parts = [][]wantUnit{defaultInputBase(), mid, services}
		case chainForward:
			mid, chunks = c.chunk(spec.name, comp[config.ChainAccess])
			parts = [][]wantUnit{accessDefaults, mid}
		case chainPrerouting:
			mid, chunks = c.chunk(spec.name, comp[config.ChainDNAT])
			parts = [][]wantUnit{mid}
		case chainPostrouting:
			mid, chunks = c.chunk(spec.name, comp[config.ChainSNAT])
			parts = [][]wantUnit{mid}
		}
		units, fp := c.concat(spec.name, parts...)
		w.chains = append(w.chains, wantChain{name: spec.name, base: true, typ: spec.typ, hook: spec.hook,
			prio: spec.prio, policy: spec.policy, units: units, fp: fp})
		w.chains = append(w.chains, chunks...)
	}
	return w, nil
}

// ruleEqual compares a configuration rule with a memoised copy. It runs
// for every rule of every commit: strings are compared by their data
// pointer first (the copies share it with the configurations they came
// from, and configuration clones share it too), which halves the cost.
func ruleEqual(a, b *config.Rule) bool {
	return a.Number == b.Number && strEqual(a.Action, b.Action) && strEqual(a.Direction, b.Direction) &&
		strEqual(a.Interface, b.Interface) && strEqual(a.Proto, b.Proto) && strsEqual(a.Src, b.Src) &&
		strsEqual(a.Dst, b.Dst) && strsEqual(a.Sport, b.Sport) && strsEqual(a.Dport, b.Dport) &&
		strEqual(a.Xsrc, b.Xsrc) && strEqual(a.Xdst, b.Xdst) && strEqual(a.Xdport, b.Xdport) && strEqual(a.Remark, b.Remark)
}

func strEqual(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}

func strsEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

func cloneRule(r config.Rule) config.Rule {
	r.Src = slices.Clone(r.Src)
	r.Dst = slices.Clone(r.Dst)
	r.Sport = slices.Clone(r.Sport)
	r.Dport = slices.Clone(r.Dport)
	return r
}

// Built-in default rules. Their comments start with "default-".

func defaultRule(chain, name, text string, ir ruleIR) wantUnit {
	ir.chain = chain
	ir.key = "default-" + chainKeyword[chain][len("firewall-"):] + " " + name
	ir.text = text
	ir.fingerprint()
	return newUnit(ir.key, []*ruleIR{&ir})
}

// defaultInputBase are the input rules that stay even with
// `firewall-disable input`: they keep local processes talking to each other
// and keep the operator's own session (and every reply to the box's own
// connections) alive across a commit.
func defaultInputBase() []wantUnit {
	return []wantUnit{
		defaultRule(chainInput, "loopback", "permit inbound lo", ruleIR{iif: "lo", act: actAccept}),
		defaultRule(chainInput, "established", "permit established,related", ruleIR{ct: ctEstablished | ctRelated, act: actAccept}),
		defaultRule(chainInput, "invalid", "deny invalid", ruleIR{ct: ctInvalid, act: actDrop}),
	}
}

// defaultInputServices are the rules `firewall-disable input` removes: what
// an appliance of this kind needs to be managed and to run its tunnels.
func defaultInputServices(cfg *config.Config) []wantUnit {
	out := []wantUnit{
		defaultRule(chainInput, "icmp", "permit icmp", ruleIR{l4: protoICMP, act: actAccept}),
		defaultRule(chainInput, "icmpv6", "permit icmpv6", ruleIR{l4: protoICMPv6, act: actAccept}),
		defaultRule(chainInput, "ssh", "permit tcp dport 22", ruleIR{l4: protoTCP, dport: []portRange{{22, 22}}, act: actAccept}),
	}
	// IKE and ESP from the IPsec peers; from anywhere if a peer is
	// responder-only (remote-ip any or a named peer without remote-ip).
	var peers []netip.Prefix
	anyPeer := false
	for _, p := range cfg.Peers {
		if a, ok := p.RemoteAddress(); ok && a.Is4() {
			peers = append(peers, netip.PrefixFrom(a, 32))
		} else {
			anyPeer = true
		}
	}
	if anyPeer {
		peers = nil
	}
	if len(cfg.Peers) > 0 {
		src := normPrefixes(peers)
		out = append(out,
			defaultRule(chainInput, "ike", "permit udp src "+prefixList(src)+" dport 500,4500",
				ruleIR{l4: protoUDP, saddr: src, dport: []portRange{{500, 500}, {4500, 4500}}, act: actAccept}),
			defaultRule(chainInput, "esp", "permit esp src "+prefixList(src),
				ruleIR{l4: protoESP, saddr: src, act: actAccept}))
	}
	var gre []netip.Prefix
	for _, i := range cfg.Interfaces {
		if i.Kind == config.KindGRE && i.TunnelRemote.Is4() {
			gre = append(gre, netip.PrefixFrom(i.TunnelRemote, 32))
		}
	}
	if len(gre) > 0 {
		src := normPrefixes(gre)
		out = append(out, defaultRule(chainInput, "gre", "permit gre src "+prefixList(src),
			ruleIR{l4: protoGRE, saddr: src, act: actAccept}))
	}
	if cfg.OSPF != nil {
		ifs := ospfInterfaces(cfg)
		text := "permit ospf"
		if len(ifs) > 0 {
			text += " inbound " + strings.Join(ifs, ",")
		}
		ir := ruleIR{l4: protoOSPF, act: actAccept}
		switch len(ifs) {
		case 0:
		case 1:
			ir.iif = ifs[0]
		default:
			ir.iifSet = ifs
		}
		out = append(out, defaultRule(chainInput, "ospf", text, ir))
	}
	return out
}

// ospfInterfaces lists the interfaces with an address inside a `network`
// prefix of `router ospf`, sorted. Empty means "cannot tell": any interface.
func ospfInterfaces(cfg *config.Config) []string {
	var out []string
	for _, i := range cfg.Interfaces {
		for _, a := range i.Addresses {
			if slices.ContainsFunc(cfg.OSPF.Networks, func(n config.OSPFNetwork) bool { return n.Prefix.Contains(a.Addr()) }) {
				out = append(out, i.Name)
				break
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// defaultAccess are the forward rules `firewall-disable access` removes:
// the stateful part of the filter. Without them the filter is stateless and
// return traffic needs its own rules (useful with asymmetric routing).
func defaultAccess() []wantUnit {
	return []wantUnit{
		defaultRule(chainForward, "established", "permit established,related", ruleIR{ct: ctEstablished | ctRelated, act: actAccept}),
		defaultRule(chainForward, "invalid", "deny invalid", ruleIR{ct: ctInvalid, act: actDrop}),
	}
}

// compileRule turns one configuration rule into kernel rules.
func compileRule(ch config.Chain, key string, r config.Rule) ([]*ruleIR, error) {
	base := ruleIR{chain: kernelChain(ch), key: key, text: ruleText(r)}
	switch ch {
	case config.ChainInput, config.ChainAccess:
		switch r.Action {
		case "permit":
			base.act = actAccept
		case "deny":
			base.act = actDrop
		default:
			return nil, fmt.Errorf("action %q: want permit or deny", r.Action)
		}
	case config.ChainSNAT:
		switch r.Action {
		case "overload":
			base.act = actMasquerade
		case "exempt":
			base.act = actAccept
		case "translate":
			base.act = actSNAT
		default:
			return nil, fmt.Errorf("action %q: want overload, exempt or translate", r.Action)
		}
	case config.ChainDNAT:
		switch r.Action {
		case "translate":
			base.act = actDNAT
		case "redirect":
			base.act = actRedirect
		case "exempt":
			base.act = actAccept
		default:
			return nil, fmt.Errorf("action %q: want translate, redirect or exempt", r.Action)
		}
	}

	ifname := r.Interface
	if ifname != "" {
		if len(ifname) > 15 {
			return nil, fmt.Errorf("interface name %q longer than 15 characters", ifname)
		}
		if i := strings.IndexByte(ifname, '+'); i >= 0 && i != len(ifname)-1 {
			return nil, fmt.Errorf("interface %q: '+' is only allowed at the end", ifname)
		}
		if strings.ContainsAny(ifname, "*\"\\ /") {
			return nil, fmt.Errorf("interface %q: invalid character", ifname)
		}
		if strings.HasSuffix(ifname, "+") {
			ifname = strings.TrimSuffix(ifname, "+") + "*"
		}
	}

	switch r.Proto {
	case "":
	case "ip":
		base.ipOnly = true
	case "tcp":
		base.l4 = protoTCP
	case "udp":
		base.l4 = protoUDP
	case "icmp":
		base.l4 = protoICMP
	default:
		return nil, fmt.Errorf("protocol %q: want ip, tcp, udp or icmp", r.Proto)
	}
	var err error
	if base.saddr, err = parseAddrs(r.Src); err != nil {
		return nil, fmt.Errorf("src: %w", err)
	}
	if base.daddr, err = parseAddrs(r.Dst); err != nil {
		return nil, fmt.Errorf("dst: %w", err)
	}
	if base.sport, err = parsePorts(r.Sport); err != nil {
		return nil, fmt.Errorf("sport: %w", err)
	}
	if base.dport, err = parsePorts(r.Dport); err != nil {
		return nil, fmt.Errorf("dport: %w", err)
	}
	if (len(base.sport) > 0 || len(base.dport) > 0) && base.l4 != protoTCP && base.l4 != protoUDP {
		return nil, fmt.Errorf("sport/dport need protocol tcp or udp")
	}

	// Translation targets.
	if r.Xsrc != "" && base.act != actSNAT {
		return nil, fmt.Errorf("xsrc is only valid with translate")
	}
	if (r.Xdst != "" || r.Xdport != "") && base.act != actDNAT && base.act != actRedirect {
		return nil, fmt.Errorf("xdst/xdport are only valid with translate or redirect")
	}
	switch base.act {
	case actSNAT:
		if r.Xsrc == "" {
			return nil, fmt.Errorf("translate needs xsrc")
		}
		lo, hi, _ := strings.Cut(r.Xsrc, "-")
		if base.natAddr, err = netip.ParseAddr(lo); err != nil || !base.natAddr.Is4() {
			return nil, fmt.Errorf("xsrc %q: want an IPv4 address or range A-B", r.Xsrc)
		}
		if hi != "" {
			if base.natAddr2, err = netip.ParseAddr(hi); err != nil || !base.natAddr2.Is4() || base.natAddr2.Less(base.natAddr) {
				return nil, fmt.Errorf("xsrc %q: want an IPv4 address or range A-B", r.Xsrc)
			}
		}
	case actDNAT:
		if r.Xdst == "" {
			return nil, fmt.Errorf("translate needs xdst")
		}
		if base.natAddr, err = netip.ParseAddr(r.Xdst); err != nil || !base.natAddr.Is4() {
			return nil, fmt.Errorf("xdst %q: want an IPv4 address", r.Xdst)
		}
		fallthrough
	case actRedirect:
		if r.Xdst != "" && base.act == actRedirect {
			return nil, fmt.Errorf("redirect takes no xdst (the appliance itself)")
		}
		if r.Xdport != "" {
			p, err := strconv.ParseUint(r.Xdport, 10, 16)
			if err != nil || p == 0 {
				return nil, fmt.Errorf("xdport %q: want a port 1-65535", r.Xdport)
			}
			if base.l4 != protoTCP && base.l4 != protoUDP {
				return nil, fmt.Errorf("xdport needs protocol tcp or udp")
			}
			base.natPort = uint16(p)
		}
	}

	// Direction and interface.
	var irs []ruleIR
	switch r.Direction {
	case "inbound":
		if ch == config.ChainSNAT {
			return nil, fmt.Errorf("firewall-snat rules are outbound")
		}
		base.iif = ifname
		irs = []ruleIR{base}
	case "outbound":
		if ch == config.ChainInput || ch == config.ChainDNAT {
			return nil, fmt.Errorf("%s rules cannot be outbound (they see traffic arriving)", ch.Keyword())
		}
		base.oif = ifname
		irs = []ruleIR{base}
	case "all", "":
		switch {
		case ifname == "":
			irs = []ruleIR{base}
		case ch == config.ChainInput || ch == config.ChainDNAT:
			base.iif = ifname
			irs = []ruleIR{base}
		case ch == config.ChainSNAT:
			base.oif = ifname
			irs = []ruleIR{base}
		default:
			// `all IF` in the forward filter: traffic entering or leaving IF.
			in, out := base, base
			in.iif, out.oif = ifname, ifname
			irs = []ruleIR{in, out}
		}
	default:
		return nil, fmt.Errorf("direction %q: want inbound, outbound or all", r.Direction)
	}
	out := make([]*ruleIR, len(irs))
	for i := range irs {
		irs[i].fingerprint()
		out[i] = &irs[i]
	}
	return out, nil
}

func parseAddrs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		var p netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if p, err = netip.ParsePrefix(s); err != nil {
				return nil, fmt.Errorf("%q: %v", s, err)
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q: not an address or prefix", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("%q: only IPv4 is supported", s)
		}
		out = append(out, p.Masked())
	}
	return normPrefixes(out), nil
}

// normPrefixes sorts prefixes and drops those covered by another, so that
// interval sets get no overlapping elements.
func normPrefixes(in []netip.Prefix) []netip.Prefix {
	if len(in) < 2 {
		return in
	}
	ps := slices.Clone(in)
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	out := ps[:1]
	for _, p := range ps[1:] {
		if last := out[len(out)-1]; last.Contains(p.Addr()) && last.Bits() <= p.Bits() {
			continue
		}
		out = append(out, p)
	}
	return out
}

func parsePorts(list []string) ([]portRange, error) {
	var out []portRange
	for _, s := range list {
		lo, hi, isRange := strings.Cut(s, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil || a == 0 {
			return nil, fmt.Errorf("%q: want a port 1-65535 or a range A-B", s)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
				return nil, fmt.Errorf("%q: want a port 1-65535 or a range A-B", s)
			}
		}
		out = append(out, portRange{uint16(a), uint16(b)})
	}
	if len(out) < 2 {
		return out, nil
	}
	// Sort and merge overlapping or adjacent ranges.
	slices.SortFunc(out, func(a, b portRange) int { return int(a.lo) - int(b.lo) })
	m := out[:1]
	for _, p := range out[1:] {
		last := &m[len(m)-1]
		if uint32(p.lo) <= uint32(last.hi)+1 {
			last.hi = max(last.hi, p.hi)
			continue
		}
		m = append(m, p)
	}
	return m, nil
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "any"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			s[i] = p.Addr().String()
		} else {
			s[i] = p.String()
		}
	}
	return strings.Join(s, ",")
}

// ruleText renders a configuration rule without its number and remark: the
// rule text of show commands ("permit outbound eth0 tcp dport 80,443").
func ruleText(r config.Rule) string {
	w := []string{r.Action}
	if r.Direction != "" {
		w = append(w, r.Direction)
	}
	if r.Interface != "" {
		w = append(w, r.Interface)
	}
	if r.Proto != "" {
		w = append(w, r.Proto)
	}
	for _, kv := range []struct {
		k string
		v []string
	}{{"src", r.Src}, {"dst", r.Dst}, {"sport", r.Sport}, {"dport", r.Dport}} {
		if len(kv.v) > 0 {
			w = append(w, kv.k, strings.Join(kv.v, ","))
		}
	}
	for _, kv := range [][2]string{{"xsrc", r.Xsrc}, {"xdst", r.Xdst}, {"xdport", r.Xdport}} {
		if kv[1] != "" {
			w = append(w, kv[0], kv[1])
		}
	}
	return strings.Join(w, " ")
}

// Warnings lists configuration choices that are valid but likely to hurt,
// for the shell to show before a commit. Today: `firewall-disable input`
// without a firewall-input rule that accepts SSH (tcp 22) refuses new SSH
// sessions (the current one survives, as established traffic).
func Warnings(cfg *config.Config) []string {
	if !cfg.FirewallDisable.Input {
		return nil
	}
	for _, r := range cfg.FirewallInput {
		if r.Action != "permit" || (r.Proto != "tcp" && r.Proto != "" && r.Proto != "ip") {
			continue
		}
		if len(r.Dport) == 0 {
			return nil
		}
		ports, err := parsePorts(r.Dport)
		if err != nil {
			continue
		}
		for _, p := range ports {
			if p.lo <= 22 && 22 <= p.hi {
				return nil
			}
		}
	}
	return []string{"firewall-disable input: no firewall-input rule permits tcp 22; new SSH sessions to the appliance will be refused"}
}
