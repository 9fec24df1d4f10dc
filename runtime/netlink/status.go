package netlink

import (
	"cmp"
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"mboxsh/config"
)

// InterfaceStatus describes one interface for `show interface(s)`.
type InterfaceStatus struct {
	Name string `json:"name"`
	// Kind is ethernet, loopback, gre, vlan, bridge, or the kernel's link
	// type for others (veth, tun, …).
	Kind string `json:"kind"`
	// Configured: an `interface` statement names it. Present: the kernel
	// has it (a configured NIC may be absent).
	Configured  bool           `json:"configured"`
	Present     bool           `json:"present"`
	AdminUp     bool           `json:"admin_up"`
	OperState   string         `json:"oper_state,omitempty"` // up, down, lower-layer-down, unknown, …
	LinkUp      bool           `json:"link_up"`              // carrier (IFF_LOWER_UP)
	MTU         int            `json:"mtu,omitempty"`
	MAC         string         `json:"mac,omitempty"`
	Description string         `json:"description,omitempty"`
	Addresses   []netip.Prefix `json:"addresses"`
	Bridge      string         `json:"bridge,omitempty"` // master bridge of a port
	GRE         *GREStatus     `json:"gre,omitempty"`
	VLAN        *VLANStatus    `json:"vlan,omitempty"`
	Counters    *Counters      `json:"counters,omitempty"`
}

// GREStatus is the tunnel part of a GRE interface.
type GREStatus struct {
	Local    string `json:"local"`
	Remote   string `json:"remote"` // "any" when not set
	TTL      int    `json:"ttl"`    // 0 = inherit
	PMTUDisc bool   `json:"pmtu_discovery"`
	// TransportDev and TransportMTU are the link that carries the tunnel's
	// packets (the holder of the local address, else the route to the
	// remote) and its MTU; "" / 0 when unknown.
	TransportDev string `json:"transport_dev,omitempty"`
	TransportMTU int    `json:"transport_mtu,omitempty"`
}

// VLANStatus is the 802.1Q part of a VLAN interface.
type VLANStatus struct {
	Parent string `json:"parent"`
	ID     int    `json:"id"`
}

// Counters are the interface statistics.
type Counters struct {
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	RxErrors  uint64 `json:"rx_errors"`
	RxDropped uint64 `json:"rx_dropped"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxErrors  uint64 `json:"tx_errors"`
	TxDropped uint64 `json:"tx_dropped"`
}

func statusKind(l vnl.Link) string {
	if l.Attrs().Flags&net.FlagLoopback != 0 {
		return "loopback"
	}
	switch l.(type) {
	case *vnl.Gretun:
		return "gre"
	case *vnl.Vlan:
		return "vlan"
	case *vnl.Bridge:
		return "bridge"
	case *vnl.Device:
		if l.Attrs().EncapType == "ether" {
			return "ethernet"
		}
	}
	return l.Type()
}

// Interfaces lists every link of the namespace in kernel order, then the
// interfaces cfg configures that are not present. cfg may be nil.
func (d *Driver) Interfaces(ctx context.Context, cfg *config.Config) ([]InterfaceStatus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := d.readState()
	if err != nil {
		return nil, err
	}
	configured := map[string]*config.Interface{}
	if cfg != nil {
		for _, i := range cfg.Interfaces {
			configured[i.Name] = i
		}
	}
	links := slices.Clone(st.links)
	slices.SortFunc(links, func(a, b vnl.Link) int { return cmp.Compare(a.Attrs().Index, b.Attrs().Index) })
	var out []InterfaceStatus
	for _, l := range links {
		a := l.Attrs()
		s := InterfaceStatus{
			Name: a.Name, Kind: statusKind(l), Configured: configured[a.Name] != nil, Present: true,
			AdminUp: a.Flags&net.FlagUp != 0, OperState: a.OperState.String(), LinkUp: a.RawFlags&unix.IFF_LOWER_UP != 0,
			MTU: a.MTU, Description: a.Alias, Bridge: st.linkName(a.MasterIndex), Addresses: []netip.Prefix{},
		}
		if len(a.HardwareAddr) == 6 {
			s.MAC = a.HardwareAddr.String()
		}
		for _, ad := range st.addrs[a.Index] {
			s.Addresses = append(s.Addresses, prefixOf(ad))
		}
		if c := a.Statistics; c != nil {
			s.Counters = &Counters{
				RxPackets: c.RxPackets, RxBytes: c.RxBytes, RxErrors: c.RxErrors, RxDropped: c.RxDropped,
				TxPackets: c.TxPackets, TxBytes: c.TxBytes, TxErrors: c.TxErrors, TxDropped: c.TxDropped,
			}
		}
		switch t := l.(type) {
		case *vnl.Gretun:
			s.GRE = d.greStatus(st, t)
		case *vnl.Vlan:
			s.VLAN = &VLANStatus{Parent: st.linkName(t.ParentIndex), ID: t.VlanId}
		}
		out = append(out, s)
	}
	if cfg != nil {
		for _, i := range sortedIfaces(cfg.Interfaces) {
			if st.byName[i.Name] == nil {
				s := InterfaceStatus{Name: i.Name, Kind: i.Kind.String(), Configured: true, Present: false,
					Description: i.Description, Addresses: []netip.Prefix{}}
				if i.Kind == config.KindVLAN {
					s.VLAN = &VLANStatus{Parent: i.VLANParent, ID: i.VLANID}
				}
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func (d *Driver) greStatus(st *kstate, g *vnl.Gretun) *GREStatus {
	s := &GREStatus{Local: "any", Remote: remoteText(g.Remote), TTL: int(g.Ttl), PMTUDisc: g.PMtuDisc != 0}
	if greRemoteSet(g.Local) {
		s.Local = addrOf(g.Local).String()
	}
	for idx, addrs := range st.addrs {
		for _, a := range addrs {
			if greRemoteSet(g.Local) && a.IP.Equal(g.Local) {
				if l := st.byIndex[idx]; l != nil {
					s.TransportDev, s.TransportMTU = l.Attrs().Name, l.Attrs().MTU
				}
			}
		}
	}
	if s.TransportDev == "" && greRemoteSet(g.Remote) {
		if rs, err := d.h.RouteGet(g.Remote); err == nil && len(rs) > 0 {
			if l := st.byIndex[rs[0].LinkIndex]; l != nil {
				s.TransportDev, s.TransportMTU = l.Attrs().Name, l.Attrs().MTU
			}
		}
	}
	return s
}

// RouteStatus is one route of the main table for `show ip route`.
type RouteStatus struct {
	// Code: S = static (mboxsh's own, RouteProtocol), C = connected (proto
	// kernel, scope link), O = OSPF (proto 188, as FRR's zebra installs
	// it), K = any other kernel route.
	Code     string       `json:"code"`
	Protocol string       `json:"protocol"` // mboxsh, kernel, ospf, static, boot, dhcp, … or the number
	Family   string       `json:"family"`   // ipv4 | ipv6
	Prefix   netip.Prefix `json:"prefix"`
	// Distance is the administrative distance in the Cisco sense: the
	// configured distance for S (mboxsh installs it as the metric), 0 for
	// C and K, 110 for O. Metric is the kernel's route priority.
	Distance int       `json:"distance"`
	Metric   int       `json:"metric"`
	NextHops []NextHop `json:"nexthops"`
}

// NextHop is one path of a route.
type NextHop struct {
	Via      string `json:"via,omitempty"` // gateway; "" = directly connected
	Dev      string `json:"dev,omitempty"`
	LinkDown bool   `json:"linkdown,omitempty"`
}

const rtprotOSPF = 188

var protoNames = map[vnl.RouteProtocol]string{
	RouteProtocol:       "mboxsh",
	unix.RTPROT_KERNEL:  "kernel",
	unix.RTPROT_BOOT:    "boot",
	unix.RTPROT_STATIC:  "static",
	unix.RTPROT_DHCP:    "dhcp",
	unix.RTPROT_RA:      "ra",
	11:                  "zebra",
	186:                 "bgp",
	rtprotOSPF:          "ospf",
	196:                 "frr-static",
	unix.RTPROT_BABEL:   "babel",
	unix.RTPROT_BIRD:    "bird",
	unix.RTPROT_MROUTED: "mrouted",
}

// Routes lists the main routing table (IPv4 first, then IPv6), sorted by
// destination.
func (d *Driver) Routes(ctx context.Context) ([]RouteStatus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := d.readState()
	if err != nil {
		return nil, err
	}
	var out []RouteStatus
	for _, r := range st.routes {
		if r.Type != unix.RTN_UNICAST {
			continue
		}
		s := RouteStatus{Prefix: dstOf(r), Metric: r.Priority, Family: "ipv4"}
		if s.Prefix.Addr().Is6() {
			s.Family = "ipv6"
		}
		s.Protocol = protoNames[r.Protocol]
		if s.Protocol == "" {
			s.Protocol = strconv.Itoa(int(r.Protocol))
		}
		switch {
		case r.Protocol == RouteProtocol:
			s.Code, s.Distance = "S", r.Priority
		case r.Protocol == unix.RTPROT_KERNEL && r.Scope == vnl.SCOPE_LINK:
			s.Code = "C"
		case r.Protocol == rtprotOSPF:
			s.Code, s.Distance = "O", 110
		default:
			s.Code = "K"
		}
		hop := func(gw net.IP, idx, flags int) NextHop {
			h := NextHop{Dev: st.linkName(idx), LinkDown: flags&unix.RTNH_F_LINKDOWN != 0}
			if gw != nil {
				h.Via = addrOf(gw).String()
			}
			return h
		}
		if len(r.MultiPath) > 0 {
			for _, nh := range r.MultiPath {
				s.NextHops = append(s.NextHops, hop(nh.Gw, nh.LinkIndex, nh.Flags))
			}
		} else {
			s.NextHops = []NextHop{hop(r.Gw, r.LinkIndex, r.Flags)}
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b RouteStatus) int {
		return cmp.Or(cmp.Compare(a.Family, b.Family), a.Prefix.Addr().Compare(b.Prefix.Addr()),
			cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()), cmp.Compare(a.Metric, b.Metric))
	})
	return out, nil
}
