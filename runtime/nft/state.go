package nft

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// kState is what the kernel holds in mboxsh's table (read, or predicted
// after a batch mboxsh sent).
type kState struct {
	gen    uint32
	exists bool
	flags  uint32
	chains []*kChain
	byName map[string]*kChain // index of chains, built on first use
}

type kChain struct {
	name   string
	base   bool
	typ    string
	hook   uint32
	prio   int32
	policy uint32
	rules  []*kRule
	// fp caches fingerprint(): the rules of a kChain never change once it
	// is built (a changed chain is a new kChain).
	fp     string
	fpDone bool
}

// fingerprint digests the keys and ids of the chain's rules, in order, as
// unitsFP does for wanted rules: equal fingerprints mean the chain holds
// exactly the wanted rules.
func (c *kChain) fingerprint() string {
	if !c.fpDone {
		var buf []byte
		for _, r := range c.rules {
			buf = appendRuleFP(buf, r)
		}
		c.fp, c.fpDone = sumFP(buf), true
	}
	return c.fp
}

// kRule is one kernel rule. key is its comment (or "handle N" when it has
// none); id identifies its content: mboxsh's fingerprint, or "handle N" for
// rules mboxsh did not write (their content cannot be compared).
type kRule struct {
	handle uint64
	key    string
	id     string
	text   string
	ours   bool
	// What is needed to create the rule again: ir for rules built from the
	// configuration, raw for rules read back from the kernel.
	ir  *ruleIR
	raw *rawRule
}

// rawRule is a rule as the kernel dumped it, counters included.
type rawRule struct {
	exprs []byte // payload of NFTA_RULE_EXPRESSIONS
	udata []byte
	sets  map[string]*rawSet // anonymous sets it looks up, by kernel name
}

// rawSet is an anonymous set as the kernel dumped it.
type rawSet struct {
	keyType, keyLen, flags uint32
	udata                  []byte
	elems                  []byte // payload of NFTA_SET_ELEM_LIST_ELEMENTS
}

func (s *kState) chain(name string) *kChain {
	if len(s.chains) < 8 {
		for _, c := range s.chains {
			if c.name == name {
				return c
			}
		}
		return nil
	}
	if len(s.byName) != len(s.chains) {
		s.byName = make(map[string]*kChain, len(s.chains))
		for _, c := range s.chains {
			s.byName[c.name] = c
		}
	}
	return s.byName[name]
}

func tableAttrs() []byte {
	ae := newEnc()
	ae.String(unix.NFTA_TABLE_NAME, TableName)
	return mustEncode(ae)
}

// readState reads mboxsh's table: a consistent snapshot (the generation is
// the same before and after the dumps).
func (c *conn) readState(ctx context.Context) (*kState, error) {
	for attempt := 0; ; attempt++ {
		s, err := c.readStateOnce(ctx)
		if err == nil || !errors.Is(err, errRestart) || attempt == 4 {
			return s, err
		}
	}
}

func (c *conn) readStateOnce(ctx context.Context) (*kState, error) {
	gen, err := c.getGen(ctx)
	if err != nil {
		return nil, err
	}
	s := &kState{gen: gen}
	msgs, err := c.query(ctx, unix.NFT_MSG_GETTABLE, 0, unix.NFPROTO_INET, tableAttrs())
	if errors.Is(err, unix.ENOENT) {
		return s, c.checkGen(ctx, gen)
	}
	if err != nil {
		return nil, fmt.Errorf("reading table inet %s: %w", TableName, err)
	}
	s.exists = true
	for _, m := range msgs {
		forAttrs(m.Data[4:], func(typ uint16, b []byte) {
			if typ == unix.NFTA_TABLE_FLAGS && len(b) == 4 {
				s.flags = binary.BigEndian.Uint32(b)
			}
		})
	}

	ae := newEnc()
	ae.String(unix.NFTA_CHAIN_TABLE, TableName)
	msgs, err = c.query(ctx, unix.NFT_MSG_GETCHAIN, netlink.Dump, unix.NFPROTO_INET, mustEncode(ae))
	if err != nil {
		return nil, fmt.Errorf("reading chains: %w", err)
	}
	for _, m := range msgs {
		ch, table := parseChain(m.Data[4:])
		if table == TableName {
			s.chains = append(s.chains, ch)
		}
	}

	ae = newEnc()
	ae.String(unix.NFTA_RULE_TABLE, TableName)
	msgs, err = c.query(ctx, unix.NFT_MSG_GETRULE, netlink.Dump, unix.NFPROTO_INET, mustEncode(ae))
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	for _, m := range msgs {
		r, table, chain := parseRule(m.Data[4:], true)
		if table != TableName {
			continue
		}
		if ch := s.chain(chain); ch != nil {
			ch.rules = append(ch.rules, r)
		}
	}
	return s, c.checkGen(ctx, gen)
}

func (c *conn) checkGen(ctx context.Context, gen uint32) error {
	g, err := c.getGen(ctx)
	if err != nil {
		return err
	}
	if g != gen {
		return errRestart
	}
	return nil
}

func forAttrs(b []byte, f func(typ uint16, data []byte)) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return
	}
	for ad.Next() {
		f(ad.Type(), ad.Bytes())
	}
}

func cstr(b []byte) string { return strings.TrimRight(string(b), "\x00") }

func parseChain(b []byte) (*kChain, string) {
	ch := &kChain{}
	var table string
	forAttrs(b, func(typ uint16, v []byte) {
		switch typ {
		case unix.NFTA_CHAIN_TABLE:
			table = cstr(v)
		case unix.NFTA_CHAIN_NAME:
			ch.name = cstr(v)
		case unix.NFTA_CHAIN_TYPE:
			ch.typ = cstr(v)
		case unix.NFTA_CHAIN_POLICY:
			if len(v) == 4 {
				ch.policy = binary.BigEndian.Uint32(v)
			}
		case unix.NFTA_CHAIN_HOOK:
			ch.base = true
			forAttrs(v, func(t uint16, hv []byte) {
				switch {
				case t == unix.NFTA_HOOK_HOOKNUM && len(hv) == 4:
					ch.hook = binary.BigEndian.Uint32(hv)
				case t == unix.NFTA_HOOK_PRIORITY && len(hv) == 4:
					ch.prio = int32(binary.BigEndian.Uint32(hv))
				}
			})
		}
	})
	return ch, table
}

// parseRule decodes a NEWRULE message body. With keepRaw the expressions
// and userdata are copied for a later restore.
// decodeRule picks out the attributes of a rule message that the driver
// reads.
func decodeRule(b []byte) (table, chain string, handle uint64, exprs, udata []byte) {
	forAttrs(b, func(typ uint16, v []byte) {
		switch typ {
		case unix.NFTA_RULE_TABLE:
			table = cstr(v)
		case unix.NFTA_RULE_CHAIN:
			chain = cstr(v)
		case unix.NFTA_RULE_HANDLE:
			if len(v) == 8 {
				handle = binary.BigEndian.Uint64(v)
			}
		case unix.NFTA_RULE_EXPRESSIONS:
			exprs = v
		case unix.NFTA_RULE_USERDATA:
			udata = v
		}
	})
	return table, chain, handle, exprs, udata
}

func parseRule(b []byte, keepRaw bool) (r *kRule, table, chain string) {
	r = &kRule{}
	var exprs, udata []byte
	table, chain, r.handle, exprs, udata = decodeRule(b)
	comment, digest, text := parseUserData(udata)
	h := "handle " + strconv.FormatUint(r.handle, 10)
	r.key, r.id, r.text = comment, h, text
	if comment == "" {
		r.key = h
	}
	if digest != "" {
		r.id, r.ours = digest, true
	}
	if keepRaw {
		r.raw = &rawRule{exprs: clone(exprs), udata: clone(udata)}
	}
	return r, table, chain
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// exprList walks the expressions of a rule: name and data of each.
func exprList(exprs []byte, f func(name string, data []byte)) {
	forAttrs(exprs, func(_ uint16, elem []byte) {
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
		f(name, data)
	})
}

// counterOf returns the packet and byte counts of the rule's counter.
func counterOf(exprs []byte) (packets, bytes uint64, ok bool) {
	exprList(exprs, func(name string, data []byte) {
		if name != "counter" || ok {
			return
		}
		ok = true
		forAttrs(data, func(t uint16, v []byte) {
			if len(v) != 8 {
				return
			}
			switch t {
			case unix.NFTA_COUNTER_BYTES:
				bytes = binary.BigEndian.Uint64(v)
			case unix.NFTA_COUNTER_PACKETS:
				packets = binary.BigEndian.Uint64(v)
			}
		})
	})
	return packets, bytes, ok
}

// anonSets lists the anonymous sets a rule's expressions look up.
func anonSets(exprs []byte) []string {
	var out []string
	exprList(exprs, func(name string, data []byte) {
		if name != "lookup" {
			return
		}
		forAttrs(data, func(t uint16, v []byte) {
			if t == unix.NFTA_LOOKUP_SET && strings.HasPrefix(cstr(v), "__set") {
				out = append(out, cstr(v))
			}
		})
	})
	return out
}

// fetchRule reads one rule by handle, with its anonymous sets.
func (c *conn) fetchRule(ctx context.Context, chain string, handle uint64) (*rawRule, error) {
	ae := newEnc()
	ae.String(unix.NFTA_RULE_TABLE, TableName)
	ae.String(unix.NFTA_RULE_CHAIN, chain)
	ae.Uint64(unix.NFTA_RULE_HANDLE, handle)
	msgs, err := c.query(ctx, unix.NFT_MSG_GETRULE, 0, unix.NFPROTO_INET, mustEncode(ae))
	if err != nil {
		return nil, fmt.Errorf("reading rule %d of chain %s: %w", handle, chain, err)
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("reading rule %d of chain %s: %d answers", handle, chain, len(msgs))
	}
	r, _, _ := parseRule(msgs[0].Data[4:], true)
	return r.raw, nil
}

// chainCounters reads the counters of the rules of one chain, by handle.
func (c *conn) chainCounters(ctx context.Context, chain string) (map[uint64][2]uint64, error) {
	ae := newEnc()
	ae.String(unix.NFTA_RULE_TABLE, TableName)
	ae.String(unix.NFTA_RULE_CHAIN, chain)
	msgs, err := c.query(ctx, unix.NFT_MSG_GETRULE, netlink.Dump, unix.NFPROTO_INET, mustEncode(ae))
	if err != nil {
		return nil, fmt.Errorf("reading the rules of chain %s: %w", chain, err)
	}
	out := make(map[uint64][2]uint64, len(msgs))
	for _, m := range msgs {
		table, ch, handle, exprs, _ := decodeRule(m.Data[4:])
		if table != TableName || ch != chain {
			continue
		}
		pk, by, _ := counterOf(exprs)
		out[handle] = [2]uint64{pk, by}
	}
	return out, nil
}

// fetchSets fills raw.sets with the anonymous sets the rule looks up.
func (c *conn) fetchSets(ctx context.Context, raw *rawRule) error {
	for _, name := range anonSets(raw.exprs) {
		if raw.sets[name] != nil {
			continue
		}
		s, err := c.fetchSet(ctx, name)
		if err != nil {
			return err
		}
		if raw.sets == nil {
			raw.sets = map[string]*rawSet{}
		}
		raw.sets[name] = s
	}
	return nil
}

func (c *conn) fetchSet(ctx context.Context, name string) (*rawSet, error) {
	ae := newEnc()
	ae.String(unix.NFTA_SET_TABLE, TableName)
	ae.String(unix.NFTA_SET_NAME, name)
	msgs, err := c.query(ctx, unix.NFT_MSG_GETSET, 0, unix.NFPROTO_INET, mustEncode(ae))
	if err != nil {
		return nil, fmt.Errorf("reading set %s: %w", name, err)
	}
	s := &rawSet{}
	for _, m := range msgs {
		forAttrs(m.Data[4:], func(t uint16, v []byte) {
			switch t {
			case unix.NFTA_SET_KEY_TYPE:
				s.keyType = binary.BigEndian.Uint32(v)
			case unix.NFTA_SET_KEY_LEN:
				s.keyLen = binary.BigEndian.Uint32(v)
			case unix.NFTA_SET_FLAGS:
				s.flags = binary.BigEndian.Uint32(v)
			case unix.NFTA_SET_USERDATA:
				s.udata = clone(v)
			}
		})
	}
	ae = newEnc()
	ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, TableName)
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, name)
	msgs, err = c.query(ctx, unix.NFT_MSG_GETSETELEM, netlink.Dump, unix.NFPROTO_INET, mustEncode(ae))
	if err != nil {
		return nil, fmt.Errorf("reading elements of set %s: %w", name, err)
	}
	for _, m := range msgs {
		forAttrs(m.Data[4:], func(t uint16, v []byte) {
			if t == unix.NFTA_SET_ELEM_LIST_ELEMENTS {
				s.elems = append(s.elems, v...)
			}
		})
	}
	return s, nil
}
