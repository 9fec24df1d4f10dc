package netlink

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// kstate is what Plan reads from the kernel: every link, every address and
// the main routing table. It is never modified once read: plans share the
// addresses and routes that stateCache keeps.
type kstate struct {
	links   []vnl.Link
	byName  map[string]vnl.Link
	byIndex map[int]vnl.Link
	addrs   map[int][]vnl.Addr // by link index, in kernel order
	routes  []vnl.Route        // main table, IPv4 and IPv6
}

func (d *Driver) readState() (*kstate, error) {
	if err := d.usable(); err != nil {
		return nil, err
	}
	links, err := d.readLinks()
	if err != nil {
		return nil, err
	}
	addrs, routes, err := d.readAddrsRoutes()
	if err != nil {
		return nil, err
	}
	return newKstate(links, addrs, routes), nil
}

func (d *Driver) readLinks() ([]vnl.Link, error) {
	return retryDump("interfaces", d.h.LinkList)
}

// readAddrsRoutes reads every address, by link index, and the main routing
// table: the bulk of the state, which stateCache keeps.
func (d *Driver) readAddrsRoutes() (map[int][]vnl.Addr, []vnl.Route, error) {
	d.cache.reads.Add(1)
	list, err := retryDump("addresses", func() ([]vnl.Addr, error) { return d.h.AddrList(nil, vnl.FAMILY_ALL) })
	if err != nil {
		return nil, nil, err
	}
	routes, err := d.mainRoutes()
	if err != nil {
		return nil, nil, err
	}
	addrs := make(map[int][]vnl.Addr)
	for _, a := range list {
		addrs[a.LinkIndex] = append(addrs[a.LinkIndex], a)
	}
	return addrs, routes, nil
}

func newKstate(links []vnl.Link, addrs map[int][]vnl.Addr, routes []vnl.Route) *kstate {
	st := &kstate{
		links:   links,
		byName:  make(map[string]vnl.Link, len(links)),
		byIndex: make(map[int]vnl.Link, len(links)),
		addrs:   addrs,
		routes:  routes,
	}
	for _, l := range links {
		st.byName[l.Attrs().Name] = l
		st.byIndex[l.Attrs().Index] = l
	}
	return st
}

// mainRoutes dumps the main routing table, both families.
func (d *Driver) mainRoutes() ([]vnl.Route, error) {
	return retryDump("routes", func() ([]vnl.Route, error) {
		return d.h.RouteListFiltered(vnl.FAMILY_ALL, &vnl.Route{Table: unix.RT_TABLE_MAIN}, vnl.RT_FILTER_TABLE)
	})
}

// routesVia returns the main-table routes whose output device is one of
// the links devs (by index).
func (d *Driver) routesVia(devs map[int]string) ([]vnl.Route, error) {
	if d.hs == nil || len(devs) > 4 {
		routes, err := d.mainRoutes()
		if err != nil {
			return nil, err
		}
		var out []vnl.Route
		for _, r := range routes {
			if _, ok := devs[r.LinkIndex]; ok {
				out = append(out, r)
			}
		}
		return out, nil
	}
	var out []vnl.Route
	for idx, name := range devs {
		routes, err := retryDump("routes via "+name, func() ([]vnl.Route, error) {
			return d.hs.RouteListFiltered(vnl.FAMILY_ALL, &vnl.Route{Table: unix.RT_TABLE_MAIN, LinkIndex: idx},
				vnl.RT_FILTER_TABLE|vnl.RT_FILTER_OIF)
		})
		if err != nil {
			return nil, err
		}
		out = append(out, routes...)
	}
	return out, nil
}

func (st *kstate) linkName(idx int) string {
	if l := st.byIndex[idx]; l != nil {
		return l.Attrs().Name
	}
	return ""
}

// managedAddrs returns the addresses of link l that mboxsh manages when the
// interface is configured: all permanent addresses except IPv6 link-local
// ones and, on the loopback, 127.0.0.0/8 and ::1.
func managedAddrs(l vnl.Link, all []vnl.Addr) []vnl.Addr {
	var out []vnl.Addr
	for _, a := range all {
		if isManagedAddr(l, a) {
			out = append(out, a)
		}
	}
	return out
}

func isManagedAddr(l vnl.Link, a vnl.Addr) bool {
	if !isRestorableAddr(a) {
		return false
	}
	if l != nil && l.Attrs().Flags&net.FlagLoopback != 0 && a.IP.IsLoopback() {
		return false
	}
	return true
}

// isRestorableAddr tells the addresses a step puts back when it is undone:
// the managed ones plus the loopback's own (the kernel adds 127.0.0.1/8 when
// lo comes up; undoing that must remove it again).
func isRestorableAddr(a vnl.Addr) bool {
	if a.IPNet == nil {
		return false
	}
	if a.Flags&unix.IFA_F_PERMANENT == 0 { // SLAAC, DHCP-with-lifetime: someone else's
		return false
	}
	return a.IP.To4() != nil || !a.IP.IsLinkLocalUnicast()
}

func restorableAddrs(all []vnl.Addr) []vnl.Addr {
	var out []vnl.Addr
	for _, a := range all {
		if isRestorableAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

// prefixOf is the interface address a as a netip.Prefix (host bits kept).
func prefixOf(a vnl.Addr) netip.Prefix {
	ip, _ := netip.AddrFromSlice(a.IP)
	ip = ip.Unmap()
	ones, _ := a.Mask.Size()
	return netip.PrefixFrom(ip, ones)
}

func ipNetOf(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func netIP(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

func addrOf(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// dstOf is the route destination as a prefix; nil means the default route.
func dstOf(r vnl.Route) netip.Prefix {
	if r.Dst == nil {
		if r.Family == unix.AF_INET6 {
			return netip.MustParsePrefix("::/0")
		}
		return netip.MustParsePrefix("0.0.0.0/0")
	}
	return prefixOf(vnl.Addr{IPNet: r.Dst}).Masked()
}

// addableAddr is a copy of a dumped address that can be sent back to the
// kernel: no lifetimes, no state flags.
func addableAddr(a vnl.Addr) *vnl.Addr {
	c := a
	c.Flags &= unix.IFA_F_NOPREFIXROUTE | unix.IFA_F_NODAD | unix.IFA_F_MANAGETEMPADDR | unix.IFA_F_HOMEADDRESS | unix.IFA_F_MCAUTOJOIN
	c.ValidLft, c.PreferedLft = 0, 0
	if c.IP.To4() != nil && c.Broadcast == nil {
		c.Broadcast = net.IPv4zero // keep "no broadcast" instead of letting the library compute one
	}
	return &c
}

// sendableRoute is a copy of a dumped route that can be sent back: the
// kernel refuses the state flags dead and linkdown.
func sendableRoute(r vnl.Route) *vnl.Route {
	c := r
	c.Flags &^= unix.RTNH_F_DEAD | unix.RTNH_F_LINKDOWN
	if len(r.MultiPath) > 0 {
		c.MultiPath = make([]*vnl.NexthopInfo, len(r.MultiPath))
		for i, nh := range r.MultiPath {
			n := *nh
			n.Flags &^= unix.RTNH_F_DEAD | unix.RTNH_F_LINKDOWN
			c.MultiPath[i] = &n
		}
	}
	return &c
}

// routeID identifies a kernel route for comparison.
func routeID(r vnl.Route) string {
	s := fmt.Sprintf("%s gw=%s dev=%d metric=%d proto=%d scope=%d type=%d tos=%d src=%s",
		dstOf(r), r.Gw, r.LinkIndex, r.Priority, r.Protocol, r.Scope, r.Type, r.Tos, r.Src)
	for _, nh := range r.MultiPath {
		s += fmt.Sprintf(" nh(gw=%s dev=%d w=%d)", nh.Gw, nh.LinkIndex, nh.Hops)
	}
	return s
}

// restorableProtocol tells the routes a step restores when it had removed
// them as a side effect (an address or admin state change flushes the
// routes through the link). Routes of routing daemons are left to the
// daemons, which reinstall them; kernel routes come back by themselves.
func restorableProtocol(p vnl.RouteProtocol) bool {
	switch p {
	case RouteProtocol, unix.RTPROT_BOOT, unix.RTPROT_STATIC, unix.RTPROT_DHCP:
		return true
	}
	return false
}

// linkSnap is the state of one link that a step may change: enough to put
// it back exactly, including recreating a deleted tunnel, VLAN or bridge.
type linkSnap struct {
	name     string
	exists   bool
	link     vnl.Link
	master   string      // name of the master, "" = none
	parent   string      // VLAN parent name
	addrs    []vnl.Addr  // restorable addresses, kernel order
	routes   []snapRoute // restorable routes through the link and its VLANs
	members  []string    // bridge ports
	children []childSnap // VLANs on the link: the kernel takes them down with it
	rp       string      // rp_filter; "" = not recorded
}

// snapRoute is a route with the name of its link: a link recreated meanwhile
// has a new index.
type snapRoute struct {
	r   vnl.Route
	dev string
}

type childSnap struct {
	name string
	mtu  int
	up   bool
}

func recreatable(l vnl.Link) bool {
	switch l.(type) {
	case *vnl.Gretun, *vnl.Vlan, *vnl.Bridge:
		return true
	}
	return false
}

// linkOnly is the part of a snapshot that the steps on a link read: the
// link itself and the name of its bridge.
func (d *Driver) linkOnly(name string) (*linkSnap, error) {
	if err := d.usable(); err != nil {
		return nil, err
	}
	s := &linkSnap{name: name}
	l, err := d.linkByName(name)
	if err != nil || l == nil {
		return s, err
	}
	s.exists, s.link = true, l
	if mi := l.Attrs().MasterIndex; mi != 0 {
		m, err := d.linkByIndex(mi)
		if err != nil {
			return nil, err
		}
		if m != nil {
			s.master = m.Attrs().Name
		}
	}
	return s, nil
}

func (d *Driver) snapshot(name string) (*linkSnap, error) {
	s, err := d.linkOnly(name)
	if err != nil || !s.exists {
		return s, err
	}
	l := s.link
	a := l.Attrs()
	if v, ok := l.(*vnl.Vlan); ok && v.ParentIndex != 0 {
		p, err := d.linkByIndex(v.ParentIndex)
		if err != nil {
			return nil, err
		}
		if p != nil {
			s.parent = p.Attrs().Name
		}
	}
	addrs, err := retryDump("addresses of "+name, func() ([]vnl.Addr, error) { return d.h.AddrList(l, vnl.FAMILY_ALL) })
	if err != nil {
		return nil, err
	}
	s.addrs = restorableAddrs(addrs)
	devs := map[int]string{a.Index: name}
	// A GRE tunnel has neither ports nor VLANs on it: no need to read
	// every link (a hundred tunnels would read a hundred links each).
	if _, gre := l.(*vnl.Gretun); !gre {
		links, err := retryDump("interfaces", d.h.LinkList)
		if err != nil {
			return nil, err
		}
		for _, m := range links {
			ma := m.Attrs()
			if ma.MasterIndex == a.Index {
				s.members = append(s.members, ma.Name)
			}
			if _, ok := m.(*vnl.Vlan); ok && ma.ParentIndex == a.Index {
				s.children = append(s.children, childSnap{name: ma.Name, mtu: ma.MTU, up: ma.Flags&net.FlagUp != 0})
				devs[ma.Index] = ma.Name
			}
		}
	}
	routes, err := d.routesVia(devs)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if dev, ok := devs[r.LinkIndex]; ok && len(r.MultiPath) == 0 && restorableProtocol(r.Protocol) {
			s.routes = append(s.routes, snapRoute{r, dev})
		}
	}
	if recreatable(l) {
		if v, ok, err := d.readSysctl(rpFilterParts(name)...); err != nil {
			return nil, err
		} else if ok {
			s.rp = v
		}
	}
	return s, nil
}

// restore puts the link back into the state of the snapshot. It goes on
// after an error and reports all of them.
func (d *Driver) restore(s *linkSnap) error {
	if err := d.usable(); err != nil {
		return err
	}
	cur, err := d.linkByName(s.name)
	if err != nil {
		return err
	}
	if !s.exists {
		if cur != nil {
			if err := d.h.LinkDel(cur); err != nil {
				return fmt.Errorf("deleting %s: %w", s.name, explain(err))
			}
		}
		delete(d.created, s.name)
		return nil
	}
	var errs []error
	fail := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", what, s.name, explain(err)))
		}
	}

	if cur != nil && mustRecreate(cur, s) {
		if err := d.h.LinkDel(cur); err != nil {
			return fmt.Errorf("deleting %s to recreate it: %w", s.name, explain(err))
		}
		cur = nil
	}
	if cur == nil {
		nl, err := d.newLinkLike(s)
		if err != nil {
			return err
		}
		if err := d.h.LinkAdd(nl); err != nil {
			return fmt.Errorf("recreating %s: %w", s.name, explain(err))
		}
		if cur, err = d.linkByName(s.name); err != nil || cur == nil {
			return errors.Join(fmt.Errorf("recreated %s vanished", s.name), err)
		}
	} else if g, ok := s.link.(*vnl.Gretun); ok && !sameGRE(cur.(*vnl.Gretun), g) {
		m := greLike(g)
		m.MTU = cur.Attrs().MTU // an MTU-less change would recompute it
		fail("restoring tunnel parameters of", d.h.LinkModify(m))
	}
	want := s.link.Attrs()
	ca := cur.Attrs()

	curMaster := ""
	if ca.MasterIndex != 0 {
		if m, _ := d.linkByIndex(ca.MasterIndex); m != nil {
			curMaster = m.Attrs().Name
		}
	}
	if curMaster != s.master {
		if s.master == "" {
			fail("detaching", d.h.LinkSetNoMaster(cur))
		} else if m, err := d.linkByName(s.master); err != nil || m == nil {
			fail("re-attaching", errors.Join(fmt.Errorf("master %s not found", s.master), err))
		} else {
			fail("re-attaching", d.h.LinkSetMaster(cur, m))
		}
	}
	if ca.MTU != want.MTU {
		fail("restoring the MTU of", d.h.LinkSetMTU(cur, want.MTU))
	}
	if ca.Alias != want.Alias {
		fail("restoring the description of", d.h.LinkSetAlias(cur, want.Alias))
	}
	for _, m := range s.members {
		ml, err := d.linkByName(m)
		if err != nil || ml == nil || ml.Attrs().MasterIndex == ca.Index {
			continue
		}
		fail("re-attaching "+m+" to", d.h.LinkSetMaster(ml, cur))
	}
	wantUp := want.Flags&net.FlagUp != 0
	if curUp := ca.Flags&net.FlagUp != 0; curUp != wantUp {
		if wantUp {
			fail("bringing up", d.h.LinkSetUp(cur))
		} else {
			fail("shutting down", d.h.LinkSetDown(cur))
		}
	}
	fail("restoring the addresses of", d.restoreAddrs(cur, s.addrs))
	for _, c := range s.children {
		cl, err := d.linkByName(c.name)
		if err != nil || cl == nil {
			continue
		}
		if cl.Attrs().MTU != c.mtu {
			fail("restoring the MTU of VLAN "+c.name+" on", d.h.LinkSetMTU(cl, c.mtu))
		}
		if up := cl.Attrs().Flags&net.FlagUp != 0; up != c.up {
			if c.up {
				fail("bringing up VLAN "+c.name+" on", d.h.LinkSetUp(cl))
			} else {
				fail("shutting down VLAN "+c.name+" on", d.h.LinkSetDown(cl))
			}
		}
	}
	fail("restoring the routes through", d.restoreRoutes(s.routes))
	if s.rp != "" {
		if v, ok, err := d.readSysctl(rpFilterParts(s.name)...); err != nil {
			errs = append(errs, err)
		} else if ok && v != s.rp {
			errs = append(errs, d.writeSysctl(s.rp, rpFilterParts(s.name)...))
		}
	}
	return errors.Join(errs...)
}

// mustRecreate tells whether the existing link cannot be changed into the
// snapshot's in place.
func mustRecreate(cur vnl.Link, s *linkSnap) bool {
	if cur.Type() != s.link.Type() {
		return true
	}
	switch w := s.link.(type) {
	case *vnl.Vlan:
		c := cur.(*vnl.Vlan)
		return c.VlanId != w.VlanId || c.VlanProtocol != w.VlanProtocol || c.ParentIndex != w.ParentIndex
	case *vnl.Gretun:
		// The kernel refuses to turn a point-to-point tunnel into a
		// multipoint one (remote any) and back in place.
		return greRemoteSet(cur.(*vnl.Gretun).Remote) != greRemoteSet(w.Remote)
	}
	return false
}

func greRemoteSet(ip net.IP) bool { return ip != nil && !ip.IsUnspecified() }

func sameGRE(a, b *vnl.Gretun) bool {
	return a.Local.Equal(b.Local) && sameOptIP(a.Remote, b.Remote) && a.Ttl == b.Ttl && a.Tos == b.Tos &&
		a.PMtuDisc == b.PMtuDisc && a.IKey == b.IKey && a.OKey == b.OKey && a.Link == b.Link
}

func sameOptIP(a, b net.IP) bool {
	if !greRemoteSet(a) || !greRemoteSet(b) {
		return greRemoteSet(a) == greRemoteSet(b)
	}
	return a.Equal(b)
}

// greLike is a GRE link with the parameters of g, for LinkAdd/LinkModify.
func greLike(g *vnl.Gretun) *vnl.Gretun {
	la := vnl.NewLinkAttrs()
	la.Name = g.Name
	return &vnl.Gretun{
		LinkAttrs: la, Link: g.Link, IKey: g.IKey, OKey: g.OKey,
		Local: g.Local, Remote: remoteOrAny(g.Remote), Ttl: g.Ttl, Tos: g.Tos, PMtuDisc: g.PMtuDisc,
		EncapType: g.EncapType, EncapFlags: g.EncapFlags, EncapSport: g.EncapSport, EncapDport: g.EncapDport,
	}
}

func remoteOrAny(ip net.IP) net.IP {
	if ip == nil {
		return net.IPv4zero.To4()
	}
	return ip
}

// newLinkLike builds a link to recreate the snapshot's.
func (d *Driver) newLinkLike(s *linkSnap) (vnl.Link, error) {
	la := vnl.NewLinkAttrs()
	la.Name = s.name
	switch w := s.link.(type) {
	case *vnl.Gretun:
		return greLike(w), nil
	case *vnl.Vlan:
		p, err := d.linkByName(s.parent)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, fmt.Errorf("cannot recreate %s: parent %q not present", s.name, s.parent)
		}
		la.ParentIndex = p.Attrs().Index
		return &vnl.Vlan{LinkAttrs: la, VlanId: w.VlanId, VlanProtocol: w.VlanProtocol}, nil
	case *vnl.Bridge:
		// Only options that differ from a new bridge's: a kernel without
		// VLAN filtering refuses even the default PVID.
		b := &vnl.Bridge{LinkAttrs: la}
		if w.MulticastSnooping != nil && !*w.MulticastSnooping {
			b.MulticastSnooping = w.MulticastSnooping
		}
		if w.AgeingTime != nil && *w.AgeingTime != 30000 {
			b.AgeingTime = w.AgeingTime
		}
		if w.HelloTime != nil && *w.HelloTime != 200 {
			b.HelloTime = w.HelloTime
		}
		if w.VlanFiltering != nil && *w.VlanFiltering {
			b.VlanFiltering = w.VlanFiltering
		}
		if w.VlanDefaultPVID != nil && *w.VlanDefaultPVID != 1 {
			b.VlanDefaultPVID = w.VlanDefaultPVID
		}
		if w.GroupFwdMask != nil && *w.GroupFwdMask != 0 {
			b.GroupFwdMask = w.GroupFwdMask
		}
		return b, nil
	}
	return nil, fmt.Errorf("cannot recreate %s: mboxsh does not create %s links", s.name, s.link.Type())
}

func addrKey(a vnl.Addr) string { return prefixOf(a).String() }

func isSecondary(a vnl.Addr) bool { return a.Flags&unix.IFA_F_SECONDARY != 0 }

// restoreAddrs makes the restorable addresses of l equal to want, with the
// same primary address in every IPv4 subnet.
func (d *Driver) restoreAddrs(l vnl.Link, want []vnl.Addr) error {
	read := func() ([]vnl.Addr, error) {
		all, err := retryDump("addresses of "+l.Attrs().Name, func() ([]vnl.Addr, error) { return d.h.AddrList(l, vnl.FAMILY_ALL) })
		return restorableAddrs(all), err
	}
	wantSet := map[string]bool{}
	for _, a := range want {
		wantSet[addrKey(a)] = true
	}
	cur, err := read()
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range cur {
		if !wantSet[addrKey(a)] {
			if err := d.h.AddrDel(l, addableAddr(a)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				errs = append(errs, fmt.Errorf("removing %s: %w", addrKey(a), explain(err)))
			}
		}
	}
	// The primary address of an IPv4 subnet is the first one added; if it
	// differs from the snapshot's, remove the subnet's addresses and add
	// them again in order.
	if cur, err = read(); err != nil {
		return err
	}
	subnet := func(a vnl.Addr) string { return prefixOf(a).Masked().String() }
	primary := func(list []vnl.Addr, net string) string {
		for _, a := range list {
			if a.IP.To4() != nil && subnet(a) == net && !isSecondary(a) {
				return addrKey(a)
			}
		}
		return ""
	}
	for _, a := range cur {
		if a.IP.To4() == nil {
			continue
		}
		n := subnet(a)
		if p := primary(cur, n); p != "" && p != primary(want, n) && primary(want, n) != "" {
			for _, b := range cur {
				if subnet(b) == n {
					if err := d.h.AddrDel(l, addableAddr(b)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
						errs = append(errs, fmt.Errorf("removing %s: %w", addrKey(b), explain(err)))
					}
				}
			}
			if cur, err = read(); err != nil {
				return err
			}
		}
	}
	have := map[string]bool{}
	for _, a := range cur {
		have[addrKey(a)] = true
	}
	for _, a := range want {
		if !have[addrKey(a)] {
			if err := d.h.AddrAdd(l, addableAddr(a)); err != nil && !errors.Is(err, unix.EEXIST) {
				errs = append(errs, fmt.Errorf("adding %s: %w", addrKey(a), explain(err)))
			}
		}
	}
	return errors.Join(errs...)
}

// restoreRoutes re-adds the routes of a snapshot that the kernel lost.
func (d *Driver) restoreRoutes(want []snapRoute) error {
	if len(want) == 0 {
		return nil
	}
	routes, err := d.mainRoutes()
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, r := range routes {
		have[routeID(r)] = true
	}
	var errs []error
	for _, sr := range want {
		l, err := d.linkByName(sr.dev)
		if err != nil || l == nil {
			errs = append(errs, errors.Join(fmt.Errorf("route %s: interface %s is not present", dstOf(sr.r), sr.dev), err))
			continue
		}
		r := sr.r
		r.LinkIndex = l.Attrs().Index
		if have[routeID(r)] {
			continue
		}
		if err := d.h.RouteAppend(sendableRoute(r)); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("route %s: %w", dstOf(r), explain(err)))
		}
	}
	return errors.Join(errs...)
}
