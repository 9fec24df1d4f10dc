package frr

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"mboxsh/config"
)

// This file holds the pure part of the driver: FRR's OSPF configuration as
// blocks of lines, the lines mboxsh wants from a config.Config, the line
// diff between the two, and the validation of every line sent to vtysh.
//
// mboxsh manages these lines and leaves every other line alone:
//
//	router ospf                          interface IF
//	 ospf router-id A.B.C.D               ip ospf cost N
//	 network A.B.C.D/M area N             ip ospf hello-interval N
//	 default-information originate [..]   ip ospf dead-interval N
//	 redistribute connected [..]          ip ospf network TYPE
//	 redistribute kernel [..]             ip ospf passive
//
// Mapping from the mboxsh grammar:
//   - `passive-interface IF` is FRR's per-interface `ip ospf passive` (FRR 8
//     deprecates the router-level form and prints it per interface).
//   - `redistribute static` is FRR's `redistribute kernel`: mboxsh's static
//     routes are installed into the kernel by the netlink driver, and zebra
//     sees every route it did not install itself as a kernel route. FRR's own
//     `redistribute static` (staticd routes) is not managed.
//   - `ip ospf hello-interval 10` is FRR's default, which FRR never prints;
//     it is therefore the same as no hello-interval statement.

const routerHeader = "router ospf"

// block is one stanza of FRR's running configuration.
type block struct {
	Present bool
	Lines   []string // body lines, trimmed, in FRR's order
}

// ospfState is the OSPF part of FRR's running configuration.
type ospfState struct {
	Router block
	Ifaces map[string]block // interface blocks by name
}

func (s *ospfState) iface(name string) block {
	if s == nil || s.Ifaces == nil {
		return block{}
	}
	return s.Ifaces[name]
}

// parseRunning reads `show running-config` output (of ospfd, or of all
// daemons) and returns the plain `router ospf` block and the interface
// blocks of the default VRF. Other blocks are ignored.
func parseRunning(text string) *ospfState {
	st := &ospfState{Ifaces: map[string]block{}}
	var cur *block
	var curIface string
	flush := func() {
		if cur != nil && curIface != "" {
			st.Ifaces[curIface] = *cur
		}
		cur, curIface = nil, ""
	}
	for _, raw := range strings.Split(text, "\n") {
		line := strings.TrimRight(raw, " \t\r")
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur != nil {
				if t := strings.TrimSpace(line); t != "" && t != "exit" && t != "!" {
					cur.Lines = append(cur.Lines, strings.Join(strings.Fields(t), " "))
				}
			}
			continue
		}
		flush()
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "router" && f[1] == "ospf":
			st.Router = block{Present: true}
			cur = &st.Router
		case len(f) == 2 && f[0] == "interface":
			// "interface X vrf V" has more words and is not ours.
			curIface = f[1]
			cur = &block{Present: true}
		default:
			// "!", "exit", "end", other daemons' or other VRFs' blocks.
		}
	}
	flush()
	return st
}

// item is one managed line.
type item struct {
	key   string // lines with the same key replace each other
	canon string // canonical form, for comparison
	text  string // the line as FRR printed it or as generated
	// set: a new line with the same key overrides the old one in FRR, no
	// `no` first. Otherwise the old line is removed first.
	set bool
}

// classify returns the managed item for a body line of the given block kind
// (router or interface), or ok=false for a line mboxsh does not manage.
func classify(router bool, line string) (it item, ok bool) {
	f := strings.Fields(line)
	it.text = strings.Join(f, " ")
	if router {
		switch {
		case len(f) == 3 && f[0] == "ospf" && f[1] == "router-id":
			a, err := netip.ParseAddr(f[2])
			if err != nil {
				return it, false
			}
			it.key, it.canon, it.set = "router-id", "ospf router-id "+a.String(), true
			return it, true
		case len(f) == 4 && f[0] == "network" && f[2] == "area":
			p, err := netip.ParsePrefix(f[1])
			if err != nil {
				return it, false
			}
			area, err := parseArea(f[3])
			if err != nil {
				return it, false
			}
			p = p.Masked()
			it.key = "network " + p.String()
			it.canon = fmt.Sprintf("network %s area %d", p, area)
			return it, true
		case len(f) >= 2 && f[0] == "default-information" && f[1] == "originate":
			it.key, it.canon = "default-information", it.text
			return it, true
		case len(f) >= 2 && f[0] == "redistribute" && (f[1] == "connected" || f[1] == "kernel"):
			it.key, it.canon = "redistribute "+f[1], it.text
			return it, true
		}
		return it, false
	}
	if len(f) < 3 || f[0] != "ip" || f[1] != "ospf" {
		return it, false
	}
	switch {
	case len(f) == 3 && f[2] == "passive":
		it.key, it.canon = "passive", it.text
		return it, true
	case len(f) == 4 && (f[2] == "cost" || f[2] == "hello-interval" || f[2] == "dead-interval"):
		n, err := strconv.Atoi(f[3])
		if err != nil {
			return it, false
		}
		it.key, it.canon, it.set = f[2], fmt.Sprintf("ip ospf %s %d", f[2], n), true
		return it, true
	case len(f) == 4 && f[2] == "network":
		it.key, it.canon, it.set = "network", it.text, true
		return it, true
	}
	return it, false
}

// parseArea reads an OSPF area as a decimal number or a dotted quad.
func parseArea(s string) (uint32, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		b := a.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad area %q", s)
	}
	return uint32(n), nil
}

// managed returns the managed items of a block's lines, in order.
func managed(router bool, lines []string) []item {
	var out []item
	for _, l := range lines {
		if it, ok := classify(router, l); ok {
			out = append(out, it)
		}
	}
	return out
}

// unmanaged returns the lines of a block that mboxsh does not manage.
func unmanaged(router bool, lines []string) []string {
	var out []string
	for _, l := range lines {
		if _, ok := classify(router, l); !ok {
			out = append(out, l)
		}
	}
	return out
}

// diffItems returns the body lines that turn the managed lines `cur` into
// `want`: removals first (in FRR's order), then additions (in want's order).
func diffItems(cur, want []item) []string {
	wantByKey := map[string]item{}
	for _, w := range want {
		wantByKey[w.key] = w
	}
	curByKey := map[string]item{}
	var out []string
	for _, c := range cur {
		curByKey[c.key] = c
		w, ok := wantByKey[c.key]
		switch {
		case ok && w.canon == c.canon:
		case ok && w.set:
			// overridden by the addition below
		default:
			out = append(out, "no "+c.text)
		}
	}
	for _, w := range want {
		if c, ok := curByKey[w.key]; ok && c.canon == w.canon {
			continue
		}
		out = append(out, w.text)
	}
	return out
}

// transition returns the configuration commands (to run after `configure
// terminal`) that turn block cur into want. For the router block, want not
// present means `no router ospf`; for an interface block it means no managed
// lines (FRR keeps the empty interface). When want is present and cur is
// not, all of want's lines are sent, managed or not (restoring a snapshot).
func transition(header string, router bool, cur, want block) []string {
	switch {
	case !want.Present && router:
		if cur.Present {
			return []string{"no " + header}
		}
		return nil
	case !want.Present:
		lines := diffItems(managed(false, cur.Lines), nil)
		if len(lines) == 0 {
			return nil
		}
		return append([]string{header}, lines...)
	case !cur.Present && router:
		return append([]string{header}, want.Lines...)
	}
	lines := diffItems(managed(router, cur.Lines), managed(router, want.Lines))
	if !cur.Present && !router {
		// Interface blocks have no presence of their own; restore unmanaged
		// lines of a snapshot as well.
		lines = append(lines, unmanaged(false, want.Lines)...)
	}
	if len(lines) == 0 {
		return nil
	}
	return append([]string{header}, lines...)
}

// ifNamePattern is what an interface name must look like to reach vtysh.
var ifNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,14}$`)

// lineChars is what any line sent to vtysh may contain: no newline (vtysh
// splits -c arguments at newlines), no quotes, no shell or vty specials.
var lineChars = regexp.MustCompile(`^[A-Za-z0-9 ./:_-]+$`)

// validateLine checks one command line before it reaches vtysh.
func validateLine(l string) error {
	if !lineChars.MatchString(l) || len(l) > 200 {
		return fmt.Errorf("refusing to send %q to FRR: unexpected characters", l)
	}
	return nil
}

// desired is the OSPF state mboxsh wants in FRR, and where each part comes
// from in the config (for step names).
type desired struct {
	State *ospfState
	// Stmt names the statement owning an interface block.
	Stmt map[string]string
}

// desiredState computes the FRR blocks for cfg; nil when cfg has no OSPF.
// It validates every typed value.
func desiredState(cfg *config.Config) (*desired, error) {
	if cfg == nil || cfg.OSPF == nil {
		return nil, nil
	}
	o := cfg.OSPF
	d := &desired{State: &ospfState{Router: block{Present: true}, Ifaces: map[string]block{}}, Stmt: map[string]string{}}
	r := &d.State.Router
	if o.RouterID.IsValid() {
		if !o.RouterID.Is4() {
			return nil, fmt.Errorf("router ospf: router-id %s: not an IPv4 address", o.RouterID)
		}
		r.Lines = append(r.Lines, "ospf router-id "+o.RouterID.String())
	}
	seen := map[netip.Prefix]bool{}
	for _, n := range o.Networks {
		if !n.Prefix.IsValid() || !n.Prefix.Addr().Is4() {
			return nil, fmt.Errorf("router ospf: network %s: not an IPv4 prefix", n.Prefix)
		}
		if n.Area < 0 || int64(n.Area) > 0xffffffff {
			return nil, fmt.Errorf("router ospf: network %s: area %d out of range", n.Prefix, n.Area)
		}
		p := n.Prefix.Masked()
		if seen[p] {
			return nil, fmt.Errorf("router ospf: network %s given twice", p)
		}
		seen[p] = true
		r.Lines = append(r.Lines, fmt.Sprintf("network %s area %d", p, n.Area))
	}
	if o.DefaultInformationOriginate {
		r.Lines = append(r.Lines, "default-information originate")
	}
	if o.RedistributeConnected {
		r.Lines = append(r.Lines, "redistribute connected")
	}
	if o.RedistributeStatic {
		r.Lines = append(r.Lines, "redistribute kernel")
	}

	add := func(name, stmt string, lines ...string) error {
		if !ifNamePattern.MatchString(name) {
			return fmt.Errorf("%s: interface name %q not usable with FRR", stmt, name)
		}
		b := d.State.Ifaces[name]
		b.Present = true
		b.Lines = append(b.Lines, lines...)
		d.State.Ifaces[name] = b
		if _, ok := d.Stmt[name]; !ok {
			d.Stmt[name] = stmt
		}
		return nil
	}
	for _, ifc := range cfg.Interfaces {
		p := ifc.OSPF
		stmt := "interface " + ifc.HeaderArgs()
		var lines []string
		for _, v := range []struct {
			kw string
			n  int
		}{{"cost", p.Cost}, {"hello-interval", p.HelloInterval}, {"dead-interval", p.DeadInterval}} {
			if v.n == 0 {
				continue
			}
			if v.n < 1 || v.n > 65535 {
				return nil, fmt.Errorf("%s: ip ospf %s %d: out of range 1-65535", stmt, v.kw, v.n)
			}
			if v.kw == "hello-interval" && v.n == 10 {
				continue // FRR's default; FRR does not print it
			}
			lines = append(lines, fmt.Sprintf("ip ospf %s %d", v.kw, v.n))
		}
		// A GRE tunnel with a remote end is a point-to-point link in the
		// kernel (IFF_POINTOPOINT), where point-to-point is FRR's default
		// network type: FRR accepts the line but never prints it.
		if p.PointToPoint && !(ifc.Kind == config.KindGRE && ifc.TunnelRemote.IsValid()) {
			lines = append(lines, "ip ospf network point-to-point")
		}
		if len(lines) == 0 {
			continue
		}
		if err := add(ifc.Name, stmt, lines...); err != nil {
			return nil, err
		}
	}
	pass := append([]string(nil), o.PassiveInterfaces...)
	sort.Strings(pass)
	pass = slices.Compact(pass)
	for _, name := range pass {
		stmt := "router ospf"
		if err := add(name, stmt, "ip ospf passive"); err != nil {
			return nil, err
		}
	}
	for _, l := range r.Lines {
		if err := validateLine(l); err != nil {
			return nil, err
		}
	}
	for _, b := range d.State.Ifaces {
		for _, l := range b.Lines {
			if err := validateLine(l); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// stmtFor names the statement that owns interface block name, for messages.
func stmtFor(name string, cfgs ...*config.Config) string {
	for _, c := range cfgs {
		if c == nil {
			continue
		}
		if i := c.Interface(name); i != nil {
			return "interface " + i.HeaderArgs()
		}
	}
	return "interface " + name
}

// driftLines describes, one line each, how block cur differs from want.
func driftLines(what string, router bool, cur, want block) []string {
	var out []string
	if router && want.Present && !cur.Present {
		return []string{what + ": missing in FRR"}
	}
	if router && !want.Present && cur.Present {
		return []string{what + ": present in FRR but not in the configuration"}
	}
	wantItems := managed(router, want.Lines)
	curItems := managed(router, cur.Lines)
	wantByKey := map[string]item{}
	for _, w := range wantItems {
		wantByKey[w.key] = w
	}
	curByKey := map[string]item{}
	for _, c := range curItems {
		curByKey[c.key] = c
		w, ok := wantByKey[c.key]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: FRR has %q, not in the configuration", what, c.text))
		case w.canon != c.canon:
			out = append(out, fmt.Sprintf("%s: FRR has %q, configuration has %q", what, c.text, w.text))
		}
	}
	for _, w := range wantItems {
		if _, ok := curByKey[w.key]; !ok {
			out = append(out, fmt.Sprintf("%s: FRR lacks %q", what, w.text))
		}
	}
	for _, l := range unmanaged(router, cur.Lines) {
		if strings.HasPrefix(l, "description ") {
			continue // zebra's, shown in every daemon's interface block
		}
		out = append(out, fmt.Sprintf("%s: FRR has %q, which mboxsh does not manage", what, l))
	}
	return out
}

// ifaceNames returns the union of the interface names of the given states.
func ifaceNames(states ...*ospfState) []string {
	set := map[string]bool{}
	for _, s := range states {
		if s == nil {
			continue
		}
		for n := range s.Ifaces {
			set[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
