package nft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Set key data types (nft datatype numbers) used by anonymous sets.
const (
	typeIPv4Addr    = 7
	typeInetService = 13
	typeIfname      = 41
)

// setSpec is an anonymous constant set a rule looks values up in.
type setSpec struct {
	hostOrder bool // key is a string (host byte order for nft)
	keyType   uint32
	keyLen    uint32
	interval  bool
	elems     []setElem
}

type setElem struct {
	key []byte
	end bool // NFT_SET_ELEM_INTERVAL_END
}

// udataMboxsh is the userdata TLV type that carries mboxsh's fingerprint
// and rule text. nft ignores TLV types it does not know.
const udataMboxsh = 0x4d

const udataVersion = 1

// userData builds the rule userdata: the comment nft shows, then mboxsh's
// own TLV (version, 12-byte fingerprint, rule text).
func (ir *ruleIR) userData() []byte {
	ud := userdata.AppendString(nil, userdata.TypeComment, ir.key)
	// The kernel takes at most NFT_USERDATA_MAXLEN (256) bytes of userdata
	// in all: the comment TLV, then our TLV (2-byte header, version,
	// digest, text). A longer text (a rule with a long address list) is
	// cut; the digest still identifies the rule exactly.
	const maxUserData = 256
	room := min(255, maxUserData-len(ud)-2) - 1 - len(ir.digest)
	text := ir.text
	if len(text) > room {
		text = text[:max(room-3, 0)] + "..."
	}
	own := make([]byte, 0, 1+len(ir.digest)+len(text))
	own = append(own, udataVersion)
	own = append(own, ir.digest...)
	own = append(own, text...)
	return userdata.Append(ud, udataMboxsh, own)
}

// parseUserData returns the comment and, for rules mboxsh wrote, the
// fingerprint and rule text.
func parseUserData(ud []byte) (comment, digest, text string) {
	for len(ud) >= 2 {
		typ, n := ud[0], int(ud[1])
		if len(ud) < 2+n {
			break
		}
		v := ud[2 : 2+n]
		switch typ {
		case byte(userdata.TypeComment):
			comment = strings.TrimRight(string(v), "\x00")
		case udataMboxsh:
			if len(v) >= 13 && v[0] == udataVersion {
				digest = string(v[1:13])
				text = string(v[13:])
			}
		}
		ud = ud[2+n:]
	}
	return comment, digest, text
}

func ifnameBytes(name string) []byte {
	if strings.HasSuffix(name, "*") {
		return []byte(strings.TrimSuffix(name, "*"))
	}
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// exprs builds the rule's expressions. Lookups name their set "__set%d" and
// carry the index of the set in the returned list as SetID; the batch
// builder renumbers them.
func (ir *ruleIR) exprs() ([]expr.Any, []setSpec) {
	var ex []expr.Any
	var sets []setSpec
	lookup := func(s setSpec) {
		ex = append(ex, &expr.Lookup{SourceRegister: 1, SetName: "__set%d", SetID: uint32(len(sets))})
		sets = append(sets, s)
	}
	cmpEq := func(b []byte) { ex = append(ex, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b}) }
	meta := func(k expr.MetaKey) { ex = append(ex, &expr.Meta{Key: k, Register: 1}) }

	if ir.iif != "" {
		meta(expr.MetaKeyIIFNAME)
		cmpEq(ifnameBytes(ir.iif))
	}
	if len(ir.iifSet) > 0 {
		meta(expr.MetaKeyIIFNAME)
		s := setSpec{keyType: typeIfname, keyLen: unix.IFNAMSIZ, hostOrder: true}
		for _, n := range ir.iifSet {
			s.elems = append(s.elems, setElem{key: ifnameBytes(n)})
		}
		lookup(s)
	}
	if ir.oif != "" {
		meta(expr.MetaKeyOIFNAME)
		cmpEq(ifnameBytes(ir.oif))
	}
	nfproto := false
	if ir.ipOnly {
		meta(expr.MetaKeyNFPROTO)
		cmpEq([]byte{unix.NFPROTO_IPV4})
		nfproto = true
	}
	if ir.l4 != 0 {
		meta(expr.MetaKeyL4PROTO)
		cmpEq([]byte{ir.l4})
	}
	if ir.ct != 0 {
		ex = append(ex,
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(ir.ct), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
	}
	for _, a := range []struct {
		off uint32
		ps  []netip.Prefix
	}{{12, ir.saddr}, {16, ir.daddr}} {
		if len(a.ps) == 0 {
			continue
		}
		if !nfproto {
			meta(expr.MetaKeyNFPROTO)
			cmpEq([]byte{unix.NFPROTO_IPV4})
			nfproto = true
		}
		if len(a.ps) == 1 {
			// As nft does: a byte-aligned prefix loads only its bytes,
			// any other prefix is masked.
			p := a.ps[0]
			a4 := p.Addr().As4()
			n := uint32(4)
			if p.Bits()%8 == 0 && p.Bits() > 0 {
				n = uint32(p.Bits() / 8)
			}
			ex = append(ex, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: a.off, Len: n})
			if p.Bits()%8 != 0 || p.Bits() == 0 {
				mask := make([]byte, 4)
				if p.Bits() > 0 {
					binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
				}
				ex = append(ex, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
			}
			cmpEq(a4[:n])
			continue
		}
		ex = append(ex, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: a.off, Len: 4})
		lookup(prefixSet(a.ps))
	}
	for _, p := range []struct {
		off uint32
		rs  []portRange
	}{{0, ir.sport}, {2, ir.dport}} {
		if len(p.rs) == 0 {
			continue
		}
		ex = append(ex, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: p.off, Len: 2})
		if len(p.rs) == 1 {
			r := p.rs[0]
			if r.lo == r.hi {
				cmpEq(be16(r.lo))
			} else {
				ex = append(ex,
					&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: be16(r.lo)},
					&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: be16(r.hi)})
			}
			continue
		}
		lookup(portSet(p.rs))
	}
	ex = append(ex, &expr.Counter{})
	switch ir.act {
	case actAccept:
		ex = append(ex, &expr.Verdict{Kind: expr.VerdictAccept})
	case actDrop:
		ex = append(ex, &expr.Verdict{Kind: expr.VerdictDrop})
	case actMasquerade:
		ex = append(ex, &expr.Masq{})
	case actSNAT:
		a := ir.natAddr.As4()
		ex = append(ex, &expr.Immediate{Register: 1, Data: a[:]})
		n := &expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1}
		if ir.natAddr2.IsValid() {
			b := ir.natAddr2.As4()
			ex = append(ex, &expr.Immediate{Register: 2, Data: b[:]})
			n.RegAddrMax = 2
		}
		ex = append(ex, n)
	case actDNAT:
		a := ir.natAddr.As4()
		ex = append(ex, &expr.Immediate{Register: 1, Data: a[:]})
		n := &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1}
		if ir.natPort != 0 {
			ex = append(ex, &expr.Immediate{Register: 2, Data: be16(ir.natPort)})
			n.RegProtoMin = 2
			n.Specified = true
		}
		ex = append(ex, n)
	case actJump:
		ex = append(ex, &expr.Verdict{Kind: expr.VerdictJump, Chain: ir.jump})
	case actRedirect:
		if ir.natPort != 0 {
			ex = append(ex, &expr.Immediate{Register: 1, Data: be16(ir.natPort)})
			ex = append(ex, &expr.Redir{RegisterProtoMin: 1, Flags: unix.NF_NAT_RANGE_PROTO_SPECIFIED})
		} else {
			ex = append(ex, &expr.Redir{})
		}
	}
	return ex, sets
}

func be16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

func prefixSet(ps []netip.Prefix) setSpec {
	s := setSpec{keyType: typeIPv4Addr, keyLen: 4}
	for _, p := range ps {
		if !p.IsSingleIP() {
			s.interval = true
		}
	}
	if !s.interval {
		for _, p := range ps {
			a := p.Addr().As4()
			s.elems = append(s.elems, setElem{key: a[:]})
		}
		return s
	}
	// Intervals [lo, hi) merged when they touch, as nft merges them.
	type iv struct{ lo, hi uint64 }
	var ivs []iv
	for _, p := range ps { // sorted by normPrefixes
		a := p.Addr().As4()
		lo := uint64(binary.BigEndian.Uint32(a[:]))
		hi := lo + uint64(1)<<(32-p.Bits())
		if n := len(ivs); n > 0 && lo <= ivs[n-1].hi {
			ivs[n-1].hi = max(ivs[n-1].hi, hi)
			continue
		}
		ivs = append(ivs, iv{lo, hi})
	}
	for _, v := range ivs {
		start := make([]byte, 4)
		binary.BigEndian.PutUint32(start, uint32(v.lo))
		s.elems = append(s.elems, setElem{key: start})
		if v.hi <= 0xffffffff {
			end := make([]byte, 4)
			binary.BigEndian.PutUint32(end, uint32(v.hi))
			s.elems = append(s.elems, setElem{key: end, end: true})
		}
	}
	return s
}

func portSet(rs []portRange) setSpec {
	s := setSpec{keyType: typeInetService, keyLen: 2}
	for _, r := range rs {
		if r.lo != r.hi {
			s.interval = true
		}
	}
	for _, r := range rs {
		s.elems = append(s.elems, setElem{key: be16(r.lo)})
		if s.interval && r.hi < 0xffff {
			s.elems = append(s.elems, setElem{key: be16(r.hi + 1), end: true})
		}
	}
	return s
}

// ---- nft syntax ----

var protoNames = map[uint8]string{protoICMP: "icmp", protoTCP: "tcp", protoUDP: "udp", protoICMPv6: "ipv6-icmp"}

// nftText renders the rule in nft syntax (what `nft -f` accepts), in the
// same order as exprs emits the expressions.
func (ir *ruleIR) nftText() string {
	var w []string
	if ir.iif != "" {
		w = append(w, fmt.Sprintf("iifname %q", ir.iif))
	}
	if len(ir.iifSet) > 0 {
		q := make([]string, len(ir.iifSet))
		for i, n := range ir.iifSet {
			q[i] = fmt.Sprintf("%q", n)
		}
		w = append(w, "iifname { "+strings.Join(q, ", ")+" }")
	}
	if ir.oif != "" {
		w = append(w, fmt.Sprintf("oifname %q", ir.oif))
	}
	if ir.ipOnly {
		w = append(w, "meta nfproto ipv4")
	}
	if ir.l4 != 0 {
		name, ok := protoNames[ir.l4]
		if !ok {
			name = fmt.Sprint(ir.l4)
		}
		w = append(w, "meta l4proto "+name)
	}
	if ir.ct != 0 {
		var st []string
		for _, b := range []struct {
			bit  uint32
			name string
		}{{ctInvalid, "invalid"}, {ctEstablished, "established"}, {ctRelated, "related"}} {
			if ir.ct&b.bit != 0 {
				st = append(st, b.name)
			}
		}
		w = append(w, "ct state "+strings.Join(st, ","))
	}
	addrs := func(ps []netip.Prefix) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			if p.IsSingleIP() {
				s[i] = p.Addr().String()
			} else {
				s[i] = p.String()
			}
		}
		if len(s) == 1 {
			return s[0]
		}
		return "{ " + strings.Join(s, ", ") + " }"
	}
	if len(ir.saddr) > 0 {
		w = append(w, "ip saddr "+addrs(ir.saddr))
	}
	if len(ir.daddr) > 0 {
		w = append(w, "ip daddr "+addrs(ir.daddr))
	}
	ports := func(rs []portRange) string {
		s := make([]string, len(rs))
		for i, r := range rs {
			if r.lo == r.hi {
				s[i] = fmt.Sprint(r.lo)
			} else {
				s[i] = fmt.Sprintf("%d-%d", r.lo, r.hi)
			}
		}
		if len(s) == 1 {
			return s[0]
		}
		return "{ " + strings.Join(s, ", ") + " }"
	}
	if len(ir.sport) > 0 {
		w = append(w, protoNames[ir.l4]+" sport "+ports(ir.sport))
	}
	if len(ir.dport) > 0 {
		w = append(w, protoNames[ir.l4]+" dport "+ports(ir.dport))
	}
	w = append(w, "counter")
	switch ir.act {
	case actAccept:
		w = append(w, "accept")
	case actDrop:
		w = append(w, "drop")
	case actMasquerade:
		w = append(w, "masquerade")
	case actSNAT:
		to := ir.natAddr.String()
		if ir.natAddr2.IsValid() {
			to += "-" + ir.natAddr2.String()
		}
		w = append(w, "snat ip to "+to)
	case actDNAT:
		to := ir.natAddr.String()
		if ir.natPort != 0 {
			to += fmt.Sprintf(":%d", ir.natPort)
		}
		w = append(w, "dnat ip to "+to)
	case actJump:
		w = append(w, "jump "+ir.jump)
	case actRedirect:
		if ir.natPort != 0 {
			w = append(w, fmt.Sprintf("redirect to :%d", ir.natPort))
		} else {
			w = append(w, "redirect")
		}
	}
	w = append(w, fmt.Sprintf("comment %q", ir.key))
	return strings.Join(w, " ")
}

func chainHeader(s chainSpec) string {
	hook := map[uint32]string{hookPrerouting: "prerouting", hookInput: "input", hookForward: "forward", hookOutput: "output", hookPostrouting: "postrouting"}[s.hook]
	policy := "drop"
	if s.policy == nfAccept {
		policy = "accept"
	}
	return fmt.Sprintf("type %s hook %s priority %d; policy %s;", s.typ, hook, s.prio, policy)
}

// text renders the wanted table as an nft script (`nft -f`).
func (w *want) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", TableName)
	for i, c := range w.chains {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n", c.name)
		if c.base {
			spec := chainSpec{name: c.name, typ: c.typ, hook: c.hook, prio: c.prio, policy: c.policy}
			fmt.Fprintf(&b, "\t\t%s\n", chainHeader(spec))
		}
		for _, u := range c.units {
			for _, r := range u.rules {
				b.WriteString("\t\t" + r.ir.nftText() + "\n")
			}
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// userData tells nft the byte order of the set's keys, as nft itself
// records it; without it nft prints string keys (interface names) empty.
func (s setSpec) userData() []byte {
	order := uint32(2) // BYTEORDER_BIG_ENDIAN
	if s.hostOrder {
		order = 1 // BYTEORDER_HOST_ENDIAN
	}
	return userdata.AppendUint32(nil, userdata.NFTNL_UDATA_SET_KEYBYTEORDER, order)
}
