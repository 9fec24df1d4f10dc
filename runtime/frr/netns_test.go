package frr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mboxsh/config"
	"mboxsh/runtime"
)

// These tests run real FRR daemons (one mboxsh-owned instance per network
// namespace) over veth links. They need root and the frr package; without
// them they fail, unless MBOXSH_ALLOW_SKIP=1.

const nsPrefix = "mbxfrr-"

func requireFRR(t testing.TB) {
	t.Helper()
	need := func(msg string) {
		t.Helper()
		if os.Getenv("MBOXSH_ALLOW_SKIP") == "1" {
			t.Skip(msg)
		}
		t.Fatal(msg + " (set MBOXSH_ALLOW_SKIP=1 to skip)")
	}
	if os.Geteuid() != 0 {
		need("this test needs root: it creates network namespaces and runs FRR")
	}
	for _, p := range []string{"/usr/lib/frr/zebra", "/usr/lib/frr/ospfd"} {
		if _, err := os.Stat(p); err != nil {
			need("this test needs FRR (Debian package frr): " + err.Error())
		}
	}
	for _, c := range []string{"vtysh", "ip"} {
		if _, err := exec.LookPath(c); err != nil {
			need("this test needs " + c + ": " + err.Error())
		}
	}
}

func TestMain(m *testing.M) {
	sweepStale()
	os.Exit(m.Run())
}

// sweepStale removes the namespaces (and kills the daemons in them) left by
// an earlier run of these tests that died without cleaning up (a test
// binary killed by its timeout runs no Cleanup). Only namespaces named
// with this package's prefix whose creating process is gone are touched.
func sweepStale() {
	if os.Geteuid() != 0 {
		return
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || !strings.HasPrefix(f[0], nsPrefix) {
			continue
		}
		ns := f[0]
		pid, err := strconv.Atoi(ns[strings.LastIndexByte(ns, '-')+1:])
		if err != nil || procAlive(pid) {
			continue
		}
		for _, p := range netnsProcs(ns) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// netnsProcs lists the processes whose network namespace is ns.
func netnsProcs(ns string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if sameNetNS(fmt.Sprintf("/proc/%d/ns/net", pid), "/var/run/netns/"+ns) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// newNetns creates a namespace that is removed at cleanup, after killing
// any process left in it (a test failure then names it).
func newNetns(t testing.TB, tag string) string {
	t.Helper()
	ns := fmt.Sprintf("%s%s-%d", nsPrefix, tag, os.Getpid())
	_ = exec.Command("ip", "netns", "del", ns).Run() // a leftover of a killed run
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		if pids := netnsProcs(ns); len(pids) > 0 {
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			t.Errorf("processes left in %s at cleanup (killed): %v", ns, pids)
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

type site struct {
	ns     string
	runDir string
	drv    *Driver
}

// newSite creates a namespace and a driver for it whose daemons are
// stopped at cleanup (before the namespace goes).
func newSite(t testing.TB, tag string) *site {
	t.Helper()
	ns := newNetns(t, tag)
	runDir, err := os.MkdirTemp("", nsPrefix+"run-")
	if err != nil {
		t.Fatal(err)
	}
	// MkdirTemp makes a 0700 directory: the driver must make it
	// searchable for FRR's user (ensureSearchable).
	t.Cleanup(func() { os.RemoveAll(runDir) })
	d, err := New(Options{NetNS: ns, RunDir: runDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(context.Background()); err != nil {
			t.Errorf("stopping FRR in %s: %v", ns, err)
		}
	})
	return &site{ns: ns, runDir: runDir, drv: d}
}

func (s *site) apply(t testing.TB, from, to *config.Config, opt runtime.Options, extra ...runtime.Driver) (*runtime.Result, error) {
	t.Helper()
	return runtime.Apply(context.Background(), append([]runtime.Driver{s.drv}, extra...), from, to, opt)
}

func (s *site) mustApply(t testing.TB, from, to *config.Config) (*runtime.Result, time.Duration) {
	t.Helper()
	start := time.Now()
	res, err := s.apply(t, from, to, runtime.Options{})
	if err != nil {
		t.Fatalf("%s: commit: %v", s.ns, err)
	}
	return res, time.Since(start)
}

func (s *site) runningConfig(t testing.TB) string {
	t.Helper()
	out, err := s.drv.RunningConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type kroute struct {
	Dst      string `json:"dst"`
	Gateway  string `json:"gateway"`
	Dev      string `json:"dev"`
	Protocol string `json:"protocol"`
}

// ospfRoutes reads the kernel's OSPF routes in the namespace.
func (s *site) ospfRoutes(t testing.TB) []kroute {
	t.Helper()
	var rs []kroute
	out := run(t, "ip", "-n", s.ns, "-j", "route", "show", "proto", "ospf")
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("ip -j route: %v: %s", err, out)
	}
	return rs
}

func (s *site) hasRoute(t testing.TB, dst, gw string) bool {
	for _, r := range s.ospfRoutes(t) {
		if (r.Dst == dst || r.Dst+"/32" == dst) && r.Gateway == gw {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds and returns how long that took.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Since(start)
}

func (s *site) fullWith(t testing.TB, rid string) bool {
	ns, err := s.drv.Neighbors(context.Background())
	if err != nil {
		t.Fatalf("%s: neighbours: %v", s.ns, err)
	}
	for _, n := range ns {
		if n.RouterID.String() == rid && n.Full() {
			return true
		}
	}
	return false
}

// siteA: eth0 (p2p to B), eth1 a LAN on a veth whose peer stays in A.
func siteAConfig() *config.Config {
	return &config.Config{
		Interfaces: []*config.Interface{
			{Name: "eth0", Enabled: true, BridgeGroup: -1, Addresses: []netip.Prefix{pfx("10.255.0.1/30")},
				OSPF: config.InterfaceOSPF{PointToPoint: true, HelloInterval: 1, DeadInterval: 4}},
			{Name: "eth1", Enabled: true, BridgeGroup: -1, Addresses: []netip.Prefix{pfx("192.168.10.1/24")},
				OSPF: config.InterfaceOSPF{HelloInterval: 1, DeadInterval: 4}},
		},
		OSPF: &config.OSPF{
			RouterID:          addr("10.0.0.1"),
			Networks:          []config.OSPFNetwork{{Prefix: pfx("10.255.0.0/30")}, {Prefix: pfx("192.168.10.0/24")}},
			PassiveInterfaces: []string{"eth1"},
		},
	}
}

// siteB: eth0 (p2p to A), its "LAN" an address on lo.
func siteBConfig() *config.Config {
	return &config.Config{
		Interfaces: []*config.Interface{
			{Name: "eth0", Enabled: true, BridgeGroup: -1, Addresses: []netip.Prefix{pfx("10.255.0.2/30")},
				OSPF: config.InterfaceOSPF{PointToPoint: true, HelloInterval: 1, DeadInterval: 4}},
			{Name: "lo", Kind: config.KindLoopback, Enabled: true, BridgeGroup: -1, Addresses: []netip.Prefix{pfx("192.168.20.1/32")}},
		},
		OSPF: &config.OSPF{
			RouterID: addr("10.0.0.2"),
			Networks: []config.OSPFNetwork{{Prefix: pfx("10.255.0.0/30")}, {Prefix: pfx("192.168.20.1/32")}},
		},
	}
}

// twoSites builds the topology (links and addresses by hand: the netlink
// driver is not part of this package).
func twoSites(t testing.TB) (a, b *site) {
	a, b = newSite(t, "a"), newSite(t, "b")
	run(t, "ip", "-n", a.ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b.ns)
	run(t, "ip", "-n", a.ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
	for _, l := range [][]string{
		{a.ns, "eth0", "10.255.0.1/30"}, {b.ns, "eth0", "10.255.0.2/30"},
		{a.ns, "eth1", "192.168.10.1/24"}, {b.ns, "lo", "192.168.20.1/32"},
	} {
		run(t, "ip", "-n", l[0], "addr", "add", l[2], "dev", l[1])
		run(t, "ip", "-n", l[0], "link", "set", l[1], "up")
	}
	run(t, "ip", "-n", a.ns, "link", "set", "eth1p", "up")
	return a, b
}

type failDriver struct{}

func (failDriver) Name() string { return "fail" }
func (failDriver) Plan(context.Context, *config.Config, *config.Config) ([]runtime.Step, error) {
	return []runtime.Step{{Driver: "fail", Stmt: "test", Desc: "injected failure",
		Do: func(context.Context) error { return errors.New("injected failure") }}}, nil
}
func (failDriver) Drift(context.Context, *config.Config) ([]string, error) { return nil, nil }
func (failDriver) Close() error                                            { return nil }

func TestOSPFTwoNamespaces(t *testing.T) {
	requireFRR(t)
	ctx := context.Background()
	a, b := twoSites(t)
	cfgA, cfgB := siteAConfig(), siteBConfig()

	// First commit: starts the daemons and configures them.
	resA, took := a.mustApply(t, nil, cfgA)
	t.Logf("first commit A (start zebra+ospfd, %d steps): %v", len(resA.Steps), took)
	for _, s := range resA.Steps {
		t.Logf("  %s: %s", s.Stmt, s.Desc)
	}
	_, took = b.mustApply(t, nil, cfgB)
	t.Logf("first commit B: %v", took)
	start := time.Now()
	st, err := a.drv.Status(ctx)
	if err != nil || st.System || len(st.Running) != 2 {
		t.Fatalf("status A = %+v, %v", st, err)
	}

	full := waitFor(t, 30*time.Second, "adjacency Full", func() bool { return a.fullWith(t, "10.0.0.2") && b.fullWith(t, "10.0.0.1") })
	t.Logf("time to Full (after B's commit): %v", full)
	waitFor(t, 30*time.Second, "B's LAN in A's kernel", func() bool { return a.hasRoute(t, "192.168.20.1/32", "10.255.0.2") })
	t.Logf("B's loopback LAN in A's kernel (after B's commit): %v", time.Since(start))
	waitFor(t, 30*time.Second, "A's LAN in B's kernel", func() bool { return b.hasRoute(t, "192.168.10.0/24", "10.255.0.1") })
	t.Logf("A's passive broadcast LAN in B's kernel (after B's commit): %v", time.Since(start))

	// Idempotence: identical state gives no steps and no drift, whatever `from` says.
	for _, from := range []*config.Config{cfgA, nil} {
		steps, err := a.drv.Plan(ctx, from, cfgA)
		if err != nil || len(steps) != 0 {
			t.Fatalf("plan of an identical config: %v, %v", descs(steps), err)
		}
	}
	if drift, err := a.drv.Drift(ctx, cfgA); err != nil || len(drift) != 0 {
		t.Fatalf("drift of an identical config: %q, %v", drift, err)
	}
	t0 := time.Now()
	_, _ = a.drv.Plan(ctx, cfgA, cfgA)
	t.Logf("plan of an identical config: %v", time.Since(t0))

	// Diagnostics.
	ifs, err := a.drv.Interfaces(ctx, "eth0")
	if err != nil || len(ifs) != 1 {
		t.Fatalf("interfaces: %+v, %v", ifs, err)
	}
	if i := ifs[0]; i.NetworkType != "POINTOPOINT" || i.HelloMsec != 1000 || i.DeadSec != 4 || i.Adjacent != 1 || i.Address != pfx("10.255.0.1/30") {
		t.Errorf("eth0 = %+v", i)
	}
	all, err := a.drv.Interfaces(ctx, "")
	if err != nil || len(all) != 2 || !all[1].Passive {
		t.Errorf("all interfaces: %+v, %v", all, err)
	}
	routes, err := a.drv.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := findRoute(routes, "192.168.20.1/32"); r == nil || !r.Installed || len(r.Nexthops) != 1 || r.Nexthops[0].Via != addr("10.255.0.2") {
		t.Errorf("routes = %+v", routes)
	}
	if os.Getenv("MBOXSH_FRR_CAPTURE") != "" { // refresh testdata from this FRR
		for f, c := range map[string]string{"neighbor": "show ip ospf neighbor json", "interface": "show ip ospf interface json", "route": "show ip route ospf json"} {
			d := "ospfd"
			if f == "route" {
				d = "zebra"
			}
			out, err := a.drv.owned.show(ctx, d, c)
			if err != nil {
				t.Fatal(err)
			}
			_ = os.WriteFile(filepath.Join(os.Getenv("MBOXSH_FRR_CAPTURE"), f+".json"), []byte(out), 0o644)
		}
	}

	// Drift made behind mboxsh's back is reported and re-asserted.
	if _, err := a.drv.owned.configure(ctx, []string{"interface eth0", "ip ospf cost 77", "exit",
		"router ospf", "no network 192.168.10.0/24 area 0", "redistribute connected"}); err != nil {
		t.Fatal(err)
	}
	drift, err := a.drv.Drift(ctx, cfgA)
	if err != nil || len(drift) != 3 {
		t.Fatalf("drift = %q, %v", drift, err)
	}
	t.Logf("drift:\n  %s", strings.Join(drift, "\n  "))
	res, _ := a.mustApply(t, cfgA, cfgA)
	if len(res.Steps) != 2 {
		t.Errorf("re-assert steps: %v", descs(res.Steps))
	}
	if drift, _ := a.drv.Drift(ctx, cfgA); len(drift) != 0 {
		t.Fatalf("drift after re-assert: %q", drift)
	}

	// Change a cost: A's metric to B's LAN follows.
	cfgA2 := cfgA.Clone()
	cfgA2.Interface("eth0").OSPF.Cost = 50
	res, took = a.mustApply(t, cfgA, cfgA2)
	t.Logf("commit cost change (%d step): %v", len(res.Steps), took)
	if len(res.Steps) != 1 || res.Steps[0].Stmt != "interface eth0" || res.Steps[0].Desc != "FRR: interface eth0; ip ospf cost 50" {
		t.Errorf("cost steps: %v", descs(res.Steps))
	}
	waitFor(t, 10*time.Second, "metric 50 to B's LAN", func() bool {
		rs, err := a.drv.Routes(ctx)
		r := findRoute(rs, "192.168.20.1/32")
		return err == nil && r != nil && r.Metric == 50
	})

	// A change FRR rejects fails its step; the commit rolls back and FRR's
	// running config is unchanged.
	before := a.runningConfig(t)
	cfgA3 := cfgA2.Clone()
	cfgA3.Interface("eth0").OSPF.Cost = 60
	cfgA3.OSPF.Networks = append(cfgA3.OSPF.Networks, config.OSPFNetwork{Prefix: pfx("10.99.0.0/24")})
	for _, bad := range []string{"bogus-command", "network 10.255.0.0/30 area 7"} {
		inj, err := New(Options{NetNS: a.ns, RunDir: a.runDir, EditLines: func(stmt string, cmds []string) []string {
			if stmt == "router ospf" {
				return append(cmds, bad)
			}
			return cmds
		}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = runtime.Apply(ctx, []runtime.Driver{inj}, cfgA2, cfgA3, runtime.Options{})
		var se *runtime.StepError
		if !errors.As(err, &se) || se.Step.Stmt != "router ospf" || se.UndoErr != nil {
			t.Fatalf("injected %q: err = %v", bad, err)
		}
		t.Logf("injected %q: %v", bad, err)
		if after := a.runningConfig(t); after != before {
			t.Fatalf("running config changed by a failed commit:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	}
	// The same with a failure injected before the last step.
	_, err = a.apply(t, cfgA2, cfgA3, runtime.Options{BeforeStep: func(i int, s runtime.Step) error {
		if s.Stmt == "router ospf" {
			return errors.New("injected before step")
		}
		return nil
	}})
	if err == nil {
		t.Fatal("BeforeStep failure did not fail the commit")
	}
	if after := a.runningConfig(t); after != before {
		t.Fatalf("running config changed by a failed commit:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// And the change itself goes through.
	res, took = a.mustApply(t, cfgA2, cfgA3)
	t.Logf("commit cost + network (%d steps): %v", len(res.Steps), took)

	// Remove a network: B loses A's LAN.
	cfgA4 := cfgA3.Clone()
	cfgA4.OSPF.Networks = slices.DeleteFunc(cfgA4.OSPF.Networks, func(n config.OSPFNetwork) bool { return n.Prefix == pfx("192.168.10.0/24") })
	a.mustApply(t, cfgA3, cfgA4)
	gone := waitFor(t, 15*time.Second, "A's LAN gone from B", func() bool { return !b.hasRoute(t, "192.168.10.0/24", "10.255.0.1") })
	t.Logf("network removal seen in B's kernel after %v", gone)

	// A new router-id takes effect (the driver restarts the OSPF process).
	cfgA5 := cfgA4.Clone()
	cfgA5.OSPF.RouterID = addr("10.0.0.11")
	a.mustApply(t, cfgA4, cfgA5)
	rid := waitFor(t, 30*time.Second, "B Full with the new router-id", func() bool { return b.fullWith(t, "10.0.0.11") })
	t.Logf("router-id change: Full again after %v", rid)

	// Removing OSPF stops the daemons; a failing commit that removes it
	// restarts them with the same configuration.
	noOSPF := cfgA5.Clone()
	noOSPF.OSPF = nil
	before = a.runningConfig(t)
	_, err = a.apply(t, cfgA5, noOSPF, runtime.Options{}, failDriver{})
	if err == nil {
		t.Fatal("failing commit succeeded")
	}
	if st, _ := a.drv.Status(ctx); len(st.Running) != 2 {
		t.Fatalf("daemons after rolled-back OSPF removal: %+v", st)
	}
	if after := a.runningConfig(t); after != before {
		t.Fatalf("rolled-back OSPF removal changed the config:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	back := waitFor(t, 30*time.Second, "Full after rollback", func() bool { return b.fullWith(t, "10.0.0.11") })
	t.Logf("rolled back OSPF removal: Full again after %v", back)

	res, took = a.mustApply(t, cfgA5, noOSPF)
	t.Logf("commit OSPF removal (%d step): %v", len(res.Steps), took)
	if st, _ := a.drv.Status(ctx); len(st.Running) != 0 {
		t.Fatalf("daemons after OSPF removal: %+v", st)
	}
	if pids := netnsProcs(a.ns); len(pids) != 0 {
		t.Fatalf("processes left in %s: %v", a.ns, pids)
	}
	if rs := a.ospfRoutes(t); len(rs) != 0 {
		t.Errorf("OSPF routes left in A's kernel: %+v", rs)
	}
	if steps, err := a.drv.Plan(ctx, noOSPF, noOSPF); err != nil || len(steps) != 0 {
		t.Errorf("plan without OSPF: %v, %v", descs(steps), err)
	}
	if drift, err := a.drv.Drift(ctx, noOSPF); err != nil || len(drift) != 0 {
		t.Errorf("drift without OSPF: %q, %v", drift, err)
	}
	if drift, _ := a.drv.Drift(ctx, cfgA5); len(drift) == 0 {
		t.Error("no drift reported with OSPF configured and FRR stopped")
	}
	if _, err := a.drv.Neighbors(ctx); !errors.Is(err, ErrNotRunning) {
		t.Errorf("neighbours without FRR: %v", err)
	}
	waitFor(t, 15*time.Second, "B's neighbour gone", func() bool {
		ns, err := b.drv.Neighbors(ctx)
		return err == nil && len(ns) == 0
	})
}

func findRoute(rs []Route, p string) *Route {
	for i := range rs {
		if rs[i].Prefix.String() == p {
			return &rs[i]
		}
	}
	return nil
}

func descs(steps []runtime.Step) string {
	var b bytes.Buffer
	for _, s := range steps {
		fmt.Fprintf(&b, "[%s: %s] ", s.Stmt, s.Desc)
	}
	return b.String()
}

// BenchmarkPlanNoChange measures Plan against a running FRR in the
// steady state (reads ospfd's running config once).
func BenchmarkPlanNoChange(b *testing.B) {
	requireFRR(b)
	s := newSite(b, "bench")
	cfg := siteAConfig()
	s.mustApply(b, nil, cfg)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		steps, err := s.drv.Plan(ctx, cfg, cfg)
		if err != nil || len(steps) != 0 {
			b.Fatal(err, len(steps))
		}
	}
}

// BenchmarkCommitCost measures a one-line commit (read, apply, verify).
func BenchmarkCommitCost(b *testing.B) {
	requireFRR(b)
	s := newSite(b, "bench")
	cfg := siteAConfig()
	s.mustApply(b, nil, cfg)
	prev := cfg
	n := 0
	b.ResetTimer()
	for b.Loop() {
		n++
		next := prev.Clone()
		next.Interface("eth0").OSPF.Cost = 10 + n%2
		s.mustApply(b, prev, next)
		prev = next
	}
}

// TestSystemFRR runs FRR the way a system service would (started outside
// the driver, its own pid files and sockets) in a namespace, and checks
// that the driver configures it without starting or stopping it, keeps
// the lines it does not manage, and removes OSPF with `no router ospf`.
func TestSystemFRR(t *testing.T) {
	requireFRR(t)
	ctx := context.Background()
	ns := newNetns(t, "sys")
	run(t, "ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	run(t, "ip", "-n", ns, "addr", "add", "10.255.9.1/30", "dev", "eth0")
	run(t, "ip", "-n", ns, "link", "set", "eth0", "up")

	sysDir, err := os.MkdirTemp("", nsPrefix+"sys-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sysDir) })
	run(t, "chown", "frr:frr", sysDir)
	if err := os.Chmod(sysDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sys := &instance{system: true, dir: sysDir, netns: ns, binDir: "/usr/lib/frr", vtysh: "vtysh", timeout: 15 * time.Second}
	for _, dn := range []string{"zebra", "ospfd"} {
		run(t, "ip", "netns", "exec", ns, "/usr/lib/frr/"+dn, "-d", "--vty_socket", sysDir,
			"-i", filepath.Join(sysDir, dn+".pid"), "-z", filepath.Join(sysDir, "zserv.api"),
			"-f", "/dev/null", "-P", "0", "--log", "file:"+filepath.Join(sysDir, dn+".log"))
		waitFor(t, 10*time.Second, dn+" up", func() bool { return sys.pid(dn) != 0 && fileExists(sys.vtySock(dn)) })
	}
	pids := sys.running()
	t.Cleanup(func() {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGTERM)
		}
		deadline := time.Now().Add(5 * time.Second)
		for _, p := range pids {
			for procAlive(p) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	})
	// The administrator's own lines.
	if _, err := sys.configure(ctx, []string{"router ospf", "log-adjacency-changes detail", "exit", "interface eth0", "ip ospf priority 5"}); err != nil {
		t.Fatal(err)
	}
	initial, err := sys.show(ctx, "ospfd", "show running-config")
	if err != nil {
		t.Fatal(err)
	}

	ownDir, err := os.MkdirTemp("", nsPrefix+"run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ownDir) })
	d, err := New(Options{NetNS: ns, RunDir: ownDir, SystemRunDir: sysDir})
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.Status(ctx)
	if err != nil || !st.System || len(st.Running) != 2 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	cfg := &config.Config{
		Interfaces: []*config.Interface{{Name: "eth0", Enabled: true, BridgeGroup: -1,
			OSPF: config.InterfaceOSPF{Cost: 7, PointToPoint: true}}},
		OSPF: &config.OSPF{RouterID: addr("10.0.9.1"), Networks: []config.OSPFNetwork{{Prefix: pfx("10.255.9.0/30")}}, RedistributeConnected: true},
	}
	res, err := runtime.Apply(ctx, []runtime.Driver{d}, nil, cfg, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 {
		t.Errorf("steps: %s", descs(res.Steps))
	}
	conf, _ := d.RunningConfig(ctx)
	for _, want := range []string{"log-adjacency-changes detail", "ip ospf priority 5", "ip ospf cost 7", "network 10.255.9.0/30 area 0", "redistribute connected"} {
		if !strings.Contains(conf, want) {
			t.Errorf("running config lacks %q:\n%s", want, conf)
		}
	}
	drift, err := d.Drift(ctx, cfg)
	if err != nil || len(drift) != 2 { // the two lines mboxsh does not manage
		t.Errorf("drift = %q, %v", drift, err)
	}
	if steps, err := d.Plan(ctx, cfg, cfg); err != nil || len(steps) != 0 {
		t.Errorf("plan of an identical config: %s, %v", descs(steps), err)
	}

	// Removing OSPF: a failed commit restores everything, a good one sends
	// `no router ospf` and leaves the daemons running.
	noOSPF := cfg.Clone()
	noOSPF.OSPF = nil
	if _, err := runtime.Apply(ctx, []runtime.Driver{d, failDriver{}}, cfg, noOSPF, runtime.Options{}); err == nil {
		t.Fatal("failing commit succeeded")
	}
	if after, _ := d.RunningConfig(ctx); after != conf {
		t.Fatalf("rolled-back removal changed the config:\nbefore:\n%s\nafter:\n%s", conf, after)
	}
	res, err = runtime.Apply(ctx, []runtime.Driver{d}, cfg, noOSPF, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removal steps: %s", descs(res.Steps))
	if after, _ := d.RunningConfig(ctx); strings.Contains(after, "router ospf") || after == initial {
		t.Errorf("after removal:\n%s", after)
	}
	if after, _ := d.RunningConfig(ctx); !strings.Contains(after, "ip ospf priority 5") || strings.Contains(after, "ip ospf cost") {
		t.Errorf("after removal:\n%s", after)
	}
	if got := sys.running(); len(got) != 2 {
		t.Errorf("system daemons after removal: %v", got)
	}
	if steps, err := d.Plan(ctx, noOSPF, noOSPF); err != nil || len(steps) != 0 {
		t.Errorf("plan without OSPF: %s, %v", descs(steps), err)
	}
	if err := d.Stop(ctx); err != nil {
		t.Error(err)
	}
	if got := sys.running(); len(got) != 2 {
		t.Errorf("Stop touched the system's daemons: %v", got)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// BenchmarkStartStop measures a commit that adds OSPF (starting zebra and
// ospfd, configuring three blocks) followed by one that removes it.
func BenchmarkStartStop(b *testing.B) {
	requireFRR(b)
	s := newSite(b, "bench")
	cfg := siteAConfig()
	noOSPF := cfg.Clone()
	noOSPF.OSPF = nil
	for b.Loop() {
		s.mustApply(b, nil, cfg)
		s.mustApply(b, cfg, noOSPF)
	}
}
