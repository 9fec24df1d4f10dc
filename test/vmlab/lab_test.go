package vmlab_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mboxsh/test/vmlab"
)

// All tests of this package run inside one VM boot.
func TestMain(m *testing.M) { vmlab.RunTestsInVM(m) }

// sh runs a command (no shell) and fails the test on error.
func sh(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// netns creates a network namespace with lo up, removed at the end.
func netns(t *testing.T, name string) {
	t.Helper()
	sh(t, "", "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	sh(t, "", "ip", "-n", name, "link", "set", "lo", "up")
}

// pair joins two new namespaces a and b with a veth (va in a, vb in b)
// addressed 10.0.0.1/24 and 10.0.0.2/24.
func pair(t *testing.T, a, b string) {
	t.Helper()
	netns(t, a)
	netns(t, b)
	sh(t, "", "ip", "link", "add", "va", "netns", a, "type", "veth", "peer", "name", "vb", "netns", b)
	sh(t, "", "ip", "-n", a, "addr", "add", "10.0.0.1/24", "dev", "va")
	sh(t, "", "ip", "-n", b, "addr", "add", "10.0.0.2/24", "dev", "vb")
	sh(t, "", "ip", "-n", a, "link", "set", "va", "up")
	sh(t, "", "ip", "-n", b, "link", "set", "vb", "up")
}

func ping(t *testing.T, ns, addr string) {
	t.Helper()
	out := sh(t, "", "ip", "netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-W", "3", addr)
	if !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("ping %s from %s:\n%s", addr, ns, out)
	}
}

func TestGuestEnvironment(t *testing.T) {
	if !vmlab.InVM() {
		t.Fatal("MBOXSH_IN_VM is not 1")
	}
	if os.Geteuid() != 0 {
		t.Fatalf("euid %d, want 0", os.Geteuid())
	}
	wd, _ := os.Getwd()
	if _, err := os.Stat(filepath.Join(wd, "lab_test.go")); err != nil {
		t.Errorf("working directory %s is not the package directory: %v", wd, err)
	}
	if os.Getenv("PATH") == "" || os.Getenv("HOME") == "" {
		t.Errorf("PATH or HOME not passed through: PATH=%q HOME=%q", os.Getenv("PATH"), os.Getenv("HOME"))
	}
	rel := strings.TrimSpace(sh(t, "", "uname", "-r"))
	if _, err := os.Stat(filepath.Join("/lib/modules", rel, "modules.dep")); err != nil {
		t.Errorf("module tree of %s not bound: %v", rel, err)
	}
	for _, d := range []string{"/run/netns", "/etc/netns/vmlab-probe", os.TempDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Errorf("mkdir %s: %v", d, err)
			continue
		}
		f := filepath.Join(d, "vmlab-probe")
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Errorf("%s is not writable: %v", d, err)
		}
		os.Remove(f)
	}
	os.Remove("/etc/netns/vmlab-probe")
	// A fresh /run: no host state (pid files, sockets) leaks in.
	if _, err := os.Stat("/run/frr"); err == nil {
		t.Errorf("/run/frr exists: /run is not fresh")
	}
}

// TestNetnsExecEtc checks the iproute2 convention the strongSwan setup
// relies on: `ip netns exec NS` binds /etc/netns/NS/* over /etc/*.
func TestNetnsExecEtc(t *testing.T) {
	netns(t, "vmlab-etc")
	dir := "/etc/netns/vmlab-etc"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "hostname"), []byte("vmlab-etc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := sh(t, "", "ip", "netns", "exec", "vmlab-etc", "cat", "/etc/hostname"); out != "vmlab-etc\n" {
		t.Fatalf("/etc/hostname in the namespace: %q", out)
	}
}

// TestGRE: two namespaces joined by a veth, a GRE tunnel across, ping
// through it (the tunnel subnet exists only on the GRE devices).
func TestGRE(t *testing.T) {
	pair(t, "vmlab-gre-a", "vmlab-gre-b")
	for _, s := range []struct{ ns, local, remote, addr string }{
		{"vmlab-gre-a", "10.0.0.1", "10.0.0.2", "172.16.0.1/30"},
		{"vmlab-gre-b", "10.0.0.2", "10.0.0.1", "172.16.0.2/30"},
	} {
		sh(t, "", "ip", "-n", s.ns, "link", "add", "tun0", "type", "gre", "local", s.local, "remote", s.remote, "ttl", "64")
		sh(t, "", "ip", "-n", s.ns, "link", "set", "tun0", "mtu", "1400", "up")
		sh(t, "", "ip", "-n", s.ns, "addr", "add", s.addr, "dev", "tun0")
	}
	if out := sh(t, "", "ip", "-n", "vmlab-gre-a", "-d", "link", "show", "tun0"); !strings.Contains(out, "gre remote 10.0.0.2 local 10.0.0.1") {
		t.Fatalf("tun0 is not the GRE tunnel asked for:\n%s", out)
	}
	ping(t, "vmlab-gre-a", "172.16.0.2")
	// The pings crossed the tunnel: tun0 counted them.
	out := sh(t, "", "ip", "-n", "vmlab-gre-b", "-s", "link", "show", "tun0")
	if strings.Contains(out, "RX:  bytes packets errors dropped  missed   mcast           \n             0       0") {
		t.Fatalf("tun0 in b received nothing:\n%s", out)
	}
}

// TestVLAN: an 802.1Q VLAN on each end of a veth, ping across it.
func TestVLAN(t *testing.T) {
	pair(t, "vmlab-vlan-a", "vmlab-vlan-b")
	for _, s := range []struct{ ns, parent, addr string }{
		{"vmlab-vlan-a", "va", "192.168.10.1/24"},
		{"vmlab-vlan-b", "vb", "192.168.10.2/24"},
	} {
		sh(t, "", "ip", "-n", s.ns, "link", "add", "link", s.parent, "name", "vlan10", "type", "vlan", "id", "10")
		sh(t, "", "ip", "-n", s.ns, "addr", "add", s.addr, "dev", "vlan10")
		sh(t, "", "ip", "-n", s.ns, "link", "set", "vlan10", "up")
	}
	if out := sh(t, "", "ip", "-n", "vmlab-vlan-a", "-d", "link", "show", "vlan10"); !strings.Contains(out, "vlan protocol 802.1Q id 10") {
		t.Fatalf("vlan10 is not an 802.1Q VLAN 10:\n%s", out)
	}
	ping(t, "vmlab-vlan-a", "192.168.10.2")
}

// TestModulesOnDemand: the kernel loads what the project needs from the
// bound module tree when first used (ESP/XFRM, nftables with NAT, dummy).
func TestModulesOnDemand(t *testing.T) {
	pair(t, "vmlab-mod-a", "vmlab-mod-b")
	// Keys go through stdin, never through process arguments.
	sh(t, "xfrm state add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 mode transport "+
		"enc cbc(aes) 0x000102030405060708090a0b0c0d0e0f auth hmac(sha1) 0x000102030405060708090a0b0c0d0e0f10111213\n",
		"ip", "-n", "vmlab-mod-a", "-batch", "-")
	if out := sh(t, "", "ip", "-n", "vmlab-mod-a", "xfrm", "state"); !strings.Contains(out, "proto esp spi 0x00000100") {
		t.Fatalf("no ESP state:\n%s", out)
	}
	sh(t, "table ip vmlabtest {\n"+
		"  chain post { type nat hook postrouting priority srcnat; oifname \"va\" masquerade; }\n"+
		"  chain filt { type filter hook forward priority filter; policy drop; ct state established,related accept; }\n"+
		"}\n", "ip", "netns", "exec", "vmlab-mod-a", "nft", "-f", "-")
	if out := sh(t, "", "ip", "netns", "exec", "vmlab-mod-a", "nft", "list", "ruleset"); !strings.Contains(out, "masquerade") {
		t.Fatalf("nft ruleset without the NAT rule:\n%s", out)
	}
	sh(t, "", "ip", "-n", "vmlab-mod-a", "link", "add", "d0", "type", "dummy")
	mods := sh(t, "", "cat", "/proc/modules")
	for _, m := range []string{"ip_gre", "esp4", "nf_tables", "nft_masq", "dummy"} {
		if m == "ip_gre" {
			continue // loaded only by TestGRE
		}
		if !strings.Contains(mods, m+" ") {
			t.Errorf("module %s not loaded", m)
		}
	}
}
