package netlink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"mboxsh/config"
	"mboxsh/runtime"
)

const driverName = "netlink"

// linkStep is a step on one link. Do takes a snapshot of the link (with its
// addresses, routes, ports and rp_filter), then runs op; Undo puts the
// snapshot back. If op fails, Do restores the snapshot itself, so a failed
// step leaves nothing behind. With mustExist the link must be there.
func (d *Driver) linkStep(stmt, desc, name string, mustExist bool, op func(s *linkSnap) error) *runtime.Step {
	var done *linkSnap
	return &runtime.Step{
		Driver: driverName, Stmt: stmt, Desc: desc,
		Do: func(context.Context) error {
			done = nil
			if d.created[name] {
				// Created by this transaction: whatever op does is
				// undone with the link, by the step that created it.
				s, err := d.linkOnly(name)
				if err != nil {
					return err
				}
				if !s.exists {
					return &KernelError{Msg: "interface " + name + " is not present", Err: unix.ENODEV}
				}
				return op(s)
			}
			s, err := d.snapshot(name)
			if err != nil {
				return err
			}
			if mustExist && !s.exists {
				return &KernelError{Msg: "interface " + name + " is not present", Err: unix.ENODEV}
			}
			if err := op(s); err != nil {
				if rerr := d.restore(s); rerr != nil {
					return errors.Join(err, fmt.Errorf("and putting %s back failed: %w", name, rerr))
				}
				return err
			}
			done = s
			return nil
		},
		Undo: func(context.Context) error {
			if done == nil {
				return nil
			}
			s := done
			done = nil
			return d.restore(s)
		},
	}
}

func kindText(kind string) string {
	switch kind {
	case "gre":
		return "GRE tunnel"
	case "vlan":
		return "VLAN"
	case "bridge":
		return "bridge"
	}
	return kind + " link"
}

func (d *Driver) linkDeleteStep(stmt, name, kind string) *runtime.Step {
	return d.linkStep(stmt, fmt.Sprintf("delete %s %s", kindText(kind), name), name, false, func(s *linkSnap) error {
		if !s.exists {
			return nil
		}
		return explain(d.h.LinkDel(s.link))
	})
}

var createErrors = map[syscall.Errno]string{
	unix.EOPNOTSUPP: "operation not supported by this kernel",
	unix.EEXIST:     "an interface with that name already exists",
}

func (d *Driver) createLink(s *linkSnap, what string, l vnl.Link) error {
	if s.exists {
		return &KernelError{Msg: "an interface named " + s.name + " already exists", Err: unix.EEXIST}
	}
	if err := d.h.LinkAdd(l); err != nil {
		return explainAs(err, createErrors)
	}
	if d.created != nil {
		d.created[s.name] = true
	}
	return nil
}

func greWanted(i *config.Interface) *vnl.Gretun {
	la := vnl.NewLinkAttrs()
	la.Name = i.Name
	return &vnl.Gretun{
		LinkAttrs: la,
		Local:     netIP(i.TunnelLocal),
		Remote:    remoteOrAny(netIP(i.TunnelRemote)),
		Ttl:       greTTL,
		PMtuDisc:  grePMTUDisc,
	}
}

func greText(i *config.Interface) string {
	return fmt.Sprintf("local %s remote %s, ttl %d", i.TunnelLocal, remoteText(netIP(i.TunnelRemote)), greTTL)
}

func (d *Driver) greCreateStep(stmt string, i *config.Interface) *runtime.Step {
	return d.linkStep(stmt, "create GRE tunnel "+greText(i), i.Name, false, func(s *linkSnap) error {
		return d.createLink(s, "GRE tunnel", greWanted(i))
	})
}

// greModifyStep changes the endpoints of an existing tunnel in place
// (RTM_NEWLINK without NLM_F_CREATE): the link keeps its index, addresses
// and routes, and no other link is touched.
func (d *Driver) greModifyStep(stmt string, i *config.Interface) *runtime.Step {
	return d.linkStep(stmt, "change GRE tunnel to "+greText(i), i.Name, true, func(s *linkSnap) error {
		if _, ok := s.link.(*vnl.Gretun); !ok {
			return fmt.Errorf("%s is a %s link, not a GRE tunnel", i.Name, s.link.Type())
		}
		g := greWanted(i)
		// Without IFLA_MTU the kernel recomputes the tunnel MTU; keep it.
		g.MTU = s.link.Attrs().MTU
		return explain(d.h.LinkModify(g))
	})
}

func (d *Driver) vlanCreateStep(stmt string, i *config.Interface) *runtime.Step {
	return d.linkStep(stmt, fmt.Sprintf("create VLAN %d on %s", i.VLANID, i.VLANParent), i.Name, false, func(s *linkSnap) error {
		par, err := d.linkByName(i.VLANParent)
		if err != nil {
			return err
		}
		if par == nil {
			return &KernelError{Msg: "parent interface " + i.VLANParent + " is not present", Err: unix.ENODEV}
		}
		la := vnl.NewLinkAttrs()
		la.Name = i.Name
		la.ParentIndex = par.Attrs().Index
		return d.createLink(s, "VLAN", &vnl.Vlan{LinkAttrs: la, VlanId: i.VLANID, VlanProtocol: vnl.VLAN_PROTOCOL_8021Q})
	})
}

func (d *Driver) bridgeCreateStep(stmt, name string) *runtime.Step {
	return d.linkStep(stmt, "create bridge "+name, name, false, func(s *linkSnap) error {
		la := vnl.NewLinkAttrs()
		la.Name = name
		return d.createLink(s, "bridge", &vnl.Bridge{LinkAttrs: la})
	})
}

func (d *Driver) masterStep(stmt, name, master string) *runtime.Step {
	desc := "detach from its bridge"
	if master != "" {
		desc = "attach to bridge " + master
	}
	return d.linkStep(stmt, desc, name, true, func(s *linkSnap) error {
		if s.master == master {
			return nil
		}
		if master == "" {
			return explain(d.h.LinkSetNoMaster(s.link))
		}
		m, err := d.linkByName(master)
		if err != nil {
			return err
		}
		if m == nil {
			return &KernelError{Msg: "bridge " + master + " is not present", Err: unix.ENODEV}
		}
		return explainAs(d.h.LinkSetMaster(s.link, m), map[syscall.Errno]string{
			unix.EBUSY:  "the interface is already a port of another device",
			unix.ELOOP:  "that would put the bridge inside itself",
			unix.EINVAL: "the kernel refuses this interface as a bridge port",
		})
	})
}

func (d *Driver) mtuStep(stmt, name string, mtu int) *runtime.Step {
	return d.linkStep(stmt, fmt.Sprintf("set mtu %d", mtu), name, true, func(s *linkSnap) error {
		if s.link.Attrs().MTU == mtu {
			return nil
		}
		return explainAs(d.h.LinkSetMTU(s.link, mtu), map[syscall.Errno]string{
			unix.EINVAL: fmt.Sprintf("MTU %d is out of range for this device", mtu),
			unix.ERANGE: fmt.Sprintf("MTU %d is out of range for this device", mtu),
		})
	})
}

func (d *Driver) aliasStep(stmt, name, alias string) *runtime.Step {
	desc := "clear description"
	if alias != "" {
		desc = fmt.Sprintf("set description %q", alias)
	}
	return d.linkStep(stmt, desc, name, true, func(s *linkSnap) error {
		if s.link.Attrs().Alias == alias {
			return nil
		}
		return explain(d.h.LinkSetAlias(s.link, alias))
	})
}

func (d *Driver) upStep(stmt, name string, up bool) *runtime.Step {
	desc := "shut down (admin down)"
	if up {
		desc = "enable (admin up)"
	}
	return d.linkStep(stmt, desc, name, true, func(s *linkSnap) error {
		if (s.link.Attrs().Flags&net.FlagUp != 0) == up {
			return nil
		}
		if up {
			return explain(d.h.LinkSetUp(s.link))
		}
		return explain(d.h.LinkSetDown(s.link))
	})
}

// rpFilterStep sets loose reverse-path filtering on a tunnel: traffic that
// arrives through a tunnel from networks routed elsewhere (asymmetric
// routing across redundant tunnels) must not be dropped.
func (d *Driver) rpFilterStep(stmt, name string) *runtime.Step {
	return d.linkStep(stmt, "set rp_filter="+rpFilterLoose+" (loose) for tunnelled traffic", name, true, func(s *linkSnap) error {
		if s.rp == rpFilterLoose {
			return nil
		}
		if s.rp == "" { // not recorded by the snapshot: record it here
			v, _, err := d.readSysctl(rpFilterParts(name)...)
			if err != nil {
				return err
			}
			s.rp = v
		}
		return d.writeSysctl(rpFilterLoose, rpFilterParts(name)...)
	})
}

func (d *Driver) addrAddStep(stmt, name string, pfx netip.Prefix) *runtime.Step {
	return d.linkStep(stmt, "add address "+pfx.String(), name, true, func(s *linkSnap) error {
		for _, a := range s.addrs {
			if prefixOf(a) == pfx {
				return nil
			}
		}
		err := d.h.AddrAdd(s.link, &vnl.Addr{IPNet: ipNetOf(pfx)})
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		return explainAs(err, map[syscall.Errno]string{
			unix.EINVAL: "the kernel rejected address " + pfx.String() + " as invalid",
		})
	})
}

// addrDelStep removes one address. Removing the primary address of an IPv4
// subnet also removes its secondaries; those are put back at once.
func (d *Driver) addrDelStep(stmt, name string, a vnl.Addr) *runtime.Step {
	key := addrKey(a)
	return d.linkStep(stmt, "remove address "+key, name, true, func(s *linkSnap) error {
		var keep []vnl.Addr
		found := false
		for _, b := range s.addrs {
			if addrKey(b) == key {
				found = true
				if err := d.h.AddrDel(s.link, addableAddr(b)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
					return explain(err)
				}
			} else {
				keep = append(keep, b)
			}
		}
		if !found {
			return nil
		}
		return d.restoreAddrs(s.link, keep)
	})
}

var routeErrors = map[syscall.Errno]string{
	unix.ENETUNREACH: "the next hop is not reachable: no enabled interface has an address in its network",
	unix.ENETDOWN:    "the interface of the next hop is down",
	unix.ENODEV:      "the interface is not present",
	unix.EINVAL:      "the kernel rejected the route as invalid",
}

func (w wantRoute) kernelRoute(d *Driver) (*vnl.Route, error) {
	r := &vnl.Route{
		Dst:      ipNetOf(w.dst),
		Priority: w.metric,
		Protocol: RouteProtocol,
		Table:    unix.RT_TABLE_MAIN,
		Type:     unix.RTN_UNICAST,
	}
	if w.dev != "" {
		l, err := d.linkByName(w.dev)
		if err != nil {
			return nil, err
		}
		if l == nil {
			return nil, &KernelError{Msg: "interface " + w.dev + " is not present", Err: unix.ENODEV}
		}
		r.LinkIndex = l.Attrs().Index
		r.Scope = vnl.SCOPE_LINK
	} else {
		r.Gw = netIP(w.via)
		r.Scope = vnl.SCOPE_UNIVERSE
	}
	return r, nil
}

func (d *Driver) routeAddStep(w wantRoute) *runtime.Step {
	var added *vnl.Route
	desc := w.desc()
	return &runtime.Step{
		Driver: driverName, Stmt: w.stmt(), Desc: "install route " + desc,
		Do: func(context.Context) error {
			added = nil
			if err := d.usable(); err != nil {
				return err
			}
			r, err := w.kernelRoute(d)
			if err != nil {
				return err
			}
			// Append, not replace: a route of someone else to the same
			// destination and metric is left alone.
			err = d.h.RouteAppend(r)
			if errors.Is(err, unix.EEXIST) {
				return nil // already there (the step re-asserts it)
			}
			if err != nil {
				return explainAs(err, routeErrors)
			}
			added = r
			return nil
		},
		Undo: func(context.Context) error {
			if added == nil {
				return nil
			}
			r := added
			added = nil
			if err := d.usable(); err != nil {
				return err
			}
			if err := d.h.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("removing route %s: %w", desc, explain(err))
			}
			return nil
		},
	}
}

// routeDelStep removes one of mboxsh's routes. Undo adds it back through the
// link of the same name: a link deleted and recreated meanwhile (undo of a
// later step) has a new index.
func (d *Driver) routeDelStep(stmt, desc string, r vnl.Route, dev string, nhDevs []string) *runtime.Step {
	removed := false
	relink := func() (*vnl.Route, error) {
		c := sendableRoute(r)
		if dev != "" {
			l, err := d.linkByName(dev)
			if err != nil {
				return nil, err
			}
			if l == nil {
				return nil, &KernelError{Msg: "interface " + dev + " is not present", Err: unix.ENODEV}
			}
			c.LinkIndex = l.Attrs().Index
		}
		for k, nh := range c.MultiPath {
			if k < len(nhDevs) && nhDevs[k] != "" {
				if l, err := d.linkByName(nhDevs[k]); err == nil && l != nil {
					nh.LinkIndex = l.Attrs().Index
				}
			}
		}
		return c, nil
	}
	return &runtime.Step{
		Driver: driverName, Stmt: stmt, Desc: "remove route " + desc,
		Do: func(context.Context) error {
			removed = false
			if err := d.usable(); err != nil {
				return err
			}
			err := d.h.RouteDel(sendableRoute(r))
			if errors.Is(err, unix.ESRCH) {
				return nil
			}
			if err != nil {
				return explain(err)
			}
			removed = true
			return nil
		},
		Undo: func(context.Context) error {
			if !removed {
				return nil
			}
			removed = false
			if err := d.usable(); err != nil {
				return err
			}
			c, err := relink()
			if err == nil {
				err = d.h.RouteAppend(c)
			}
			if err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("re-adding route %s: %w", desc, explainAs(err, routeErrors))
			}
			return nil
		},
	}
}

func (d *Driver) ipForwardStep() *runtime.Step {
	old := ""
	return &runtime.Step{
		Driver: driverName, Stmt: "(router) ip forwarding", Desc: "enable IPv4 forwarding (net.ipv4.ip_forward=1)",
		Do: func(context.Context) error {
			old = ""
			v, _, err := d.readSysctl(ipForwardParts()...)
			if err != nil {
				return err
			}
			if v == "1" {
				return nil
			}
			if err := d.writeSysctl("1", ipForwardParts()...); err != nil {
				return err
			}
			old = v
			return nil
		},
		Undo: func(context.Context) error {
			if old == "" {
				return nil
			}
			v := old
			old = ""
			return d.writeSysctl(v, ipForwardParts()...)
		},
	}
}
