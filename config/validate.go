package config

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// Severity of a validation finding.
type Severity int

const (
	SevError   Severity = iota // commit refuses the configuration
	SevWarning                 // commit proceeds, the user is told
)

// Diagnostic is one finding of Validate. Path names the statement
// ("interface tun0|tunnel", "ipsec peer 203.0.113.2|policy"); Pos is its
// place in the source when known.
type Diagnostic struct {
	Severity Severity
	Path     string
	Msg      string
	Pos      Pos
	HasPos   bool
}

func (d Diagnostic) String() string {
	sev := "error"
	if d.Severity == SevWarning {
		sev = "warning"
	}
	where := strings.ReplaceAll(d.Path, "|", ": ")
	if d.HasPos {
		return fmt.Sprintf("%s: %s: %s: %s", d.Pos, sev, where, d.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", sev, where, d.Msg)
}

// SupportedDHGroups are the Diffie-Hellman groups the IKE daemon offers.
var SupportedDHGroups = []int{1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21}

// HasErrors reports whether any diagnostic is an error.
func HasErrors(ds []Diagnostic) bool {
	return slices.ContainsFunc(ds, func(d Diagnostic) bool { return d.Severity == SevError })
}

// Validate checks a configuration for semantic mistakes: what parses but
// cannot work. src (may be nil) supplies source positions.
func Validate(cfg *Config, src *Source) []Diagnostic {
	v := &validator{cfg: cfg}
	v.interfaces()
	v.routes()
	v.firewall()
	v.ipsec()
	v.ospf()
	for i := range v.out {
		if p, ok := src.Lookup(v.out[i].Path); ok {
			v.out[i].Pos, v.out[i].HasPos = p, true
		}
	}
	sort.SliceStable(v.out, func(a, b int) bool {
		x, y := v.out[a], v.out[b]
		if x.HasPos != y.HasPos {
			return x.HasPos
		}
		return x.Pos.Line < y.Pos.Line
	})
	return v.out
}

type validator struct {
	cfg *Config
	out []Diagnostic
}

func (v *validator) errf(path, format string, a ...any) {
	v.out = append(v.out, Diagnostic{Severity: SevError, Path: path, Msg: fmt.Sprintf(format, a...)})
}

func (v *validator) warnf(path, format string, a ...any) {
	v.out = append(v.out, Diagnostic{Severity: SevWarning, Path: path, Msg: fmt.Sprintf(format, a...)})
}

func ifPath(i *Interface) string { return "interface " + i.HeaderArgs() }

// connected reports whether addr lies in a subnet of a configured
// interface address.
func (v *validator) connected(addr netip.Addr) bool {
	for _, i := range v.cfg.Interfaces {
		for _, p := range i.Addresses {
			if p.Masked().Contains(addr) {
				return true
			}
		}
	}
	return false
}

func (v *validator) localAddress(addr netip.Addr) bool {
	for _, i := range v.cfg.Interfaces {
		for _, p := range i.Addresses {
			if p.Addr() == addr {
				return true
			}
		}
	}
	return false
}

func (v *validator) interfaces() {
	owner := map[netip.Addr]string{}
	for _, i := range v.cfg.Interfaces {
		path := ifPath(i)
		if i.Kind == KindGRE {
			if !i.TunnelLocal.IsValid() {
				v.errf(path, "GRE tunnel without `tunnel local ADDRESS`")
			} else if !v.localAddress(i.TunnelLocal) {
				v.warnf(path+"|tunnel", "tunnel local %s is not an address of any interface", i.TunnelLocal)
			}
			if i.TunnelRemote.IsValid() && i.TunnelRemote == i.TunnelLocal {
				v.errf(path+"|tunnel", "tunnel local and remote are the same address %s", i.TunnelLocal)
			}
			if i.MTU > 1476 {
				v.warnf(path+"|mtu", "mtu %d leaves no room for GRE and ESP headers on a 1500-byte path (1400 is recommended)", i.MTU)
			}
		}
		if i.Kind == KindVLAN && v.cfg.Interface(i.VLANParent) == nil {
			v.warnf(path, "VLAN parent %s is not configured (it must exist and be enabled for the VLAN to pass traffic)", i.VLANParent)
		}
		if i.BridgeGroup >= 0 && v.cfg.Interface(fmt.Sprintf("br%d", i.BridgeGroup)) == nil {
			v.errf(path+"|bridge-group", "bridge-group %d but `interface bridge br%d` is not configured", i.BridgeGroup, i.BridgeGroup)
		}
		if i.Kind == KindLoopback {
			for _, p := range i.Addresses {
				if p.Addr().IsLoopback() {
					v.warnf(path+"|ip address", "%s is already on lo by default", p)
				}
			}
		}
		for _, p := range i.Addresses {
			if other, dup := owner[p.Addr()]; dup {
				v.errf(path+"|ip address", "address %s is also configured on %s", p.Addr(), other)
			}
			owner[p.Addr()] = i.Name
		}
	}
	// The two ends of a GRE tunnel: when a route points across the
	// tunnel, its next hop must be in the tunnel's subnet.
}

func (v *validator) routes() {
	if gw := v.cfg.DefaultGateway; gw.IsValid() && !v.connected(gw) {
		v.warnf("ip default-gateway", "gateway %s is not in the subnet of any interface address", gw)
	}
	seen := map[string]bool{}
	for _, r := range v.cfg.Routes {
		path := "ip route"
		if seen[r.Key()] {
			v.errf(path, "route %s is configured twice", r.Key())
		}
		seen[r.Key()] = true
		if r.Via.IsValid() && !v.connected(r.Via) {
			v.errf(path, "next hop %s of %s is not in the subnet of any interface address", r.Via, r.Prefix)
		}
		if r.Dev != "" && v.cfg.Interface(r.Dev) == nil {
			v.warnf(path, "route %s leaves through %s, which is not configured", r.Prefix, r.Dev)
		}
	}
}

func (v *validator) firewall() {
	for _, ch := range []Chain{ChainInput, ChainAccess, ChainSNAT, ChainDNAT} {
		for _, r := range *v.cfg.Rules(ch) {
			path := fmt.Sprintf("%s %d", ch.Keyword(), r.Number)
			if r.Interface != "" && !strings.HasSuffix(r.Interface, "+") && v.cfg.Interface(r.Interface) == nil {
				v.warnf(path, "interface %s is not configured", r.Interface)
			}
			if err := checkRule(ch, r); err != nil {
				v.errf(path, "%s", strings.TrimPrefix(err.Error(), "% "))
			}
		}
	}
}

func (v *validator) ipsec() {
	for _, p := range v.cfg.IKEPolicies {
		path := fmt.Sprintf("ipsec ike-policy %d", p.Number)
		if p.Encryption == "" {
			v.errf(path, "no `policy ENCRYPTION HASH GROUP`: the IKE proposal is empty")
		} else if !slices.Contains(SupportedDHGroups, p.DHGroup) {
			v.errf(path+"|policy", "Diffie-Hellman group %d is not supported (use one of 2, 5, 14-21)", p.DHGroup)
		}
		if p.Authentication == "" {
			v.warnf(path, "no `authentication`: psk is assumed")
		}
		if p.Version == 1 {
			v.warnf(path+"|version", "IKEv1 is obsolete; use version 2 unless the peer cannot")
		}
	}
	for _, p := range v.cfg.ESPPolicies {
		path := fmt.Sprintf("ipsec esp-policy %d", p.Number)
		if p.Encryption == "" {
			v.errf(path, "no `policy ENCRYPTION HASH GROUP`: the ESP proposal is empty")
		} else if p.PFSGroup != 0 && !slices.Contains(SupportedDHGroups, p.PFSGroup) {
			v.errf(path+"|policy", "PFS group %d is not supported (use 0 for none, or 2, 5, 14-21)", p.PFSGroup)
		}
	}
	for _, p := range v.cfg.Peers {
		path := "ipsec peer " + p.Name
		switch {
		case p.IKEPolicy == 0:
			v.errf(path, "no `policy ike N esp M`")
		default:
			if v.cfg.IKEPolicy(p.IKEPolicy) == nil {
				v.errf(path+"|policy", "ike-policy %d does not exist", p.IKEPolicy)
			}
			if v.cfg.ESPPolicy(p.ESPPolicy) == nil {
				v.errf(path+"|policy", "esp-policy %d does not exist", p.ESPPolicy)
			}
		}
		if p.PSK == "" {
			v.errf(path, "no `psk`: the peer cannot authenticate")
		} else if len(p.PSK) < 8 {
			v.warnf(path+"|psk", "the pre-shared key is shorter than 8 characters")
		}
		if len(p.LocalNet) == 0 || len(p.RemoteNet) == 0 {
			v.errf(path, "needs `local-net` and `remote-net` (the traffic to protect)")
		}
		if _, ok := p.RemoteAddress(); !ok && p.RemoteIP != "any" {
			v.errf(path, "peer %q is not an address: give `remote-ip ADDRESS` or `remote-ip any`", p.Name)
		}
		if p.Local.IsValid() && !v.localAddress(p.Local) {
			v.errf(path+"|local", "local address %s is not on any interface", p.Local)
		}
	}
	if len(v.cfg.Peers) > 0 && v.cfg.IPsec == IPsecUnset {
		v.warnf("ipsec peer "+v.cfg.Peers[0].Name, "IPsec peers are configured but `ipsec start` is not: no tunnel will come up")
	}
}

func (v *validator) ospf() {
	o := v.cfg.OSPF
	if o == nil {
		for _, i := range v.cfg.Interfaces {
			if i.OSPF != (InterfaceOSPF{}) {
				v.warnf(ifPath(i), "ip ospf settings without `router ospf` have no effect")
			}
		}
		return
	}
	if len(o.Networks) == 0 && !o.RedistributeConnected {
		v.warnf("router ospf", "no `network P area N`: OSPF runs on no interface")
	}
	for _, p := range o.PassiveInterfaces {
		if v.cfg.Interface(p) == nil {
			v.warnf("router ospf|passive-interface", "passive-interface %s is not configured", p)
		}
	}
	for _, i := range v.cfg.Interfaces {
		if i.OSPF.HelloInterval != 0 && i.OSPF.DeadInterval != 0 && i.OSPF.DeadInterval <= i.OSPF.HelloInterval {
			v.errf(ifPath(i)+"|ip ospf dead-interval", "dead-interval %d must be longer than hello-interval %d", i.OSPF.DeadInterval, i.OSPF.HelloInterval)
		}
	}
}

// ValidatePair checks two sites that face each other across GRE tunnels:
// each tunnel's endpoints mirror a tunnel on the other side, and the two
// ends' tunnel addresses share one subnet.
func ValidatePair(a, b *Config) []Diagnostic {
	var out []Diagnostic
	for _, ta := range a.Interfaces {
		if ta.Kind != KindGRE || !ta.TunnelRemote.IsValid() {
			continue
		}
		for _, tb := range b.Interfaces {
			if tb.Kind != KindGRE || tb.TunnelLocal != ta.TunnelRemote {
				continue
			}
			path := ifPath(ta)
			if tb.TunnelRemote != ta.TunnelLocal {
				out = append(out, Diagnostic{Path: path + "|tunnel", Msg: fmt.Sprintf("the far end %s (%s) points to %s, not to %s", tb.Name, b.Hostname, tb.TunnelRemote, ta.TunnelLocal)})
			}
			if !shareSubnet(ta.Addresses, tb.Addresses) {
				out = append(out, Diagnostic{Path: path + "|ip address", Msg: fmt.Sprintf("tunnel addresses %v and %v (%s %s) are not in one subnet", ta.Addresses, tb.Addresses, b.Hostname, tb.Name)})
			}
		}
	}
	return out
}

func shareSubnet(a, b []netip.Prefix) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Bits() == y.Bits() && x.Masked() == y.Masked() {
				return true
			}
		}
	}
	return false
}
