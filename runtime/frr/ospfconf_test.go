package frr

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"mboxsh/config"
)

// runningSample is ospfd's `show running-config` as FRR 8.4 prints it.
const runningSample = `Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname vm
!
interface eth0
 ip ospf cost 10
 ip ospf dead-interval 4
 ip ospf hello-interval 1
 ip ospf network point-to-point
 ip ospf passive
exit
!
interface eth1
 ip ospf priority 5
exit
!
interface eth2 vrf blue
 ip ospf cost 3
exit
!
router ospf
 ospf router-id 1.1.1.1
 redistribute kernel
 redistribute connected
 network 10.1.0.0/24 area 0.0.0.1
 network 10.255.0.0/30 area 0
 default-information originate
 area 0 authentication message-digest
exit
!
router ospf vrf blue
 network 10.9.0.0/24 area 0
exit
!
end
`

func TestParseRunning(t *testing.T) {
	st := parseRunning(runningSample)
	if !st.Router.Present {
		t.Fatal("router ospf not found")
	}
	wantRouter := []string{
		"ospf router-id 1.1.1.1", "redistribute kernel", "redistribute connected",
		"network 10.1.0.0/24 area 0.0.0.1", "network 10.255.0.0/30 area 0",
		"default-information originate", "area 0 authentication message-digest",
	}
	if !slices.Equal(st.Router.Lines, wantRouter) {
		t.Errorf("router lines = %q, want %q", st.Router.Lines, wantRouter)
	}
	if got := st.Ifaces["eth0"].Lines; len(got) != 5 {
		t.Errorf("eth0 lines = %q", got)
	}
	if _, ok := st.Ifaces["eth2"]; ok {
		t.Error("interface in a VRF must be ignored")
	}
	if got := unmanaged(true, st.Router.Lines); !slices.Equal(got, []string{"area 0 authentication message-digest"}) {
		t.Errorf("unmanaged router lines = %q", got)
	}
	if got := unmanaged(false, st.Ifaces["eth1"].Lines); !slices.Equal(got, []string{"ip ospf priority 5"}) {
		t.Errorf("unmanaged eth1 lines = %q", got)
	}
	empty := parseRunning("")
	if empty.Router.Present || len(empty.Ifaces) != 0 {
		t.Errorf("empty config parsed as %+v", empty)
	}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func sampleConfig() *config.Config {
	return &config.Config{
		Interfaces: []*config.Interface{
			{Name: "eth0", Enabled: true, BridgeGroup: -1, Addresses: []netip.Prefix{pfx("10.255.0.1/30")},
				OSPF: config.InterfaceOSPF{Cost: 10, PointToPoint: true, HelloInterval: 1, DeadInterval: 4}},
			{Name: "vlan10", Kind: config.KindVLAN, VLANParent: "eth1", VLANID: 10, BridgeGroup: -1,
				OSPF: config.InterfaceOSPF{HelloInterval: 10}},
			{Name: "eth3", BridgeGroup: -1},
		},
		OSPF: &config.OSPF{
			RouterID: addr("1.1.1.1"),
			Networks: []config.OSPFNetwork{
				{Prefix: pfx("10.255.0.1/30"), Area: 0}, // host bits: masked
				{Prefix: pfx("10.1.0.0/24"), Area: 1},
			},
			PassiveInterfaces:           []string{"vlan10", "eth0"},
			DefaultInformationOriginate: true,
			RedistributeConnected:       true,
			RedistributeStatic:          true,
		},
	}
}

func TestDesiredState(t *testing.T) {
	d, err := desiredState(sampleConfig())
	if err != nil {
		t.Fatal(err)
	}
	wantRouter := []string{
		"ospf router-id 1.1.1.1", "network 10.255.0.0/30 area 0", "network 10.1.0.0/24 area 1",
		"default-information originate", "redistribute connected", "redistribute kernel",
	}
	if !slices.Equal(d.State.Router.Lines, wantRouter) {
		t.Errorf("router = %q\nwant     %q", d.State.Router.Lines, wantRouter)
	}
	wantEth0 := []string{"ip ospf cost 10", "ip ospf hello-interval 1", "ip ospf dead-interval 4",
		"ip ospf network point-to-point", "ip ospf passive"}
	if got := d.State.Ifaces["eth0"].Lines; !slices.Equal(got, wantEth0) {
		t.Errorf("eth0 = %q, want %q", got, wantEth0)
	}
	// hello-interval 10 is FRR's default, which FRR never prints.
	if got := d.State.Ifaces["vlan10"].Lines; !slices.Equal(got, []string{"ip ospf passive"}) {
		t.Errorf("vlan10 = %q", got)
	}
	if _, ok := d.State.Ifaces["eth3"]; ok {
		t.Error("eth3 has no OSPF statements")
	}
	if d.Stmt["eth0"] != "interface eth0" || d.Stmt["vlan10"] != "router ospf" {
		t.Errorf("stmts = %v", d.Stmt)
	}
	if d, err := desiredState(&config.Config{}); d != nil || err != nil {
		t.Errorf("no OSPF: %v %v", d, err)
	}
}

func TestDesiredStateRejects(t *testing.T) {
	for name, mod := range map[string]func(c *config.Config){
		"ipv6 router-id":  func(c *config.Config) { c.OSPF.RouterID = addr("2001:db8::1") },
		"ipv6 network":    func(c *config.Config) { c.OSPF.Networks[0].Prefix = pfx("2001:db8::/64") },
		"negative area":   func(c *config.Config) { c.OSPF.Networks[0].Area = -1 },
		"duplicate net":   func(c *config.Config) { c.OSPF.Networks[1].Prefix = pfx("10.255.0.0/30") },
		"cost range":      func(c *config.Config) { c.Interfaces[0].OSPF.Cost = 70000 },
		"dead range":      func(c *config.Config) { c.Interfaces[0].OSPF.DeadInterval = -4 },
		"newline in name": func(c *config.Config) { c.Interfaces[0].Name = "eth0\nrouter bgp 1" },
		"space in name":   func(c *config.Config) { c.OSPF.PassiveInterfaces = []string{"eth0 cost"} },
		"long name":       func(c *config.Config) { c.OSPF.PassiveInterfaces = []string{"a234567890123456"} },
	} {
		c := sampleConfig()
		mod(c)
		if _, err := desiredState(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestValidateLine(t *testing.T) {
	for _, ok := range []string{"network 10.0.0.0/24 area 0", "interface vlan10", "ip ospf network point-to-point"} {
		if err := validateLine(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a\nb", "description \"x\"", "x;y", "a|b", "a\tb", "x\x00"} {
		if err := validateLine(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTransition(t *testing.T) {
	cur := block{Present: true, Lines: []string{
		"ospf router-id 1.1.1.1", "redistribute connected metric 5", "network 10.1.0.0/24 area 0.0.0.1",
		"network 10.255.0.0/30 area 0", "area 0 authentication message-digest",
	}}
	want := block{Present: true, Lines: []string{
		"ospf router-id 2.2.2.2", "network 10.255.0.0/30 area 0", "network 10.1.0.0/24 area 2",
		"redistribute connected", "default-information originate",
	}}
	got := transition(routerHeader, true, cur, want)
	exp := []string{
		"router ospf",
		"no redistribute connected metric 5",
		"no network 10.1.0.0/24 area 0.0.0.1",
		"ospf router-id 2.2.2.2",
		"network 10.1.0.0/24 area 2",
		"redistribute connected",
		"default-information originate",
	}
	if !slices.Equal(got, exp) {
		t.Errorf("transition =\n%q\nwant\n%q", got, exp)
	}
	// Area 0.0.0.1 and 1 are the same.
	same := block{Present: true, Lines: []string{"network 10.1.0.0/24 area 1"}}
	if got := transition(routerHeader, true, block{Present: true, Lines: []string{"network 10.1.0.0/24 area 0.0.0.1"}}, same); got != nil {
		t.Errorf("equal areas: %q", got)
	}
	// Identical: nothing; unmanaged lines are left alone.
	if got := transition(routerHeader, true, cur, cur); got != nil {
		t.Errorf("identical: %q", got)
	}
	// Removal and creation of the router block.
	if got := transition(routerHeader, true, cur, block{}); !slices.Equal(got, []string{"no router ospf"}) {
		t.Errorf("removal: %q", got)
	}
	if got := transition(routerHeader, true, block{}, block{}); got != nil {
		t.Errorf("absent to absent: %q", got)
	}
	if got := transition(routerHeader, true, block{}, block{Present: true}); !slices.Equal(got, []string{"router ospf"}) {
		t.Errorf("create empty: %q", got)
	}
	// Restoring a snapshot re-sends unmanaged lines too.
	if got := transition(routerHeader, true, block{}, cur); len(got) != 1+len(cur.Lines) {
		t.Errorf("restore: %q", got)
	}
	// Interfaces: managed lines go, unmanaged stay.
	ic := block{Present: true, Lines: []string{"ip ospf cost 10", "ip ospf priority 5", "ip ospf network broadcast"}}
	if got := transition("interface eth1", false, ic, block{}); !slices.Equal(got, []string{"interface eth1", "no ip ospf cost 10", "no ip ospf network broadcast"}) {
		t.Errorf("interface removal: %q", got)
	}
	iw := block{Present: true, Lines: []string{"ip ospf cost 20", "ip ospf network point-to-point"}}
	if got := transition("interface eth1", false, ic, iw); !slices.Equal(got, []string{"interface eth1", "ip ospf cost 20", "ip ospf network point-to-point"}) {
		t.Errorf("interface change: %q", got)
	}
	if got := transition("interface eth1", false, block{}, ic); !slices.Equal(got, []string{"interface eth1", "ip ospf cost 10", "ip ospf network broadcast", "ip ospf priority 5"}) {
		t.Errorf("interface restore: %q", got)
	}
}

func TestDriftLines(t *testing.T) {
	cur := block{Present: true, Lines: []string{"ospf router-id 1.1.1.1", "network 10.9.0.0/24 area 0", "timers throttle spf 0 50 5000"}}
	want := block{Present: true, Lines: []string{"ospf router-id 2.2.2.2", "redistribute connected"}}
	got := driftLines("router ospf", true, cur, want)
	exp := []string{
		`router ospf: FRR has "ospf router-id 1.1.1.1", configuration has "ospf router-id 2.2.2.2"`,
		`router ospf: FRR has "network 10.9.0.0/24 area 0", not in the configuration`,
		`router ospf: FRR lacks "redistribute connected"`,
		`router ospf: FRR has "timers throttle spf 0 50 5000", which mboxsh does not manage`,
	}
	if !slices.Equal(got, exp) {
		t.Errorf("drift =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(exp, "\n"))
	}
	if got := driftLines("router ospf", true, block{}, want); len(got) != 1 {
		t.Errorf("missing router: %q", got)
	}
}

// A configuration without OSPF must not need FRR; with OSPF, a missing FRR
// is reported as such.
func TestNotInstalled(t *testing.T) {
	d, err := New(Options{BinDir: "/nonexistent/frr", Vtysh: "/nonexistent/vtysh", RunDir: t.TempDir(), System: SystemNever})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps, err := d.Plan(ctx, nil, &config.Config{Hostname: "x"})
	if err != nil || len(steps) != 0 {
		t.Fatalf("no OSPF: %d steps, %v", len(steps), err)
	}
	if drift, err := d.Drift(ctx, &config.Config{}); err != nil || len(drift) != 0 {
		t.Fatalf("no OSPF drift: %q %v", drift, err)
	}
	_, err = d.Plan(ctx, nil, sampleConfig())
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("OSPF without FRR: err = %v", err)
	}
	t.Log(err)
	drift, err := d.Drift(ctx, sampleConfig())
	if err != nil || len(drift) != 1 || !strings.Contains(drift[0], "not installed") {
		t.Fatalf("OSPF drift without FRR: %q %v", drift, err)
	}
	if _, err := d.Neighbors(ctx); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Neighbors: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	for _, o := range []Options{
		{NetNS: "../x"},
		{NetNS: "a b"},
		{RunDir: "relative"},
		{Name: "a/b"},
		{RunDir: "/" + strings.Repeat("x", 100)},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
