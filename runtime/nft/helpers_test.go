package nft

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mboxsh/config"
	"mboxsh/runtime"
)

// requireRoot fails (or skips with MBOXSH_ALLOW_SKIP=1) when the tests cannot
// create network namespaces and program nftables.
func requireRoot(tb testing.TB) {
	tb.Helper()
	var missing string
	switch {
	case os.Geteuid() != 0:
		missing = "root (network namespaces, nftables)"
	default:
		for _, tool := range []string{"ip", "nft"} {
			if _, err := exec.LookPath(tool); err != nil {
				missing = "the " + tool + " tool"
			}
		}
	}
	if missing == "" {
		return
	}
	if os.Getenv("MBOXSH_ALLOW_SKIP") == "1" {
		tb.Skipf("needs %s", missing)
	}
	tb.Fatalf("needs %s (set MBOXSH_ALLOW_SKIP=1 to skip)", missing)
}

var nsCounter atomic.Int32

// newNS creates a fresh network namespace mbxnft-<pid>-<n> with lo up and
// deletes it when the test ends.
func newNS(tb testing.TB) string {
	tb.Helper()
	requireRoot(tb)
	name := fmt.Sprintf("mbxnft-%d-%d", os.Getpid(), nsCounter.Add(1))
	run(tb, "ip", "netns", "add", name)
	tb.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	run(tb, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

func run(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func tryRun(args ...string) error { return exec.Command(args[0], args[1:]...).Run() }

func runStdin(tb testing.TB, stdin string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nftList lists mboxsh's table in ns as nft prints it ("" if absent).
func nftList(tb testing.TB, ns string) string {
	tb.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "inet", TableName).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No such file or directory") {
			return ""
		}
		tb.Fatalf("nft list table: %v\n%s", err, out)
	}
	return string(out)
}

var counterRE = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// zeroCounters blanks the counter values of a listing.
func zeroCounters(s string) string { return counterRE.ReplaceAllString(s, "counter packets 0 bytes 0") }

// canonical zeroes counters and sorts the chain blocks of a listing (a
// chain created again is listed last).
func canonical(s string) string { return chainBlocks(zeroCounters(s)) }

// chainBlocks is a listing with its chain blocks sorted (a chain created
// again is listed last) and counters kept.
func chainBlocks(s string) string {
	head, rest, ok := strings.Cut(s, "\n\tchain ")
	if !ok {
		return s
	}
	blocks := strings.Split("\tchain "+rest, "\n\n")
	for i := range blocks {
		blocks[i] = strings.TrimSuffix(strings.TrimRight(blocks[i], "\n"), "\n}")
	}
	sort.Strings(blocks)
	return head + "\n" + strings.Join(blocks, "\n\n") + "\n}\n"
}

func nftLoad(tb testing.TB, ns, script string) {
	tb.Helper()
	runStdin(tb, script, "ip", "netns", "exec", ns, "nft", "-f", "-")
}

func newDriver(tb testing.TB, ns string) *Driver {
	tb.Helper()
	d, err := New(ns)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return c
}

// commit applies to over from like the shell's commit does.
func commit(tb testing.TB, d *Driver, from, to *config.Config) *runtime.Result {
	tb.Helper()
	res, err := runtime.Apply(ctx(tb), []runtime.Driver{d}, from, to, runtime.Options{})
	if err != nil {
		tb.Fatalf("commit: %v", err)
	}
	return res
}

func noDrift(tb testing.TB, d *Driver, cfg *config.Config) {
	tb.Helper()
	lines, err := d.Drift(ctx(tb), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if len(lines) > 0 {
		tb.Fatalf("unexpected drift:\n%s", strings.Join(lines, "\n"))
	}
}

// driftIs requires Drift to report one line for each of want, in order,
// each starting with its want.
func driftIs(tb testing.TB, d *Driver, cfg *config.Config, want []string) {
	tb.Helper()
	lines, err := d.Drift(ctx(tb), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if len(lines) != len(want) {
		tb.Fatalf("drift lines %q, want %q", lines, want)
	}
	for i := range lines {
		if !strings.HasPrefix(lines[i], want[i]) {
			tb.Fatalf("drift lines %q, want %q", lines, want)
		}
	}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

// referenceConfig is ../examples/remote.cfg as a model.
func referenceConfig() *config.Config {
	return &config.Config{
		Hostname: "remote",
		Interfaces: []*config.Interface{
			{Name: "eth0", Enabled: true, Addresses: []netip.Prefix{pfx("203.0.113.2/24")}, BridgeGroup: -1},
			{Name: "eth1", Enabled: true, BridgeGroup: -1},
			{Name: "tun0", Kind: config.KindGRE, Enabled: true, MTU: 1400, Addresses: []netip.Prefix{pfx("172.16.0.2/30")},
				TunnelLocal: addr("203.0.113.2"), TunnelRemote: addr("198.51.100.2"), BridgeGroup: -1},
			{Name: "vlan20", Kind: config.KindVLAN, VLANParent: "eth1", VLANID: 20, Enabled: true,
				Addresses: []netip.Prefix{pfx("192.168.20.1/24")}, BridgeGroup: -1},
		},
		DefaultGateway: addr("203.0.113.1"),
		FirewallAccess: []config.Rule{
			{Number: 10, Action: "permit", Direction: "outbound", Interface: "eth0"},
			{Number: 11, Action: "permit", Direction: "outbound", Interface: "tun0", Src: []string{"192.168.20.0/24"}},
			{Number: 12, Action: "permit", Direction: "inbound", Interface: "tun0", Dst: []string{"192.168.20.0/24"}},
		},
		FirewallSNAT: []config.Rule{
			{Number: 8, Action: "exempt", Direction: "outbound", Interface: "eth0", Src: []string{"203.0.113.2"}, Remark: "bypass SNAT for tunnel traffic"},
			{Number: 10, Action: "overload", Direction: "outbound", Interface: "eth0"},
		},
		Peers: []*config.Peer{{Name: "198.51.100.2", Local: addr("203.0.113.2"),
			LocalNet: []netip.Prefix{pfx("203.0.113.2/32")}, RemoteNet: []netip.Prefix{pfx("198.51.100.2/32")},
			IKEPolicy: 10, ESPPolicy: 10, PSK: "x"}},
		IPsec: config.IPsecStarted,
	}
}

var configEmpty config.Config
