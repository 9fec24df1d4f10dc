package scenario

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// site is one appliance of the reference deployment.
type site struct {
	name, cfgFile     string
	lanNS, lanAddr    string
	lanVLAN           string
	wanPeer           string // the internet router's address on the site's WAN
	inetIf            string // the internet router's interface towards the site
	publicAddr        string
	otherLAN, otherIP string
}

var (
	hq = site{name: "hq", cfgFile: "testdata/hq.cfg", lanNS: "hqlan", lanAddr: "192.168.10.10/24", lanVLAN: "10",
		wanPeer: "198.51.100.1/24", inetIf: "hq0", publicAddr: "198.51.100.2", otherLAN: "192.168.20.0/24", otherIP: "192.168.20.10"}
	remote = site{name: "remote", cfgFile: "testdata/remote.cfg", lanNS: "remlan", lanAddr: "192.168.20.10/24", lanVLAN: "20",
		wanPeer: "203.0.113.1/24", inetIf: "rem0", publicAddr: "203.0.113.2", otherLAN: "192.168.10.0/24", otherIP: "192.168.10.10"}
)

// buildReference creates the topology of mission.md: two appliances, the
// internet router between their WAN subnets, and a LAN host behind each on
// a VLAN of the appliance's eth1. The appliances get nothing but their
// links: everything else comes from mboxsh.
func buildReference(l *lab) {
	l.addNS("inet")
	l.in("inet", "sysctl", "-qw", "net.ipv4.ip_forward=1")
	for _, s := range []site{hq, remote} {
		l.addNS(s.lanNS)
		attachSite(l, s)
	}
}

// attachSite creates an appliance's namespace with bare links: eth0 to the
// internet router, eth1 to its LAN host (which tags VLAN lanVLAN), and
// eth2/eth3 (remote.cfg names them).
func attachSite(l *lab, s site) {
	l.addNS(s.name)
	l.veth(s.name, "eth0", "inet", s.inetIf)
	l.veth(s.name, "eth1", s.lanNS, "eth0")
	l.veth(s.name, "eth2", s.name, "eth3")
	l.in("inet", "ip", "addr", "add", s.wanPeer, "dev", s.inetIf)
	l.in("inet", "ip", "link", "set", s.inetIf, "up")
	lan := s.lanNS
	vlan := "eth0." + s.lanVLAN
	l.in(lan, "ip", "link", "set", "eth0", "up")
	l.in(lan, "ip", "link", "add", "link", "eth0", "name", vlan, "type", "vlan", "id", s.lanVLAN)
	l.in(lan, "ip", "addr", "add", s.lanAddr, "dev", vlan)
	l.in(lan, "ip", "link", "set", vlan, "up")
	gw := strings.TrimSuffix(strings.Split(s.lanAddr, "/")[0], ".10") + ".1"
	l.in(lan, "ip", "route", "add", "default", "via", gw)
}

// configure pipes the site's configuration into mboxsh, as an operator
// would: configure, the file, commit, end.
func configure(l *lab, s site) (string, error) {
	src, err := os.ReadFile(s.cfgFile)
	if err != nil {
		return "", err
	}
	return l.mboxsh(s.name, "configure\n"+string(src)+"commit\nend\n")
}

func ping(l *lab, ns, addr string) error {
	out, err := l.tryIn(ns, "ping", "-c", "2", "-i", "0.3", "-W", "2", addr)
	if err != nil {
		return fmt.Errorf("ping %s from %s: %v\n%s", addr, ns, err, out)
	}
	return nil
}

func TestReferenceDeployment(t *testing.T) {
	l := newLab(t)
	r := &report{w: os.Stdout, start: time.Now()}
	defer r.print("reference deployment: two sites, IPsec over GRE")
	buildReference(l)

	for _, s := range []site{hq, remote} {
		if !r.check(t, "configure "+s.name+" through mboxsh (configure; file; commit)", func() error {
			out, err := configure(l, s)
			if err != nil {
				return fmt.Errorf("%v\n%s", err, out)
			}
			return nil
		}) {
			return
		}
	}
	r.check(t, "show running-config equals the input file (both sites)", func() error {
		for _, s := range []site{hq, remote} {
			want, _ := os.ReadFile(s.cfgFile)
			if got := l.show(s.name, "show running-config"); got != string(want) {
				return fmt.Errorf("%s: running-config differs:\n%s", s.name, got)
			}
		}
		return nil
	})
	inet := l.startCapture("inet", "hq0", "")
	r.check(t, "LAN-to-LAN ping both ways (the SA comes up by itself)", func() error {
		if err := eventually(60*time.Second, func() error { return ping(l, hq.lanNS, hq.otherIP) }); err != nil {
			return fmt.Errorf("%v\nevidence:\n%s", err, l.evidence(hq.name, remote.name))
		}
		return ping(l, remote.lanNS, remote.otherIP)
	})
	r.check(t, "internet link carries ESP only (no clear GRE, no clear ICMP)", func() error {
		esp := l.waitPackets(inet, regexp.MustCompile(`ESP\(spi=`), 4)
		if len(esp) < 4 {
			return fmt.Errorf("only %d ESP packets on the internet link", len(esp))
		}
		for _, p := range l.packets(inet) {
			if strings.Contains(p, "GREv0") || strings.Contains(p, "proto GRE") || strings.Contains(p, "ICMP echo") && strings.Contains(p, "192.168.") {
				return fmt.Errorf("clear traffic on the internet link: %s", p)
			}
		}
		return nil
	})
	l.stop(inet)
	r.check(t, "LAN host sees the other LAN's address (tunnel traffic keeps its source)", func() error {
		c := l.startCapture(remote.lanNS, "eth0.20", "icmp")
		defer l.stop(c)
		if err := ping(l, hq.lanNS, hq.otherIP); err != nil {
			return err
		}
		got := l.waitPackets(c, regexp.MustCompile(`192\.168\.10\.10 > 192\.168\.20\.10: ICMP echo request`), 1)
		if len(got) == 0 {
			return fmt.Errorf("no echo request from 192.168.10.10 seen on the remote LAN: %v", l.packets(c))
		}
		return nil
	})
	r.check(t, "LAN traffic to the internet is masqueraded", func() error {
		c := l.startCapture("inet", "hq0", "icmp")
		defer l.stop(c)
		if err := ping(l, hq.lanNS, "198.51.100.1"); err != nil {
			return err
		}
		got := l.waitPackets(c, regexp.MustCompile(`198\.51\.100\.2 > 198\.51\.100\.1: ICMP echo request`), 1)
		if len(got) == 0 {
			return fmt.Errorf("no masqueraded echo request: %v", l.packets(c))
		}
		for _, p := range l.packets(c) {
			if strings.Contains(p, "192.168.10.10 >") {
				return fmt.Errorf("LAN address leaked to the internet: %s", p)
			}
		}
		return nil
	})
	r.check(t, "traffic from the internet to a LAN is dropped", func() error {
		if _, err := l.tryIn("inet", "ip", "route", "replace", "192.168.10.0/24", "via", "198.51.100.2"); err != nil {
			return err
		}
		defer l.tryIn("inet", "ip", "route", "del", "192.168.10.0/24")
		if err := ping(l, "inet", "192.168.10.10"); err == nil {
			return errors.New("the internet reached a LAN host")
		}
		return nil
	})
	r.check(t, "show ipsec sa: SAs established, counters grow", func() error {
		first, err := saBytes(l, hq.name)
		if err != nil {
			return err
		}
		if err := ping(l, hq.lanNS, hq.otherIP); err != nil {
			return err
		}
		second, err := saBytes(l, hq.name)
		if err != nil {
			return err
		}
		if second <= first {
			return fmt.Errorf("CHILD SA byte counters did not grow: %d then %d", first, second)
		}
		text := l.show(hq.name, "show ipsec sa")
		if !strings.Contains(text, "ESTABLISHED") || !strings.Contains(text, "INSTALLED") {
			return fmt.Errorf("show ipsec sa:\n%s", text)
		}
		return nil
	})
	r.check(t, "show interface tun0: up, MTU 1400, tunnel endpoints", func() error {
		text := l.show(hq.name, "show interface tun0")
		for _, want := range []string{"tun0 is up", "MTU 1400", "198.51.100.2", "203.0.113.2"} {
			if !strings.Contains(text, want) {
				return fmt.Errorf("missing %q in:\n%s", want, text)
			}
		}
		return nil
	})
	r.check(t, "full-size TCP crosses the 1400-byte tunnel", func() error {
		return tcpTransfer(l, remote.lanNS, "192.168.20.10", hq.lanNS, 2<<20)
	})
	r.check(t, "write memory, empty the namespace, --apply-startup restores it", func() error {
		if out, err := l.mboxsh(hq.name, "", "-c", "write memory"); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		emptyAppliance(l, hq)
		if err := ping(l, hq.lanNS, hq.otherIP); err == nil {
			return errors.New("the LANs still reach each other with hq emptied")
		}
		if out, err := l.mboxsh(hq.name, "", "--apply-startup"); err != nil {
			return fmt.Errorf("apply-startup: %v\n%s", err, out)
		}
		err := eventually(60*time.Second, func() error { return ping(l, hq.lanNS, hq.otherIP) })
		if err != nil {
			return fmt.Errorf("%v\nevidence:\n%s", err, l.evidence(hq.name, remote.name))
		}
		return nil
	})
}

// saBytes sums the CHILD SA byte counters of an appliance (`| json`).
func saBytes(l *lab, site string) (uint64, error) {
	out := l.show(site, "show ipsec sa | json")
	var st struct {
		Peers []struct {
			State    string `json:"state"`
			Children []struct {
				BytesIn  uint64 `json:"bytes_in"`
				BytesOut uint64 `json:"bytes_out"`
			} `json:"children"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return 0, fmt.Errorf("show ipsec sa | json: %v\n%s", err, out)
	}
	var n uint64
	for _, p := range st.Peers {
		for _, c := range p.Children {
			n += c.BytesIn + c.BytesOut
		}
	}
	if len(st.Peers) == 0 {
		return 0, fmt.Errorf("no peers in:\n%s", out)
	}
	return n, nil
}

// emptyAppliance deletes an appliance's namespace (and its daemons) and
// recreates it with bare links, as after a reboot.
func emptyAppliance(l *lab, s site) {
	out, _ := l.try("ip", "netns", "pids", s.name)
	for _, pid := range strings.Fields(out) {
		_, _ = l.try("kill", "-9", pid)
	}
	time.Sleep(200 * time.Millisecond)
	l.run("ip", "netns", "del", s.name)
	l.nss = slices.DeleteFunc(l.nss, func(n string) bool { return n == s.name || n == s.lanNS })
	l.run("ip", "netns", "del", s.lanNS)
	l.addNS(s.lanNS)
	attachSite(l, s)
}
