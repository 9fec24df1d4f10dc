package system

import (
	"context"
	"errors"
	"fmt"
	"mboxsh/internal/linediff"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"mboxsh/config"
	"mboxsh/runtime"
)

// requireRoot fails (or, with MBOXSH_ALLOW_SKIP=1, skips) without root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("MBOXSH_ALLOW_SKIP") == "1" {
		t.Skip("needs root (network namespaces)")
	}
	t.Fatal("this test needs root: it creates network namespaces (set MBOXSH_ALLOW_SKIP=1 to skip)")
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newAppliance creates a namespace with NICs eth0..eth2 (veth pairs whose
// peers stay in the namespace as peer0..peer2) and returns its name.
func newAppliance(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	ns := fmt.Sprintf("mbxsys-%d-%s", os.Getpid(), strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]`).ReplaceAllString(t.Name(), "")))
	if len(ns) > 40 {
		ns = ns[:40]
	}
	sh(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	// IPv6 link-local addresses come and go (DAD) on their own: keep them
	// out of the comparison.
	sh(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	for i := 0; i < 3; i++ {
		sh(t, "ip", "-n", ns, "link", "add", fmt.Sprintf("eth%d", i), "type", "veth", "peer", "name", fmt.Sprintf("peer%d", i))
		sh(t, "ip", "-n", ns, "link", "set", fmt.Sprintf("peer%d", i), "up")
	}
	return ns
}

// kernelState is what the kernel holds of everything mboxsh manages, as
// text, with counters and other volatile fields removed.
func kernelState(t *testing.T, ns string) string {
	t.Helper()
	volatile := regexp.MustCompile(`packets \d+ bytes \d+|valid_lft \S+|preferred_lft \S+|qdisc \S+|\s+$`)
	var b strings.Builder
	for _, args := range [][]string{
		{"ip", "-n", ns, "-o", "link", "show"},
		{"ip", "-n", ns, "-o", "addr", "show"},
		{"ip", "-n", ns, "route", "show", "table", "all"},
		{"ip", "netns", "exec", ns, "nft", "list", "ruleset"},
		{"ip", "netns", "exec", ns, "sysctl", "net.ipv4.ip_forward"},
	} {
		for _, line := range strings.Split(sh(t, args...), "\n") {
			b.WriteString(volatile.ReplaceAllString(line, ""))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func mustParse(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(text), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// largeConfig has every kind of statement the host kernel supports
// (addresses, MTU, aliases, routes, all four rule chains).
func largeConfig(t *testing.T, routes, rules int) *config.Config {
	var b strings.Builder
	b.WriteString("hostname big\n")
	b.WriteString("interface eth0\n description \"WAN uplink\"\n enable\n mtu 1400\n ip address 198.51.100.2/24\n!\n")
	b.WriteString("interface eth1\n description LAN\n enable\n ip address 10.1.0.1/16\n ip address 10.2.0.1/24\n!\n")
	b.WriteString("interface eth2\n enable\n!\n")
	b.WriteString("ip default-gateway 198.51.100.1\n")
	for i := 0; i < routes; i++ {
		fmt.Fprintf(&b, "ip route 172.%d.%d.0/24 nexthop 10.1.0.%d\n", 16+i/250, i%250, 2+i%200)
	}
	for i := 0; i < rules; i++ {
		fmt.Fprintf(&b, "firewall-access %d permit outbound eth0 tcp src 10.1.%d.0/24 dport %d\n", 100+i, i%250, 1+i%60000)
	}
	b.WriteString("firewall-input 10 permit inbound eth1 tcp dport 22\n")
	b.WriteString("firewall-snat 8 exempt outbound eth0 src 198.51.100.2\n")
	b.WriteString("firewall-snat 10 overload outbound eth0\n")
	b.WriteString("firewall-dnat 10 translate inbound eth0 tcp dport 8080 xdst 10.1.0.5 xdport 80\n")
	return mustParse(t, b.String())
}

// TestFaultInjection makes each step of a large commit fail in turn and
// proves, by reading the kernel back, that the state after each failure
// equals the state before the commit.
func TestFaultInjection(t *testing.T) {
	ns := newAppliance(t)
	sys := New(ns, t.TempDir())
	defer sys.Close()
	ctx := context.Background()
	drivers, err := sys.Drivers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A first configuration, so failures must restore changed objects, not
	// just remove new ones.
	base := mustParse(t, "interface eth0\n enable\n mtu 1500\n ip address 192.0.2.1/24\n!\ninterface eth1\n description old\n!\n"+
		"ip route 203.0.113.0/24 nexthop 192.0.2.254\nfirewall-access 5 deny all tcp dport 23\n")
	if _, err := runtime.Apply(ctx, drivers, &config.Config{}, base, runtime.Options{}); err != nil {
		t.Fatalf("base commit: %v", err)
	}
	target := largeConfig(t, 40, 60)
	before := kernelState(t, ns)

	var total int
	_, err = runtime.Apply(ctx, drivers, base, target, runtime.Options{BeforeStep: func(i int, s runtime.Step) error {
		total++
		return errors.New("counting")
	}})
	if err == nil || total != 1 {
		t.Fatalf("counting run: %v", err)
	}
	// Count the steps of the whole commit by planning.
	steps := 0
	for _, d := range drivers {
		s, err := d.Plan(ctx, base, target)
		if err != nil {
			t.Fatal(err)
		}
		steps += len(s)
	}
	if steps < 5 {
		t.Fatalf("only %d steps planned: the test is not exercising much", steps)
	}
	injected := errors.New("injected fault")
	for fail := 0; fail < steps; fail++ {
		var failed runtime.Step
		_, err := runtime.Apply(ctx, drivers, base, target, runtime.Options{BeforeStep: func(i int, s runtime.Step) error {
			if i == fail {
				failed = s
				return injected
			}
			return nil
		}})
		var se *runtime.StepError
		if !errors.As(err, &se) || !errors.Is(err, injected) {
			t.Fatalf("step %d: want the injected StepError, got %v", fail, err)
		}
		if se.UndoErr != nil {
			t.Fatalf("step %d (%s): undo failed: %v", fail, failed.Stmt, se.UndoErr)
		}
		if after := kernelState(t, ns); after != before {
			t.Fatalf("step %d/%d (%s: %s) failed, and the kernel differs from before the commit:\n%s",
				fail, steps, failed.Stmt, failed.Desc, linediff.Diff(before, after))
		}
	}
	// And the commit itself succeeds and is then a no-op.
	if _, err := runtime.Apply(ctx, drivers, base, target, runtime.Options{}); err != nil {
		t.Fatalf("commit: %v", err)
	}
	for _, d := range drivers {
		s, err := d.Plan(ctx, target, target)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 0 {
			t.Errorf("%s: %d steps after an identical commit (first: %s %s)", d.Name(), len(s), s[0].Stmt, s[0].Desc)
		}
	}
	t.Logf("%d steps, each failed in turn, kernel restored every time", steps)
}
