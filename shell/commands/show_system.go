package commands

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"mboxsh/config/grammar"
	"mboxsh/runtime"
	"mboxsh/runtime/ipsec"
	"mboxsh/runtime/netlink"
	"mboxsh/runtime/system"
	"mboxsh/shell"
)

// Show returns the commands that read the live system. With a nil system
// (offline mode) they exist, so the grammar is the same, but say that
// there is no kernel to read.
func Show(sys *system.System) []*shell.Command {
	need := func(f func(ctx context.Context, s *shell.Session, a grammar.Args, out *shell.Output) error) func(*shell.Session, grammar.Args, *shell.Output) error {
		return func(s *shell.Session, a grammar.Args, out *shell.Output) error {
			if sys == nil {
				return shell.ErrOffline
			}
			return f(s.Context(), s, a, out)
		}
	}
	h := func(kv ...string) map[string]string {
		m := map[string]string{"show": "Show running system information", "ip": "IP information"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	return []*shell.Command{
		{
			Syntax: "show interface [<ifname:IFNAME>]", Levels: user,
			Help: h("interface", "Interface status and counters", "ifname", "Interface name"),
			Run: need(func(ctx context.Context, s *shell.Session, a grammar.Args, out *shell.Output) error {
				st, err := interfaceStatus(ctx, sys, s)
				if err != nil {
					return err
				}
				if name := a.Str("ifname"); name != "" {
					st = slices.DeleteFunc(st, func(i netlink.InterfaceStatus) bool { return i.Name != name })
					if len(st) == 0 {
						return fmt.Errorf("%% Interface %s does not exist", name)
					}
				}
				for _, i := range st {
					writeInterface(out, i)
				}
				out.Data = st
				return nil
			}),
		},
		{
			Syntax: "show ip interface brief", Levels: user,
			Help: h("interface", "Interface status and counters", "brief", "One line per interface"),
			Run: need(func(ctx context.Context, s *shell.Session, a grammar.Args, out *shell.Output) error {
				st, err := interfaceStatus(ctx, sys, s)
				if err != nil {
					return err
				}
				t := table{header: []string{"Interface", "IP-Address", "OK?", "Method", "Status", "Protocol"}}
				for _, i := range st {
					if fallbackDevices[i.Name] && !i.Configured {
						continue
					}
					addr := "unassigned"
					for _, a := range i.Addresses {
						if a.Addr().Is4() {
							addr = a.Addr().String()
							break
						}
					}
					status := "administratively down"
					switch {
					case !i.Present:
						status = "absent"
					case i.AdminUp:
						status = "up"
					}
					proto := "down"
					if i.Present && i.AdminUp && (i.LinkUp || i.OperState == "up" || i.OperState == "unknown") {
						proto = "up"
					}
					method := "unset"
					if i.Configured {
						method = "manual"
					}
					t.add(i.Name, addr, yes(i.Present), method, status, proto)
				}
				t.write(out)
				out.Data = st
				return nil
			}),
		},
		{
			Syntax: "show ip route", Levels: user,
			Help: h("route", "IP routing table"),
			Run: need(func(ctx context.Context, s *shell.Session, a grammar.Args, out *shell.Output) error {
				nl, err := sys.Netlink()
				if err != nil {
					return err
				}
				routes, err := nl.Routes(ctx)
				if err != nil {
					return err
				}
				out.WriteString("Codes: K - kernel route, C - connected, S - static, O - OSPF\n\n")
				for _, r := range routes {
					if r.Family != "ipv4" {
						continue
					}
					for k, nh := range r.NextHops {
						lead := fmt.Sprintf("%-2s %s", r.Code, r.Prefix)
						if k > 0 {
							lead = strings.Repeat(" ", len(lead))
						}
						switch {
						case nh.Via != "":
							fmt.Fprintf(out, "%s [%d/%d] via %s, %s\n", lead, r.Distance, r.Metric, nh.Via, nh.Dev)
						default:
							fmt.Fprintf(out, "%s is directly connected, %s\n", lead, nh.Dev)
						}
					}
				}
				out.Data = routes
				return nil
			}),
		},
		{
			Syntax: "show configuration drift", Levels: priv,
			Help: h("configuration", "The candidate configuration (uncommitted changes included)",
				"drift", "Where the system differs from the running configuration"),
			Run: need(func(ctx context.Context, s *shell.Session, a grammar.Args, out *shell.Output) error {
				drivers, err := sys.Drivers(ctx)
				if err != nil {
					return err
				}
				lines, err := runtime.Drift(ctx, drivers, s.Running)
				if err != nil {
					return err
				}
				if len(lines) == 0 {
					out.WriteString("No drift: the system matches the running configuration.\n")
				}
				for _, l := range lines {
					fmt.Fprintln(out, l)
				}
				out.Data = lines
				return nil
			}),
		},
		{
			Syntax: "show firewall", Levels: user,
			Help: h("firewall", "Firewall and NAT rules with packet and byte counters"),
			Run: need(func(ctx context.Context, s *shell.Session, a grammar.Args, out *shell.Output) error {
				fw, err := sys.Firewall()
				if err != nil {
					return err
				}
				rules, err := fw.Counters(ctx)
				if err != nil {
					return err
				}
				t := table{header: []string{"Chain", "Rule", "Packets", "Bytes", "Match"}}
				for _, r := range rules {
					num := "default"
					if r.Number > 0 {
						num = fmt.Sprint(r.Number)
					}
					t.add(r.Chain, num, fmt.Sprint(r.Packets), fmt.Sprint(r.Bytes), r.Rule)
				}
				t.write(out)
				out.Data = rules
				return nil
			}),
		},
		{
			Syntax: "show ipsec sa [peer <pname:WORD>]", Levels: user,
			Help: h("ipsec", "IPsec information", "sa", "IKE and CHILD security associations", "peer", "Only this peer", "pname", "Peer name"),
			Run: need(func(ctx context.Context, s *shell.Session, a grammar.Args, out *shell.Output) error {
				st, err := ipsecStatus(ctx, sys, a.Str("pname"))
				if err != nil {
					return err
				}
				if err := ipsec.RenderSA(out, st); err != nil {
					return err
				}
				out.Data = st
				return nil
			}),
		},
		{
			Syntax: "show ipsec status", Levels: user,
			Help: h("ipsec", "IPsec information", "status", "IPsec peers in the vendor's table form"),
			Run: need(func(ctx context.Context, s *shell.Session, a grammar.Args, out *shell.Output) error {
				st, err := ipsecStatus(ctx, sys, "")
				if err != nil {
					return err
				}
				if gw := s.Running.DefaultGateway; gw.IsValid() {
					st.Gateway = gw.String()
				}
				if err := ipsec.RenderStatus(out, st); err != nil {
					return err
				}
				out.Data = st
				return nil
			}),
		},
		{
			Syntax: "clear ipsec sa [peer <pname:WORD>]", Levels: priv,
			Help: map[string]string{"clear": "Reset functions", "ipsec": "IPsec information", "sa": "Tear down and re-initiate security associations",
				"peer": "Only this peer", "pname": "Peer name"},
			Run: need(func(ctx context.Context, s *shell.Session, a grammar.Args, out *shell.Output) error {
				d, err := sys.IPsec()
				if err != nil {
					return err
				}
				return d.Clear(ctx, a.Str("pname"))
			}),
		},
		{
			Syntax: "show ip ospf neighbor", Levels: user,
			Help: h("ospf", "OSPF information", "neighbor", "OSPF neighbors"),
			Run: need(func(ctx context.Context, s *shell.Session, a grammar.Args, out *shell.Output) error {
				d, err := sys.FRR()
				if err != nil {
					return err
				}
				ns, err := d.Neighbors(ctx)
				if err != nil {
					return err
				}
				t := table{header: []string{"Neighbor ID", "Pri", "State", "Dead Time", "Address", "Interface"}}
				for _, n := range ns {
					state := n.State
					if n.Role != "" {
						state += "/" + n.Role
					}
					t.add(n.RouterID.String(), fmt.Sprint(n.Priority), state, fmt.Sprintf("%.3fs", float64(n.DeadMsec)/1000), n.Address.String(), n.Interface+addrSuffix(n.LocalAddress))
				}
				t.write(out)
				out.Data = ns
				return nil
			}),
		},
		{
			Syntax: "show ip ospf interface [<ifname:IFNAME>]", Levels: user,
			Help: h("ospf", "OSPF information", "interface", "OSPF interfaces", "ifname", "Interface name"),
			Run: need(func(ctx context.Context, s *shell.Session, a grammar.Args, out *shell.Output) error {
				d, err := sys.FRR()
				if err != nil {
					return err
				}
				ifs, err := d.Interfaces(ctx, a.Str("ifname"))
				if err != nil {
					return err
				}
				for _, i := range ifs {
					fmt.Fprintf(out, "%s is %s\n", i.Name, upDown(i.Up))
					fmt.Fprintf(out, "  Internet Address %s, Area %s\n", i.Address, i.Area)
					fmt.Fprintf(out, "  Router ID %s, Network Type %s, Cost: %d\n", i.RouterID, i.NetworkType, i.Cost)
					fmt.Fprintf(out, "  State %s, Priority %d, MTU %d\n", i.State, i.Priority, i.MTU)
					fmt.Fprintf(out, "  Timer intervals configured, Hello %gs, Dead %ds, Wait %ds\n", float64(i.HelloMsec)/1000, i.DeadSec, i.WaitSec)
					fmt.Fprintf(out, "  Neighbor Count is %d, Adjacent neighbor count is %d\n", i.Neighbors, i.Adjacent)
					if i.Passive {
						out.WriteString("  No Hellos (Passive interface)\n")
					}
				}
				out.Data = ifs
				return nil
			}),
		},
	}
}

func interfaceStatus(ctx context.Context, sys *system.System, s *shell.Session) ([]netlink.InterfaceStatus, error) {
	nl, err := sys.Netlink()
	if err != nil {
		return nil, err
	}
	return nl.Interfaces(ctx, s.Running)
}

func ipsecStatus(ctx context.Context, sys *system.System, peer string) (*ipsec.Status, error) {
	d, err := sys.IPsec()
	if err != nil {
		return nil, err
	}
	st, err := d.Status(ctx)
	if err != nil {
		return nil, err
	}
	if peer != "" {
		st.Peers = slices.DeleteFunc(st.Peers, func(p ipsec.PeerStatus) bool { return p.Peer != peer })
		if len(st.Peers) == 0 {
			return nil, fmt.Errorf("%% No such peer: %s", peer)
		}
	}
	return st, nil
}

// fallbackDevices are the tunnel devices the kernel creates by itself when
// a tunnel module loads; they carry nothing and only clutter listings.
var fallbackDevices = map[string]bool{
	"gre0": true, "gretap0": true, "erspan0": true, "tunl0": true, "sit0": true,
	"ip6tnl0": true, "ip6gre0": true, "ip6_vti0": true, "ip_vti0": true,
}

func yes(b bool) string {
	if b {
		return "YES"
	}
	return "NO"
}

func upDown(b bool) string {
	if b {
		return "up"
	}
	return "down"
}

func addrSuffix(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return ":" + a.String()
}

// writeInterface prints `show interface` for one interface.
func writeInterface(out *shell.Output, i netlink.InterfaceStatus) {
	state := "administratively down"
	switch {
	case !i.Present:
		state = "absent (configured, but the kernel has no such interface)"
	case i.AdminUp && (i.LinkUp || i.OperState == "up" || i.OperState == "unknown"):
		state = "up, line protocol is up"
	case i.AdminUp:
		state = "up, line protocol is down"
	}
	fmt.Fprintf(out, "%s is %s\n", i.Name, state)
	if i.Description != "" {
		fmt.Fprintf(out, "  Description: %s\n", i.Description)
	}
	if !i.Present {
		return
	}
	fmt.Fprintf(out, "  Hardware is %s", i.Kind)
	if i.MAC != "" {
		fmt.Fprintf(out, ", address is %s", i.MAC)
	}
	out.WriteString("\n")
	for _, a := range i.Addresses {
		fmt.Fprintf(out, "  Internet address is %s\n", a)
	}
	fmt.Fprintf(out, "  MTU %d bytes\n", i.MTU)
	if g := i.GRE; g != nil {
		fmt.Fprintf(out, "  Tunnel source %s, destination %s, ttl %d, path MTU discovery %s\n", g.Local, g.Remote, g.TTL, map[bool]string{true: "on", false: "off"}[g.PMTUDisc])
		if g.TransportDev != "" {
			fmt.Fprintf(out, "  Tunnel transport via %s, transport MTU %d bytes\n", g.TransportDev, g.TransportMTU)
		}
		out.WriteString("  Tunnel protocol/transport GRE/IP\n")
	}
	if v := i.VLAN; v != nil {
		fmt.Fprintf(out, "  Encapsulation 802.1Q Virtual LAN, Vlan ID %d, parent %s\n", v.ID, v.Parent)
	}
	if i.Bridge != "" {
		fmt.Fprintf(out, "  Member of bridge %s\n", i.Bridge)
	}
	if c := i.Counters; c != nil {
		fmt.Fprintf(out, "  %d packets input, %d bytes, %d errors, %d dropped\n", c.RxPackets, c.RxBytes, c.RxErrors, c.RxDropped)
		fmt.Fprintf(out, "  %d packets output, %d bytes, %d errors, %d dropped\n", c.TxPackets, c.TxBytes, c.TxErrors, c.TxDropped)
	}
}
