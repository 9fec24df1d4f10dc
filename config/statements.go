package config

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"mboxsh/config/grammar"
)

// statements declares every configuration statement, in rendering order.
func statements() []*Statement {
	var s []*Statement
	s = append(s, hostnameStmts()...)
	s = append(s, interfaceStmts()...)
	s = append(s, ipStmts()...)
	s = append(s, ospfStmts()...)
	s = append(s, firewallStmts()...)
	s = append(s, ipsecStmts()...)
	return s
}

func hostnameStmts() []*Statement {
	return []*Statement{{
		Mode: ModeConfig, Name: "hostname", Group: "hostname",
		Syntax: "hostname <name:WORD>", No: "hostname [<name:WORD>]",
		Help: map[string]string{"hostname": "Set the system's network name", "name": "This system's network name"},
		Set: func(c *Ctx, a grammar.Args) error {
			if !validHostname(a.Str("name")) {
				return userErr("%% Invalid hostname %q: use letters, digits, '-' and '.', at most 63 characters", a.Str("name"))
			}
			c.Cfg.Hostname = a.Str("name")
			return nil
		},
		Unset: func(c *Ctx, a grammar.Args) error { c.Cfg.Hostname = ""; return nil },
		Get: func(c *Ctx) []grammar.Args {
			if c.Cfg.Hostname == "" {
				return nil
			}
			return []grammar.Args{args("name", c.Cfg.Hostname)}
		},
	}}
}

func validHostname(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// interfaceHelp is the help of the interface header's tokens.
var interfaceHelp = map[string]string{
	"ifname": "Interface name: ethN (port), tunN or greN (GRE tunnel), lo (loopback)",
	"vlan":   "802.1Q VLAN sub-interface",
	"port":   "Parent port number (N of ethN)",
	"vid":    "VLAN ID",
	"bridge": "Software bridge",
	"br":     "Bridge name brN",
}

const interfaceSyntax = "interface (<ifname:IFNAME>|vlan <port:0-4095> <vid:1-4094>|bridge <br:IFNAME>)"

func interfaceStmts() []*Statement {
	inIf := func(f func(i *Interface, a grammar.Args) error) func(*Ctx, grammar.Args) error {
		return func(c *Ctx, a grammar.Args) error { return f(c.Iface, a) }
	}
	getIf := func(f func(i *Interface) []grammar.Args) func(*Ctx) []grammar.Args {
		return func(c *Ctx) []grammar.Args { return f(c.Iface) }
	}
	one := func(cond bool, kv ...string) []grammar.Args {
		if !cond {
			return nil
		}
		return []grammar.Args{args(kv...)}
	}
	return []*Statement{
		{
			Mode: ModeConfig, Name: "interface", Enter: ModeInterface,
			Syntax: interfaceSyntax, No: interfaceSyntax,
			Help: interfaceHelp,
			Set: func(c *Ctx, a grammar.Args) error {
				name, kind, parent, vid, err := interfaceKey(a)
				if err != nil {
					return err
				}
				i := c.Cfg.Interface(name)
				if i == nil {
					i = &Interface{Name: name, Kind: kind, VLANParent: parent, VLANID: vid, BridgeGroup: -1}
					c.Cfg.Interfaces = append(c.Cfg.Interfaces, i)
				} else if i.Kind != kind || i.VLANParent != parent {
					return userErr("%% %s already exists as %s", name, i.HeaderArgs())
				}
				c.Iface = i
				return nil
			},
			Unset: func(c *Ctx, a grammar.Args) error {
				name, _, _, _, err := interfaceKey(a)
				if err != nil {
					return err
				}
				idx := slices.IndexFunc(c.Cfg.Interfaces, func(i *Interface) bool { return i.Name == name })
				if idx < 0 {
					return userErr("%% Interface %s is not configured", name)
				}
				c.Cfg.Interfaces = slices.Delete(c.Cfg.Interfaces, idx, idx+1)
				return nil
			},
			Get: func(c *Ctx) []grammar.Args {
				ifs := slices.Clone(c.Cfg.Interfaces)
				sortInterfaces(ifs)
				var out []grammar.Args
				for _, i := range ifs {
					switch i.Kind {
					case KindVLAN:
						out = append(out, args("vlan", "vlan", "port", strings.TrimPrefix(i.VLANParent, "eth"), "vid", itoa(i.VLANID)))
					case KindBridge:
						out = append(out, args("bridge", "bridge", "br", i.Name))
					default:
						out = append(out, args("ifname", i.Name))
					}
				}
				return out
			},
		},
		{
			Mode: ModeInterface, Name: "tunnel",
			Syntax: "tunnel local <laddr:A.B.C.D> [remote <raddr:A.B.C.D>]", No: "tunnel [local <laddr:A.B.C.D> [remote <raddr:A.B.C.D>]]",
			Help: map[string]string{"tunnel": "GRE tunnel endpoints", "local": "Local (source) address of the tunnel",
				"laddr": "Local endpoint address", "remote": "Remote (destination) address of the tunnel", "raddr": "Remote endpoint address"},
			Set: inIf(func(i *Interface, a grammar.Args) error {
				if i.Kind != KindGRE {
					return userErr("%% tunnel applies only to GRE interfaces (tunN, greN), not %s", i.Name)
				}
				i.TunnelLocal = mustAddr(a.Str("laddr"))
				i.TunnelRemote = netip.Addr{}
				if a.Has("raddr") {
					i.TunnelRemote = mustAddr(a.Str("raddr"))
				}
				return nil
			}),
			Unset: inIf(func(i *Interface, a grammar.Args) error {
				i.TunnelLocal, i.TunnelRemote = netip.Addr{}, netip.Addr{}
				return nil
			}),
			Get: getIf(func(i *Interface) []grammar.Args {
				if !i.TunnelLocal.IsValid() {
					return nil
				}
				a := args("laddr", i.TunnelLocal.String())
				if i.TunnelRemote.IsValid() {
					a = append(a, grammar.Arg{Name: "raddr", Value: i.TunnelRemote.String()})
				}
				return []grammar.Args{a}
			}),
		},
		{
			Mode: ModeInterface, Name: "description",
			Syntax: "description <text:LINE>", No: "description [<text:LINE>]",
			Help: map[string]string{"description": "Interface specific description", "text": "Up to 240 characters describing this interface"},
			Set: inIf(func(i *Interface, a grammar.Args) error {
				t := a.Str("text")
				if len(t) > 240 || strings.ContainsAny(t, "\r\n") {
					return userErr("%% description: at most 240 characters on one line")
				}
				i.Description = t
				return nil
			}),
			Unset: inIf(func(i *Interface, a grammar.Args) error { i.Description = ""; return nil }),
			Get:   getIf(func(i *Interface) []grammar.Args { return one(i.Description != "", "text", i.Description) }),
		},
		{
			Mode: ModeInterface, Name: "enable",
			Syntax: "enable", No: "enable",
			Help:  map[string]string{"enable": "Bring the interface administratively up"},
			Set:   inIf(func(i *Interface, a grammar.Args) error { i.Enabled = true; return nil }),
			Unset: inIf(func(i *Interface, a grammar.Args) error { i.Enabled = false; return nil }),
			Get:   getIf(func(i *Interface) []grammar.Args { return one(i.Enabled, "enable", "enable") }),
		},
		{
			Mode: ModeInterface, Name: "shutdown", Hidden: true,
			Syntax: "shutdown", No: "shutdown",
			Help:  map[string]string{"shutdown": "Shutdown the interface (same as no enable)"},
			Set:   inIf(func(i *Interface, a grammar.Args) error { i.Enabled = false; return nil }),
			Unset: inIf(func(i *Interface, a grammar.Args) error { i.Enabled = true; return nil }),
		},
		{
			Mode: ModeInterface, Name: "mtu",
			Syntax: "mtu <bytes:68-9000>", No: "mtu [<bytes:68-9000>]",
			Help:  map[string]string{"mtu": "Set the interface Maximum Transmission Unit (MTU)", "bytes": "MTU in bytes"},
			Set:   inIf(func(i *Interface, a grammar.Args) error { i.MTU = a.Int("bytes"); return nil }),
			Unset: inIf(func(i *Interface, a grammar.Args) error { i.MTU = 0; return nil }),
			Get:   getIf(func(i *Interface) []grammar.Args { return one(i.MTU != 0, "bytes", itoa(i.MTU)) }),
		},
		{
			Mode: ModeInterface, Name: "ip address",
			Syntax: "ip address <addr:A.B.C.D/M>", No: "ip address [<addr:A.B.C.D/M>]",
			Help: map[string]string{"address": "Set the IP address of an interface (repeat for more)", "addr": "IP address and prefix length"},
			Set: inIf(func(i *Interface, a grammar.Args) error {
				p := netip.MustParsePrefix(a.Str("addr"))
				if p.Bits() < 32 && p.Addr() == p.Masked().Addr() && p.Bits() < 31 {
					return userErr("%% %s is a network address, not a host address", p)
				}
				if !slices.Contains(i.Addresses, p) {
					i.Addresses = append(i.Addresses, p)
				}
				return nil
			}),
			Unset: inIf(func(i *Interface, a grammar.Args) error {
				if !a.Has("addr") {
					i.Addresses = nil
					return nil
				}
				p := netip.MustParsePrefix(a.Str("addr"))
				idx := slices.Index(i.Addresses, p)
				if idx < 0 {
					return userErr("%% Address %s is not configured on %s", p, i.Name)
				}
				i.Addresses = slices.Delete(i.Addresses, idx, idx+1)
				return nil
			}),
			Get: getIf(func(i *Interface) []grammar.Args {
				var out []grammar.Args
				for _, p := range i.Addresses {
					out = append(out, args("addr", p.String()))
				}
				return out
			}),
		},
		{
			Mode: ModeInterface, Name: "bridge-group",
			Syntax: "bridge-group <group:0-4095>", No: "bridge-group [<group:0-4095>]",
			Help: map[string]string{"bridge-group": "Make the interface a member of bridge brN", "group": "Bridge number N (bridge brN)"},
			Set: inIf(func(i *Interface, a grammar.Args) error {
				if i.Kind == KindBridge || i.Kind == KindLoopback {
					return userErr("%% bridge-group does not apply to %s", i.Name)
				}
				i.BridgeGroup = a.Int("group")
				return nil
			}),
			Unset: inIf(func(i *Interface, a grammar.Args) error { i.BridgeGroup = -1; return nil }),
			Get: getIf(func(i *Interface) []grammar.Args {
				return one(i.BridgeGroup >= 0, "group", itoa(i.BridgeGroup))
			}),
		},
		{
			Mode: ModeInterface, Name: "ip ospf network",
			Syntax: "ip ospf network point-to-point", No: "ip ospf network [point-to-point]",
			Help: map[string]string{"network": "OSPF network type", "point-to-point": "Point-to-point network (use on tunnels)"},
			Set:  inIf(func(i *Interface, a grammar.Args) error { i.OSPF.PointToPoint = true; return nil }),
			Unset: inIf(func(i *Interface, a grammar.Args) error {
				i.OSPF.PointToPoint = false
				return nil
			}),
			Get: getIf(func(i *Interface) []grammar.Args { return one(i.OSPF.PointToPoint, "point-to-point", "point-to-point") }),
		},
		ospfIfInt("cost", "Interface cost", "Cost", 1, 65535, func(i *Interface) *int { return &i.OSPF.Cost }),
		ospfIfInt("hello-interval", "Time between HELLO packets", "Seconds", 1, 65535, func(i *Interface) *int { return &i.OSPF.HelloInterval }),
		ospfIfInt("dead-interval", "Interval after which a neighbor is declared down", "Seconds", 1, 65535, func(i *Interface) *int { return &i.OSPF.DeadInterval }),
	}
}

func ospfIfInt(kw, help, valHelp string, lo, hi int, field func(*Interface) *int) *Statement {
	rng := "<val:" + itoa(lo) + "-" + itoa(hi) + ">"
	return &Statement{
		Mode: ModeInterface, Name: "ip ospf " + kw,
		Syntax: "ip ospf " + kw + " " + rng, No: "ip ospf " + kw + " [" + rng + "]",
		Help: map[string]string{kw: help, "val": valHelp},
		Set:  func(c *Ctx, a grammar.Args) error { *field(c.Iface) = a.Int("val"); return nil },
		Unset: func(c *Ctx, a grammar.Args) error {
			*field(c.Iface) = 0
			return nil
		},
		Get: func(c *Ctx) []grammar.Args {
			v := *field(c.Iface)
			if v == 0 {
				return nil
			}
			return []grammar.Args{args("val", itoa(v))}
		},
	}
}

// interfaceKey decodes an interface header into the kernel name and kind.
func interfaceKey(a grammar.Args) (name string, kind InterfaceKind, parent string, vid int, err error) {
	switch {
	case a.Has("vlan"):
		return VLANName(a.Int("vid")), KindVLAN, "eth" + a.Str("port"), a.Int("vid"), nil
	case a.Has("bridge"):
		br := a.Str("br")
		if !isNumbered(br, "br") {
			return "", 0, "", 0, userErr("%% Bridge names are brN (br0, br1, ...), not %q", br)
		}
		return br, KindBridge, "", 0, nil
	}
	n := a.Str("ifname")
	switch {
	case n == "lo":
		return n, KindLoopback, "", 0, nil
	case isNumbered(n, "eth"):
		return n, KindEthernet, "", 0, nil
	case isNumbered(n, "tun"), isNumbered(n, "gre"):
		return n, KindGRE, "", 0, nil
	case isNumbered(n, "vlan"):
		return "", 0, "", 0, userErr("%% VLAN interfaces are configured as: interface vlan PORT VID")
	case isNumbered(n, "br"):
		return "", 0, "", 0, userErr("%% Bridges are configured as: interface bridge %s", n)
	}
	return "", 0, "", 0, userErr("%% Unsupported interface %q: use ethN, tunN, greN, lo, vlan PORT VID or bridge brN", n)
}

func isNumbered(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || rest == "" || len(rest) > 5 {
		return false
	}
	_, err := strconv.Atoi(rest)
	return err == nil && rest[0] != '-' && rest[0] != '+'
}

func kindOrder(k InterfaceKind) int {
	return [...]int{KindEthernet: 0, KindLoopback: 1, KindGRE: 2, KindVLAN: 3, KindBridge: 4}[k]
}

// sortInterfaces orders interfaces as the running config prints them:
// ports, loopback, tunnels, VLANs, bridges; by number within a kind.
func sortInterfaces(ifs []*Interface) {
	sort.SliceStable(ifs, func(a, b int) bool {
		x, y := ifs[a], ifs[b]
		if kindOrder(x.Kind) != kindOrder(y.Kind) {
			return kindOrder(x.Kind) < kindOrder(y.Kind)
		}
		if x.Kind == KindVLAN {
			if x.VLANParent != y.VLANParent {
				return naturalLess(x.VLANParent, y.VLANParent)
			}
			return x.VLANID < y.VLANID
		}
		return naturalLess(x.Name, y.Name)
	})
}

// naturalLess compares "tun2" < "tun10": alphabetic prefix, then number.
func naturalLess(a, b string) bool {
	pa, na := splitNum(a)
	pb, nb := splitNum(b)
	if pa != pb {
		return pa < pb
	}
	if na != nb {
		return na < nb
	}
	return a < b
}

func splitNum(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, _ := strconv.Atoi(s[i:])
	return s[:i], n
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func ipStmts() []*Statement {
	routeSyntax := "route <prefix:A.B.C.D/M> nexthop <via:A.B.C.D|IFNAME> [distance <dist:1-255>] [remark <note:TEXT>]"
	routeNo := "route <prefix:A.B.C.D/M> [nexthop <via:A.B.C.D|IFNAME> [distance <dist:1-255>] [remark <note:TEXT>]]"
	routeHelp := map[string]string{
		"route": "Static route", "prefix": "Destination prefix", "nexthop": "Where to send the traffic",
		"via": "Next-hop address or outgoing interface", "distance": "Administrative distance",
		"dist": "Distance (1 preferred; a higher value makes a backup route)",
	}
	setRoute := func(c *Ctx, a grammar.Args) error {
		p := netip.MustParsePrefix(a.Str("prefix"))
		if p != p.Masked() {
			return userErr("%% %s is not a network prefix (did you mean %s?)", p, p.Masked())
		}
		r := Route{Prefix: p, Distance: a.Int("dist"), Remark: a.Str("note")}
		if v, err := netip.ParseAddr(a.Str("via")); err == nil {
			r.Via = v
		} else {
			r.Dev = a.Str("via")
		}
		for k, x := range c.Cfg.Routes {
			if x.Prefix == r.Prefix && x.Via == r.Via && x.Dev == r.Dev { // same Key()
				c.Cfg.Routes[k] = r
				return nil
			}
		}
		c.Cfg.Routes = append(c.Cfg.Routes, r)
		return nil
	}
	unsetRoute := func(c *Ctx, a grammar.Args) error {
		p := netip.MustParsePrefix(a.Str("prefix"))
		via := a.Str("via")
		n := len(c.Cfg.Routes)
		c.Cfg.Routes = slices.DeleteFunc(c.Cfg.Routes, func(r Route) bool {
			if r.Prefix != p {
				return false
			}
			return via == "" || r.Dev == via || r.Via.IsValid() && r.Via.String() == via
		})
		if len(c.Cfg.Routes) == n {
			return userErr("%% No such route")
		}
		return nil
	}
	return []*Statement{
		{
			Mode: ModeConfig, Name: "ip name-server", Group: "ip",
			Syntax: "ip name-server <ns1:A.B.C.D> [<ns2:A.B.C.D>]", No: "ip name-server [<ns1:A.B.C.D> [<ns2:A.B.C.D>]]",
			Help: map[string]string{"name-server": "DNS servers the appliance uses", "ns1": "Primary DNS server", "ns2": "Secondary DNS server"},
			Set: func(c *Ctx, a grammar.Args) error {
				c.Cfg.NameServers = []netip.Addr{mustAddr(a.Str("ns1"))}
				if a.Has("ns2") {
					c.Cfg.NameServers = append(c.Cfg.NameServers, mustAddr(a.Str("ns2")))
				}
				return nil
			},
			Unset: func(c *Ctx, a grammar.Args) error { c.Cfg.NameServers = nil; return nil },
			Get: func(c *Ctx) []grammar.Args {
				if len(c.Cfg.NameServers) == 0 {
					return nil
				}
				a := args("ns1", c.Cfg.NameServers[0].String())
				if len(c.Cfg.NameServers) > 1 {
					a = append(a, grammar.Arg{Name: "ns2", Value: c.Cfg.NameServers[1].String()})
				}
				return []grammar.Args{a}
			},
		},
		{
			Mode: ModeConfig, Name: "ip default-gateway", Group: "ip",
			Syntax: "ip default-gateway <gw:A.B.C.D>", No: "ip default-gateway [<gw:A.B.C.D>]",
			Help: map[string]string{"default-gateway": "Default route next hop", "gw": "Gateway address"},
			Set: func(c *Ctx, a grammar.Args) error {
				c.Cfg.DefaultGateway = mustAddr(a.Str("gw"))
				return nil
			},
			Unset: func(c *Ctx, a grammar.Args) error { c.Cfg.DefaultGateway = netip.Addr{}; return nil },
			Get: func(c *Ctx) []grammar.Args {
				if !c.Cfg.DefaultGateway.IsValid() {
					return nil
				}
				return []grammar.Args{args("gw", c.Cfg.DefaultGateway.String())}
			},
		},
		{
			Mode: ModeConfig, Name: "ip route", Group: "ip",
			Syntax: "ip " + routeSyntax, No: "ip " + routeNo, Help: routeHelp,
			Set: setRoute, Unset: unsetRoute,
			Get: func(c *Ctx) []grammar.Args {
				var out []grammar.Args
				for _, r := range c.Cfg.Routes {
					via := r.Dev
					if via == "" {
						via = r.Via.String()
					}
					a := args("prefix", r.Prefix.String(), "via", via)
					if r.Distance != 0 {
						a = append(a, grammar.Arg{Name: "dist", Value: itoa(r.Distance)})
					}
					if r.Remark != "" {
						a = append(a, grammar.Arg{Name: "note", Value: r.Remark})
					}
					out = append(out, a)
				}
				return out
			},
		},
		{
			// The vendor write-up shows routes without the leading "ip".
			Mode: ModeConfig, Name: "route", Hidden: true,
			Syntax: routeSyntax, No: routeNo, Help: routeHelp,
			Set: setRoute, Unset: unsetRoute,
		},
	}
}

func ospfStmts() []*Statement {
	inOSPF := func(f func(o *OSPF, a grammar.Args) error) func(*Ctx, grammar.Args) error {
		return func(c *Ctx, a grammar.Args) error { return f(c.Cfg.OSPF, a) }
	}
	flag := func(name, syntax string, help map[string]string, field func(*OSPF) *bool) *Statement {
		return &Statement{
			Mode: ModeOSPF, Name: name, Syntax: syntax, No: syntax, Help: help,
			Set:   inOSPF(func(o *OSPF, a grammar.Args) error { *field(o) = true; return nil }),
			Unset: inOSPF(func(o *OSPF, a grammar.Args) error { *field(o) = false; return nil }),
		}
	}
	redist := func(c *Ctx) []grammar.Args {
		var out []grammar.Args
		if c.Cfg.OSPF.RedistributeConnected {
			out = append(out, args("what", "connected"))
		}
		if c.Cfg.OSPF.RedistributeStatic {
			out = append(out, args("what", "static"))
		}
		return out
	}
	dio := flag("default-information", "default-information originate",
		map[string]string{"default-information": "Control distribution of default information", "originate": "Distribute a default route"},
		func(o *OSPF) *bool { return &o.DefaultInformationOriginate })
	dio.Get = func(c *Ctx) []grammar.Args {
		if !c.Cfg.OSPF.DefaultInformationOriginate {
			return nil
		}
		return []grammar.Args{args("originate", "originate")}
	}
	return []*Statement{
		{
			Mode: ModeConfig, Name: "router ospf", Enter: ModeOSPF,
			Syntax: "router ospf", No: "router ospf",
			Help: map[string]string{"router": "Enable a routing process", "ospf": "Open Shortest Path First (OSPFv2)"},
			Set: func(c *Ctx, a grammar.Args) error {
				if c.Cfg.OSPF == nil {
					c.Cfg.OSPF = &OSPF{}
				}
				return nil
			},
			Unset: func(c *Ctx, a grammar.Args) error { c.Cfg.OSPF = nil; return nil },
			Get: func(c *Ctx) []grammar.Args {
				if c.Cfg.OSPF == nil {
					return nil
				}
				return []grammar.Args{args("ospf", "ospf")}
			},
		},
		{
			Mode: ModeOSPF, Name: "router-id",
			Syntax: "router-id <rid:A.B.C.D>", No: "router-id [<rid:A.B.C.D>]",
			Help: map[string]string{"router-id": "OSPF router ID", "rid": "Router ID in IPv4 address form"},
			Set:  inOSPF(func(o *OSPF, a grammar.Args) error { o.RouterID = mustAddr(a.Str("rid")); return nil }),
			Unset: inOSPF(func(o *OSPF, a grammar.Args) error {
				o.RouterID = netip.Addr{}
				return nil
			}),
			Get: func(c *Ctx) []grammar.Args {
				if !c.Cfg.OSPF.RouterID.IsValid() {
					return nil
				}
				return []grammar.Args{args("rid", c.Cfg.OSPF.RouterID.String())}
			},
		},
		{
			Mode: ModeOSPF, Name: "network",
			Syntax: "network <net:A.B.C.D/M> area <areaid:0-4294967295>", No: "network <net:A.B.C.D/M> [area <areaid:0-4294967295>]",
			Help: map[string]string{"network": "Enable OSPF on interfaces with addresses in a prefix", "net": "OSPF network prefix",
				"area": "OSPF area", "areaid": "OSPF area ID as a decimal value"},
			Set: inOSPF(func(o *OSPF, a grammar.Args) error {
				p := netip.MustParsePrefix(a.Str("net")).Masked()
				n := OSPFNetwork{Prefix: p, Area: a.Int("areaid")}
				for k, x := range o.Networks {
					if x.Prefix == p {
						o.Networks[k] = n
						return nil
					}
				}
				o.Networks = append(o.Networks, n)
				return nil
			}),
			Unset: inOSPF(func(o *OSPF, a grammar.Args) error {
				p := netip.MustParsePrefix(a.Str("net")).Masked()
				n := len(o.Networks)
				o.Networks = slices.DeleteFunc(o.Networks, func(x OSPFNetwork) bool { return x.Prefix == p })
				if len(o.Networks) == n {
					return userErr("%% network %s is not configured", p)
				}
				return nil
			}),
			Get: func(c *Ctx) []grammar.Args {
				var out []grammar.Args
				for _, n := range c.Cfg.OSPF.Networks {
					out = append(out, args("net", n.Prefix.String(), "areaid", itoa(n.Area)))
				}
				return out
			},
		},
		{
			Mode: ModeOSPF, Name: "passive-interface",
			Syntax: "passive-interface <pif:IFNAME>", No: "passive-interface <pif:IFNAME>",
			Help: map[string]string{"passive-interface": "Suppress routing updates on an interface", "pif": "Interface name"},
			Set: inOSPF(func(o *OSPF, a grammar.Args) error {
				if !slices.Contains(o.PassiveInterfaces, a.Str("pif")) {
					o.PassiveInterfaces = append(o.PassiveInterfaces, a.Str("pif"))
				}
				return nil
			}),
			Unset: inOSPF(func(o *OSPF, a grammar.Args) error {
				o.PassiveInterfaces = slices.DeleteFunc(o.PassiveInterfaces, func(s string) bool { return s == a.Str("pif") })
				return nil
			}),
			Get: func(c *Ctx) []grammar.Args {
				var out []grammar.Args
				for _, p := range c.Cfg.OSPF.PassiveInterfaces {
					out = append(out, args("pif", p))
				}
				return out
			},
		},
		dio,
		{
			Mode: ModeOSPF, Name: "redistribute",
			Syntax: "redistribute <what:connected|static>", No: "redistribute <what:connected|static>",
			Help: map[string]string{"redistribute": "Redistribute information from another routing protocol",
				"what": "Route source", "what.connected": "Connected routes (directly attached subnets)", "what.static": "Static routes"},
			Set: inOSPF(func(o *OSPF, a grammar.Args) error {
				if a.Str("what") == "connected" {
					o.RedistributeConnected = true
				} else {
					o.RedistributeStatic = true
				}
				return nil
			}),
			Unset: inOSPF(func(o *OSPF, a grammar.Args) error {
				if a.Str("what") == "connected" {
					o.RedistributeConnected = false
				} else {
					o.RedistributeStatic = false
				}
				return nil
			}),
			Get: redist,
		},
	}
}

func firewallStmts() []*Statement {
	matches := "<proto:ip|tcp|udp|icmp> | src <srcs:ADDRLIST> | dst <dsts:ADDRLIST> | sport <sports:PORTLIST> | dport <dports:PORTLIST>"
	disable := &Statement{
		Mode: ModeConfig, Name: "firewall-disable", Group: "firewall-disable",
		Syntax: "firewall-disable <what:access|input>", No: "firewall-disable <what:access|input>",
		Help: map[string]string{"firewall-disable": "Disable built-in default firewall rules", "what": "Which defaults",
			"what.access": "Disable default access rules", "what.input": "Disable default input rules"},
		Set: func(c *Ctx, a grammar.Args) error {
			if a.Str("what") == "access" {
				c.Cfg.FirewallDisable.Access = true
			} else {
				c.Cfg.FirewallDisable.Input = true
			}
			return nil
		},
		Unset: func(c *Ctx, a grammar.Args) error {
			if a.Str("what") == "access" {
				c.Cfg.FirewallDisable.Access = false
			} else {
				c.Cfg.FirewallDisable.Input = false
			}
			return nil
		},
		Get: func(c *Ctx) []grammar.Args {
			var out []grammar.Args
			if c.Cfg.FirewallDisable.Access {
				out = append(out, args("what", "access"))
			}
			if c.Cfg.FirewallDisable.Input {
				out = append(out, args("what", "input"))
			}
			return out
		},
	}
	return []*Statement{
		disable,
		ruleStmt(ChainInput, "Firewall rule for traffic to the appliance itself",
			"<action:permit|deny> <dir:inbound|outbound|all> [<ifname:IFWILD>] {"+matches+" | remark <note:TEXT>}"),
		ruleStmt(ChainAccess, "Firewall rule for traffic forwarded through the appliance",
			"<action:permit|deny> <dir:inbound|outbound|all> [<ifname:IFWILD>] {"+matches+" | remark <note:TEXT>}"),
		ruleStmt(ChainSNAT, "Source NAT rule",
			"<action:overload|translate|exempt> <dir:outbound> <ifname:IFWILD> {"+matches+" | xsrc <xsrcaddr:A.B.C.D> | remark <note:TEXT>}"),
		ruleStmt(ChainDNAT, "Destination NAT rule",
			"<action:translate|redirect|exempt> <dir:inbound|all> [<ifname:IFWILD>] {"+matches+" | xdst <xdstaddr:A.B.C.D> | xdport <xdportnum:1-65535> | remark <note:TEXT>}"),
	}
}

func ruleStmt(ch Chain, help, body string) *Statement {
	kw := ch.Keyword()
	return &Statement{
		Mode: ModeConfig, Name: kw, Group: kw,
		Syntax: kw + " <num:1-65535> " + body, No: kw + " <num:1-65535> [<rest:LINE>]",
		Help: map[string]string{kw: help,
			"xsrc": "Translate the source to this address", "xdst": "Translate the destination to this address",
			"xdport":   "Translate the destination port to this port",
			"xsrcaddr": "Translated source address", "xdstaddr": "Translated destination address", "xdportnum": "Translated destination port", "rest": "The rest of the rule (ignored)"},
		Set: func(c *Ctx, a grammar.Args) error {
			r := Rule{
				Number: a.Int("num"), Action: a.Str("action"), Direction: a.Str("dir"), Interface: a.Str("ifname"),
				Proto: a.Str("proto"), Src: splitList(a.Str("srcs")), Dst: splitList(a.Str("dsts")),
				Sport: splitList(a.Str("sports")), Dport: splitList(a.Str("dports")),
				Xsrc: a.Str("xsrcaddr"), Xdst: a.Str("xdstaddr"), Xdport: a.Str("xdportnum"), Remark: a.Str("note"),
			}
			if err := checkRule(ch, r); err != nil {
				return err
			}
			SetRule(c.Cfg, ch, r)
			return nil
		},
		Unset: func(c *Ctx, a grammar.Args) error {
			if !DeleteRule(c.Cfg, ch, a.Int("num")) {
				return userErr("%% %s %d is not configured", kw, a.Int("num"))
			}
			return nil
		},
		Get: func(c *Ctx) []grammar.Args {
			if c.each != nil {
				eachRuleArgs(*c.Cfg.Rules(ch), c.each)
				return nil
			}
			return rulesArgs(*c.Cfg.Rules(ch))
		},
	}
}

func ruleArgs(r Rule) grammar.Args {
	return appendRuleArgs(make(grammar.Args, 0, 13), &r, itoa(r.Number), joinList(r.Src), joinList(r.Dst),
		joinList(r.Sport), joinList(r.Dport))
}

// appendRuleArgs appends the arguments of rule r, given its number and
// lists already in text form, in the order of the rule syntax.
func appendRuleArgs(a grammar.Args, r *Rule, num, src, dst, sport, dport string) grammar.Args {
	a = append(a, grammar.Arg{Name: "num", Value: num}, grammar.Arg{Name: "action", Value: r.Action},
		grammar.Arg{Name: "dir", Value: r.Direction})
	for _, x := range [...]grammar.Arg{
		{Name: "ifname", Value: r.Interface}, {Name: "proto", Value: r.Proto},
		{Name: "srcs", Value: src}, {Name: "dsts", Value: dst}, {Name: "sports", Value: sport}, {Name: "dports", Value: dport},
		{Name: "xsrcaddr", Value: r.Xsrc}, {Name: "xdstaddr", Value: r.Xdst}, {Name: "xdportnum", Value: r.Xdport},
		{Name: "note", Value: r.Remark},
	} {
		if x.Value != "" {
			a = append(a, x)
		}
	}
	return a
}

// joinList is strings.Join(l, ","), the text of a rule's address or port
// list.
func joinList(l []string) string { return strings.Join(l, ",") }

// ruleTexts holds the arguments of a chain's rules that are not fields of
// the rules: their numbers, and their lists of more than one element joined
// with commas. A chain can hold tens of thousands of rules; written into
// one string in rule order, they cost one allocation instead of one or
// more per rule.
type ruleTexts struct{ s string }

// newRuleTexts writes the texts of rules, and counts their arguments.
func newRuleTexts(rules []Rule) (t ruleTexts, nargs int) {
	b := make([]byte, 0, 6*len(rules))
	for i := range rules {
		r := &rules[i]
		b = strconv.AppendInt(b, int64(r.Number), 10)
		nargs += 3 + countNonEmpty(r.Interface, r.Proto, r.Xsrc, r.Xdst, r.Xdport, r.Remark)
		for _, l := range [...][]string{r.Src, r.Dst, r.Sport, r.Dport} {
			if len(l) > 1 {
				b = appendList(b, l)
			}
			if len(l) > 1 || len(l) == 1 && l[0] != "" {
				nargs++
			}
		}
	}
	return ruleTexts{string(b)}, nargs
}

// appendArgs appends ruleArgs(*r) to a, taking the texts of r, which
// must be the next rule of those newRuleTexts was given.
func (t *ruleTexts) appendArgs(a grammar.Args, r *Rule) grammar.Args {
	take := func(n int) string {
		v := t.s[:n]
		t.s = t.s[n:]
		return v
	}
	num := take(decimalLen(r.Number))
	var lists [4]string
	for k, l := range [...][]string{r.Src, r.Dst, r.Sport, r.Dport} {
		switch len(l) {
		case 0:
		case 1:
			lists[k] = l[0]
		default:
			lists[k] = take(listLen(l))
		}
	}
	return appendRuleArgs(a, r, num, lists[0], lists[1], lists[2], lists[3])
}

// rulesArgs is ruleArgs of every rule of a chain. The arguments of all
// rules share one array.
func rulesArgs(rules []Rule) []grammar.Args {
	if len(rules) == 0 {
		return nil
	}
	t, nargs := newRuleTexts(rules)
	all := make(grammar.Args, 0, nargs)
	out := make([]grammar.Args, len(rules))
	for i := range rules {
		start := len(all)
		all = t.appendArgs(all, &rules[i])
		out[i] = all[start:len(all):len(all)]
	}
	return out
}

// eachRuleArgs writes the rules of a chain to b, reusing one Args (on the
// stack: b.oneLine keeps nothing of it).
func eachRuleArgs(rules []Rule, b *render) {
	if len(rules) == 0 {
		return
	}
	t, _ := newRuleTexts(rules)
	a := make(grammar.Args, 0, 13)
	for i := range rules {
		a = t.appendArgs(a[:0], &rules[i])
		b.oneLine(a)
	}
}

func countNonEmpty(vs ...string) int {
	n := 0
	for _, v := range vs {
		if v != "" {
			n++
		}
	}
	return n
}

func appendList(b []byte, l []string) []byte {
	for k, x := range l {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, x...)
	}
	return b
}

func listLen(l []string) int {
	n := len(l) - 1
	for _, x := range l {
		n += len(x)
	}
	return n
}

// decimalLen is len(strconv.Itoa(n)).
func decimalLen(n int) int {
	k := 1
	if n < 0 {
		k++
		if n == -n { // the most negative int
			return len(strconv.Itoa(n))
		}
		n = -n
	}
	for ; n >= 10; n /= 10 {
		k++
	}
	return k
}

// RuleText renders a rule as its configuration line.
func RuleText(ch Chain, r Rule) string {
	for _, s := range DefaultGrammar().Statements() {
		if s.Name == ch.Keyword() {
			return DefaultGrammar().format(s, ruleArgs(r))
		}
	}
	return ""
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func checkRule(ch Chain, r Rule) error {
	kw := ch.Keyword()
	if (len(r.Sport) > 0 || len(r.Dport) > 0) && r.Proto != "tcp" && r.Proto != "udp" {
		return userErr("%% %s %d: sport/dport need protocol tcp or udp", kw, r.Number)
	}
	if r.Direction != "all" && r.Interface == "" && ch != ChainSNAT {
		return userErr("%% %s %d: direction %s needs an interface", kw, r.Number, r.Direction)
	}
	switch {
	case ch == ChainSNAT && r.Action == "translate" && r.Xsrc == "":
		return userErr("%% %s %d: translate needs xsrc ADDRESS", kw, r.Number)
	case ch == ChainSNAT && r.Action != "translate" && r.Xsrc != "":
		return userErr("%% %s %d: xsrc applies only to translate", kw, r.Number)
	case ch == ChainDNAT && r.Action == "translate" && r.Xdst == "":
		return userErr("%% %s %d: translate needs xdst ADDRESS", kw, r.Number)
	case ch == ChainDNAT && r.Action == "exempt" && (r.Xdst != "" || r.Xdport != ""):
		return userErr("%% %s %d: exempt takes no xdst/xdport", kw, r.Number)
	case ch == ChainDNAT && r.Xdport != "" && r.Proto != "tcp" && r.Proto != "udp":
		return userErr("%% %s %d: xdport needs protocol tcp or udp", kw, r.Number)
	}
	return nil
}

// SetRule adds or replaces rule r.Number in a chain, keeping it sorted.
func SetRule(c *Config, ch Chain, r Rule) {
	rules := c.Rules(ch)
	i, found := ruleIndex(*rules, r.Number)
	if found {
		(*rules)[i] = r
		return
	}
	*rules = slices.Insert(*rules, i, r)
}

// DeleteRule removes rule n from a chain; it reports whether it existed.
func DeleteRule(c *Config, ch Chain, n int) bool {
	rules := c.Rules(ch)
	i, found := ruleIndex(*rules, n)
	if found {
		*rules = slices.Delete(*rules, i, i+1)
	}
	return found
}

// ruleIndex finds rule n in a sorted chain, or where it belongs.
func ruleIndex(rules []Rule, n int) (int, bool) {
	if len(rules) == 0 || rules[len(rules)-1].Number < n {
		return len(rules), false // the usual case when reading a file
	}
	i := sort.Search(len(rules), func(k int) bool { return rules[k].Number >= n })
	return i, i < len(rules) && rules[i].Number == n
}

func ipsecStmts() []*Statement {
	policyHelp := func(group string) map[string]string {
		return map[string]string{"policy": "Encryption, hash and Diffie-Hellman group", "group": group}
	}
	encHash := "<enc:AES|AES-192|AES-256|3DES> <hash:MD5|SHA|SHA-256|SHA-512>"
	onePeer := func(f func(p *Peer) (string, string)) func(*Ctx) []grammar.Args {
		return func(c *Ctx) []grammar.Args {
			n, v := f(c.Peer)
			if v == "" {
				return nil
			}
			return []grammar.Args{args(n, v)}
		}
	}
	peerStr := func(name, syntax, help, valName, valHelp string, field func(*Peer) *string) *Statement {
		return &Statement{
			Mode: ModePeer, Name: name, Syntax: syntax, No: name + " [" + syntax[len(name)+1:] + "]",
			Help:  map[string]string{name: help, valName: valHelp},
			Set:   func(c *Ctx, a grammar.Args) error { *field(c.Peer) = a.Str(valName); return nil },
			Unset: func(c *Ctx, a grammar.Args) error { *field(c.Peer) = ""; return nil },
			Get:   onePeer(func(p *Peer) (string, string) { return valName, *field(p) }),
		}
	}
	netStmt := func(name, help string, field func(*Peer) *[]netip.Prefix) *Statement {
		return &Statement{
			Mode: ModePeer, Name: name, Syntax: name + " <net:A.B.C.D/M>", No: name + " [<net:A.B.C.D/M>]",
			Help: map[string]string{name: help, "net": "Network prefix (repeat for more)"},
			Set: func(c *Ctx, a grammar.Args) error {
				p := netip.MustParsePrefix(a.Str("net"))
				if p != p.Masked() {
					return userErr("%% %s is not a network prefix (did you mean %s?)", p, p.Masked())
				}
				if !slices.Contains(*field(c.Peer), p) {
					*field(c.Peer) = append(*field(c.Peer), p)
				}
				return nil
			},
			Unset: func(c *Ctx, a grammar.Args) error {
				if !a.Has("net") {
					*field(c.Peer) = nil
					return nil
				}
				p := netip.MustParsePrefix(a.Str("net"))
				*field(c.Peer) = slices.DeleteFunc(*field(c.Peer), func(x netip.Prefix) bool { return x == p })
				return nil
			},
			Get: func(c *Ctx) []grammar.Args {
				var out []grammar.Args
				for _, p := range *field(c.Peer) {
					out = append(out, args("net", p.String()))
				}
				return out
			},
		}
	}
	return []*Statement{
		numberedBlock("ike-policy", "IKE (phase 1) policy", ModeIKEPolicy,
			func(c *Config) *[]*IKEPolicy { return &c.IKEPolicies },
			func(p *IKEPolicy) *int { return &p.Number },
			func(c *Ctx, p *IKEPolicy) { c.IKE = p }),
		{
			Mode: ModeIKEPolicy, Name: "authentication",
			Syntax: "authentication <auth:psk>", No: "authentication [<auth:psk>]",
			Help: map[string]string{"authentication": "Peer authentication method", "auth": "Authentication method", "auth.psk": "Pre-shared key"},
			Set:  func(c *Ctx, a grammar.Args) error { c.IKE.Authentication = a.Str("auth"); return nil },
			Unset: func(c *Ctx, a grammar.Args) error {
				c.IKE.Authentication = ""
				return nil
			},
			Get: func(c *Ctx) []grammar.Args {
				if c.IKE.Authentication == "" {
					return nil
				}
				return []grammar.Args{args("auth", c.IKE.Authentication)}
			},
		},
		{
			Mode: ModeIKEPolicy, Name: "policy",
			Syntax: "policy " + encHash + " <group:1-32>", No: "policy [" + encHash + " <group:1-32>]",
			Help: policyHelp("Diffie-Hellman group (2, 5, 14-21)"),
			Set: func(c *Ctx, a grammar.Args) error {
				c.IKE.Encryption, c.IKE.Hash, c.IKE.DHGroup = a.Str("enc"), a.Str("hash"), a.Int("group")
				return nil
			},
			Unset: func(c *Ctx, a grammar.Args) error {
				c.IKE.Encryption, c.IKE.Hash, c.IKE.DHGroup = "", "", 0
				return nil
			},
			Get: func(c *Ctx) []grammar.Args {
				if c.IKE.Encryption == "" {
					return nil
				}
				return []grammar.Args{args("enc", c.IKE.Encryption, "hash", c.IKE.Hash, "group", itoa(c.IKE.DHGroup))}
			},
		},
		{
			Mode: ModeIKEPolicy, Name: "keylife",
			Syntax: "keylife <secs:60-2592000>", No: "keylife [<secs:60-2592000>]",
			Set:   func(c *Ctx, a grammar.Args) error { c.IKE.Keylife = a.Int("secs"); return nil },
			Unset: func(c *Ctx, a grammar.Args) error { c.IKE.Keylife = 0; return nil },
			Get: func(c *Ctx) []grammar.Args {
				if c.IKE.Keylife == 0 {
					return nil
				}
				return []grammar.Args{args("secs", itoa(c.IKE.Keylife))}
			},
		},
		{
			Mode: ModeIKEPolicy, Name: "version",
			Syntax: "version <ver:1-2>", No: "version [<ver:1-2>]",
			Help:  map[string]string{"version": "IKE version (default 2)", "ver": "1 = IKEv1, 2 = IKEv2"},
			Set:   func(c *Ctx, a grammar.Args) error { c.IKE.Version = a.Int("ver"); return nil },
			Unset: func(c *Ctx, a grammar.Args) error { c.IKE.Version = 0; return nil },
			Get: func(c *Ctx) []grammar.Args {
				if c.IKE.Version == 0 {
					return nil
				}
				return []grammar.Args{args("ver", itoa(c.IKE.Version))}
			},
		},
		numberedBlock("esp-policy", "ESP (phase 2) policy", ModeESPPolicy,
			func(c *Config) *[]*ESPPolicy { return &c.ESPPolicies },
			func(p *ESPPolicy) *int { return &p.Number },
			func(c *Ctx, p *ESPPolicy) { c.ESP = p }),
		{
			Mode: ModeESPPolicy, Name: "policy",
			Syntax: "policy " + encHash + " <group:0-32>", No: "policy [" + encHash + " <group:0-32>]",
			Help: policyHelp("PFS Diffie-Hellman group (0 = no PFS)"),
			Set: func(c *Ctx, a grammar.Args) error {
				c.ESP.Encryption, c.ESP.Hash, c.ESP.PFSGroup = a.Str("enc"), a.Str("hash"), a.Int("group")
				return nil
			},
			Unset: func(c *Ctx, a grammar.Args) error {
				c.ESP.Encryption, c.ESP.Hash, c.ESP.PFSGroup = "", "", 0
				return nil
			},
			Get: func(c *Ctx) []grammar.Args {
				if c.ESP.Encryption == "" {
					return nil
				}
				return []grammar.Args{args("enc", c.ESP.Encryption, "hash", c.ESP.Hash, "group", itoa(c.ESP.PFSGroup))}
			},
		},
		{
			Mode: ModeESPPolicy, Name: "keylife",
			Syntax: "keylife <secs:60-2592000>", No: "keylife [<secs:60-2592000>]",
			Set:   func(c *Ctx, a grammar.Args) error { c.ESP.Keylife = a.Int("secs"); return nil },
			Unset: func(c *Ctx, a grammar.Args) error { c.ESP.Keylife = 0; return nil },
			Get: func(c *Ctx) []grammar.Args {
				if c.ESP.Keylife == 0 {
					return nil
				}
				return []grammar.Args{args("secs", itoa(c.ESP.Keylife))}
			},
		},
		{
			Mode: ModeConfig, Name: "ipsec peer", Enter: ModePeer,
			Syntax: "ipsec peer <pname:WORD>", No: "ipsec peer <pname:WORD>",
			Help: map[string]string{"peer": "IPsec peer", "pname": "Peer address, or a name"},
			Set: func(c *Ctx, a grammar.Args) error {
				name := a.Str("pname")
				if !validPeerName(name) {
					return userErr("%% Invalid peer name %q: use an address or letters, digits, '-', '_', '.'", name)
				}
				p := c.Cfg.Peer(name)
				if p == nil {
					p = &Peer{Name: name}
					c.Cfg.Peers = append(c.Cfg.Peers, p)
				}
				c.Peer = p
				return nil
			},
			Unset: func(c *Ctx, a grammar.Args) error {
				n := len(c.Cfg.Peers)
				c.Cfg.Peers = slices.DeleteFunc(c.Cfg.Peers, func(p *Peer) bool { return p.Name == a.Str("pname") })
				if len(c.Cfg.Peers) == n {
					return userErr("%% ipsec peer %s is not configured", a.Str("pname"))
				}
				return nil
			},
			Get: func(c *Ctx) []grammar.Args {
				var out []grammar.Args
				for _, p := range c.Cfg.Peers {
					out = append(out, args("pname", p.Name))
				}
				return out
			},
		},
		{
			Mode: ModePeer, Name: "local",
			Syntax: "local <laddr:A.B.C.D>", No: "local [<laddr:A.B.C.D>]",
			Help: map[string]string{"local": "Local address the IKE and ESP traffic uses", "laddr": "Local public address"},
			Set:  func(c *Ctx, a grammar.Args) error { c.Peer.Local = mustAddr(a.Str("laddr")); return nil },
			Unset: func(c *Ctx, a grammar.Args) error {
				c.Peer.Local = netip.Addr{}
				return nil
			},
			Get: func(c *Ctx) []grammar.Args {
				if !c.Peer.Local.IsValid() {
					return nil
				}
				return []grammar.Args{args("laddr", c.Peer.Local.String())}
			},
		},
		peerStr("local-id", "local-id <lid:WORD>", "Identity this side presents", "lid", "Identity (address, FQDN or name)",
			func(p *Peer) *string { return &p.LocalID }),
		netStmt("local-net", "Local network protected by this peering", func(p *Peer) *[]netip.Prefix { return &p.LocalNet }),
		peerStr("remote-id", "remote-id <rid:WORD>", "Identity the peer must present", "rid", "Identity (address, FQDN or name)",
			func(p *Peer) *string { return &p.RemoteID }),
		peerStr("remote-ip", "remote-ip <raddr:A.B.C.D|any>", "Address of the peer", "raddr", "Peer address, or any (accept the peer from anywhere; respond only)",
			func(p *Peer) *string { return &p.RemoteIP }),
		netStmt("remote-net", "Remote network reached through this peering", func(p *Peer) *[]netip.Prefix { return &p.RemoteNet }),
		{
			Mode: ModePeer, Name: "policy",
			Syntax: "policy ike <ikenum:1-65535> esp <espnum:1-65535>", No: "policy [ike <ikenum:1-65535> esp <espnum:1-65535>]",
			Help: map[string]string{"policy": "IKE and ESP policies of this peer", "ike": "IKE policy", "esp": "ESP policy",
				"ikenum": "IKE policy number (ipsec ike-policy N)", "espnum": "ESP policy number (ipsec esp-policy N)"},
			Set: func(c *Ctx, a grammar.Args) error {
				c.Peer.IKEPolicy, c.Peer.ESPPolicy = a.Int("ikenum"), a.Int("espnum")
				return nil
			},
			Unset: func(c *Ctx, a grammar.Args) error {
				c.Peer.IKEPolicy, c.Peer.ESPPolicy = 0, 0
				return nil
			},
			Get: func(c *Ctx) []grammar.Args {
				if c.Peer.IKEPolicy == 0 {
					return nil
				}
				return []grammar.Args{args("ikenum", itoa(c.Peer.IKEPolicy), "espnum", itoa(c.Peer.ESPPolicy))}
			},
		},
		{
			Mode: ModePeer, Name: "psk",
			Syntax: "psk <secret:TEXT>", No: "psk [<secret:TEXT>]",
			Help: map[string]string{"psk": "Pre-shared key", "secret": "The shared secret (quote it if it has blanks)"},
			Set: func(c *Ctx, a grammar.Args) error {
				s := a.Str("secret")
				if s == "" || len(s) > 255 || strings.ContainsAny(s, "\r\n\x00") {
					return userErr("%% psk: 1 to 255 characters on one line")
				}
				c.Peer.PSK = s
				return nil
			},
			Unset: func(c *Ctx, a grammar.Args) error { c.Peer.PSK = ""; return nil },
			Get:   onePeer(func(p *Peer) (string, string) { return "secret", p.PSK }),
		},
		{
			Mode: ModeConfig, Name: "ipsec start", Group: "ipsec-service",
			Syntax: "ipsec <svc:start|stop>", No: "ipsec <svc:start|stop>",
			Help: map[string]string{"svc": "IPsec service state", "svc.start": "Start the IPsec service (and at boot)", "svc.stop": "Stop the IPsec service"},
			Set: func(c *Ctx, a grammar.Args) error {
				if a.Str("svc") == "start" {
					c.Cfg.IPsec = IPsecStarted
				} else {
					c.Cfg.IPsec = IPsecStopped
				}
				return nil
			},
			Unset: func(c *Ctx, a grammar.Args) error { c.Cfg.IPsec = IPsecUnset; return nil },
			Get: func(c *Ctx) []grammar.Args {
				switch c.Cfg.IPsec {
				case IPsecStarted:
					return []grammar.Args{args("svc", "start")}
				case IPsecStopped:
					return []grammar.Args{args("svc", "stop")}
				}
				return nil
			},
		},
	}
}

func validPeerName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// numberedBlock declares an `ipsec KIND N` block header: a list of policies
// kept sorted by number, where entering N finds or creates policy N.
func numberedBlock[P any](kind, help string, mode Mode, list func(*Config) *[]*P, num func(*P) *int, enter func(*Ctx, *P)) *Statement {
	cmp := func(x *P, n int) int { return *num(x) - n }
	return &Statement{
		Mode: ModeConfig, Name: "ipsec " + kind, Enter: mode,
		Syntax: "ipsec " + kind + " <num:1-65535>", No: "ipsec " + kind + " <num:1-65535>",
		Help: map[string]string{kind: help, "num": "Policy number"},
		Set: func(c *Ctx, a grammar.Args) error {
			n, ps := a.Int("num"), list(c.Cfg)
			i, found := slices.BinarySearchFunc(*ps, n, cmp)
			if !found {
				p := new(P)
				*num(p) = n
				*ps = slices.Insert(*ps, i, p)
			}
			enter(c, (*ps)[i])
			return nil
		},
		Unset: func(c *Ctx, a grammar.Args) error {
			ps := list(c.Cfg)
			i, found := slices.BinarySearchFunc(*ps, a.Int("num"), cmp)
			if !found {
				return userErr("%% ipsec %s %d is not configured", kind, a.Int("num"))
			}
			*ps = slices.Delete(*ps, i, i+1)
			return nil
		},
		Get: func(c *Ctx) []grammar.Args {
			var out []grammar.Args
			for _, p := range *list(c.Cfg) {
				out = append(out, args("num", itoa(*num(p))))
			}
			return out
		},
	}
}
