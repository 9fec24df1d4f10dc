package netlink_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mboxsh/config"
	"mboxsh/runtime"
	nl "mboxsh/runtime/netlink"
	"mboxsh/runtime/netlink/internal/nltest"
)

// The configurations below run on veth pairs named like NICs; eth3 is
// configured but never present.

const cfgA = `
interface eth0
 description "Connection to WAN"
 enable
 ip address 203.0.113.2/24
 mtu 1400
!
interface eth1
 description LAN
 enable
 ip address 192.168.20.1/24
 ip address 192.168.20.2/24
 ip address 192.168.21.1/24
!
interface eth2
 ip address 10.2.0.1/24
!
interface eth3
 enable
 ip address 10.3.0.1/24
!
interface lo
 enable
 ip address 10.255.0.1/32
!
ip default-gateway 203.0.113.1
ip route 192.168.10.0/24 nexthop 203.0.113.254 distance 5
ip route 10.50.0.0/16 nexthop eth1
ip route 10.60.0.0/16 nexthop 192.168.21.254
ip route 10.70.0.0/16 nexthop 10.2.0.254
`

// cfgB changes every kind of statement of cfgA: description, MTU removed,
// addresses (including the primary of a subnet whose secondary stays),
// admin state, routes (distance, removed, added, a previously unreachable
// one now installed), the absent NIC's block removed.
const cfgB = `
interface eth0
 description "WAN uplink"
 enable
 ip address 203.0.113.3/24
!
interface eth1
 enable
 ip address 192.168.20.2/24
 ip address 192.168.22.1/24
!
interface eth2
 enable
 ip address 10.2.0.1/24
!
interface lo
 enable
 ip address 10.255.0.1/32
 ip address 10.255.0.2/32
!
ip default-gateway 203.0.113.1
ip route 192.168.10.0/24 nexthop 203.0.113.254 distance 7
ip route 10.70.0.0/16 nexthop 10.2.0.254
ip route 10.80.0.0/16 nexthop 192.168.22.254
`

// cfgC puts eth1 and eth2 into a bridge.
const cfgC = `
interface bridge br1
 description "LAN bridge"
 enable
 ip address 10.1.0.1/24
!
interface eth0
 enable
 ip address 203.0.113.3/24
!
interface eth1
 enable
 bridge-group 1
!
interface eth2
 enable
 bridge-group 1
!
ip default-gateway 203.0.113.1
ip route 10.11.0.0/16 nexthop 10.1.0.254
`

// cfgD takes eth2 out of the bridge and changes the bridge.
const cfgD = `
interface bridge br1
 enable
 mtu 1400
 ip address 10.1.0.1/24
 ip address 10.1.1.1/24
!
interface eth0
 enable
 ip address 203.0.113.3/24
!
interface eth1
 enable
 bridge-group 1
!
interface eth2
 enable
 ip address 10.2.0.1/24
!
ip route 10.11.0.0/16 nexthop 10.1.0.254
ip route 10.12.0.0/16 nexthop br1
`

type fixture struct {
	ns *nltest.NS
	d  *nl.Driver
}

func newFixture(t *testing.T, tag string, nics ...string) *fixture {
	t.Helper()
	ns := nltest.NewNS(t, tag)
	if len(nics) == 0 {
		nics = []string{"eth0", "eth1", "eth2"}
	}
	ns.AddNIC(nics...)
	d, err := nl.New(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &fixture{ns: ns, d: d}
}

func parse(t *testing.T, src string) *config.Config { return nltest.MustParse(t, src) }

var empty = &config.Config{}

func requireLines(t *testing.T, s nltest.State, want ...string) {
	t.Helper()
	for _, w := range want {
		words := strings.Fields(w)
		if len(s.Grep(words...)) == 0 {
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

func drift(t *testing.T, d *nl.Driver, cfg *config.Config) []string {
	t.Helper()
	lines, err := d.Drift(context.Background(), cfg)
	if err != nil {
		t.Fatalf("drift: %v", err)
	}
	slices.Sort(lines)
	return lines
}

func requireDrift(t *testing.T, d *nl.Driver, cfg *config.Config, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := drift(t, d, cfg); !slices.Equal(got, want) {
		t.Fatalf("drift:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

const (
	driftEth3   = "interface eth3: not present (configured)"
	driftRoute7 = "route 10.70.0.0/16 nexthop 10.2.0.254 not installed: next hop 10.2.0.254 is on no connected network of an enabled interface"
)

func TestApplyChangeRemove(t *testing.T) {
	f := newFixture(t, "life")
	initial := f.ns.Snapshot()
	a, b := parse(t, cfgA), parse(t, cfgB)

	nltest.Apply(t, f.d, empty, a)
	s := f.ns.Snapshot()
	requireLines(t, s,
		`link eth0 kind=veth up=true mtu=1400 alias="Connection to WAN"`,
		`link eth1 kind=veth up=true mtu=1500 alias="LAN"`,
		`link eth2 kind=veth up=false mtu=1500 alias=""`,
		`link lo up=true`,
		"addr eth0 inet 203.0.113.2/24 brd=203.0.113.255 scope=global secondary=false",
		"addr eth1 inet 192.168.20.1/24 secondary=false",
		"addr eth1 inet 192.168.20.2/24 secondary=true",
		"addr eth1 inet 192.168.21.1/24 secondary=false",
		"addr eth2 inet 10.2.0.1/24",
		"addr lo inet 10.255.0.1/32",
		"route-4 default via=203.0.113.1 dev=eth0 proto=176 metric=1",
		"route-4 192.168.10.0/24 via=203.0.113.254 dev=eth0 proto=176 metric=5",
		"route-4 10.50.0.0/16 via= dev=eth1 proto=176 scope=link metric=1",
		"route-4 10.60.0.0/16 via=192.168.21.254 dev=eth1 proto=176",
		"sysctl net/ipv4/ip_forward=1",
	)
	requireNoLines(t, s, "route-4 10.70.0.0/16", "eth3")
	nltest.RequireNoSteps(t, f.d, a)
	requireDrift(t, f.d, a, driftEth3, driftRoute7)

	nltest.Apply(t, f.d, a, b)
	s = f.ns.Snapshot()
	requireLines(t, s,
		`link eth0 kind=veth up=true mtu=1500 alias="WAN uplink"`,
		`link eth1 kind=veth up=true mtu=1500 alias=""`,
		`link eth2 kind=veth up=true`,
		"addr eth0 inet 203.0.113.3/24",
		"addr eth1 inet 192.168.20.2/24 secondary=false",
		"addr eth1 inet 192.168.22.1/24",
		"addr lo inet 10.255.0.2/32",
		"route-4 default via=203.0.113.1 proto=176",
		"route-4 192.168.10.0/24 via=203.0.113.254 dev=eth0 proto=176 metric=7",
		"route-4 10.70.0.0/16 via=10.2.0.254 dev=eth2 proto=176 metric=1",
		"route-4 10.80.0.0/16 via=192.168.22.254 dev=eth1 proto=176",
	)
	requireNoLines(t, s, "203.0.113.2/24", "192.168.20.1/24", "192.168.21.1/24",
		"route-4 10.50.0.0/16", "route-4 10.60.0.0/16", "metric=5")
	nltest.RequireNoSteps(t, f.d, b)
	requireDrift(t, f.d, b)

	// Removing everything puts the NICs back as they were; the loopback
	// stays up and forwarding stays on (see the package documentation).
	nltest.Apply(t, f.d, b, empty)
	loUp := []string{"link lo ", "addr lo inet 127.0.0.1/8", "addr lo inet6 ::1/128", "sysctl net/ipv4/ip_forward"}
	got := f.ns.Snapshot().Filter(loUp...)
	if diff := nltest.Diff(initial.Filter(loUp...), got); diff != "" {
		t.Fatalf("after removing the whole configuration the namespace differs from the start:\n%s", diff)
	}
	nltest.RequireNoSteps(t, f.d, empty)
}

func TestBridge(t *testing.T) {
	f := newFixture(t, "br")
	c, d := parse(t, cfgC), parse(t, cfgD)
	nltest.Apply(t, f.d, empty, c)
	requireLines(t, f.ns.Snapshot(),
		`link br1 kind=bridge up=true mtu=1500 alias="LAN bridge"`,
		"link eth1 kind=veth up=true master=br1",
		"link eth2 kind=veth up=true master=br1",
		"addr br1 inet 10.1.0.1/24",
		"route-4 10.11.0.0/16 via=10.1.0.254 dev=br1 proto=176",
	)
	nltest.RequireNoSteps(t, f.d, c)

	nltest.Apply(t, f.d, c, d)
	s := f.ns.Snapshot()
	requireLines(t, s,
		`link br1 kind=bridge up=true mtu=1400 alias=""`,
		"link eth1 kind=veth up=true master=br1",
		"link eth2 kind=veth up=true master= ",
		"addr br1 inet 10.1.1.1/24",
		"addr eth2 inet 10.2.0.1/24",
		"route-4 10.12.0.0/16 via= dev=br1 proto=176 scope=link",
	)
	requireNoLines(t, s, "route-4 default")
	nltest.RequireNoSteps(t, f.d, d)

	nltest.Apply(t, f.d, d, empty)
	s = f.ns.Snapshot()
	requireNoLines(t, s, "link br1", "master=br1", "proto=176")
	requireLines(t, s, "link eth1 kind=veth up=false", "link eth2 kind=veth up=false")
}

func TestUnmanagedLeftAlone(t *testing.T) {
	f := newFixture(t, "unman")
	// An address and routes on links mboxsh does not configure (mgmt0,
	// eth2), routes of other protocols, and eth0's IPv6 link-local address.
	f.ns.AddNIC("mgmt0")
	f.ns.IP("link", "set", "mgmt0", "up")
	f.ns.IP("addr", "add", "10.99.0.1/24", "dev", "mgmt0")
	f.ns.IP("addr", "add", "10.88.0.1/24", "dev", "eth2")
	f.ns.IP("link", "set", "eth2", "up")
	f.ns.IP("route", "add", "10.98.0.0/16", "via", "10.99.0.254", "proto", "static")
	f.ns.IP("route", "add", "10.97.0.0/16", "via", "10.88.0.254", "proto", "boot", "metric", "1")
	f.ns.IP("route", "add", "10.96.0.0/16", "via", "10.88.0.254", "proto", "188", "metric", "20")
	cfg := parse(t, `
interface eth0
 enable
 ip address 203.0.113.2/24
!
ip route 10.98.0.0/16 nexthop 203.0.113.254
`)
	foreign := func() nltest.State {
		s := f.ns.Snapshot()
		var out nltest.State
		for _, l := range s {
			if (strings.Contains(l, "mgmt0") || strings.Contains(l, "eth2") || strings.Contains(l, "10.9")) && !strings.Contains(l, "proto=176") {
				out = append(out, l)
			}
		}
		return out
	}
	before := foreign()
	nltest.Apply(t, f.d, empty, cfg)
	if ll := f.ns.IP("-6", "addr", "show", "dev", "eth0", "scope", "link"); !strings.Contains(ll, "fe80::") {
		t.Errorf("eth0 has no IPv6 link-local address after apply:\n%s", ll)
	}
	// Same destination as the administrator's static route, other protocol:
	// both are there.
	requireLines(t, f.ns.Snapshot(), "route-4 10.98.0.0/16 via=203.0.113.254 proto=176", "route-4 10.98.0.0/16 via=10.99.0.254 proto=static")
	if diff := nltest.Diff(before, foreign()); diff != "" {
		t.Fatalf("apply changed what mboxsh does not manage:\n%s", diff)
	}
	nltest.RequireNoSteps(t, f.d, cfg)
	nltest.Apply(t, f.d, cfg, empty)
	if diff := nltest.Diff(before, foreign()); diff != "" {
		t.Fatalf("removing the configuration changed what mboxsh does not manage:\n%s", diff)
	}
	if ll := f.ns.IP("-6", "addr", "show", "dev", "eth0", "scope", "link"); !strings.Contains(ll, "fe80::") && strings.Contains(f.ns.IP("link", "show", "eth0"), ",UP") {
		t.Errorf("eth0 lost its IPv6 link-local address:\n%s", ll)
	}
}

func TestIPv6Address(t *testing.T) {
	f := newFixture(t, "v6")
	cfg := parse(t, "interface eth0\n enable\n ip address 203.0.113.2/24\n!\n")
	cfg.Interfaces[0].Addresses = append(cfg.Interfaces[0].Addresses, netip.MustParsePrefix("2001:db8:1::2/64"))
	cfg.Routes = append(cfg.Routes, config.Route{Prefix: netip.MustParsePrefix("2001:db8:99::/48"), Via: netip.MustParseAddr("2001:db8:1::1")})
	nltest.CheckUndoEachStep(t, f.ns, f.d, empty, cfg)
	requireLines(t, f.ns.Snapshot(), "addr eth0 inet6 2001:db8:1::2/64 scope=global",
		"route-6 2001:db8:99::/48 via=2001:db8:1::1 dev=eth0 proto=176 metric=1")
	nltest.CheckUndoEachStep(t, f.ns, f.d, cfg, empty)
	requireNoLines(t, f.ns.Snapshot(), "2001:db8")
}

func TestDriftAndReassert(t *testing.T) {
	f := newFixture(t, "drift")
	a := parse(t, cfgA)
	nltest.Apply(t, f.d, empty, a)
	applied := f.ns.Snapshot()

	// Someone changes the system behind mboxsh's back.
	f.ns.IP("addr", "add", "10.9.9.9/24", "dev", "eth0")
	f.ns.IP("addr", "del", "192.168.21.1/24", "dev", "eth1")
	f.ns.IP("link", "set", "eth0", "mtu", "1500", "alias", "changed")
	f.ns.IP("link", "set", "eth1", "alias", "")
	f.ns.IP("link", "set", "eth2", "up")
	f.ns.IP("route", "del", "192.168.10.0/24", "via", "203.0.113.254", "metric", "5")
	f.ns.IP("route", "add", "10.77.0.0/16", "via", "203.0.113.1", "proto", "176", "metric", "3")
	f.ns.Exec("sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")

	requireDrift(t, f.d, a,
		driftEth3, driftRoute7,
		"interface eth0: address 10.9.9.9/24 present but not configured",
		"interface eth0: mtu 1500 (configured 1400)",
		`interface eth0: description "changed" (configured "Connection to WAN")`,
		`interface eth1: description "LAN" configured but missing`,
		"interface eth1: address 192.168.21.1/24 configured but missing",
		"interface eth2: administratively up (configured disabled)",
		"route 192.168.10.0/24 nexthop 203.0.113.254 distance 5 missing",
		"route 10.77.0.0/16 nexthop 203.0.113.1 distance 3 present but not configured",
		"ip forwarding disabled (net.ipv4.ip_forward=0)",
	)
	// A commit of the unchanged configuration re-asserts it.
	nltest.CheckUndoEachStep(t, f.ns, f.d, a, a)
	if diff := nltest.Diff(applied, f.ns.Snapshot()); diff != "" {
		t.Fatalf("re-asserting the configuration did not restore the applied state:\n%s", diff)
	}
	requireDrift(t, f.d, a, driftEth3, driftRoute7)
}

// TestUndoEachStep runs every step of a series of commits, undoes it, checks
// that the kernel is exactly as before, and does it again.
func TestUndoEachStep(t *testing.T) {
	f := newFixture(t, "undo")
	series := []struct {
		name string
		cfg  *config.Config
	}{
		{"A", parse(t, cfgA)}, {"B", parse(t, cfgB)}, {"C", parse(t, cfgC)}, {"D", parse(t, cfgD)},
		{"A again", parse(t, cfgA)}, {"empty", empty},
	}
	prev := empty
	total := 0
	for _, s := range series {
		n := nltest.CheckUndoEachStep(t, f.ns, f.d, prev, s.cfg)
		t.Logf("→ %s: %d steps undone and redone", s.name, n)
		total += n
		prev = s.cfg
	}
	if total < 60 {
		t.Fatalf("only %d steps in the series; the test lost its coverage", total)
	}
}

// TestFaultInjection fails each step of large commits in turn through
// runtime.Apply and checks that the rollback restores the kernel exactly.
func TestFaultInjection(t *testing.T) {
	f := newFixture(t, "fault")
	a, c, d := parse(t, cfgA), parse(t, cfgC), parse(t, cfgD)
	for _, tr := range []struct {
		name     string
		from, to *config.Config
	}{
		{"empty→A", empty, a}, {"A→C", a, c}, {"C→D", c, d}, {"D→A", d, a}, {"A→empty", a, empty},
	} {
		n := nltest.CheckFaultInjection(t, f.ns, f.d, tr.from, tr.to)
		t.Logf("%s: %d steps, each failed once and rolled back", tr.name, n)
	}
}

// A kernel refusal in the middle of a commit rolls everything back and is
// reported with the statement, in words.
func TestKernelErrorRollsBack(t *testing.T) {
	f := newFixture(t, "kerr")
	a := parse(t, cfgA)
	bad := parse(t, cfgA)
	bad.Interface("eth1").MTU = 70000 // veth allows at most 65535
	bad.Interface("eth2").Enabled = true
	nltest.Apply(t, f.d, empty, a)
	before := f.ns.Snapshot()
	_, err := runtime.Apply(context.Background(), []runtime.Driver{f.d}, a, bad, runtime.Options{})
	var se *runtime.StepError
	if !errors.As(err, &se) {
		t.Fatalf("apply: %v, want a StepError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "interface eth1") || !strings.Contains(msg, "MTU 70000 is out of range for this device") {
		t.Errorf("error %q does not name the statement and the reason", msg)
	}
	if se.UndoErr != nil {
		t.Fatalf("rollback: %v", se.UndoErr)
	}
	if diff := nltest.Diff(before, f.ns.Snapshot()); diff != "" {
		t.Fatalf("failed commit left changes:\n%s", diff)
	}
}

// On a kernel without GRE (the dev/CI machines) creating a tunnel fails
// with a clear message and leaves nothing behind. Kernels with GRE run the
// real GRE tests in ./vmtest.
func TestGREUnsupportedKernel(t *testing.T) {
	f := newFixture(t, "nogre", "eth0")
	if _, err := f.ns.TryIP("link", "add", "probe0", "type", "gre", "local", "192.0.2.1", "remote", "192.0.2.2"); err == nil {
		f.ns.IP("link", "del", "probe0")
		t.Skip("this kernel supports GRE: the tunnel tests run in ./vmtest")
	}
	cfg := parse(t, `
interface eth0
 enable
 ip address 203.0.113.2/24
!
interface tun0
 tunnel local 203.0.113.2 remote 198.51.100.2
 enable
 ip address 172.16.0.2/30
!
ip route 192.168.10.0/24 nexthop 172.16.0.1
`)
	before := f.ns.Snapshot()
	_, err := runtime.Apply(context.Background(), []runtime.Driver{f.d}, empty, cfg, runtime.Options{})
	if err == nil {
		t.Fatal("creating a GRE tunnel on a kernel without GRE succeeded")
	}
	want := "interface tun0: create GRE tunnel local 203.0.113.2 remote 198.51.100.2, ttl 64: operation not supported by this kernel"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error:\n  %v\nwant it to contain\n  %s", err, want)
	}
	if diff := nltest.Diff(before, f.ns.Snapshot()); diff != "" {
		t.Fatalf("failed commit left changes:\n%s", diff)
	}
}

func TestPlanRejects(t *testing.T) {
	f := newFixture(t, "rej", "eth0")
	f.ns.IP("link", "add", "br7", "type", "veth", "peer", "name", "pbr7")
	for _, tc := range []struct{ cfg, want string }{
		{"interface tun0\n enable\n!\n", "interface tun0: tunnel local is required"},
		{"interface eth0\n bridge-group 4\n!\n", `interface eth0: bridge-group 4, but "interface bridge br4" is not configured`},
		{"interface bridge br7\n enable\n!\n", "interface bridge br7: a veth interface named br7 already exists and mboxsh does not manage it"},
	} {
		_, err := f.d.Plan(context.Background(), empty, parse(t, tc.cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("plan of\n%s: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// The sysctls are written in the driver's namespace only.
func TestSysctlStaysInNamespace(t *testing.T) {
	f := newFixture(t, "sys1", "eth0")
	other := nltest.NewNS(t, "sys2")
	hostBefore, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	otherBefore := other.Sysctl("net/ipv4/ip_forward")
	f.ns.Exec("sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")
	nltest.Apply(t, f.d, empty, parse(t, "interface eth0\n enable\n!\n"))
	if got := f.ns.Sysctl("net/ipv4/ip_forward"); got != "1" {
		t.Errorf("ip_forward in the driver's namespace = %s, want 1", got)
	}
	if got := other.Sysctl("net/ipv4/ip_forward"); got != otherBefore {
		t.Errorf("ip_forward in another namespace changed: %s → %s", otherBefore, got)
	}
	hostAfter, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if string(hostAfter) != string(hostBefore) {
		t.Errorf("the host's ip_forward changed: %q → %q", hostBefore, hostAfter)
	}
}

func TestStatus(t *testing.T) {
	f := newFixture(t, "status")
	a := parse(t, cfgA)
	nltest.Apply(t, f.d, empty, a)
	f.ns.IP("route", "add", "10.40.0.0/16", "via", "203.0.113.9", "proto", "188", "metric", "20")
	f.ns.IP("route", "add", "10.41.0.0/16", "via", "203.0.113.9", "proto", "static")
	ctx := context.Background()

	ifs, err := f.d.Interfaces(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]nl.InterfaceStatus{}
	for _, s := range ifs {
		byName[s.Name] = s
	}
	eth0 := byName["eth0"]
	if !eth0.Present || !eth0.Configured || !eth0.AdminUp || eth0.MTU != 1400 || eth0.Description != "Connection to WAN" ||
		eth0.Kind != "veth" || eth0.MAC == "" || eth0.Counters == nil || !slices.Contains(eth0.Addresses, netip.MustParsePrefix("203.0.113.2/24")) {
		t.Errorf("eth0 status: %+v", eth0)
	}
	if eth3 := byName["eth3"]; eth3.Present || !eth3.Configured || eth3.Kind != "ethernet" {
		t.Errorf("eth3 status: %+v, want configured and absent", eth3)
	}
	if lo := byName["lo"]; lo.Kind != "loopback" || !lo.AdminUp {
		t.Errorf("lo status: %+v", lo)
	}
	if p := byName["peth0"]; !p.Present || p.Configured {
		t.Errorf("peth0 status: %+v, want present and not configured", p)
	}
	if _, err := json.Marshal(ifs); err != nil {
		t.Fatal(err)
	}

	routes, err := f.d.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code := map[string]string{}
	for _, r := range routes {
		code[r.Prefix.String()+" "+r.NextHops[0].Via+"@"+r.NextHops[0].Dev] = r.Code
		if r.Prefix.String() == "192.168.10.0/24" && (r.Distance != 5 || r.Metric != 5 || r.Protocol != "mboxsh") {
			t.Errorf("route %+v, want distance and metric 5, protocol mboxsh", r)
		}
	}
	for k, want := range map[string]string{
		"0.0.0.0/0 203.0.113.1@eth0":         "S",
		"192.168.10.0/24 203.0.113.254@eth0": "S",
		"10.50.0.0/16 @eth1":                 "S",
		"203.0.113.0/24 @eth0":               "C",
		"10.40.0.0/16 203.0.113.9@eth0":      "O",
		"10.41.0.0/16 203.0.113.9@eth0":      "K",
	} {
		if code[k] != want {
			t.Errorf("route %s: code %q, want %q (all: %v)", k, code[k], want, code)
		}
	}
	if _, err := json.Marshal(routes); err != nil {
		t.Fatal(err)
	}
}

// Dumps interrupted by concurrent changes (NLM_F_DUMP_INTR) are retried:
// planning while another process churns addresses and links never fails.
func TestPlanDuringChurn(t *testing.T) {
	f := newFixture(t, "churn")
	a := parse(t, cfgA)
	nltest.Apply(t, f.d, empty, a)
	// One ip -batch per round: 50 addresses, a link added and deleted.
	var b strings.Builder
	for k := 0; k < 50; k++ {
		b.WriteString("addr add 10.123." + strconv.Itoa(k) + ".1/24 dev peth1\n")
	}
	b.WriteString("link add churn0 type veth peer name churn1\nlink del churn0\naddr flush dev peth1\n")
	batch := writeTemp(t, b.String())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = f.ns.TryIP("-batch", batch)
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		if steps, err := f.d.Plan(context.Background(), a, a); err != nil || len(steps) != 0 {
			close(stop)
			wg.Wait()
			t.Fatalf("plan during churn: %v, %d steps", err, len(steps))
		}
		if _, err := f.d.Interfaces(context.Background(), a); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("interfaces during churn: %v", err)
		}
		n++
	}
	close(stop)
	wg.Wait()
	t.Logf("%d plans during churn", n)
}

func TestNewAndClose(t *testing.T) {
	nltest.RequireRoot(t)
	if _, err := nl.New(nltest.Prefix + "does-not-exist"); err == nil || !strings.Contains(err.Error(), nltest.Prefix+"does-not-exist") {
		t.Errorf("New of a missing namespace: %v", err)
	}
	f := newFixture(t, "close", "eth0")
	if err := f.d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := f.d.Plan(context.Background(), empty, parse(t, "interface eth0\n enable\n!\n")); err == nil {
		t.Fatal("Plan on a closed driver succeeded")
	}
}

func writeTemp(t *testing.T, s string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "batch")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return f.Name()
}
