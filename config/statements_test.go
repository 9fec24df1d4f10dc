package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"mboxsh/config/grammar"
)

// applyLines types lines into a new editor on cfg, as a session would. It
// returns the editor and, for the first line that fails, its index and
// error.
func applyLines(t *testing.T, cfg *Config, lines ...string) (*Editor, int, error) {
	t.Helper()
	ed := NewEditor(DefaultGrammar(), cfg)
	for i, l := range lines {
		toks, err := grammar.Tokenize(l)
		if err != nil {
			return ed, i, err
		}
		if _, err := ed.Apply(toks); err != nil {
			return ed, i, err
		}
	}
	return ed, -1, nil
}

// cfgText builds the expected rendering from its lines, between the
// leading "!" and a final newline.
func cfgText(lines ...string) string {
	if len(lines) == 0 {
		return "!\n"
	}
	return "!\n" + strings.Join(lines, "\n") + "\n"
}

// stmtCase types lines into an empty configuration and expects it to
// render as want. covers names the statements exercised ("mode:name", with
// a "no " prefix for the negated form).
type stmtCase struct {
	covers string
	lines  []string
	want   string
}

var stmtCases = []stmtCase{
	// ---- global
	{"config:hostname", []string{"hostname hq"}, cfgText("hostname hq", "!")},
	{"config:hostname", []string{"hostname a", "hostname b.example_1-x"}, cfgText("hostname b.example_1-x", "!")},
	{"config:hostname", []string{"HOSTNAME Hq"}, cfgText("hostname Hq", "!")},
	{"no config:hostname", []string{"hostname hq", "no hostname"}, cfgText()},
	{"no config:hostname", []string{"hostname hq", "no hostname other"}, cfgText()},
	{"config:interface", []string{"interface eth0"}, cfgText("interface eth0", "!")},
	{"config:interface", []string{"int tun0", "interface gre3", "interface lo", "interface eth10", "interface eth2"},
		cfgText("interface eth2", "!", "interface eth10", "!", "interface lo", "!", "interface gre3", "!", "interface tun0", "!")},
	{"config:interface", []string{"interface vlan 1 10", "interface vl 0 20", "interface vlan 01 5"},
		cfgText("interface vlan 0 20", "!", "interface vlan 1 5", "!", "interface vlan 1 10", "!")},
	{"config:interface", []string{"interface bridge br1", "interface br br0"}, cfgText("interface bridge br0", "!", "interface bridge br1", "!")},
	{"no config:interface", []string{"interface eth0", "interface eth1", "no interface eth0"}, cfgText("interface eth1", "!")},
	{"no config:interface", []string{"interface vlan 1 10", "no interface vlan 1 10"}, cfgText()},
	{"no config:interface", []string{"interface bridge br0", "no int bridge br0"}, cfgText()},
	{"config:ip name-server", []string{"ip name-server 8.8.8.8"}, cfgText("ip name-server 8.8.8.8", "!")},
	{"config:ip name-server", []string{"ip name-server 8.8.8.8", "ip name 9.9.9.9 1.1.1.1"}, cfgText("ip name-server 9.9.9.9 1.1.1.1", "!")},
	{"no config:ip name-server", []string{"ip name-server 8.8.8.8 1.1.1.1", "no ip name-server"}, cfgText()},
	{"config:ip default-gateway", []string{"ip default-gateway 198.51.100.1"}, cfgText("ip default-gateway 198.51.100.1", "!")},
	{"no config:ip default-gateway", []string{"ip default-gateway 198.51.100.1", "no ip default-gateway"}, cfgText()},
	{"config:ip route", []string{
		"ip route 192.168.20.0/24 nexthop 172.16.0.2",
		"ip route 0.0.0.0/0 nexthop eth0 distance 200",
		"ip ro 10.0.0.0/8 next tun0 dist 5 rem \"via the tunnel\"",
		"ip route 10.0.0.0/8 nexthop 172.16.0.2",
	}, cfgText(
		"ip route 192.168.20.0/24 nexthop 172.16.0.2",
		"ip route 0.0.0.0/0 nexthop eth0 distance 200",
		`ip route 10.0.0.0/8 nexthop tun0 distance 5 remark "via the tunnel"`,
		"ip route 10.0.0.0/8 nexthop 172.16.0.2",
		"!")},
	// the same prefix and next hop again replaces the route
	{"config:ip route", []string{"ip route 10.0.0.0/8 nexthop 1.1.1.1 distance 5", "ip route 10.0.0.0/8 nexthop 1.1.1.1"},
		cfgText("ip route 10.0.0.0/8 nexthop 1.1.1.1", "!")},
	{"no config:ip route", []string{"ip route 10.0.0.0/8 nexthop 1.1.1.1", "ip route 10.0.0.0/8 nexthop eth0", "no ip route 10.0.0.0/8 nexthop eth0"},
		cfgText("ip route 10.0.0.0/8 nexthop 1.1.1.1", "!")},
	{"no config:ip route", []string{"ip route 10.0.0.0/8 nexthop 1.1.1.1", "ip route 10.0.0.0/8 nexthop eth0", "ip route 11.0.0.0/8 nexthop eth0", "no ip route 10.0.0.0/8"},
		cfgText("ip route 11.0.0.0/8 nexthop eth0", "!")},
	// the write-up's bare `route`, a hidden alias
	{"config:route", []string{"route 192.168.10.0/24 nexthop 172.16.0.1"}, cfgText("ip route 192.168.10.0/24 nexthop 172.16.0.1", "!")},
	{"no config:route", []string{"ip route 192.168.10.0/24 nexthop 172.16.0.1", "no route 192.168.10.0/24"}, cfgText()},
	{"config:router ospf", []string{"router ospf"}, cfgText("router ospf", "!")},
	{"config:router ospf", []string{"rou ospf"}, cfgText("router ospf", "!")},
	{"no config:router ospf", []string{"router ospf", "network 10.0.0.0/8 area 0", "no router ospf"}, cfgText()},
	{"config:firewall-disable", []string{"firewall-disable input", "firewall-disable access"}, cfgText("firewall-disable access", "firewall-disable input", "!")},
	{"no config:firewall-disable", []string{"firewall-disable input", "firewall-disable access", "no firewall-disable access"}, cfgText("firewall-disable input", "!")},
	{"config:firewall-input", []string{
		"firewall-input 100 permit all tcp src 192.168.8.0/22 dport 22",
		"firewall-input 20 deny inbound eth0",
		"firewall-input 30 permit inbound eth+ icmp",
	}, cfgText(
		"firewall-input 20 deny inbound eth0",
		"firewall-input 30 permit inbound eth+ icmp",
		"firewall-input 100 permit all tcp src 192.168.8.0/22 dport 22",
		"!")},
	{"no config:firewall-input", []string{"firewall-input 1 permit all", "firewall-input 2 deny all", "no firewall-input 1"}, cfgText("firewall-input 2 deny all", "!")},
	{"config:firewall-access", []string{
		"firewall-access 12 permit inbound tun0 dst 192.168.10.0/24",
		"firewall-access 10 permit outbound eth0",
		"firewall-a 11 perm out tun0 src 192.168.10.0/24",
		"firewall-access 13 deny all udp dport 53,5353,6000-6010 sport 1024-65535 src 10.0.0.1,10.1.0.0/16 dst 1.1.1.1 remark \"no DNS\"",
		"firewall-access 14 permit all t dport 443",
		"firewall-access 15 permit all wwan+ ip",
		"firewall-access 16 permit inbound tun0 remark x",
	}, cfgText(
		"firewall-access 10 permit outbound eth0",
		"firewall-access 11 permit outbound tun0 src 192.168.10.0/24",
		"firewall-access 12 permit inbound tun0 dst 192.168.10.0/24",
		`firewall-access 13 deny all udp src 10.0.0.1,10.1.0.0/16 dst 1.1.1.1 sport 1024-65535 dport 53,5353,6000-6010 remark "no DNS"`,
		"firewall-access 14 permit all tcp dport 443",
		"firewall-access 15 permit all wwan+ ip",
		"firewall-access 16 permit inbound tun0 remark x",
		"!")},
	// a rule number given again (in a session) replaces the rule
	{"config:firewall-access", []string{"firewall-access 10 permit all", "firewall-access 10 deny all remark now"}, cfgText("firewall-access 10 deny all remark now", "!")},
	{"no config:firewall-access", []string{"firewall-access 10 permit all", "no firewall-access 10 permit all anything at all"}, cfgText()},
	{"config:firewall-snat", []string{
		"firewall-snat 10 overload outbound eth0",
		`firewall-snat 8 exempt outbound eth0 src 198.51.100.2 remark "bypass SNAT for tunnel traffic"`,
		"firewall-snat 9 translate outbound eth1 src 10.0.0.0/8 xsrc 203.0.113.9",
	}, cfgText(
		`firewall-snat 8 exempt outbound eth0 src 198.51.100.2 remark "bypass SNAT for tunnel traffic"`,
		"firewall-snat 9 translate outbound eth1 src 10.0.0.0/8 xsrc 203.0.113.9",
		"firewall-snat 10 overload outbound eth0",
		"!")},
	{"no config:firewall-snat", []string{"firewall-snat 10 overload outbound eth0", "no firewall-snat 10"}, cfgText()},
	{"config:firewall-dnat", []string{
		"firewall-dnat 1 translate inbound eth0 tcp dport 8080 xdst 192.168.1.10 xdport 80",
		"firewall-dnat 2 redirect all tcp dport 80 xdport 3128",
		"firewall-dnat 3 exempt inbound eth0 dst 10.0.0.1",
	}, cfgText(
		"firewall-dnat 1 translate inbound eth0 tcp dport 8080 xdst 192.168.1.10 xdport 80",
		"firewall-dnat 2 redirect all tcp dport 80 xdport 3128",
		"firewall-dnat 3 exempt inbound eth0 dst 10.0.0.1",
		"!")},
	{"no config:firewall-dnat", []string{"firewall-dnat 3 exempt all", "no firewall-dnat 3"}, cfgText()},
	{"config:ipsec ike-policy", []string{"ipsec ike-policy 10", "ipsec ike 5"}, cfgText("ipsec ike-policy 5", "!", "ipsec ike-policy 10", "!")},
	{"no config:ipsec ike-policy", []string{"ipsec ike-policy 10", "policy AES SHA 14", "no ipsec ike-policy 10"}, cfgText()},
	{"config:ipsec esp-policy", []string{"ipsec esp-policy 10", "ipsec esp 1"}, cfgText("ipsec esp-policy 1", "!", "ipsec esp-policy 10", "!")},
	{"no config:ipsec esp-policy", []string{"ipsec esp-policy 10", "no ipsec esp-policy 10"}, cfgText()},
	{"config:ipsec peer", []string{"ipsec peer 203.0.113.2", "ipsec pe branch-1"}, cfgText("ipsec peer 203.0.113.2", "!", "ipsec peer branch-1", "!")},
	{"no config:ipsec peer", []string{"ipsec peer 203.0.113.2", "psk x", "no ipsec peer 203.0.113.2"}, cfgText()},
	{"config:ipsec start", []string{"ipsec start"}, cfgText("ipsec start", "!")},
	{"config:ipsec start", []string{"ipsec start", "ipsec stop"}, cfgText("ipsec stop", "!")},
	{"no config:ipsec start", []string{"ipsec start", "no ipsec start"}, cfgText()},

	// ---- interface
	{"interface:tunnel", []string{"interface tun0", "tunnel local 198.51.100.2 remote 203.0.113.2"},
		cfgText("interface tun0", " tunnel local 198.51.100.2 remote 203.0.113.2", "!")},
	{"interface:tunnel", []string{"interface gre1", "tun loc 198.51.100.2 rem 203.0.113.2", "tunnel local 1.1.1.1"},
		cfgText("interface gre1", " tunnel local 1.1.1.1", "!")},
	{"no interface:tunnel", []string{"interface tun0", "tunnel local 1.1.1.1 remote 2.2.2.2", "no tunnel"}, cfgText("interface tun0", "!")},
	{"interface:description", []string{"interface eth0", `description "Connection to WAN"`},
		cfgText("interface eth0", ` description "Connection to WAN"`, "!")},
	{"interface:description", []string{"interface eth0", `description Corp`}, cfgText("interface eth0", " description Corp", "!")},
	{"interface:description", []string{"interface eth0", `description two  words   here`}, cfgText("interface eth0", ` description "two words here"`, "!")},
	{"interface:description", []string{"interface eth0", `description "say \"hi\" \\o/"`}, cfgText("interface eth0", ` description "say \"hi\" \\o/"`, "!")},
	{"interface:description", []string{"interface eth0", `description back\slash`}, cfgText("interface eth0", ` description back\slash`, "!")},
	{"no interface:description", []string{"interface eth0", "description x", "no description"}, cfgText("interface eth0", "!")},
	{"interface:enable", []string{"interface eth0", "enable"}, cfgText("interface eth0", " enable", "!")},
	{"no interface:enable", []string{"interface eth0", "enable", "no enable"}, cfgText("interface eth0", "!")},
	{"interface:shutdown", []string{"interface eth0", "enable", "shutdown"}, cfgText("interface eth0", "!")},
	{"no interface:shutdown", []string{"interface eth0", "no shutdown"}, cfgText("interface eth0", " enable", "!")},
	{"no interface:shutdown", []string{"interface eth0", "no shut"}, cfgText("interface eth0", " enable", "!")},
	{"interface:mtu", []string{"interface tun0", "mtu 1400"}, cfgText("interface tun0", " mtu 1400", "!")},
	{"interface:mtu", []string{"interface tun0", "mtu 68", "mtu 9000"}, cfgText("interface tun0", " mtu 9000", "!")},
	{"no interface:mtu", []string{"interface tun0", "mtu 1400", "no mtu"}, cfgText("interface tun0", "!")},
	{"no interface:mtu", []string{"interface tun0", "mtu 1400", "no mtu 1500"}, cfgText("interface tun0", "!")},
	{"interface:ip address", []string{"interface eth0", "ip address 198.51.100.2/24", "ip add 10.0.0.1/8", "ip address 198.51.100.2/24",
		"ip address 172.16.0.0/31", "ip address 172.16.1.0/32"},
		cfgText("interface eth0", " ip address 198.51.100.2/24", " ip address 10.0.0.1/8", " ip address 172.16.0.0/31", " ip address 172.16.1.0/32", "!")},
	{"no interface:ip address", []string{"interface eth0", "ip address 1.1.1.1/24", "ip address 2.2.2.2/24", "no ip address 1.1.1.1/24"},
		cfgText("interface eth0", " ip address 2.2.2.2/24", "!")},
	{"no interface:ip address", []string{"interface eth0", "ip address 1.1.1.1/24", "ip address 2.2.2.2/24", "no ip address"},
		cfgText("interface eth0", "!")},
	{"interface:bridge-group", []string{"interface eth1", "bridge-group 0"}, cfgText("interface eth1", " bridge-group 0", "!")},
	{"no interface:bridge-group", []string{"interface eth1", "bridge-group 3", "no bridge-group"}, cfgText("interface eth1", "!")},
	{"interface:ip ospf network", []string{"interface tun0", "ip ospf network point-to-point"}, cfgText("interface tun0", " ip ospf network point-to-point", "!")},
	{"no interface:ip ospf network", []string{"interface tun0", "ip ospf net point", "no ip ospf network"}, cfgText("interface tun0", "!")},
	{"interface:ip ospf cost", []string{"interface tun0", "ip ospf cost 10"}, cfgText("interface tun0", " ip ospf cost 10", "!")},
	{"no interface:ip ospf cost", []string{"interface tun0", "ip ospf cost 10", "no ip ospf cost"}, cfgText("interface tun0", "!")},
	{"interface:ip ospf hello-interval", []string{"interface tun0", "ip ospf hello-interval 5"}, cfgText("interface tun0", " ip ospf hello-interval 5", "!")},
	{"no interface:ip ospf hello-interval", []string{"interface tun0", "ip ospf hello 5", "no ip ospf hello-interval 5"}, cfgText("interface tun0", "!")},
	{"interface:ip ospf dead-interval", []string{"interface tun0", "ip ospf dead-interval 20"}, cfgText("interface tun0", " ip ospf dead-interval 20", "!")},
	{"no interface:ip ospf dead-interval", []string{"interface tun0", "ip ospf dead 20", "no ip ospf dead"}, cfgText("interface tun0", "!")},
	{"interface:ip ospf cost", []string{"interface tun0", "tunnel local 1.1.1.1 remote 2.2.2.2", "description t", "enable", "mtu 1400",
		"ip address 172.16.0.1/30", "bridge-group 1", "ip ospf dead-interval 40", "ip ospf hello-interval 10", "ip ospf cost 5", "ip ospf network point-to-point"},
		cfgText("interface tun0", " tunnel local 1.1.1.1 remote 2.2.2.2", " description t", " enable", " mtu 1400", " ip address 172.16.0.1/30",
			" bridge-group 1", " ip ospf network point-to-point", " ip ospf cost 5", " ip ospf hello-interval 10", " ip ospf dead-interval 40", "!")},

	// ---- IKE policy
	{"ike-policy:authentication", []string{"ipsec ike-policy 10", "authentication psk"}, cfgText("ipsec ike-policy 10", " authentication psk", "!")},
	{"no ike-policy:authentication", []string{"ipsec ike-policy 10", "auth PSK", "no authentication"}, cfgText("ipsec ike-policy 10", "!")},
	{"ike-policy:policy", []string{"ipsec ike-policy 10", "policy aes-256 sha-512 21"}, cfgText("ipsec ike-policy 10", " policy AES-256 SHA-512 21", "!")},
	{"ike-policy:policy", []string{"ipsec ike-policy 10", "policy 3des md5 2"}, cfgText("ipsec ike-policy 10", " policy 3DES MD5 2", "!")},
	{"no ike-policy:policy", []string{"ipsec ike-policy 10", "policy AES SHA 14", "no policy"}, cfgText("ipsec ike-policy 10", "!")},
	{"ike-policy:keylife", []string{"ipsec ike-policy 10", "keylife 28800"}, cfgText("ipsec ike-policy 10", " keylife 28800", "!")},
	{"no ike-policy:keylife", []string{"ipsec ike-policy 10", "keylife 28800", "no keylife"}, cfgText("ipsec ike-policy 10", "!")},
	{"ike-policy:version", []string{"ipsec ike-policy 10", "version 1"}, cfgText("ipsec ike-policy 10", " version 1", "!")},
	{"no ike-policy:version", []string{"ipsec ike-policy 10", "version 2", "no version"}, cfgText("ipsec ike-policy 10", "!")},

	// ---- ESP policy
	{"esp-policy:policy", []string{"ipsec esp-policy 10", "policy AES SHA 14"}, cfgText("ipsec esp-policy 10", " policy AES SHA 14", "!")},
	{"esp-policy:policy", []string{"ipsec esp-policy 10", "policy AES-192 SHA-256 0"}, cfgText("ipsec esp-policy 10", " policy AES-192 SHA-256 0", "!")},
	{"no esp-policy:policy", []string{"ipsec esp-policy 10", "policy AES SHA 14", "no policy AES SHA 14"}, cfgText("ipsec esp-policy 10", "!")},
	{"esp-policy:keylife", []string{"ipsec esp-policy 10", "keylife 3600"}, cfgText("ipsec esp-policy 10", " keylife 3600", "!")},
	{"no esp-policy:keylife", []string{"ipsec esp-policy 10", "keylife 3600", "no keylife"}, cfgText("ipsec esp-policy 10", "!")},

	// ---- IPsec peer
	{"ipsec-peer:local", []string{"ipsec peer 203.0.113.2", "local 198.51.100.2"}, cfgText("ipsec peer 203.0.113.2", " local 198.51.100.2", "!")},
	{"no ipsec-peer:local", []string{"ipsec peer 203.0.113.2", "local 198.51.100.2", "no local"}, cfgText("ipsec peer 203.0.113.2", "!")},
	{"ipsec-peer:local-id", []string{"ipsec peer p", "local-id hq@example.net"}, cfgText("ipsec peer p", " local-id hq@example.net", "!")},
	{"no ipsec-peer:local-id", []string{"ipsec peer p", "local-id x", "no local-id"}, cfgText("ipsec peer p", "!")},
	{"ipsec-peer:local-net", []string{"ipsec peer p", "local-net 198.51.100.2/32", "local-net 10.0.0.0/8", "local-net 198.51.100.2/32"},
		cfgText("ipsec peer p", " local-net 198.51.100.2/32", " local-net 10.0.0.0/8", "!")},
	{"no ipsec-peer:local-net", []string{"ipsec peer p", "local-net 1.0.0.0/8", "local-net 2.0.0.0/8", "no local-net 1.0.0.0/8"},
		cfgText("ipsec peer p", " local-net 2.0.0.0/8", "!")},
	{"no ipsec-peer:local-net", []string{"ipsec peer p", "local-net 1.0.0.0/8", "local-net 2.0.0.0/8", "no local-net"}, cfgText("ipsec peer p", "!")},
	{"ipsec-peer:remote-id", []string{"ipsec peer p", "remote-id CN=branch,O=x"}, cfgText("ipsec peer p", " remote-id CN=branch,O=x", "!")},
	{"no ipsec-peer:remote-id", []string{"ipsec peer p", "remote-id x", "no remote-id"}, cfgText("ipsec peer p", "!")},
	{"ipsec-peer:remote-ip", []string{"ipsec peer p", "remote-ip 203.0.113.2"}, cfgText("ipsec peer p", " remote-ip 203.0.113.2", "!")},
	{"ipsec-peer:remote-ip", []string{"ipsec peer p", "remote-ip ANY"}, cfgText("ipsec peer p", " remote-ip any", "!")},
	{"no ipsec-peer:remote-ip", []string{"ipsec peer p", "remote-ip any", "no remote-ip"}, cfgText("ipsec peer p", "!")},
	{"ipsec-peer:remote-net", []string{"ipsec peer p", "remote-net 203.0.113.2/32"}, cfgText("ipsec peer p", " remote-net 203.0.113.2/32", "!")},
	{"no ipsec-peer:remote-net", []string{"ipsec peer p", "remote-net 203.0.113.2/32", "no remote-net 203.0.113.2/32"}, cfgText("ipsec peer p", "!")},
	{"ipsec-peer:policy", []string{"ipsec peer p", "policy ike 10 esp 20"}, cfgText("ipsec peer p", " policy ike 10 esp 20", "!")},
	{"no ipsec-peer:policy", []string{"ipsec peer p", "policy ike 10 esp 20", "no policy"}, cfgText("ipsec peer p", "!")},
	{"ipsec-peer:psk", []string{"ipsec peer p", "psk Letmein99"}, cfgText("ipsec peer p", " psk Letmein99", "!")},
	{"ipsec-peer:psk", []string{"ipsec peer p", `psk "a secret with \"quotes\" and \\ backslash"`},
		cfgText("ipsec peer p", ` psk "a secret with \"quotes\" and \\ backslash"`, "!")},
	{"ipsec-peer:psk", []string{"ipsec peer p", `psk p\ss`}, cfgText("ipsec peer p", ` psk p\ss`, "!")},
	{"no ipsec-peer:psk", []string{"ipsec peer p", "psk x", "no psk"}, cfgText("ipsec peer p", "!")},
	{"ipsec-peer:local", []string{"ipsec peer 203.0.113.2", "psk k", "policy ike 1 esp 2", "remote-net 10.2.0.0/16", "remote-ip any",
		"remote-id r", "local-net 10.1.0.0/16", "local-id l", "local 198.51.100.2"},
		cfgText("ipsec peer 203.0.113.2", " local 198.51.100.2", " local-id l", " local-net 10.1.0.0/16", " remote-id r", " remote-ip any",
			" remote-net 10.2.0.0/16", " policy ike 1 esp 2", " psk k", "!")},

	// ---- OSPF
	{"router-ospf:router-id", []string{"router ospf", "router-id 10.255.0.1"}, cfgText("router ospf", " router-id 10.255.0.1", "!")},
	{"no router-ospf:router-id", []string{"router ospf", "router-id 10.255.0.1", "no router-id"}, cfgText("router ospf", "!")},
	{"router-ospf:network", []string{"router ospf", "network 172.16.0.0/30 area 0", "network 10.1.2.3/8 area 4294967295", "network 172.16.0.0/30 area 1"},
		cfgText("router ospf", " network 172.16.0.0/30 area 1", " network 10.0.0.0/8 area 4294967295", "!")},
	{"no router-ospf:network", []string{"router ospf", "network 172.16.0.0/30 area 0", "no network 172.16.0.0/30"}, cfgText("router ospf", "!")},
	{"router-ospf:passive-interface", []string{"router ospf", "passive-interface eth1", "passive eth1", "passive-interface vlan10"},
		cfgText("router ospf", " passive-interface eth1", " passive-interface vlan10", "!")},
	{"no router-ospf:passive-interface", []string{"router ospf", "passive-interface eth1", "no passive-interface eth1"}, cfgText("router ospf", "!")},
	{"router-ospf:default-information", []string{"router ospf", "default-information originate"}, cfgText("router ospf", " default-information originate", "!")},
	{"no router-ospf:default-information", []string{"router ospf", "default-information originate", "no default-information originate"}, cfgText("router ospf", "!")},
	{"router-ospf:redistribute", []string{"router ospf", "redistribute static", "redistribute connected"},
		cfgText("router ospf", " redistribute connected", " redistribute static", "!")},
	{"no router-ospf:redistribute", []string{"router ospf", "redistribute static", "redistribute connected", "no redistribute connected"},
		cfgText("router ospf", " redistribute static", "!")},
}

func TestStatements(t *testing.T) {
	for _, c := range stmtCases {
		name := c.covers + ": " + strings.Join(c.lines, "; ")
		cfg := &Config{}
		_, i, err := applyLines(t, cfg, c.lines...)
		if err != nil {
			t.Errorf("%s\nline %q: %v", name, c.lines[i], err)
			continue
		}
		got := Render(cfg)
		if got != c.want {
			t.Errorf("%s\n got:\n%s\nwant:\n%s", name, got, c.want)
			continue
		}
		// what renders parses back to the same text
		back, err := Parse([]byte(got), "rendered")
		if err != nil {
			t.Errorf("%s\nrendered text does not parse: %v\n%s", name, err, got)
			continue
		}
		if again := Render(back); again != got {
			t.Errorf("%s\nre-rendered differently:\n%s", name, again)
		}
	}
}

// Every statement, and every `no` form, has a case above.
func TestStatementsCovered(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range stmtCases {
		covered[c.covers] = true
	}
	for _, s := range DefaultGrammar().Statements() {
		key := string(s.Mode) + ":" + s.Name
		if !covered[key] {
			t.Errorf("no test case sets %s", key)
		}
		if s.No != "" && !covered["no "+key] {
			t.Errorf("no test case unsets %s (no %s)", key, s.No)
		}
		delete(covered, key)
		delete(covered, "no "+key)
	}
	for k := range covered {
		t.Errorf("test case covers %q, which is no statement", k)
	}
}

type errKind int

const (
	eInvalid errKind = iota
	eAmbiguous
	eIncomplete
	eUser
	eTokenize
)

// errCase types lines and expects the last one to fail.
type errCase struct {
	lines []string
	kind  errKind
	col   int    // 0-based column of the caret (grammar errors); -1: not checked
	text  string // a substring of the message
}

var errCases = []errCase{
	// syntax
	{[]string{"bogus"}, eInvalid, 0, ""},
	{[]string{"interface eth0", "mtu 10000"}, eInvalid, 4, "10000 is out of range 68-9000"},
	{[]string{"interface eth0", "mtu 67"}, eInvalid, 4, "out of range"},
	{[]string{"interface eth0", "mtu"}, eIncomplete, -1, ""},
	{[]string{"interface eth0", "mtu 1400 1500"}, eInvalid, 9, ""},
	{[]string{"interface eth0", "ip address 1.2.3.4"}, eInvalid, 11, ""},
	{[]string{"interface eth0", "ip address 1.2.3.4/33"}, eInvalid, 11, ""},
	{[]string{"interface eth0", "ip address 1.2.3/24"}, eInvalid, 11, ""},
	{[]string{"interface eth0", "ip address 01.2.3.4/24"}, eInvalid, 11, ""},
	{[]string{"interface eth0", "ip address ::1/128"}, eInvalid, 11, ""},
	{[]string{"interface eth0", "ip addr"}, eIncomplete, -1, ""},
	{[]string{"interface eth0", "ip ospf"}, eIncomplete, -1, ""},
	{[]string{"interface eth0", "ip ospf cost 0"}, eInvalid, 13, "out of range 1-65535"},
	{[]string{"interface eth0", "ip ospf network broadcast"}, eInvalid, 16, ""},
	{[]string{"interface tun0", "tunnel local 1.2.3.4 remote"}, eIncomplete, -1, ""},
	{[]string{"interface tun0", "tunnel local 1.2.3.256"}, eInvalid, 13, ""},
	{[]string{"interface eth0", "bridge-group 4096"}, eInvalid, 13, "out of range"},
	{[]string{"interface"}, eIncomplete, -1, ""},
	{[]string{"interface vlan 1"}, eIncomplete, -1, ""},
	{[]string{"interface vlan 1 4095"}, eInvalid, 17, "out of range 1-4094"},
	{[]string{"interface eth0 eth1"}, eInvalid, 15, ""},
	{[]string{"i"}, eAmbiguous, 0, `"i"`},                      // interface, ip, ipsec
	{[]string{"fire 10 permit all"}, eAmbiguous, 0, `"fire"`},  // five firewall-* statements
	{[]string{"firewall-access 10 perm"}, eIncomplete, -1, ""}, // permit
	{[]string{"firewall-access 10 x all"}, eInvalid, 19, ""},
	{[]string{"firewall-access 0 permit all"}, eInvalid, 16, "range"}, // rule numbers start at 1
	{[]string{"firewall-access 10 permit sideways"}, eInvalid, 26, ""},
	{[]string{"firewall-access 10 permit all tcp dport 0"}, eInvalid, 40, ""},
	{[]string{"firewall-access 10 permit all tcp dport 22,"}, eInvalid, 40, ""},
	{[]string{"firewall-access 10 permit all src 10.0.0.0/8,x"}, eInvalid, 34, ""},
	{[]string{"firewall-access 10 permit all tcp tcp"}, eInvalid, 34, ""},
	{[]string{"firewall-access 10 permit all remark"}, eIncomplete, -1, ""},
	{[]string{"firewall-snat 10 overload inbound eth0"}, eInvalid, 26, ""},
	{[]string{"firewall-snat 10 overload outbound"}, eIncomplete, -1, ""},
	{[]string{"ipsec ike-policy 10", "version 3"}, eInvalid, 8, "3 is out of range 1-2"},
	{[]string{"ipsec ike-policy 10", "keylife 59"}, eInvalid, 8, "out of range"},
	{[]string{"ipsec ike-policy 10", "policy AES SHA 33"}, eInvalid, 15, "out of range 1-32"},
	{[]string{"ipsec ike-policy 10", "policy AES-128 SHA 14"}, eInvalid, 7, ""},
	{[]string{"ipsec ike-policy 10", "policy AES SHA"}, eIncomplete, -1, ""},
	{[]string{"ipsec ike-policy 10", "authentication rsa"}, eInvalid, 15, ""},
	{[]string{"ipsec peer 1.2.3.4", "remote 1.2.3.5"}, eAmbiguous, 0, `"remote"`},
	{[]string{"ipsec peer 1.2.3.4", "lo 1.2.3.5"}, eAmbiguous, 0, `"lo"`},
	{[]string{"ipsec peer 1.2.3.4", "remote-ip 1.2.3"}, eInvalid, 10, ""},
	{[]string{"ipsec peer 1.2.3.4", `local-id a"b`}, eInvalid, 9, ""},
	{[]string{"ipsec peer 1.2.3.4", `local-id "a b"`}, eInvalid, 9, ""},
	{[]string{"ipsec peer 1.2.3.4", "policy ike 10"}, eIncomplete, -1, ""},
	{[]string{"ipsec peer 1.2.3.4", "psk"}, eIncomplete, -1, ""},
	{[]string{"ipsec"}, eIncomplete, -1, ""},
	{[]string{"ipsec st"}, eAmbiguous, 6, `"ipsec st"`},
	{[]string{"router ospf", "network 10.0.0.0/8"}, eIncomplete, -1, ""},
	{[]string{"router ospf", "network 10.0.0.0/8 area 4294967296"}, eInvalid, 24, "out of range"},
	{[]string{"router ospf", "redistribute bgp"}, eInvalid, 13, ""},
	{[]string{"ip route 10.0.0.0/8 nexthop 1.2.3"}, eInvalid, 28, ""},
	{[]string{"ip route 10.0.0.0/8"}, eIncomplete, -1, ""},
	{[]string{"ip route 10.0.0.0/8 nexthop eth0 distance 256"}, eInvalid, 42, "out of range 1-255"},
	{[]string{`description "unterminated`}, eTokenize, -1, "unterminated"},
	// `no` forms
	{[]string{"no"}, eIncomplete, -1, ""},
	{[]string{"no bogus"}, eInvalid, 3, ""},
	{[]string{"interface eth0", "no mtu 10000"}, eInvalid, 7, "out of range"},

	// well-formed but not applicable
	{[]string{"hostname a/b"}, eUser, -1, "Invalid hostname"},
	{[]string{"hostname " + strings.Repeat("h", 64)}, eUser, -1, "at most 63"},
	{[]string{"interface foo0"}, eUser, -1, "Unsupported interface"},
	{[]string{"interface vlan10"}, eUser, -1, "interface vlan PORT VID"},
	{[]string{"interface br0"}, eUser, -1, "interface bridge br0"},
	{[]string{"interface bridge eth0"}, eUser, -1, "Bridge names are brN"},
	{[]string{"interface vlan 1 10", "interface vlan 2 10"}, eUser, -1, "vlan10 already exists as vlan 1 10"},
	{[]string{"no interface eth0"}, eUser, -1, "not configured"},
	{[]string{"interface eth0", "tunnel local 1.1.1.1"}, eUser, -1, "only to GRE"},
	{[]string{"interface eth0", "description " + strings.Repeat("d", 241)}, eUser, -1, "at most 240"},
	{[]string{"interface eth0", "ip address 10.0.0.0/24"}, eUser, -1, "network address"},
	{[]string{"interface eth0", "no ip address 10.0.0.1/24"}, eUser, -1, "not configured on eth0"},
	{[]string{"interface lo", "bridge-group 1"}, eUser, -1, "does not apply to lo"},
	{[]string{"interface bridge br0", "bridge-group 1"}, eUser, -1, "does not apply to br0"},
	{[]string{"ip route 10.0.0.1/8 nexthop 1.1.1.1"}, eUser, -1, "did you mean 10.0.0.0/8"},
	{[]string{"no ip route 10.0.0.0/8"}, eUser, -1, "No such route"},
	{[]string{"firewall-access 10 permit all icmp sport 53"}, eUser, -1, "sport/dport need protocol tcp or udp"},
	{[]string{"firewall-access 10 permit all dport 53"}, eUser, -1, "sport/dport need protocol"},
	{[]string{"firewall-access 10 permit inbound"}, eUser, -1, "direction inbound needs an interface"},
	{[]string{"firewall-snat 10 translate outbound eth0"}, eUser, -1, "translate needs xsrc"},
	{[]string{"firewall-snat 10 overload outbound eth0 xsrc 1.1.1.1"}, eUser, -1, "xsrc applies only to translate"},
	{[]string{"firewall-dnat 10 translate inbound eth0"}, eUser, -1, "translate needs xdst"},
	{[]string{"firewall-dnat 10 exempt inbound eth0 xdst 1.1.1.1"}, eUser, -1, "exempt takes no xdst"},
	{[]string{"firewall-dnat 10 redirect all xdport 80"}, eUser, -1, "xdport needs protocol"},
	{[]string{"no firewall-access 99"}, eUser, -1, "firewall-access 99 is not configured"},
	{[]string{"no ipsec ike-policy 5"}, eUser, -1, "not configured"},
	{[]string{"no ipsec esp-policy 5"}, eUser, -1, "not configured"},
	{[]string{"no ipsec peer x"}, eUser, -1, "not configured"},
	{[]string{"ipsec peer a/b"}, eUser, -1, "Invalid peer name"},
	{[]string{"ipsec peer 1.2.3.4", "psk " + strings.Repeat("k", 256)}, eUser, -1, "1 to 255 characters"},
	{[]string{"ipsec peer 1.2.3.4", `psk ""`}, eUser, -1, "1 to 255 characters"},
	{[]string{"ipsec peer 1.2.3.4", "local-net 10.0.0.1/8"}, eUser, -1, "not a network prefix"},
	{[]string{"router ospf", "no network 10.0.0.0/8"}, eUser, -1, "not configured"},
}

func TestStatementErrors(t *testing.T) {
	for _, c := range errCases {
		name := strings.Join(c.lines, "; ")
		_, i, err := applyLines(t, &Config{}, c.lines...)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if i != len(c.lines)-1 {
			t.Errorf("%s: line %q failed early: %v", name, c.lines[i], err)
			continue
		}
		var ge *grammar.Error
		var ue *UserError
		var te *grammar.TokenizeError
		switch {
		case errors.As(err, &ge):
			want := map[grammar.ErrorKind]errKind{grammar.Invalid: eInvalid, grammar.Ambiguous: eAmbiguous, grammar.Incomplete: eIncomplete}[ge.Kind]
			if want != c.kind {
				t.Errorf("%s: %v, want kind %d", name, err, c.kind)
			}
			if c.col >= 0 && ge.Col != c.col {
				t.Errorf("%s: caret at column %d, want %d (%v)", name, ge.Col, c.col, err)
			}
		case errors.As(err, &ue):
			if c.kind != eUser {
				t.Errorf("%s: user error %v, want kind %d", name, err, c.kind)
			}
		case errors.As(err, &te):
			if c.kind != eTokenize {
				t.Errorf("%s: %v, want kind %d", name, err, c.kind)
			}
		default:
			t.Errorf("%s: unexpected error type %T: %v", name, err, err)
		}
		if !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: %q does not say %q", name, err, c.text)
		}
	}
}

// A failed line changes neither the mode nor, for a syntax error, the
// configuration.
func TestFailedLineKeepsState(t *testing.T) {
	cfg := &Config{}
	ed, _, err := applyLines(t, cfg, "interface tun0", "mtu 1400")
	if err != nil {
		t.Fatal(err)
	}
	before := Render(cfg)
	for _, l := range []string{
		"mtu 10000",                           // syntax error in the block
		"ip route 10.0.0.1/8 nexthop 1.1.1.1", // a global statement that cannot be applied
		"interface foo0",                      // a header that cannot be applied
		"interface eth0 mtu 10000",            // a one-line block with a bad statement
		"interface eth0 enable mtu 1400 bogus",
	} {
		toks, _ := grammar.Tokenize(l)
		if _, err := ed.Apply(toks); err == nil {
			t.Fatalf("%q applied", l)
		}
		if ed.Mode != ModeInterface || ed.BlockName() != "tun0" {
			t.Errorf("after failed %q: mode %s block %q, want interface tun0", l, ed.Mode, ed.BlockName())
		}
		if got := Render(cfg); got != before {
			t.Errorf("failed %q changed the configuration:\n%s", l, got)
		}
	}
}

// Like IOS, a line of the enclosing mode typed inside a block closes the
// block and applies there.
func TestParentModeFallThrough(t *testing.T) {
	cfg := &Config{}
	ed, _, err := applyLines(t, cfg, "interface tun0", "mtu 1400")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		line  string
		mode  Mode
		block string
	}{
		{"ip route 10.0.0.0/8 nexthop tun0", ModeConfig, ""},
		{"interface eth0", ModeInterface, "eth0"},
		{"enable", ModeInterface, "eth0"},
		{"ipsec peer 1.2.3.4", ModePeer, "1.2.3.4"},
		{"psk k", ModePeer, "1.2.3.4"},
		{"ipsec ike-policy 7", ModeIKEPolicy, "7"},
		{"policy AES SHA 14", ModeIKEPolicy, "7"},
		{"ipsec esp-policy 8", ModeESPPolicy, "8"},
		{"policy AES SHA 14", ModeESPPolicy, "8"},
		{"router ospf", ModeOSPF, ""},
		{"network 10.0.0.0/8 area 0", ModeOSPF, ""},
		{"hostname x", ModeConfig, ""},
	}
	for _, s := range steps {
		toks, _ := grammar.Tokenize(s.line)
		if _, err := ed.Apply(toks); err != nil {
			t.Fatalf("%q: %v", s.line, err)
		}
		if ed.Mode != s.mode || ed.BlockName() != s.block {
			t.Errorf("after %q: mode %s block %q, want %s %q", s.line, ed.Mode, ed.BlockName(), s.mode, s.block)
		}
	}
	// enable now belongs to no mode in force: the block was closed
	toks, _ := grammar.Tokenize("enable")
	if _, err := ed.Apply(toks); err == nil {
		t.Error("enable applied at the top level")
	}
	want := cfgText("hostname x", "!", "interface eth0", " enable", "!", "interface tun0", " mtu 1400", "!",
		"ip route 10.0.0.0/8 nexthop tun0", "!", "router ospf", " network 10.0.0.0/8 area 0", "!",
		"ipsec ike-policy 7", " policy AES SHA 14", "!", "ipsec esp-policy 8", " policy AES SHA 14", "!",
		"ipsec peer 1.2.3.4", " psk k", "!")
	if got := Render(cfg); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// the error of a line wrong in both modes points at the block's reading
	// when that got further
	ed, _, _ = applyLines(t, cfg, "interface eth0")
	toks, _ = grammar.Tokenize("ip address 10.0.0.1")
	_, err = ed.Apply(toks)
	var ge *grammar.Error
	if !errors.As(err, &ge) || ge.Kind != grammar.Invalid || ge.Col != 11 {
		t.Errorf("ip address without length: %v, want the caret under the address", err)
	}
	toks, _ = grammar.Tokenize("ip route 10.0.0.0/8")
	if _, err = ed.Apply(toks); !errors.As(err, &ge) || ge.Kind != grammar.Incomplete {
		t.Errorf("incomplete ip route inside a block: %v", err)
	}
	if ed.Mode != ModeInterface {
		t.Errorf("failed lines left interface mode")
	}
}

// Every block kind accepts the one-line form: its header followed by its
// statements on the same line.
func TestOneLineBlocks(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{`interface eth0 description "Connection to WAN" enable ip address 203.0.113.2/24`,
			cfgText("interface eth0", ` description "Connection to WAN"`, " enable", " ip address 203.0.113.2/24", "!")},
		{"interface tun0 tunnel local 1.1.1.1 remote 2.2.2.2 enable mtu 1400 ip address 172.16.0.2/30 ip ospf network point-to-point ip ospf cost 5",
			cfgText("interface tun0", " tunnel local 1.1.1.1 remote 2.2.2.2", " enable", " mtu 1400", " ip address 172.16.0.2/30",
				" ip ospf network point-to-point", " ip ospf cost 5", "!")},
		{`interface vlan 1 20 description "local LAN" enable`, cfgText("interface vlan 1 20", ` description "local LAN"`, " enable", "!")},
		{"interface bridge br0 enable ip address 10.0.0.1/24", cfgText("interface bridge br0", " enable", " ip address 10.0.0.1/24", "!")},
		{"interface lo ip address 10.255.0.1/32", cfgText("interface lo", " ip address 10.255.0.1/32", "!")},
		{"int eth1 enable no enable mtu 1500", cfgText("interface eth1", " mtu 1500", "!")},
		{"ipsec ike-policy 10 authentication psk policy AES SHA 14 keylife 28800 version 2",
			cfgText("ipsec ike-policy 10", " authentication psk", " policy AES SHA 14", " keylife 28800", " version 2", "!")},
		{"ipsec esp-policy 10 policy AES SHA 14 keylife 3600", cfgText("ipsec esp-policy 10", " policy AES SHA 14", " keylife 3600", "!")},
		{`ipsec peer 198.51.100.2 local 203.0.113.2 local-net 203.0.113.2/32 remote-net 198.51.100.2/32 policy ike 10 esp 10 psk "Let me in"`,
			cfgText("ipsec peer 198.51.100.2", " local 203.0.113.2", " local-net 203.0.113.2/32", " remote-net 198.51.100.2/32",
				" policy ike 10 esp 10", ` psk "Let me in"`, "!")},
		{"router ospf router-id 1.1.1.1 network 172.16.0.0/30 area 0 passive-interface eth1 default-information originate redistribute connected",
			cfgText("router ospf", " router-id 1.1.1.1", " network 172.16.0.0/30 area 0", " passive-interface eth1",
				" default-information originate", " redistribute connected", "!")},
	} {
		cfg := &Config{}
		ed, _, err := applyLines(t, cfg, c.line)
		if err != nil {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		if got := Render(cfg); got != c.want {
			t.Errorf("%q\n got:\n%s\nwant:\n%s", c.line, got, c.want)
		}
		if ed.Mode == ModeConfig {
			t.Errorf("%q: the one-line form did not stay in the block", c.line)
		}
		// and in a file
		got, err := Parse([]byte(c.line+"\n"), "one.cfg")
		if err != nil {
			t.Errorf("Parse(%q): %v", c.line, err)
		} else if Render(got) != c.want {
			t.Errorf("Parse(%q) renders\n%s", c.line, Render(got))
		}
	}
	// an error inside a one-line block points at its word, and applies nothing
	for _, c := range []struct {
		line string
		col  int
	}{
		{"interface tun0 enable mtu 10000", 26},
		{"ipsec ike-policy 10 policy AES SHA 14 version 3", 46},
		{"ipsec peer 1.2.3.4 local 1.2.3.5 bogus", 33},
	} {
		cfg := &Config{}
		_, _, err := applyLines(t, cfg, c.line)
		var ge *grammar.Error
		if !errors.As(err, &ge) || ge.Col != c.col {
			t.Errorf("%q: %v (col %v), want a caret at %d", c.line, err, ge, c.col)
		}
		if got := Render(cfg); got != "!\n" {
			t.Errorf("%q: failed line changed the configuration:\n%s", c.line, got)
		}
	}
}

func TestBlockName(t *testing.T) {
	for _, c := range []struct{ line, name string }{
		{"interface vlan 1 10", "vlan10"},
		{"interface bridge br2", "br2"},
		{"ipsec peer branch", "branch"},
		{"ipsec ike-policy 3", "3"},
		{"ipsec esp-policy 4", "4"},
		{"router ospf", ""},
	} {
		ed, _, err := applyLines(t, &Config{}, c.line)
		if err != nil {
			t.Fatal(err)
		}
		if got := ed.BlockName(); got != c.name {
			t.Errorf("%q: BlockName %q, want %q", c.line, got, c.name)
		}
		ed.Exit()
		if ed.Mode != ModeConfig || ed.BlockName() != "" {
			t.Errorf("Exit left mode %s", ed.Mode)
		}
	}
}

// RuleText renders a rule as Render does.
func TestRuleText(t *testing.T) {
	r := Rule{Number: 8, Action: "exempt", Direction: "outbound", Interface: "eth0", Src: []string{"198.51.100.2"}, Remark: "bypass SNAT"}
	if got, want := RuleText(ChainSNAT, r), `firewall-snat 8 exempt outbound eth0 src 198.51.100.2 remark "bypass SNAT"`; got != want {
		t.Errorf("RuleText = %q, want %q", got, want)
	}
}

func TestModelHelpers(t *testing.T) {
	c := &Config{}
	SetRule(c, ChainAccess, Rule{Number: 20})
	SetRule(c, ChainAccess, Rule{Number: 10})
	SetRule(c, ChainAccess, Rule{Number: 30})
	SetRule(c, ChainAccess, Rule{Number: 20, Remark: "again"})
	var nums []string
	for _, r := range c.FirewallAccess {
		nums = append(nums, fmt.Sprint(r.Number, r.Remark))
	}
	if got := strings.Join(nums, ","); got != "10,20again,30" {
		t.Errorf("SetRule order: %s", got)
	}
	if !DeleteRule(c, ChainAccess, 20) || DeleteRule(c, ChainAccess, 20) || len(c.FirewallAccess) != 2 {
		t.Errorf("DeleteRule: %v", c.FirewallAccess)
	}
}
