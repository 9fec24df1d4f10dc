package netlink

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	vnl "github.com/vishvananda/netlink"

	"mboxsh/config"
	"mboxsh/runtime"
)

// phase orders the steps of a plan: removals first, in reverse order of
// use (routes, addresses, attributes, links), then creations in order of
// use (links, attributes, addresses, routes), then the router sysctls.
type phase int

const (
	phRouteDel phase = iota
	phAddrDel
	phUnset // attributes of interfaces whose statement was removed
	phLinkDel
	phLinkAdd
	phAttr
	phAddrAdd
	phRouteAdd
	phSysctl
)

// change is one difference between the configuration and the kernel: a
// step to apply it, a drift line to report it, or both.
type change struct {
	phase phase
	drift string
	step  *runtime.Step
}

const (
	greTTL      = 64
	grePMTUDisc = 1
	greOverhead = 24 // outer IPv4 header + GRE header without key/checksum
	defaultMTU  = 1500
	loMTU       = 65536
)

type planner struct {
	d        *Driver
	st       *kstate
	from, to *config.Config
	toIf     map[string]*config.Interface
	fromIf   map[string]*config.Interface
	changes  []change

	// Projection of the state after the plan, for routes.
	fresh     map[string]bool // links this plan creates or recreates
	willUp    map[string]bool // links that will be up
	disturbed map[string]bool // links whose routes a step may flush
	skipped   map[string]bool // configured interfaces that cannot be realised
}

func (p *planner) add(ph phase, drift string, s *runtime.Step) {
	p.changes = append(p.changes, change{phase: ph, drift: drift, step: s})
}

// kindRank orders interfaces so that what is used comes first: NICs, the
// loopback, bridges (ports attach to them), VLANs (on NICs), tunnels.
func kindRank(k config.InterfaceKind) int {
	switch k {
	case config.KindEthernet:
		return 0
	case config.KindLoopback:
		return 1
	case config.KindBridge:
		return 2
	case config.KindVLAN:
		return 3
	}
	return 4
}

func sortedIfaces(list []*config.Interface) []*config.Interface {
	out := slices.Clone(list)
	slices.SortStableFunc(out, func(a, b *config.Interface) int {
		return cmp.Or(cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func ifStmt(i *config.Interface) string { return "interface " + i.HeaderArgs() }

func (d *Driver) diff(from, to *config.Config) ([]change, error) {
	st, err := d.plannedState()
	if err != nil {
		return nil, err
	}
	p := &planner{
		d: d, st: st, from: from, to: to,
		toIf: map[string]*config.Interface{}, fromIf: map[string]*config.Interface{},
		fresh: map[string]bool{}, willUp: map[string]bool{}, disturbed: map[string]bool{}, skipped: map[string]bool{},
	}
	for _, i := range to.Interfaces {
		p.toIf[i.Name] = i
	}
	for _, i := range from.Interfaces {
		p.fromIf[i.Name] = i
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	// Links mboxsh does not configure keep their admin state.
	for _, l := range st.links {
		p.willUp[l.Attrs().Name] = l.Attrs().Flags&net.FlagUp != 0
	}
	// Removals in reverse order of creation: tunnels, VLANs, bridges, NICs.
	removed := sortedIfaces(from.Interfaces)
	slices.Reverse(removed)
	for _, i := range removed {
		if p.toIf[i.Name] == nil {
			p.planRemovedIface(i)
		}
	}
	for _, i := range sortedIfaces(to.Interfaces) {
		if err := p.planIface(i); err != nil {
			return nil, err
		}
	}
	// The kernel shuts down the VLANs of a link that goes down: their
	// routes are flushed too.
	for _, l := range st.links {
		if v, ok := l.(*vnl.Vlan); ok && p.disturbed[st.linkName(v.ParentIndex)] {
			p.disturbed[v.Name] = true
		}
	}
	p.planRoutes()
	if err := p.planSysctls(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(p.changes, func(a, b change) int { return cmp.Compare(a.phase, b.phase) })
	return p.changes, nil
}

// validate rejects configurations the driver cannot realise at all.
func (p *planner) validate() error {
	for _, i := range p.to.Interfaces {
		switch i.Kind {
		case config.KindGRE:
			if !i.TunnelLocal.IsValid() {
				return fmt.Errorf("%s: tunnel local is required", ifStmt(i))
			}
			if !i.TunnelLocal.Is4() || i.TunnelRemote.IsValid() && !i.TunnelRemote.Is4() {
				return fmt.Errorf("%s: only IPv4 GRE tunnels are supported", ifStmt(i))
			}
		case config.KindVLAN:
			if i.VLANID < 1 || i.VLANID > 4094 {
				return fmt.Errorf("%s: VLAN id %d out of range 1-4094", ifStmt(i), i.VLANID)
			}
		}
		if i.BridgeGroup >= 0 && i.Kind != config.KindBridge && i.Kind != config.KindLoopback {
			br := p.toIf[bridgeName(i.BridgeGroup)]
			if br == nil || br.Kind != config.KindBridge {
				return fmt.Errorf("%s: bridge-group %d, but \"interface bridge %s\" is not configured",
					ifStmt(i), i.BridgeGroup, bridgeName(i.BridgeGroup))
			}
		}
	}
	return nil
}

func bridgeName(n int) string { return "br" + strconv.Itoa(n) }

// linkKind is the kernel link type of the interfaces mboxsh creates; "" for
// NICs and the loopback, which it never creates.
func linkKind(k config.InterfaceKind) string {
	switch k {
	case config.KindGRE:
		return "gre"
	case config.KindVLAN:
		return "vlan"
	case config.KindBridge:
		return "bridge"
	}
	return ""
}

// planRemovedIface undoes what mboxsh configured on an interface whose
// statement is gone: tunnels, VLANs and bridges are deleted; on NICs and the
// loopback the configured addresses are removed, description and MTU reset
// and a NIC that was enabled is shut down.
func (p *planner) planRemovedIface(i *config.Interface) {
	l := p.st.byName[i.Name]
	if l == nil {
		return
	}
	stmt := "no " + ifStmt(i)
	if kind := linkKind(i.Kind); kind != "" {
		if l.Type() != kind {
			return // not ours (any more)
		}
		p.disturbed[i.Name] = true
		p.willUp[i.Name] = false
		p.add(phLinkDel, "", p.d.linkDeleteStep(stmt, i.Name, kind))
		return
	}
	a := l.Attrs()
	have := map[netip.Prefix]vnl.Addr{}
	for _, ka := range managedAddrs(l, p.st.addrs[a.Index]) {
		have[prefixOf(ka)] = ka
	}
	for _, pfx := range i.Addresses {
		if ka, ok := have[pfx]; ok {
			p.disturbed[i.Name] = true
			p.add(phAddrDel, "", p.d.addrDelStep(stmt, i.Name, ka))
		}
	}
	if i.BridgeGroup >= 0 && i.Kind == config.KindEthernet && p.st.linkName(a.MasterIndex) == bridgeName(i.BridgeGroup) {
		p.add(phUnset, "", p.d.masterStep(stmt, i.Name, ""))
	}
	if i.MTU != 0 {
		if def := p.defaultMTU(i); a.MTU != def {
			p.disturbed[i.Name] = true
			p.add(phUnset, "", p.d.mtuStep(stmt, i.Name, def))
		}
	}
	if i.Description != "" && a.Alias != "" {
		p.add(phUnset, "", p.d.aliasStep(stmt, i.Name, ""))
	}
	if i.Kind == config.KindEthernet && i.Enabled && a.Flags&net.FlagUp != 0 {
		p.disturbed[i.Name] = true
		p.willUp[i.Name] = false
		p.add(phUnset, "", p.d.upStep(stmt, i.Name, false))
	}
}

// defaultMTU is the MTU an interface returns to when its `mtu` statement is
// removed: what the kernel gives a new link of the kind.
func (p *planner) defaultMTU(i *config.Interface) int {
	switch i.Kind {
	case config.KindLoopback:
		return loMTU
	case config.KindVLAN:
		if par := p.st.byName[i.VLANParent]; par != nil {
			return par.Attrs().MTU
		}
	case config.KindGRE:
		// The kernel binds a new tunnel to the device that holds its
		// local address and subtracts the encapsulation.
		for idx, addrs := range p.st.addrs {
			for _, a := range addrs {
				if addrOf(a.IP) == i.TunnelLocal {
					if l := p.st.byIndex[idx]; l != nil && l.Attrs().MTU > greOverhead {
						return l.Attrs().MTU - greOverhead
					}
				}
			}
		}
		return defaultMTU - greOverhead
	}
	return defaultMTU
}

// planIface plans one configured interface: its link, attributes and
// addresses.
func (p *planner) planIface(i *config.Interface) error {
	stmt := ifStmt(i)
	l := p.st.byName[i.Name]
	present := l != nil
	notOurs := func() error {
		return fmt.Errorf("%s: a %s interface named %s already exists and mboxsh does not manage it", stmt, l.Type(), i.Name)
	}
	switch i.Kind {
	case config.KindEthernet, config.KindLoopback:
		if l == nil {
			p.skipped[i.Name] = true
			p.add(phAttr, fmt.Sprintf("interface %s: not present (configured)", i.Name), nil)
			return nil
		}
	case config.KindVLAN:
		par := p.st.byName[i.VLANParent]
		if par == nil {
			p.skipped[i.Name] = true
			p.add(phLinkAdd, fmt.Sprintf("interface %s: not present, parent %s not present (configured)", i.Name, i.VLANParent), nil)
			return nil
		}
		if l != nil {
			v, ok := l.(*vnl.Vlan)
			switch {
			case !ok && p.fromIf[i.Name] == nil:
				return notOurs()
			case !ok || v.ParentIndex != par.Attrs().Index || v.VlanId != i.VLANID || v.VlanProtocol != vnl.VLAN_PROTOCOL_8021Q:
				p.add(phLinkDel, fmt.Sprintf("interface %s: not VLAN %d on %s (configured)", i.Name, i.VLANID, i.VLANParent),
					p.d.linkDeleteStep(stmt, i.Name, l.Type()))
				l = nil
			}
		}
		if l == nil {
			p.fresh[i.Name] = true
			p.disturbed[i.Name] = true
			drift := ""
			if !present {
				drift = fmt.Sprintf("interface %s: VLAN not present (configured)", i.Name)
			}
			p.add(phLinkAdd, drift, p.d.vlanCreateStep(stmt, i))
		}
	case config.KindGRE:
		if l != nil {
			g, ok := l.(*vnl.Gretun)
			switch {
			case ok && i.Name == "gre0" && !greRemoteSet(g.Local) && !greRemoteSet(g.Remote):
				return fmt.Errorf("%s: gre0 is the kernel's fallback GRE device, which cannot be configured or deleted; "+
					"use another name (tun0, gre1, …) or set net.core.fb_tunnels_only_for_init_net=2 before GRE is loaded", stmt)
			case !ok && p.fromIf[i.Name] == nil:
				return notOurs()
			case !ok:
				p.add(phLinkDel, fmt.Sprintf("interface %s: a %s link, not a GRE tunnel (configured)", i.Name, l.Type()),
					p.d.linkDeleteStep(stmt, i.Name, l.Type()))
				l = nil
			case greRemoteSet(g.Remote) != i.TunnelRemote.IsValid():
				// The kernel cannot switch a tunnel between point-to-point
				// and multipoint (remote any) in place.
				p.add(phLinkDel, fmt.Sprintf("interface %s: tunnel remote %s (configured %s)", i.Name,
					remoteText(g.Remote), remoteText(netIP(i.TunnelRemote))),
					p.d.linkDeleteStep(stmt, i.Name, l.Type()))
				l = nil
			default:
				if d := greDiff(g, i); d != "" {
					p.add(phLinkAdd, fmt.Sprintf("interface %s: %s", i.Name, d), p.d.greModifyStep(stmt, i))
				}
			}
		}
		if l == nil {
			p.fresh[i.Name] = true
			p.disturbed[i.Name] = true
			drift := ""
			if !present {
				drift = fmt.Sprintf("interface %s: GRE tunnel not present (configured)", i.Name)
			}
			p.add(phLinkAdd, drift, p.d.greCreateStep(stmt, i))
		}
	case config.KindBridge:
		if l != nil {
			if _, ok := l.(*vnl.Bridge); !ok {
				if p.fromIf[i.Name] == nil {
					return notOurs()
				}
				p.add(phLinkDel, fmt.Sprintf("interface %s: a %s link, not a bridge (configured)", i.Name, l.Type()),
					p.d.linkDeleteStep(stmt, i.Name, l.Type()))
				l = nil
			}
		}
		if l == nil {
			p.fresh[i.Name] = true
			p.disturbed[i.Name] = true
			drift := ""
			if !present {
				drift = fmt.Sprintf("interface %s: bridge not present (configured)", i.Name)
			}
			p.add(phLinkAdd, drift, p.d.bridgeCreateStep(stmt, i.Name))
		}
	}
	p.planAttrs(i, l)
	p.planAddrs(i, l)
	return nil
}

func remoteText(ip net.IP) string {
	if !greRemoteSet(ip) {
		return "any"
	}
	return addrOf(ip).String()
}

// greDiff describes how tunnel g differs from the configuration, "" if not.
func greDiff(g *vnl.Gretun, i *config.Interface) string {
	var out []string
	if addrOf(g.Local) != i.TunnelLocal {
		out = append(out, fmt.Sprintf("tunnel local %s (configured %s)", addrOf(g.Local), i.TunnelLocal))
	}
	if greRemoteSet(g.Remote) && i.TunnelRemote.IsValid() && addrOf(g.Remote) != i.TunnelRemote {
		out = append(out, fmt.Sprintf("tunnel remote %s (configured %s)", addrOf(g.Remote), i.TunnelRemote))
	}
	if g.Ttl != greTTL {
		out = append(out, fmt.Sprintf("tunnel ttl %d (mboxsh sets %d)", g.Ttl, greTTL))
	}
	if g.PMtuDisc != grePMTUDisc {
		out = append(out, "path MTU discovery off (mboxsh turns it on)")
	}
	if g.Tos != 0 || g.IKey != 0 || g.OKey != 0 || g.Link != 0 {
		out = append(out, "tunnel has a tos, key or device binding that mboxsh does not configure")
	}
	return strings.Join(out, ", ")
}

// planAttrs plans master, MTU, description, rp_filter and admin state. l is
// the existing link, or nil when the plan creates it.
func (p *planner) planAttrs(i *config.Interface, l vnl.Link) {
	stmt := ifStmt(i)
	var (
		up     bool
		mtu    int
		alias  string
		master string
	)
	if l != nil {
		a := l.Attrs()
		up, mtu, alias, master = a.Flags&net.FlagUp != 0, a.MTU, a.Alias, p.st.linkName(a.MasterIndex)
	}
	fresh := l == nil

	if i.Kind != config.KindLoopback && i.Kind != config.KindBridge {
		want := ""
		if i.BridgeGroup >= 0 {
			want = bridgeName(i.BridgeGroup)
		}
		if master != want {
			var drift string
			switch {
			case want == "":
				drift = fmt.Sprintf("interface %s: member of %s (not configured)", i.Name, master)
			case master == "" && !fresh:
				drift = fmt.Sprintf("interface %s: not a member of %s (configured bridge-group %d)", i.Name, want, i.BridgeGroup)
			case !fresh:
				drift = fmt.Sprintf("interface %s: member of %s (configured bridge-group %d)", i.Name, master, i.BridgeGroup)
			}
			p.add(phAttr, drift, p.d.masterStep(stmt, i.Name, want))
		}
	}
	wantMTU := i.MTU
	if wantMTU == 0 && !fresh && p.fromIf[i.Name] != nil && p.fromIf[i.Name].MTU != 0 {
		wantMTU = p.defaultMTU(i) // `mtu` removed: back to the kind's default
	}
	if wantMTU != 0 && (fresh || mtu != wantMTU) {
		drift := ""
		if !fresh && i.MTU != 0 {
			drift = fmt.Sprintf("interface %s: mtu %d (configured %d)", i.Name, mtu, i.MTU)
		}
		p.disturbed[i.Name] = true
		p.add(phAttr, drift, p.d.mtuStep(stmt, i.Name, wantMTU))
	}
	if alias != i.Description {
		drift := ""
		if !fresh {
			switch {
			case i.Description == "":
				drift = fmt.Sprintf("interface %s: description %q present but not configured", i.Name, alias)
			case alias == "":
				drift = fmt.Sprintf("interface %s: description %q configured but missing", i.Name, i.Description)
			default:
				drift = fmt.Sprintf("interface %s: description %q (configured %q)", i.Name, alias, i.Description)
			}
		}
		p.add(phAttr, drift, p.d.aliasStep(stmt, i.Name, i.Description))
	}
	if i.Kind == config.KindGRE {
		rp := ""
		if !fresh {
			if v, ok, err := p.d.readSysctl(rpFilterParts(i.Name)...); err == nil && ok {
				rp = v
			}
		}
		if rp != rpFilterLoose {
			drift := ""
			if !fresh {
				drift = fmt.Sprintf("interface %s: rp_filter %s (mboxsh sets %s, loose, on tunnels)", i.Name, rp, rpFilterLoose)
			}
			p.add(phAttr, drift, p.d.rpFilterStep(stmt, i.Name))
		}
	}
	wantUp := i.Enabled
	if i.Kind == config.KindLoopback && !i.Enabled {
		wantUp = up // never shut the loopback down: local services need it
	}
	if i.Kind == config.KindVLAN && wantUp && !p.willUp[i.VLANParent] {
		// The kernel keeps a VLAN down while its parent is down (and
		// refuses to bring it up): report it, do not try.
		wantUp = false
		p.add(phAttr, fmt.Sprintf("interface %s: down because its parent %s is not enabled", i.Name, i.VLANParent), nil)
		if up {
			p.add(phAttr, "", p.d.upStep(stmt, i.Name, false))
		}
		up = false
	}
	p.willUp[i.Name] = wantUp
	if wantUp != up {
		drift := ""
		if !fresh {
			if up {
				drift = fmt.Sprintf("interface %s: administratively up (configured disabled)", i.Name)
			} else {
				drift = fmt.Sprintf("interface %s: administratively down (configured enable)", i.Name)
			}
		}
		if !wantUp {
			p.disturbed[i.Name] = true
		}
		p.add(phAttr, drift, p.d.upStep(stmt, i.Name, wantUp))
	}
}

// planAddrs plans the exact address set of a configured interface.
func (p *planner) planAddrs(i *config.Interface, l vnl.Link) {
	stmt := ifStmt(i)
	want := map[netip.Prefix]bool{}
	for _, a := range i.Addresses {
		want[a] = true
	}
	have := map[netip.Prefix]bool{}
	if l != nil {
		for _, ka := range managedAddrs(l, p.st.addrs[l.Attrs().Index]) {
			pfx := prefixOf(ka)
			have[pfx] = true
			if !want[pfx] {
				p.disturbed[i.Name] = true
				p.add(phAddrDel, fmt.Sprintf("interface %s: address %s present but not configured", i.Name, pfx),
					p.d.addrDelStep(stmt, i.Name, ka))
			}
		}
	}
	for _, a := range i.Addresses {
		if !have[a] {
			have[a] = true
			drift := ""
			if l != nil {
				drift = fmt.Sprintf("interface %s: address %s configured but missing", i.Name, a)
			}
			p.add(phAddrAdd, drift, p.d.addrAddStep(stmt, i.Name, a))
		}
	}
}

// wantRoute is one configured route.
type wantRoute struct {
	wantKey
	// gateway: it is the default gateway, else the route statement src.
	// Statement and description are built only when a message needs them:
	// a plan of a thousand unchanged routes needs none.
	gateway bool
	src     config.Route
}

// wantKey identifies a configured route; equal keys are one route.
type wantKey struct {
	dst    netip.Prefix
	via    netip.Addr
	dev    string
	metric int
}

// stmt is the statement as the user wrote it.
func (w wantRoute) stmt() string {
	if w.gateway {
		return "ip default-gateway " + w.via.String()
	}
	return "ip route " + w.desc()
}

// desc is "192.168.20.0/24 nexthop 172.16.0.2" for messages.
func (w wantRoute) desc() string {
	if w.gateway {
		return w.dst.String() + " nexthop " + w.via.String() + " (default-gateway)"
	}
	s := w.src.Key()
	if w.src.Distance != 0 {
		s += " distance " + strconv.Itoa(w.src.Distance)
	}
	return s
}

// dstMetric is what a kernel route and a configured route must share to
// match.
type dstMetric struct {
	dst    netip.Prefix
	metric int
}

// wantSet is the configured routes, without duplicates, in order, indexed
// by destination and metric: the routes with key k are list[first[k]-1],
// then list[next[j]-1] after list[j] (0 ends a chain).
type wantSet struct {
	list  []wantRoute
	first map[dstMetric]int
	next  []int
}

// lookup calls f with the index of each configured route with key k, in
// order, until f returns false.
func (ws *wantSet) lookup(k dstMetric, f func(j int) bool) {
	for j := ws.first[k] - 1; j >= 0 && f(j); j = ws.next[j] - 1 {
	}
}

func (p *planner) wantRoutes() *wantSet {
	n := len(p.to.Routes) + 1
	ws := &wantSet{list: make([]wantRoute, 0, n), first: make(map[dstMetric]int, n), next: make([]int, 0, n)}
	push := func(w wantRoute) {
		k := dstMetric{w.dst, w.metric}
		last := -1
		for j := ws.first[k] - 1; j >= 0; j = ws.next[j] - 1 {
			if ws.list[j].wantKey == w.wantKey {
				return // a duplicate
			}
			last = j
		}
		ws.list = append(ws.list, w)
		ws.next = append(ws.next, 0)
		if last < 0 {
			ws.first[k] = len(ws.list)
		} else {
			ws.next[last] = len(ws.list)
		}
	}
	if gw := p.to.DefaultGateway; gw.IsValid() {
		dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if gw.Is6() {
			dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		push(wantRoute{wantKey: wantKey{dst: dst, via: gw, metric: 1}, gateway: true})
	}
	for _, r := range p.to.Routes {
		w := wantRoute{wantKey: wantKey{dst: r.Prefix.Masked(), via: r.Via, dev: r.Dev, metric: r.Distance}, src: r}
		if w.metric == 0 {
			w.metric = 1
		}
		push(w)
	}
	return ws
}

// matches tells whether kernel route r (ours) realises w.
func (p *planner) matches(r vnl.Route, w wantRoute) bool {
	if len(r.MultiPath) > 0 || dstOf(r) != w.dst || r.Priority != w.metric {
		return false
	}
	if w.dev != "" {
		return r.Gw == nil && p.st.linkName(r.LinkIndex) == w.dev
	}
	return addrOf(r.Gw) == w.via
}

func kernelRouteDesc(st *kstate, r vnl.Route) string {
	s := dstOf(r).String() + " nexthop "
	switch {
	case len(r.MultiPath) > 0:
		s += "(multipath)"
	case r.Gw != nil:
		s += addrOf(r.Gw).String()
	default:
		s += st.linkName(r.LinkIndex)
	}
	if r.Priority != 1 {
		s += " distance " + strconv.Itoa(r.Priority)
	}
	return s
}

func (p *planner) planRoutes() {
	ws := p.wantRoutes()
	wants := ws.list
	matched := make([]*vnl.Route, len(wants))
	for k := range p.st.routes {
		r := p.st.routes[k]
		if r.Protocol != RouteProtocol {
			continue
		}
		found := false
		ws.lookup(dstMetric{dstOf(r), r.Priority}, func(j int) bool {
			if matched[j] == nil && p.matches(r, wants[j]) {
				matched[j], found = &p.st.routes[k], true
			}
			return !found
		})
		if !found {
			desc := kernelRouteDesc(p.st, r)
			stmt := "no ip route " + desc
			if gw := p.from.DefaultGateway; gw.IsValid() && dstOf(r).Bits() == 0 && addrOf(r.Gw) == gw && r.Priority == 1 {
				stmt = "no ip default-gateway " + gw.String()
			}
			p.add(phRouteDel, fmt.Sprintf("route %s present but not configured", desc),
				p.d.routeDelStep(stmt, desc, r, p.st.linkName(r.LinkIndex), nhDevs(p.st, r)))
		}
	}
	conn := p.connected(wants)
	type resolved struct{ dev, why string }
	byVia := map[netip.Addr]resolved{} // most routes share a few next hops
	for j, w := range wants {
		var dev, why string
		if w.dev != "" {
			dev, why = p.resolve(w, conn)
		} else if r, ok := byVia[w.via]; ok {
			dev, why = r.dev, r.why
		} else {
			dev, why = p.resolve(w, conn)
			byVia[w.via] = resolved{dev, why}
		}
		if dev == "" {
			if matched[j] == nil {
				p.add(phRouteAdd, fmt.Sprintf("route %s not installed: %s", w.desc(), why), nil)
			}
			continue // installed although the projection says it cannot be: the kernel knows better
		}
		if matched[j] != nil && !p.disturbed[p.st.linkName(matched[j].LinkIndex)] && !p.disturbed[dev] {
			continue
		}
		// Missing, or through a link that a step of this plan may flush:
		// (re)assert it; the step does nothing if the route is there.
		drift := ""
		if matched[j] == nil {
			drift = fmt.Sprintf("route %s missing", w.desc())
		}
		p.add(phRouteAdd, drift, p.d.routeAddStep(w))
	}
}

func nhDevs(st *kstate, r vnl.Route) []string {
	var out []string
	for _, nh := range r.MultiPath {
		out = append(out, st.linkName(nh.LinkIndex))
	}
	return out
}

type connRoute struct {
	pfx netip.Prefix
	dev string
}

// connected lists the directly connected networks after the plan: the
// addresses of the interfaces that will be up, the scope-link routes of
// links mboxsh does not manage, and the configured device routes.
func (p *planner) connected(wants []wantRoute) []connRoute {
	var out []connRoute
	managed := func(name string) bool { return p.toIf[name] != nil || p.fromIf[name] != nil }
	for _, i := range p.to.Interfaces {
		if p.skipped[i.Name] || !p.willUp[i.Name] {
			continue
		}
		for _, a := range i.Addresses {
			out = append(out, connRoute{a.Masked(), i.Name})
		}
	}
	for _, l := range p.st.links {
		name := l.Attrs().Name
		if managed(name) || !p.willUp[name] {
			continue
		}
		for _, a := range p.st.addrs[l.Attrs().Index] {
			out = append(out, connRoute{prefixOf(a).Masked(), name})
		}
	}
	for _, r := range p.st.routes {
		name := p.st.linkName(r.LinkIndex)
		if r.Protocol != RouteProtocol && r.Gw == nil && r.Scope == vnl.SCOPE_LINK && name != "" && !managed(name) && p.willUp[name] {
			out = append(out, connRoute{dstOf(r), name})
		}
	}
	for _, w := range wants {
		if w.dev != "" && p.linkWillExist(w.dev) && p.willUp[w.dev] {
			out = append(out, connRoute{w.dst, w.dev})
		}
	}
	return out
}

func (p *planner) linkWillExist(name string) bool {
	switch {
	case p.skipped[name]:
		return false
	case p.fresh[name]:
		return true
	case p.st.byName[name] == nil:
		return false
	}
	if i := p.fromIf[name]; i != nil && p.toIf[name] == nil && linkKind(i.Kind) != "" {
		return false // deleted by this plan
	}
	return true
}

// resolve returns the device a configured route will leave through, or ""
// and why it cannot be installed.
func (p *planner) resolve(w wantRoute, conn []connRoute) (dev, why string) {
	if w.dev != "" {
		switch {
		case !p.linkWillExist(w.dev):
			return "", "interface " + w.dev + " not present"
		case !p.willUp[w.dev]:
			return "", "interface " + w.dev + " is not enabled"
		}
		return w.dev, ""
	}
	best := -1
	for _, c := range conn {
		if c.pfx.Contains(w.via) && c.pfx.Bits() > best {
			best, dev = c.pfx.Bits(), c.dev
		}
	}
	if dev == "" {
		return "", "next hop " + w.via.String() + " is on no connected network of an enabled interface"
	}
	return dev, ""
}

func (p *planner) planSysctls() error {
	to := p.to
	if len(to.Interfaces) == 0 && !to.DefaultGateway.IsValid() && len(to.Routes) == 0 {
		return nil // nothing configured: mboxsh does not turn routing on
	}
	v, ok, err := p.d.readSysctl(ipForwardParts()...)
	if err != nil {
		return err
	}
	if !ok || v != "1" {
		p.add(phSysctl, fmt.Sprintf("ip forwarding disabled (net.ipv4.ip_forward=%s)", v), p.d.ipForwardStep())
	}
	return nil
}
