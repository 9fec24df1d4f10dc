package nft

import (
	"crypto/sha256"
	"slices"
	"strconv"
	"strings"
)

// Sub-chains (chunks). See "Sub-chains" in doc.go for the layout and why.

const (
	// defaultChunkSize is the mean number of configuration rules per
	// sub-chain: a rule starts a new sub-chain with probability
	// 1/defaultChunkSize, decided by its number alone. Must be a power of
	// two.
	defaultChunkSize = 256
	// defaultFlatMax: a chain with at most this many configuration rules
	// keeps them in its base chain, as nft users write them.
	defaultFlatMax = 256
)

// isBoundary tells whether the rule numbered n starts a sub-chain. It
// depends on the number only (not on the rule's neighbours or content), so
// inserting, removing or changing a rule never moves another rule to a
// different sub-chain, except when the rule itself is a boundary. The mix
// is splitmix64's finaliser: fixed forever, since changing it would move
// every rule of every box on upgrade.
func (c *compiler) isBoundary(n int) bool {
	if n <= 0 {
		return false
	}
	z := uint64(n) + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return z&uint64(c.chunkSize-1) == 0
}

// chunkName names the sub-chain of base chain `base` that starts at the
// boundary rule `start` (0: the rules before the first boundary).
func chunkName(base string, start int) string {
	return base + "-" + strconv.Itoa(start)
}

// chunkOf parses a sub-chain name: its base chain and start number.
func chunkOf(name string) (base string, start int, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n < 0 || strconv.Itoa(n) != name[i+1:] {
		return "", 0, false
	}
	if _, ok := chainKeyword[name[:i]]; !ok {
		return "", 0, false
	}
	return name[:i], n, true
}

// jumpKey is the comment of the base-chain rule that jumps to a sub-chain.
func jumpKey(target string) string { return "chunk " + target }

// jumpTarget returns the sub-chain a jump rule's key names.
func jumpTarget(key string) (string, bool) {
	t, ok := strings.CutPrefix(key, "chunk ")
	return t, ok
}

// chunk lays out the compiled rules of one configuration chain in base
// chain `base`: either flat (mid is the rules themselves, no sub-chains) or
// as sub-chains, with mid the jump rules to them, in order. Sub-chains whose
// rules are the same memo entries as last time are reused as they were.
func (c *compiler) chunk(base string, comp compiled) (mid []wantUnit, chains []wantChain) {
	prev := c.layout[base]
	if len(comp.entries) <= c.flatMax {
		if len(prev.chunks) > 0 {
			delete(c.layout, base)
		}
		return comp.units, nil
	}
	if prev.entries != nil && len(prev.entries) == len(comp.entries) && &prev.entries[0] == &comp.entries[0] {
		return prev.jumps, prev.chains // the same compiled rules as last time
	}
	var next layoutMemo
	pi := 0 // walks prev.chunks (sorted by start)
	same := true
	add := func(start, from, to int) {
		ents := comp.entries[from:to:to]
		for pi < len(prev.chunks) && prev.chunks[pi].start < start {
			pi++
		}
		if pi < len(prev.chunks) && prev.chunks[pi].start == start && slices.Equal(prev.chunks[pi].ents, ents) {
			next.chunks = append(next.chunks, prev.chunks[pi])
			return
		}
		same = false
		name := chunkName(base, start)
		units := unitsOf(&comp, from, to)
		m := chunkMemo{start: start, ents: ents, wc: wantChain{name: name, units: units, fp: unitsFP(units)}}
		if pi < len(prev.chunks) && prev.chunks[pi].start == start {
			m.jump = prev.chunks[pi].jump
		} else {
			m.jump = jumpUnit(base, name)
		}
		next.chunks = append(next.chunks, m)
	}
	from, start := 0, 0
	for i, num := range comp.nums {
		if !c.isBoundary(num) {
			continue
		}
		if i > from {
			add(start, from, i)
			from = i
		}
		start = num
	}
	add(start, from, len(comp.entries))
	if same && len(next.chunks) == len(prev.chunks) {
		next.jumps = prev.jumps
	} else {
		next.jumps = make([]wantUnit, len(next.chunks))
		for i, m := range next.chunks {
			next.jumps[i] = m.jump
		}
	}
	next.chains = make([]wantChain, len(next.chunks))
	for i, m := range next.chunks {
		next.chains[i] = m.wc
	}
	next.entries = comp.entries
	c.layout[base] = next
	return next.jumps, next.chains
}

// jumpUnit is the rule of base chain `base` that jumps to sub-chain target.
func jumpUnit(base, target string) wantUnit {
	ir := &ruleIR{chain: base, key: jumpKey(target), text: "jump " + target, act: actJump, jump: target}
	ir.fingerprint()
	return newUnit(ir.key, []*ruleIR{ir})
}

// unitsFP is the fingerprint of a wanted rule list; kChain.fingerprint
// computes the same from the kernel's rules.
func unitsFP(units []wantUnit) string {
	var buf []byte
	for _, u := range units {
		for _, r := range u.rules {
			buf = appendRuleFP(buf, r)
		}
	}
	return sumFP(buf)
}

func appendRuleFP(buf []byte, r *kRule) []byte {
	buf = append(buf, r.key...)
	buf = append(buf, 0)
	buf = append(buf, r.id...)
	return append(buf, 0)
}

func sumFP(buf []byte) string {
	s := sha256.Sum256(buf)
	return string(s[:16])
}
