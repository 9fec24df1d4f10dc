// Package vmtest holds the netlink driver's tests that need kernel features
// the dev/CI kernel lacks (GRE, 802.1Q VLAN). TestMain runs them in the
// vmlab VM, under Debian's kernel.
package vmtest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"mboxsh/config"
	nl "mboxsh/runtime/netlink"
	"mboxsh/runtime/netlink/internal/nltest"
	"mboxsh/test/vmlab"
)

func TestMain(m *testing.M) { vmlab.RunTestsInVM(m) }

// requireModules loads GRE and 802.1Q before the test makes its namespaces:
// loading ip_gre creates the fallback devices gre0, gretap0 and erspan0 in
// every namespace, which no undo can take away, so it must not happen in the
// middle of a test.
func requireModules(t *testing.T) {
	t.Helper()
	vmlab.Require(t)
	if out, err := exec.Command("modprobe", "-a", "ip_gre", "8021q").CombinedOutput(); err != nil {
		t.Fatalf("modprobe ip_gre 8021q: %v: %s", err, out)
	}
}

var empty = &config.Config{}

func newDriver(t *testing.T, ns *nltest.NS) *nl.Driver {
	t.Helper()
	d, err := nl.New(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func requireLines(t *testing.T, s nltest.State, want ...string) {
	t.Helper()
	for _, w := range want {
		if len(s.Grep(strings.Fields(w)...)) == 0 {
			t.Errorf("kernel state has no line with %q; state:\n%s", w, s)
		}
	}
}

func requireNoLines(t *testing.T, s nltest.State, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if got := s.Grep(strings.Fields(w)...); len(got) != 0 {
			t.Errorf("kernel state has %q, want none:\n%s", w, got)
		}
	}
}

func requireDrift(t *testing.T, d *nl.Driver, cfg *config.Config, want ...string) {
	t.Helper()
	got, err := d.Drift(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("drift:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

const gre1 = `
interface eth0
 enable
 ip address 198.51.100.2/24
!
interface tun0
 tunnel local 198.51.100.2 remote 203.0.113.2
 enable
 mtu 1400
 ip address 172.16.0.1/30
!
ip default-gateway 198.51.100.1
ip route 192.168.20.0/24 nexthop 172.16.0.2
`

// gre2 moves the remote end: a change in place.
var gre2 = strings.Replace(gre1, "remote 203.0.113.2", "remote 203.0.113.9", 1)

// gre3 moves the local end too (and the WAN address with it).
var gre3 = strings.NewReplacer("198.51.100.2", "198.51.100.3", "remote 203.0.113.2", "remote 203.0.113.9").Replace(gre1)

// greAny has no remote (a multipoint tunnel): the kernel cannot turn a
// point-to-point tunnel into one in place, so it is recreated.
const greAny = `
interface eth0
 enable
 ip address 198.51.100.3/24
!
interface tun0
 tunnel local 198.51.100.3
 enable
 ip address 172.16.0.1/30
!
ip default-gateway 198.51.100.1
ip route 192.168.20.0/24 nexthop 172.16.0.2
`

func TestGRE(t *testing.T) {
	requireModules(t)
	ns := nltest.NewNS(t, "gre")
	ns.AddNIC("eth0")
	d := newDriver(t, ns)
	g1 := nltest.MustParse(t, gre1)

	n := nltest.CheckUndoEachStep(t, ns, d, empty, g1)
	t.Logf("empty→gre1: %d steps", n)
	requireLines(t, ns.Snapshot(),
		"link tun0 kind=gre up=true mtu=1400 local=198.51.100.2 remote=203.0.113.2 ttl=64",
		"link tun0 pmtudisc=true",
		"addr tun0 inet 172.16.0.1/30",
		"route-4 192.168.20.0/24 via=172.16.0.2 dev=tun0 proto=176",
		"sysctl net/ipv4/conf/tun0/rp_filter=2",
		"sysctl net/ipv4/ip_forward=1",
	)
	requireDrift(t, d, g1)

	ifs, err := d.Interfaces(context.Background(), g1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ifs {
		if s.Name != "tun0" {
			continue
		}
		g := s.GRE
		if s.Kind != "gre" || g == nil || g.Local != "198.51.100.2" || g.Remote != "203.0.113.2" || g.TTL != 64 || !g.PMTUDisc ||
			g.TransportDev != "eth0" || g.TransportMTU != 1500 || s.MTU != 1400 {
			t.Errorf("tun0 status %+v, GRE %+v", s, g)
		}
	}

	// Drift of the tunnel itself is seen and re-asserted.
	ns.IP("link", "set", "tun0", "type", "gre", "local", "198.51.100.2", "remote", "203.0.113.2", "ttl", "10")
	ns.Exec("sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/tun0/rp_filter")
	requireDrift(t, d, g1,
		"interface tun0: tunnel ttl 10 (mboxsh sets 64)",
		"interface tun0: rp_filter 1 (mboxsh sets 2, loose, on tunnels)")
	nltest.CheckUndoEachStep(t, ns, d, g1, g1)
	requireDrift(t, d, g1)

	// gre0 is the kernel's fallback device (it exists once ip_gre is
	// loaded): configuring it is refused with an explanation.
	_, err = d.Plan(context.Background(), g1, nltest.MustParse(t, strings.Replace(gre1, "interface tun0", "interface gre0", 1)))
	if err == nil || !strings.Contains(err.Error(), "interface gre0: gre0 is the kernel's fallback GRE device") {
		t.Errorf("planning interface gre0: %v", err)
	}
}

// greDown is a tunnel that is not enabled: the kernel sends no notification
// when the parameters or the description of a link that is down change.
const greDown = `
interface eth0
 enable
 ip address 198.51.100.2/24
!
interface tun0
 tunnel local 198.51.100.2 remote 203.0.113.2
 ip address 172.16.0.1/30
!
`

// TestGREDownChangedByHand: the driver keeps the state it read while no
// change notification arrives (the state cache); changes of a tunnel that is
// down come without one and must be seen all the same.
func TestGREDownChangedByHand(t *testing.T) {
	requireModules(t)
	ns := nltest.NewNSPrefixed(t, "mbxnlc-", "gredown")
	ns.AddNIC("eth0")
	d := newDriver(t, ns)
	g := nltest.MustParse(t, greDown)
	nltest.Apply(t, d, empty, g)
	requireDrift(t, d, g)
	requireDrift(t, d, g) // from the cached state
	ns.IP("link", "set", "tun0", "type", "gre", "local", "198.51.100.2", "remote", "203.0.113.2", "ttl", "10")
	ns.IP("link", "set", "tun0", "alias", "by hand")
	requireDrift(t, d, g,
		"interface tun0: tunnel ttl 10 (mboxsh sets 64)",
		`interface tun0: description "by hand" present but not configured`)
	nltest.CheckUndoEachStep(t, ns, d, g, g)
	requireDrift(t, d, g)
	requireLines(t, ns.Snapshot(), `link tun0 kind=gre up=false alias="" local=198.51.100.2 remote=203.0.113.2 ttl=64`)
}

// TestGREChangeInPlace changes the tunnel endpoints: the link keeps its
// index, MTU, address and routes, and no other link sees an event.
func TestGREChangeInPlace(t *testing.T) {
	requireModules(t)
	ns := nltest.NewNS(t, "greinpl")
	ns.AddNIC("eth0", "eth1")
	d := newDriver(t, ns)
	g1, g2, g3 := nltest.MustParse(t, gre1), nltest.MustParse(t, gre2), nltest.MustParse(t, gre3)
	g1.Interfaces = append(g1.Interfaces, &config.Interface{Name: "eth1", Kind: config.KindEthernet, Enabled: true, BridgeGroup: -1})
	g2.Interfaces = append(g2.Interfaces, g1.Interface("eth1"))
	nltest.Apply(t, d, empty, g1)

	steps := nltest.Steps(t, d, g1, g2)
	if len(steps) != 1 || !strings.HasPrefix(steps[0].Desc, "change GRE tunnel") {
		t.Fatalf("changing the remote end planned:%s\nwant one in-place change", nltest.StepList(steps))
	}
	index := func(name string) int {
		t.Helper()
		var links []struct {
			Index int    `json:"ifindex"`
			Name  string `json:"ifname"`
		}
		out := ns.IP("-j", "link", "show", name)
		if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
			t.Fatalf("ip -j link show %s: %v %s", name, err, out)
		}
		return links[0].Index
	}
	tunIndex := index("tun0")

	events := watchLinks(t, ns)
	nltest.Apply(t, d, g1, g2)
	time.Sleep(300 * time.Millisecond)
	for _, u := range events() {
		name := u.Attrs().Name
		if name != "tun0" {
			t.Errorf("changing tun0 touched %s (event flags %#x)", name, u.IfInfomsg.Flags)
		}
		if u.IfInfomsg.Flags&unix.IFF_UP == 0 || u.Header.Type == unix.RTM_DELLINK {
			t.Errorf("tun0 went down or away during the change: %+v", u.IfInfomsg)
		}
	}
	if got := index("tun0"); got != tunIndex {
		t.Errorf("tun0 index %d → %d: recreated instead of changed", tunIndex, got)
	}
	requireLines(t, ns.Snapshot(),
		"link tun0 kind=gre up=true mtu=1400 local=198.51.100.2 remote=203.0.113.9 ttl=64",
		"addr tun0 inet 172.16.0.1/30",
		"route-4 192.168.20.0/24 via=172.16.0.2 dev=tun0 proto=176",
	)
	nltest.RequireNoSteps(t, d, g2)

	// The local end (with the WAN address) moves in place too.
	nltest.CheckUndoEachStep(t, ns, d, g2, g3)
	if got := index("tun0"); got != tunIndex {
		t.Errorf("tun0 index %d → %d after changing the local end", tunIndex, got)
	}
	requireLines(t, ns.Snapshot(), "link tun0 kind=gre up=true mtu=1400 local=198.51.100.3 remote=203.0.113.9")

	// remote any: recreated, with its address and route.
	ga := nltest.MustParse(t, greAny)
	nltest.CheckUndoEachStep(t, ns, d, g3, ga)
	requireLines(t, ns.Snapshot(),
		"link tun0 kind=gre up=true local=198.51.100.3 remote=any",
		"addr tun0 inet 172.16.0.1/30",
		"route-4 192.168.20.0/24 via=172.16.0.2 dev=tun0 proto=176",
	)

	// Removal.
	nltest.CheckUndoEachStep(t, ns, d, ga, empty)
	requireNoLines(t, ns.Snapshot(), "tun0", "proto=176")
}

func TestGREFaultInjection(t *testing.T) {
	requireModules(t)
	ns := nltest.NewNS(t, "grefault")
	ns.AddNIC("eth0")
	d := newDriver(t, ns)
	g1, g2, g3, ga := nltest.MustParse(t, gre1), nltest.MustParse(t, gre2), nltest.MustParse(t, gre3), nltest.MustParse(t, greAny)
	for _, tr := range []struct {
		name     string
		from, to *config.Config
	}{
		{"empty→gre1", empty, g1}, {"gre1→gre2", g1, g2}, {"gre2→gre3", g2, g3}, {"gre3→any", g3, ga}, {"any→gre1", ga, g1}, {"gre1→empty", g1, empty},
	} {
		n := nltest.CheckFaultInjection(t, ns, d, tr.from, tr.to)
		t.Logf("%s: %d steps, each failed once and rolled back", tr.name, n)
	}
}

const vlan1 = `
interface eth1
 enable
!
interface vlan 1 20
 description "local LAN"
 enable
 ip address 192.168.20.1/24
!
ip route 10.20.0.0/16 nexthop 192.168.20.254
`

// vlan2 moves VLAN 20 to eth2 (same kernel name vlan20: recreated) and sets
// its MTU.
const vlan2 = `
interface eth1
 enable
!
interface eth2
 enable
!
interface vlan 2 20
 enable
 mtu 1400
 ip address 192.168.20.1/24
!
interface vlan 5 30
 enable
 ip address 192.168.30.1/24
!
ip route 10.20.0.0/16 nexthop 192.168.20.254
`

func TestVLAN(t *testing.T) {
	requireModules(t)
	ns := nltest.NewNS(t, "vlan")
	ns.AddNIC("eth1", "eth2")
	d := newDriver(t, ns)
	v1, v2 := nltest.MustParse(t, vlan1), nltest.MustParse(t, vlan2)

	nltest.CheckUndoEachStep(t, ns, d, empty, v1)
	requireLines(t, ns.Snapshot(),
		`link vlan20 kind=vlan up=true mtu=1500 alias="local LAN" parent=eth1 protocol=802.1Q id=20`,
		"addr vlan20 inet 192.168.20.1/24",
		"route-4 10.20.0.0/16 via=192.168.20.254 dev=vlan20 proto=176",
	)
	requireDrift(t, d, v1)
	ifs, err := d.Interfaces(context.Background(), v1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ifs {
		if s.Name == "vlan20" && (s.Kind != "vlan" || s.VLAN == nil || s.VLAN.Parent != "eth1" || s.VLAN.ID != 20) {
			t.Errorf("vlan20 status %+v", s)
		}
	}

	// The parent shut down: the kernel takes the VLAN and its routes down;
	// mboxsh reports it and puts everything back with the parent.
	v3 := nltest.MustParse(t, strings.Replace(vlan1, "interface eth1\n enable\n", "interface eth1\n", 1))
	nltest.CheckUndoEachStep(t, ns, d, v1, v3)
	requireLines(t, ns.Snapshot(), "link vlan20 kind=vlan up=false", "link eth1 kind=veth up=false")
	requireDrift(t, d, v3,
		"interface vlan20: down because its parent eth1 is not enabled",
		"route 10.20.0.0/16 nexthop 192.168.20.254 not installed: next hop 192.168.20.254 is on no connected network of an enabled interface")
	nltest.CheckUndoEachStep(t, ns, d, v3, v1)
	requireLines(t, ns.Snapshot(), "link vlan20 kind=vlan up=true", "route-4 10.20.0.0/16 via=192.168.20.254 dev=vlan20 proto=176")
	requireDrift(t, d, v1)

	nltest.CheckUndoEachStep(t, ns, d, v1, v2)
	requireLines(t, ns.Snapshot(),
		`link vlan20 kind=vlan up=true mtu=1400 alias="" parent=eth2 protocol=802.1Q id=20`,
		"addr vlan20 inet 192.168.20.1/24",
		"route-4 10.20.0.0/16 via=192.168.20.254 dev=vlan20 proto=176",
	)
	requireNoLines(t, ns.Snapshot(), "vlan30")
	requireDrift(t, d, v2, "interface vlan30: not present, parent eth5 not present (configured)")

	nltest.CheckFaultInjection(t, ns, d, v2, v1)
	nltest.CheckFaultInjection(t, ns, d, v1, empty)
	requireNoLines(t, ns.Snapshot(), "vlan20", "proto=176")
}

// TestReferenceSites applies the netlink part of the two reference
// configurations (../../../../shared/examples) to two namespaces joined by a
// router namespace, and pings from one site's LAN address to the other's
// through the GRE tunnel (no IPsec here: that is the ipsec driver's).
func TestReferenceSites(t *testing.T) {
	requireModules(t)
	hq, remote, router := nltest.NewNS(t, "hq"), nltest.NewNS(t, "remote"), nltest.NewNS(t, "rtr")
	nltest.Wire(t, hq, "eth0", router, "r0")
	nltest.Wire(t, remote, "eth0", router, "r1")
	hq.AddNIC("eth1")
	remote.AddNIC("eth1", "eth2") // eth3 of remote.cfg is absent
	router.IP("addr", "add", "198.51.100.1/24", "dev", "r0")
	router.IP("addr", "add", "203.0.113.1/24", "dev", "r1")
	router.IP("link", "set", "r0", "up")
	router.IP("link", "set", "r1", "up")
	router.Exec("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")

	load := func(name string) *config.Config {
		src, err := os.ReadFile("/work/shared/examples/" + name)
		if err != nil {
			t.Fatalf("reference configuration: %v", err)
		}
		c, err := config.Parse(src, name)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	hqCfg, remoteCfg := load("hq.cfg"), load("remote.cfg")
	dh, dr := newDriver(t, hq), newDriver(t, remote)
	nltest.Apply(t, dh, empty, hqCfg)
	nltest.Apply(t, dr, empty, remoteCfg)
	nltest.RequireNoSteps(t, dh, hqCfg)
	nltest.RequireNoSteps(t, dr, remoteCfg)
	requireDrift(t, dh, hqCfg)
	requireDrift(t, dr, remoteCfg, "interface eth3: not present (configured)")

	out, err := runIn(hq, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", "192.168.10.1", "192.168.20.1")
	if err != nil {
		t.Fatalf("ping from HQ's LAN address to the remote LAN across tun0: %v\n%s\nhq:\n%s\nremote:\n%s",
			err, out, hq.Snapshot(), remote.Snapshot())
	}
	ifs, err := dr.Interfaces(context.Background(), remoteCfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ifs {
		switch s.Name {
		case "tun0":
			if s.Counters == nil || s.Counters.RxPackets < 3 || s.Counters.TxPackets < 3 || s.MTU != 1400 || s.GRE == nil ||
				s.GRE.Remote != "198.51.100.2" || !s.AdminUp {
				t.Errorf("remote tun0 after the ping: %+v counters %+v gre %+v", s, s.Counters, s.GRE)
			}
		case "eth3":
			if s.Present || !s.Configured {
				t.Errorf("eth3: %+v, want configured and absent", s)
			}
		}
	}
}

func runIn(ns *nltest.NS, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...).CombinedOutput()
	return string(out), err
}

// watchLinks records the link events of the namespace from now on.
func watchLinks(t *testing.T, ns *nltest.NS) func() []vnl.LinkUpdate {
	t.Helper()
	h, err := netns.GetFromName(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ch := make(chan vnl.LinkUpdate, 256)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	if err := vnl.LinkSubscribeWithOptions(ch, done, vnl.LinkSubscribeOptions{Namespace: &h}); err != nil {
		t.Fatal(err)
	}
	return func() []vnl.LinkUpdate {
		var out []vnl.LinkUpdate
		for {
			select {
			case u := <-ch:
				// Drop the events of the pre-existing peers' carrier.
				if u.Attrs() != nil && !strings.HasPrefix(u.Attrs().Name, "p") {
					out = append(out, u)
				}
			default:
				return out
			}
		}
	}
}
