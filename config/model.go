// Package config holds mboxsh's typed configuration model, the grammar that
// reads and writes it as `!`-separated running-config text, its validation
// and the diff between two models. It knows no terminal and no kernel.
package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Config is one complete appliance configuration: the candidate or the
// running config. The zero value is the empty configuration.
type Config struct {
	Hostname string `json:"hostname,omitempty"`

	// Interfaces in the order they were first configured; Render sorts them.
	Interfaces []*Interface `json:"interfaces,omitempty"`

	NameServers    []netip.Addr `json:"name_servers,omitempty"`
	DefaultGateway netip.Addr   `json:"default_gateway,omitzero"` // invalid = not set
	Routes         []Route      `json:"routes,omitempty"`

	OSPF *OSPF `json:"ospf,omitempty"` // nil = no `router ospf`

	FirewallDisable FirewallDisable `json:"firewall_disable,omitzero"`
	// Rule chains, each kept sorted by Number.
	FirewallInput  []Rule `json:"firewall_input,omitempty"`
	FirewallAccess []Rule `json:"firewall_access,omitempty"`
	FirewallSNAT   []Rule `json:"firewall_snat,omitempty"`
	FirewallDNAT   []Rule `json:"firewall_dnat,omitempty"`

	IKEPolicies []*IKEPolicy `json:"ike_policies,omitempty"` // sorted by Number
	ESPPolicies []*ESPPolicy `json:"esp_policies,omitempty"` // sorted by Number
	Peers       []*Peer      `json:"peers,omitempty"`        // in configuration order
	// IPsec is the `ipsec start|stop` statement.
	IPsec IPsecService `json:"ipsec"`
}

// IPsecService is the state of the `ipsec start` / `ipsec stop` statement.
type IPsecService int

const (
	IPsecUnset   IPsecService = iota // no statement: IPsec is not started
	IPsecStarted                     // `ipsec start`
	IPsecStopped                     // `ipsec stop`
)

// InterfaceKind tells what kind of link an interface statement describes.
type InterfaceKind int

const (
	KindEthernet InterfaceKind = iota // ethN: an existing NIC
	KindLoopback                      // lo
	KindGRE                           // tunN, greN: IPv4 GRE tunnel
	KindVLAN                          // vlan P V: 802.1Q VLAN V on ethP
	KindBridge                        // bridge brN
)

func (k InterfaceKind) String() string {
	switch k {
	case KindEthernet:
		return "ethernet"
	case KindLoopback:
		return "loopback"
	case KindGRE:
		return "gre"
	case KindVLAN:
		return "vlan"
	case KindBridge:
		return "bridge"
	}
	return "unknown"
}

// MarshalText names the kind in JSON output.
func (k InterfaceKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// MarshalText names the service state in JSON output.
func (s IPsecService) MarshalText() ([]byte, error) {
	return []byte([...]string{"unset", "start", "stop"}[s]), nil
}

// Interface is one `interface …` block.
type Interface struct {
	// Name is the kernel interface name: eth0, lo, tun0, gre1, vlan10, br0.
	Name string        `json:"name"`
	Kind InterfaceKind `json:"kind"`
	// VLANParent and VLANID are set for KindVLAN (`interface vlan 1 10` is
	// VLAN 10 on eth1: VLANParent "eth1", VLANID 10, Name "vlan10").
	VLANParent string `json:"vlan_parent,omitempty"`
	VLANID     int    `json:"vlan_id,omitempty"`

	Description string         `json:"description,omitempty"`
	Enabled     bool           `json:"enabled"`
	Addresses   []netip.Prefix `json:"addresses,omitempty"` // in configuration order
	MTU         int            `json:"mtu,omitempty"`       // 0 = not set (kernel default)

	TunnelLocal  netip.Addr `json:"tunnel_local,omitzero"`  // GRE only
	TunnelRemote netip.Addr `json:"tunnel_remote,omitzero"` // GRE only; invalid = not set

	BridgeGroup int `json:"bridge_group,omitempty"` // -1 = not a bridge member; N = member of brN

	OSPF InterfaceOSPF `json:"ospf,omitzero"`
}

// InterfaceOSPF holds the per-interface `ip ospf …` statements.
type InterfaceOSPF struct {
	Cost          int  `json:"cost,omitempty"`           // 0 = not set
	PointToPoint  bool `json:"point_to_point,omitempty"` // `ip ospf network point-to-point`
	HelloInterval int  `json:"hello_interval,omitempty"` // 0 = not set
	DeadInterval  int  `json:"dead_interval,omitempty"`  // 0 = not set
}

// HeaderArgs returns the words that follow `interface` in the block header:
// "eth0", "vlan 1 10", "bridge br0".
func (i *Interface) HeaderArgs() string {
	switch i.Kind {
	case KindVLAN:
		return fmt.Sprintf("vlan %s %d", strings.TrimPrefix(i.VLANParent, "eth"), i.VLANID)
	case KindBridge:
		return "bridge " + i.Name
	}
	return i.Name
}

// Route is one static route (`ip route …` or `ip default-gateway` is kept
// apart in Config.DefaultGateway).
type Route struct {
	Prefix netip.Prefix `json:"prefix,omitzero"`
	// Exactly one of Via and Dev is set.
	Via      netip.Addr `json:"via,omitzero"`
	Dev      string     `json:"dev,omitempty"`
	Distance int        `json:"distance,omitempty"` // 0 = not set (default 1)
	Remark   string     `json:"remark,omitempty"`
}

// Key identifies a route: prefix and next hop.
func (r Route) Key() string {
	if r.Dev != "" {
		return r.Prefix.String() + " nexthop " + r.Dev
	}
	return r.Prefix.String() + " nexthop " + r.Via.String()
}

// OSPF is the `router ospf` block.
type OSPF struct {
	RouterID                    netip.Addr    `json:"router_id,omitzero"`
	Networks                    []OSPFNetwork `json:"networks,omitempty"` // in configuration order
	PassiveInterfaces           []string      `json:"passive_interfaces,omitempty"`
	DefaultInformationOriginate bool          `json:"default_information_originate,omitempty"`
	RedistributeConnected       bool          `json:"redistribute_connected,omitempty"`
	RedistributeStatic          bool          `json:"redistribute_static,omitempty"`
}

// OSPFNetwork is one `network P area N` statement.
type OSPFNetwork struct {
	Prefix netip.Prefix `json:"prefix,omitzero"`
	Area   int          `json:"area,omitempty"`
}

// FirewallDisable holds the `firewall-disable …` flags.
type FirewallDisable struct {
	Access bool `json:"access,omitempty"` // default access rules off
	Input  bool `json:"input,omitempty"`  // default input rules off
}

// Chain names one of the four numbered rule lists.
type Chain int

const (
	ChainInput Chain = iota
	ChainAccess
	ChainSNAT
	ChainDNAT
)

// Keyword is the statement keyword of the chain.
func (c Chain) Keyword() string {
	return [...]string{"firewall-input", "firewall-access", "firewall-snat", "firewall-dnat"}[c]
}

// Rule is one numbered firewall or NAT rule. Which fields are meaningful
// depends on the chain: Action is permit|deny for input/access,
// overload|exempt|translate for SNAT, translate|redirect|exempt for DNAT.
type Rule struct {
	Number    int      `json:"number"`
	Action    string   `json:"action"`
	Direction string   `json:"direction"`           // inbound|outbound|all
	Interface string   `json:"interface,omitempty"` // may end in '+' (wildcard); empty = any
	Proto     string   `json:"proto,omitempty"`     // ip|tcp|udp|icmp; empty = any
	Src       []string `json:"src,omitempty"`
	Dst       []string `json:"dst,omitempty"`
	Sport     []string `json:"sport,omitempty"`
	Dport     []string `json:"dport,omitempty"`
	Xsrc      string   `json:"xsrc,omitempty"`   // SNAT translate
	Xdst      string   `json:"xdst,omitempty"`   // DNAT translate
	Xdport    string   `json:"xdport,omitempty"` // DNAT translate
	Remark    string   `json:"remark,omitempty"`
}

// IKEPolicy is an `ipsec ike-policy N` block.
type IKEPolicy struct {
	Number         int    `json:"number"`
	Authentication string `json:"authentication,omitempty"` // "psk"
	Encryption     string `json:"encryption,omitempty"`     // AES|AES-192|AES-256|3DES; empty = not set
	Hash           string `json:"hash,omitempty"`           // MD5|SHA|SHA-256|SHA-512
	DHGroup        int    `json:"dh_group,omitempty"`
	Keylife        int    `json:"keylife,omitempty"` // seconds; 0 = not set
	Version        int    `json:"version,omitempty"` // 1 or 2; 0 = not set (IKEv2)
}

// ESPPolicy is an `ipsec esp-policy N` block.
type ESPPolicy struct {
	Number     int    `json:"number"`
	Encryption string `json:"encryption,omitempty"`
	Hash       string `json:"hash,omitempty"`
	PFSGroup   int    `json:"pfs_group,omitempty"`
	Keylife    int    `json:"keylife,omitempty"`
}

// Peer is an `ipsec peer ADDR|NAME` block.
type Peer struct {
	Name      string         `json:"name"`           // the header word: an address or a name
	Local     netip.Addr     `json:"local,omitzero"` // `local`
	LocalID   string         `json:"local_id,omitempty"`
	RemoteID  string         `json:"remote_id,omitempty"`
	RemoteIP  string         `json:"remote_ip,omitempty"` // an address or "any"; empty = not set (Name is the address)
	LocalNet  []netip.Prefix `json:"local_net,omitempty"`
	RemoteNet []netip.Prefix `json:"remote_net,omitempty"`
	IKEPolicy int            `json:"ike_policy,omitempty"` // 0 = not set
	ESPPolicy int            `json:"esp_policy,omitempty"`
	PSK       string         `json:"psk,omitempty"`
}

// RemoteAddress is the address to reach the peer: remote-ip, else the header
// when it is an address. ok is false for a responder-only peer (remote-ip any
// or a named peer without remote-ip).
func (p *Peer) RemoteAddress() (addr netip.Addr, ok bool) {
	s := p.RemoteIP
	if s == "" {
		s = p.Name
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil
}

// Interface returns the interface with the given kernel name, or nil.
func (c *Config) Interface(name string) *Interface {
	for _, i := range c.Interfaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}

// Peer returns the peer with the given name, or nil.
func (c *Config) Peer(name string) *Peer {
	for _, p := range c.Peers {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// IKEPolicy returns IKE policy n, or nil.
func (c *Config) IKEPolicy(n int) *IKEPolicy {
	for _, p := range c.IKEPolicies {
		if p.Number == n {
			return p
		}
	}
	return nil
}

// ESPPolicy returns ESP policy n, or nil.
func (c *Config) ESPPolicy(n int) *ESPPolicy {
	for _, p := range c.ESPPolicies {
		if p.Number == n {
			return p
		}
	}
	return nil
}

// Rules returns a pointer to the rule list of a chain.
func (c *Config) Rules(ch Chain) *[]Rule {
	switch ch {
	case ChainInput:
		return &c.FirewallInput
	case ChainAccess:
		return &c.FirewallAccess
	case ChainSNAT:
		return &c.FirewallSNAT
	default:
		return &c.FirewallDNAT
	}
}

// Clone returns a deep copy.
func (c *Config) Clone() *Config {
	n := *c
	n.Interfaces = make([]*Interface, len(c.Interfaces))
	for k, i := range c.Interfaces {
		ci := *i
		ci.Addresses = append([]netip.Prefix(nil), i.Addresses...)
		n.Interfaces[k] = &ci
	}
	n.NameServers = append([]netip.Addr(nil), c.NameServers...)
	n.Routes = append([]Route(nil), c.Routes...)
	if c.OSPF != nil {
		o := *c.OSPF
		o.Networks = append([]OSPFNetwork(nil), o.Networks...)
		o.PassiveInterfaces = append([]string(nil), o.PassiveInterfaces...)
		n.OSPF = &o
	}
	for _, ch := range []Chain{ChainInput, ChainAccess, ChainSNAT, ChainDNAT} {
		src := *c.Rules(ch)
		dst := make([]Rule, len(src))
		for k, r := range src {
			dst[k] = r.clone()
		}
		*n.Rules(ch) = dst
	}
	n.IKEPolicies = make([]*IKEPolicy, len(c.IKEPolicies))
	for k, p := range c.IKEPolicies {
		cp := *p
		n.IKEPolicies[k] = &cp
	}
	n.ESPPolicies = make([]*ESPPolicy, len(c.ESPPolicies))
	for k, p := range c.ESPPolicies {
		cp := *p
		n.ESPPolicies[k] = &cp
	}
	n.Peers = make([]*Peer, len(c.Peers))
	for k, p := range c.Peers {
		cp := *p
		cp.LocalNet = append([]netip.Prefix(nil), p.LocalNet...)
		cp.RemoteNet = append([]netip.Prefix(nil), p.RemoteNet...)
		n.Peers[k] = &cp
	}
	return &n
}

func (r Rule) clone() Rule {
	r.Src = append([]string(nil), r.Src...)
	r.Dst = append([]string(nil), r.Dst...)
	r.Sport = append([]string(nil), r.Sport...)
	r.Dport = append([]string(nil), r.Dport...)
	return r
}

// VLANName is the kernel name of VLAN id on a parent: vlan10.
func VLANName(id int) string { return "vlan" + strconv.Itoa(id) }
