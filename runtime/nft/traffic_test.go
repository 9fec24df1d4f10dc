package nft

import (
	"fmt"
	"io"
	"net"
	goruntime "runtime"
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
