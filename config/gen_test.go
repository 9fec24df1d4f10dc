package config

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
)

// entropy is the source of choices of the model generator: a PRNG for the
// property test, the fuzzer's bytes for FuzzRoundTrip.
type entropy interface {
	// Intn returns a number in [0, n); n > 0.
	Intn(n int) int
}

type randEntropy struct{ r *rand.Rand }

func (e randEntropy) Intn(n int) int { return e.r.IntN(n) }

// byteEntropy reads choices from a byte string; once it is used up every
// choice is 0 (which always yields a small valid model).
type byteEntropy struct{ b []byte }

func (e *byteEntropy) Intn(n int) int {
	if n <= 1 {
		return 0
	}
	var v int
	for k := n - 1; k > 0; k >>= 8 {
		v <<= 8
		if len(e.b) > 0 {
			v |= int(e.b[0])
			e.b = e.b[1:]
		}
	}
	return v % n
}

// gen builds random valid models: every model it returns renders to text
// that parses back to the same model.
type gen struct {
	e entropy
	// max bounds the size of lists; the fuzzer keeps it small.
	max int
}

func (g *gen) n(n int) int         { return g.e.Intn(n) }
func (g *gen) chance(pct int) bool { return g.n(100) < pct }
func (g *gen) between(lo, hi int) int {
	return lo + g.n(hi-lo+1)
}
func pick[T any](g *gen, xs ...T) T { return xs[g.n(len(xs))] }

func (g *gen) addr() netip.Addr {
	return netip.AddrFrom4([4]byte{byte(pick(g, 10, 172, 192, 198, 203, 100, 1, 255, 0)), byte(g.n(256)), byte(g.n(256)), byte(g.n(256))})
}

// hostPrefix is an interface address: not the network address unless /31 or /32.
func (g *gen) hostPrefix() netip.Prefix {
	bits := pick(g, 8, 16, 24, 24, 24, 29, 30, 31, 32, g.n(33))
	p := netip.PrefixFrom(g.addr(), bits)
	if bits >= 31 || p.Addr() != p.Masked().Addr() {
		return p
	}
	// the network address: take a host address in the same network
	a := p.Masked().Addr().As4()
	a[3] |= 1
	return netip.PrefixFrom(netip.AddrFrom4(a), bits)
}

func (g *gen) netPrefix() netip.Prefix {
	return netip.PrefixFrom(g.addr(), pick(g, 0, 8, 16, 24, 24, 30, 32, g.n(33))).Masked()
}

const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func (g *gen) word(chars string, lo, hi int) string {
	n := g.between(lo, hi)
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[g.n(len(chars))]
	}
	return string(b)
}

// text is a free-text value (description, remark, psk): blanks, quotes,
// backslashes, '!' and non-ASCII included.
func (g *gen) text(max int) string {
	pieces := []string{" ", "  ", "\"", "\\", "\\\"", "!", "#", "é", "→", "\t", "a", "b", "Z", "0", "-", "_", "'", ",", "?", "WAN", "link", "no", "remark", "src", "enable"}
	var b strings.Builder
	n := g.between(1, max)
	for i := 0; i < n; i++ {
		b.WriteString(pick(g, pieces...))
	}
	return b.String()
}

// ruleIf is an interface name used in rules and routes: real names and
// wildcards, never a keyword of the rule syntax.
func (g *gen) ruleIf(wild bool) string {
	names := []string{"eth0", "eth1", "eth12", "tun0", "tun7", "gre3", "lo", "vlan10", "br0", "wan_1", "lan-2", "eth1.100"}
	if wild {
		names = append(names, "eth+", "tun+", "wwan+", "ppp+")
	}
	return pick(g, names...)
}

func (g *gen) addrList() []string {
	var out []string
	for i := g.between(1, 3); i > 0; i-- {
		if g.chance(50) {
			out = append(out, g.addr().String())
		} else {
			out = append(out, g.netPrefix().String())
		}
	}
	return out
}

func (g *gen) portList() []string {
	var out []string
	for i := g.between(1, 3); i > 0; i-- {
		lo := g.between(1, 65535)
		if g.chance(30) {
			hi := g.between(lo, 65535)
			out = append(out, fmt.Sprintf("%d-%d", lo, hi))
		} else {
			out = append(out, fmt.Sprint(lo))
		}
	}
	return out
}

func (g *gen) rule(ch Chain, num int) Rule {
	r := Rule{Number: num}
	switch ch {
	case ChainInput, ChainAccess:
		r.Action = pick(g, "permit", "deny")
		r.Direction = pick(g, "inbound", "outbound", "all")
	case ChainSNAT:
		r.Action = pick(g, "overload", "translate", "exempt")
		r.Direction = "outbound"
	case ChainDNAT:
		r.Action = pick(g, "translate", "redirect", "exempt")
		r.Direction = pick(g, "inbound", "all")
	}
	if ch == ChainSNAT || r.Direction != "all" || g.chance(40) {
		r.Interface = g.ruleIf(true)
	}
	r.Proto = pick(g, "", "", "ip", "tcp", "udp", "icmp")
	if g.chance(50) {
		r.Src = g.addrList()
	}
	if g.chance(50) {
		r.Dst = g.addrList()
	}
	if r.Proto == "tcp" || r.Proto == "udp" {
		if g.chance(30) {
			r.Sport = g.portList()
		}
		if g.chance(60) {
			r.Dport = g.portList()
		}
	}
	switch {
	case ch == ChainSNAT && r.Action == "translate":
		r.Xsrc = g.addr().String()
	case ch == ChainDNAT && r.Action == "translate":
		r.Xdst = g.addr().String()
		if (r.Proto == "tcp" || r.Proto == "udp") && g.chance(50) {
			r.Xdport = fmt.Sprint(g.between(1, 65535))
		}
	case ch == ChainDNAT && r.Action == "redirect":
		if (r.Proto == "tcp" || r.Proto == "udp") && g.chance(50) {
			r.Xdport = fmt.Sprint(g.between(1, 65535))
		}
	}
	if g.chance(30) {
		r.Remark = g.text(6)
	}
	return r
}

// iface returns a new interface for c, or nil when the names it tried
// are taken (the fuzzer's entropy may run out and repeat itself).
func (g *gen) iface(c *Config) *Interface {
	i := &Interface{}
	for try := 0; ; try++ {
		if try == 8 {
			return nil
		}
		*i = Interface{BridgeGroup: -1} // nothing left from a name already taken
		switch g.n(6) {
		case 0, 1:
			i.Kind, i.Name = KindEthernet, fmt.Sprintf("eth%d", g.n(16))
		case 2:
			i.Kind, i.Name = KindLoopback, "lo"
		case 3:
			i.Kind, i.Name = KindGRE, fmt.Sprintf("%s%d", pick(g, "tun", "gre"), g.n(100))
		case 4:
			i.Kind, i.VLANID = KindVLAN, g.between(1, 4094)
			i.Name, i.VLANParent = VLANName(i.VLANID), fmt.Sprintf("eth%d", g.n(4))
		case 5:
			i.Kind, i.Name = KindBridge, fmt.Sprintf("br%d", g.n(8))
		}
		if c.Interface(i.Name) == nil {
			break
		}
	}
	if g.chance(50) {
		i.Description = g.text(8)
	}
	i.Enabled = g.chance(70)
	for k := g.n(4); k > 0; k-- {
		p := g.hostPrefix()
		if !slices.Contains(i.Addresses, p) {
			i.Addresses = append(i.Addresses, p)
		}
	}
	if g.chance(40) {
		i.MTU = g.between(68, 9000)
	}
	if i.Kind == KindGRE && g.chance(80) {
		i.TunnelLocal = g.addr()
		if g.chance(80) {
			i.TunnelRemote = g.addr()
		}
	}
	if i.Kind != KindBridge && i.Kind != KindLoopback && g.chance(15) {
		i.BridgeGroup = g.n(8)
	}
	if g.chance(30) {
		i.OSPF.PointToPoint = g.chance(50)
		i.OSPF.Cost = pick(g, 0, g.between(1, 65535))
		i.OSPF.HelloInterval = pick(g, 0, g.between(1, 65535))
		i.OSPF.DeadInterval = pick(g, 0, g.between(1, 65535))
	}
	return i
}

var encs = []string{"AES", "AES-192", "AES-256", "3DES"}
var hashes = []string{"MD5", "SHA", "SHA-256", "SHA-512"}

// model returns a random valid configuration.
func (g *gen) model() *Config {
	c := &Config{}
	if g.chance(80) {
		c.Hostname = g.word(nameChars+"-._", 1, 20)
	}
	for k := g.n(g.max + 1); k > 0; k-- {
		if i := g.iface(c); i != nil {
			c.Interfaces = append(c.Interfaces, i)
		}
	}
	for k := g.n(3); k > 0; k-- {
		c.NameServers = append(c.NameServers, g.addr())
	}
	if g.chance(50) {
		c.DefaultGateway = g.addr()
	}
	for k := g.n(g.max + 1); k > 0; k-- {
		r := Route{Prefix: g.netPrefix()}
		if g.chance(70) {
			r.Via = g.addr()
		} else {
			r.Dev = g.ruleIf(false)
		}
		if g.chance(30) {
			r.Distance = g.between(1, 255)
		}
		if g.chance(20) {
			r.Remark = g.text(5)
		}
		if !slices.ContainsFunc(c.Routes, func(x Route) bool { return x.Key() == r.Key() }) {
			c.Routes = append(c.Routes, r)
		}
	}
	if g.chance(40) {
		o := &OSPF{}
		if g.chance(70) {
			o.RouterID = g.addr()
		}
		for k := g.n(g.max + 1); k > 0; k-- {
			n := OSPFNetwork{Prefix: g.netPrefix(), Area: pick(g, 0, g.n(100), g.n(1<<32))}
			if !slices.ContainsFunc(o.Networks, func(x OSPFNetwork) bool { return x.Prefix == n.Prefix }) {
				o.Networks = append(o.Networks, n)
			}
		}
		for k := g.n(3); k > 0; k-- {
			p := g.ruleIf(false)
			if !slices.Contains(o.PassiveInterfaces, p) {
				o.PassiveInterfaces = append(o.PassiveInterfaces, p)
			}
		}
		o.DefaultInformationOriginate = g.chance(50)
		o.RedistributeConnected = g.chance(50)
		o.RedistributeStatic = g.chance(50)
		c.OSPF = o
	}
	c.FirewallDisable.Access = g.chance(20)
	c.FirewallDisable.Input = g.chance(20)
	for _, ch := range []Chain{ChainInput, ChainAccess, ChainSNAT, ChainDNAT} {
		for k := g.n(g.max + 1); k > 0; k-- {
			SetRule(c, ch, g.rule(ch, g.between(1, 65535)))
		}
	}
	for k := g.n(3); k > 0; k-- {
		n := g.between(1, 65535)
		if c.IKEPolicy(n) != nil {
			continue
		}
		p := &IKEPolicy{Number: n}
		if g.chance(70) {
			p.Authentication = "psk"
		}
		if g.chance(80) {
			p.Encryption, p.Hash, p.DHGroup = pick(g, encs...), pick(g, hashes...), g.between(1, 32)
		}
		if g.chance(60) {
			p.Keylife = g.between(60, 2592000)
		}
		p.Version = g.n(3)
		i, _ := slices.BinarySearchFunc(c.IKEPolicies, n, func(x *IKEPolicy, n int) int { return x.Number - n })
		c.IKEPolicies = slices.Insert(c.IKEPolicies, i, p)
	}
	for k := g.n(3); k > 0; k-- {
		n := g.between(1, 65535)
		if c.ESPPolicy(n) != nil {
			continue
		}
		p := &ESPPolicy{Number: n}
		if g.chance(80) {
			p.Encryption, p.Hash, p.PFSGroup = pick(g, encs...), pick(g, hashes...), g.between(0, 32)
		}
		if g.chance(60) {
			p.Keylife = g.between(60, 2592000)
		}
		i, _ := slices.BinarySearchFunc(c.ESPPolicies, n, func(x *ESPPolicy, n int) int { return x.Number - n })
		c.ESPPolicies = slices.Insert(c.ESPPolicies, i, p)
	}
	for k := g.n(g.max + 1); k > 0; k-- {
		p := &Peer{}
		if g.chance(60) {
			p.Name = g.addr().String()
		} else {
			p.Name = g.word(nameChars+"-_.:", 1, 24)
		}
		if c.Peer(p.Name) != nil {
			continue
		}
		if g.chance(70) {
			p.Local = g.addr()
		}
		if g.chance(30) {
			p.LocalID = g.word(nameChars+"@.-_\\/:=", 1, 30)
		}
		if g.chance(30) {
			p.RemoteID = g.word(nameChars+"@.-_\\/:=", 1, 30)
		}
		switch g.n(3) {
		case 1:
			p.RemoteIP = "any"
		case 2:
			p.RemoteIP = g.addr().String()
		}
		for j := g.n(3); j > 0; j-- {
			if n := g.netPrefix(); !slices.Contains(p.LocalNet, n) {
				p.LocalNet = append(p.LocalNet, n)
			}
		}
		for j := g.n(3); j > 0; j-- {
			if n := g.netPrefix(); !slices.Contains(p.RemoteNet, n) {
				p.RemoteNet = append(p.RemoteNet, n)
			}
		}
		if g.chance(70) {
			p.IKEPolicy, p.ESPPolicy = g.between(1, 65535), g.between(1, 65535)
		}
		if g.chance(80) {
			p.PSK = g.text(12)
		}
		c.Peers = append(c.Peers, p)
	}
	c.IPsec = IPsecService(g.n(3))
	return c
}

// normalize puts a model in the order Parse produces: interfaces sorted as
// Render prints them.
func normalize(c *Config) *Config {
	n := c.Clone()
	sortInterfaces(n.Interfaces)
	return n
}
