package config

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time (user and system) the process has used so far.
// On a shared machine it is a steadier measure than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bigModel builds the configuration of a large gateway: 1,000 interfaces
// (ports, tunnels, VLANs, bridges, with descriptions, several addresses and
// OSPF settings), 1,000 peers of about 8 lines each, 500 IKE and 500 ESP
// policies, 1,000 routes, an OSPF block, and firewall rules in all four
// chains (at least 10,000) filling the rest up to about lines lines.
func bigModel(lines int) *Config {
	c := &Config{Hostname: "big-gw"}
	a4 := func(a, b, x, y int) netip.Addr { return netip.AddrFrom4([4]byte{byte(a), byte(b), byte(x), byte(y)}) }
	for k := 0; k < 1000; k++ {
		i := &Interface{BridgeGroup: -1, Enabled: k%7 != 0}
		switch {
		case k < 100:
			i.Kind, i.Name = KindEthernet, fmt.Sprintf("eth%d", k)
		case k < 600:
			i.Kind, i.Name = KindGRE, fmt.Sprintf("tun%d", k-100)
			i.TunnelLocal, i.TunnelRemote = a4(198, 51, 100, 2), a4(203, (k>>8)&255, k&255, 2)
			i.MTU = 1400
			i.OSPF = InterfaceOSPF{Cost: 10 + k%50, PointToPoint: true, HelloInterval: 10, DeadInterval: 40}
		case k < 950:
			i.Kind, i.VLANID = KindVLAN, k-599
			i.Name, i.VLANParent = VLANName(i.VLANID), fmt.Sprintf("eth%d", k%4)
			i.MTU = 1500
		default:
			i.Kind, i.Name = KindBridge, fmt.Sprintf("br%d", k-950)
		}
		i.Description = fmt.Sprintf("\"site %d\" link, ticket #%d", k, 4000+k)
		for j := 0; j < 6; j++ {
			i.Addresses = append(i.Addresses, netip.PrefixFrom(a4(10, k>>4, (k&15)<<4|j, 1), 28+j%3))
		}
		c.Interfaces = append(c.Interfaces, i)
	}
	c.NameServers = []netip.Addr{a4(8, 8, 8, 8), a4(1, 1, 1, 1)}
	c.DefaultGateway = a4(198, 51, 100, 1)
	for k := 0; k < 1000; k++ {
		r := Route{Prefix: netip.PrefixFrom(a4(172, 16+k>>8, k&255, 0), 24)}
		if k%3 == 0 {
			r.Dev = fmt.Sprintf("tun%d", k%500)
		} else {
			r.Via = a4(172, 31, k>>8, k&255)
		}
		if k%5 == 0 {
			r.Distance, r.Remark = 200, fmt.Sprintf("backup for site %d", k)
		}
		c.Routes = append(c.Routes, r)
	}
	c.OSPF = &OSPF{RouterID: a4(10, 255, 255, 1), RedistributeConnected: true, DefaultInformationOriginate: true}
	for k := 0; k < 500; k++ {
		c.OSPF.Networks = append(c.OSPF.Networks, OSPFNetwork{Prefix: netip.PrefixFrom(a4(172, 20+k>>8, k&255, 0), 30), Area: k % 4})
		c.OSPF.PassiveInterfaces = append(c.OSPF.PassiveInterfaces, fmt.Sprintf("vlan%d", k+1))
	}
	for k := 1; k <= 500; k++ {
		c.IKEPolicies = append(c.IKEPolicies, &IKEPolicy{Number: k, Authentication: "psk", Encryption: "AES-256", Hash: "SHA-256", DHGroup: 14, Keylife: 28800, Version: 2})
		c.ESPPolicies = append(c.ESPPolicies, &ESPPolicy{Number: k, Encryption: "AES-256", Hash: "SHA-256", PFSGroup: 14, Keylife: 3600})
	}
	for k := 0; k < 1000; k++ {
		p := &Peer{
			Name: a4(203, k>>8, k&255, 2).String(), Local: a4(198, 51, 100, 2),
			LocalID: "hq.example.net", RemoteID: fmt.Sprintf("site%d.example.net", k),
			LocalNet:  []netip.Prefix{netip.MustParsePrefix("198.51.100.2/32")},
			RemoteNet: []netip.Prefix{netip.PrefixFrom(a4(203, k>>8, k&255, 2), 32)},
			IKEPolicy: k%500 + 1, ESPPolicy: k%500 + 1, PSK: fmt.Sprintf("s3cr3t key %d", k),
		}
		c.Peers = append(c.Peers, p)
	}
	c.IPsec = IPsecStarted
	have := strings.Count(Render(c), "\n")
	chains := []Chain{ChainAccess, ChainInput, ChainSNAT, ChainDNAT}
	for k := 0; have < lines-len(chains) || k < 10000; k++ {
		ch := chains[k%len(chains)]
		if k%10 < 6 {
			ch = ChainAccess
		}
		r := Rule{Number: len(*c.Rules(ch)) + 1}
		iface := fmt.Sprintf("tun%d", k%500)
		switch ch {
		case ChainAccess, ChainInput:
			r.Action = []string{"permit", "deny"}[k%2]
			r.Direction = []string{"inbound", "outbound", "all"}[k%3]
			r.Interface = iface
			r.Proto = []string{"tcp", "udp", "icmp", ""}[k%4]
			r.Src = []string{fmt.Sprintf("10.%d.%d.0/24", k>>8&255, k&255)}
			if k%4 < 2 {
				r.Dport = []string{"22", "443", fmt.Sprintf("%d-%d", 1000+k%1000, 2000+k%1000)}
			}
		case ChainSNAT:
			r.Action, r.Direction, r.Interface = "overload", "outbound", "eth+"
			r.Src = []string{fmt.Sprintf("192.168.%d.0/24", k&255)}
		case ChainDNAT:
			r.Action, r.Direction, r.Interface, r.Proto = "translate", "inbound", "eth0", "tcp"
			r.Dport, r.Xdst, r.Xdport = []string{fmt.Sprint(1024 + k%60000)}, a4(192, 168, k>>8&255, k&255).String(), "80"
		}
		if k%3 == 0 {
			r.Remark = fmt.Sprintf("rule %d for site %d", k, k%1000)
		}
		SetRule(c, ch, r)
		have++
	}
	return c
}

// The budget is 2 µs per line each way on a 100,000-line configuration.
func BenchmarkParse100k(b *testing.B) {
	src := []byte(Render(bigModel(100000)))
	lines := strings.Count(string(src), "\n")
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := Parse(src, "big.cfg"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(lines), "ns/line")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/float64(lines), "cpu-ns/line")
	b.ReportMetric(float64(lines), "lines")
}

func BenchmarkRender100k(b *testing.B) {
	c := bigModel(100000)
	lines := strings.Count(Render(c), "\n")
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		_ = Render(c)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(lines), "ns/line")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/float64(lines), "cpu-ns/line")
	b.ReportMetric(float64(lines), "lines")
}

func TestBigModelRoundTrip(t *testing.T) {
	c := bigModel(100000)
	src := Render(c)
	if n := strings.Count(src, "\n"); n < 100000 || n > 100010 {
		t.Fatalf("big model has %d lines, want 100,000", n)
	}
	got, err := Parse([]byte(src), "big.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if Render(got) != src {
		t.Fatal("big model does not round-trip")
	}
}

// commitConfig is the text of the configuration an interactive commit is
// budgeted for (20 ms in all): an interface, 1,000 static routes and rules
// firewall-access rules, about 11,000 lines for 10,000 rules.
func commitConfig(rules int) string {
	var b strings.Builder
	b.WriteString("!\nhostname bench\n!\ninterface eth0\n enable\n ip address 10.0.0.1/16\n!\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "ip route 10.%d.%d.0/24 nexthop 10.0.0.%d\n", 100+i/256, i%256, 1+i%250)
	}
	b.WriteString("!\n")
	for i := 1; i <= rules; i++ {
		fmt.Fprintf(&b, "firewall-access %d permit outbound eth0 tcp src 10.%d.%d.0/24 dport %d remark \"rule %d\"\n",
			i, i/256%256, i%256, []int{22, 443, 8080}[i%3], i)
	}
	b.WriteString("!\n")
	return b.String()
}

func BenchmarkRender11k(b *testing.B) {
	src := commitConfig(10000)
	c, err := Parse([]byte(src), "commit.cfg")
	if err != nil {
		b.Fatal(err)
	}
	if got := Render(c); got != src {
		b.Fatal("the benchmark configuration is not in canonical form")
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		_ = Render(c)
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkDiffText11k diffs two 11,000-line configurations that differ in
// one rule in the middle, as a one-rule commit does.
func BenchmarkDiffText11k(b *testing.B) {
	from := commitConfig(10000)
	old := "firewall-access 5000 permit outbound eth0 tcp src 10.19.136.0/24 dport 8080 remark \"rule 5000\"\n"
	if !strings.Contains(from, old) {
		b.Fatal("rule 5000 is not where the benchmark expects it")
	}
	to := strings.Replace(from, old, "firewall-access 5000 deny outbound eth0 udp dport 53\n", 1)
	if n := len(DiffText(from, to)); n != 1 {
		b.Fatalf("%d changes, want 1", n)
	}
	b.SetBytes(int64(len(from)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		_ = DiffText(from, to)
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}
