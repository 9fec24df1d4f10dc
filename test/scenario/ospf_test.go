package scenario

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ospfConfig turns a reference site configuration into one that learns the
// other LAN by OSPF over tun0 instead of a static route.
func ospfConfig(t *testing.T, s site, routerID, lanNet, lanIf string) string {
	t.Helper()
	src, err := os.ReadFile(s.cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(src), "\n") {
		if strings.HasPrefix(line, "ip route ") {
			continue
		}
		b.WriteString(line)
		if line == " ip address 172.16.0.1/30\n" || line == " ip address 172.16.0.2/30\n" {
			b.WriteString(" ip ospf network point-to-point\n ip ospf hello-interval 1\n ip ospf dead-interval 4\n")
		}
	}
	fmt.Fprintf(&b, "router ospf\n router-id %s\n network 172.16.0.0/30 area 0\n network %s area 0\n passive-interface %s\n!\n", routerID, lanNet, lanIf)
	return b.String()
}

// TestOSPFOverTunnel: the reference sites with the static routes replaced
// by OSPF over tun0 (point-to-point); each learns the other's LAN.
func TestOSPFOverTunnel(t *testing.T) {
	l := newLab(t)
	r := &report{w: os.Stdout, start: time.Now()}
	defer r.print("OSPF over the IPsec-protected GRE tunnel")
	buildReference(l)
	cfgs := map[string]string{
		"hq":     ospfConfig(t, hq, "10.255.0.1", "192.168.10.0/24", "vlan10"),
		"remote": ospfConfig(t, remote, "10.255.0.2", "192.168.20.0/24", "vlan20"),
	}
	for _, s := range []site{hq, remote} {
		if !r.check(t, "configure "+s.name+" with OSPF through mboxsh", func() error {
			out, err := l.mboxsh(s.name, "configure\n"+cfgs[s.name]+"commit\nend\n")
			if err != nil {
				return fmt.Errorf("%v\n%s", err, out)
			}
			return nil
		}) {
			return
		}
	}
	r.check(t, "OSPF neighbor Full on tun0", func() error {
		return eventually(60*time.Second, func() error {
			out := l.show("hq", "show ip ospf neighbor")
			if !strings.Contains(out, "Full") || !strings.Contains(out, "tun0") {
				return fmt.Errorf("show ip ospf neighbor:\n%s", out)
			}
			return nil
		})
	})
	r.check(t, "each site learns the other's LAN (code O in show ip route)", func() error {
		return eventually(30*time.Second, func() error {
			for _, c := range []struct{ site, lan string }{{"hq", "192.168.20.0/24"}, {"remote", "192.168.10.0/24"}} {
				out := l.show(c.site, "show ip route")
				if !regexp.MustCompile(`(?m)^O\s+` + regexp.QuoteMeta(c.lan) + `.* via 172\.16\.0\.\d, tun0`).MatchString(out) {
					return fmt.Errorf("%s: no OSPF route to %s:\n%s", c.site, c.lan, out)
				}
			}
			return nil
		})
	})
	r.check(t, "LAN-to-LAN ping over OSPF routes, both ways", func() error {
		if err := eventually(60*time.Second, func() error { return ping(l, hq.lanNS, hq.otherIP) }); err != nil {
			return err
		}
		return ping(l, remote.lanNS, remote.otherIP)
	})
	r.check(t, "show ip ospf interface tun0: point-to-point, hello 1, dead 4", func() error {
		out := l.show("hq", "show ip ospf interface tun0")
		for _, want := range []string{"POINTOPOINT", "Hello 1s", "Dead 4s"} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("missing %q:\n%s", want, out)
			}
		}
		return nil
	})
}

// Dual-path topology: hq and branch each have two WAN links, one through
// ISP A and one through ISP B; a GRE tunnel protected by its own IPsec peer
// runs over each path, and OSPF picks tun0 (cost 10) over tun1 (cost 100).
const dualHQ = `hostname hq
interface eth0
 description "ISP A"
 enable
 ip address 198.51.100.2/24
!
interface eth1
 description LAN
 enable
!
interface eth2
 description "ISP B"
 enable
 ip address 100.64.1.2/24
!
interface tun0
 tunnel local 198.51.100.2 remote 203.0.113.2
 enable
 mtu 1400
 ip address 172.16.0.1/30
 ip ospf network point-to-point
 ip ospf cost 10
 ip ospf hello-interval 1
 ip ospf dead-interval 4
!
interface tun1
 tunnel local 100.64.1.2 remote 100.64.2.2
 enable
 mtu 1400
 ip address 172.16.1.1/30
 ip ospf network point-to-point
 ip ospf cost 100
 ip ospf hello-interval 1
 ip ospf dead-interval 4
!
interface vlan 1 10
 enable
 ip address 192.168.10.1/24
!
ip default-gateway 198.51.100.1
ip route 100.64.2.0/24 nexthop 100.64.1.1
!
router ospf
 router-id 10.255.0.1
 network 172.16.0.0/30 area 0
 network 172.16.1.0/30 area 0
 network 192.168.10.0/24 area 0
 passive-interface vlan10
!
firewall-access 10 permit outbound eth0
firewall-access 11 permit outbound tun+ src 192.168.10.0/24
firewall-access 12 permit inbound tun+ dst 192.168.10.0/24
!
firewall-snat 8 exempt outbound eth0 src 198.51.100.2
firewall-snat 10 overload outbound eth0
!
ipsec ike-policy 10
 authentication psk
 policy AES SHA 14
 version 2
!
ipsec esp-policy 10
 policy AES SHA 14
!
ipsec peer 203.0.113.2
 local 198.51.100.2
 local-net 198.51.100.2/32
 remote-net 203.0.113.2/32
 policy ike 10 esp 10
 psk Letmein99
!
ipsec peer 100.64.2.2
 local 100.64.1.2
 local-net 100.64.1.2/32
 remote-net 100.64.2.2/32
 policy ike 10 esp 10
 psk Letmein99
!
ipsec start
`

// dualBranch is the branch side, derived from dualHQ by swapping roles.
func dualBranch() string {
	r := strings.NewReplacer(
		"hostname hq", "hostname branch",
		"198.51.100.2", "203.0.113.2", "203.0.113.2", "198.51.100.2",
		"100.64.1.2", "100.64.2.2", "100.64.2.2", "100.64.1.2",
		"100.64.2.0/24 nexthop 100.64.1.1", "100.64.1.0/24 nexthop 100.64.2.1",
		"198.51.100.1", "203.0.113.1",
		"172.16.0.1/30", "172.16.0.2/30", "172.16.1.1/30", "172.16.1.2/30",
		"192.168.10.", "192.168.20.", "vlan 1 10", "vlan 1 20", "vlan10", "vlan20",
		"10.255.0.1", "10.255.0.2",
	)
	return r.Replace(dualHQ)
}

// TestOSPFFailover cuts the preferred path and measures how long the LANs
// are apart, and checks that nothing crosses either ISP unencrypted.
func TestOSPFFailover(t *testing.T) {
	l := newLab(t)
	r := &report{w: os.Stdout, start: time.Now()}
	defer r.print("fail-over between two IPsec-protected GRE tunnels (OSPF hello 1 s, dead 4 s)")
	l.addNS("ispa", "ispb", "hqlan", "brlan")
	for _, ns := range []string{"ispa", "ispb"} {
		l.in(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	type wan struct{ site, isp, ifName, ispIf, addr string }
	l.addNS("hq", "branch")
	for _, w := range []wan{
		{"hq", "ispa", "eth0", "hq0", "198.51.100.1/24"}, {"branch", "ispa", "eth0", "br0", "203.0.113.1/24"},
		{"hq", "ispb", "eth2", "hq0", "100.64.1.1/24"}, {"branch", "ispb", "eth2", "br0", "100.64.2.1/24"},
	} {
		l.veth(w.site, w.ifName, w.isp, w.ispIf)
		l.in(w.isp, "ip", "addr", "add", w.addr, "dev", w.ispIf)
		l.in(w.isp, "ip", "link", "set", w.ispIf, "up")
	}
	for _, h := range []struct{ site, lan, vlan, addr, gw string }{
		{"hq", "hqlan", "10", "192.168.10.10/24", "192.168.10.1"},
		{"branch", "brlan", "20", "192.168.20.10/24", "192.168.20.1"},
	} {
		l.veth(h.site, "eth1", h.lan, "eth0")
		l.in(h.lan, "ip", "link", "set", "eth0", "up")
		l.in(h.lan, "ip", "link", "add", "link", "eth0", "name", "eth0."+h.vlan, "type", "vlan", "id", h.vlan)
		l.in(h.lan, "ip", "addr", "add", h.addr, "dev", "eth0."+h.vlan)
		l.in(h.lan, "ip", "link", "set", "eth0."+h.vlan, "up")
		l.in(h.lan, "ip", "route", "add", "default", "via", h.gw)
	}
	for site, cfg := range map[string]string{"hq": dualHQ, "branch": dualBranch()} {
		if !r.check(t, "configure "+site+" (two tunnels, two IPsec peers, OSPF) through mboxsh", func() error {
			out, err := l.mboxsh(site, "configure\n"+cfg+"commit\nend\n")
			if err != nil {
				return fmt.Errorf("%v\n%s", err, out)
			}
			return nil
		}) {
			return
		}
	}
	if !r.check(t, "both adjacencies Full; the branch LAN is reached over tun0", func() error {
		if err := eventually(90*time.Second, func() error {
			out := l.show("hq", "show ip ospf neighbor")
			if strings.Count(out, "Full") < 2 {
				return fmt.Errorf("show ip ospf neighbor:\n%s", out)
			}
			return nil
		}); err != nil {
			return err
		}
		return eventually(30*time.Second, func() error {
			out := l.show("hq", "show ip route")
			if !regexp.MustCompile(`(?m)^O\s+192\.168\.20\.0/24.* via 172\.16\.0\.2, tun0`).MatchString(out) {
				return fmt.Errorf("route to the branch LAN not via tun0:\n%s", out)
			}
			return ping(l, "hqlan", "192.168.20.10")
		})
	}) {
		return
	}
	capA := l.startCapture("ispa", "hq0", "")
	capB := l.startCapture("ispb", "hq0", "")
	// 40 s of pings every 100 ms; cut ISP A's link to hq after 5 s.
	pinger := l.startPing("hqlan", "192.168.20.10", 400, 100*time.Millisecond)
	time.Sleep(5 * time.Second)
	l.in("ispa", "ip", "link", "set", "hq0", "down")
	out := pinger.wait(t)
	var outage time.Duration
	r.check(t, "traffic moves to tun1 after the cut; outage under 5 s", func() error {
		lost, lastBeforeGap, err := pingGap(out, 100*time.Millisecond)
		if err != nil {
			return err
		}
		outage = lost
		fmt.Printf("fail-over: %d replies missing around the cut at +5 s (%s of traffic lost; first missing seq %d)\n",
			int(lost/(100*time.Millisecond)), lost, lastBeforeGap+1)
		if lost >= 5*time.Second {
			return fmt.Errorf("outage %s, target under 5 s", lost)
		}
		route := l.show("hq", "show ip route")
		if !regexp.MustCompile(`(?m)^O\s+192\.168\.20\.0/24.* via 172\.16\.1\.2, tun1`).MatchString(route) {
			return fmt.Errorf("after the cut, the route is not via tun1:\n%s", route)
		}
		return nil
	})
	r.check(t, "no packet crosses either ISP unencrypted during fail-over", func() error {
		for name, c := range map[string]*capture{"ISP A": capA, "ISP B": capB} {
			for _, p := range l.packets(c) {
				if strings.Contains(p, "GREv0") || strings.Contains(p, "proto GRE") || strings.Contains(p, "192.168.") || strings.Contains(p, "OSPF") {
					return fmt.Errorf("%s carried clear traffic: %s", name, p)
				}
			}
		}
		if n := len(l.waitPackets(capB, regexp.MustCompile(`ESP\(spi=`), 10)); n < 10 {
			return fmt.Errorf("only %d ESP packets on ISP B after the fail-over", n)
		}
		return nil
	})
	fmt.Printf("fail-over time (hello 1 s, dead 4 s): %.1f s\n", outage.Seconds())
}

// pinger is a background ping with per-reply output.
type pinger struct {
	done chan string
}

func (l *lab) startPing(ns, addr string, count int, interval time.Duration) *pinger {
	p := &pinger{done: make(chan string, 1)}
	go func() {
		out, _ := l.tryIn(ns, "ping", "-n", "-c", strconv.Itoa(count), "-i", fmt.Sprintf("%.1f", interval.Seconds()), "-W", "1", addr)
		p.done <- out
	}()
	return p
}

func (p *pinger) wait(t *testing.T) string {
	select {
	case out := <-p.done:
		return out
	case <-time.After(3 * time.Minute):
		t.Fatal("ping did not finish")
		return ""
	}
}

// pingGap finds the longest run of missing replies in ping's output.
func pingGap(out string, interval time.Duration) (lost time.Duration, lastBefore int, err error) {
	re := regexp.MustCompile(`icmp_seq=(\d+)`)
	var seqs []int
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		seqs = append(seqs, n)
	}
	if len(seqs) < 10 {
		return 0, 0, fmt.Errorf("too few replies:\n%s", out)
	}
	gap := 0
	for i := 1; i < len(seqs); i++ {
		if d := seqs[i] - seqs[i-1] - 1; d > gap {
			gap, lastBefore = d, seqs[i-1]
		}
	}
	return time.Duration(gap) * interval, lastBefore, nil
}
