package nft

import (
	"fmt"
	"io"
	"net"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"mboxsh/config"
)

// inNS runs f on a thread switched into the named namespace. Sockets f
// creates stay in that namespace.
func inNS(tb testing.TB, name string, f func()) {
	tb.Helper()
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		target, err := netns.GetFromName(name)
		if err != nil {
			orig.Close()
			done <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			orig.Close()
			done <- err
			return
		}
		f()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			done <- err
			return
		}
		orig.Close()
		goruntime.UnlockOSThread()
		done <- nil
	}()
	if err := <-done; err != nil {
		tb.Fatalf("in namespace %s: %v", name, err)
	}
}

// lab is client — router — server: the router runs the driver.
//
//	client eth0 10.1.0.2/24 ── eth1 10.1.0.1 router eth0 10.2.0.1 ── eth0 10.2.0.2/24 server
type lab struct {
	client, router, server string
	d                      *Driver
}

func newLab(t *testing.T) *lab {
	l := &lab{client: newNS(t), router: newNS(t), server: newNS(t)}
	run(t, "ip", "-n", l.router, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", l.client)
	run(t, "ip", "-n", l.router, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", l.server)
	for _, c := range [][]string{
		{l.client, "addr", "add", "10.1.0.2/24", "dev", "eth0"},
		{l.client, "link", "set", "eth0", "up"},
		{l.client, "route", "add", "default", "via", "10.1.0.1"},
		{l.router, "addr", "add", "10.1.0.1/24", "dev", "eth1"},
		{l.router, "addr", "add", "10.2.0.1/24", "dev", "eth0"},
		{l.router, "addr", "add", "10.2.0.100/24", "dev", "eth0"},
		{l.router, "link", "set", "eth0", "up"},
		{l.router, "link", "set", "eth1", "up"},
		{l.server, "addr", "add", "10.2.0.2/24", "dev", "eth0"},
		{l.server, "link", "set", "eth0", "up"},
		{l.server, "route", "add", "default", "via", "10.2.0.1"},
	} {
		run(t, append([]string{"ip", "-n"}, c...)...)
	}
	run(t, "ip", "netns", "exec", l.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	l.d = newDriver(t, l.router)
	return l
}

// listen starts a TCP server in ns on address that answers every
// connection with the peer address it sees.
func listen(t *testing.T, ns, address string) {
	t.Helper()
	var ln net.Listener
	var err error
	inNS(t, ns, func() { ln, err = net.Listen("tcp", address) })
	if err != nil {
		t.Fatalf("listen %s in %s: %v", address, ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, c.RemoteAddr().(*net.TCPAddr).IP.String())
			c.Close()
		}
	}()
}

// dialFrom connects from ns to address; it returns the source address the
// server saw, or an error if the connection did not complete.
func dialFrom(t *testing.T, ns, address string) (string, error) {
	t.Helper()
	var c net.Conn
	var err error
	inNS(t, ns, func() { c, err = net.DialTimeout("tcp", address, 700*time.Millisecond) })
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func (l *lab) expectSeen(t *testing.T, from, address, seen string) {
	t.Helper()
	got, err := dialFrom(t, from, address)
	if err != nil {
		t.Fatalf("%s → %s: %v (want it to pass, seen as %s)", from, address, err, seen)
	}
	if got != seen {
		t.Fatalf("%s → %s: server saw %s, want %s", from, address, got, seen)
	}
}

func (l *lab) expectBlocked(t *testing.T, from, address string) {
	t.Helper()
	if got, err := dialFrom(t, from, address); err == nil {
		t.Fatalf("%s → %s passed (seen as %s), want it blocked", from, address, got)
	}
}

func (l *lab) commit(t *testing.T, from, to *config.Config) {
	t.Helper()
	commit(t, l.d, from, to)
}

func access(rules ...config.Rule) *config.Config { return &config.Config{FirewallAccess: rules} }

// TestTrafficForward: permit/deny in the forward filter, return traffic of
// permitted connections, and the implicit drop.
func TestTrafficForward(t *testing.T) {
	l := newLab(t)
	listen(t, l.server, "10.2.0.2:8080")
	listen(t, l.server, "10.2.0.2:8081")
	listen(t, l.client, "10.1.0.2:9090")

	// Before any commit everything flows (no table yet).
	l.expectSeen(t, l.client, "10.2.0.2:8081", "10.1.0.2")

	a := access(config.Rule{Number: 10, Action: "permit", Direction: "outbound", Interface: "eth0", Proto: "tcp", Dport: []string{"8080"}})
	l.commit(t, &configEmpty, a)
	// The reply (server → client) passes as established traffic.
	l.expectSeen(t, l.client, "10.2.0.2:8080", "10.1.0.2")
	l.expectBlocked(t, l.client, "10.2.0.2:8081")
	l.expectBlocked(t, l.server, "10.1.0.2:9090")

	// A deny with a lower number wins.
	b := access(append([]config.Rule{{Number: 5, Action: "deny", Direction: "outbound", Interface: "eth0", Proto: "tcp", Dport: []string{"8080"}}}, a.FirewallAccess...)...)
	l.commit(t, a, b)
	l.expectBlocked(t, l.client, "10.2.0.2:8080")

	// Wildcard interface and port lists; inbound rule opens the way in.
	c := access(
		config.Rule{Number: 10, Action: "permit", Direction: "outbound", Interface: "eth+", Proto: "tcp", Dport: []string{"8080", "8081"}},
		config.Rule{Number: 20, Action: "permit", Direction: "inbound", Interface: "eth0", Proto: "tcp", Dst: []string{"10.1.0.0/24"}, Dport: []string{"9000-9999"}},
	)
	l.commit(t, b, c)
	l.expectSeen(t, l.client, "10.2.0.2:8080", "10.1.0.2")
	l.expectSeen(t, l.client, "10.2.0.2:8081", "10.1.0.2")
	l.expectSeen(t, l.server, "10.1.0.2:9090", "10.2.0.2")

	// Without the default access rules the filter is stateless: replies
	// need their own rule.
	d := c.Clone()
	d.FirewallDisable.Access = true
	d.FirewallAccess = d.FirewallAccess[:1]
	l.commit(t, c, d)
	l.expectBlocked(t, l.client, "10.2.0.2:8080")
	e := d.Clone()
	e.FirewallAccess = append(e.FirewallAccess, config.Rule{Number: 30, Action: "permit", Direction: "inbound", Interface: "eth0", Proto: "tcp", Sport: []string{"8080"}})
	l.commit(t, d, e)
	l.expectSeen(t, l.client, "10.2.0.2:8080", "10.1.0.2")
}

// TestTrafficSNAT: overload (masquerade), exempt and static translate.
func TestTrafficSNAT(t *testing.T) {
	l := newLab(t)
	listen(t, l.server, "10.2.0.2:8080")
	base := access(config.Rule{Number: 10, Action: "permit", Direction: "outbound", Interface: "eth0"})

	masq := base.Clone()
	masq.FirewallSNAT = []config.Rule{{Number: 10, Action: "overload", Direction: "outbound", Interface: "eth0"}}
	l.commit(t, &configEmpty, masq)
	l.expectSeen(t, l.client, "10.2.0.2:8080", "10.2.0.1")

	exempt := masq.Clone()
	exempt.FirewallSNAT = append([]config.Rule{{Number: 8, Action: "exempt", Direction: "outbound", Interface: "eth0", Src: []string{"10.1.0.2"}}}, exempt.FirewallSNAT...)
	l.commit(t, masq, exempt)
	l.expectSeen(t, l.client, "10.2.0.2:8080", "10.1.0.2")

	static := masq.Clone()
	static.FirewallSNAT = append([]config.Rule{{Number: 5, Action: "translate", Direction: "outbound", Interface: "eth0", Proto: "ip", Src: []string{"10.1.0.0/24"}, Xsrc: "10.2.0.100"}}, static.FirewallSNAT...)
	l.commit(t, exempt, static)
	l.expectSeen(t, l.client, "10.2.0.2:8080", "10.2.0.100")

	// The counters saw it.
	cs, err := l.d.Counters(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Name == "firewall-snat 5" && c.Packets == 0 {
			t.Fatalf("firewall-snat 5 counter is zero: %+v", cs)
		}
	}
}

// TestTrafficDNAT: translate to an inside host, redirect to the router;
// NAT alone does not open the filter.
func TestTrafficDNAT(t *testing.T) {
	l := newLab(t)
	listen(t, l.client, "10.1.0.2:9090")
	listen(t, l.router, "0.0.0.0:5353")

	dnat := &config.Config{
		FirewallDNAT: []config.Rule{
			{Number: 10, Action: "translate", Direction: "inbound", Interface: "eth0", Proto: "tcp", Dst: []string{"10.2.0.1"}, Dport: []string{"8080"}, Xdst: "10.1.0.2", Xdport: "9090"},
			{Number: 30, Action: "redirect", Direction: "inbound", Interface: "eth1", Proto: "tcp", Dport: []string{"8053"}, Xdport: "5353"},
		},
	}
	l.commit(t, &configEmpty, dnat)
	l.expectBlocked(t, l.server, "10.2.0.1:8080")
	l.expectBlocked(t, l.client, "10.1.0.1:8053")

	open := dnat.Clone()
	open.FirewallAccess = []config.Rule{{Number: 20, Action: "permit", Direction: "inbound", Interface: "eth0", Proto: "tcp", Dst: []string{"10.1.0.2"}, Dport: []string{"9090"}}}
	open.FirewallInput = []config.Rule{{Number: 30, Action: "permit", Direction: "inbound", Interface: "eth1", Proto: "tcp", Dport: []string{"5353"}}}
	l.commit(t, dnat, open)
	l.expectSeen(t, l.server, "10.2.0.1:8080", "10.2.0.2")
	l.expectSeen(t, l.client, "10.1.0.1:8053", "10.1.0.2")

	// exempt before translate keeps the destination (nothing listens on
	// the router's 8080, so the connection is refused, not answered).
	ex := open.Clone()
	ex.FirewallDNAT = append([]config.Rule{{Number: 5, Action: "exempt", Direction: "inbound", Interface: "eth0", Src: []string{"10.2.0.2"}}}, ex.FirewallDNAT...)
	l.commit(t, open, ex)
	if _, err := dialFrom(t, l.server, "10.2.0.1:8080"); err == nil || !strings.Contains(err.Error(), "refused") && !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("exempted DNAT still translated: %v", err)
	}
}

// TestTrafficInput: the default input rules (SSH, ICMP) and
// `firewall-disable input`, which keeps loopback and established traffic.
func TestTrafficInput(t *testing.T) {
	l := newLab(t)
	listen(t, l.router, "0.0.0.0:22")
	listen(t, l.router, "0.0.0.0:2323")
	listen(t, l.router, "127.0.0.1:7000")
	cfg := &config.Config{}
	l.commit(t, &configEmpty, cfg)
	l.expectSeen(t, l.client, "10.1.0.1:22", "10.1.0.2")
	l.expectBlocked(t, l.client, "10.1.0.1:2323")
	run(t, "ip", "netns", "exec", l.client, "ping", "-c", "1", "-W", "1", "10.1.0.1")

	off := cfg.Clone()
	off.FirewallDisable.Input = true
	off.FirewallInput = []config.Rule{{Number: 10, Action: "permit", Direction: "inbound", Interface: "eth1", Proto: "tcp", Dport: []string{"2323"}}}
	l.commit(t, cfg, off)
	l.expectBlocked(t, l.client, "10.1.0.1:22")
	l.expectSeen(t, l.client, "10.1.0.1:2323", "10.1.0.2")
	l.expectSeen(t, l.router, "127.0.0.1:7000", "127.0.0.1")
	if err := tryRun("ip", "netns", "exec", l.client, "ping", "-c", "1", "-W", "1", "10.1.0.1"); err == nil {
		t.Fatal("ping passed with firewall-disable input")
	}
}

// filler is n rules of chain ch numbered 10, 20, … that match no packet
// of the lab (interface eth9).
func filler(ch config.Chain, n int) []config.Rule {
	out := make([]config.Rule, n)
	for i := range out {
		r := config.Rule{Number: 10 * (i + 1), Action: "permit", Direction: "inbound", Interface: "eth9", Proto: "tcp", Dport: []string{itoa(1 + i)}}
		switch ch {
		case config.ChainSNAT:
			r.Action, r.Direction = "overload", "outbound"
		case config.ChainDNAT:
			r.Action = "redirect"
		}
		out[i] = r
	}
	return out
}

// insertNumbered inserts r into rules (sorted) with the first free number
// after `after` that does (or does not) start a sub-chain, and returns the
// list and r's index. A rule that starts a sub-chain is in a later
// sub-chain than every rule before it.
func insertNumbered(t *testing.T, c *compiler, rules []config.Rule, after int, boundary bool, r config.Rule) ([]config.Rule, int) {
	t.Helper()
	n := after + 1
	for slices.ContainsFunc(rules, func(x config.Rule) bool { return x.Number == n }) || c.isBoundary(n) != boundary {
		n++
	}
	r.Number = n
	i, _ := slices.BinarySearchFunc(rules, n, func(x config.Rule, n int) int { return x.Number - n })
	return slices.Insert(slices.Clip(rules), i, r), i
}

// TestTrafficChunks: with long rule lists in sub-chains, packets meet the
// rules in order across sub-chains: a rule in the last sub-chain is
// reached, a deny in an earlier sub-chain wins over a later permit, and a
// permit over a later deny; the same for input, SNAT and DNAT.
func TestTrafficChunks(t *testing.T) {
	l := newLab(t)
	c := l.d.comp
	for _, p := range []string{"8080", "8081", "8082"} {
		listen(t, l.server, "10.2.0.2:"+p)
	}
	listen(t, l.client, "10.1.0.2:9090")
	listen(t, l.router, "0.0.0.0:22")
	listen(t, l.router, "0.0.0.0:2323")

	out := func(n int, action string, ports ...string) config.Rule {
		return config.Rule{Number: n, Action: action, Direction: "outbound", Interface: "eth0", Proto: "tcp", Dport: ports}
	}
	acc := filler(config.ChainAccess, 1000)
	early := 100
	acc[early] = out(acc[early].Number, "deny", "8080")
	acc[early+1] = out(acc[early+1].Number, "permit", "8082")
	acc, late := insertNumbered(t, c, acc, acc[early+1].Number, true, out(0, "permit", "8080"))
	acc, late2 := insertNumbered(t, c, acc, acc[late].Number, false, out(0, "deny", "8082"))
	acc, last := insertNumbered(t, c, acc, acc[len(acc)-1].Number, true, out(0, "permit", "8081"))
	nums := numbers(acc)
	chunkOfRule := func(i int) string { return chunkFor(c, chainForward, nums, nums[i]) }
	if chunkOfRule(early) == chunkOfRule(late) || chunkOfRule(late) != chunkOfRule(late2) || chunkOfRule(late) == chunkOfRule(last) {
		t.Fatalf("layout: %s %s %s %s", chunkOfRule(early), chunkOfRule(late), chunkOfRule(late2), chunkOfRule(last))
	}
	cfg := &config.Config{FirewallAccess: acc}
	l.commit(t, &configEmpty, cfg)
	if !strings.Contains(nftList(t, l.router), "jump forward-") {
		t.Fatal("the forward chain has no sub-chains")
	}
	l.expectBlocked(t, l.client, "10.2.0.2:8080")
	l.expectSeen(t, l.client, "10.2.0.2:8081", "10.1.0.2")
	l.expectSeen(t, l.client, "10.2.0.2:8082", "10.1.0.2")
	cs, err := l.d.Counters(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	hits := map[int]uint64{}
	for _, rc := range cs {
		if rc.Chain == "firewall-access" {
			hits[rc.Number] = rc.Packets
		}
	}
	for i, want := range map[int]bool{early: true, early + 1: true, late: false, late2: false, last: true} {
		if got := hits[acc[i].Number] > 0; got != want {
			t.Errorf("firewall-access %d counted %d packets", acc[i].Number, hits[acc[i].Number])
		}
	}

	// Without the early deny the late permit lets 8080 through.
	next := cfg.Clone()
	next.FirewallAccess = slices.Delete(next.FirewallAccess, early, early+1)
	l.commit(t, cfg, next)
	cfg = next
	l.expectSeen(t, l.client, "10.2.0.2:8080", "10.1.0.2")

	// Input: an early deny of SSH wins over the default service rule
	// (after the configured rules); a late permit opens 2323.
	next = cfg.Clone()
	in := filler(config.ChainInput, 300)
	in[20] = config.Rule{Number: in[20].Number, Action: "deny", Direction: "inbound", Interface: "eth1", Proto: "tcp", Dport: []string{"22"}}
	next.FirewallInput, _ = insertNumbered(t, c, in, in[20].Number, true, config.Rule{Action: "permit", Direction: "inbound", Interface: "eth1", Proto: "tcp", Dport: []string{"2323"}})
	l.commit(t, cfg, next)
	cfg = next
	l.expectBlocked(t, l.client, "10.1.0.1:22")
	l.expectSeen(t, l.client, "10.1.0.1:2323", "10.1.0.2")

	// SNAT and DNAT in sub-chains: the translation in a later sub-chain
	// is reached; an exempt in an earlier one wins.
	next = cfg.Clone()
	sn := filler(config.ChainSNAT, 300)
	next.FirewallSNAT, _ = insertNumbered(t, c, sn, sn[10].Number, true, config.Rule{Action: "translate", Direction: "outbound", Interface: "eth0", Proto: "ip", Src: []string{"10.1.0.0/24"}, Xsrc: "10.2.0.100"})
	dn := filler(config.ChainDNAT, 300)
	dn[10] = config.Rule{Number: dn[10].Number, Action: "exempt", Direction: "inbound", Interface: "eth0", Proto: "tcp", Dport: []string{"8089"}}
	next.FirewallDNAT, _ = insertNumbered(t, c, dn, dn[10].Number, true, config.Rule{Action: "translate", Direction: "inbound", Interface: "eth0", Proto: "tcp", Dst: []string{"10.2.0.1"}, Dport: []string{"8088", "8089"}, Xdst: "10.1.0.2", Xdport: "9090"})
	next.FirewallAccess = append(slices.Clip(next.FirewallAccess), config.Rule{Number: 100000, Action: "permit", Direction: "inbound", Interface: "eth0", Proto: "tcp", Dst: []string{"10.1.0.2"}, Dport: []string{"9090"}})
	l.commit(t, cfg, next)
	cfg = next
	list := nftList(t, l.router)
	for _, ch := range []string{"input-", "postrouting-", "prerouting-"} {
		if !strings.Contains(list, "jump "+ch) {
			t.Fatalf("no sub-chains %s*", ch)
		}
	}
	l.expectSeen(t, l.client, "10.2.0.2:8081", "10.2.0.100")
	l.expectSeen(t, l.server, "10.2.0.1:8088", "10.2.0.2")
	if _, err := dialFrom(t, l.server, "10.2.0.1:8089"); err == nil {
		t.Fatal("10.2.0.1:8089 was translated despite the earlier exempt")
	}
	noDrift(t, l.d, cfg)
}
