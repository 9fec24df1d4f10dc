// Package nltest holds the test fixtures of the netlink driver: network
// namespaces with veth pairs standing in for NICs, and a read-back of the
// kernel state through iproute2 (an oracle independent of the driver).
package nltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// Prefix is the name prefix of every namespace these tests create.
const Prefix = "mbxnl-"

// RequireRoot fails the test unless it runs as root with iproute2, or skips
// it when MBOXSH_ALLOW_SKIP=1.
func RequireRoot(t testing.TB) {
	t.Helper()
	var missing string
	if os.Geteuid() != 0 {
		missing = "root (network namespaces)"
	} else if _, err := exec.LookPath("ip"); err != nil {
		missing = "iproute2's ip command"
	}
	if missing == "" {
		return
	}
	msg := "this test needs " + missing
	if os.Getenv("MBOXSH_ALLOW_SKIP") == "1" {
		t.Skip(msg + " (skipped: MBOXSH_ALLOW_SKIP=1)")
	}
	t.Fatal(msg + "; run as root, or set MBOXSH_ALLOW_SKIP=1 to skip")
}

// NS is a network namespace of a test, deleted at its end.
type NS struct {
	Name string
	t    testing.TB
}

var seq atomic.Int64

// NewNS creates namespace mbxnl-<tag>-<pid>-<n> and deletes it when the
// test ends.
func NewNS(t testing.TB, tag string) *NS {
	t.Helper()
	return NewNSPrefixed(t, Prefix, tag)
}

// NewNSPrefixed is NewNS with another name prefix: <prefix><tag>-<pid>-<n>.
func NewNSPrefixed(t testing.TB, prefix, tag string) *NS {
	t.Helper()
	RequireRoot(t)
	name := fmt.Sprintf("%s%s-%d-%d", prefix, tag, os.Getpid(), seq.Add(1))
	_ = exec.Command("ip", "netns", "del", name).Run() // left over by a killed run
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &NS{Name: name, t: t}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return n
}

// TryIP runs `ip -n NS args...`.
func (n *NS) TryIP(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip -n %s %s: %v: %s", n.Name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// IP runs `ip -n NS args...` and fails the test on error.
func (n *NS) IP(args ...string) string {
	n.t.Helper()
	out, err := n.TryIP(args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

// Exec runs a command inside the namespace (ip netns exec).
func (n *NS) Exec(args ...string) string {
	n.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("ip netns exec %s %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// NoDAD turns IPv6 duplicate address detection off for the links created
// from now on: the IPv6 link-local address of a link that comes up is final
// at once, instead of changing (with a notification) a second or two later.
func (n *NS) NoDAD() {
	n.t.Helper()
	n.Exec("sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad && echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad")
}

// AddNIC makes a veth pair name/p<name> that stands in for a NIC; the peer
// is up, so the NIC has carrier once it is brought up.
func (n *NS) AddNIC(names ...string) {
	n.t.Helper()
	for _, name := range names {
		n.IP("link", "add", name, "type", "veth", "peer", "name", "p"+name)
		n.IP("link", "set", "p"+name, "up")
	}
}

// Wire connects two namespaces with a veth pair: aName in a, bName in b.
// Both ends stay down until configured.
func Wire(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	out, err := exec.Command("ip", "link", "add", aName, "netns", a.Name, "type", "veth", "peer", "name", bName, "netns", b.Name).CombinedOutput()
	if err != nil {
		t.Fatalf("veth %s/%s between %s and %s: %v: %s", aName, bName, a.Name, b.Name, err, out)
	}
}

// Sysctl reads a sysctl inside the namespace, e.g. "net/ipv4/ip_forward".
func (n *NS) Sysctl(path string) string {
	n.t.Helper()
	out, err := exec.Command("nsenter", "--net=/run/netns/"+n.Name, "cat", "/proc/sys/"+path).Output()
	if err != nil {
		n.t.Fatalf("reading %s in %s: %v", path, n.Name, err)
	}
	return strings.TrimSpace(string(out))
}

// State is a normalised, sorted description of a namespace's links,
// addresses, main routing table and router sysctls.
type State []string

// Diff lists the lines only in a (-) and only in b (+); "" if equal.
func Diff(a, b State) string {
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// Filter returns the lines that do not start with any of the prefixes.
func (s State) Filter(prefixes ...string) State {
	var out State
	for _, l := range s {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(l, p) }) {
			out = append(out, l)
		}
	}
	return out
}

// Grep returns the lines that contain all the words.
func (s State) Grep(words ...string) State {
	var out State
	for _, l := range s {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

func (s State) String() string { return strings.Join(s, "\n") }

type ipLink struct {
	Name     string   `json:"ifname"`
	Flags    []string `json:"flags"`
	MTU      int      `json:"mtu"`
	Address  string   `json:"address"`
	Alias    string   `json:"ifalias"`
	Master   string   `json:"master"`
	Link     string   `json:"link"`
	LinkInfo *struct {
		Kind string         `json:"info_kind"`
		Data map[string]any `json:"info_data"`
	} `json:"linkinfo"`
}

type ipAddrs struct {
	Name  string `json:"ifname"`
	Addrs []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		Prefixlen int    `json:"prefixlen"`
		Broadcast string `json:"broadcast"`
		Scope     string `json:"scope"`
		Secondary bool   `json:"secondary"`
		Label     string `json:"label"`
		Dynamic   bool   `json:"dynamic"`
	} `json:"addr_info"`
}

type ipRoute struct {
	Type     string   `json:"type"`
	Dst      string   `json:"dst"`
	Gateway  string   `json:"gateway"`
	Dev      string   `json:"dev"`
	Protocol string   `json:"protocol"`
	Scope    string   `json:"scope"`
	Metric   int      `json:"metric"`
	Flags    []string `json:"flags"`
	PrefSrc  string   `json:"prefsrc"`
	Nexthops []struct {
		Gateway string `json:"gateway"`
		Dev     string `json:"dev"`
	} `json:"nexthops"`
}

func (n *NS) ipJSON(v any, args ...string) {
	n.t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", n.Name, "-j"}, args...)...).Output()
	if err != nil {
		n.t.Fatalf("ip -n %s -j %s: %v", n.Name, strings.Join(args, " "), err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		n.t.Fatalf("ip -j %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// greKeys and vlanKeys are the info_data fields that describe a tunnel or
// VLAN; the others (counters, timers) are left out.
var (
	greKeys  = []string{"local", "remote", "ttl", "tos", "pmtudisc", "ikey", "okey", "link"}
	vlanKeys = []string{"protocol", "id"}
)

// Snapshot reads the namespace through iproute2 and /proc: links (kind,
// admin state, MTU, MAC, alias, master, tunnel and VLAN parameters),
// addresses (without IPv6 link-local ones, with primary/secondary), the main
// routing table (without the IPv6 routes of the kernel), ip_forward and every
// rp_filter. Operational state and counters are left out.
func (n *NS) Snapshot() State {
	n.t.Helper()
	var s State
	// One ip process for links, addresses and IPv4 routes; -6 cannot be
	// given per batch line, so IPv6 routes take a second one.
	cmd := exec.Command("ip", "-n", n.Name, "-d", "-j", "-batch", "-")
	cmd.Stdin = strings.NewReader("link show\naddr show\nroute show table main\n")
	out, err := cmd.Output()
	if err != nil {
		n.t.Fatalf("ip -n %s -batch: %v", n.Name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var (
		links    []ipLink
		addrs    []ipAddrs
		routes4  []ipRoute
		routes6  []ipRoute
		jsonErrs []error
	)
	for _, v := range []any{&links, &addrs, &routes4} {
		if err := dec.Decode(v); err != nil {
			jsonErrs = append(jsonErrs, err)
		}
	}
	if len(jsonErrs) > 0 {
		n.t.Fatalf("ip -j -batch output of %s: %v\n%s", n.Name, jsonErrs, out)
	}
	n.ipJSON(&routes6, "-6", "route", "show", "table", "main")
	for _, l := range links {
		up := slices.Contains(l.Flags, "UP")
		kind := ""
		extra := ""
		if l.LinkInfo != nil {
			kind = l.LinkInfo.Kind
			var keys []string
			switch kind {
			case "gre":
				keys = greKeys
			case "vlan":
				keys = vlanKeys
				extra += " parent=" + l.Link
			}
			for _, k := range keys {
				if v, ok := l.LinkInfo.Data[k]; ok {
					extra += fmt.Sprintf(" %s=%v", k, v)
				}
			}
		}
		mac := l.Address
		if kind == "bridge" {
			// The kernel takes a bridge's MAC from its ports (zero without
			// ports, random when created): not part of the state mboxsh keeps.
			mac = "(from ports)"
		}
		s = append(s, fmt.Sprintf("link %s kind=%s up=%v mtu=%d mac=%s alias=%q master=%s%s",
			l.Name, kind, up, l.MTU, mac, l.Alias, l.Master, extra))
	}
	for _, l := range addrs {
		for _, a := range l.Addrs {
			if a.Family == "inet6" && a.Scope == "link" {
				continue
			}
			s = append(s, fmt.Sprintf("addr %s %s %s/%d brd=%s scope=%s secondary=%v label=%s dynamic=%v",
				l.Name, a.Family, a.Local, a.Prefixlen, a.Broadcast, a.Scope, a.Secondary, a.Label, a.Dynamic))
		}
	}
	for fam, routes := range map[string][]ipRoute{"-4": routes4, "-6": routes6} {
		for _, r := range routes {
			if fam == "-6" && r.Protocol == "kernel" {
				continue
			}
			nh := ""
			for _, h := range r.Nexthops {
				nh += " nh=" + h.Gateway + "@" + h.Dev
			}
			s = append(s, fmt.Sprintf("route%s %s type=%s via=%s dev=%s proto=%s scope=%s metric=%d flags=%v src=%s%s",
				fam, r.Dst, r.Type, r.Gateway, r.Dev, r.Protocol, r.Scope, r.Metric, r.Flags, r.PrefSrc, nh))
		}
	}
	paths := []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/conf/all/rp_filter", "/proc/sys/net/ipv4/conf/default/rp_filter"}
	for _, l := range links {
		paths = append(paths, "/proc/sys/net/ipv4/conf/"+l.Name+"/rp_filter")
	}
	// nsenter --net: one process, and the files are opened by a thread
	// of the namespace (unlike the test's own threads).
	cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + n.Name, "grep", "-H", "."}, paths...)...)
	out, err = cmd.Output()
	if err != nil {
		n.t.Fatalf("reading sysctls of %s: %v", n.Name, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, val, _ := strings.Cut(line, ":")
		s = append(s, "sysctl "+strings.TrimPrefix(path, "/proc/sys/")+"="+val)
	}
	slices.Sort(s)
	return s
}

// Batch runs `ip -n NS -batch -` with the given commands and fails the test
// on error.
func (n *NS) Batch(cmds string) {
	n.t.Helper()
	c := exec.Command("ip", "-n", n.Name, "-batch", "-")
	c.Stdin = strings.NewReader(cmds)
	if out, err := c.CombinedOutput(); err != nil {
		n.t.Fatalf("ip -n %s -batch: %v: %s", n.Name, err, bytes.TrimSpace(out))
	}
}
